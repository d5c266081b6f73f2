// Starling dashboard: polls the management API (/api) with the API key kept in sessionStorage, and drives the
// built-in MQTT over WebSocket client (mqtt-ws.js). Plain JavaScript, no build step.
'use strict';

const KEY_STORAGE = 'starling.apiKey';
const POLL_MS = 2000;
const HISTORY_POINTS = 300; // 10 minutes at one point per 2 s

const $ = (id) => document.getElementById(id);
const state = { tab: 'overview', history: [], last: null, timer: null, selected: null, mqtt: null, subscriptions: [] };

function apiKey() { return sessionStorage.getItem(KEY_STORAGE); }

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: 'Bearer ' + apiKey() }, options.body ? { 'Content-Type': 'application/json' } : {});
  const response = await fetch('/api/' + path, Object.assign({}, options, { headers }));
  if (response.status === 401) { showLogin('The API key was refused.'); throw new Error('unauthorized'); }
  if (response.status === 204) return null;
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error((body && body.error) || `HTTP ${response.status}`);
  return body;
}

function toast(text) {
  const el = $('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 3000);
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined ? '' : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function button(parent, text, className, onclick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.className = className;
  b.addEventListener('click', onclick);
  parent.appendChild(b);
  return b;
}

function number(n) { return n === null || n === undefined ? '-' : Number(n).toLocaleString('en-US'); }

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}

function duration(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + (d || h || m ? m + 'm ' : '') + s + 's';
}

function time(iso) { return iso ? new Date(iso).toLocaleTimeString() : ''; }

// ---- sign in ----------------------------------------------------------------------------------------------------

function showLogin(error) {
  sessionStorage.removeItem(KEY_STORAGE);
  clearInterval(state.timer);
  $('login').hidden = false;
  $('tabs').hidden = true;
  $('logout').hidden = true;
  document.querySelectorAll('.tab').forEach((t) => { t.hidden = true; });
  $('login-error').hidden = !error;
  $('login-error').textContent = error || '';
}

async function signIn(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
  try {
    const info = await api('info');
    $('server-version').textContent = 'Starling ' + info.version;
    const ws = info.webSockets;
    if (ws.enabled && ws.port) {
      $('mqtt-url').value = `${ws.tls ? 'wss' : 'ws'}://${location.hostname}:${ws.port}${ws.path}`;
      $('mqtt-hint').textContent = 'The broker\'s MQTT over WebSockets listener; MQTT credentials are separate from the API key.';
    } else {
      $('mqtt-hint').textContent = 'The WebSocket listener is off: set WebSockets:Port (or --ws-port) to use this client.';
    }
  } catch (e) {
    if (e.message !== 'unauthorized') showLogin('Cannot reach the API: ' + e.message);
    return;
  }
  $('login').hidden = true;
  $('tabs').hidden = false;
  $('logout').hidden = false;
  showTab(state.tab);
  clearInterval(state.timer);
  state.timer = setInterval(refresh, POLL_MS);
}

// ---- tabs ---------------------------------------------------------------------------------------------------

function showTab(name) {
  state.tab = name;
  document.querySelectorAll('#tabs button').forEach((b) => b.classList.toggle('active', b.dataset.tab === name));
  document.querySelectorAll('.tab').forEach((t) => { t.hidden = t.id !== 'tab-' + name; });
  refresh();
}

async function refresh() {
  if (!apiKey()) return;
  try {
    await pollStats();
    if (state.tab === 'clients') await loadClients();
    if (state.tab === 'subscriptions') await loadSubscriptions();
    if (state.tab === 'retained') await loadRetained();
  } catch (e) {
    if (e.message !== 'unauthorized') toast('Refresh failed: ' + e.message);
  }
}

// ---- overview -----------------------------------------------------------------------------------------------

async function pollStats() {
  const s = await api('stats');
  const now = Date.now();
  let rateIn = 0, rateOut = 0;
  if (state.last) {
    const dt = (now - state.last.at) / 1000;
    if (dt > 0) {
      rateIn = Math.max(0, (s.messagesReceived - state.last.stats.messagesReceived) / dt);
      rateOut = Math.max(0, (s.messagesDelivered - state.last.stats.messagesDelivered) / dt);
    }
  }
  state.last = { at: now, stats: s };
  state.history.push({ at: now, connected: s.connectedClients, rateIn, rateOut });
  if (state.history.length > HISTORY_POINTS) state.history.shift();

  $('stat-connected').textContent = number(s.connectedClients);
  $('stat-sessions').textContent = number(s.sessions);
  $('stat-subscriptions').textContent = number(s.subscriptions);
  $('stat-retained').textContent = number(s.retainedMessages);
  $('stat-rate-in').textContent = rateIn.toFixed(1);
  $('stat-rate-out').textContent = rateOut.toFixed(1);
  $('stat-received').textContent = number(s.messagesReceived);
  $('stat-delivered').textContent = number(s.messagesDelivered);
  $('stat-dropped').textContent = number(s.messagesDropped);
  // Drops by reason (non-zero ones) as the tile's tooltip and small print.
  const reasons = Object.entries(s.droppedByReason || {}).filter(([, n]) => n > 0);
  $('stat-dropped-reasons').textContent = reasons.map(([r, n]) => `${r.replace(/_/g, ' ')} ${number(n)}`).join(' · ');
  $('stat-bytes').textContent = bytes(s.bytesReceived) + ' / ' + bytes(s.bytesSent);
  $('stat-queued').textContent = number(s.queuedMessages) + ' / ' + number(s.inflightMessages);
  $('stat-uptime').textContent = duration(s.uptimeSeconds);
  if (state.tab === 'overview') {
    drawChart($('chart-connections'), [{ values: state.history.map((h) => h.connected), color: '#2f6fde', fill: true }]);
    drawChart($('chart-messages'), [
      { values: state.history.map((h) => h.rateIn), color: '#2f6fde' },
      { values: state.history.map((h) => h.rateOut), color: '#e07b28' },
    ]);
  }
}

function drawChart(canvas, series) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width, height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) { canvas.width = Math.round(width * ratio); canvas.height = Math.round(height * ratio); }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const left = 44, right = 8, top = 8, bottom = 20;
  const plotW = width - left - right, plotH = height - top - bottom;
  let max = 0;
  for (const s of series) for (const v of s.values) max = Math.max(max, v);
  max = max <= 0 ? 1 : niceMax(max);
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillStyle = '#6b7785';
  ctx.strokeStyle = '#e6ebf0';
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (plotH * i) / 4;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(left + plotW, y); ctx.stroke();
    const label = (max * i) / 4;
    ctx.fillText(label >= 10 || label === 0 ? Math.round(label).toString() : label.toFixed(1), 4, y + 4);
  }
  // The x axis spans the history there is (at least one minute, at most ten).
  const points = Math.min(HISTORY_POINTS, Math.max(30, ...series.map((s) => s.values.length)));
  const span = Math.round((points * POLL_MS) / 1000);
  ctx.fillText(span >= 120 ? `-${Math.round(span / 60)} min` : `-${span} s`, left, height - 4);
  ctx.fillText('now', left + plotW - 22, height - 4);
  const step = plotW / (points - 1);
  for (const s of series) {
    const n = s.values.length;
    if (n === 0) continue;
    const x = (i) => left + plotW - (n - 1 - i) * step;
    const y = (v) => top + plotH - (v / max) * plotH;
    ctx.beginPath();
    s.values.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.stroke();
    if (s.fill) {
      ctx.lineTo(x(n - 1), top + plotH); ctx.lineTo(x(0), top + plotH); ctx.closePath();
      ctx.fillStyle = s.color + '22';
      ctx.fill();
      ctx.fillStyle = '#6b7785';
    }
  }
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// ---- clients and sessions -----------------------------------------------------------------------------------

async function loadClients() {
  const search = encodeURIComponent($('clients-search').value.trim());
  const connected = $('clients-connected').checked ? '&connected=true' : '';
  const result = await api(`sessions?limit=500&search=${search}${connected}`);
  $('clients-count').textContent = `${result.total} session${result.total === 1 ? '' : 's'}`;
  const tbody = $('clients-table').tBodies[0];
  tbody.replaceChildren();
  for (const s of result.items) {
    const row = document.createElement('tr');
    row.dataset.clientId = s.clientId;
    if (state.selected === s.clientId) row.className = 'selected';
    cell(row, s.clientId, 'client-id');
    const st = cell(row, '');
    const badge = document.createElement('span');
    badge.className = 'state ' + (s.connected ? 'on' : 'off');
    badge.textContent = s.connected ? 'connected' : 'offline';
    st.appendChild(badge);
    cell(row, s.remoteAddress);
    cell(row, s.listener);
    cell(row, s.protocolVersion);
    cell(row, s.username);
    cell(row, s.subscriptions, 'num');
    cell(row, s.inflight, 'num');
    cell(row, s.queued, 'num');
    cell(row, time(s.connectedAt));
    const actions = cell(row, '', 'actions');
    button(actions, 'Details', 'secondary details', () => showSession(s.clientId));
    if (s.connected) {
      button(actions, 'Disconnect', 'danger disconnect', async () => {
        if (!confirm(`Disconnect client ${s.clientId}?`)) return;
        try { await api(`clients/${encodeURIComponent(s.clientId)}/disconnect`, { method: 'POST' }); toast(`Disconnected ${s.clientId}`); }
        catch (e) { toast('Disconnect failed: ' + e.message); }
        await loadClients();
      });
    }
    button(actions, 'Delete session', 'danger delete', async () => {
      if (!confirm(`Delete the session of ${s.clientId} (subscriptions and queued messages)?`)) return;
      try { await api(`sessions/${encodeURIComponent(s.clientId)}`, { method: 'DELETE' }); toast(`Deleted session ${s.clientId}`); }
      catch (e) { toast('Delete failed: ' + e.message); }
      if (state.selected === s.clientId) { state.selected = null; $('session-detail').hidden = true; }
      await loadClients();
    });
    tbody.appendChild(row);
  }
  if (state.selected) await showSession(state.selected, true);
}

async function showSession(clientId, quiet) {
  let detail;
  try { detail = await api(`sessions/${encodeURIComponent(clientId)}`); }
  catch (e) { if (!quiet) toast(e.message); state.selected = null; $('session-detail').hidden = true; return; }
  state.selected = clientId;
  const s = detail.session;
  $('session-detail').hidden = false;
  $('session-detail-id').textContent = clientId;
  $('session-detail-summary').textContent = `${s.connected ? 'Connected from ' + s.remoteAddress + ' (' + s.listener + ', MQTT ' + s.protocolVersion + ')' : 'Offline'}`
    + ` · keep-alive ${s.keepAliveSeconds} s · session expiry ${s.sessionExpiryInterval} s · ${s.inflight} inflight · ${s.queued} queued`
    + Object.entries(s.dropped || {}).map(([r, n]) => ` · dropped (${r.replace(/_/g, ' ')}) ${n}`).join('');
  const tbody = $('session-detail-subs');
  tbody.replaceChildren();
  for (const x of detail.subscriptionList) {
    const row = document.createElement('tr');
    cell(row, x.topicFilter); cell(row, x.qoS); cell(row, x.noLocal ? 'yes' : ''); cell(row, x.retainAsPublished ? 'yes' : ''); cell(row, x.shareName);
    tbody.appendChild(row);
  }
  document.querySelectorAll('#clients-table tbody tr').forEach((r) => r.classList.toggle('selected', r.dataset.clientId === clientId));
}

// ---- subscriptions and retained -------------------------------------------------------------------------------

async function loadSubscriptions() {
  const result = await api(`subscriptions?limit=1000&search=${encodeURIComponent($('subs-search').value.trim())}`);
  $('subs-count').textContent = `${result.total} subscription${result.total === 1 ? '' : 's'}`;
  const tbody = $('subs-table').tBodies[0];
  tbody.replaceChildren();
  for (const x of result.items) {
    const row = document.createElement('tr');
    cell(row, x.topicFilter); cell(row, x.clientId); cell(row, x.qoS); cell(row, x.shareName);
    tbody.appendChild(row);
  }
}

async function loadRetained() {
  const filter = $('retained-filter').value.trim();
  let result;
  try { result = await api(`retained?limit=500${filter ? '&filter=' + encodeURIComponent(filter) : ''}`); }
  catch (e) { $('retained-count').textContent = e.message; return; }
  $('retained-count').textContent = `${result.total} retained message${result.total === 1 ? '' : 's'}`;
  const tbody = $('retained-table').tBodies[0];
  tbody.replaceChildren();
  for (const m of result.items) {
    const row = document.createElement('tr');
    row.dataset.topic = m.topic;
    cell(row, m.topic);
    cell(row, (m.payloadText !== null && m.payloadText !== undefined ? m.payloadText : 'base64: ' + m.payloadBase64) + (m.payloadTruncated ? ' …' : ''), 'payload');
    cell(row, m.qoS); cell(row, bytes(m.payloadSize)); cell(row, time(m.receivedAt));
    const actions = cell(row, '', 'actions');
    button(actions, 'Delete', 'danger', async () => {
      if (!confirm(`Delete the retained message of ${m.topic}?`)) return;
      try { await api(`retained?topic=${encodeURIComponent(m.topic)}`, { method: 'DELETE' }); } catch (e) { toast(e.message); }
      await loadRetained();
    });
    tbody.appendChild(row);
  }
}

// ---- built-in MQTT client -------------------------------------------------------------------------------------

function setMqttState(connected, text) {
  $('mqtt-status').textContent = text;
  $('mqtt-status').classList.toggle('connected', connected);
  $('mqtt-connect').disabled = connected;
  $('mqtt-disconnect').disabled = !connected;
  $('mqtt-subscribe').disabled = !connected;
  $('mqtt-publish').disabled = !connected;
}

async function mqttConnect() {
  const client = new window.MqttWsClient();
  const clientId = $('mqtt-client-id').value.trim() || 'dashboard-' + Math.random().toString(16).slice(2, 10);
  $('mqtt-client-id').value = clientId;
  client.onmessage = (topic, payload, qos, retain) => {
    const row = document.createElement('tr');
    cell(row, new Date().toLocaleTimeString()); cell(row, topic);
    let text;
    try { text = new TextDecoder('utf-8', { fatal: true }).decode(payload); } catch { text = `(${payload.length} bytes, binary)`; }
    cell(row, text, 'payload'); cell(row, qos); cell(row, retain ? 'yes' : '');
    const tbody = $('mqtt-messages').tBodies[0];
    tbody.insertBefore(row, tbody.firstChild);
    while (tbody.rows.length > 200) tbody.deleteRow(tbody.rows.length - 1);
  };
  client.onclose = (reason) => { setMqttState(false, 'disconnected: ' + reason); state.mqtt = null; state.subscriptions = []; renderSubscriptions(); };
  setMqttState(false, 'connecting…');
  try {
    await client.connect($('mqtt-url').value.trim(), { clientId, username: $('mqtt-username').value, password: $('mqtt-password').value });
    state.mqtt = client;
    setMqttState(true, 'connected as ' + clientId);
  } catch (e) {
    setMqttState(false, 'failed: ' + e.message);
  }
}

function renderSubscriptions() {
  const list = $('mqtt-subscriptions');
  list.replaceChildren();
  for (const s of state.subscriptions) {
    const li = document.createElement('li');
    li.textContent = `${s.filter} (QoS ${s.qos}) `;
    button(li, 'unsubscribe', 'link', async () => {
      if (state.mqtt) await state.mqtt.unsubscribe(s.filter).catch(() => {});
      state.subscriptions = state.subscriptions.filter((x) => x !== s);
      renderSubscriptions();
    });
    list.appendChild(li);
  }
}

// ---- wiring ---------------------------------------------------------------------------------------------------

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('#tabs button').forEach((b) => b.addEventListener('click', () => showTab(b.dataset.tab)));
  $('login-form').addEventListener('submit', (e) => { e.preventDefault(); signIn($('api-key').value.trim()); });
  $('logout').addEventListener('click', () => showLogin());
  let searchTimer;
  const debounce = (fn) => () => { clearTimeout(searchTimer); searchTimer = setTimeout(fn, 250); };
  $('clients-search').addEventListener('input', debounce(loadClients));
  $('clients-connected').addEventListener('change', loadClients);
  $('subs-search').addEventListener('input', debounce(loadSubscriptions));
  $('retained-filter').addEventListener('input', debounce(loadRetained));
  $('api-publish').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await api('publish', { method: 'POST', body: JSON.stringify({
        topic: $('api-pub-topic').value, payload: $('api-pub-payload').value, qoS: Number($('api-pub-qos').value), retain: $('api-pub-retain').checked,
      }) });
      $('api-pub-result').textContent = `handed to ${r.receivers} session${r.receivers === 1 ? '' : 's'}`;
      await loadRetained();
    } catch (err) { $('api-pub-result').textContent = err.message; }
  });
  $('mqtt-connect-form').addEventListener('submit', (e) => { e.preventDefault(); mqttConnect(); });
  $('mqtt-disconnect').addEventListener('click', () => { if (state.mqtt) state.mqtt.disconnect(); });
  $('mqtt-subscribe-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const filter = $('mqtt-sub-topic').value.trim();
    const qos = Number($('mqtt-sub-qos').value);
    try { await state.mqtt.subscribe(filter, qos); state.subscriptions.push({ filter, qos }); renderSubscriptions(); }
    catch (err) { toast('Subscribe failed: ' + err.message); }
  });
  $('mqtt-publish-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await state.mqtt.publish($('mqtt-pub-topic').value.trim(), $('mqtt-pub-payload').value, Number($('mqtt-pub-qos').value), $('mqtt-pub-retain').checked);
    } catch (err) { toast('Publish failed: ' + err.message); }
  });
  $('mqtt-clear').addEventListener('click', () => $('mqtt-messages').tBodies[0].replaceChildren());

  if (apiKey()) signIn(apiKey()); else showLogin();
});
