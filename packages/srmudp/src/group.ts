// Groups: @srmudp/gossip (HyParView + Plumtree) driven by the node's one loop. The gossip
// machine is sans-IO; this file is its host: it dials neighbours by the cards their passive
// entries carry, moves frames over the connections' façade channel (channels.ts), serves and
// fetches blobs, and turns deliveries into each group's messages.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Identity, peerIdToString } from '@srmudp/crypto';
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
 * Reaches `peer` through `introducer` (a member connected to both) when a direct dial failed: the
 * hook for relayed paths (connect via, issue 17). Resolve with the connection or reject.
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
  /** see {@link ConnectVia}; without it a neighbour that cannot be dialled is given up */
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
  };
  connect(card: string, opts: { timeout?: number }): Promise<Connection>;
  liveConnection(hex: string): Connection | undefined;
  /** our card with our current candidates embedded (the record neighbours pass on) */
  contactCard(opts: { candidates: boolean }): string;
  /** whether the application named this peer (its connection is not gossip's to close) */
  isNamedKey(hex: string): boolean;
  on(event: 'nat', fn: (e: { type: string }) => void): unknown;
}

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
  #closed = false;
  /** transmits for a peer without a connection (it closed under us) */
  unroutable = 0;

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

  stats(): GossipStats & { unroutable: number } {
    return { ...this.gossip.stats(), unroutable: this.unroutable };
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
    const s = conn.stats();
    this.gossip.neighbourUp(now, conn.remoteKey, s.rttMeasured ? { rttMs: s.rttMs } : {});
    if (this.#watched.has(conn)) return;
    this.#watched.add(conn);
    conn.once('close', () => {
      if (this.#up.get(hex) !== conn) return;
      this.#up.delete(hex);
      this.#served.delete(hex);
      if (this.#closed) return;
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
        if (c && !c.isClosed && !this.node.isNamedKey(hex)) {
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
      this.node.driver.schedule();
    });
  }

  async #dial(hex: string, peer: Uint8Array, card: string, introducer: Uint8Array | null): Promise<void> {
    let conn: Connection | null = null;
    try {
      conn = await this.node.connect(card, { timeout: this.#dialTimeoutMs });
    } catch (e) {
      log(`dial ${short(peerIdToString(peer))} failed: ${e instanceof SrmudpError ? e.code : String(e)}`);
      // RELAYED PATHS (issue 17): a neighbour that cannot be punched is reached through the
      // member that introduced it. The relay round plugs its connect-via in here.
      if (introducer !== null && this.#connectVia !== null && !this.#closed) {
        try {
          conn = await this.#connectVia(peerIdToString(peer), peerIdToString(introducer));
        } catch {
          conn = null;
        }
      }
    }
    if (this.#closed) return;
    const now = this.node.driver.clock();
    if (conn === null || conn.isClosed || keyHex(conn.remoteKey) !== hex) {
      this.gossip.neighbourDown(now, peer);
      return;
    }
    this.#markUp(now, conn);
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
