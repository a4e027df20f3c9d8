// Groups: @srmudp/gossip (HyParView + Plumtree) driven by the node's one loop. The gossip
// machine is sans-IO; this file is its host: it dials neighbours by the cards their passive
// entries carry, moves frames over the connections' façade channel (channels.ts), serves and
// fetches blobs, and turns deliveries into each group's messages.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Identity, peerIdToString } from '@srmudp/crypto';
import { nodeVerifySignature } from '@srmudp/crypto-node';
import {
  Gossip,
  type GossipEvent,
  type GossipOptions,
  type GossipStats,
  type PenaltyReason,
  topicId,
} from '@srmudp/gossip';
import { parseCard } from '@srmudp/rendezvous';
import { SrmudpError } from '@srmudp/wire';
import { AsyncQueue } from './async-queue.js';
import { CHANNEL } from './channels.js';
import type { Connection } from './connection.js';
import { keyHex } from './dialer.js';
import type { DrivenMachine } from './driver.js';
import { logger, short } from './log.js';

const log = logger('srmudp:group');

/** A message broadcast to a group, as a member receives it (once). */
export interface GroupMessage {
  /** the origin's peer id (it signed the message) */
  from: string;
  data: Uint8Array;
  /** the message id (hex of the SHA-256 id gossip derives from the content) */
  id: string;
  /** hops from the origin (1: from the origin itself) */
  hops: number;
  /** the origin's wall clock when it broadcast (ms since the epoch) */
  sentAt: number;
  /** Date.now() when it was delivered here */
  timestamp: number;
}

/**
 * Reaches `peer` through `introducer` (a member that passed its record on, and so most likely
 * connected to it) when a direct dial failed. Resolve with the connection or reject. The default
 * (no `connectVia` option) is connect via: see {@link GroupHost}'s `#viaIntroducer`.
 */
export type ConnectVia = (peer: string, introducer: string) => Promise<Connection>;

export interface GroupOptions {
  /** contact cards of members already in the group (none: the first member, waiting to be joined) */
  bootstrap?: readonly string[];
  /**
   * Gossip options (active view, rate limits, timers; see @srmudp/gossip). They apply when the
   * node's gossip starts, i.e. at its first `group()`; later groups share it.
   */
  gossip?: Partial<GossipOptions>;
  /** dial timeout for a new neighbour (default 10 s, gossip's neighbour timeout) */
  dialTimeoutMs?: number;
  /**
   * Replaces the default fallback of a failed neighbour dial (connect via its introducer, which
   * must serve `relay: { connectVia: true }`); see {@link ConnectVia}.
   */
  connectVia?: ConnectVia;
}

/** What the group host needs from its node. */
export interface GroupNode {
  readonly identity: Identity;
  readonly driver: {
    clock(): number;
    schedule(): void;
    attach(m: DrivenMachine): void;
    readonly stopped: boolean;
    sleep(ms: number): Promise<void>;
    /** peers that greeted us as relays (connect-via, gates): what a relayed dial may go through */
    readonly endpoint: { relays(): Uint8Array[] };
  };
  connect(card: string, opts: { timeout?: number }): Promise<Connection>;
  liveConnection(hex: string): Connection | undefined;
  /** our card with our current candidates embedded (the record neighbours pass on) */
  contactCard(opts: { candidates: boolean }): string;
  /** whether the application named this peer (its connection is not gossip's to close) */
  isNamedKey(hex: string): boolean;
  on(event: 'nat', fn: (e: { type: string }) => void): unknown;
}

/** Why a dial failed, for which connect via the introducer is not tried (it cannot help). */
const NOT_RELAYABLE = new Set(['NODE_CLOSED', 'ABORTED', 'INVALID_CARD', 'OWN_CARD', 'INVALID_OPTIONS']);
/** An introducer's own dial (we are not connected to it yet) gets at most this share of the time. */
const INTRODUCER_DIAL_SHARE = 0.5;

/** Blob requests served per neighbour per second (each reply may be up to 16 MiB). */
const BLOB_REQUESTS_PER_SECOND = 8;
const MAX_RECORD = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A group: members that receive each other's broadcasts, each holding a handful of connections
 * (gossip's active view, 5 by default) instead of one to every member. Create with
 * `node.group(name, { bootstrap })`.
 *
 * Events: 'message' ({@link GroupMessage}), 'neighbour' (`{ peer, added }`: the active view
 * changed), 'penalised' (`{ peer, reason, detail }`: a neighbour sent forged, replayed or
 * malformed frames, or flooded, and was disconnected), 'left'.
 */
export class Group extends EventEmitter {
  readonly topic: Uint8Array;
  readonly #queue = new AsyncQueue<GroupMessage>();
  #hook: ((m: GroupMessage) => void) | null = null;
  #left = false;

  /** @internal use node.group() */
  constructor(
    readonly name: string,
    private readonly host: GroupHost,
  ) {
    super();
    this.topic = topicId(name);
  }

  get isLeft(): boolean {
    return this.#left;
  }

  /**
   * Sends `data` to every member (not to ourselves). Returns the message id. Throws
   * SrmudpError `GOSSIP_RATE_LIMITED` above this member's share of the per-origin rate limit
   * (retry later), `GOSSIP_TOO_LARGE` above 16 MiB (payloads above 8 KiB travel as blobs),
   * `GROUP_LEFT` after leave().
   */
  broadcast(data: Uint8Array | string): string {
    if (this.#left) throw new SrmudpError('GROUP_LEFT', `left group ${JSON.stringify(this.name)}`);
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    if (!(bytes instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array or string');
    return this.host.broadcast(this, bytes);
  }

  /** Every message of the group, as an async iterator (ends on leave() or node close). */
  messages(signal?: AbortSignal): AsyncIterableIterator<GroupMessage> {
    return this.#queue.iterate(signal);
  }

  /** A hook that consumes messages: while set, `messages()` does not see them. */
  onMessage(hook: ((m: GroupMessage) => void) | null): void {
    if (hook !== null && typeof hook !== 'function')
      throw new TypeError('"hook" expected a function or null');
    this.#hook = hook;
  }

  /** Peer ids of the members this one knows: its neighbours and its passive view. */
  members(): string[] {
    const v = this.host.gossip.topicView(this.topic);
    if (!v) return [];
    const ids = new Set<string>();
    for (const p of v.active) ids.add(peerIdToString(p));
    for (const e of v.passive) ids.add(peerIdToString(e.peer));
    return [...ids];
  }

  /** Peer ids of the neighbours (the active view: the connections this group uses). */
  neighbours(): string[] {
    return this.host.gossip.topicView(this.topic)?.active.map((p) => peerIdToString(p)) ?? [];
  }

  /** Adds members to join through (cards), e.g. after the group split or all neighbours left. */
  addBootstrap(cards: readonly string[]): void {
    if (this.#left) throw new SrmudpError('GROUP_LEFT', `left group ${JSON.stringify(this.name)}`);
    this.host.join(this, cards);
  }

  /** Leaves the group: neighbours are told, connections only this group used are closed. */
  leave(): void {
    if (this.#left) return;
    this.host.leave(this);
    this.end();
  }

  /** @internal */
  deliver(m: GroupMessage): void {
    if (this.#left) return;
    if (this.#hook) {
      try {
        this.#hook(m);
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    } else this.#queue.push(m);
    this.emit('message', m);
  }

  /** @internal */
  end(): void {
    if (this.#left) return;
    this.#left = true;
    this.#queue.end();
    this.emit('left');
  }
}

/**
 * One per node, created at its first group(): the node's `Gossip` (shared by all its groups)
 * and its glue, run by the driver as a {@link DrivenMachine}.
 */
export class GroupHost implements DrivenMachine {
  readonly gossip: Gossip;
  readonly #groups = new Map<string, Group>();
  /** the connection gossip counts as up, per peer */
  readonly #up = new Map<string, Connection>();
  readonly #dialing = new Set<string>();
  readonly #fetches = new Map<number, string>();
  readonly #served = new Map<string, { at: number; count: number }>();
  /** connections whose 'close' we listen to */
  readonly #watched = new WeakSet<Connection>();
  readonly #dialTimeoutMs: number;
  readonly #connectVia: ConnectVia | null;
  /**
   * Connections kept open only because a relayed neighbour's circuit runs through them (gossip
   * no longer needs them itself, or we dialled them to reach an introducer), by peer hex.
   */
  readonly #hops = new Map<string, Connection>();
  #closed = false;
  /** transmits for a peer without a connection (it closed under us) */
  unroutable = 0;
  /** neighbours reached through their introducer after the direct dial failed / attempts that failed */
  relayedNeighbours = 0;
  relayFailures = 0;

  constructor(
    private readonly node: GroupNode,
    opts: GroupOptions,
  ) {
    this.#dialTimeoutMs = opts.dialTimeoutMs ?? opts.gossip?.neighbourTimeoutMs ?? 10_000;
    this.#connectVia = opts.connectVia ?? null;
    const now = node.driver.clock();
    this.gossip = new Gossip({
      identity: node.identity,
      random: (n) => new Uint8Array(randomBytes(n)),
      record: this.#record(),
      wallClockOffsetMs: Date.now() - now,
      // every member checks every message's signature once: OpenSSL's check, same answers as
      // the portable default (@noble/curves), ~10x less CPU (the group's main cost per message)
      verify: nodeVerifySignature,
      ...(opts.gossip ? { options: opts.gossip } : {}),
    });
    // a new public mapping or interface: neighbours pass on our current card
    node.on('nat', (e) => {
      if (e.type === 'candidates' && !this.#closed) this.gossip.setRecord(this.#record());
    });
    node.driver.attach(this);
  }

  #record(): Uint8Array {
    const bytes = encoder.encode(this.node.contactCard({ candidates: true }));
    if (bytes.length > MAX_RECORD) {
      throw new SrmudpError(
        'INVALID_OPTIONS',
        `contact card of ${bytes.length} bytes: gossip carries at most ${MAX_RECORD}`,
      );
    }
    return bytes;
  }

  group(name: string, opts: GroupOptions): Group {
    if (typeof name !== 'string' || name.length === 0 || name.length > 1024) {
      throw new TypeError('"name" expected a non-empty string (at most 1024 characters)');
    }
    const cards = opts.bootstrap ?? [];
    if (!Array.isArray(cards)) throw new TypeError('"bootstrap" expected an array of contact cards');
    const bootstrap = cards.map((c) => this.#peerInfo(c));
    let g = this.#groups.get(name);
    if (!g) {
      g = new Group(name, this);
      this.#groups.set(name, g);
    }
    this.gossip.joinTopic(this.node.driver.clock(), g.topic, bootstrap);
    this.node.driver.schedule();
    return g;
  }

  /** A bootstrap card as gossip's `{ peer, record }` (the record is the card's text). */
  #peerInfo(card: string): { peer: Uint8Array; record: Uint8Array } {
    const parsed = parseCard(card); // SrmudpError INVALID_CARD with what is wrong
    if (keyHex(parsed.peerId) === keyHex(this.node.identity.publicKey)) {
      throw new SrmudpError('OWN_CARD', "a bootstrap card is this node's own");
    }
    const record = encoder.encode(card.replace(/\s+/g, ''));
    if (record.length > MAX_RECORD)
      throw new SrmudpError('INVALID_CARD', `card longer than ${MAX_RECORD} bytes`);
    return { peer: parsed.peerId, record };
  }

  join(g: Group, cards: readonly string[]): void {
    this.gossip.joinTopic(
      this.node.driver.clock(),
      g.topic,
      cards.map((c) => this.#peerInfo(c)),
    );
    this.node.driver.schedule();
  }

  broadcast(g: Group, data: Uint8Array): string {
    if (this.#closed) throw new SrmudpError('NODE_CLOSED', 'the node is closed');
    const id = this.gossip.broadcast(this.node.driver.clock(), g.topic, data);
    this.node.driver.schedule();
    return keyHex(id);
  }

  leave(g: Group): void {
    this.#groups.delete(g.name);
    if (!this.#closed) this.gossip.leaveTopic(this.node.driver.clock(), g.topic);
    this.node.driver.schedule();
  }

  /** Whether incoming connections should be accepted for gossip (some group is open). */
  get accepting(): boolean {
    return !this.#closed && this.#groups.size > 0;
  }

  stats(): GossipStats & {
    unroutable: number;
    relayedNeighbours: number;
    relayFailures: number;
    hops: number;
  } {
    return {
      ...this.gossip.stats(),
      unroutable: this.unroutable,
      relayedNeighbours: this.relayedNeighbours,
      relayFailures: this.relayFailures,
      hops: this.#hops.size,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.gossip.close(this.node.driver.clock());
    this.flush(this.node.driver.clock());
    this.#closed = true;
    for (const g of this.#groups.values()) g.end();
    this.#groups.clear();
  }

  // ---------------------------------------------------------------- DrivenMachine

  pollTimeout(): number | null {
    return this.#closed ? null : this.gossip.pollTimeout();
  }

  handleTimeout(now: number): void {
    if (!this.#closed) this.gossip.handleTimeout(now);
  }

  flush(now: number): boolean {
    if (this.#closed) return false;
    let moved = false;
    for (let busy = true; busy; ) {
      busy = false;
      for (let t = this.gossip.pollTransmit(); t !== null; t = this.gossip.pollTransmit()) {
        busy = true;
        const c = this.#up.get(keyHex(t.to));
        if (c && !c.isClosed) c.sendInternal(CHANNEL.gossip, t.bytes);
        else this.unroutable++;
      }
      for (let e = this.gossip.pollEvent(); e !== null; e = this.gossip.pollEvent()) {
        busy = true;
        this.#onEvent(now, e);
        if (this.#closed) return true;
      }
      if (busy) moved = true;
    }
    return moved;
  }

  // ---------------------------------------------------------------- from the connections

  /** A façade message on a connection (channels.ts). */
  onInternal(conn: Connection, channel: number, body: Uint8Array): void {
    if (this.#closed) return;
    const now = this.node.driver.clock();
    switch (channel) {
      case CHANNEL.gossip:
        // an incoming connection becomes a neighbour when its first frame arrives (a JOIN or
        // NEIGHBOR; gossip refuses it when over budget, or banned)
        this.#markUp(now, conn);
        this.gossip.handleMessage(now, conn.remoteKey, body);
        break;
      case CHANNEL.blobRequest:
        this.#serveBlob(now, conn, body);
        break;
      case CHANNEL.blobReply:
        this.#blobReply(now, conn, body);
        break;
      default:
      // a channel of a newer version: ignored
    }
    this.node.driver.schedule();
  }

  #markUp(now: number, conn: Connection): void {
    const hex = keyHex(conn.remoteKey);
    const current = this.#up.get(hex);
    if (current === conn) return;
    if (current && !current.isClosed) return; // a second connection to the same peer: keep the first
    this.#up.set(hex, conn);
    this.#hops.delete(hex); // a neighbour again: gossip owns it
    // a relayed neighbour that moves to a direct path no longer needs its hop
    if (conn.path?.kind === 'relayed') conn.once('path', () => this.#releaseHops());
    const s = conn.stats();
    this.gossip.neighbourUp(now, conn.remoteKey, s.rttMeasured ? { rttMs: s.rttMs } : {});
    if (this.#watched.has(conn)) return;
    this.#watched.add(conn);
    conn.once('close', () => {
      if (this.#up.get(hex) !== conn) return;
      this.#up.delete(hex);
      this.#served.delete(hex);
      if (this.#closed) return;
      this.#releaseHops();
      const t = this.node.driver.clock();
      for (const [id, peer] of this.#fetches) {
        if (peer === hex) {
          this.#fetches.delete(id);
          this.gossip.handleFetchResult(t, id, null);
        }
      }
      this.gossip.neighbourDown(t, conn.remoteKey);
      this.node.driver.schedule();
    });
  }

  // ---------------------------------------------------------------- gossip's events

  #onEvent(now: number, e: GossipEvent): void {
    switch (e.type) {
      case 'delivered': {
        const g = this.#groupOf(e.topic);
        g?.deliver({
          from: peerIdToString(e.origin),
          data: e.data,
          id: keyHex(e.id),
          hops: e.hops,
          sentAt: e.issuedAt,
          timestamp: Date.now(),
        });
        return;
      }
      case 'neighbour_wanted':
        this.#want(now, e.peer, e.record, e.introducer);
        return;
      case 'neighbour_dropped': {
        const hex = keyHex(e.peer);
        const c = this.#up.get(hex) ?? this.node.liveConnection(hex);
        log(`neighbour ${short(peerIdToString(e.peer))} dropped: ${e.cause}`);
        if (c && !c.isClosed && e.cause !== 'penalised' && this.#isHop(hex)) {
          // a relayed neighbour's circuit runs through it: it stays, as a hop only
          if (this.#up.get(hex) === c) this.#up.delete(hex);
          this.#keepHop(hex, c);
        } else if (c && !c.isClosed && !this.node.isNamedKey(hex)) {
          // gracefully: the frames queued for it (a DISCONNECT, a NEIGHBOR_REPLY) go first
          void c.close(0, `gossip: ${e.cause}`);
        } else if (this.#up.get(hex) === c) {
          // a named peer's connection stays; gossip counts it as down until frames come again
          this.#up.delete(hex);
        }
        return;
      }
      case 'penalised': {
        const ev = { peer: peerIdToString(e.peer), reason: e.reason as PenaltyReason, detail: e.detail };
        log(`penalised ${short(ev.peer)}: ${ev.reason} (${ev.detail})`);
        for (const g of this.#groups.values()) g.emit('penalised', ev);
        return;
      }
      case 'fetch': {
        const c = this.#up.get(keyHex(e.peer));
        if (!c || c.isClosed) {
          this.gossip.handleFetchResult(now, e.requestId, null);
          return;
        }
        const body = new Uint8Array(36);
        new DataView(body.buffer).setUint32(0, e.requestId);
        body.set(e.hash, 4);
        this.#fetches.set(e.requestId, keyHex(e.peer));
        c.sendInternal(CHANNEL.blobRequest, body);
        return;
      }
      case 'view_changed': {
        const g = this.#groupOf(e.topic);
        g?.emit('neighbour', { peer: peerIdToString(e.peer), added: e.added });
        return;
      }
    }
  }

  #groupOf(topic: Uint8Array): Group | undefined {
    const hex = keyHex(topic);
    for (const g of this.#groups.values()) if (keyHex(g.topic) === hex) return g;
    return undefined;
  }

  /**
   * Opens a connection to a peer gossip wants as a neighbour: an existing one at once; else the
   * card its passive entry carries (checked: it must parse, its embedded record's signature
   * verify, and name that peer), and if that fails, through its introducer (`connectVia`).
   */
  #want(now: number, peer: Uint8Array, record: Uint8Array, introducer: Uint8Array | null): void {
    const hex = keyHex(peer);
    const live = this.#up.get(hex) ?? this.node.liveConnection(hex);
    if (live && !live.isClosed) {
      this.#up.delete(hex);
      this.#markUp(now, live);
      return;
    }
    if (this.#dialing.has(hex)) return;
    let card: string;
    try {
      card = decoder.decode(record);
      if (keyHex(parseCard(card).peerId) !== hex) throw new Error('card of another peer');
    } catch {
      this.gossip.neighbourDown(now, peer);
      return;
    }
    this.#dialing.add(hex);
    void this.#dial(hex, peer, card, introducer).finally(() => {
      this.#dialing.delete(hex);
      this.#releaseHops();
      this.node.driver.schedule();
    });
  }

  async #dial(hex: string, peer: Uint8Array, card: string, introducer: Uint8Array | null): Promise<void> {
    const deadline = this.node.driver.clock() + this.#dialTimeoutMs;
    // an introducer that serves as a relay for us already: the dialer asks it (and every other
    // such peer, with our voucher) itself when the direct dial is hopeless or fails
    const asked = introducer !== null && this.#connectVia === null && this.#servesRelay(introducer);
    let conn: Connection | null = null;
    try {
      conn = await this.node.connect(card, { timeout: this.#dialTimeoutMs });
    } catch (e) {
      if (asked) this.relayFailures++;
      const code = e instanceof SrmudpError ? e.code : String(e);
      log(`dial ${short(peerIdToString(peer))} failed: ${code}`);
      // "everyone is connected to someone": a neighbour that cannot be punched is reached
      // through the member that introduced it (issue 18)
      if (
        introducer !== null &&
        !asked &&
        !this.#closed &&
        !NOT_RELAYABLE.has(code) &&
        keyHex(introducer) !== hex
      ) {
        conn = await this.#viaIntroducer(peer, card, introducer, deadline);
      }
    }
    if (this.#closed) return;
    const now = this.node.driver.clock();
    if (conn === null || conn.isClosed || keyHex(conn.remoteKey) !== hex) {
      this.gossip.neighbourDown(now, peer);
      return;
    }
    if (conn.path?.kind === 'relayed') {
      this.relayedNeighbours++;
      log(`neighbour ${short(peerIdToString(peer))} relayed via ${short(peerIdToString(conn.path.via))}`);
    }
    this.#markUp(now, conn);
  }

  /**
   * Connect via: `peer`'s direct dial failed; ask `introducer` (the member whose forward-join,
   * shuffle or reply carried `peer`'s record) to relay. Not connected to it yet: dial it first,
   * by the record our passive view holds for it. Then dial `peer` again: the dialer goes through
   * the peers that serve as relays for us (the introducer among them), each asked with a voucher
   * signed by us (relay-fallback.ts `relaysFor`). The introducer connection is kept while the circuit
   * runs through it (`#hops`). Everything within the neighbour's dial deadline; null on failure.
   */
  async #viaIntroducer(
    peer: Uint8Array,
    card: string,
    introducer: Uint8Array,
    deadline: number,
  ): Promise<Connection | null> {
    const ihex = keyHex(introducer);
    const left = () => deadline - this.node.driver.clock();
    try {
      if (this.#connectVia !== null) {
        return await this.#connectVia(peerIdToString(peer), peerIdToString(introducer));
      }
      let hop = this.node.liveConnection(ihex) ?? null;
      if (hop === null) {
        const record = this.#passiveRecord(ihex);
        if (record === null || left() < 1000) throw new Error('introducer not connected and unknown');
        hop = await this.node.connect(record, {
          timeout: Math.max(1000, Math.floor(left() * INTRODUCER_DIAL_SHARE)),
        });
        if (this.#closed) return null;
        if (!this.#up.has(ihex)) this.#keepHop(ihex, hop);
      }
      // the introducer greets us as a relay right after the handshake (if it serves connect-via)
      for (let i = 0; i < 20 && !this.#servesRelay(introducer) && left() > 1000 && !hop.isClosed; i++) {
        await this.node.driver.sleep(50);
      }
      if (!this.#servesRelay(introducer)) throw new Error('introducer does not relay (relay.connectVia off)');
      if (left() < 500) throw new Error('no time left');
      return await this.node.connect(card, { timeout: Math.floor(left()) });
    } catch (e) {
      this.relayFailures++;
      log(
        `connect via ${short(peerIdToString(introducer))} to ${short(peerIdToString(peer))} failed: ${e instanceof SrmudpError ? e.code : String(e)}`,
      );
      this.#releaseHops();
      return null;
    }
  }

  #servesRelay(key: Uint8Array): boolean {
    const hex = keyHex(key);
    return this.node.driver.endpoint.relays().some((k) => keyHex(k) === hex);
  }

  /** The card our passive view holds for `hex` (in any topic), if any. */
  #passiveRecord(hex: string): string | null {
    for (const topic of this.gossip.topics()) {
      for (const e of this.gossip.topicView(topic)?.passive ?? []) {
        if (keyHex(e.peer) !== hex) continue;
        try {
          const card = decoder.decode(e.record);
          if (keyHex(parseCard(card).peerId) === hex) return card;
        } catch {
          // a record that is not a card of that peer: not dialled
        }
      }
    }
    return null;
  }

  /** Whether a relayed neighbour's circuit runs through the connection to `hex`. */
  #isHop(hex: string): boolean {
    for (const c of this.#up.values()) {
      const p = c.path;
      if (!c.isClosed && p?.kind === 'relayed' && keyHex(p.via) === hex) return true;
    }
    return false;
  }

  #keepHop(hex: string, c: Connection): void {
    if (this.#hops.get(hex) === c) return;
    this.#hops.set(hex, c);
    c.once('close', () => {
      if (this.#hops.get(hex) === c) this.#hops.delete(hex);
    });
  }

  /** Closes the kept hops no relayed neighbour goes through any more (bounded: ≤ the neighbours). */
  #releaseHops(): void {
    if (this.#closed) return;
    for (const [hex, c] of this.#hops) {
      if (this.#up.has(hex) || this.#isHop(hex) || this.#dialing.size > 0) continue;
      this.#hops.delete(hex);
      if (!c.isClosed && !this.node.isNamedKey(hex)) void c.close(0, 'gossip: hop unneeded');
    }
  }

  #serveBlob(now: number, conn: Connection, body: Uint8Array): void {
    if (body.length !== 36) return;
    const hex = keyHex(conn.remoteKey);
    // only neighbours fetch, and at most a few requests a second each
    if (this.#up.get(hex) !== conn) return;
    const sec = Math.floor(now / 1000);
    const w = this.#served.get(hex);
    if (w && w.at === sec && w.count >= BLOB_REQUESTS_PER_SECOND) return;
    if (w && w.at === sec) w.count++;
    else this.#served.set(hex, { at: sec, count: 1 });
    const data = this.gossip.blob(now, body.subarray(4));
    const reply = new Uint8Array(5 + (data?.length ?? 0));
    reply.set(body.subarray(0, 4));
    reply[4] = data ? 1 : 0;
    if (data) reply.set(data, 5);
    conn.sendInternal(CHANNEL.blobReply, reply);
  }

  #blobReply(now: number, conn: Connection, body: Uint8Array): void {
    if (body.length < 5) return;
    const id = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
    // only the peer we asked can answer
    if (this.#fetches.get(id) !== keyHex(conn.remoteKey)) return;
    this.#fetches.delete(id);
    this.gossip.handleFetchResult(now, id, body[4] === 1 ? body.slice(5) : null);
  }
}
