// The web dashboard in headless Chromium (playwright-core): sign in with the API key, see the overview and a connected
// client, disconnect it, round-trip a message with the built-in WebSocket MQTT client. Saves screenshots.
// Env: DASHBOARD_URL, API_KEY, CLIENT_ID (a connected client), TOPIC, SCREENSHOTS (folder), CHROMIUM.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const env = process.env;
const shot = (page, name) => page.screenshot({ path: path.join(env.SCREENSHOTS, name), fullPage: true });
const userDataDir = mkdtempSync(path.join(tmpdir(), 'starling-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
context.setDefaultTimeout(15000);
const errors = [];
try {
  const page = await context.newPage();
  // The refused sign-in logs "Failed to load resource ... 401" on purpose; any other console error fails the test.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('401')) errors.push(m.text()); console.log('[browser] ' + m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => d.accept());

  // Sign in: a wrong key is refused, the right one opens the overview.
  await page.goto(env.DASHBOARD_URL);
  await page.waitForSelector('#login-form', { state: 'visible' });
  await page.fill('#api-key', 'wrong-key-0123456789');
  await page.click('#login-button');
  await page.waitForSelector('#login-error', { state: 'visible' });
  await shot(page, 'dashboard-login.png');
  await page.fill('#api-key', env.API_KEY);
  await page.click('#login-button');
  await page.waitForSelector('#tabs', { state: 'visible' });
  await page.waitForFunction(() => Number(document.getElementById('stat-connected').textContent) >= 1);
  console.log('SIGNED_IN connected=' + await page.textContent('#stat-connected'));
  await page.waitForTimeout(7000); // a few polls, so the charts have lines
  await shot(page, 'dashboard-overview.png');

  // Clients: search for the test's client, open its details, disconnect it.
  await page.click('button[data-tab="clients"]');
  await page.fill('#clients-search', env.CLIENT_ID);
  const row = `#clients-table tr[data-client-id="${env.CLIENT_ID}"]`;
  await page.waitForFunction(() => document.getElementById('clients-count').textContent === '1 session');
  await page.waitForSelector(`${row} .state.on`);
  await page.click(`${row} button.details`);
  await page.waitForSelector('#session-detail-subs tr');
  console.log('CLIENT_SHOWN subscriptions=' + await page.locator('#session-detail-subs tr').count());
  await shot(page, 'dashboard-clients.png');
  await page.click(`${row} button.disconnect`);
  await page.waitForSelector(`${row} .state.off`);
  console.log('DISCONNECTED');

  // The built-in MQTT client: connect over WebSocket, subscribe, publish, receive.
  await page.click('button[data-tab="client"]');
  await page.waitForFunction(() => document.getElementById('mqtt-url').value.startsWith('ws://'));
  await page.fill('#mqtt-client-id', 'dashboard-test');
  await page.click('#mqtt-connect');
  await page.waitForFunction(() => document.getElementById('mqtt-status').textContent.startsWith('connected as'));
  await page.fill('#mqtt-sub-topic', env.TOPIC);
  await page.selectOption('#mqtt-sub-qos', '1');
  await page.click('#mqtt-subscribe');
  await page.waitForSelector('#mqtt-subscriptions li');
  await page.fill('#mqtt-pub-topic', env.TOPIC);
  await page.fill('#mqtt-pub-payload', 'hello from the dashboard');
  await page.selectOption('#mqtt-pub-qos', '1');
  await page.click('#mqtt-publish');
  await page.waitForSelector('#mqtt-messages tbody tr:has-text("hello from the dashboard")');
  await page.waitForSelector('#mqtt-messages tbody tr:has-text("hello from .NET")');
  console.log('ROUNDTRIP');
  await shot(page, 'dashboard-mqtt-client.png');

  await page.click('button[data-tab="retained"]');
  await page.waitForSelector('#retained-table tbody tr');
  await shot(page, 'dashboard-retained.png');
  await page.click('button[data-tab="subscriptions"]');
  await page.waitForSelector('#subs-table tbody tr');
  await shot(page, 'dashboard-subscriptions.png');
  if (errors.length) throw new Error('browser errors: ' + errors.join(' | '));
  console.log('OK');
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
