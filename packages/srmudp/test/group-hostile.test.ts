// Hostile group members over real sockets: forged and replayed messages are dropped and the
// sender's neighbours disconnect it; a member flooding the group is rate-limited.

import { randomBytes } from 'node:crypto';
import { generateIdentity } from '@srmudp/crypto';
import { createMessage, encodeGossipFrame, identitySigner, topicId } from '@srmudp/gossip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL } from '../src/channels.js';
import { createNode, type Group, type GroupMessage, type SrmudpNode } from '../src/index.js';
import { text, waitFor } from './helpers.js';

interface Member {
  node: SrmudpNode;
  group: Group;
  texts: string[];
  /** origin peer id → messages delivered */
  byOrigin: Map<string, number>;
  penalties: { peer: string; reason: string }[];
}

const ROOM = 'hostile-room';
const topic = topicId(ROOM);
const random = (n: number) => new Uint8Array(randomBytes(n));

async function member(bootstrap: string[], gossip = {}): Promise<Member> {
  const node = await createNode({ host: '127.0.0.1' });
  const group = node.group(ROOM, { bootstrap, gossip });
  const m: Member = { node, group, texts: [], byOrigin: new Map(), penalties: [] };
  group.onMessage((msg: GroupMessage) => {
    m.texts.push(text(msg.data));
    m.byOrigin.set(msg.from, (m.byOrigin.get(msg.from) ?? 0) + 1);
  });
  group.on('penalised', (e: { peer: string; reason: string }) => m.penalties.push(e));
  return m;
}

describe('hostile members of a group on loopback', () => {
  const honest: Member[] = [];
  const extra: Member[] = [];

  beforeAll(async () => {
    honest.push(await member([]));
    for (let i = 1; i < 8; i++) {
      const m = await member(honest.slice(-3).map((h) => h.node.contactCard()));
      honest.push(m);
      await waitFor(() => m.group.neighbours().length > 0, 15_000, `member ${i} joined`);
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all([...honest, ...extra].map((m) => m.node.close()));
  });

  /** A member that joins through two honest members and waits for its neighbours. */
  async function hostile(gossip = {}): Promise<{ h: Member; neighbours: Member[] }> {
    const h = await member(
      [(honest[2] as Member).node.contactCard(), (honest[6] as Member).node.contactCard()],
      gossip,
    );
    extra.push(h);
    await waitFor(() => h.group.neighbours().length >= 2, 15_000, 'hostile member has neighbours');
    const ids = h.group.neighbours();
    return { h, neighbours: honest.filter((m) => ids.includes(m.node.peerId)) };
  }

  function disconnected(h: Member, n: Member): boolean {
    const c = n.node.connection(h.node.peerId);
    return c === undefined || c.isClosed;
  }

  it('a forged message (another origin, wrong signature) is dropped and its sender disconnected', async () => {
    const { h, neighbours } = await hostile();
    // the claimed origin is not one of its neighbours (an origin drops copies of its "own"
    // messages unchecked, without blame)
    const victim = honest.find((m) => !neighbours.includes(m)) as Member;
    const forgedText = 'pay mallory 99 (forged)';
    const signedByOther = createMessage(identitySigner(generateIdentity(random)), topic, {
      issuedAt: Date.now(),
      seq: 1,
      payload: { kind: 'inline', data: new TextEncoder().encode(forgedText) },
    }).message;
    const bytes = signedByOther.bytes.slice();
    bytes.set(victim.node.identity.publicKey, 0); // claims to come from the victim
    for (const n of neighbours) {
      h.node.connection(n.node.peerId)?.sendInternal(CHANNEL.gossip, encodeGossipFrame(topic, 1, bytes));
    }
    await waitFor(() => neighbours.every((n) => disconnected(h, n)), 10_000, 'neighbours disconnect it');
    for (const n of neighbours) {
      expect(n.penalties).toContainEqual(expect.objectContaining({ peer: h.node.peerId, reason: 'FORGED' }));
    }
    for (const m of honest) expect(m.texts).not.toContain(forgedText);
  }, 40_000);

  it('a replayed message: a recent copy is delivered once; an old one is dropped and its sender disconnected', async () => {
    const { h, neighbours } = await hostile();
    // a valid message of h's own, sent three times to each neighbour (a recent replay)
    const recent = createMessage(identitySigner(h.node.identity), topic, {
      issuedAt: Date.now(),
      seq: 5,
      payload: { kind: 'inline', data: new TextEncoder().encode('genuine, once') },
    }).message;
    for (let i = 0; i < 3; i++) {
      for (const n of neighbours) {
        h.node
          .connection(n.node.peerId)
          ?.sendInternal(CHANNEL.gossip, encodeGossipFrame(topic, 1, recent.bytes));
      }
    }
    await waitFor(() => honest.every((m) => m.texts.includes('genuine, once')), 15_000, 'delivered');
    expect(neighbours.every((n) => !disconnected(h, n))).toBe(true);
    // a valid message of h's own, signed now but dated 10 minutes ago (a recording replayed)
    const old = createMessage(identitySigner(h.node.identity), topic, {
      issuedAt: Date.now() - 600_000,
      seq: 7,
      payload: { kind: 'inline', data: new TextEncoder().encode('old news (replayed)') },
    }).message;
    for (const n of neighbours) {
      h.node.connection(n.node.peerId)?.sendInternal(CHANNEL.gossip, encodeGossipFrame(topic, 1, old.bytes));
    }
    await waitFor(() => neighbours.every((n) => disconnected(h, n)), 10_000, 'neighbours disconnect it');
    for (const n of neighbours) {
      expect(n.penalties).toContainEqual(
        expect.objectContaining({ peer: h.node.peerId, reason: 'REPLAYED' }),
      );
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const m of honest) {
      expect(m.texts).not.toContain('old news (replayed)');
      expect(m.texts.filter((t) => t === 'genuine, once')).toHaveLength(1);
    }
  }, 40_000);

  it('a member flooding the group is rate-limited by every member', async () => {
    // its own limiter lifted: it sends far above the per-origin limit (20/s, burst 50)
    const { h } = await hostile({ originRate: 1e6, originBurst: 1e6 });
    const started = Date.now();
    const sent = 400;
    for (let i = 0; i < sent; i++) h.group.broadcast(`flood ${i}`);
    // what arrives arrives within a few seconds; then nothing more
    await new Promise((r) => setTimeout(r, 3000));
    const elapsedS = (Date.now() - started) / 1000;
    const limit = 50 + 20 * elapsedS; // burst + rate over the whole time: an upper bound
    let anyDelivered = false;
    for (const m of honest) {
      const got = m.byOrigin.get(h.node.peerId) ?? 0;
      expect(got).toBeLessThanOrEqual(limit);
      if (got > 0) anyDelivered = true;
    }
    expect(anyDelivered).toBe(true);
    expect(
      honest.some((m) => m.penalties.some((p) => p.peer === h.node.peerId && p.reason === 'FLOODING')),
    ).toBe(true);
    // the group still works for everyone else
    const origin = honest[1] as Member;
    origin.group.broadcast('still here');
    await waitFor(
      () => honest.every((m) => m === origin || m.texts.includes('still here')),
      15_000,
      'delivery after the flood',
    );
  }, 40_000);
});
