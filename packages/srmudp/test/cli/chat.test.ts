import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCard, parseCard, publicKeyOf, signRecord } from '@srmudp/rendezvous';
import { startRendezvousServer } from '@srmudp/rendezvous-http';
import { afterEach, describe, expect, it } from 'vitest';
import { Chat } from '../../src/cli/chat/chat.js';
import { cleanNick, cleanText, decodeChat, encodeChat } from '../../src/cli/chat/wire.js';

describe('wire', () => {
  it('round-trips and drops malformed or unknown messages instead of throwing', () => {
    const hello = { t: 'hello', nick: 'alice', card: 'srmudp1:x', peers: [] } as const;
    expect(decodeChat(encodeChat(hello))).toEqual(hello);
    expect(decodeChat(new Uint8Array([0xff, 0xfe]))).toBeNull();
    expect(decodeChat(new TextEncoder().encode('{"t":"shout","text":"x"}'))).toBeNull();
    expect(decodeChat(new TextEncoder().encode('{"t":"say","text":42}'))).toBeNull();
    expect(decodeChat(new TextEncoder().encode(`{"t":"say","text":"${'a'.repeat(5000)}"}`))).toBeNull();
  });

  it('strips terminal escapes and bidi overrides from nicknames and text; one length rule', () => {
    expect(cleanNick('\u001b[31mmallory\u001b[0m')).toBe('[31mmallory[0m');
    expect(cleanNick('\u0007')).toBe('anonymous');
    expect(cleanNick('admin\u202E\u2066gnp.exe')).toBe('admingnp.exe');
    expect(cleanNick('€'.repeat(40))).toBe('€'.repeat(21)); // 64 bytes of UTF-8 at most, whole characters
    expect(cleanText('a\u001b]0;pwned\u0007b')).toBe('a ]0;pwned b');
    expect(cleanText('tab\tstays, \u202Eno override')).toBe('tab\tstays, no override');
  });
});

describe('Chat in process', () => {
  const chats: Chat[] = [];
  afterEach(async () => {
    await Promise.all(chats.splice(0).map((c) => c.close()));
  });

  async function member(nick: string) {
    const lines: string[] = [];
    const c = await Chat.start({ nick, host: '127.0.0.1', out: (l) => lines.push(l) });
    chats.push(c);
    return { c, lines };
  }
  async function until(cond: () => boolean, what: string) {
    const end = Date.now() + 10_000;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('joining an offline card says what it tries and why it fails (it showed "connecting" forever); a card of another program is refused', async () => {
    const a = await member('alice');
    const gone = await member('gone');
    const card = gone.c.card();
    await gone.c.close();
    await a.c.input(`/join ${card}`);
    await until(() => a.lines.includes('*** connecting to gone (1 address)...'), 'the connecting line');
    // the handshake times out (10 s) or the port is unreachable at once: either way a typed reason
    const end = Date.now() + 15_000;
    while (!a.lines.some((l) => l.startsWith('*** cannot reach gone: ')) && Date.now() < end)
      await new Promise((r) => setTimeout(r, 50));
    expect(a.lines.find((l) => l.startsWith('*** cannot reach gone: '))).toMatch(
      /^\*\*\* cannot reach gone: [A-Z_]+ \(.+\); trying again in \d+(\.\d)? (ms|s)$/,
    );
    expect(a.c.peersTable().join('\n')).toMatch(/^gone\s+(reconnecting|connecting)\s.*[A-Z_]{6,}$/m);
    const other = await member('other');
    const sendCard = other.c.node.contactCard({ app: 'srmudp-send/1' });
    await a.c.input(`/join ${sendCard}`);
    expect(a.lines.at(-1)).toBe("*** that card is not a chat member's: it is for srmudp-send/1 (not joined)");
  }, 30_000);

  it('commands: join, say, /msg by nick, errors for unknown peers, own card, bad card', async () => {
    const a = await member('alice');
    const b = await member('bob');
    await b.c.input(`/join ${a.c.card()}`);
    await until(
      () => a.lines.includes(`*** bob joined (direct 127.0.0.1:${b.c.node.address().port})`),
      'bob joined',
    );
    await until(() => b.lines.some((l) => l.startsWith('*** alice joined')), 'alice joined');
    await a.c.input('hi bob');
    await until(() => b.lines.includes('alice: hi bob'), 'message');
    await b.c.input('/msg ALICE psst');
    await until(() => a.lines.includes('bob (private): psst'), 'private message');
    expect(b.lines).toContain('-> alice (private): psst');
    await a.c.input('/msg nobody x');
    expect(a.lines.at(-1)).toBe('*** no peer called nobody (/peers lists them)');
    await a.c.input(`/join ${a.c.card()}`);
    expect(a.lines.at(-1)).toBe('*** that is your own card');
    await a.c.input('/join srmudp2:garbage!');
    expect(a.lines.at(-1)).toMatch(/^\*\*\* not a contact card/);
    await a.c.input('/join hello');
    expect(a.lines.at(-1)).toMatch(/^\*\*\* not a contact card: must start with "srmudp2:"/);
    await a.c.input('/frobnicate');
    expect(a.lines.at(-1)).toBe('unknown command /frobnicate (/help lists them)');
    expect(await a.c.input('/quit')).toBe(false);
  }, 30_000);

  it('/leave forgets a peer: its connection closes, no redial, the saved set shrinks', async () => {
    const a = await member('alice');
    const saved: string[][] = [];
    const lines: string[] = [];
    const b = await Chat.start({
      nick: 'bob',
      host: '127.0.0.1',
      out: (l) => lines.push(l),
      onPeersChanged: (cards) => saved.push(cards),
    });
    chats.push(b);
    await b.input(`/join ${a.c.card()}`);
    expect(saved.at(-1)?.map((c) => parseCard(c).peerIdText)).toEqual([a.c.node.peerId]);
    await until(() => lines.some((l) => l.startsWith('*** alice joined')), 'alice joined');
    await b.input('/leave alice');
    expect(lines).toContain('*** forgot alice');
    expect(saved.at(-1)).toEqual([]);
    expect(b.node.peers.list()).toEqual([]);
    await until(() => a.lines.some((l) => l.startsWith('*** bob left')), 'bob left on alice');
  }, 30_000);

  it('says nobody is here when alone', async () => {
    const a = await member('alone');
    await a.c.input('anyone?');
    expect(a.lines.at(-1)).toMatch(/nobody is here yet/);
    await a.c.input('/peers');
    expect(a.lines.at(-1)).toBe('*** no peers yet (/join <card>)');
  });

  it('a card pasted over several lines joins; a piece of a card is never sent as a message', async () => {
    const a = await member('alice');
    const b = await member('bob');
    const card = a.c.card();
    const third = Math.ceil(card.length / 3);
    // a terminal that wraps the card at its width, pasted after /join and on its own
    await b.c.input(`/join ${card.slice(0, third)}`);
    expect(b.lines.at(-1)).toMatch(/card incomplete: paste the rest/);
    await b.c.input(card.slice(third, 2 * third));
    await b.c.input(`${card.slice(2 * third)}   `);
    await until(() => b.lines.some((l) => l.startsWith('*** alice joined')), 'alice joined');
    await until(() => a.lines.some((l) => l.startsWith('*** bob joined')), 'bob joined');
    // a lone piece of a card (a paste that lost its first line) is refused, not said
    await b.c.input(card.slice(30, 90));
    expect(b.lines.at(-1)).toMatch(/looks like a piece of a contact card: not sent/);
    // a cut-off card, then an ordinary line: the card's error, then the line is said
    await b.c.input(card.slice(0, 40));
    await b.c.input('after the broken card');
    expect(b.lines.some((l) => /^\*\*\* not a contact card: body too short/.test(l))).toBe(true);
    await until(() => a.lines.includes('bob: after the broken card'), 'the line after the broken card');
    expect(a.lines.some((l) => l.includes(card.slice(30, 90)))).toBe(false);
    // a cut-off card, then /join of the whole card: the error, then the join (not 'unknown command')
    const c0 = await member('carol0');
    await c0.c.input(card.slice(0, 40));
    await c0.c.input(`/join ${card}`);
    await until(() => c0.lines.some((l) => l.startsWith('*** alice joined')), 'carol0 joined alice');
    expect(c0.lines.some((l) => l.startsWith('unknown command'))).toBe(false);
    // a card pasted with no /join is a join too
    const c = await member('carol');
    await c.c.input(card);
    await until(() => c.lines.some((l) => l.startsWith('*** alice joined')), 'carol joined alice');
  }, 30_000);

  /** Cards of fresh identities whose records point at 127.0.0.1 ports where nothing answers. */
  function strangers(n: number): string[] {
    return Array.from({ length: n }, (_, i) => {
      const secret = new Uint8Array(randomBytes(32));
      const peerId = publicKeyOf(secret);
      const now = Date.now();
      const record = signRecord(
        {
          peerId,
          seq: 1,
          issuedAt: now,
          expiresAt: now + 60_000,
          candidates: [{ kind: 'host', family: 4, host: '127.0.0.1', port: 9 }],
        },
        secret,
      );
      return encodeCard({ peerId, locators: [], record, name: `stranger${i}` });
    });
  }

  it('introductions: followed from joined peers only, 8 per hello at most, the rest wait for /accept', async () => {
    const { Introductions, BURST } = await import('../../src/cli/chat/introductions.js');
    // the rate limit on its own: a burst, then PER_MINUTE
    let now = 0;
    const intros = new Introductions('auto', () => now);
    const intro = (i: number) => ({ peerId: `pk${i}`, card: '', nick: null, by: 'x' });
    let followed = 0;
    for (let i = 0; i < 40; i++) if (intros.admit(intro(i), true)) followed++;
    expect(followed).toBe(BURST);
    now += 60_000;
    for (let i = 40; i < 80; i++) if (intros.admit(intro(i), true)) followed++;
    expect(followed).toBe(BURST + 16);
    expect(intros.pending().length).toBe(32); // capped
    expect(new Introductions('off').admit(intro(1), true)).toBe(false);
    expect(new Introductions('ask').admit(intro(1), true)).toBe(false);

    // in a chat: mallory connects to dave (dave never joined her) and introduces 20 strangers
    const dave = await member('dave');
    const lines: string[] = [];
    const mallory = await Chat.start({ nick: 'mallory', host: '127.0.0.1', out: (l) => lines.push(l) });
    chats.push(mallory);
    const fake = strangers(20);
    // mallory's hello carries the strangers' cards (as a hostile member's would)
    (mallory as unknown as { peersForHello: () => string[] }).peersForHello = () => fake;
    await mallory.input(`/join ${dave.c.card()}`);
    await until(() => dave.lines.some((l) => l.includes('mallory introduced')), 'the introduction line');
    expect(dave.c.node.peers.list()).toEqual([mallory.node.peerId]); // mallory only: nobody dialled
    await dave.c.input('/accept');
    expect(dave.lines.filter((l) => l.includes('introduced by mallory')).length).toBe(20);
    await dave.c.input('/accept stranger3');
    expect(dave.c.node.peers.list().length).toBe(2);
    await dave.c.input('/accept all');
    expect(dave.c.node.peers.list().length).toBe(21);
    // a peer dave joined himself is trusted to introduce: 8 per hello are followed, the rest wait
    const erin = await member('erin');
    (erin.c as unknown as { peersForHello: () => string[] }).peersForHello = () => strangers(12);
    await dave.c.input(`/join ${erin.c.card()}`);
    await until(() => dave.c.node.peers.list().length === 22 + 8, 'eight introductions followed');
    await until(() => dave.lines.some((l) => l.startsWith('*** erin introduced')), 'four waiting');
    expect(dave.c.introductions.pending().length).toBe(4);
  }, 30_000);

  it('with --rendezvous the card holds a locator, not addresses, and stays the same across restarts', async () => {
    const server = await startRendezvousServer();
    const dir = mkdtempSync(join(tmpdir(), 'srmudp-chat-rv-'));
    try {
      const start = async () => {
        const c = await Chat.start({
          nick: 'alice',
          host: '127.0.0.1',
          identity: join(dir, 'alice.key'),
          rendezvous: server.url,
          out: () => {},
        });
        chats.push(c);
        return c;
      };
      const first = await start();
      const card = first.card();
      expect(parseCard(card).record).toBeUndefined();
      expect(parseCard(card).locators).toEqual([{ backend: 'http', url: server.url }]);
      const port = first.node.address().port;
      await first.close();
      const second = await start();
      expect(second.node.address().port).not.toBe(port);
      expect(second.card()).toBe(card);
      // and the old card still finds her
      const bobLines: string[] = [];
      const bob = await Chat.start({
        nick: 'bob',
        host: '127.0.0.1',
        rendezvous: server.url,
        out: (l) => bobLines.push(l),
      });
      chats.push(bob);
      await bob.input(`/join ${card}`);
      await until(
        () => bobLines.some((l) => l.startsWith('*** alice joined')),
        'alice found through the rendezvous',
      );
    } finally {
      await Promise.all(chats.splice(0).map((c) => c.close()));
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
