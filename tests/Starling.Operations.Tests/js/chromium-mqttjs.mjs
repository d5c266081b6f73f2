// MQTT.js's browser bundle in Chromium (headless, via playwright-core) over WebSockets against Starling: subscribe,
// publish, receive. Env: WS_URL, TOPIC, PAGE_URL (a page of the server, e.g. /health), CHROMIUM. Prints "OK <payload>" and exits 0 on success.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const bundle = path.join(path.dirname(require.resolve('mqtt/package.json')), 'dist', 'mqtt.min.js');
const userDataDir = mkdtempSync(path.join(tmpdir(), 'starling-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const page = await context.newPage();
  page.on('console', (m) => console.log('[browser] ' + m.text()));
  // A page served by the broker's management port (loopback), so Chromium's local network access checks allow ws://127.0.0.1.
  await page.goto(process.env.PAGE_URL);
  await page.addScriptTag({ path: bundle });
  const result = await page.evaluate(({ url, topic }) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout in the browser')), 15000);
    const client = mqtt.connect(url, { clientId: 'chromium-' + Math.random().toString(16).slice(2, 10), protocolVersion: 4, reconnectPeriod: 0 });
    client.on('error', (e) => reject(new Error('mqtt error: ' + e.message)));
    client.on('connect', () => {
      client.subscribe(topic, { qos: 1 }, (err) => {
        if (err) return reject(err);
        client.publish(topic, 'hello from chromium', { qos: 1 });
      });
    });
    client.on('message', (t, payload) => {
      clearTimeout(timer);
      client.end(false, () => resolve(payload.toString()));
    });
  }), { url: process.env.WS_URL, topic: process.env.TOPIC });
  console.log('OK ' + result);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
