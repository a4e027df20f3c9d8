// Why ~470 lines: Chat holds one concern, a member's membership (join, leave, hellos,
// introductions, mesh or gossip group), whose parts share the peers' state; the roster, the typed
// lines and commands, the /peers table and the wire format are their own files.
import { randomBytes } from 'node:crypto';
import { parseCard } from '@srmudp/rendezvous';
import { httpBackend } from '@srmudp/rendezvous-http';
import type { Connection } from '../../connection.js';
import { createNode } from '../../create-node.js';
import type { Group, GroupMessage } from '../../group.js';
import type { PeerEvent, SrmudpNode } from '../../node.js';
import { CARD_GATHER_WAIT_MS } from '../common.js';
import { formatPath, formatRtt } from '../format.js';
import { style as makeStyle, type Style } from '../style.js';
import { ChatInput, notACard } from './input.js';
import { type IntroductionPolicy, Introductions, MAX_PENDING, PER_HELLO } from './introductions.js';
import { peersTable } from './peers-table.js';
import { label, type Peer, Roster } from './roster.js';

import { cleanNick, cleanText, decodeChat, encodeChat, MAX_TEXT } from './wire.js';

export interface ChatOptions {
  nick: string;
  /** key file path (created 0600 when missing); omitted: ephemeral */
  identity?: string;
  host?: string;
  port?: number;
  /** a peer that sends nothing for this long is gone (default 15 s; keepalives every third of it) */
  idleTimeoutMs?: number;
  /** where lines for the user go */
  out: (line: string) => void;
  /** called with the cards of every joined peer whenever that set grows or shrinks (to save it) */
  onPeersChanged?: (cards: string[]) => void;
  /** which introductions (cards in other members' hellos) to follow; see introductions.ts. Default 'auto' */
  introductions?: IntroductionPolicy;
  /**
   * Origin of an HTTP rendezvous server (srmudp-rendezvous-http): the node publishes its record
   * there and its card carries that locator instead of its addresses, so the card stays the same
   * across restarts with the same identity.
   */
  rendezvous?: string;
  /** STUN servers ('host:port') for NAT traversal */
  stunServers?: string[];
  /** colours of the lines (default: none) */
  style?: Style;
  /** members known above which lines go through the gossip group (default {@link GOSSIP_ABOVE}) */
  gossipAbove?: number;
}

/**
 * Up to this many members the chat is a full mesh (n − 1 connections each, one hop); above it,
 * lines go through a gossip group (`node.group`), where each member holds at most 7 connections
 * (gossip's active view 5 + 2). At 8 members the mesh holds 7 connections, the same as gossip's
 * cap, and delivers in one hop: below that, gossip saves nothing; above it, the mesh's
 * connections (keepalives, punches, buffers) grow with the group while gossip's do not.
 */
export const GOSSIP_ABOVE = 8;
/** The gossip group of chat members (one per chat: whoever is joined through cards). */
export const CHAT_GROUP = 'srmudp-chat/1';
/** line ids remembered to drop the second copy (mesh and gossip) */
const SEEN_IDS = 4096;

/** The app tag of chat cards. */
export const CHAT_APP = 'srmudp-chat/1';

/** A group chat member: one srmudp node, peers by peer id, nicknames learned in-band. */
export class Chat {
  private readonly peers = new Roster();
  private readonly typed: ChatInput;
  /** connections whose hello has been handled: only the first one introduces anyone */
  private readonly greeted = new WeakSet<Connection>();
  readonly introductions: Introductions;
  private closed = false;
  /** the last dial problem told per peer id, so a peer that stays offline is told once per reason */
  private readonly told = new Map<string, string>();
  /**
   * The gossip group. Every chat is in it from the start, waiting to be joined (so a member that
   * switches can join through any peer); it talks through it (`large`) once above `gossipAbove`
   * members, or when a peer's hello says it does.
   */
  private readonly group: Group;
  private large = false;
  /** ids of lines shown (a line can come over a direct connection and through the group) */
  private readonly seen = new Set<string>();
  private readonly gossipAbove: number;

  private constructor(
    readonly node: SrmudpNode,
    readonly nick: string,
    private readonly out: (line: string) => void,
    private readonly onPeersChanged: ((cards: string[]) => void) | undefined,
    policy: IntroductionPolicy,
    readonly style: Style,
    gossipAbove: number,
  ) {
    this.gossipAbove = gossipAbove;
    this.introductions = new Introductions(policy);
    this.typed = new ChatInput(this, out);
    node.on('connection', (conn: Connection) => this.onConnection(conn));
    node.on('peer', (e: PeerEvent) => this.onPeerEvent(e));
    node.onMessage((m) => this.onMessage(m.peer, m.data));
    this.group = node.group(CHAT_GROUP);
    this.group.onMessage((m) => this.onGroupMessage(m));
  }

  /** Says what a dial is doing while it does it, and why it failed (once per reason). */
  private onPeerEvent(e: PeerEvent): void {
    if (this.closed) return;
    const p = this.peers.get(e.name);
    if (!p) return;
    if (e.state === 'connecting') {
      if (this.told.get(p.peerId) === undefined) {
        this.told.set(p.peerId, 'connecting');
        this.out(
          this.style.dim(
            `*** connecting to ${label(p)} (${e.addresses ?? 0} address${e.addresses === 1 ? '' : 'es'})...`,
          ),
        );
      }
      return;
    }
    if (e.state === 'established') {
      this.told.delete(p.peerId);
      return;
    }
    if (e.state === 'reconnecting' && e.error && p.conn === null) {
      const key = e.error.code;
      if (this.told.get(p.peerId) === key) return;
      this.told.set(p.peerId, key);
      const retry = e.retryInMs !== undefined ? `; trying again in ${formatRtt(e.retryInMs)}` : '';
      this.out(
        this.style.yellow(`*** cannot reach ${label(p)}: ${e.error.code} (${e.error.message})${retry}`),
      );
    }
  }

  static async start(opts: ChatOptions): Promise<Chat> {
    const idle = opts.idleTimeoutMs ?? 15_000;
    const node = await createNode({
      ...(opts.identity !== undefined ? { identity: opts.identity } : {}),
      host: opts.host ?? '0.0.0.0',
      port: opts.port ?? 0,
      idleTimeoutMs: idle,
      keepaliveMs: Math.max(100, Math.floor(idle / 3)),
      reconnectDelayMs: 500,
      // every member may introduce two others who cannot punch: it relays between its peers
      relay: { connectVia: true },
      ...(opts.stunServers !== undefined ? { stunServers: opts.stunServers } : {}),
      ...(opts.rendezvous !== undefined ? { rendezvous: [httpBackend({ url: opts.rendezvous })] } : {}),
    });
    // the card we print carries our public NAT mapping: wait for the first gathering (bounded)
    await node.nat.ready({ timeoutMs: CARD_GATHER_WAIT_MS });
    return new Chat(
      node,
      cleanNick(opts.nick),
      opts.out,
      opts.onPeersChanged,
      opts.introductions ?? 'auto',
      opts.style ?? makeStyle({ isTTY: false }, {}),
      opts.gossipAbove ?? GOSSIP_ABOVE,
    );
  }

  card(): string {
    return this.node.contactCard({ name: this.nick, app: CHAT_APP });
  }

  /** Handles one line typed by the user; false once the user asked to quit. */
  input(line: string): Promise<boolean> {
    return this.typed.input(line);
  }

  /** Cards of the joined peers (what a restart needs to find the group again). */
  joinedCards(): string[] {
    return this.peers.joinedCards();
  }

  /** Forgets a peer: no more redials, its connection closed, its incoming connections refused. */
  leave(who: string): void {
    const found = this.peers.find(who);
    if (typeof found === 'string') {
      this.out(`*** ${found}`);
      return;
    }
    if (found.named) this.node.peers.remove([found.peerId]);
    found.named = false;
    this.peers.forget(found);
    this.out(`*** forgot ${label(found)}`);
    this.onPeersChanged?.(this.joinedCards());
  }

  /** Joins introduced peers that wait for the user ('all', a nickname, a peer id prefix); lists them without one. */
  accept(who: string): void {
    if (who.trim() === '') {
      const waiting = this.introductions.pending();
      if (waiting.length === 0) this.out('*** no introductions waiting');
      for (const i of waiting)
        this.out(
          `*** ${i.nick ?? '?'} (${i.peerId.slice(0, 12)}...), introduced by ${i.by}: /accept ${i.nick ?? i.peerId.slice(0, 12)}`,
        );
      return;
    }
    const taken = this.introductions.take(who.trim());
    if (taken.length === 0) this.out(`*** no introduction of ${who.trim()} waiting (/accept lists them)`);
    for (const i of taken) this.join(i.card);
  }

  /** Joins a peer by its contact card; it is redialled whenever the connection is lost. */
  join(card: string, opts: { quiet?: boolean } = {}): void {
    let parsed: ReturnType<typeof parseCard>;
    try {
      parsed = parseCard(card);
    } catch (e) {
      this.out(notACard(e));
      return;
    }
    if (parsed.peerIdText === this.node.peerId) {
      this.out(this.style.yellow('*** that is your own card'));
      return;
    }
    if (parsed.app !== undefined && parsed.app !== CHAT_APP) {
      this.out(
        this.style.yellow(`*** that card is not a chat member's: it is for ${parsed.app} (not joined)`),
      );
      return;
    }
    this.peers.unforget(parsed.peerIdText);
    const p = this.peers.peer(parsed.peerIdText);
    if (p.named) {
      this.out(`*** already joined ${label(p)}${p.conn ? '' : ' (reconnecting)'}`);
      return;
    }
    if (p.nick === null && parsed.name !== undefined) p.nick = cleanNick(parsed.name);
    p.card = card.replace(/\s+/g, '');
    p.joined = true;
    this.introductions.forget(p.peerId);
    this.addNamed(p);
    if (!p.conn && !opts.quiet) this.out(`*** joining ${label(p)}...`);
  }

  say(text: string): void {
    if (text.length > MAX_TEXT) {
      this.out(`*** too long (${text.length} characters, at most ${MAX_TEXT})`);
      return;
    }
    const to = this.peers.online().map((p) => p.peerId);
    const inGroup = this.large && this.group.neighbours().length > 0;
    if (to.length === 0 && !inGroup) {
      this.out('*** nobody is here yet: not sent (/join <card> first)');
      return;
    }
    if (!this.large) {
      this.node.send(encodeChat({ t: 'say', text }), { to });
      return;
    }
    // a large group: through gossip, and straight to the direct peers too (a peer that has not
    // switched to the group yet still gets it; the others drop the second copy by its id)
    const id = randomBytes(8).toString('hex');
    this.seen.add(id);
    const line = encodeChat({ t: 'say', text, id, nick: this.nick });
    try {
      this.group.broadcast(line);
    } catch (e) {
      this.out(`*** not sent to the group: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (to.length > 0) this.node.send(line, { to });
  }

  /** The group's size as this member sees it (direct peers, or the members gossip knows). */
  groupSize(): number {
    const members = new Set(this.peers.ids().filter((id) => !this.peers.isForgotten(id)));
    if (this.large) for (const id of this.group.members()) members.add(id);
    return members.size + 1;
  }

  /** Talks through the gossip group from now on (joined through the direct peers' cards). */
  private useGroup(viaCard?: string): void {
    if (this.closed) return;
    const cards = this.peers
      .all()
      .filter((p) => p.conn !== null && p.card !== null)
      .map((p) => p.card as string);
    if (viaCard !== undefined) cards.push(viaCard);
    if (this.large) {
      // cut off from the group (all neighbours gone): join again through this peer
      if (viaCard !== undefined && this.group.neighbours().length === 0) this.joinGroup([viaCard]);
      return;
    }
    this.large = true;
    this.joinGroup(cards);
    // tell the direct peers: they join the group too (a hello again, now with group: true)
    for (const p of this.peers.online()) {
      if (p.conn && !p.conn.isClosed) p.conn.send(this.hello(p));
    }
    this.out(this.style.dim(`*** ${this.groupSize()} members: talking through the gossip group now`));
  }

  /** Joins the group through these members (cards that do not parse are skipped). */
  private joinGroup(cards: string[]): void {
    for (const card of cards) {
      try {
        this.group.addBootstrap([card]);
      } catch {
        // a peer's bad card: the others will do
      }
    }
  }

  private onGroupMessage(m: GroupMessage): void {
    const c = decodeChat(m.data);
    if (c === null || c.t !== 'say') return; // private lines never travel through the group
    if (!this.firstTime(c.id)) return;
    if (this.peers.isForgotten(m.from)) return;
    const known = this.peers.get(m.from);
    const who = known?.nick ?? (c.nick !== undefined ? cleanNick(c.nick) : `${m.from.slice(0, 12)}...`);
    this.out(`${this.style.cyan(`${who}:`)} ${cleanText(c.text)}`);
  }

  /** false for a line id shown before (bounded memory: the oldest ids are forgotten) */
  private firstTime(id: string | undefined): boolean {
    if (id === undefined) return true;
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > SEEN_IDS) this.seen.delete(this.seen.values().next().value as string);
    return true;
  }

  privateMessage(who: string, text: string): void {
    const found = this.peers.find(who);
    if (typeof found === 'string') {
      this.out(`*** ${found}`);
      return;
    }
    if (!found.conn) {
      this.out(`*** ${label(found)} is not connected right now`);
      return;
    }
    const sent = this.node.send(encodeChat({ t: 'msg', text: text.slice(0, MAX_TEXT) }), {
      to: [found.peerId],
    });
    this.out(sent.length > 0 ? `-> ${label(found)} (private): ${text}` : `*** not sent`);
  }

  peersTable(): string[] {
    if (this.peers.size === 0) return ['*** no peers yet (/join <card>)'];
    const size = this.large
      ? [`*** ${this.groupSize()} members (gossip group: ${this.group.neighbours().length} neighbours)`]
      : [];
    return [...size, ...peersTable(this.peers.all(), this.node.status())];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.node.close();
  }

  // --- internals

  private addNamed(p: Peer): void {
    if (p.named || p.card === null || this.closed) return;
    p.named = true;
    try {
      // named by peer id: nicknames are not unique, peer ids are
      this.node.peers.add({ [p.peerId]: p.card });
      this.onPeersChanged?.(this.joinedCards());
    } catch (e) {
      p.named = false;
      this.out(`*** cannot join ${label(p)}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private onConnection(conn: Connection): void {
    const p = this.peers.peer(conn.peerId);
    conn.send(this.hello(p));
    conn.once('close', (info: { reason: string; remote: boolean }) => {
      if (p.conn !== conn) return;
      p.conn = null;
      // a gossip neighbour the group let go is no news; a joined (named) peer leaving is
      if (!this.closed && (!this.large || p.named)) {
        this.out(this.style.yellow(`*** ${label(p)} left${info.reason ? ` (${info.reason})` : ''}`));
      }
    });
  }

  private hello(to: Peer): Uint8Array {
    return encodeChat({
      t: 'hello',
      nick: this.nick,
      card: this.card(),
      peers: this.peersForHello(to),
      ...(this.large ? { group: true } : {}),
    });
  }

  /** The cards a hello introduces: the members we are connected to, but the one greeted. */
  protected peersForHello(to: Peer): string[] {
    return this.peers
      .all()
      .filter((q) => q !== to && q.card !== null && q.conn !== null)
      .map((q) => q.card as string)
      .slice(0, MAX_PENDING);
  }

  private onMessage(from: string, data: Uint8Array): void {
    const m = decodeChat(data);
    if (m === null) return;
    const conn = this.node.connection(from);
    const p = this.peers.peer(conn?.peerId ?? from);
    switch (m.t) {
      case 'hello': {
        const first = p.conn === null || p.conn !== (conn ?? null);
        // one hello per connection introduces anyone (a peer could send hellos in a loop)
        const introduces = conn !== undefined && !this.greeted.has(conn);
        if (conn) this.greeted.add(conn);
        p.nick = cleanNick(m.nick);
        try {
          if (parseCard(m.card).peerIdText === p.peerId && p.card !== m.card) {
            p.card = m.card;
            if (p.named) this.onPeersChanged?.(this.joinedCards());
          }
        } catch {
          // a bad card in a hello: the peer stays unnamed (not redialled), the chat goes on
        }
        if (conn) p.conn = conn;
        // in a large group, gossip neighbours greet us too: only peers the user joined (and those
        // met before the switch) are redialled; the group reaches the rest
        const large = this.large || m.group === true;
        if (first && !(large && !p.joined && !p.named)) {
          const path = conn?.path ? ` (${formatPath(conn.path)})` : '';
          this.out(this.style.green(`*** ${p.nick} joined${path}`));
        }
        if (!large) {
          this.addNamed(p);
          if (introduces) this.meet(m.peers.slice(0, MAX_PENDING), p);
        } else if (p.joined) this.addNamed(p);
        if (m.group === true && !this.peers.isForgotten(p.peerId)) this.useGroup(m.card);
        else if (!large && this.groupSize() > this.gossipAbove) this.useGroup();
        return;
      }
      case 'say':
        if (!this.firstTime(m.id)) return;
        this.out(`${this.style.cyan(`${label(p)}:`)} ${cleanText(m.text)}`);
        return;
      case 'msg':
        this.out(`${this.style.magenta(`${label(p)} (private):`)} ${cleanText(m.text)}`);
        return;
    }
  }

  /** Cards a peer introduced (group membership): followed or kept for /accept, as the policy says. */
  private meet(cards: readonly string[], by: Peer): void {
    const waiting: string[] = [];
    let followed = 0;
    for (const card of cards) {
      let parsed: ReturnType<typeof parseCard>;
      try {
        parsed = parseCard(card);
      } catch {
        continue;
      }
      const id = parsed.peerIdText;
      if (id === this.node.peerId || this.peers.isForgotten(id) || this.peers.get(id)?.named) continue;
      const intro = {
        peerId: id,
        card,
        nick: parsed.name !== undefined ? cleanNick(parsed.name) : null,
        by: label(by),
      };
      if (this.introductions.admit(intro, by.joined && followed < PER_HELLO)) {
        followed++;
        const p = this.peers.peer(id);
        if (p.nick === null) p.nick = intro.nick;
        p.card = card;
        this.addNamed(p);
      } else if (this.introductions.policy !== 'off') waiting.push(intro.nick ?? `${id.slice(0, 12)}...`);
    }
    if (waiting.length > 0)
      this.out(`*** ${label(by)} introduced ${waiting.join(', ')}: /accept <peer> or /accept all to join`);
  }
}
