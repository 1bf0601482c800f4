// Helpers for browser end-to-end tests: a tone WAV for Chromium's fake microphone, a
// headless Debian Chromium driven by playwright-core, a static server for web/, and
// page-side probes that find the dominant frequency of a call's remote audio.
import { createServer } from 'node:http';
import { readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** Root of the repository and its web/ directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const WEB_ROOT = join(REPO_ROOT, 'web');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * Builds a mono 16-bit PCM WAV holding a steady sine tone.
 * A whole number of cycles fits the file, so Chromium's looping playback has no click.
 * @returns {Buffer}
 */
export function toneWav({ frequency = 440, sampleRate = 48000, seconds = 10, amplitude = 0.5 } = {}) {
  const samples = Math.round(sampleRate * seconds);
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    const v = Math.sin((2 * Math.PI * frequency * i) / sampleRate) * amplitude;
    data.writeInt16LE(Math.round(v * 32767), i * 2);
  }
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16); // fmt chunk size
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28); // byte rate
  header.writeUInt16LE(2, 32); // block align
  header.writeUInt16LE(16, 34); // bits per sample
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

/**
 * Writes a tone WAV into a fresh temporary directory.
 * @returns {Promise<string>} the file's path
 */
export async function writeToneWav(options = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'pstn-tone-'));
  const file = join(dir, `tone-${options.frequency ?? 440}hz.wav`);
  await writeFile(file, toneWav(options));
  return file;
}

/** Chromium flags for a headless, offline browser with a fake microphone. */
export function chromiumArgs({ wav } = {}) {
  const args = [
    '--no-sandbox',
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-gpu',
    '--no-first-run',
  ];
  if (wav) args.push(`--use-file-for-fake-audio-capture=${wav}`);
  return args;
}

/**
 * Launches Debian's Chromium headless. Without `wav` the fake microphone beeps (~400 Hz).
 * @param {{wav?: string, headless?: boolean, args?: string[]}} [options]
 * @returns {Promise<import('playwright-core').Browser>}
 */
export function launchChromium({ wav, headless = true, args = [] } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless,
    args: [...chromiumArgs({ wav }), ...args],
  });
}

/**
 * Opens a page at `baseUrl` + `path`. Uncaught page errors are collected in
 * `page.problems` so a test can assert there were none; console errors (which include
 * expected ones, like a refused WebSocket) in `page.consoleErrors`.
 * @returns {Promise<import('playwright-core').Page>}
 */
export async function openPage(browser, baseUrl, path = '/', { viewport } = {}) {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1100, height: 800 } });
  await context.grantPermissions(['microphone'], { origin: new URL(baseUrl).origin }).catch(() => {});
  const page = await context.newPage();
  page.problems = [];
  page.consoleErrors = [];
  page.on('pageerror', (e) => page.problems.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') page.consoleErrors.push(m.text());
  });
  await page.goto(new URL(path, baseUrl).href);
  return page;
}

/**
 * Imports the SDK into the page as `window.pstn` (from `/sdk/pstn-bridge.js` on the
 * page's origin) and returns the names it exports.
 */
export async function loadSdk(page, path = '/sdk/pstn-bridge.js') {
  return page.evaluate(async (p) => {
    window.pstn = await import(p);
    return Object.keys(window.pstn).sort();
  }, path);
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * Serves `root` (default web/) over HTTP on 127.0.0.1 the way the daemon lays it out:
 * `/` is index.html and `/sdk/pstn-bridge.js` is the SDK. `handle(req, res)` may answer a
 * request first (return true when it did), e.g. to stand in for `/v1/dev/token`.
 * @returns {Promise<{url: string, port: number, server: import('node:http').Server, close: () => Promise<void>}>}
 */
export async function startStaticServer(root = WEB_ROOT, { port = 0, handle } = {}) {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    if (handle && (await handle(req, res))) return;
    let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path === '/') path = '/index.html';
    if (path.startsWith('/sdk/')) path = path.slice(4);
    const file = resolve(join(base, path));
    if (!file.startsWith(base + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((ok) => server.listen(port, '127.0.0.1', ok));
  const actual = server.address().port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    server,
    close: () => new Promise((ok) => { server.closeAllConnections?.(); server.close(() => ok()); }),
  };
}

/**
 * Finds the dominant frequency of a MediaStream in the page with a WebAudio FFT.
 * `stream` is a page expression (e.g. `"window.call.remoteStream"`) or a JSHandle.
 * Remote WebRTC audio reaches WebAudio in Chromium only while the stream also plays in a
 * media element, so the probe attaches a muted <audio> to the stream and leaves it there
 * (call it once early to keep playout running, so later measurements are current).
 * @returns {Promise<{frequency: number, db: number, binHz: number}>} peak of the averaged
 *   spectrum; `db` is its level in dBFS (about -100 or lower means silence)
 */
export async function dominantFrequency(page, stream, { durationMs = 1000, fftSize = 8192 } = {}) {
  const probe = async (opts) => {
    const media = typeof opts.stream === 'string' ? (0, eval)(opts.stream) : opts.stream;
    if (!(media instanceof MediaStream)) throw new Error('dominantFrequency: not a MediaStream');
    // Keep one muted sink per stream for the page's life: without a playout, WebRTC
    // buffers the received audio and a later measurement would hear stale sound.
    window.__pstnSinks ??= new WeakMap();
    if (!window.__pstnSinks.has(media)) {
      const sink = new Audio();
      sink.muted = true;
      sink.srcObject = media;
      window.__pstnSinks.set(media, sink);
      await sink.play().catch(() => {});
    }
    const ctx = new AudioContext();
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = opts.fftSize;
    analyser.smoothingTimeConstant = 0;
    ctx.createMediaStreamSource(media).connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    const sum = new Float64Array(bins.length);
    let frames = 0;
    const end = performance.now() + opts.durationMs;
    await new Promise((r) => setTimeout(r, 300)); // let the graph fill
    while (performance.now() < end) {
      analyser.getFloatFrequencyData(bins);
      for (let i = 0; i < bins.length; i++) sum[i] += Math.pow(10, bins[i] / 10);
      frames++;
      await new Promise((r) => setTimeout(r, 50));
    }
    let best = 1;
    for (let i = 2; i < sum.length; i++) if (sum[i] > sum[best]) best = i;
    const binHz = ctx.sampleRate / opts.fftSize;
    const db = 10 * Math.log10(sum[best] / Math.max(frames, 1) || 1e-20);
    await ctx.close();
    return { frequency: best * binHz, db, binHz };
  };
  return page.evaluate(probe, { stream, durationMs, fftSize });
}

/**
 * Reads the inbound audio level of a call from getStats (0..1, and total energy).
 * `call` is a page expression for a Call or an RTCPeerConnection (e.g. `"window.call"`).
 * Levels read 0 while the element playing the remote stream is muted.
 * @returns {Promise<{audioLevel: number, totalAudioEnergy: number, packetsReceived: number, codec: string|null}>}
 */
export async function inboundAudioStats(page, call) {
  return page.evaluate(async (expr) => {
    const c = (0, eval)(expr);
    const report = await c.getStats();
    const out = { audioLevel: 0, totalAudioEnergy: 0, packetsReceived: 0, codec: null };
    if (!report) return out;
    for (const s of report.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        out.audioLevel = s.audioLevel ?? 0;
        out.totalAudioEnergy = s.totalAudioEnergy ?? 0;
        out.packetsReceived = s.packetsReceived ?? 0;
        out.codec = s.codecId ? report.get(s.codecId)?.mimeType ?? null : null;
      }
    }
    return out;
  }, call);
}

/** Asserts that `actual` is within `tolerance` Hz of `expected`. */
export function assertFrequency(actual, expected, tolerance = 20) {
  if (Math.abs(actual - expected) > tolerance) {
    throw new Error(`expected a tone at ${expected} Hz (±${tolerance}), found ${actual.toFixed(1)} Hz`);
  }
}

/** Rejects after `ms` with `what` in the message unless `promise` settles first. */
export function within(ms, promise, what = 'operation') {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms); }),
  ]);
}
