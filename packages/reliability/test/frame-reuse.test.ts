/**
 * The receive path decodes with one FrameDecoder for every connection of the process, whose frame
 * objects the next packet rewrites: nothing a packet leaves behind (events, stream and message
 * data, datagrams) may be one of them or change when later packets arrive.
 */
import { encodeFrames, type Frame } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { ReliableConnection, type ReliableEvent } from '../src/index.js';

function conn(): ReliableConnection {
  return new ReliableConnection({ role: 'responder', now: 0, overhead: 8 });
}

function events(c: ReliableConnection): ReliableEvent[] {
  const out: ReliableEvent[] = [];
  for (let e = c.pollEvent(0); e !== null; e = c.pollEvent(0)) out.push(e);
  return out;
}

/** Every frame type the receive path keeps something of, with contents derived from `v`. */
function packet(v: number, streamOffset: number): Uint8Array {
  const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (v * 31 + i) & 0xff);
  const frames: Frame[] = [
    { type: 'stream', streamId: 0, offset: streamOffset, fin: false, data: bytes(5) },
    { type: 'stream', streamId: 4, offset: streamOffset, fin: false, data: bytes(3) },
    { type: 'datagram', data: bytes(4) },
    { type: 'message', id: v, offset: 0, total: 2, unordered: true, data: bytes(2) },
    { type: 'path_challenge', data: bytes(8) },
    { type: 'path_response', data: bytes(8).reverse() },
    { type: 'relay', peer: bytes(32), payload: bytes(6) },
    { type: 'max_data', max: 1_000_000 + v },
    { type: 'padding', length: 3 },
  ];
  return encodeFrames(frames);
}

/** What a connection kept of the packets it received, in plain values. */
function kept(c: ReliableConnection, evs: ReliableEvent[]): unknown {
  return {
    events: evs.map((e) => structuredClone(e)),
    stream0: c.read(0, 0),
    stream4: c.read(0, 4),
  };
}

describe('frame objects reused across packets', () => {
  it("a packet's events and data do not change when later packets arrive, on any connection", () => {
    const a = conn();
    const b = conn();
    a.handlePacket(0, 0, packet(1, 0));
    const evsA = events(a);
    // the same frame types through the shared decoder: on another connection and on this one
    b.handlePacket(0, 0, packet(2, 0));
    a.handlePacket(0, 1, packet(3, 5));
    const evsB = events(b);
    // what `a` kept of its first packet, compared with a connection that only ever saw that one
    const ref = conn();
    ref.handlePacket(0, 0, packet(1, 0));
    const refEvs = events(ref);
    expect(evsA.map((e) => e.type)).toContain('frame');
    expect(evsA.map((e) => e.type)).toContain('datagram');
    expect(evsA.map((e) => e.type)).toContain('message');
    // no event object is shared between packets
    const frameObjects = new Set(evsA.flatMap((e) => (e.type === 'frame' ? [e.frame] : [])));
    for (const e of evsB) if (e.type === 'frame') expect(frameObjects.has(e.frame)).toBe(false);
    // the first packet's stream bytes lead what `a` read (the third packet's follow them)
    const aKept = kept(a, evsA) as { stream0: Uint8Array; stream4: Uint8Array };
    expect({
      ...aKept,
      stream0: aKept.stream0.subarray(0, 5),
      stream4: aKept.stream4.subarray(0, 3),
    }).toEqual(kept(ref, refEvs));
  });
});
