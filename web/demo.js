// Demo phone for pstn-bridge: plain DOM code on top of the SDK.
import { connect, CallState } from '/sdk/pstn-bridge.js';

const $ = (id) => document.getElementById(id);
const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
const LIVE = new Set([CallState.Connected, CallState.Hold, CallState.EarlyMedia]);

let client = null;
let selected = null; // the call DTMF keys go to
const cards = new Map(); // Call -> <li>

window.demo = { get client() { return client; }, get calls() { return [...cards.keys()]; } };

function log(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  $('log').prepend(li);
  while ($('log').children.length > 200) $('log').lastElementChild.remove();
}

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
  const connected = state === 'connected';
  $('connect-button').disabled = state !== 'disconnected';
  $('disconnect-button').disabled = !connected;
  $('call-button').disabled = !connected;
  $('session-info').hidden = !connected;
}

// ---- session ---------------------------------------------------------------------------

$('mint-button').addEventListener('click', async () => {
  const body = { app: $('mint-app').value.trim(), endpoint: $('mint-endpoint').value.trim(), role: $('mint-role').value.trim() };
  try {
    const res = await fetch('/v1/dev/token', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(res.status === 403 ? 'minting is allowed only from loopback' : `${res.status} ${text}`);
    let token = text.trim();
    try { token = JSON.parse(text).token ?? token; } catch { /* plain text token */ }
    $('token').value = token;
    log(`minted a token for ${body.app}/${body.endpoint} (${body.role})`);
  } catch (e) {
    log(`mint failed: ${e.message}`);
  }
});

$('connect-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = $('token').value.trim();
  if (!token) { log('enter or mint a token first'); $('token').focus(); return; }
  setStatus('connecting', 'Connecting…');
  try {
    client = await connect({ url: $('server-url').value.trim() || undefined, token });
  } catch (e) {
    setStatus('disconnected', 'Disconnected');
    log(`connect failed: ${e.message}`);
    return;
  }
  $('info-session').textContent = client.sessionId;
  $('info-endpoint').textContent = `${client.app} / ${client.endpoint}`;
  $('info-role').textContent = client.role;
  setStatus('connected', `Connected as ${client.endpoint}`);
  log(`connected: session ${client.sessionId}`);
  client.addEventListener('incomingCall', (e) => {
    const { number, name } = e.call.callerId;
    log(`incoming call from ${number ?? 'unknown'}${name ? ` (${name})` : ''} to ${e.call.to}`);
    addCall(e.call);
  });
  client.addEventListener('error', (e) => log(`server error: ${e.error.message}`));
  client.addEventListener('disconnected', (e) => {
    setStatus('disconnected', 'Disconnected');
    log(`disconnected (${e.code}${e.reason ? `: ${e.reason}` : ''})`);
    client = null;
  });
});

$('disconnect-button').addEventListener('click', () => client?.disconnect());

// ---- dialing ---------------------------------------------------------------------------

for (const key of KEYS) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = key;
  b.setAttribute('aria-label', key === '*' ? 'star' : key === '#' ? 'pound' : key);
  b.addEventListener('click', () => pressKey(key));
  $('keypad').append(b);
}

function pressKey(key) {
  if (selected && LIVE.has(selected.state)) {
    try {
      selected.sendDtmf(key);
      log(`DTMF ${key} → ${selected.id}`);
    } catch (e) { log(e.message); }
    return;
  }
  $('number').value += key;
}

$('backspace').addEventListener('click', () => { $('number').value = $('number').value.slice(0, -1); });
$('anonymous').addEventListener('change', () => { $('caller-id').disabled = $('anonymous').checked; });

$('dial-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const number = $('number').value.trim();
  if (!client || !number) { $('number').focus(); return; }
  const typed = $('caller-id').value.trim();
  const options = { number };
  if ($('anonymous').checked) options.callerId = '';
  else if (typed) options.callerId = typed;
  try {
    const call = client.startPhoneCall(options);
    log(`calling ${number}${'callerId' in options ? ` as ${options.callerId || 'anonymous'}` : ''}`);
    addCall(call, 'callerId' in options ? options.callerId || 'anonymous' : 'role default');
  } catch (e) {
    log(`cannot call: ${e.message}`);
  }
});

// ---- calls -----------------------------------------------------------------------------

function addCall(call, callerIdLabel) {
  const li = $('call-template').content.firstElementChild.cloneNode(true);
  cards.set(call, li);
  $('calls').prepend(li);
  $('no-calls').hidden = true;
  li.querySelector('.direction').textContent = call.direction === 'Incoming' ? '↘ from' : '↗ to';
  const caller = call.callerId;
  li.querySelector('.party').textContent = call.direction === 'Incoming'
    ? `${caller.name ? `${caller.name} ` : ''}${caller.number ?? 'Unknown caller'}`
    : call.to;
  li.querySelector('.caller').textContent = call.direction === 'Incoming'
    ? [caller.number ?? 'unknown number', caller.name ?? 'no name'].join(' · ')
    : callerIdLabel;
  li.querySelector('.to').textContent = call.to ?? '—';
  li.setAttribute('aria-label', `Call ${li.querySelector('.direction').textContent.slice(2)} ${li.querySelector('.party').textContent}`);
  li.querySelector('.remote-audio').srcObject = call.remoteStream;
  li.addEventListener('click', (ev) => onAction(call, ev.target.closest('button')?.dataset.action));
  for (const type of ['stateChanged', 'idChanged', 'mutedChanged', 'mediaStateChanged']) {
    call.addEventListener(type, () => render(call));
  }
  call.addEventListener('stateChanged', (e) => log(`${call.id ?? call.to}: ${e.previousState} → ${e.state}`));
  call.addEventListener('error', (e) => log(`${call.id}: ${e.error.message}`));
  if (!selected || selected.isEnded) selected = call;
  render(call);
}

async function onAction(call, action) {
  if (!action) return;
  try {
    if (action === 'answer') await call.answer();
    else if (action === 'reject') await call.reject();
    else if (action === 'busy') await call.reject({ busy: true });
    else if (action === 'hangUp') await call.hangUp();
    else if (action === 'hold') await (call.state === CallState.Hold ? call.resume() : call.hold());
    else if (action === 'mute') call.isMuted ? call.unmute() : call.mute();
    else if (action === 'select') { selected = call; cards.forEach((_, c) => render(c)); }
  } catch (e) {
    log(`${action}: ${e.message}`);
  }
}

function render(call) {
  const li = cards.get(call);
  const s = call.state;
  li.dataset.state = s;
  li.querySelector('.state').textContent = s;
  li.querySelector('.state').dataset.state = s;
  li.querySelector('.call-id').textContent = call.id ?? '—';
  li.querySelector('.media').textContent = call.mediaState;
  const r = call.callEndReason;
  li.querySelector('.end-reason').textContent = r ? `${r.code} / ${r.subCode}${call.callEndText ? ` — ${call.callEndText}` : ''}` : '—';
  const show = (action, visible) => { li.querySelector(`[data-action="${action}"]`).hidden = !visible; };
  show('answer', s === CallState.Incoming);
  show('reject', s === CallState.Incoming);
  show('busy', s === CallState.Incoming);
  show('hangUp', s !== CallState.Incoming && s !== CallState.Disconnecting && !call.isEnded);
  show('hold', s === CallState.Connected || s === CallState.Hold);
  show('mute', !call.isEnded && s !== CallState.Incoming);
  show('select', LIVE.has(s));
  const hold = li.querySelector('[data-action="hold"]');
  hold.textContent = s === CallState.Hold ? 'Resume' : 'Hold';
  const mute = li.querySelector('[data-action="mute"]');
  mute.textContent = call.isMuted ? 'Unmute' : 'Mute';
  mute.setAttribute('aria-pressed', String(call.isMuted));
  li.querySelector('[data-action="select"]').setAttribute('aria-pressed', String(selected === call));
  li.classList.toggle('selected', selected === call && LIVE.has(s));
  li.querySelector('.remote-audio').hidden = call.isEnded || s === CallState.Incoming;
}

setStatus('disconnected', 'Disconnected');
