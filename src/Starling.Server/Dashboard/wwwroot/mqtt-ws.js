// A minimal MQTT 3.1.1 client over WebSocket for the dashboard (subprotocol "mqtt", binary frames).
// Supports CONNECT (clean session, username/password), SUBSCRIBE, UNSUBSCRIBE, PUBLISH QoS 0/1 out and QoS 0/1/2 in,
// keep-alive pings and DISCONNECT. Written for Starling; no dependencies.
'use strict';

class MqttWsClient {
  constructor() {
    this.onmessage = null;   // (topic, payloadBytes, qos, retain)
    this.onclose = null;     // (reason)
    this._socket = null;
    this._buffer = new Uint8Array(0);
    this._nextId = 1;
    this._pending = new Map(); // packet id -> { resolve, reject }
    this._connack = null;
    this._ping = null;
  }

  static encodeString(text) {
    const bytes = new TextEncoder().encode(text);
    return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
  }

  static packet(firstByte, body) {
    const length = [];
    let n = body.length;
    do {
      let digit = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) digit |= 0x80;
      length.push(digit);
    } while (n > 0);
    return new Uint8Array([firstByte, ...length, ...body]);
  }

  connect(url, { clientId = '', username = '', password = '', keepAlive = 60 } = {}) {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, ['mqtt']);
      socket.binaryType = 'arraybuffer';
      this._socket = socket;
      this._connack = { resolve, reject };
      socket.onopen = () => {
        let flags = 0x02; // clean session
        const payload = [...MqttWsClient.encodeString(clientId)];
        if (username) { flags |= 0x80; payload.push(...MqttWsClient.encodeString(username)); }
        if (password) { flags |= 0x40; payload.push(...MqttWsClient.encodeString(password)); }
        const body = [...MqttWsClient.encodeString('MQTT'), 4, flags, keepAlive >> 8, keepAlive & 0xff, ...payload];
        this._send(MqttWsClient.packet(0x10, body));
        if (keepAlive > 0) {
          this._ping = setInterval(() => this._send(new Uint8Array([0xc0, 0x00])), keepAlive * 500);
        }
      };
      socket.onmessage = (event) => this._receive(new Uint8Array(event.data));
      socket.onerror = () => this._fail('WebSocket error (is the WebSocket listener on, and the URL right?)');
      socket.onclose = (event) => this._fail(event.reason || `connection closed (code ${event.code})`);
    });
  }

  get connected() { return this._socket !== null && this._socket.readyState === WebSocket.OPEN && this._connack === null; }

  subscribe(filter, qos = 0) {
    const id = this._id();
    const body = [id >> 8, id & 0xff, ...MqttWsClient.encodeString(filter), qos];
    return this._request(id, MqttWsClient.packet(0x82, body)).then((codes) => {
      if (codes[0] === 0x80) throw new Error(`subscription to ${filter} refused`);
      return codes[0];
    });
  }

  unsubscribe(filter) {
    const id = this._id();
    return this._request(id, MqttWsClient.packet(0xa2, [id >> 8, id & 0xff, ...MqttWsClient.encodeString(filter)]));
  }

  publish(topic, payload, qos = 0, retain = false) {
    const data = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    const first = 0x30 | (qos << 1) | (retain ? 1 : 0);
    if (qos === 0) {
      this._send(MqttWsClient.packet(first, [...MqttWsClient.encodeString(topic), ...data]));
      return Promise.resolve();
    }
    const id = this._id();
    return this._request(id, MqttWsClient.packet(first, [...MqttWsClient.encodeString(topic), id >> 8, id & 0xff, ...data]));
  }

  disconnect() {
    if (this.connected) this._send(new Uint8Array([0xe0, 0x00]));
    this._close('disconnected');
  }

  _id() {
    const id = this._nextId;
    this._nextId = this._nextId === 0xffff ? 1 : this._nextId + 1;
    return id;
  }

  _request(id, bytes) {
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject });
      this._send(bytes);
    });
  }

  _send(bytes) {
    if (this._socket && this._socket.readyState === WebSocket.OPEN) this._socket.send(bytes);
  }

  _receive(chunk) {
    const joined = new Uint8Array(this._buffer.length + chunk.length);
    joined.set(this._buffer);
    joined.set(chunk, this._buffer.length);
    this._buffer = joined;
    for (;;) {
      // Fixed header: type byte, then the remaining length (1 to 4 bytes).
      let length = 0, multiplier = 1, i = 1, complete = false;
      while (i < this._buffer.length && i <= 4) {
        const digit = this._buffer[i++];
        length += (digit & 0x7f) * multiplier;
        multiplier *= 128;
        if ((digit & 0x80) === 0) { complete = true; break; }
      }
      if (!complete || this._buffer.length < i + length) return;
      const first = this._buffer[0];
      const body = this._buffer.slice(i, i + length);
      this._buffer = this._buffer.slice(i + length);
      this._handle(first, body);
    }
  }

  _handle(first, body) {
    const type = first >> 4;
    const id = body.length >= 2 ? (body[0] << 8) | body[1] : 0;
    switch (type) {
      case 2: { // CONNACK
        const pending = this._connack;
        this._connack = null;
        if (body[1] === 0) pending && pending.resolve();
        else { pending && pending.reject(new Error(`connection refused, return code ${body[1]}`)); this._close('refused'); }
        break;
      }
      case 3: { // PUBLISH
        const qos = (first >> 1) & 3;
        const topicLength = (body[0] << 8) | body[1];
        const topic = new TextDecoder().decode(body.slice(2, 2 + topicLength));
        let offset = 2 + topicLength;
        let packetId = 0;
        if (qos > 0) { packetId = (body[offset] << 8) | body[offset + 1]; offset += 2; }
        const payload = body.slice(offset);
        if (qos === 1) this._send(new Uint8Array([0x40, 2, packetId >> 8, packetId & 0xff]));
        if (qos === 2) this._send(new Uint8Array([0x50, 2, packetId >> 8, packetId & 0xff]));
        if (this.onmessage) this.onmessage(topic, payload, qos, (first & 1) === 1);
        break;
      }
      case 4: // PUBACK
      case 11: // UNSUBACK
        this._settle(id, undefined);
        break;
      case 5: // PUBREC (our QoS 2 publish; not sent by this client, answered anyway)
        this._send(new Uint8Array([0x62, 2, id >> 8, id & 0xff]));
        break;
      case 6: // PUBREL
        this._send(new Uint8Array([0x70, 2, id >> 8, id & 0xff]));
        break;
      case 7: // PUBCOMP
        this._settle(id, undefined);
        break;
      case 9: // SUBACK
        this._settle(id, Array.from(body.slice(2)));
        break;
      case 13: // PINGRESP
        break;
      default:
        this._close(`unexpected packet type ${type}`);
    }
  }

  _settle(id, value) {
    const pending = this._pending.get(id);
    if (pending) { this._pending.delete(id); pending.resolve(value); }
  }

  _fail(reason) {
    if (this._connack) { this._connack.reject(new Error(reason)); this._connack = null; }
    this._close(reason);
  }

  _close(reason) {
    if (this._ping) { clearInterval(this._ping); this._ping = null; }
    const socket = this._socket;
    if (!socket) return;
    this._socket = null;
    socket.onclose = null;
    socket.onerror = null;
    socket.onmessage = null;
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(1000);
    for (const pending of this._pending.values()) pending.reject(new Error(reason));
    this._pending.clear();
    this._buffer = new Uint8Array(0);
    if (this.onclose) this.onclose(reason);
  }
}

window.MqttWsClient = MqttWsClient;
