// A scriptable stand-in for the daemon's WebSocket signaling (docs/signaling.md), for
// testing the SDK without the daemon. Minimal RFC 6455: unfragmented text frames, ping,
// close. Not a WebRTC peer: it never sends a real SDP answer.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** One WebSocket connection: emits `message` (parsed JSON) and `close`. */
class Session extends EventEmitter {
  constructor(socket) {
    super();
    this.socket = socket;
    this.received = [];
    this.closed = false;
    this._taken = new WeakSet();
    this._buf = Buffer.alloc(0);
    socket.on('data', (chunk) => this._onData(chunk));
    socket.on('close', () => this._gone());
    socket.on('error', () => this._gone());
  }

  /** Sends one JSON message. */
  send(msg) {
    if (!this.closed) this.socket.write(frame(0x1, Buffer.from(JSON.stringify(msg))));
  }

  /** Sends a close frame with `code` and ends the connection. */
  close(code = 1000, reason = '') {
    if (this.closed) return;
    const body = Buffer.alloc(2 + Buffer.byteLength(reason));
    body.writeUInt16BE(code, 0);
    body.write(reason, 2);
    this.socket.end(frame(0x8, body));
    this._gone();
  }

  /** Drops the TCP connection without a close frame (a network failure). */
  drop() {
    this.socket.destroy();
    this._gone();
  }

  /** Resolves with the next received message of `type` (already received ones count). */
  next(type, timeoutMs = 5000) {
    const seen = this.received.find((m) => m.type === type && !this._taken.has(m));
    if (seen) { this._taken.add(seen); return Promise.resolve(seen); }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.off('message', on); reject(new Error(`no ${type} within ${timeoutMs} ms`)); }, timeoutMs);
      const on = (m) => {
        if (m.type !== type) return;
        this._taken.add(m);
        clearTimeout(timer);
        this.off('message', on);
        resolve(m);
      };
      this.on('message', on);
    });
  }

  _gone() {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }

  _onData(chunk) {
    this._buf = Buffer.concat([this._buf, chunk]);
    for (;;) {
      const f = parseFrame(this._buf);
      if (!f) return;
      this._buf = this._buf.subarray(f.size);
      if (f.opcode === 0x1) {
        const msg = JSON.parse(f.payload.toString('utf8'));
        this.received.push(msg);
        this.emit('message', msg);
      } else if (f.opcode === 0x8) {
        this.socket.end(frame(0x8, f.payload.subarray(0, 2)));
        this._gone();
      } else if (f.opcode === 0x9) {
        this.socket.write(frame(0xa, f.payload));
      }
    }
  }
}

/**
 * Attaches fake signaling at `path` to an HTTP server. `onSession(session)` runs for each
 * connection; the default handler answers `auth` (token "good" → ready, else error + 4001)
 * and `ping`, and leaves the rest to the test.
 * @returns {{sessions: Session[], nextSession: (ms?: number) => Promise<Session>}}
 */
export function attachFakeSignaling(httpServer, { path = '/v1/ws', onSession } = {}) {
  const sessions = [];
  const waiting = [];
  httpServer.on('upgrade', (req, socket) => {
    if (new URL(req.url, 'http://x').pathname !== path) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    const accept = createHash('sha1').update(req.headers['sec-websocket-key'] + GUID).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const session = new Session(socket);
    session.on('message', (m) => defaultReplies(session, m));
    sessions.push(session);
    onSession?.(session);
    waiting.shift()?.(session);
  });
  return {
    sessions,
    nextSession(timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no WebSocket session')), timeoutMs);
        waiting.push((s) => { clearTimeout(timer); resolve(s); });
      });
    },
  };
}

let sessionSeq = 0;
function defaultReplies(session, msg) {
  if (msg.type === 'ping') session.send({ type: 'pong' });
  if (msg.type !== 'auth') return;
  if (msg.token === 'good' && msg.protocol === 1) {
    session.send({
      type: 'ready', protocol: 1, sessionId: `s-${++sessionSeq}`, app: 'demo', endpoint: 'alice',
      role: 'agent', iceServers: [{ urls: ['stun:127.0.0.1:3478'] }],
    });
  } else {
    session.send({ type: 'error', code: 'invalidToken', message: 'token signature does not verify' });
    session.close(4001, 'invalid token');
  }
}

function frame(opcode, payload) {
  const len = payload.length;
  let head;
  if (len < 126) head = Buffer.from([0x80 | opcode, len]);
  else if (len < 65536) { head = Buffer.alloc(4); head[0] = 0x80 | opcode; head[1] = 126; head.writeUInt16BE(len, 2); }
  else { head = Buffer.alloc(10); head[0] = 0x80 | opcode; head[1] = 127; head.writeBigUInt64BE(BigInt(len), 2); }
  return Buffer.concat([head, payload]);
}

function parseFrame(buf) {
  if (buf.length < 2) return null;
  const opcode = buf[0] & 0x0f;
  const masked = (buf[1] & 0x80) !== 0;
  let len = buf[1] & 0x7f;
  let at = 2;
  if (len === 126) { if (buf.length < 4) return null; len = buf.readUInt16BE(2); at = 4; }
  else if (len === 127) { if (buf.length < 10) return null; len = Number(buf.readBigUInt64BE(2)); at = 10; }
  const mask = masked ? buf.subarray(at, at + 4) : null;
  if (masked) at += 4;
  if (buf.length < at + len) return null;
  const payload = Buffer.from(buf.subarray(at, at + len));
  if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
  return { opcode, payload, size: at + len };
}
