import { SecureEndpoint, type SecureEvent, type SecureTransmit, shortPeerId } from '@srmudp/crypto';
import {
  type Address,
  addressKey,
  ControlProtocol,
  classifyDatagram,
  copyAddress,
  equalBytes,
  PacketType,
  PollQueue,
  sameAddress,
} from '@srmudp/wire';
import { AmplificationGuard } from './amplification.js';
import type {
  ConnectionApi,
  ConnectTarget,
  EndpointApi,
  EndpointConfig,
  EndpointEvent,
  EndpointStats,
  Transmit,
} from './api.js';
import { bootOptions, type EndpointSettings, ReliableConfigs, resolveEndpointConfig } from './config.js';
import { type ConnectionHost, CoreConnection } from './connection.js';
import { ConnectionTable } from './connection-table.js';
import { BOOT_ID_LENGTH, DEFAULTS } from './defaults.js';
import { EndpointCircuits } from './endpoint-circuits.js';
import { EndpointDials, handshakeFailure, keysLost } from './endpoint-dials.js';
import { EndpointEvents } from './endpoint-events.js';
import { EndpointSessions } from './endpoint-sessions.js';
import { CoreError } from './errors.js';
import { type EndpointRelays, isRelayRoute } from './relays.js';
import { answerStun } from './stun.js';

/** Send-error codes that mean "nobody is listening there" (ICMP port/host/net unreachable). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN']);

/**
 * The sans-IO srmudp endpoint: one UDP socket, many authenticated peers. Datagrams go in with
 * {@link handle}; STUN is answered or surfaced, handshakes run in @srmudp/crypto, data packets are
 * demultiplexed by the receiver's session index to their connection (whatever address they come
 * from), and each connection runs @srmudp/reliability. Output is drained with
 * {@link pollTransmit}, {@link pollEvent} and {@link pollTimeout}.
 *
 * This file routes: datagrams in (by wire type, then by crypto's channel), crypto's handshake
 * datagrams out (by the channel and kind crypto names), and crypto's events to connections. Which
 * connection is which lives in connection-table.ts; a connection's own rules in connection.ts.
 */
export class CoreEndpoint implements EndpointApi {
  private readonly settings: EndpointSettings;
  private readonly secure: SecureEndpoint;
  private readonly localKey: Uint8Array;
  private readonly host: ConnectionHost;
  private readonly amp = new AmplificationGuard();
  private readonly table = new ConnectionTable();
  private nextId = 1;
  private readonly out = new PollQueue<Transmit>();
  /** the event queue and its contract (endpoint-events.ts) */
  private readonly events = new EndpointEvents((id) => this.table.get(id));
  private readonly drops: Record<string, number> = {};
  private closing = false;
  private closed = false;
  /** relay service (when serving) and relay clients, circuits of dials, hop sessions (endpoint-circuits.ts) */
  private readonly circuits: EndpointCircuits;
  /** crypto's established and rekeyed sessions as connections (endpoint-sessions.ts) */
  private readonly sessions: EndpointSessions;
  /** dials: `connect` validation, joining or waiting, handshake start and failure (endpoint-dials.ts) */
  private readonly dials: EndpointDials;

  constructor(config: EndpointConfig, now: number) {
    const settings = resolveEndpointConfig(config, now);
    this.settings = settings;
    this.localKey = settings.identity.publicKey;
    const bootId = settings.random(BOOT_ID_LENGTH).slice(0, BOOT_ID_LENGTH);
    this.secure = new SecureEndpoint({
      ...settings.secure,
      acceptPeer: (key, info) => this.acceptPeer(key, info.address, info.incoming),
      options: bootOptions(bootId),
    });
    this.host = {
      amp: this.amp,
      random: settings.random,
      reliableConfigs: new ReliableConfigs(settings.reliable),
      log: settings.log,
      reliabilityLog: settings.reliabilityLog,
      emit: (ev) => this.emit(ev),
      onFinished: (conn, at) => this.onFinished(conn, at),
      onControl: (conn, data, at) => this.onControl(conn, data, at),
      touch: (conn) => this.table.touch(conn),
      peerGoneGraceMs: settings.peerGoneGraceMs,
    };
    this.circuits = new EndpointCircuits(
      {
        identity: settings.identity,
        random: settings.random,
        table: this.table,
        startHandshake: (at, conn) => this.dials.startDeferred(at, conn),
        deliver: (at, route, packet) => this.handle(at, route, packet),
        transmit: (to, data) => this.out.push({ to: copyAddress(to), data }),
        drop: (reason) => this.drop(reason),
      },
      settings.relay,
      settings.wallClockOffsetMs,
      now,
    );
    this.sessions = new EndpointSessions({
      localKey: this.localKey,
      table: this.table,
      log: settings.log,
      newConnection: (outgoing, remoteKey) => this.newConnection(outgoing, remoteKey),
      replaced: (old, next) => this.events.replaced(old.id, next.id),
    });
    this.dials = new EndpointDials({
      localKey: this.localKey,
      table: this.table,
      secure: this.secure,
      sessions: this.sessions,
      circuits: this.circuits,
      log: settings.log,
      maxConnections: settings.maxConnections,
      isClosing: () => this.closing || this.closed,
      newConnection: (outgoing, remoteKey) => this.newConnection(outgoing, remoteKey),
      afterSecure: (now) => this.afterSecure(now),
    });
  }

  // ------------------------------------------------------------------ EndpointApi

  handle(now: number, from: Address, data: Uint8Array): void {
    if (this.closed) {
      this.drop('endpoint_closed');
      return;
    }
    this.circuits.at(now);
    const first = data.length > 0 ? (data[0] as number) : -1;
    if ((first & 0xfe) === PacketType.Data) {
      this.handleData(now, from, data);
      return;
    }
    // relay channel data (0x40-0x4f): for us from a relay, or to forward when we are one
    if ((first & 0xf0) === 0x40 && !isRelayRoute(from) && this.circuits.handleChannelData(now, from, data))
      return;
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
    this.circuits.at(now);
    this.circuits.handleTimeout(now);
    const st = this.secure.pollTimeout();
    if (st !== null && st <= now) {
      this.secure.handleTimeout(now);
      this.afterSecure(now);
    }
    for (const conn of this.table.due(now)) conn.handleTimeout(now);
    this.maybeCloseSecure();
  }

  pollTransmit(now: number): Transmit | null {
    this.circuits.at(now);
    this.circuits.pump(now);
    for (;;) {
      const queued = this.out.take();
      const t = queued ?? this.table.pollTransmit(now);
      if (t === null) {
        this.maybeCloseSecure();
        return null;
      }
      if (!isRelayRoute(t.to)) return t;
      // a relayed route: the packet leaves as channel data to the relay's hop address
      const w = this.circuits.wrap(now, t.to, t.data);
      if (w !== null) return w;
    }
  }

  pollTimeout(): number | null {
    const t = Math.min(
      this.secure.pollTimeout() ?? Number.POSITIVE_INFINITY,
      this.table.nextTimeout(),
      this.circuits.nextTimeout(),
    );
    return t === Number.POSITIVE_INFINITY ? null : t;
  }

  pollEvent(): EndpointEvent | null {
    return this.events.take();
  }

  connect(now: number, target: ConnectTarget): ConnectionApi {
    return this.dials.connect(now, target);
  }

  connection(id: number): ConnectionApi | undefined {
    return this.table.get(id) ?? this.events.unpolledConnection(id);
  }

  connectionOfPeer(keyHex: string): ConnectionApi | undefined {
    return this.table.ofKeyHex(keyHex);
  }

  reportLoad(_now: number, utilization: number): void {
    if (!this.closed) this.secure.reportUtilization(utilization);
  }

  reportSendError(now: number, to: Address, code: string): void {
    this.drop('send_error');
    const unreachable = UNREACHABLE_CODES.has(code);
    for (const conn of [...this.table.all()]) {
      // every candidate refused repeatedly: fail fast instead of waiting for the timeout
      if (conn.noteSendError(now, to, unreachable, DEFAULTS.unreachableAfterErrors)) {
        this.releaseChannels(conn);
        conn.fail(
          now,
          new CoreError('UNREACHABLE', `no candidate address of connection ${conn.id} is reachable`),
        );
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
    if (!this.closing) this.settings.log?.(`endpoint closing: ${this.table.size} connection(s) left`);
    this.closing = true;
    // In any order: a relayed connection's CLOSE rides its circuit while the hop session it
    // runs over is closing too, since a hop is up for the relay side until its connection is
    // gone (onFinished), on both ends of the hop (relays.ts: hopDown).
    for (const conn of [...this.table.all()]) {
      if (conn.state === 'handshaking') {
        this.releaseChannels(conn);
        conn.fail(now, new CoreError('CLOSED', 'the endpoint was closed'));
      } else conn.closeImmediately(now, code, reason);
    }
    this.maybeCloseSecure();
  }

  /** Peer ids of the connected peers that serve as relays for us (they greeted us): `relays` candidates. */
  relays(): Uint8Array[] {
    return this.circuits.readyRelays();
  }

  /** The relay service's counters when this endpoint serves as a relay, else null. */
  relayStats(): ReturnType<EndpointRelays['stats']> {
    return this.circuits.stats();
  }

  stats(): EndpointStats {
    const drops: Record<string, number> = { ...this.drops };
    const cs = this.secure.stats();
    for (const [k, v] of Object.entries(cs.dropped)) if (v > 0) drops[k] = (drops[k] ?? 0) + v;
    let connections = 0;
    for (const c of this.table.all()) if (c.state === 'established' || c.state === 'closing') connections++;
    return {
      connections,
      handshaking: this.table.handshakingCount,
      pendingHandshakes: this.closed ? 0 : this.secure.pendingHandshakes(),
      initiationsProcessed: cs.initiationsProcessed,
      cookieRepliesSent: cs.cookieRepliesSent,
      pendingEvicted: cs.pendingEvicted,
      handshakeCostMs: cs.handshakeCostMs,
      handshakesPerSecondUnderLoad: cs.handshakesPerSecondUnderLoad,
      drops,
    };
  }

  // ------------------------------------------------------------------ receive

  private handleData(now: number, from: Address, data: Uint8Array): void {
    let r: ReturnType<SecureEndpoint['handle']>;
    try {
      r = this.secure.handle(now, from, data);
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
    // a rekey completion or a restarted peer must be seen before its data; the first packet of
    // a session may confirm it (an IK responder's), and its number says whose it is
    if (r.firstOfSession) {
      const sessions = this.sessions;
      sessions.confirmingChannel = r.channel;
      sessions.confirmingPn = r.packetNumber;
      try {
        this.afterSecure(now);
      } finally {
        sessions.confirmingChannel = null;
      }
    } else this.afterSecure(now);
    let conn = this.table.ofChannel(r.channel);
    if (conn === undefined || conn.isFinished) {
      this.drop('no_connection');
      return;
    }
    // a new session whose first packet is numbered as an old one: the peer's new connection
    if (r.firstOfSession && conn.numberingRestarted(r.packetNumber))
      conn = this.sessions.reconnected(now, conn, r.channel, from);
    // the path it arrived on is credited with its size (its 3x anti-amplification budget)
    conn.onPacket(now, from, data.length, r.packetNumber, r.plaintext);
  }

  private handleStun(from: Address, data: Uint8Array): void {
    const reply = this.settings.stunResponder ? answerStun(data, from) : 'not_request';
    if (reply === 'not_request') {
      this.events.push({ type: 'stun', from: copyAddress(from), data: data.slice() });
    } else if (reply === null) {
      this.drop('stun_unanswerable');
    } else if (this.amp.trySend(from, reply.length)) {
      this.out.push({ to: copyAddress(from), data: reply });
    } else {
      this.drop('amplification_limit');
    }
  }

  // ------------------------------------------------------------------ crypto's output

  /** Drains crypto's events and transmits after any call into it. */
  private afterSecure(now: number): void {
    for (let ev = this.secure.pollEvent(); ev !== null; ev = this.secure.pollEvent()) {
      this.onSecureEvent(now, ev);
      // a new or rekeyed channel may unblock what the connection had to send
      const conn = this.table.ofChannel(ev.channel);
      if (conn !== undefined) this.table.touch(conn);
    }
    for (let t = this.secure.pollTransmit(now); t !== null; t = this.secure.pollTransmit(now))
      this.onSecureTransmit(t);
  }

  /** A handshake datagram: crypto says whose it is and what it is, core decides where it goes. */
  private onSecureTransmit(t: SecureTransmit): void {
    const conn = t.channel === null ? undefined : this.table.ofChannel(t.channel);
    if (t.kind === 'initiation' && conn !== undefined && !conn.isFinished) {
      if (conn.state === 'handshaking') {
        // our initiation: to every candidate address of the connection, in parallel
        this.out.push({ to: copyAddress(t.to), data: t.data });
        for (const a of conn.channels.candidates)
          if (!sameAddress(a, t.to)) this.out.push({ to: copyAddress(a), data: t.data });
        return;
      }
      // a rekey of an established connection goes where its packets go
      const route = conn.handshakeRoute();
      this.out.push({ to: copyAddress(route ?? t.to), data: t.data });
      return;
    }
    if (!t.answersUnverified) {
      this.out.push({ to: copyAddress(t.to), data: t.data });
      return;
    }
    // handshake responses and cookie replies answer whoever sent us an initiation: 3x limit,
    // unless an outgoing connection of ours dials that address (ConnectionTable.isDialled)
    if (this.table.isDialled(t.to) || this.amp.trySend(t.to, t.data.length)) {
      this.out.push({ to: copyAddress(t.to), data: t.data });
    } else this.drop('amplification_limit');
  }

  private onSecureEvent(now: number, ev: SecureEvent): void {
    switch (ev.type) {
      case 'established':
        this.sessions.onEstablished(now, ev);
        return;
      case 'rekeyed':
        this.sessions.onRekeyed(now, ev);
        return;
      case 'failed': {
        const conn = this.table.ofChannel(ev.channel);
        if (conn === undefined || conn.isFinished) {
          ev.channel.close();
          return;
        }
        if (conn.state === 'handshaking') {
          // XX dial may have another channel still trying; fail only when none is left
          this.releaseChannels(conn);
          conn.fail(now, handshakeFailure(ev.code));
          return;
        }
        // an established connection lost its keys here: a close of ours (connection.ts: fail)
        conn.fail(now, new CoreError('SESSION_EXPIRED', keysLost(ev.code)));
        return;
      }
    }
  }

  // ------------------------------------------------------------------ connections

  private newConnection(outgoing: boolean, remoteKey: Uint8Array | null): CoreConnection {
    const conn = new CoreConnection(this.host, this.nextId++, outgoing, remoteKey);
    this.table.add(conn);
    return conn;
  }

  /**
   * Hands a connection's channels back to crypto: closed (keys erased) while handshaking or when
   * the endpoint is gone; else released, which keeps a channel the peer already started a new
   * session on until that session is confirmed or given up (SecureChannel.release).
   */
  private releaseChannels(conn: CoreConnection): void {
    const keep = conn.state !== 'handshaking' && !this.closed;
    for (const ch of conn.channels.takeAll()) {
      this.table.unbindChannel(ch, conn);
      if (keep) ch.release();
      else ch.close();
    }
  }

  private onFinished(conn: CoreConnection, now: number): void {
    this.sessions.finished(now, conn);
    this.releaseChannels(conn);
    this.table.remove(conn);
    this.events.left(conn);
    if (conn.wasConnected) this.events.push({ type: 'gone', id: conn.id });
    this.circuits.gone(now, conn); // its hop session goes down (endpoint-circuits.ts)
    const next = conn.takeSuccessor();
    if (next !== null && !next.isFinished && next.state === 'handshaking')
      this.dials.startDeferred(now, next);
  }

  private acceptPeer(key: Uint8Array, from: Address, incoming: boolean): boolean {
    // Outgoing XX dials learn the key here: the application chose to dial, it sees the key in
    // 'connected' and may close. The policy is about who may connect to us.
    if (!incoming) return true;
    if (this.closing) return false;
    // `key` is crypto's object of the peer's key
    const existing = this.table.ofPeerKey(key);
    const known = existing !== undefined && !existing.isFinished;
    if (!known && this.table.live() >= this.settings.maxConnections) {
      this.drop('connection_limit');
      this.settings.log?.(`peer ${shortPeerId(key)} from ${addressKey(from)} refused: connection limit`);
      return false;
    }
    const allow = this.settings.allow;
    if (allow !== null && !allow.some((k) => equalBytes(k, key))) {
      this.drop('not_allowed');
      this.settings.log?.(`peer ${shortPeerId(key)} from ${addressKey(from)} refused: not in the allow list`);
      return false;
    }
    const policy = this.settings.policy;
    if (policy !== null) {
      let ok = false;
      try {
        ok = policy(key.slice(), copyAddress(from)) === true;
      } catch {
        ok = false;
      }
      if (!ok) {
        this.drop('policy_refused');
        this.settings.log?.(`peer ${shortPeerId(key)} from ${addressKey(from)} refused by the accept policy`);
        return false;
      }
    }
    return true;
  }

  private maybeCloseSecure(): void {
    if (this.closing && !this.closed && this.table.size === 0) {
      this.closed = true;
      this.secure.close();
    }
  }

  private drop(reason: string): void {
    this.drops[reason] = (this.drops[reason] ?? 0) + 1;
  }

  // ------------------------------------------------------------------ connection events, CONTROL

  /** Connection events, and what the relay side learns from them (hop sessions). */
  private emit(ev: EndpointEvent): void {
    this.events.push(ev);
    this.circuits.onEvent(ev);
  }

  private onControl(conn: CoreConnection, data: Uint8Array, now: number): void {
    const key = conn.remoteKey;
    if (key === null || data.length === 0) {
      this.drop('control_malformed');
      return;
    }
    if (data[0] === ControlProtocol.Punch) {
      this.emit({ type: 'punch', id: conn.id, data: data.slice(1) });
      return;
    }
    this.circuits.onControl(now, key, data);
  }

  /**
   * Sends a punch-coordination message (`ControlProtocol.Punch`, prefixed here) in established
   * connection `id`; false when it cannot be queued (unknown, not established, buffer full).
   */
  sendPunch(id: number, data: Uint8Array): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    const conn = this.table.get(id);
    if (conn === undefined) return false;
    const out = new Uint8Array(data.length + 1);
    out[0] = ControlProtocol.Punch;
    out.set(data, 1);
    return conn.sendControl(out);
  }
}
