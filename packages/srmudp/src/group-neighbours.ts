// Group membership on the node's connections: which connection gossip counts as up for each
// neighbour, dialling the neighbours gossip wants (by the card their passive entry carries, else
// through the member that introduced them), and the hops kept open while a relayed neighbour's
// circuit runs through them. group.ts routes gossip's events here; group-wire.ts moves the bytes.
import { type Identity, peerIdToString } from '@srmudp/crypto';
import type { Gossip } from '@srmudp/gossip';
import { parseCard } from '@srmudp/rendezvous';
import { equalBytes, keyToHex, SrmudpError, toHex } from '@srmudp/wire';
import { type Connection, onRelayedPath } from './connection.js';
import type { DrivenMachine } from './driver.js';
import { logger, short } from './log.js';

const log = logger('srmudp:group');

/**
 * Reaches `peer` through `introducer` (a member that passed its record on, and so most likely
 * connected to it) when a direct dial failed. Resolve with the connection or reject. The default
 * (no `connectVia` option) is connect via: see `Neighbours`'s `#viaIntroducer` (group-neighbours.ts).
 */
export type ConnectVia = (peer: string, introducer: string) => Promise<Connection>;

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

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The neighbour table of a node's gossip (shared by all its groups): the connection gossip counts
 * as up per peer, the dials under way, and the hops (connections kept for a relayed neighbour).
 * `lost` is told when a neighbour's connection closes (before gossip hears it is down).
 */
export class Neighbours {
  /** the connection gossip counts as up, per peer */
  readonly #up = new Map<string, Connection>();
  readonly #dialing = new Set<string>();
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
  /** neighbours reached through their introducer after the direct dial failed / attempts that failed */
  relayedNeighbours = 0;
  relayFailures = 0;

  constructor(
    private readonly node: GroupNode,
    private readonly gossip: Gossip,
    opts: { dialTimeoutMs: number; connectVia: ConnectVia | null },
    private readonly lost: (now: number, hex: string) => void,
  ) {
    this.#dialTimeoutMs = opts.dialTimeoutMs;
    this.#connectVia = opts.connectVia;
  }

  /** The open connection gossip counts as up for `hex`, if any. */
  connection(hex: string): Connection | undefined {
    const c = this.#up.get(hex);
    return c && !c.isClosed ? c : undefined;
  }

  /** Whether `conn` is the connection gossip counts as up for its peer. */
  isNeighbour(conn: Connection): boolean {
    return this.#up.get(keyToHex(conn.remoteKey)) === conn;
  }

  get hops(): number {
    return this.#hops.size;
  }

  /** No more dials, hop releases or neighbour-down reports (the node's gossip closed). */
  close(): void {
    this.#closed = true;
  }

  markUp(now: number, conn: Connection): void {
    const hex = keyToHex(conn.remoteKey);
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
      if (this.#closed) return;
      this.#releaseHops();
      const t = this.node.driver.clock();
      this.lost(t, hex);
      this.gossip.neighbourDown(t, conn.remoteKey);
      this.node.driver.schedule();
    });
  }

  /** Gossip dropped `peer` from its active view. */
  dropped(peer: Uint8Array, cause: string): void {
    const hex = toHex(peer);
    const c = this.#up.get(hex) ?? this.node.liveConnection(hex);
    log(`neighbour ${short(peerIdToString(peer))} dropped: ${cause}`);
    if (c && !c.isClosed && cause !== 'penalised' && this.#isHop(peer)) {
      // a relayed neighbour's circuit runs through it: it stays, as a hop only
      if (this.#up.get(hex) === c) this.#up.delete(hex);
      this.#keepHop(hex, c);
    } else if (c && !c.isClosed && !this.node.isNamedKey(hex)) {
      // gracefully: the frames queued for it (a DISCONNECT, a NEIGHBOR_REPLY) go first
      void c.close(0, `gossip: ${cause}`);
    } else if (this.#up.get(hex) === c) {
      // a named peer's connection stays; gossip counts it as down until frames come again
      this.#up.delete(hex);
    }
  }

  /**
   * Opens a connection to a peer gossip wants as a neighbour: an existing one at once; else the
   * card its passive entry carries (checked: it must parse, its embedded record's signature
   * verify, and name that peer), and if that fails, through its introducer (`connectVia`).
   */
  want(now: number, peer: Uint8Array, record: Uint8Array, introducer: Uint8Array | null): void {
    const hex = toHex(peer);
    const live = this.#up.get(hex) ?? this.node.liveConnection(hex);
    if (live && !live.isClosed) {
      this.#up.delete(hex);
      this.markUp(now, live);
      return;
    }
    if (this.#dialing.has(hex)) return;
    let card: string;
    try {
      card = decoder.decode(record);
      if (toHex(parseCard(card).peerId) !== hex) throw new Error('card of another peer');
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
        toHex(introducer) !== hex
      ) {
        conn = await this.#viaIntroducer(peer, card, introducer, deadline);
      }
    }
    if (this.#closed) return;
    const now = this.node.driver.clock();
    if (conn === null || conn.isClosed || keyToHex(conn.remoteKey) !== hex) {
      this.gossip.neighbourDown(now, peer);
      return;
    }
    if (conn.path?.kind === 'relayed') {
      this.relayedNeighbours++;
      log(`neighbour ${short(peerIdToString(peer))} relayed via ${short(peerIdToString(conn.path.via))}`);
    }
    this.markUp(now, conn);
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
    const ihex = toHex(introducer);
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
    return this.node.driver.endpoint.relays().some((k) => equalBytes(k, key));
  }

  /** The card our passive view holds for `hex` (in any topic), if any. */
  #passiveRecord(hex: string): string | null {
    for (const topic of this.gossip.topics()) {
      for (const e of this.gossip.topicView(topic)?.passive ?? []) {
        if (toHex(e.peer) !== hex) continue;
        try {
          const card = decoder.decode(e.record);
          if (toHex(parseCard(card).peerId) === hex) return card;
        } catch {
          // a record that is not a card of that peer: not dialled
        }
      }
    }
    return null;
  }

  /** Whether a relayed neighbour's circuit runs through the connection to `key`. */
  #isHop(key: Uint8Array): boolean {
    for (const c of this.#up.values()) if (onRelayedPath(c, key)) return true;
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
      if (this.#up.has(hex) || this.#isHop(c.remoteKey) || this.#dialing.size > 0) continue;
      this.#hops.delete(hex);
      if (!c.isClosed && !this.node.isNamedKey(hex)) void c.close(0, 'gossip: hop unneeded');
    }
  }
}
