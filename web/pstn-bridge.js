/**
 * pstn-bridge browser SDK: place and receive phone calls through a pstn-bridge daemon.
 *
 * An ES module with no dependencies and no build step, served by the daemon at
 * `/sdk/pstn-bridge.js`. It speaks the signaling protocol in `docs/signaling.md`
 * (WebSocket, JSON messages) and carries audio over WebRTC; the browser is always the
 * WebRTC offerer.
 *
 * @example
 * import { connect } from '/sdk/pstn-bridge.js';
 * const client = await connect({ token });
 * const call = client.startPhoneCall({ number: '+14155550123' });
 * call.addEventListener('stateChanged', () => console.log(call.state));
 * audioElement.srcObject = call.remoteStream;
 * client.addEventListener('incomingCall', (e) => e.call.answer());
 *
 * @module pstn-bridge
 */

/** Signaling protocol version this SDK speaks. */
export const PROTOCOL = 1;

/**
 * Call states, in the order a call usually passes through them.
 * @readonly
 * @enum {string}
 */
export const CallState = Object.freeze({
  None: 'None',
  Incoming: 'Incoming',
  Connecting: 'Connecting',
  Ringing: 'Ringing',
  EarlyMedia: 'EarlyMedia',
  Connected: 'Connected',
  Hold: 'Hold',
  Disconnecting: 'Disconnecting',
  Disconnected: 'Disconnected',
});

/**
 * End reasons the SDK sets by itself, when the server cannot tell it why a call ended.
 * All other reasons come from the server (see the README's end-reason table).
 * @readonly
 */
export const LocalEndReason = Object.freeze({
  /** Hung up before the server knew of the call, or the server did not confirm in time. */
  hungUp: Object.freeze({ code: 0, subCode: 0 }),
  /** The WebSocket closed or went silent while the call was up. */
  signalingLost: Object.freeze({ code: 408, subCode: 40804 }),
  /** The microphone or the RTCPeerConnection could not be set up. */
  mediaFailed: Object.freeze({ code: 500, subCode: 50001 }),
});

const READY_TIMEOUT_MS = 10_000;
const ICE_GATHERING_TIMEOUT_MS = 2_000;
const PING_INTERVAL_MS = 20_000;
const SILENCE_LIMIT_MS = 65_000;
const END_CONFIRM_TIMEOUT_MS = 5_000;
const OPERATION_TIMEOUT_MS = 10_000;
const DTMF_PATTERN = /^[0-9*#A-D]+$/;
const STATES = new Set(Object.values(CallState));

/** An error raised by the SDK; `code` is the server's error code or an SDK one. */
export class PstnBridgeError extends Error {
  /**
   * @param {string} message
   * @param {{code?: string, closeCode?: number}} [details]
   */
  constructor(message, { code = 'error', closeCode } = {}) {
    super(message);
    this.name = 'PstnBridgeError';
    /** @type {string} */
    this.code = code;
    /** @type {number|undefined} WebSocket close code, when the socket closed. */
    this.closeCode = closeCode;
  }
}

/** Fired on a {@link Client} as `incomingCall`; `event.call` is in state `Incoming`. */
export class IncomingCallEvent extends Event {
  /** @param {Call} call */
  constructor(call) {
    super('incomingCall');
    /** @type {Call} */
    this.call = call;
  }
}

/** Fired on a {@link Call} as `stateChanged`. */
export class StateChangedEvent extends Event {
  /** @param {string} state @param {string} previousState */
  constructor(state, previousState) {
    super('stateChanged');
    /** @type {string} */
    this.state = state;
    /** @type {string} */
    this.previousState = previousState;
  }
}

/** Fired as `error` on a {@link Call} or {@link Client} when the server reports an error. */
export class PstnBridgeErrorEvent extends Event {
  /** @param {PstnBridgeError} error */
  constructor(error) {
    super('error');
    /** @type {PstnBridgeError} */
    this.error = error;
  }
}

/** Fired on a {@link Client} as `disconnected` when its WebSocket is gone. */
export class DisconnectedEvent extends Event {
  /** @param {number} code @param {string} reason @param {boolean} requested */
  constructor(code, reason, requested) {
    super('disconnected');
    /** @type {number} WebSocket close code. */
    this.code = code;
    /** @type {string} */
    this.reason = reason;
    /** @type {boolean} true when {@link Client#disconnect} was called. */
    this.requested = requested;
  }
}

/**
 * Opens a signaling session: connects the WebSocket, authenticates with `token` and waits
 * for the server's `ready`.
 *
 * @param {object} options
 * @param {string} options.token  endpoint token (JWT); sent as the first message, never in the URL
 * @param {string} [options.url]  `ws(s)://host/v1/ws`; an `http(s)://` URL or a bare origin also
 *   works (the path defaults to `/v1/ws`); default: the page's own origin
 * @param {RTCIceServer[]} [options.iceServers]  ICE servers for calls; when absent, the ones
 *   the server sends in `ready` are used
 * @returns {Promise<Client>}  rejects with a {@link PstnBridgeError} when the server is
 *   unreachable (`code` "unreachable"), refuses the token (the server's code, e.g.
 *   "invalidToken", `closeCode` 4001), or does not answer within 10 s ("timeout")
 */
export async function connect({ url, token, iceServers } = {}) {
  if (typeof token !== 'string' || token === '') {
    throw new TypeError('connect(): token must be a non-empty string');
  }
  const client = new Client(signalingUrl(url), iceServers);
  await client._open(token);
  return client;
}

/**
 * A signaling session. Events: `incomingCall` ({@link IncomingCallEvent}),
 * `disconnected` ({@link DisconnectedEvent}), `error` ({@link PstnBridgeErrorEvent}).
 * Create one with {@link connect}.
 */
export class Client extends EventTarget {
  /** @param {string} url @param {RTCIceServer[]} [iceServers] @hideconstructor */
  constructor(url, iceServers) {
    super();
    /** @type {string} WebSocket URL. */
    this.url = url;
    /** @type {'connecting'|'connected'|'disconnected'} */
    this.state = 'connecting';
    /** @type {string|null} */ this.sessionId = null;
    /** @type {string|null} */ this.app = null;
    /** @type {string|null} */ this.endpoint = null;
    /** @type {string|null} */ this.role = null;
    /** @type {RTCIceServer[]} ICE servers new calls use. */
    this.iceServers = iceServers ?? [];
    this._iceServersGiven = Array.isArray(iceServers);
    this._ws = null;
    this._calls = new Set();
    this._byId = new Map();
    this._byRequest = new Map();
    this._requestSeq = 0;
    this._pingTimer = null;
    this._lastHeard = 0;
  }

  /** @type {Call[]} calls not yet Disconnected. */
  get calls() {
    return [...this._calls];
  }

  /**
   * Places a call to a phone number.
   * @param {object} options
   * @param {string} options.number  number to call, E.164 (`+14155550123`) or an emergency code
   * @param {string|null} [options.callerId]  number to show to the callee: absent = the
   *   role's default, `""` or `null` = anonymous; a `{number}` object is accepted too
   * @returns {Call}  at once, in state `None`; it moves to `Connecting` right away
   */
  startPhoneCall({ number, callerId } = {}) {
    if (typeof number !== 'string' || number.trim() === '') {
      throw new TypeError('startPhoneCall(): number must be a non-empty string');
    }
    this._requireConnected();
    const wireCallerId = callerIdForWire(callerId);
    const call = new Call(this, {
      direction: 'Outgoing',
      to: number.trim(),
      callerId: { number: wireCallerId || null, name: null },
    });
    call._requestId = `r${++this._requestSeq}`;
    this._byRequest.set(call._requestId, call);
    this._calls.add(call);
    queueMicrotask(() => call._placeOutgoing(wireCallerId));
    return call;
  }

  /**
   * Ends every call (hanging them up on the server; calls still ringing are left to ring
   * in the endpoint's other sessions) and closes the session.
   * @returns {Promise<void>}
   */
  async disconnect() {
    if (this.state === 'disconnected') return;
    for (const call of this.calls) {
      // A call still ringing here may ring other sessions too: leave it to them.
      if (call.id && call.state !== CallState.Incoming) this._send({ type: 'hangUp', callId: call.id });
      call._end(LocalEndReason.hungUp, 'client disconnected');
    }
    this._teardown(1000, 'client disconnected', true);
  }

  /** @param {string} token @returns {Promise<void>} */
  _open(token) {
    return new Promise((resolve, reject) => {
      let settled = false;
      let ws;
      const fail = (error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.state = 'disconnected';
        if (ws) {
          ws.onclose = ws.onmessage = ws.onerror = null;
          try { ws.close(); } catch { /* already closed */ }
        }
        reject(error);
      };
      const timer = setTimeout(
        () => fail(new PstnBridgeError('server did not answer auth within 10 s', { code: 'timeout' })),
        READY_TIMEOUT_MS,
      );
      try {
        ws = new WebSocket(this.url);
      } catch (e) {
        fail(new PstnBridgeError(`cannot open ${this.url}: ${e.message}`, { code: 'unreachable' }));
        return;
      }
      this._ws = ws;
      ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token, protocol: PROTOCOL }));
      ws.onmessage = (ev) => {
        const msg = parseMessage(ev.data);
        if (!msg) return;
        this._lastHeard = Date.now();
        if (settled) {
          this._onMessage(msg);
        } else if (msg.type === 'ready') {
          settled = true;
          clearTimeout(timer);
          this._onReady(msg);
          resolve();
        } else if (msg.type === 'error') {
          const text = msg.message || msg.code || 'refused';
          fail(new PstnBridgeError(`authentication failed: ${text}`, { code: msg.code || 'authFailed' }));
        }
      };
      ws.onclose = (ev) => {
        if (settled) this._teardown(ev.code, ev.reason || 'connection closed', false);
        else fail(closeError(ev, this.url));
      };
      ws.onerror = () => { /* a close event always follows */ };
    });
  }

  _onReady(msg) {
    this.state = 'connected';
    this.sessionId = msg.sessionId ?? null;
    this.app = msg.app ?? null;
    this.endpoint = msg.endpoint ?? null;
    this.role = msg.role ?? null;
    if (!this._iceServersGiven && Array.isArray(msg.iceServers)) this.iceServers = msg.iceServers;
    this._pingTimer = setInterval(() => this._keepAlive(), PING_INTERVAL_MS);
  }

  _keepAlive() {
    if (Date.now() - this._lastHeard > SILENCE_LIMIT_MS) {
      this._teardown(4000, 'server silent', false);
      return;
    }
    this._send({ type: 'ping' });
  }

  _onMessage(msg) {
    const call = this._callFor(msg);
    switch (msg.type) {
      case 'pong':
        return;
      case 'incomingCall':
        return this._onIncomingCall(msg);
      case 'callAccepted':
        return call?._onAccepted(msg.callId);
      case 'sdp':
        return call?._onAnswerSdp(msg.sdp);
      case 'callState':
        return call?._onServerState(msg.state);
      case 'callEnded':
        return call?._end(endReasonFrom(msg.callEndReason), msg.reason ?? '');
      case 'error': {
        const error = new PstnBridgeError(msg.message || msg.code || 'server error', { code: msg.code });
        if (call) call._onError(error);
        else this.dispatchEvent(new PstnBridgeErrorEvent(error));
        return;
      }
      default:
        return; // newer server, message this SDK does not know: ignore
    }
  }

  _callFor(msg) {
    if (msg.type === 'callAccepted') return this._byRequest.get(msg.requestId);
    return this._byId.get(msg.callId) ?? this._byRequest.get(msg.requestId);
  }

  _onIncomingCall(msg) {
    if (typeof msg.callId !== 'string' || this._byId.has(msg.callId)) return;
    const call = new Call(this, {
      direction: 'Incoming',
      id: msg.callId,
      to: msg.to ?? null,
      callerId: { number: msg.callerId?.number ?? null, name: msg.callerId?.name ?? null },
      state: CallState.Incoming,
    });
    this._byId.set(call.id, call);
    this._calls.add(call);
    this.dispatchEvent(new IncomingCallEvent(call));
  }

  _forget(call) {
    this._calls.delete(call);
    if (call.id) this._byId.delete(call.id);
    if (call._requestId) this._byRequest.delete(call._requestId);
  }

  _requireConnected() {
    if (this.state !== 'connected') throw new PstnBridgeError('not connected', { code: 'notConnected' });
  }

  /** @returns {boolean} whether the message went out */
  _send(msg) {
    if (this.state !== 'connected' || this._ws?.readyState !== WebSocket.OPEN) return false;
    this._ws.send(JSON.stringify(msg));
    return true;
  }

  _teardown(code, reason, requested) {
    if (this.state === 'disconnected') return;
    this.state = 'disconnected';
    clearInterval(this._pingTimer);
    const ws = this._ws;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = null;
      try { ws.close(1000); } catch { /* already closed */ }
    }
    for (const call of this.calls) call._end(LocalEndReason.signalingLost, 'signaling connection lost');
    this.dispatchEvent(new DisconnectedEvent(code, reason, requested));
  }
}

/**
 * One phone call. Events: `stateChanged` ({@link StateChangedEvent}), `idChanged` (an
 * outgoing call got its `id`), `mutedChanged`, `remoteStreamChanged` (a remote track
 * arrived), `mediaStateChanged` (see `mediaState`), `error` ({@link PstnBridgeErrorEvent}).
 */
export class Call extends EventTarget {
  /** @hideconstructor */
  constructor(client, { direction, id = null, to, callerId, state = CallState.None }) {
    super();
    this._client = client;
    /** @type {string|null} server call id; null until an outgoing call is accepted */
    this.id = id;
    /** @type {'Incoming'|'Outgoing'} */
    this.direction = direction;
    /** @type {string|null} number called (outgoing) or the DID that was called (incoming) */
    this.to = to;
    /** @type {{number: string|null, name: string|null}} caller (incoming) or the caller ID
     *  asked for (outgoing; null = default or anonymous) */
    this.callerId = callerId;
    /** @type {string} one of {@link CallState} */
    this.state = state;
    /** @type {{code: number, subCode: number}|null} set when the call is Disconnected */
    this.callEndReason = null;
    /** @type {string} short text that came with the end reason */
    this.callEndText = '';
    /** @type {boolean} whether the microphone is muted */
    this.isMuted = false;
    /** @type {MediaStream} audio from the far end; give it to an `<audio autoplay>` element */
    this.remoteStream = new MediaStream();
    /** @type {MediaStream|null} the microphone stream, once the call has media */
    this.localStream = null;
    /** @type {RTCPeerConnectionState|'new'} state of the WebRTC connection */
    this.mediaState = 'new';
    this._requestId = null;
    this._pc = null;
    this._requestSent = false;
    this._hangUpWhenAccepted = false;
    this._endTimer = null;
    this._endWaiters = [];
    this._pending = null; // {want, resolve, reject, timer} for hold()/resume()
  }

  /** @type {RTCPeerConnection|null} the call's peer connection (for stats and tests) */
  get peerConnection() {
    return this._pc;
  }

  /** @type {boolean} */
  get isEnded() {
    return this.state === CallState.Disconnected;
  }

  /**
   * Answers an incoming call: opens the microphone and sends a WebRTC offer.
   * If the microphone cannot be opened the call stays `Incoming` and this rejects.
   * @returns {Promise<void>}
   */
  async answer() {
    this._requireState([CallState.Incoming], 'answer');
    this._setState(CallState.Connecting);
    let sdp;
    try {
      sdp = await this._startMedia();
    } catch (e) {
      if (this.isEnded) return; // ended meanwhile (answered elsewhere, caller gave up)
      this._stopMedia();
      this._setState(CallState.Incoming);
      throw new PstnBridgeError(`cannot answer: ${e.message}`, { code: 'mediaFailed' });
    }
    if (this.isEnded) return;
    this._client._send({ type: 'answer', callId: this.id, sdp });
  }

  /**
   * Refuses an incoming call. The carrier hears busy (486) with `busy: true`, else 603.
   * @param {{busy?: boolean}} [options]
   * @returns {Promise<void>} resolves once the call is Disconnected
   */
  reject({ busy = false } = {}) {
    this._requireState([CallState.Incoming], 'reject');
    this._client._send({ type: 'reject', callId: this.id, busy: Boolean(busy) });
    return this._awaitEnd();
  }

  /**
   * Ends the call (an incoming call still ringing is rejected with 603).
   * @returns {Promise<void>} resolves once the call is Disconnected
   */
  hangUp() {
    if (this.isEnded) return Promise.resolve();
    if (this.state === CallState.Incoming) return this.reject();
    if (this.state === CallState.Disconnecting) return this._awaitEnd();
    if (this.id) {
      this._client._send({ type: 'hangUp', callId: this.id });
    } else if (this._requestSent) {
      this._hangUpWhenAccepted = true; // callAccepted or callEnded will follow
    } else {
      this._end(LocalEndReason.hungUp, 'hung up before the call was placed');
      return Promise.resolve();
    }
    return this._awaitEnd();
  }

  /**
   * Puts the phone side on hold.
   * @returns {Promise<void>} resolves when the state is `Hold`
   */
  hold() {
    this._requireState([CallState.Connected], 'hold');
    return this._operation('hold', CallState.Hold);
  }

  /**
   * Takes the call off hold.
   * @returns {Promise<void>} resolves when the state is `Connected`
   */
  resume() {
    this._requireState([CallState.Hold], 'resume');
    return this._operation('resume', CallState.Connected);
  }

  /** Mutes the microphone (local: the track is disabled, the server is not told). */
  mute() {
    this._setMuted(true);
  }

  /** Unmutes the microphone. */
  unmute() {
    this._setMuted(false);
  }

  /**
   * Sends DTMF toward the phone (RFC 4733, generated by the bridge).
   * @param {string} digits  one or more of `0-9 * # A-D`
   * @param {{durationMs?: number}} [options]  tone length per digit (server default 100 ms)
   */
  sendDtmf(digits, { durationMs } = {}) {
    const text = String(digits ?? '').toUpperCase();
    if (!DTMF_PATTERN.test(text)) throw new TypeError(`sendDtmf(): invalid digits ${JSON.stringify(digits)}`);
    this._requireState([CallState.Connected, CallState.EarlyMedia, CallState.Hold], 'sendDtmf');
    const msg = { type: 'sendDtmf', callId: this.id, digits: text };
    if (durationMs !== undefined) msg.durationMs = durationMs;
    this._client._send(msg);
  }

  /** @returns {Promise<RTCStatsReport|null>} WebRTC statistics of the call */
  async getStats() {
    return this._pc ? this._pc.getStats() : null;
  }

  // ---- internals -------------------------------------------------------------------------

  async _placeOutgoing(callerId) {
    if (this.isEnded) return;
    this._setState(CallState.Connecting);
    let sdp;
    try {
      sdp = await this._startMedia();
    } catch (e) {
      this._end(LocalEndReason.mediaFailed, `media could not be set up: ${e.message}`);
      return;
    }
    if (this.isEnded) return;
    const msg = { type: 'startPhoneCall', requestId: this._requestId, number: this.to, sdp };
    if (callerId !== undefined) msg.callerId = callerId;
    if (!this._client._send(msg)) {
      this._end(LocalEndReason.signalingLost, 'signaling connection lost');
      return;
    }
    this._requestSent = true;
  }

  /** Opens the microphone and the peer connection; resolves with the complete SDP offer. */
  async _startMedia() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    if (this.isEnded) {
      for (const track of stream.getTracks()) track.stop();
      throw new Error('call ended');
    }
    this.localStream = stream;
    for (const track of stream.getAudioTracks()) track.enabled = !this.isMuted;
    const pc = new RTCPeerConnection({ iceServers: this._client.iceServers });
    this._pc = pc;
    pc.ontrack = (ev) => {
      if (!this.remoteStream.getTrackById(ev.track.id)) this.remoteStream.addTrack(ev.track);
      this.dispatchEvent(new Event('remoteStreamChanged'));
    };
    pc.onconnectionstatechange = () => {
      this.mediaState = pc.connectionState;
      this.dispatchEvent(new Event('mediaStateChanged'));
    };
    for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringComplete(pc, ICE_GATHERING_TIMEOUT_MS);
    if (this.isEnded) throw new Error('call ended');
    return pc.localDescription.sdp;
  }

  _stopMedia() {
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    if (this._pc) {
      this._pc.ontrack = this._pc.onconnectionstatechange = null;
      this._pc.close();
    }
    this._pc = null;
    this.localStream = null;
  }

  _onAccepted(callId) {
    if (typeof callId !== 'string' || this.id) return;
    this.id = callId;
    this._client._byRequest.delete(this._requestId);
    this._client._byId.set(callId, this);
    this.dispatchEvent(new Event('idChanged'));
    if (this._hangUpWhenAccepted) this._client._send({ type: 'hangUp', callId });
  }

  async _onAnswerSdp(sdp) {
    if (!this._pc || this.isEnded || typeof sdp !== 'string') return;
    try {
      await this._pc.setRemoteDescription({ type: 'answer', sdp });
    } catch (e) {
      this._onError(new PstnBridgeError(`cannot apply the server's SDP answer: ${e.message}`, { code: 'badSdp' }));
      this.hangUp();
    }
  }

  _onServerState(state) {
    if (!STATES.has(state) || this.isEnded || state === CallState.None) return;
    if (state === CallState.Disconnected || state === CallState.Disconnecting) {
      // The end reason arrives with callEnded, which follows; wait for it (bounded).
      this._setState(CallState.Disconnecting);
      this._armEndTimer();
      return;
    }
    if (this.state === CallState.Disconnecting) return;
    this._setState(state);
    if (this._pending?.want === state) this._settleOperation(null);
  }

  _onError(error) {
    this._settleOperation(error);
    this.dispatchEvent(new PstnBridgeErrorEvent(error));
  }

  _operation(type, want) {
    if (this._pending) return Promise.reject(new PstnBridgeError(`${this._pending.type} in progress`, { code: 'busy' }));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => this._settleOperation(new PstnBridgeError(`${type}: no answer from the server`, { code: 'timeout' })),
        OPERATION_TIMEOUT_MS,
      );
      this._pending = { type, want, resolve, reject, timer };
      this._client._send({ type, callId: this.id });
    });
  }

  _settleOperation(error) {
    const op = this._pending;
    if (!op) return;
    this._pending = null;
    clearTimeout(op.timer);
    if (error) op.reject(error);
    else op.resolve();
  }

  _setMuted(muted) {
    if (this.isMuted === muted) return;
    this.isMuted = muted;
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !muted;
    this.dispatchEvent(new Event('mutedChanged'));
  }

  _awaitEnd() {
    if (this.isEnded) return Promise.resolve();
    this._setState(CallState.Disconnecting);
    this._armEndTimer();
    return new Promise((resolve) => this._endWaiters.push(resolve));
  }

  _armEndTimer() {
    if (this._endTimer) return;
    this._endTimer = setTimeout(
      () => this._end(LocalEndReason.hungUp, 'the server did not confirm the end of the call'),
      END_CONFIRM_TIMEOUT_MS,
    );
  }

  /** Ends the call locally: idempotent; releases media; fires the final stateChanged. */
  _end(reason, text) {
    if (this.isEnded) return;
    clearTimeout(this._endTimer);
    this.callEndReason = { code: reason.code, subCode: reason.subCode };
    this.callEndText = text;
    this._stopMedia();
    this._client._forget(this);
    this._settleOperation(new PstnBridgeError('call ended', { code: 'callEnded' }));
    this._setState(CallState.Disconnected);
    for (const resolve of this._endWaiters.splice(0)) resolve();
  }

  _setState(state) {
    if (this.state === state) return;
    const previous = this.state;
    this.state = state;
    this.dispatchEvent(new StateChangedEvent(state, previous));
  }

  _requireState(states, what) {
    if (!states.includes(this.state)) {
      throw new PstnBridgeError(`${what}() is not possible in state ${this.state}`, { code: 'invalidState' });
    }
  }
}

// ---- helpers ---------------------------------------------------------------------------

/** Resolves the WebSocket URL from what the app gave (or the page's origin). */
function signalingUrl(url) {
  const base = globalThis.location?.href;
  let u;
  try {
    u = new URL(url ?? '/v1/ws', base);
  } catch {
    throw new TypeError(`connect(): invalid url ${JSON.stringify(url)}`);
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new TypeError(`connect(): url must be ws(s):// or http(s)://, got ${u.protocol}`);
  }
  if (u.pathname === '/') u.pathname = '/v1/ws';
  return u.href;
}

/** undefined → omit (role default); "" or null → "" (anonymous); {number} → number. */
function callerIdForWire(callerId) {
  if (callerId === undefined) return undefined;
  if (callerId === null) return '';
  if (typeof callerId === 'object') return callerId.number ? String(callerId.number) : '';
  return String(callerId).trim();
}

function endReasonFrom(value) {
  const code = Number.isInteger(value?.code) ? value.code : 0;
  const subCode = Number.isInteger(value?.subCode) ? value.subCode : 0;
  return { code, subCode };
}

function parseMessage(data) {
  if (typeof data !== 'string') return null;
  try {
    const msg = JSON.parse(data);
    return msg && typeof msg.type === 'string' ? msg : null;
  } catch {
    return null;
  }
}

function closeError(ev, url) {
  if (ev.code === 4001) return new PstnBridgeError(`authentication failed: ${ev.reason || 'token refused'}`, { code: 'authFailed', closeCode: 4001 });
  if (ev.code === 4002) return new PstnBridgeError(`protocol ${PROTOCOL} not supported by the server`, { code: 'protocol', closeCode: 4002 });
  return new PstnBridgeError(`cannot connect to ${url} (WebSocket closed, code ${ev.code})`, { code: 'unreachable', closeCode: ev.code });
}

/** Waits until ICE gathering is complete, or `ms` at most. */
function iceGatheringComplete(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', onState);
      pc.removeEventListener('icecandidate', onCandidate);
      resolve();
    };
    const onState = () => { if (pc.iceGatheringState === 'complete') done(); };
    const onCandidate = (ev) => { if (!ev.candidate) done(); };
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', onState);
    pc.addEventListener('icecandidate', onCandidate);
  });
}
