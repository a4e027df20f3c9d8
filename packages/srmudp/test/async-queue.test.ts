// The façade's bounded queue (incoming connections, streams, messages): a consumer that never
// reads must not make it grow (found by the soak of issue 11: the node's queue of incoming
// connections kept every connection ever made when the app used the 'connection' event only).

import { unreadMessageBytes } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { AsyncQueue } from '../src/async-queue.js';

describe('AsyncQueue', () => {
  it('when full, drops the oldest and releases it: memory stays bounded without a consumer', async () => {
    const q = new AsyncQueue<object>(10);
    const first = { n: 0 };
    q.push(first);
    for (let i = 1; i < 100_000; i++) q.push({ n: i });
    expect(q.size).toBe(10);
    expect(q.dropped).toBe(100_000 - 10);
    // the backing array is compacted: it holds the live items plus at most the compaction slack
    const items = (q as unknown as { items: { slots: number } }).items;
    expect(items.slots).toBeLessThanOrEqual(10 + 2048);
    expect(((await q.next()).value as { n: number }).n).toBe(100_000 - 10);
  });

  it('remove() takes a buffered item out; later items keep their order', async () => {
    const q = new AsyncQueue<string>(10);
    for (const s of ['a', 'b', 'c']) q.push(s);
    expect(q.remove('b')).toBe(true);
    expect(q.remove('b')).toBe(false);
    expect(q.size).toBe(2);
    expect((await q.next()).value).toBe('a');
    expect(q.remove('a')).toBe(false); // already taken
    expect((await q.next()).value).toBe('c');
  });

  it('a queue of messages holds at most 64 MiB unread, whatever their count', () => {
    const q = new AsyncQueue(
      65_536,
      unreadMessageBytes((m: Uint8Array) => m),
    );
    const mib = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 1000; i++) q.push(mib);
    expect(q.size).toBe(64);
    expect(q.byteSize).toBe(64 * 1024 * 1024);
    expect(q.dropped).toBe(1000 - 64);
  });
});
