// End to end against the real daemon: headless Chromium runs the JS SDK from the daemon,
// SIPp plays the carrier.
//  1. inbound: SIPp calls alice's DID streaming a 1000 Hz PCMU tone; the browser (fake
//     microphone: 440 Hz) answers; the browser hears 1000 Hz and the RTP going back to the
//     carrier carries 440 Hz (captured on loopback); the carrier hangs up -> {0, 1}.
//     Twice: the browser offering its usual codecs (G.711 passes through) and offering
//     Opus only (the bridge transcodes; the browser decodes the bridge's Opus).
//  2. outbound: the browser calls a number; a SIPp UAS rings and answers; states reach
//     Connected; the browser hangs up.
//  3. forbidden: a denied number ends with {403, 40307} and no INVITE reaches the trunk.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

import { REPO_ROOT, launchChromium, writeToneWav, openPage, loadSdk, dominantFrequency, assertFrequency, within } from './lib.mjs';

const BIN = process.env.PSTN_BRIDGE_BIN ?? join(REPO_ROOT, process.env.CARGO_TARGET_DIR ?? 'target', 'debug', 'pstn-bridge');
const MEDIA_MIN = 12000;

function freeUdpPort() {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function config(uasPort) {
  return `
[sip]
bind_udp = "127.0.0.1:0"
advertised_host = "127.0.0.1"
[http]
bind = "127.0.0.1:0"
[media]
bind_ip = "127.0.0.1"
advertised_ip = "127.0.0.1"
port_min = ${MEDIA_MIN}
port_max = ${MEDIA_MIN + 999}
webrtc_port = 0
[trunks.carrier]
addresses = ["127.0.0.1/32"]
destination = "127.0.0.1:${uasPort}"
numbers = ["+*"]
[apps.demo]
numbers = { "+14155550100" = "alice" }
trunks = ["carrier"]
default_role = "agent"
[apps.demo.roles.agent]
allow = ["+1*"]
deny = ["+1900*"]
default_caller_id = "+14155550100"
`;
}

async function startDaemon(dir, text) {
  const path = join(dir, 'config.toml');
  await writeFile(path, text);
  const proc = spawn(BIN, ['--config', path], { env: { ...process.env, PSTN_BRIDGE_LOG: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  const log = [];
  let resolveReady;
  const ready = new Promise((r) => { resolveReady = r; });
  let buf = '';
  proc.stderr.on('data', (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      log.push(line);
      if (line.includes('listening')) resolveReady(line);
    }
  });
  const line = await within(20000, ready, 'daemon start');
  const field = (name) => line.split(`${name}=`)[1].split(/\s/)[0];
  return { proc, log, sip: field('sip_udp'), http: `http://${field('http')}` };
}

function sipp(args, { timeoutS = 40 } = {}) {
  const p = spawn('timeout', [String(timeoutS), 'sipp', ...args, '-nostdin'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { out += d; });
  return { proc: p, done: once(p, 'exit').then(([code]) => ({ code, out })) };
}

function ulaw(sample) {
  const BIAS = 0x84;
  let x = Math.max(-32767, Math.min(32767, Math.round(sample)));
  const sign = x < 0 ? 0x80 : 0;
  x = Math.min(Math.abs(x) + BIAS, 0x7fff);
  let exp = 7;
  for (let mask = 0x4000; (x & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (x >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

function unulaw(u) {
  u = ~u & 0xff;
  const sign = u & 0x80, exp = (u >> 4) & 7, mant = u & 0x0f;
  const mag = (((mant << 3) + 0x84) << exp) - 0x84;
  return sign ? -mag : mag;
}

function goertzel(samples, hz, rate = 8000) {
  const k = 2 * Math.cos(2 * Math.PI * hz / rate);
  let s1 = 0, s2 = 0;
  for (const x of samples) { const s0 = x + k * s1 - s2; s2 = s1; s1 = s0; }
  return s1 * s1 + s2 * s2 - k * s1 * s2;
}

// Classic pcap, Ethernet link (dumpcap -P on lo): UDP payloads with ports.
function readPcap(data) {
  const le = data.readUInt32LE(0) === 0xa1b2c3d4 || data.readUInt32LE(0) === 0xa1b23c4d;
  const u32 = (o) => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const linkLen = { 1: 14, 113: 16, 0: 4 }[u32(20)];
  const out = [];
  for (let at = 24; at + 16 <= data.length;) {
    const incl = u32(at + 8);
    const frame = data.subarray(at + 16, at + 16 + incl);
    at += 16 + incl;
    const ip = frame.subarray(linkLen);
    if (ip.length < 20 || ip[0] >> 4 !== 4 || ip[9] !== 17) continue;
    const udp = ip.subarray((ip[0] & 15) * 4);
    out.push({ src: udp.readUInt16BE(0), dst: udp.readUInt16BE(2), payload: udp.subarray(8) });
  }
  return out;
}

/** The call's first audio `type` stats report that has `field`, with its codec report
 * (`codec`), polled for up to 3 s; null when none shows up. */
async function audioStat(page, type, field) {
  return page.evaluate(async ({ type, field }) => {
    for (let i = 0; i < 60; i++) {
      const stats = await window.call._pc.getStats();
      for (const r of stats.values()) {
        if (r.type === type && r.kind === 'audio' && r[field]) return { ...r, codec: stats.get(r.codecId) };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return null;
  }, { type, field });
}

/** The carrier (SIPp) calls alice with a 1000 Hz PCMU tone; the browser answers (offering
 * only Opus when `opusOnly`: the bridge then transcodes); each side must hear the other's
 * tone; the carrier hangs up. */
async function inboundToneCall(page, dir, daemon, { opusOnly }) {
  await page.evaluate((opusOnly) => {
    window.incoming = [];
    if (!opusOnly || window.opusOnlyInstalled) return;
    window.opusOnlyInstalled = true;
    const addTrack = RTCPeerConnection.prototype.addTrack;
    RTCPeerConnection.prototype.addTrack = function (...args) {
      const sender = addTrack.apply(this, args);
      const t = this.getTransceivers().find((x) => x.sender === sender);
      const opus = RTCRtpReceiver.getCapabilities('audio').codecs.filter((c) => /opus|telephone-event/i.test(c.mimeType));
      t.setCodecPreferences(opus);
      return sender;
    };
  }, opusOnly);
  const audio = join(dir, 'tone1k.pcmu');
  const tone = Buffer.alloc(8000 * 8);
  for (let i = 0; i < tone.length; i++) tone[i] = ulaw(Math.sin(2 * Math.PI * 1000 * i / 8000) * 8000);
  await writeFile(audio, tone);
  const scenario = (await readFile(join(REPO_ROOT, 'tests/sipp/carrier_call_rtp.xml'), 'utf8'))
    .replaceAll('@AUDIO@', audio).replaceAll('@HOLD_MS@', '7000');
  await writeFile(join(dir, 'carrier.xml'), scenario);
  const pcap = join(dir, `rtp-${opusOnly ? 'opus' : 'g711'}.pcap`);
  const cap = spawn('dumpcap', ['-q', '-P', '-i', 'lo', '-f', `udp portrange ${MEDIA_MIN}-${MEDIA_MIN + 999}`, '-w', pcap], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(pcap); i++) await new Promise((r) => setTimeout(r, 50));
  // The capture stops however the call went (a failed check used to leave it running).
  try {
    const sippPort = String(await freeUdpPort());
    const carrier = sipp(['-sf', join(dir, 'carrier.xml'), daemon.sip, '-s', '+14155550100', '-m', '1', '-i', '127.0.0.1', '-p', sippPort, '-mi', '127.0.0.1']);
    try {
      await within(10000, page.waitForFunction(() => window.incoming.length === 1), 'incomingCall');
    } catch (e) {
      carrier.proc.kill();
      const { out } = await carrier.done;
      throw new Error(`${e.message}\ncarrier SIPp:\n${out.slice(-3000)}`);
    }
    const caller = await page.evaluate(() => ({ ...window.incoming[0].callerId, state: window.incoming[0].state }));
    assert.equal(caller.number, '+14155551234');
    assert.equal(caller.state, 'Incoming');
    await page.evaluate(async () => { window.call = window.incoming[0]; await window.call.answer(); });
    await within(10000, page.waitForFunction(() => window.call.state === 'Connected'), 'Connected');
    const codec = (await audioStat(page, 'inbound-rtp', 'codecId'))?.codec?.mimeType;
    assert.match(String(codec), opusOnly ? /opus/i : /PCMU/i, 'codec the browser receives');
    if (opusOnly) {
      // The answer asked for 8 kHz playback: Chromium encodes narrowband, at 12 kbit/s
      // instead of its usual 32.
      const out = await audioStat(page, 'outbound-rtp', 'targetBitrate');
      const sent = out && { bitrate: out.targetBitrate, fmtp: out.codec?.sdpFmtpLine };
      assert.match(String(sent?.fmtp), /maxplaybackrate=8000/, 'Opus fmtp the browser sends with');
      assert.ok(sent.bitrate > 0 && sent.bitrate <= 12000, `browser's Opus target bitrate ${sent.bitrate}`);
    }
    const heard = await dominantFrequency(page, 'window.call.remoteStream', { durationMs: 1500 });
    assertFrequency(heard.frequency, 1000, 30);
    const { code, out } = await carrier.done;
    assert.equal(code, 0, `carrier SIPp failed:\n${out}`);
    await within(5000, page.waitForFunction(() => window.call.state === 'Disconnected'), 'Disconnected');
    const reason = await page.evaluate(() => window.call.callEndReason);
    assert.deepEqual(reason, { code: 0, subCode: 1 });
  } finally {
    if (cap.exitCode === null && cap.signalCode === null) {
      cap.kill('SIGINT');
      await once(cap, 'exit');
    }
  }
  const back = readPcap(await readFile(pcap)).filter((p) => p.src >= MEDIA_MIN && p.src <= MEDIA_MIN + 999 && p.payload.length > 12 && p.payload[1] === 0);
  assert.ok(back.length > 100, `only ${back.length} PCMU packets toward the carrier`);
  const pcm = back.slice(-150).flatMap((p) => Array.from(p.payload.subarray(12), unulaw));
  const at440 = goertzel(pcm, 440);
  for (const other of [300, 700, 1000, 1500]) {
    assert.ok(at440 > 10 * goertzel(pcm, other), `carrier side: 440 Hz not dominant over ${other} Hz`);
  }
}

async function main() {
  if (!existsSync(BIN)) throw new Error(`daemon binary not found at ${BIN}: run cargo build first`);
  const dir = await mkdtemp(join(tmpdir(), 'pstn-e2e-'));
  const uasPort = await freeUdpPort();
  const daemon = await startDaemon(dir, config(uasPort));
  const browser = await launchChromium({ wav: await writeToneWav({ frequency: 440, seconds: 30 }) });
  let failed = 0;
  const check = async (name, fn) => {
    const t0 = Date.now();
    try { await fn(); console.log(`ok - ${name} (${Date.now() - t0} ms)`); }
    catch (e) { failed++; console.log(`not ok - ${name}\n  ${e.stack ?? e}`); }
  };
  try {
    const page = await openPage(browser, daemon.http, '/');
    await loadSdk(page);
    await page.evaluate(async () => {
      const r = await fetch('/v1/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ app: 'demo', endpoint: 'alice', role: 'agent' }) });
      if (!r.ok) throw new Error(`dev token: ${r.status} ${await r.text()}`);
      const { token } = await r.json();
      window.client = await window.pstn.connect({ url: location.origin, token });
      window.incoming = [];
      window.client.addEventListener('incomingCall', (e) => { window.incoming.push(e.call); });
    });

    await check('inbound call: browser answers, tones both ways, carrier hangs up', async () => {
      await inboundToneCall(page, dir, daemon, { opusOnly: false });
    });

    await check('inbound call to an Opus-only browser: transcoded, tones both ways', async () => {
      await inboundToneCall(page, dir, daemon, { opusOnly: true });
    });

    await check('outbound call: browser calls a SIP UAS, rings, connects, hangs up', async () => {
      const uas = sipp(['-sf', join(REPO_ROOT, 'tests/sipp/uas_answer.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-m', '1', '-mi', '127.0.0.1']);
      await new Promise((r) => setTimeout(r, 500));
      const states = await page.evaluate(async () => {
        const seen = [];
        window.out = window.client.startPhoneCall({ number: '+14155551234' });
        window.out.addEventListener('stateChanged', () => seen.push(window.out.state));
        const deadline = Date.now() + 10000;
        while (window.out.state !== 'Connected' && window.out.state !== 'Disconnected' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        return seen;
      });
      assert.ok(states.includes('Connected'), `states: ${states.join(' -> ')}`);
      assert.ok(states.includes('Ringing'), `states: ${states.join(' -> ')}`);
      await page.evaluate(async () => { await window.out.hangUp(); });
      const reason = await page.evaluate(() => window.out.callEndReason);
      assert.deepEqual(reason, { code: 0, subCode: 0 });
      const { code, out } = await uas.done;
      assert.equal(code, 0, `UAS SIPp failed:\n${out}`);
    });

    await check('forbidden number: refused with its end reason, no INVITE to the trunk', async () => {
      const before = await (await fetch(`${daemon.http}/metrics`)).text();
      const reason = await page.evaluate(async () => {
        const c = window.client.startPhoneCall({ number: '+19005550123' });
        const deadline = Date.now() + 5000;
        while (c.state !== 'Disconnected' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        return c.callEndReason;
      });
      assert.deepEqual(reason, { code: 403, subCode: 40307 });
      const after = await (await fetch(`${daemon.http}/metrics`)).text();
      const invites = (t) => (t.match(/sip_requests_total\{method="INVITE_out"\} (\d+)/) ?? [0, '0'])[1];
      assert.equal(invites(after), invites(before), 'an INVITE went out for a forbidden number');
    });
  } finally {
    await browser.close();
    daemon.proc.kill('SIGINT');
    await rm(dir, { recursive: true, force: true });
    if (failed) console.log(daemon.log.slice(-60).join('\n'));
  }
  console.log(failed ? `e2e-daemon: ${failed} failed` : 'e2e-daemon: all passed');
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
