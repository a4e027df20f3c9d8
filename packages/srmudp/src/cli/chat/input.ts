import { type CardLine, CardLines, looksLikeCardStart } from '@srmudp/rendezvous';

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

/** What the typed lines act on (the Chat). */
export interface ChatActions {
  readonly nick: string;
  card(): string;
  join(card: string): void;
  accept(who: string): void;
  leave(who: string): void;
  say(text: string): void;
  privateMessage(who: string, text: string): void;
  peersTable(): string[];
}

/** One line for a card that does not parse (the parser's message without its own prefix). */
export function notACard(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `*** not a contact card: ${message.replace(/^invalid contact card: /, '')}`;
}

/** The user's lines: text to say, commands, and contact cards pasted over one or several lines. */
export class ChatInput {
  /** joins the lines of a card pasted over several lines */
  readonly #cards = new CardLines();

  constructor(
    private readonly chat: ChatActions,
    private readonly out: (line: string) => void,
  ) {}

  /** Handles one line typed by the user; false once the user asked to quit. */
  async input(line: string): Promise<boolean> {
    // A card may come over several lines (a wrapped paste): the lines are joined until it parses.
    if (this.#cards.pending) return this.#pasted(this.#cards.push(line));
    const text = line.trim();
    if (text === '') return true;
    if (/^\/join(\s|$)/i.test(text)) {
      const card = text.slice(5).trim();
      if (card === '') this.out('usage: /join <card>');
      else if (looksLikeCardStart(card)) return this.#pasted(this.#cards.push(card));
      else this.chat.join(card); // says what is wrong with it
      return true;
    }
    // a card pasted on its own is a join; a lone piece of one is never sent as a message
    if (looksLikeCardStart(text)) return this.#pasted(this.#cards.push(text));
    if (!text.startsWith('/')) return this.#pasted(this.#cards.push(text));
    return this.#command(text);
  }

  async #pasted(results: CardLine[]): Promise<boolean> {
    for (const r of results) {
      switch (r.kind) {
        case 'card':
          this.chat.join(r.text);
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
          } else if (t !== '') this.chat.say(t);
          break;
        }
      }
    }
    return true;
  }

  async #command(text: string): Promise<boolean> {
    const [cmd = '', ...rest] = text.split(/\s+/);
    switch (cmd.toLowerCase()) {
      case '/quit':
      case '/exit':
        return false;
      case '/help':
        for (const l of HELP) this.out(l);
        return true;
      case '/card':
        this.out(`your contact card (${this.chat.nick}):`);
        this.out(this.chat.card());
        return true;
      case '/accept':
        this.chat.accept(rest.join(' '));
        return true;
      case '/peers':
        for (const l of this.chat.peersTable()) this.out(l);
        return true;
      case '/leave':
        if (rest.length !== 1) this.out('usage: /leave <peer>');
        else this.chat.leave(rest[0] as string);
        return true;
      case '/msg': {
        const m = /^\/msg\s+(\S+)\s+(.+)$/is.exec(text);
        if (!m) this.out('usage: /msg <peer> <text>');
        else this.chat.privateMessage(m[1] as string, m[2] as string);
        return true;
      }
      default:
        this.out(`unknown command ${cmd} (/help lists them)`);
        return true;
    }
  }
}
