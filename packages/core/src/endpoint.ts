import {
  type CryptoBackend,
  type HandleResult,
  type SecureChannel,
  SecureEndpoint,
  type SecureEvent,
} from '@srmudp/crypto';
import { buildBindingError, buildBindingResponse, parseBindingRequest } from '@srmudp/punch';
import type { ReliableOptions } from '@srmudp/reliability';
import {
  addressKey,
  checkAddress,
  classifyDatagram,
  copyAddress,
  equalBytes,
  PacketType,
  PollQueue,
  SrmudpError,
  sameAddress,
  toHex,
} from '@srmudp/wire';
import { AmplificationGuard } from './amplification.js';
import type {
  Address,
  ConnectionApi,
  ConnectTarget,
  EndpointApi,
  EndpointConfig,
  EndpointEvent,
  EndpointStats,
  Transmit,
} from './api.js';
import { type ConnectionHost, CoreConnection } from './connection.js';
import { BOOT_ID_LENGTH, BOOT_ID_OPTION, CloseCode, DEFAULTS } from './defaults.js';

/** Send-error codes that mean "nobody is listening there" (ICMP port/host/net unreachable). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN']);

/** RFC 5780 §7.2 CHANGE-REQUEST: a single-socket responder cannot honour it (answers 420). */
const CHANGE_REQUEST = 0x0003;

/**
 * The sans-IO srmudp endpoint: one UDP socket, many authenticated peers. Datagrams go in with
 * {@link handle}; STUN is answered or surfaced, handshakes run in @srmudp/crypto, data packets are
 * demultiplexed by the receiver's session index to their connection (whatever address they come
 * from), and each connection runs @srmudp/reliability. Output is drained with
 * {@link pollTransmit}, {@link pollEvent} and {@link pollTimeout}.
 */
export class CoreEndpoint implements EndpointApi {
  private readonly secure: SecureEndpoint;
  private readonly random: (n: number) => Uint8Array;
  private readonly localKey: Uint8Array;
  private readonly bootId: Uint8Array;
  private readonly allow: Uint8Array[] | null;
  private readonly policy: ((remoteKey: Uint8Array, from: Address) => boolean) | null;
  private readonly maxConnections: number;
  private readonly handshakeTimeoutMs: number;
  private readonly stunResponder: boolean;
  private readonly host: ConnectionHost;
  private readonly amp = new AmplificationGuard();

  private nextId = 1;
  private readonly byId = new Map<number, CoreConnection>();
  private readonly byKey = new Map<string, CoreConnection>();
  private readonly byChannel = new Map<SecureChannel, CoreConnection>();
  /**
   * Channels of finished connections on which the peer had already started a new session (a
   * reconnect whose initiation arrived while the old connection drained): kept open until the
   * peer confirms it ('rekeyed' then starts the new connection) or crypto gives it up (one
   * handshake timeout).
   */
  private readonly reopening = new Set<SecureChannel>();
  /** sender index of our pending initiation -> its connection (fan-out to every candidate) */
  private readonly initOwners = new Map<number, CoreConnection>();
  /** established connections, in round-robin order for pollTransmit */
  private active: CoreConnection[] = [];
  private cursor = 0;
  /** outgoing connections waiting for the previous connection to the same peer to finish */
  private readonly deferred = new Map<CoreConnection, CoreConnection>();
  /** connections whose handshake has not completed */
  private readonly handshakingSet = new Set<CoreConnection>();

  private readonly out = new PollQueue<Transmit>();
  private readonly events = new PollQueue<EndpointEvent>();
  private readonly drops: Record<string, number> = {};
  private closing = false;
  private closed = false;

  constructor(config: EndpointConfig, now: number) {
    if (typeof config !== 'object' || config === null) throw new TypeError('"config" expected an object');
    if (typeof config.random !== 'function') throw new TypeError('"random" expected a function');
    if (!config.identity || !(config.identity.publicKey instanceof Uint8Array)) {
      throw new TypeError('"identity" expected an Identity');
    }
    if (!Number.isFinite(now)) throw new TypeError('"now" expected a finite number');
    const limits = config.limits ?? {};
    this.maxConnections = positiveInt(
      limits.maxConnections,
      DEFAULTS.maxConnections,
      'limits.maxConnections',
    );
    const maxPending = positiveInt(
      limits.maxPendingHandshakes,
      DEFAULTS.maxPendingHandshakes,
      'limits.maxPendingHandshakes',
    );
    const cookieThreshold = nonNegInt(
      limits.cookieThreshold,
      DEFAULTS.cookieThreshold,
      'limits.cookieThreshold',
    );
    const wallClockOffsetMs = config.wallClockOffsetMs ?? 0;
    if (typeof wallClockOffsetMs !== 'number' || !Number.isFinite(wallClockOffsetMs)) {
      throw new TypeError(`"wallClockOffsetMs" expected a finite number, got ${String(wallClockOffsetMs)}`);
    }
    const maxBuffered = positiveInt(
      limits.maxBufferedBytesPerConnection,
      DEFAULTS.maxBufferedBytesPerConnection,
      'limits.maxBufferedBytesPerConnection',
    );
    if (maxBuffered < 1024 * 1024) {
      throw new RangeError(`"limits.maxBufferedBytesPerConnection" must be >= 1048576, got ${maxBuffered}`);
    }
    const keepaliveMs = nonNegInt(config.keepaliveMs, DEFAULTS.keepaliveMs, 'keepaliveMs');
    const idleTimeoutMs = nonNegInt(config.idleTimeoutMs, DEFAULTS.idleTimeoutMs, 'idleTimeoutMs');
    this.handshakeTimeoutMs = positiveInt(
      config.handshakeTimeoutMs,
      DEFAULTS.handshakeTimeoutMs,
      'handshakeTimeoutMs',
    );
    if (config.congestion !== undefined && !['bbr', 'cubic', 'newreno'].includes(config.congestion)) {
      throw new RangeError(
        `"congestion" expected 'bbr', 'cubic' or 'newreno', got ${String(config.congestion)}`,
      );
    }
    if (config.accept?.allow !== undefined) {
      if (!Array.isArray(config.accept.allow)) throw new TypeError('"accept.allow" expected an array');
      for (const k of config.accept.allow) {
        if (!(k instanceof Uint8Array) || k.length !== 32) {
          throw new TypeError('"accept.allow" expected 32-byte Uint8Array peer ids');
        }
      }
    }
    if (config.accept?.policy !== undefined && typeof config.accept.policy !== 'function') {
      throw new TypeError('"accept.policy" expected a function');
    }
    this.random = config.random;
    this.localKey = config.identity.publicKey;
    this.allow = config.accept?.allow ? config.accept.allow.map((k) => k.slice()) : null;
    this.policy = config.accept?.policy ?? null;
    this.stunResponder = config.stunResponder !== false;
    this.bootId = this.random(BOOT_ID_LENGTH).slice(0, BOOT_ID_LENGTH);
    this.secure = new SecureEndpoint({
      identity: config.identity,
      random: this.random,
      ...(config.cryptoBackend !== undefined ? { backend: config.cryptoBackend as CryptoBackend } : {}),
      acceptPeer: (key, info) => this.acceptPeer(key, info.address, info.incoming),
      options: new Map([[BOOT_ID_OPTION, this.bootId]]),
      // the responder's DoS policy (cookies by rate, per-source budgets) lives in crypto
      limits: {
        maxPending,
        loadThreshold: cookieThreshold,
        maxPendingPerPrefix: Math.max(4, Math.min(64, Math.ceil(maxPending / 4))),
      },
      wallClockOffsetMs,
      timing: {
        handshakeTimeoutMs: this.handshakeTimeoutMs,
        handshakeRetransmitMs: Math.min(1000, Math.max(50, Math.floor(this.handshakeTimeoutMs / 8))),
      },
    });
    // Memory per connection: half for sending, half for receiving (reliability's buffers).
    const half = Math.floor(maxBuffered / 2);
    const reliableOptions: Omit<ReliableOptions, 'role' | 'now'> = {
      ...(config.congestion !== undefined ? { congestion: config.congestion } : {}),
      keepaliveMs,
      idleTimeoutMs,
      random: this.random,
      limits: {
        sendBuffer: half,
        streamSendBuffer: Math.min(4 * 1024 * 1024, half),
        maxConnectionReceiveWindow: half,
        connectionReceiveWindow: Math.min(1024 * 1024, half),
        maxStreamReceiveWindow: Math.min(16 * 1024 * 1024, half),
        maxMessageSize: Math.min(16 * 1024 * 1024, half - 4096),
      },
    };
    this.host = {
      amp: this.amp,
      random: this.random,
      reliableOptions,
      emit: (ev) => {
        this.events.push(ev);
      },
      onFinished: (conn, at) => this.onFinished(conn, at),
    };
  }

  // ------------------------------------------------------------------ EndpointApi

  handle(now: number, from: Address, data: Uint8Array): void {
    if (this.closed) {
      this.drop('endpoint_closed');
      return;
    }
    const first = data.length > 0 ? (data[0] as number) : -1;
    if ((first & 0xfe) === PacketType.Data) {
      this.handleData(now, from, data);
      return;
    }
    const kind = classifyDatagram(data);
    if (kind === 'stun') {
      this.amp.credit(from, data.length);
      this.handleStun(from, data);
      return;
    }
    if (kind !== 'srmudp') {
      this.drop('not_srmudp');
      return;
    }
    this.amp.credit(from, data.length);
    if (first === PacketType.HandshakeInit && this.closing) {
      this.drop('endpoint_closing');
      return;
    }
    // Initiations: crypto decides about load (cookies), per-source budgets and pending state.
    try {
      this.secure.handle(now, from, data);
    } catch {
      this.drop('internal_error'); // defensive: never let hostile input throw out of handle()
      return;
    }
    this.afterSecure(now);
  }

  handleTimeout(now: number): void {
    const st = this.secure.pollTimeout();
    if (st !== null && st <= now) {
      this.secure.handleTimeout(now);
      this.afterSecure(now);
    }
    for (const ch of this.reopening) {
      // crypto gave up the peer's unconfirmed session: nothing will reopen on this channel
      if (ch.awaitingConfirmation) continue;
      this.reopening.delete(ch);
      if (!this.byChannel.has(ch)) ch.close();
    }
    for (const conn of [...this.active]) {
      const t = conn.pollTimeout();
      if (t !== null && t <= now) conn.handleTimeout(now);
    }
    this.maybeCloseSecure();
  }

  pollTransmit(now: number): Transmit | null {
    const queued = this.out.take();
    if (queued !== null) return queued;
    const list = this.active;
    const n = list.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.cursor + i) % n;
      const conn = list[idx] as CoreConnection;
      const t = conn.pollTransmit(now);
      if (t !== null) {
        // round-robin: the next poll starts at the following connection
        this.cursor = (idx + 1) % n;
        return t;
      }
    }
    this.maybeCloseSecure();
    return null;
  }

  pollTimeout(): number | null {
    let t = this.secure.pollTimeout() ?? Number.POSITIVE_INFINITY;
    const list = this.active;
    for (let i = 0; i < list.length; i++) {
      const c = (list[i] as CoreConnection).pollTimeout();
      if (c !== null && c < t) t = c;
    }
    return t === Number.POSITIVE_INFINITY ? null : t;
  }

  pollEvent(): EndpointEvent | null {
    return this.events.take();
  }

  connect(now: number, target: ConnectTarget): ConnectionApi {
    if (!Number.isFinite(now)) throw new TypeError(`"now" expected a finite number, got ${now}`);
    if (typeof target !== 'object' || target === null || !Array.isArray(target.addresses)) {
      throw new TypeError('"target" expected { addresses: Address[], remoteKey?: Uint8Array }');
    }
    if (target.addresses.length === 0) throw new RangeError('"target.addresses" must not be empty');
    for (let i = 0; i < target.addresses.length; i++)
      checkAddress(target.addresses[i], `target.addresses[${i}]`);
    const key = target.remoteKey;
    if (key !== undefined) {
      if (!(key instanceof Uint8Array) || key.length !== 32) {
        throw new TypeError('"target.remoteKey" expected a 32-byte Uint8Array');
      }
      if (equalBytes(key, this.localKey)) throw new RangeError('cannot connect to our own key');
    }
    if (this.closing || this.closed) throw new SrmudpError('ENDPOINT_CLOSED', 'the endpoint is closed');
    if (key !== undefined) {
      const existing = this.byKey.get(toHex(key));
      if (existing !== undefined && (existing.state === 'established' || existing.state === 'handshaking')) {
        if (existing.state === 'handshaking') this.addCandidates(existing, target.addresses);
        return existing;
      }
    }
    const conn = new CoreConnection(this.host, this.nextId++, true, key ? key.slice() : null);
    this.byId.set(conn.id, conn);
    this.addCandidates(conn, target.addresses);
    if (this.liveConnections() > this.maxConnections) {
      conn.fail(now, new SrmudpError('LIMIT', `at most ${this.maxConnections} connections`));
      return conn;
    }
    const closing = key ? this.byKey.get(toHex(key)) : undefined;
    if (key && closing !== undefined && closing.state === 'closing' && !closing.isFinished) {
      // The previous connection to this peer is still draining on the same Noise channel:
      // start the new handshake once it is gone, so the two can never share a session.
      this.byKey.set(toHex(key), conn);
      this.handshakingSet.add(conn);
      this.deferred.set(closing, conn);
      return conn;
    }
    const started = this.startHandshake(now, conn);
    this.afterSecure(now);
    return started;
  }

  /** Opens (or reuses) crypto's channel for an outgoing connection and sends the initiation. */
  private startHandshake(now: number, conn: CoreConnection): CoreConnection {
    const key = conn.remoteKey ?? undefined;
    let channel: SecureChannel;
    try {
      channel = this.secure.connect(now, {
        address: copyAddress(conn.candidates[0] as Address),
        ...(key ? { remoteKey: key } : {}),
      });
    } catch (e) {
      // INVALID_PEER_ID (not an Ed25519 point) and the like: a typed failure event
      const err = e instanceof SrmudpError ? e : new SrmudpError('HANDSHAKE_FAILED', String(e), { cause: e });
      conn.fail(now, err);
      return conn;
    }
    const owner = this.byChannel.get(channel);
    if (owner !== undefined && owner !== conn && !owner.isFinished) {
      // crypto reused a channel that already belongs to a live connection (an incoming one)
      this.byId.delete(conn.id);
      this.addCandidates(owner, conn.candidates);
      this.handshakingSet.delete(conn);
      owner.outgoing = true;
      return owner;
    }
    if (key) this.byKey.set(toHex(key), conn);
    conn.channels.push(channel);
    conn.channel = channel;
    this.byChannel.set(channel, conn);
    this.handshakingSet.add(conn);
    if (channel.isEstablished) {
      // the channel was established by an incoming handshake we had not surfaced yet
      this.establish(now, conn, channel, null);
    } else {
      this.trackInit(conn, channel);
    }
    return conn;
  }

  connection(id: number): ConnectionApi | undefined {
    return this.byId.get(id);
  }

  reportSendError(now: number, to: Address, code: string): void {
    const key = addressKey(to);
    this.drop('send_error');
    const unreachable = UNREACHABLE_CODES.has(code);
    for (const conn of this.byId.values()) {
      if (conn.state === 'handshaking') {
        if (!conn.candidates.some((a) => sameAddress(a, to))) continue;
        conn.noteSendError(key, false);
        if (!unreachable) continue;
        // every candidate refused repeatedly: fail fast instead of waiting for the timeout
        const dead = conn.candidates.every(
          (a) => (conn.sendErrors.get(addressKey(a)) ?? 0) >= DEFAULTS.unreachableAfterErrors,
        );
        if (dead) {
          this.releaseChannels(conn);
          conn.fail(
            now,
            new SrmudpError('UNREACHABLE', `no candidate address of connection ${conn.id} is reachable`),
          );
        }
      } else if (conn.path !== null && sameAddress(conn.path.address, to)) {
        conn.noteSendError(key, true);
      }
    }
  }

  /**
   * Closes every connection at once (QUIC's CONNECTION_CLOSE, RFC 9000 §10.2): each sends CLOSE as
   * its next packet, ahead of data still queued (abandoned), then stays closing for 3 PTO to
   * answer late packets with CLOSE again. Use each connection's graceful `close()` first to
   * deliver queued data.
   */
  close(now: number, code = 0, reason = ''): void {
    if (!Number.isFinite(now)) throw new TypeError(`"now" expected a finite number, got ${now}`);
    if (this.closed) return;
    this.closing = true;
    for (const conn of [...this.byId.values()]) {
      if (conn.state === 'handshaking') {
        this.releaseChannels(conn);
        conn.fail(now, new SrmudpError('CLOSED', 'the endpoint was closed'));
      } else conn.closeImmediately(now, code, reason);
    }
    this.maybeCloseSecure();
  }

  stats(): EndpointStats {
    const drops: Record<string, number> = { ...this.drops };
    const cs = this.secure.stats();
    for (const [k, v] of Object.entries(cs.dropped)) if (v > 0) drops[k] = (drops[k] ?? 0) + v;
    let connections = 0;
    for (const c of this.byId.values()) if (c.state === 'established' || c.state === 'closing') connections++;
    return {
      connections,
      handshaking: this.handshakingSet.size,
      pendingHandshakes: this.closed ? 0 : this.secure.pendingHandshakes(),
      initiationsProcessed: cs.initiationsProcessed,
      cookieRepliesSent: cs.cookieRepliesSent,
      pendingEvicted: cs.pendingEvicted,
      drops,
    };
  }

  // ------------------------------------------------------------------ internals: receive

  private handleData(now: number, from: Address, data: Uint8Array): void {
    const secure = this.secure;
    let r: HandleResult;
    try {
      r = secure.handle(now, from, data);
    } catch {
      this.drop('internal_error');
      return;
    }
    if (r.type !== 'data') {
      // counted by crypto (decrypt_failed, replay, unknown_index...); still credits the address
      this.amp.credit(from, data.length);
      this.afterSecure(now);
      return;
    }
    // a rekey completion or a restarted peer must be seen before its data
    this.afterSecure(now);
    const conn = this.byChannel.get(r.channel);
    if (conn === undefined || conn.isFinished) {
      this.drop('no_connection');
      return;
    }
    const path = conn.path;
    if (path === null || path.address.port !== from.port || path.address.host !== from.host) {
      this.amp.credit(from, data.length); // a migration candidate: its 3x budget for challenges
    }
    conn.onPacket(now, from, r.packetNumber, r.plaintext);
  }

  private handleStun(from: Address, data: Uint8Array): void {
    if (this.stunResponder) {
      const req = parseBindingRequest(data);
      if (req !== null) {
        let reply: Uint8Array | null = null;
        try {
          const cr = req.changeRequest;
          if (req.unknownAttributes.length > 0) {
            reply = buildBindingError(req.transactionId, 420, 'Unknown Attribute', req.unknownAttributes);
          } else if (cr !== null && (cr.changeIp || cr.changePort)) {
            reply = buildBindingError(req.transactionId, 420, 'Unknown Attribute', [CHANGE_REQUEST]);
          } else {
            reply = buildBindingResponse({ transactionId: req.transactionId, mapped: from });
          }
        } catch {
          reply = null;
        }
        if (reply === null) {
          this.drop('stun_unanswerable');
        } else if (this.amp.trySend(from, reply.length)) {
          this.out.push({ to: copyAddress(from), data: reply });
        } else {
          this.drop('amplification_limit');
        }
        return;
      }
    }
    this.events.push({ type: 'stun', from: copyAddress(from), data: data.slice() });
  }

  /** Drains crypto's events and transmits after any call into it. */
  private afterSecure(now: number): void {
    for (let ev = this.secure.pollEvent(); ev !== null; ev = this.secure.pollEvent())
      this.onSecureEvent(now, ev);
    for (let t = this.secure.pollTransmit(now); t !== null; t = this.secure.pollTransmit(now)) {
      this.onSecureTransmit(t.to, t.data);
    }
  }

  private onSecureTransmit(to: Address, data: Uint8Array): void {
    const type = data[0];
    if (type === PacketType.HandshakeInit) {
      // our initiation: to every candidate address of the connection, in parallel
      const idx = readU32(data, 3);
      const conn = this.initOwners.get(idx);
      this.out.push({ to: copyAddress(to), data });
      if (conn !== undefined && conn.state === 'handshaking') {
        for (const a of conn.candidates) if (!sameAddress(a, to)) this.out.push({ to: a, data });
      }
      return;
    }
    if (type === PacketType.HandshakeFinal) {
      this.out.push({ to: copyAddress(to), data }); // we initiated (XX message 3)
      return;
    }
    // handshake responses and cookie replies answer whoever sent us an initiation: 3x limit,
    // unless we are dialling that address ourselves (simultaneous open)
    if (this.isDialled(to) || this.amp.trySend(to, data.length)) {
      this.out.push({ to: copyAddress(to), data });
    } else this.drop('amplification_limit');
  }

  private onSecureEvent(now: number, ev: SecureEvent): void {
    const channel = ev.channel;
    switch (ev.type) {
      case 'established': {
        const existing = this.byChannel.get(channel);
        const boot = ev.remoteOptions.get(BOOT_ID_OPTION) ?? null;
        const hex = toHex(ev.remoteKey);
        const byKey = this.byKey.get(hex);
        if (
          existing !== undefined &&
          existing.state === 'handshaking' &&
          byKey !== undefined &&
          byKey !== existing &&
          byKey.state === 'established'
        ) {
          // An XX dial reached a peer we already have a connection to: one connection per peer.
          // The new channel feeds the existing connection (the peer may already seal with it);
          // the dial itself fails with ALREADY_CONNECTED naming that connection.
          this.byChannel.set(channel, byKey);
          existing.channels.splice(existing.channels.indexOf(channel), 1);
          byKey.addChannel(channel);
          this.handshakingSet.delete(existing);
          existing.fail(now, alreadyConnected(byKey, ev.remoteKey));
          return;
        }
        if (existing !== undefined && !existing.isFinished) {
          existing.remoteBoot = boot;
          if (existing.state === 'handshaking') this.establish(now, existing, channel, ev.handshakeRttMs);
          return;
        }
        if (byKey !== undefined && !byKey.isFinished && byKey.state !== 'closing') {
          // another handshake with a peer we already have a connection to (both dialled with XX,
          // or an XX dial to a known peer): one connection per peer, fed by both channels
          this.byChannel.set(channel, byKey);
          byKey.remoteBoot = boot;
          if (byKey.state === 'handshaking') this.establish(now, byKey, channel, ev.handshakeRttMs);
          else byKey.addChannel(channel);
          return;
        }
        const conn = new CoreConnection(this.host, this.nextId++, false, ev.remoteKey.slice());
        conn.remoteBoot = boot;
        this.byId.set(conn.id, conn);
        this.byKey.set(hex, conn);
        this.byChannel.set(channel, conn);
        conn.channels.push(channel);
        this.establish(now, conn, channel, ev.handshakeRttMs);
        return;
      }
      case 'rekeyed': {
        const conn = this.byChannel.get(channel);
        const boot = ev.remoteOptions.get(BOOT_ID_OPTION) ?? null;
        const reopened = this.reopening.delete(channel) && (conn === undefined || conn.isFinished);
        if (!reopened && (conn === undefined || conn.isFinished)) return;
        const restarted =
          conn !== undefined &&
          conn.remoteBoot !== null &&
          boot !== null &&
          !equalBytes(conn.remoteBoot, boot);
        // a new session on the channel of a connection that is closing (or that finished while
        // the new session awaited confirmation) is a new connection
        if (reopened || restarted || conn?.state === 'closing') {
          // The peer restarted and handshook again on the same channel: its reliability state is
          // new, ours is stale. Close the old connection and start a fresh one on this channel.
          this.byChannel.delete(channel);
          if (conn !== undefined && !conn.isFinished) {
            conn.detachChannel(channel);
            if (restarted) conn.closeNow(now, CloseCode.PEER_RESTARTED, 'peer restarted', true);
          }
          const fresh = new CoreConnection(
            this.host,
            this.nextId++,
            false,
            (channel.remoteKey as Uint8Array).slice(),
          );
          fresh.remoteBoot = boot;
          this.byId.set(fresh.id, fresh);
          this.byKey.set(toHex(fresh.remoteKey as Uint8Array), fresh);
          this.byChannel.set(channel, fresh);
          fresh.channels.push(channel);
          this.establish(now, fresh, channel, ev.handshakeRttMs);
        }
        return;
      }
      case 'failed': {
        const conn = this.byChannel.get(channel);
        if (conn === undefined || conn.isFinished) {
          this.reopening.delete(channel);
          channel.close();
          return;
        }
        if (conn.state === 'handshaking') {
          // XX dial may have another channel still trying; fail only when none is left
          this.releaseChannels(conn);
          conn.fail(now, new SrmudpError(failureCode(ev.code), failureMessage(ev.code)));
          return;
        }
        // an established connection lost its keys (expired, rekey impossible)
        conn.fail(now, new SrmudpError('SESSION_EXPIRED', 'session keys expired'));
        return;
      }
    }
  }

  /**
   * A connection begins. Crypto reports a session only once its address is proven: the initiator
   * got an authenticated answer from it, an XX responder message 3, an IK responder the first
   * packet under the new keys (key confirmation: an initiation alone may be a replay).
   */
  private establish(
    now: number,
    conn: CoreConnection,
    channel: SecureChannel,
    handshakeRttMs: number | null,
  ): void {
    this.handshakingSet.delete(conn);
    for (const [idx, c] of this.initOwners) if (c === conn) this.initOwners.delete(idx);
    conn.establish(now, channel, this.localKey, handshakeRttMs);
    // the established connection is the one connect() and later handshakes must find
    const hex = toHex(conn.remoteKey as Uint8Array);
    const cur = this.byKey.get(hex);
    if (cur === undefined || cur === conn || cur.isFinished || cur.state !== 'established')
      this.byKey.set(hex, conn);
    if (!this.active.includes(conn)) this.active.push(conn);
  }

  private trackInit(conn: CoreConnection, channel: SecureChannel): void {
    const idx = channel.pendingIndex;
    if (idx !== null) this.initOwners.set(idx, conn);
  }

  private addCandidates(conn: CoreConnection, addresses: Address[]): void {
    for (const a of addresses) {
      if (!conn.candidates.some((c) => sameAddress(c, a))) conn.candidates.push(copyAddress(a));
    }
  }

  private isDialled(to: Address): boolean {
    if (this.handshakingSet.size === 0) return false;
    for (const conn of this.initOwners.values()) {
      if (conn.candidates.some((a) => sameAddress(a, to))) return true;
    }
    return false;
  }

  private acceptPeer(key: Uint8Array, from: Address, incoming: boolean): boolean {
    // Outgoing XX dials learn the key here: the application chose to dial, it sees the key in
    // 'connected' and may close. The policy is about who may connect to us.
    if (!incoming) return true;
    if (this.closing) return false;
    const existing = this.byKey.get(toHex(key));
    const known = existing !== undefined && !existing.isFinished;
    if (!known && this.liveConnections() >= this.maxConnections) {
      this.drop('connection_limit');
      return false;
    }
    if (this.allow !== null && !this.allow.some((k) => equalBytes(k, key))) {
      this.drop('not_allowed');
      return false;
    }
    if (this.policy !== null) {
      let ok = false;
      try {
        ok = this.policy(key.slice(), copyAddress(from)) === true;
      } catch {
        ok = false;
      }
      if (!ok) {
        this.drop('policy_refused');
        return false;
      }
    }
    return true;
  }

  private liveConnections(): number {
    let n = 0;
    for (const c of this.byId.values()) if (!c.isFinished) n++;
    return n;
  }

  private releaseChannels(conn: CoreConnection): void {
    for (const ch of conn.channels) {
      if (this.byChannel.get(ch) === conn) this.byChannel.delete(ch);
      if (conn.state !== 'handshaking' && ch.awaitingConfirmation && ch.state !== 'closed' && !this.closed) {
        // the peer already started a new session on it: see `reopening`
        this.reopening.add(ch);
        continue;
      }
      ch.close();
    }
    conn.channels.length = 0;
  }

  private onFinished(conn: CoreConnection, now: number): void {
    this.handshakingSet.delete(conn);
    for (const [idx, c] of this.initOwners) if (c === conn) this.initOwners.delete(idx);
    this.releaseChannels(conn);
    this.byId.delete(conn.id);
    if (conn.remoteKey !== null) {
      const hex = toHex(conn.remoteKey);
      if (this.byKey.get(hex) === conn) this.byKey.delete(hex);
    }
    const next = this.deferred.get(conn);
    if (next !== undefined) {
      this.deferred.delete(conn);
      if (!next.isFinished && next.state === 'handshaking') {
        const got = this.startHandshake(now, next);
        if (got !== next) {
          next.fail(now, alreadyConnected(got, next.remoteKey as Uint8Array));
        }
        this.afterSecure(now);
      }
    }
    for (const [prev, waiting] of this.deferred) if (waiting === conn) this.deferred.delete(prev);
    const i = this.active.indexOf(conn);
    if (i >= 0) {
      this.active.splice(i, 1);
      if (this.cursor > i) this.cursor--;
      if (this.cursor >= this.active.length) this.cursor = 0;
    }
  }

  private maybeCloseSecure(): void {
    if (this.closing && !this.closed && this.byId.size === 0) {
      this.closed = true;
      this.secure.close();
    }
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }
}

function readU32(b: Uint8Array, o: number): number {
  return (
    (((b[o] as number) << 24) |
      ((b[o + 1] as number) << 16) |
      ((b[o + 2] as number) << 8) |
      (b[o + 3] as number)) >>>
    0
  );
}

function failureCode(code: string): string {
  switch (code) {
    case 'HANDSHAKE_TIMEOUT':
      return 'HANDSHAKE_TIMEOUT';
    case 'PEER_REFUSED':
      return 'REFUSED';
    case 'SESSION_EXPIRED':
      return 'SESSION_EXPIRED';
    default:
      return 'HANDSHAKE_FAILED';
  }
}

function failureMessage(code: string): string {
  switch (code) {
    case 'HANDSHAKE_TIMEOUT':
      return 'no authenticated answer before the handshake timeout (wrong key, refused, or unreachable)';
    case 'PEER_REFUSED':
      return 'the remote key was refused by the accept policy';
    default:
      return `handshake failed (${code})`;
  }
}

function positiveInt(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v <= 0)
    throw new RangeError(`"${name}" expected a positive integer, got ${v}`);
  return v;
}

function nonNegInt(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`"${name}" expected a non-negative integer, got ${v}`);
  return v;
}

/** A dial that found an existing connection to the same peer; `cause` names that connection. */
function alreadyConnected(existing: CoreConnection, remoteKey: Uint8Array): SrmudpError {
  return new SrmudpError('ALREADY_CONNECTED', `already connected to this peer (connection ${existing.id})`, {
    cause: { connectionId: existing.id, remoteKey: remoteKey.slice() },
  });
}
