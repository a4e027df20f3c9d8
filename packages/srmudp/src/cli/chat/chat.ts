import { randomBytes } from 'node:crypto';
import { type CardLine, CardLines, looksLikeCardStart, parseCard } from '@srmudp/rendezvous';
import { httpBackend } from '@srmudp/rendezvous-http';
import type { Connection } from '../../connection.js';
import type { Group, GroupMessage } from '../../group.js';
import { createNode, type PeerEvent, type SrmudpNode } from '../../node.js';
import { CARD_GATHER_WAIT_MS } from '../common.js';
import { formatPath, formatRtt } from '../format.js';
import { style as makeStyle, type Style } from '../style.js';
import { type IntroductionPolicy, Introductions, MAX_PENDING, PER_HELLO } from './introductions.js';
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

interface Peer {
  peerId: string;
  nick: string | null;
  card: string | null;
  /** the connection we greeted, while it is open */
  conn: Connection | null;
  /** added to the node's named peers (redialled after a loss) */
  named: boolean;
  /** the user joined it (/join, --join, saved peers): its introductions may be followed */
  joined: boolean;
}

export const HELP = [
  'commands:',
  '  <text>                 say it to everyone',
  '  /msg <peer> <text>     say it to one peer only',
  '  /join <card>           join a peer (and, through it, its group); a card may span lines',
  '  /accept [<peer>|all]   join peers others introduced (no argument: list them)',
  '  /peers                 who is here: state, path (direct or relayed), RTT (smoothed and min), loss',
  '  /leave <peer>          stop redialling a peer and forget it',
  '  /card                  print your contact card again',
  '  /quit                  leave (Ctrl-D works too)',
];

/** A group chat member: one srmudp node, peers by peer id, nicknames learned in-band. */
export class Chat {
  private readonly peers = new Map<string, Peer>();
  /** peers the user left: other members' hellos do not bring them back, only /join does */
  private readonly forgotten = new Set<string>();
  /** joins the lines of a card pasted over several lines */
  private readonly cards = new CardLines();
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
            `*** connecting to ${this.label(p)} (${e.addresses ?? 0} address${e.addresses === 1 ? '' : 'es'})...`,
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
        this.style.yellow(`*** cannot reach ${this.label(p)}: ${e.error.code} (${e.error.message})${retry}`),
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
  async input(line: string): Promise<boolean> {
    // A card may come over several lines (a wrapped paste): the lines are joined until it parses.
    if (this.cards.pending) return this.pasted(this.cards.push(line));
    const text = line.trim();
    if (text === '') return true;
    if (/^\/join(\s|$)/i.test(text)) {
      const card = text.slice(5).trim();
      if (card === '') this.out('usage: /join <card>');
      else if (looksLikeCardStart(card)) return this.pasted(this.cards.push(card));
      else this.join(card); // says what is wrong with it
      return true;
    }
    // a card pasted on its own is a join; a lone piece of one is never sent as a message
    if (looksLikeCardStart(text)) return this.pasted(this.cards.push(text));
    if (!text.startsWith('/')) return this.pasted(this.cards.push(text));
    return this.command(text);
  }

  private async pasted(results: CardLine[]): Promise<boolean> {
    for (const r of results) {
      switch (r.kind) {
        case 'card':
          this.join(r.text);
          break;
        case 'partial':
          if (r.lines === 1) this.out('*** card incomplete: paste the rest of it (an empty line cancels)');
          break;
        case 'invalid':
          this.out(notACard(r.error));
          break;
        case 'fragment':
          this.out('*** that looks like a piece of a contact card: not sent (paste the whole card)');
          break;
        case 'line': {
          // a line that ended a pending card is handled as if typed alone (a command, /join included)
          const t = r.text.trim();
          if (t.startsWith('/')) {
            if (!(await this.input(t))) return false;
          } else if (t !== '') this.say(t);
          break;
        }
      }
    }
    return true;
  }

  private async command(text: string): Promise<boolean> {
    const [cmd = '', ...rest] = text.split(/\s+/);
    switch (cmd.toLowerCase()) {
      case '/quit':
      case '/exit':
        return false;
      case '/help':
        for (const l of HELP) this.out(l);
        return true;
      case '/card':
        this.out(`your contact card (${this.nick}):`);
        this.out(this.card());
        return true;
      case '/accept':
        this.accept(rest.join(' '));
        return true;
      case '/peers':
        for (const l of this.peersTable()) this.out(l);
        return true;
      case '/leave':
        if (rest.length !== 1) this.out('usage: /leave <peer>');
        else this.leave(rest[0] as string);
        return true;
      case '/msg': {
        const m = /^\/msg\s+(\S+)\s+(.+)$/is.exec(text);
        if (!m) this.out('usage: /msg <peer> <text>');
        else this.privateMessage(m[1] as string, m[2] as string);
        return true;
      }
      default:
        this.out(`unknown command ${cmd} (/help lists them)`);
        return true;
    }
  }

  /** Cards of the joined peers (what a restart needs to find the group again). */
  joinedCards(): string[] {
    return [...this.peers.values()].filter((p) => p.named && p.card !== null).map((p) => p.card as string);
  }

  /** Forgets a peer: no more redials, its connection closed, its incoming connections refused. */
  leave(who: string): void {
    const found = this.find(who);
    if (typeof found === 'string') {
      this.out(`*** ${found}`);
      return;
    }
    if (found.named) this.node.peers.remove([found.peerId]);
    found.named = false;
    this.peers.delete(found.peerId);
    this.forgotten.add(found.peerId);
    this.out(`*** forgot ${this.label(found)}`);
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
    this.forgotten.delete(parsed.peerIdText);
    const p = this.peer(parsed.peerIdText);
    if (p.named) {
      this.out(`*** already joined ${this.label(p)}${p.conn ? '' : ' (reconnecting)'}`);
      return;
    }
    if (p.nick === null && parsed.name !== undefined) p.nick = cleanNick(parsed.name);
    p.card = card.replace(/\s+/g, '');
    p.joined = true;
    this.introductions.forget(p.peerId);
    this.addNamed(p);
    if (!p.conn && !opts.quiet) this.out(`*** joining ${this.label(p)}...`);
  }

  say(text: string): void {
    if (text.length > MAX_TEXT) {
      this.out(`*** too long (${text.length} characters, at most ${MAX_TEXT})`);
      return;
    }
    const to = this.online().map((p) => p.peerId);
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
    const members = new Set([...this.peers.keys()].filter((id) => !this.forgotten.has(id)));
    if (this.large) for (const id of this.group.members()) members.add(id);
    return members.size + 1;
  }

  /** Talks through the gossip group from now on (joined through the direct peers' cards). */
  private useGroup(viaCard?: string): void {
    if (this.closed) return;
    const cards = [...this.peers.values()]
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
    for (const p of this.online()) {
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
    if (this.forgotten.has(m.from)) return;
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
    const found = this.find(who);
    if (typeof found === 'string') {
      this.out(`*** ${found}`);
      return;
    }
    if (!found.conn) {
      this.out(`*** ${this.label(found)} is not connected right now`);
      return;
    }
    const sent = this.node.send(encodeChat({ t: 'msg', text: text.slice(0, MAX_TEXT) }), {
      to: [found.peerId],
    });
    this.out(sent.length > 0 ? `-> ${this.label(found)} (private): ${text}` : `*** not sent`);
  }

  peersTable(): string[] {
    if (this.peers.size === 0) return ['*** no peers yet (/join <card>)'];
    const status = this.node.status();
    const size = this.large
      ? [`*** ${this.groupSize()} members (gossip group: ${this.group.neighbours().length} neighbours)`]
      : [];
    const rows = [
      ['peer', 'state', 'path', 'rtt', 'min rtt', 'loss', 'sent', 'received', 'id', 'last error'],
    ];
    for (const p of this.peers.values()) {
      const s = status[p.peerId];
      const path = formatPath(s?.path);
      const c = p.conn && !p.conn.isClosed ? p.conn.stats() : null;
      rows.push([
        p.nick ?? '?',
        s?.state ?? (p.conn ? 'established' : 'closed'),
        path,
        s?.rttMs != null ? formatRtt(s.rttMs) : '-',
        c?.rttMeasured ? formatRtt(c.minRttMs) : '-',
        s?.lossRate != null ? `${(s.lossRate * 100).toFixed(1)}%` : '-',
        formatCount(s?.bytesSent ?? 0),
        formatCount(s?.bytesReceived ?? 0),
        `${p.peerId.slice(0, 12)}...`,
        s?.lastError ? s.lastError.code : '',
      ]);
    }
    const widths = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
    return [
      ...size,
      ...rows.map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      ),
    ];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.node.close();
  }

  // --- internals

  private peer(peerId: string): Peer {
    let p = this.peers.get(peerId);
    if (!p) {
      p = { peerId, nick: null, card: null, conn: null, named: false, joined: false };
      this.peers.set(peerId, p);
    }
    return p;
  }

  private label(p: Peer): string {
    return p.nick ?? `${p.peerId.slice(0, 12)}...`;
  }

  private online(): Peer[] {
    return [...this.peers.values()].filter((p) => p.conn !== null && !p.conn.isClosed);
  }

  /** A peer by nickname (case-insensitive) or by the start of its peer id; a string is an error. */
  private find(who: string): Peer | string {
    const all = [...this.peers.values()];
    let hits = all.filter((p) => p.nick?.toLowerCase() === who.toLowerCase());
    if (hits.length === 0 && who.length >= 4) hits = all.filter((p) => p.peerId.startsWith(who));
    if (hits.length === 1) return hits[0] as Peer;
    if (hits.length === 0) return `no peer called ${who} (/peers lists them)`;
    return `${who} is ambiguous: use the start of a peer id (${hits.map((p) => p.peerId.slice(0, 12)).join(', ')})`;
  }

  private addNamed(p: Peer): void {
    if (p.named || p.card === null || this.closed) return;
    p.named = true;
    try {
      // named by peer id: nicknames are not unique, peer ids are
      this.node.peers.add({ [p.peerId]: p.card });
      this.onPeersChanged?.(this.joinedCards());
    } catch (e) {
      p.named = false;
      this.out(`*** cannot join ${this.label(p)}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private onConnection(conn: Connection): void {
    const p = this.peer(conn.peerId);
    conn.send(this.hello(p));
    conn.once('close', (info: { reason: string; remote: boolean }) => {
      if (p.conn !== conn) return;
      p.conn = null;
      // a gossip neighbour the group let go is no news; a joined (named) peer leaving is
      if (!this.closed && (!this.large || p.named)) {
        this.out(this.style.yellow(`*** ${this.label(p)} left${info.reason ? ` (${info.reason})` : ''}`));
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
    return [...this.peers.values()]
      .filter((q) => q !== to && q.card !== null && q.conn !== null)
      .map((q) => q.card as string)
      .slice(0, MAX_PENDING);
  }

  private onMessage(from: string, data: Uint8Array): void {
    const m = decodeChat(data);
    if (m === null) return;
    const conn = this.node.connection(from);
    const p = this.peer(conn?.peerId ?? from);
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
        if (m.group === true && !this.forgotten.has(p.peerId)) this.useGroup(m.card);
        else if (!large && this.groupSize() > this.gossipAbove) this.useGroup();
        return;
      }
      case 'say':
        if (!this.firstTime(m.id)) return;
        this.out(`${this.style.cyan(`${this.label(p)}:`)} ${cleanText(m.text)}`);
        return;
      case 'msg':
        this.out(`${this.style.magenta(`${this.label(p)} (private):`)} ${cleanText(m.text)}`);
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
      if (id === this.node.peerId || this.forgotten.has(id) || this.peers.get(id)?.named) continue;
      const intro = {
        peerId: id,
        card,
        nick: parsed.name !== undefined ? cleanNick(parsed.name) : null,
        by: this.label(by),
      };
      if (this.introductions.admit(intro, by.joined && followed < PER_HELLO)) {
        followed++;
        const p = this.peer(id);
        if (p.nick === null) p.nick = intro.nick;
        p.card = card;
        this.addNamed(p);
      } else if (this.introductions.policy !== 'off') waiting.push(intro.nick ?? `${id.slice(0, 12)}...`);
    }
    if (waiting.length > 0)
      this.out(
        `*** ${this.label(by)} introduced ${waiting.join(', ')}: /accept <peer> or /accept all to join`,
      );
  }
}

/** Bytes for the peers table: 2143, 12.3k, 4.5M. */
function formatCount(n: number): string {
  if (n < 10_000) return String(n);
  if (n < 10_000_000) return `${(n / 1000).toFixed(1)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** One line for a card that does not parse (the parser's message without its own prefix). */
function notACard(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `*** not a contact card: ${message.replace(/^invalid contact card: /, '')}`;
}
