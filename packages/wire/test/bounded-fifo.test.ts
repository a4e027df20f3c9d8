import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BoundedFifo, MAX_UNREAD_MESSAGE_BYTES, MAX_UNREAD_MESSAGES } from '../src/bounded-fifo.js';

const weight = { maxBytes: 100, sizeOf: (b: Uint8Array) => b.byteLength };

describe('BoundedFifo', () => {
  it('past its count the oldest go, counted; the array is compacted as items are taken', () => {
    const q = new BoundedFifo<number>(10);
    for (let i = 0; i < 100_000; i++) q.push(i);
    expect(q.size).toBe(10);
    expect(q.dropped).toBe(100_000 - 10);
    expect(q.slots).toBeLessThanOrEqual(10 + 2048);
    expect(q.shift()).toBe(100_000 - 10);
  });

  it('past its bytes the oldest go, never the item just pushed; taking and removing release bytes', () => {
    const q = new BoundedFifo<Uint8Array>(1000, weight);
    const items = [40, 40, 30, 50].map((n, i) => new Uint8Array(n).fill(i));
    for (const b of items) q.push(b);
    // 40 + 40 + 30 = 110 > 100: the first went; then + 50 = 120: the second went
    expect(q.dropped).toBe(2);
    expect(q.byteSize).toBe(80);
    expect(q.shift()?.[0]).toBe(2);
    expect(q.byteSize).toBe(50);
    expect(q.remove(items[3] as Uint8Array)).toBe(true);
    expect(q.remove(items[3] as Uint8Array)).toBe(false);
    expect(q.byteSize).toBe(0);
    q.push(new Uint8Array(500)); // over the bound on its own: kept, it is the newest
    expect([q.size, q.byteSize]).toEqual([1, 500]);
    q.push(new Uint8Array(1));
    expect([q.size, q.byteSize, q.dropped]).toEqual([1, 1, 3]);
  });

  it('the message bound: 64 MiB of 1 MiB messages, whatever their count', () => {
    const q = new BoundedFifo<Uint8Array>(MAX_UNREAD_MESSAGES, {
      maxBytes: MAX_UNREAD_MESSAGE_BYTES,
      sizeOf: (b) => b.byteLength,
    });
    const mib = new Uint8Array(1024 * 1024);
    for (let i = 0; i < 1000; i++) q.push(mib);
    expect([q.size, q.byteSize, q.dropped]).toEqual([64, 64 * 1024 * 1024, 1000 - 64]);
  });

  it('against a model: the newest items in order, within both bounds, every drop counted', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 60 }), fc.constant(-1)), { maxLength: 200 }),
        (maxItems, ops) => {
          const q = new BoundedFifo<Uint8Array>(maxItems, weight);
          let model: Uint8Array[] = [];
          let dropped = 0;
          for (const op of ops) {
            if (op < 0) {
              expect(q.shift()).toBe(model.shift());
              continue;
            }
            const item = new Uint8Array(op);
            q.push(item);
            model.push(item);
            const bytes = () => model.reduce((n, b) => n + b.byteLength, 0);
            while (model.length > maxItems || (bytes() > weight.maxBytes && model.length > 1)) {
              model = model.slice(1);
              dropped++;
            }
          }
          expect(q.size).toBe(model.length);
          expect(q.byteSize).toBe(model.reduce((n, b) => n + b.byteLength, 0));
          expect(q.dropped).toBe(dropped);
          for (const m of model) expect(q.shift()).toBe(m);
        },
      ),
      { numRuns: 300 },
    );
  });
});
