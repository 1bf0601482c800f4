// Real media through the SDK without the daemon: a second Chromium (another fake
// microphone tone) plays the bridge's WebRTC side and answers the SDK's offer, relayed by
// the fake signaling server. Each side must find the other's tone at its frequency.
// Run: cd tests/browser && node sdk-media.mjs
import assert from 'node:assert/strict';
import {
  startStaticServer, writeToneWav, launchChromium, openPage, loadSdk, dominantFrequency,
  inboundAudioStats, assertFrequency, within,
} from './lib.mjs';
import { attachFakeSignaling } from './fake-signaling.mjs';

const SDK_TONE = 440; // the SDK user's microphone
const FAR_TONE = 1000; // the "phone"

/** In the far page: answers an SDP offer with a peer connection sending its microphone. */
async function answerOffer(page, offer) {
  return page.evaluate(async (sdp) => {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
    const pc = new RTCPeerConnection();
    window.far = { pc, remote: new MediaStream() };
    pc.ontrack = (e) => window.far.remote.addTrack(e.track);
    mic.getTracks().forEach((t) => pc.addTrack(t, mic));
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription();
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
      setTimeout(resolve, 2000);
    });
    return pc.localDescription.sdp;
  }, offer);
}

const web = await startStaticServer();
const fake = attachFakeSignaling(web.server);
const sdkBrowser = await launchChromium({ wav: await writeToneWav({ frequency: SDK_TONE }) });
const farBrowser = await launchChromium({ wav: await writeToneWav({ frequency: FAR_TONE }) });
try {
  const page = await openPage(sdkBrowser, web.url, '/');
  const far = await openPage(farBrowser, web.url, '/');
  await loadSdk(page);
  const sessionP = fake.nextSession();
  await page.evaluate(async () => {
    window.client = await window.pstn.connect({ token: 'good', iceServers: [] });
    window.call = window.client.startPhoneCall({ number: '+14155550123' });
  });
  const s = await sessionP;
  const req = await s.next('startPhoneCall');
  s.send({ type: 'callAccepted', requestId: req.requestId, callId: 'c-media' });
  s.send({ type: 'sdp', callId: 'c-media', sdp: await answerOffer(far, req.sdp) });
  s.send({ type: 'callState', callId: 'c-media', state: 'Connected' });
  await page.waitForFunction(() => window.call.mediaState === 'connected', null, { timeout: 10_000 });
  console.log('ok - SDK offer answered by a second Chromium; media connected');

  const heard = await within(10_000, dominantFrequency(page, 'window.call.remoteStream'), 'FFT in the SDK page');
  assertFrequency(heard.frequency, FAR_TONE, 2 * heard.binHz + 5);
  console.log(`ok - the SDK side hears ${heard.frequency.toFixed(1)} Hz (${heard.db.toFixed(1)} dB) via call.remoteStream`);
  const sent = await within(10_000, dominantFrequency(far, 'window.far.remote'), 'FFT in the far page');
  assertFrequency(sent.frequency, SDK_TONE, 2 * sent.binHz + 5);
  console.log(`ok - the far side hears ${sent.frequency.toFixed(1)} Hz (${sent.db.toFixed(1)} dB) from the SDK microphone`);

  await page.evaluate(() => window.call.mute());
  // Audio already in the far side's jitter buffer plays out after mute(): give it time, and
  // measure up to three times (an unmuted microphone never drops 30 dB, so this still fails).
  let muted;
  for (let attempt = 0; attempt < 3; attempt++) {
    await new Promise((r) => setTimeout(r, 1000));
    muted = await within(10_000, dominantFrequency(far, 'window.far.remote'), 'FFT while muted');
    if (muted.db < sent.db - 30) break;
  }
  assert.ok(muted.db < sent.db - 30, `mute should silence the microphone: ${muted.db.toFixed(1)} dB vs ${sent.db.toFixed(1)} dB`);
  console.log(`ok - mute() silences the microphone (${muted.db.toFixed(1)} dB)`);

  const stats = await inboundAudioStats(page, 'window.call');
  assert.ok(stats.packetsReceived > 0, JSON.stringify(stats));
  console.log(`ok - getStats: ${stats.packetsReceived} packets, codec ${stats.codec}`);

  const ended = page.evaluate(() => window.call.hangUp());
  await s.next('hangUp');
  s.send({ type: 'callEnded', callId: 'c-media', callEndReason: { code: 0, subCode: 0 }, reason: 'hung up' });
  await ended;
  const after = await page.evaluate(() => ({ pc: window.call.peerConnection, state: window.call.state }));
  assert.deepEqual(after, { pc: null, state: 'Disconnected' });
  console.log('ok - hang up releases the peer connection');
  assert.deepEqual([...page.problems, ...far.problems], [], 'uncaught page errors');
} finally {
  await sdkBrowser.close();
  await farBrowser.close();
  await web.close();
}
console.log('sdk-media: all passed');
