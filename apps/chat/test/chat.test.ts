import { parseCard } from '@srmudp/rendezvous';
import { afterEach, describe, expect, it } from 'vitest';
import { Chat } from '../src/chat.js';
import { cleanNick, cleanText, decodeChat, encodeChat } from '../src/wire.js';

describe('wire', () => {
  it('round-trips and drops malformed or unknown messages instead of throwing', () => {
    const hello = { t: 'hello', nick: 'alice', card: 'srmudp1:x', peers: [] } as const;
    expect(decodeChat(encodeChat(hello))).toEqual(hello);
    expect(decodeChat(new Uint8Array([0xff, 0xfe]))).toBeNull();
    expect(decodeChat(new TextEncoder().encode('{"t":"shout","text":"x"}'))).toBeNull();
    expect(decodeChat(new TextEncoder().encode('{"t":"say","text":42}'))).toBeNull();
    expect(decodeChat(new TextEncoder().encode(`{"t":"say","text":"${'a'.repeat(5000)}"}`))).toBeNull();
  });

  it('strips terminal escapes from nicknames and text', () => {
    expect(cleanNick('\u001b[31mmallory\u001b[0m')).toBe('[31mmallory[0m');
    expect(cleanNick('\u0007')).toBe('anonymous');
    expect(cleanText('a\u001b]0;pwned\u0007b')).toBe('a ]0;pwned b');
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
    await a.c.input('/join srmudp1:garbage');
    expect(a.lines.at(-1)).toMatch(/^\*\*\* not a contact card/);
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
});
