// The chat above its mesh size talks through a gossip group: every member shows each line once.
import { afterEach, describe, expect, it } from 'vitest';
import { Chat } from '../../src/cli/chat/chat.js';

describe('chat in a large group (gossip)', () => {
  const chats: Chat[] = [];
  afterEach(async () => {
    await Promise.all(chats.splice(0).map((c) => c.close()));
  });

  async function until(cond: () => boolean, what: string, ms = 20_000) {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('switches to the group above its threshold; every member shows each line exactly once', async () => {
    const members: { c: Chat; lines: string[]; nick: string }[] = [];
    // a chain: each joins the previous one; introductions mesh them until the switch (above 3)
    for (const nick of ['ann', 'bob', 'cat', 'dan', 'eve', 'fay']) {
      const lines: string[] = [];
      const c = await Chat.start({ nick, host: '127.0.0.1', out: (l) => lines.push(l), gossipAbove: 3 });
      chats.push(c);
      const prev = members.at(-1);
      members.push({ c, lines, nick });
      if (prev) {
        await c.input(`/join ${prev.c.card()}`);
        await until(
          () => lines.some((l) => l.startsWith(`*** ${prev.nick} joined`)),
          `${nick} met ${prev.nick}`,
        );
      }
    }
    await until(
      () => members.every((m) => m.lines.some((l) => l.includes('talking through the gossip group'))),
      'every member switched to the group',
    );
    for (const m of members) await m.c.input(`hello from ${m.nick}`);
    for (const m of members) {
      for (const o of members) {
        if (o === m) continue;
        await until(
          () => m.lines.some((l) => l === `${o.nick}: hello from ${o.nick}`),
          `${m.nick} shows ${o.nick}'s line (${m.lines.filter((l) => l.includes('hello from')).join(' | ')}; neighbours: ${members.map((x) => `${x.nick} ${JSON.stringify((x.c as unknown as { group: { neighbours(): string[] } | null }).group?.neighbours().map((id) => members.find((y) => y.c.node.peerId === id)?.nick))}`).join(', ')})`,
        );
      }
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const m of members) {
      for (const o of members) {
        if (o === m) continue;
        expect(m.lines.filter((l) => l === `${o.nick}: hello from ${o.nick}`)).toHaveLength(1);
      }
    }
    // the lines travelled through the group (each member's gossip delivered the others' lines)
    for (const m of members) expect(m.c.node.groupStats()?.delivered ?? 0).toBeGreaterThanOrEqual(1);
    await members[0]?.c.input('/peers');
    expect(members[0]?.lines.some((l) => /members \(gossip group: \d+ neighbours\)/.test(l))).toBe(true);
  }, 90_000);
});
