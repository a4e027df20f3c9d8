// Groups: @srmudp/gossip (HyParView + Plumtree) driven by the node's one loop. The gossip
// machine is sans-IO; this file is its host for broadcasts: the public Group, gossip's transmits
// over the connections' façade channel (channels.ts), and its events routed to their owner (each
// group's messages here, neighbours to group-neighbours.ts, blob fetches to group-wire.ts).
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { peerIdToString } from '@srmudp/crypto';
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
import { equalBytes, MAX_UNREAD_MESSAGES, SrmudpError, toHex, unreadMessageBytes } from '@srmudp/wire';
import { AsyncQueue } from './async-queue.js';
import { CHANNEL } from './channels.js';
import type { Connection } from './connection.js';
import type { DrivenMachine } from './driver.js';
import { type ConnectVia, type GroupNode, Neighbours } from './group-neighbours.js';
import { BlobExchange } from './group-wire.js';
import { logger, short } from './log.js';

export type { ConnectVia, GroupNode } from './group-neighbours.js';

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

const MAX_RECORD = 4096;

const encoder = new TextEncoder();

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
  /** bounded in count and in bytes (wire's BoundedFifo): the oldest unread go first */
  readonly #queue = new AsyncQueue(
    MAX_UNREAD_MESSAGES,
    unreadMessageBytes((m: GroupMessage) => m.data),
  );
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

  /** Messages dropped unread from messages(): the oldest, while it held 65,536 or 64 MiB. */
  get messagesDropped(): number {
    return this.#queue.dropped;
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
  readonly #neighbours: Neighbours;
  readonly #blobs: BlobExchange;
  #closed = false;
  /** transmits for a peer without a connection (it closed under us) */
  unroutable = 0;

  constructor(
    private readonly node: GroupNode,
    opts: GroupOptions,
  ) {
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
    this.#blobs = new BlobExchange(this.gossip);
    this.#neighbours = new Neighbours(
      node,
      this.gossip,
      {
        dialTimeoutMs: opts.dialTimeoutMs ?? opts.gossip?.neighbourTimeoutMs ?? 10_000,
        connectVia: opts.connectVia ?? null,
      },
      (t, hex) => this.#blobs.lost(t, hex),
    );
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
    if (equalBytes(parsed.peerId, this.node.identity.publicKey)) {
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
    return toHex(id);
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
      relayedNeighbours: this.#neighbours.relayedNeighbours,
      relayFailures: this.#neighbours.relayFailures,
      hops: this.#neighbours.hops,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.gossip.close(this.node.driver.clock());
    this.flush(this.node.driver.clock());
    this.#closed = true;
    this.#neighbours.close();
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
        const c = this.#neighbours.connection(toHex(t.to));
        if (c) c.sendInternal(CHANNEL.gossip, t.bytes);
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
        this.#neighbours.markUp(now, conn);
        this.gossip.handleMessage(now, conn.remoteKey, body);
        break;
      case CHANNEL.blobRequest:
        // only neighbours fetch
        if (this.#neighbours.isNeighbour(conn)) this.#blobs.serve(now, conn, body);
        break;
      case CHANNEL.blobReply:
        this.#blobs.reply(now, conn, body);
        break;
      default:
      // a channel of a newer version: ignored
    }
    this.node.driver.schedule();
  }

  // ---------------------------------------------------------------- gossip's events

  #onEvent(now: number, e: GossipEvent): void {
    switch (e.type) {
      case 'delivered': {
        const g = this.#groupOf(e.topic);
        g?.deliver({
          from: peerIdToString(e.origin),
          data: e.data,
          id: toHex(e.id),
          hops: e.hops,
          sentAt: e.issuedAt,
          timestamp: Date.now(),
        });
        return;
      }
      case 'neighbour_wanted':
        this.#neighbours.want(now, e.peer, e.record, e.introducer);
        return;
      case 'neighbour_dropped':
        this.#neighbours.dropped(e.peer, e.cause);
        return;
      case 'penalised': {
        const ev = { peer: peerIdToString(e.peer), reason: e.reason as PenaltyReason, detail: e.detail };
        log(`penalised ${short(ev.peer)}: ${ev.reason} (${ev.detail})`);
        for (const g of this.#groups.values()) g.emit('penalised', ev);
        return;
      }
      case 'fetch':
        this.#blobs.request(now, this.#neighbours.connection(toHex(e.peer)), e.requestId, e.hash);
        return;
      case 'view_changed': {
        const g = this.#groupOf(e.topic);
        g?.emit('neighbour', { peer: peerIdToString(e.peer), added: e.added });
        return;
      }
    }
  }

  #groupOf(topic: Uint8Array): Group | undefined {
    for (const g of this.#groups.values()) if (equalBytes(g.topic, topic)) return g;
    return undefined;
  }
}
