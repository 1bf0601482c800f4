// Smoke test without the daemon: web/ served by a tiny Node server, Debian Chromium
// headless. Checks the demo page and the SDK module load, that connect() rejects cleanly
// when no server listens, and that the harness itself works: the fake microphone's tone
// is found at its frequency after a WebRTC loopback inside the page.
// Run: cd tests/browser && npm install && node smoke.mjs
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import {
  startStaticServer, writeToneWav, launchChromium, openPage, loadSdk, dominantFrequency,
  assertFrequency, within, inboundAudioStats,
} from './lib.mjs';

const TONE_HZ = 440;

/** A loopback port with nothing listening on it. */
async function closedPort() {
  const srv = createServer();
  await new Promise((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address();
  await new Promise((ok) => srv.close(ok));
  return port;
}

async function step(name, fn) {
  const t0 = Date.now();
  await fn();
  console.log(`ok - ${name} (${Date.now() - t0} ms)`);
}

const web = await startStaticServer();
const wav = await writeToneWav({ frequency: TONE_HZ, sampleRate: 48000, seconds: 5 });
const browser = await launchChromium({ wav });
try {
  const page = await openPage(browser, web.url, '/');

  await step('demo page loads', async () => {
    assert.match(await page.title(), /pstn-bridge/i);
    assert.ok(await page.getByRole('button', { name: /connect/i }).first().isVisible());
  });

  await step('SDK module loads from /sdk/pstn-bridge.js', async () => {
    const names = await loadSdk(page);
    for (const n of ['connect', 'Client', 'Call', 'CallState', 'PstnBridgeError', 'PROTOCOL']) {
      assert.ok(names.includes(n), `export ${n} missing: ${names}`);
    }
    assert.equal(await page.evaluate(() => window.pstn.CallState.EarlyMedia), 'EarlyMedia');
  });

  await step('connect() rejects cleanly when no server listens', async () => {
    const port = await closedPort();
    const result = await within(12_000, page.evaluate(async (url) => {
      const t0 = performance.now();
      try {
        await window.pstn.connect({ url, token: 'x' });
        return { resolved: true };
      } catch (e) {
        return { name: e.name, code: e.code, message: e.message, ms: performance.now() - t0 };
      }
    }, `ws://127.0.0.1:${port}/v1/ws`), 'connect to a closed port');
    assert.equal(result.name, 'PstnBridgeError', JSON.stringify(result));
    assert.equal(result.code, 'unreachable');
    assert.match(result.message, /cannot connect/);
    assert.ok(result.ms < 5000, `took ${result.ms} ms`);
  });

  await step('connect() refuses a missing token and a bad url', async () => {
    const errs = await page.evaluate(async () => {
      const names = [];
      for (const opts of [{}, { token: 'x', url: 'ftp://example/' }]) {
        try { await window.pstn.connect(opts); names.push('resolved'); } catch (e) { names.push(e.name); }
      }
      return names;
    });
    assert.deepEqual(errs, ['TypeError', 'TypeError']);
  });

  await step(`harness: fake microphone tone found at ${TONE_HZ} Hz after a WebRTC loopback`, async () => {
    await page.evaluate(async () => {
      const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      const a = new RTCPeerConnection();
      const b = new RTCPeerConnection();
      a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
      b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
      window.loopback = new MediaStream();
      b.ontrack = (e) => window.loopback.addTrack(e.track);
      mic.getTracks().forEach((t) => a.addTrack(t, mic));
      await a.setLocalDescription();
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription();
      await a.setRemoteDescription(b.localDescription);
      window.loopbackPeers = [a, b, mic];
    });
    const found = await within(10_000, dominantFrequency(page, 'window.loopback', { durationMs: 1500 }), 'FFT');
    assert.ok(found.db > -80, `remote audio too quiet: ${found.db.toFixed(1)} dB`);
    assertFrequency(found.frequency, TONE_HZ, 2 * found.binHz + 5);
    console.log(`   found ${found.frequency.toFixed(1)} Hz at ${found.db.toFixed(1)} dB`);
    const stats = await inboundAudioStats(page, 'window.loopbackPeers[1]');
    assert.ok(stats.packetsReceived > 0, JSON.stringify(stats));
    assert.match(stats.codec ?? '', /^audio\//);
  });

  assert.deepEqual(page.problems, [], 'page errors');
} finally {
  await browser.close();
  await web.close();
}
console.log('smoke: all passed');
