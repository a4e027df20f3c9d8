// The browser node's inbox (queue.ts) is bounded as srmudp's queues are: a peer that sends faster
// than the page reads (or a page that never reads) cannot make the node hold what it sends.
import { MAX_UNREAD_MESSAGE_BYTES, MAX_UNREAD_MESSAGES } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { Inbox } from '../src/queue.js';

describe('Inbox', () => {
  it('holds at most 64 MiB of messages unread: the oldest are dropped and counted, the rest read in order', async () => {
    const inbox = new Inbox<Uint8Array>(MAX_UNREAD_MESSAGES, {
      maxBytes: MAX_UNREAD_MESSAGE_BYTES,
      sizeOf: (b) => b.byteLength,
    });
    for (let i = 0; i < 80; i++) inbox.push(new Uint8Array(1024 * 1024).fill(i));
    expect(inbox.dropped).toBe(16);
    for (let i = 16; i < 80; i++) expect((await inbox.next()).value?.[0]).toBe(i);
    inbox.end();
    expect((await inbox.next()).done).toBe(true);
  });

  it('a waiting reader takes an item at once: nothing is held, nothing dropped', async () => {
    const inbox = new Inbox<number>(1);
    const first = inbox.next();
    inbox.push(1);
    inbox.push(2);
    inbox.push(3); // over the count: 2 goes
    expect((await first).value).toBe(1);
    expect((await inbox.next()).value).toBe(3);
    expect(inbox.dropped).toBe(1);
  });
});
