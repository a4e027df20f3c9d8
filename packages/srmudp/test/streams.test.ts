// Stream lifecycle edge cases through the façade on loopback.
import { once } from 'node:events';
import { expect, it } from 'vitest';
import { connectedPair, loopbackNodes } from './helpers.js';

const node = loopbackNodes();
const pair = () => connectedPair(node);

it('a reader that finishes a for-await loop does not break the writer (no crash, no error)', async () => {
  const { conn, bConn } = await pair();
  const errors: unknown[] = [];
  const s = conn.openStream();
  s.on('error', (e) => errors.push(e));
  s.end('hello');
  const it = bConn.streams();
  const rx = (await it.next()).value;
  let got = '';
  for await (const chunk of rx) got += String(chunk);
  expect(got).toBe('hello');
  // the reader's side ends gracefully: the writer sees the end of its read side, not an error
  s.resume();
  await once(s, 'end');
  await new Promise((r) => setTimeout(r, 100));
  expect(errors).toEqual([]);
}, 20_000);

it('a stream aborted by the writer gives the reader a STREAM_RESET error', async () => {
  const { conn, bConn } = await pair();
  const s = conn.openStream();
  s.on('error', () => {}); // the writer destroys its own stream with an error below
  s.write(new Uint8Array(64 * 1024));
  const rx = (await bConn.streams().next()).value;
  const failure = (async () => {
    try {
      for await (const _ of rx) s.destroy(new Error('abort'));
      return null;
    } catch (e) {
      return e;
    }
  })();
  expect(await failure).toMatchObject({ code: 'STREAM_RESET' });
}, 20_000);

it('Web Streams view carries the bytes', async () => {
  const { conn, bConn } = await pair();
  const { writable } = conn.openStream().toWeb();
  const w = writable.getWriter();
  await w.write(new TextEncoder().encode('web '));
  await w.write(new TextEncoder().encode('streams'));
  await w.close();
  const rx = (await bConn.streams().next()).value;
  const reader = rx.toWeb().readable.getReader();
  let got = '';
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    got += new TextDecoder().decode(r.value);
  }
  expect(got).toBe('web streams');
}, 20_000);

it('bytes received before a graceful remote close stay readable to the end (no loss on close)', async () => {
  const { conn, bConn } = await pair();
  const payload = new Uint8Array(200 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  const s = conn.openStream();
  s.on('error', () => {});
  s.end(payload);
  const rx = (await bConn.streams().next()).value;
  rx.pause(); // the reader is slow: nothing is read until the connection has closed
  // the sender's graceful close waits for what it sent to be acknowledged, then sends CLOSE
  await conn.close(0, 'done');
  await bConn.closed;
  const chunks: Buffer[] = [];
  for await (const chunk of rx) chunks.push(chunk as Buffer);
  expect(Buffer.compare(Buffer.concat(chunks), Buffer.from(payload))).toBe(0);
}, 20_000);
