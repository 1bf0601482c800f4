// The SDK in Chromium against a fake signaling server (fake-signaling.mjs): what goes on
// the wire for each API call and how the SDK reacts to each server message. No daemon,
// no real WebRTC answer (the fake server never sends `sdp`).
// Run: cd tests/browser && npm install && node sdk-protocol.mjs
import assert from 'node:assert/strict';
import { startStaticServer, launchChromium, openPage, loadSdk, within } from './lib.mjs';
import { attachFakeSignaling } from './fake-signaling.mjs';

async function step(name, fn) {
  const t0 = Date.now();
  await within(20_000, fn(), name);
  console.log(`ok - ${name} (${Date.now() - t0} ms)`);
}

/** Polls a page expression until it is truthy. */
async function until(page, expr, ms = 5000) {
  await page.waitForFunction(expr, null, { timeout: ms, polling: 20 });
}

const web = await startStaticServer();
const fake = attachFakeSignaling(web.server);
const browser = await launchChromium();
try {
  const page = await openPage(browser, web.url, '/');
  await loadSdk(page);
  // Page-side recorder: every state a call passes through.
  await page.evaluate(() => {
    window.track = (call) => {
      call.states = [call.state];
      call.addEventListener('stateChanged', (e) => call.states.push(e.state));
      return call;
    };
  });

  await step('a refused token rejects connect() with the server\'s code', async () => {
    const r = await page.evaluate(() => window.pstn.connect({ token: 'bad' }).then(
      () => ({ resolved: true }), (e) => ({ name: e.name, code: e.code, message: e.message })));
    assert.deepEqual(r, { name: 'PstnBridgeError', code: 'invalidToken', message: 'authentication failed: token signature does not verify' });
    const auth = fake.sessions.at(-1).received[0];
    assert.deepEqual(auth, { type: 'auth', token: 'bad', protocol: 1 });
  });

  let s; // the server side of the good session
  await step('auth first, ready resolves connect() with the session details', async () => {
    const sessionP = fake.nextSession();
    const info = await page.evaluate(async () => {
      window.client = await window.pstn.connect({ url: location.origin, token: 'good' });
      window.client.addEventListener('incomingCall', (e) => { window.incoming = window.track(e.call); });
      const c = window.client;
      return { state: c.state, sessionId: c.sessionId, endpoint: c.endpoint, role: c.role, ice: c.iceServers };
    });
    s = await sessionP;
    assert.equal(s.received[0].type, 'auth');
    assert.deepEqual(info, { state: 'connected', sessionId: info.sessionId, endpoint: 'alice', role: 'agent', ice: [{ urls: ['stun:127.0.0.1:3478'] }] });
  });

  await step('a refused startPhoneCall ends the call with the server\'s reason', async () => {
    await page.evaluate(() => { window.refused = window.track(window.client.startPhoneCall({ number: '+19005550100' })); });
    const req = await s.next('startPhoneCall');
    assert.equal(req.number, '+19005550100');
    assert.ok(!('callerId' in req), 'no callerId key means the role default');
    assert.match(req.sdp, /^m=audio /m);
    assert.match(req.sdp, /^a=candidate:/m, 'ICE candidates gathered before sending');
    s.send({ type: 'callEnded', requestId: req.requestId, callEndReason: { code: 403, subCode: 40307 }, reason: 'number denied' });
    await until(page, () => window.refused.state === 'Disconnected');
    const r = await page.evaluate(() => ({ states: window.refused.states, reason: window.refused.callEndReason, text: window.refused.callEndText, live: window.client.calls.length, pc: window.refused.peerConnection }));
    assert.deepEqual(r, { states: ['None', 'Connecting', 'Disconnected'], reason: { code: 403, subCode: 40307 }, text: 'number denied', live: 0, pc: null });
  });

  await step('outbound call: accepted, ringing, connected, hold/resume, DTMF, mute, hang up', async () => {
    await page.evaluate(() => { window.out = window.track(window.client.startPhoneCall({ number: '+14155550123', callerId: '' })); });
    const req = await s.next('startPhoneCall');
    assert.equal(req.callerId, '', 'anonymous is sent as ""');
    s.send({ type: 'callAccepted', requestId: req.requestId, callId: 'c-1' });
    for (const state of ['Ringing', 'EarlyMedia', 'Connected']) s.send({ type: 'callState', callId: 'c-1', state });
    await until(page, () => window.out.state === 'Connected');
    assert.equal(await page.evaluate(() => window.out.id), 'c-1');

    const held = page.evaluate(() => window.out.hold().then(() => window.out.state));
    assert.deepEqual(await s.next('hold'), { type: 'hold', callId: 'c-1' });
    s.send({ type: 'callState', callId: 'c-1', state: 'Hold' });
    assert.equal(await held, 'Hold');
    const resumed = page.evaluate(() => window.out.resume().then(() => window.out.state));
    await s.next('resume');
    s.send({ type: 'callState', callId: 'c-1', state: 'Connected' });
    assert.equal(await resumed, 'Connected');

    await page.evaluate(() => window.out.sendDtmf('12#'));
    assert.deepEqual(await s.next('sendDtmf'), { type: 'sendDtmf', callId: 'c-1', digits: '12#' });
    const bad = await page.evaluate(() => { try { window.out.sendDtmf('x'); return 'sent'; } catch (e) { return e.name; } });
    assert.equal(bad, 'TypeError');

    const mic = await page.evaluate(() => {
      window.out.mute();
      const muted = window.out.localStream.getAudioTracks().map((t) => t.enabled);
      window.out.unmute();
      return { muted, unmuted: window.out.localStream.getAudioTracks().map((t) => t.enabled), isMuted: window.out.isMuted };
    });
    assert.deepEqual(mic, { muted: [false], unmuted: [true], isMuted: false });

    const hungUp = page.evaluate(() => window.out.hangUp().then(() => window.out.states));
    assert.deepEqual(await s.next('hangUp'), { type: 'hangUp', callId: 'c-1' });
    s.send({ type: 'callState', callId: 'c-1', state: 'Disconnected' });
    s.send({ type: 'callEnded', callId: 'c-1', callEndReason: { code: 0, subCode: 0 }, reason: 'hung up' });
    assert.deepEqual(await hungUp, ['None', 'Connecting', 'Ringing', 'EarlyMedia', 'Connected', 'Hold', 'Connected', 'Disconnecting', 'Disconnected']);
    const after = await page.evaluate(() => ({ pc: window.out.peerConnection, local: window.out.localStream, reason: window.out.callEndReason }));
    assert.deepEqual(after, { pc: null, local: null, reason: { code: 0, subCode: 0 } });
  });

  await step('incoming call: callerId and to exposed; reject busy', async () => {
    s.send({ type: 'incomingCall', callId: 'c-2', callerId: { number: '+14155550999', name: 'Bob' }, to: '+14155550100' });
    await until(page, () => window.incoming?.id === 'c-2');
    const info = await page.evaluate(() => ({ callerId: window.incoming.callerId, to: window.incoming.to, state: window.incoming.state, direction: window.incoming.direction }));
    assert.deepEqual(info, { callerId: { number: '+14155550999', name: 'Bob' }, to: '+14155550100', state: 'Incoming', direction: 'Incoming' });
    const done = page.evaluate(() => window.incoming.reject({ busy: true }).then(() => window.incoming.callEndReason));
    assert.deepEqual(await s.next('reject'), { type: 'reject', callId: 'c-2', busy: true });
    s.send({ type: 'callEnded', callId: 'c-2', callEndReason: { code: 486, subCode: 48601 }, reason: 'busy' });
    assert.deepEqual(await done, { code: 486, subCode: 48601 });
  });

  await step('incoming call answered: offer sent; carrier hangs up', async () => {
    s.send({ type: 'incomingCall', callId: 'c-3', callerId: { number: null, name: null }, to: '+14155550100' });
    await until(page, () => window.incoming?.id === 'c-3');
    await page.evaluate(() => window.incoming.answer());
    const ans = await s.next('answer');
    assert.equal(ans.callId, 'c-3');
    assert.match(ans.sdp, /^a=candidate:/m);
    s.send({ type: 'callState', callId: 'c-3', state: 'Connected' });
    s.send({ type: 'callEnded', callId: 'c-3', callEndReason: { code: 0, subCode: 1 }, reason: 'carrier hung up' });
    await until(page, () => window.incoming.state === 'Disconnected');
    const r = await page.evaluate(() => ({ states: window.incoming.states, reason: window.incoming.callEndReason }));
    assert.deepEqual(r, { states: ['Incoming', 'Connecting', 'Connected', 'Disconnected'], reason: { code: 0, subCode: 1 } });
  });

  await step('answered elsewhere: a ringing call ends with {0, 2}', async () => {
    s.send({ type: 'incomingCall', callId: 'c-4', callerId: { number: '+14155550999', name: null }, to: '+14155550100' });
    await until(page, () => window.incoming?.id === 'c-4');
    s.send({ type: 'callEnded', callId: 'c-4', callEndReason: { code: 0, subCode: 2 }, reason: 'answered elsewhere' });
    await until(page, () => window.incoming.state === 'Disconnected');
    assert.deepEqual(await page.evaluate(() => window.incoming.callEndReason), { code: 0, subCode: 2 });
  });

  await step('a server error on a call rejects the pending operation', async () => {
    await page.evaluate(() => { window.e1 = window.track(window.client.startPhoneCall({ number: '+14155550124' })); });
    const req = await s.next('startPhoneCall');
    s.send({ type: 'callAccepted', requestId: req.requestId, callId: 'c-5' });
    s.send({ type: 'callState', callId: 'c-5', state: 'Connected' });
    await until(page, () => window.e1.state === 'Connected');
    const r = page.evaluate(() => window.e1.hold().then(() => 'resolved', (e) => `${e.code}: ${e.message}`));
    await s.next('hold');
    s.send({ type: 'error', callId: 'c-5', code: 'holdFailed', message: 're-INVITE refused' });
    assert.equal(await r, 'holdFailed: re-INVITE refused');
  });

  await step('hang up before callAccepted: hangUp follows the accept', async () => {
    const early = await page.evaluate(() => {
      const c = window.client.startPhoneCall({ number: '+14155550126' });
      c.hangUp();
      return { state: c.state, reason: c.callEndReason };
    });
    assert.deepEqual(early, { state: 'Disconnected', reason: { code: 0, subCode: 0 } });
    await page.evaluate(() => { window.late = window.track(window.client.startPhoneCall({ number: '+14155550127' })); });
    const req = await s.next('startPhoneCall');
    assert.equal(req.number, '+14155550127', 'the call hung up at once was never sent');
    const done = page.evaluate(() => window.late.hangUp().then(() => window.late.callEndReason));
    await page.waitForFunction(() => window.late.state === 'Disconnecting');
    s.send({ type: 'callAccepted', requestId: req.requestId, callId: 'c-8' });
    assert.deepEqual(await s.next('hangUp'), { type: 'hangUp', callId: 'c-8' });
    s.send({ type: 'callEnded', callId: 'c-8', callEndReason: { code: 487, subCode: 48700 }, reason: 'cancelled' });
    assert.deepEqual(await done, { code: 487, subCode: 48700 });
  });

  await step('keep-alive ping is answered', async () => {
    await page.evaluate(() => window.client._keepAlive());
    await s.next('ping');
  });

  await step('losing the WebSocket ends live calls and fires disconnected', async () => {
    await page.evaluate(() => {
      window.client.addEventListener('disconnected', (e) => {
        window.lost = { requested: e.requested, client: window.client.state, call: window.e1.state, reason: window.e1.callEndReason };
      });
    });
    s.drop();
    await until(page, () => window.lost);
    assert.deepEqual(await page.evaluate(() => window.lost), { requested: false, client: 'disconnected', call: 'Disconnected', reason: { code: 408, subCode: 40804 } });
  });

  await step('disconnect() hangs up calls (not ringing ones) and closes the socket', async () => {
    const sessionP = fake.nextSession();
    await page.evaluate(async () => { window.client = await window.pstn.connect({ token: 'good' }); });
    const s2 = await sessionP;
    await page.evaluate(() => { window.client.startPhoneCall({ number: '+14155550125' }); });
    const req = await s2.next('startPhoneCall');
    s2.send({ type: 'callAccepted', requestId: req.requestId, callId: 'c-6' });
    s2.send({ type: 'incomingCall', callId: 'c-7', callerId: { number: '+1', name: null }, to: '+14155550100' });
    await page.waitForFunction(() => window.client.calls.length === 2 && window.client.calls.every((c) => c.id));
    await page.evaluate(() => window.client.disconnect());
    await new Promise((resolve) => (s2.closed ? resolve() : s2.once('close', resolve)));
    assert.deepEqual(s2.received.filter((m) => m.type === 'hangUp' || m.type === 'reject'), [{ type: 'hangUp', callId: 'c-6' }]);
    assert.deepEqual(await page.evaluate(() => window.client.calls.length), 0);
  });

  assert.deepEqual(page.problems, [], 'uncaught page errors');
} finally {
  await browser.close();
  await web.close();
}
console.log('sdk-protocol: all passed');
