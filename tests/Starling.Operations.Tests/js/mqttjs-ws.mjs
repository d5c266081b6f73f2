// MQTT.js (Node) over WebSockets against Starling: a v3.1.1 subscriber and a v5 publisher round-trip QoS 0 and 1 messages.
// Env: WS_URL, TOPIC. Prints "OK <json>" and exits 0 on success.
import mqtt from 'mqtt';

const url = process.env.WS_URL;
const topic = process.env.TOPIC;
const fail = (why) => { console.error('FAIL ' + why); process.exit(1); };
setTimeout(() => fail('timeout'), 20000).unref();

const sub = await mqtt.connectAsync(url, { clientId: 'mqttjs-sub-' + process.pid, protocolVersion: 4, reconnectPeriod: 0 });
const pub = await mqtt.connectAsync(url, { clientId: 'mqttjs-pub-' + process.pid, protocolVersion: 5, reconnectPeriod: 0 });
const received = [];
const done = new Promise((resolve) => {
  sub.on('message', (t, payload, packet) => {
    received.push({ topic: t, payload: payload.toString(), qos: packet.qos });
    if (received.length === 2) resolve();
  });
});
await sub.subscribeAsync(topic, { qos: 1 });
await pub.publishAsync(topic, 'hello qos0 from mqtt.js', { qos: 0 });
await pub.publishAsync(topic, 'hello qos1 from mqtt.js', { qos: 1 });
await done;
await pub.endAsync();
await sub.endAsync();
console.log('OK ' + JSON.stringify(received));
process.exit(0);
