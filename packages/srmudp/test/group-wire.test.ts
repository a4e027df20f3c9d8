// The blob exchange of groups (group-wire.ts) against a hostile neighbour: what it holds stays
// bounded, and a reply is taken only from the peer asked, while gossip still waits for it.
import type { Gossip } from '@srmudp/gossip';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../src/connection.js';
import { BlobExchange } from '../src/group-wire.js';

const TIMEOUT_MS = 30_000;

function rig() {
  const results: Array<{ id: number; data: Uint8Array | null }> = [];
  const gossip = {
    options: { fetchTimeoutMs: TIMEOUT_MS },
    handleFetchResult: (_now: number, id: number, data: Uint8Array | null) => results.push({ id, data }),
    blob: () => null,
  } as unknown as Gossip;
  const peer = (fill: number) => {
    const sent: Uint8Array[] = [];
    const conn = {
      remoteKey: new Uint8Array(32).fill(fill),
      sendInternal: (_channel: number, body: Uint8Array) => sent.push(body.slice()),
    } as unknown as Connection;
    return { conn, sent };
  };
  return { exchange: new BlobExchange(gossip), results, peer };
}

function reply(id: number, data: Uint8Array): Uint8Array {
  const body = new Uint8Array(5 + data.length);
  new DataView(body.buffer).setUint32(0, id);
  body[4] = 1;
  body.set(data, 5);
  return body;
}

describe('group blob exchange', () => {
  it('a neighbour that never answers leaves at most one fetch timeout of requests behind', () => {
    const { exchange, peer } = rig();
    const mute = peer(1);
    // gossip asks it for a new blob every 100 ms for a day's worth of announcements (bounded loop)
    let now = 0;
    for (let id = 1; id <= 100_000; id++, now += 100) {
      exchange.request(now, mute.conn, id, new Uint8Array(32).fill(id & 0xff));
    }
    expect(mute.sent.length).toBe(100_000);
    // the last 30 s of requests (300 of them), not 100,000
    expect(exchange.pending).toBeLessThanOrEqual(TIMEOUT_MS / 100 + 1);
  });

  it('takes a reply from the peer asked within the timeout; not from another peer, not after it', () => {
    const { exchange, results, peer } = rig();
    const a = peer(1);
    const b = peer(2);
    exchange.request(0, a.conn, 1, new Uint8Array(32));
    exchange.request(0, a.conn, 2, new Uint8Array(32));
    exchange.reply(10, b.conn, reply(1, Uint8Array.of(9))); // not asked: ignored
    expect(results).toEqual([]);
    exchange.reply(20, a.conn, reply(1, Uint8Array.of(7)));
    expect(results).toEqual([{ id: 1, data: Uint8Array.of(7) }]);
    // request 2 timed out in gossip (it asked the next source): a late answer is not taken
    exchange.reply(TIMEOUT_MS, a.conn, reply(2, Uint8Array.of(8)));
    expect(results).toHaveLength(1);
    expect(exchange.pending).toBe(0);
  });

  it('a neighbour that leaves fails its fetches at once', () => {
    const { exchange, results, peer } = rig();
    const a = peer(1);
    exchange.request(0, a.conn, 5, new Uint8Array(32));
    exchange.lost(1, Buffer.from(a.conn.remoteKey).toString('hex'));
    expect(results).toEqual([{ id: 5, data: null }]);
    expect(exchange.pending).toBe(0);
  });
});
