/**
 * The rendezvous backend compliance suite. Every backend runs it (about ten lines):
 *
 * ```ts
 * import { testRendezvousBackend } from '@srmudp/rendezvous/compliance';
 * testRendezvousBackend('memory', {
 *   async setup() {
 *     const store = new MemoryStore();
 *     return { create: async () => memoryBackend({ store }), teardown: async () => {} };
 *   },
 * });
 * ```
 *
 * `setup()` runs once per test and builds the shared infrastructure (a store, a server, a DHT);
 * every backend `create()` makes inside one test must see the same data. Backends are closed by
 * the suite; `teardown()` closes the infrastructure. Needs vitest (a peer dependency).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import type { RecordKey, RendezvousBackend, Signer } from './backend.js';
import { createSigner, isRendezvousBackend } from './backend.js';
import { isRendezvousError } from './errors.js';
import type { Locator } from './locator.js';
import type { Candidate } from './record.js';
import { decodeRecord, MAX_RECORD_SIZE, signRecord } from './record.js';

export interface ComplianceInfrastructure {
  create(): Promise<RendezvousBackend>;
  teardown(): Promise<void>;
}
export interface ComplianceHarness {
  setup(): Promise<ComplianceInfrastructure>;
  /** How long a published value may take to become visible to resolve (eventual consistency), ms. Default 2000. */
  readonly settleMs?: number;
  /** Locator to resolve a never-published peer with, when the backend cannot derive one from the peer id. */
  readonly locatorFor?: (peerId: Uint8Array) => Locator;
  /** Per-test timeout, ms. Default 20 000. */
  readonly timeoutMs?: number;
}

export interface TestIdentity {
  readonly secretKey: Uint8Array;
  readonly peerId: Uint8Array;
  readonly signer: Signer;
}
export function testIdentity(): TestIdentity {
  const secretKey = ed25519.utils.randomSecretKey();
  const signer = createSigner(secretKey);
  return { secretKey, peerId: signer.publicKey, signer };
}

/** A real signed record with `seq` (and `count` IPv4 host candidates). */
export function testRecord(id: TestIdentity, seq: number, count = 1, now = Date.now()): Uint8Array {
  const candidates: Candidate[] = [];
  for (let i = 0; i < count; i++)
    candidates.push({
      kind: 'host',
      family: 4,
      host: `10.0.${i >> 8}.${i & 255}`,
      port: 1000 + (seq % 60000),
    });
  return signRecord(
    { peerId: id.peerId, seq, issuedAt: now, expiresAt: now + 3_600_000, candidates },
    id.secretKey,
  );
}

/** The largest record the format allows (close to 999 bytes): IPv6 candidates. */
export function largestTestRecord(id: TestIdentity, seq: number, now = Date.now()): Uint8Array {
  const candidates: Candidate[] = [];
  // 58 head (with the candidate count) + 1 gate count + 64 signature = 123; 19 bytes per IPv6 candidate: 45 candidates = 978 bytes.
  for (let i = 0; i < 45; i++)
    candidates.push({ kind: 'srflx', family: 6, host: `2001:db8::${(i + 1).toString(16)}`, port: 40000 + i });
  return signRecord(
    { peerId: id.peerId, seq, issuedAt: now, expiresAt: now + 3_600_000, candidates },
    id.secretKey,
  );
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let last = await fn();
  while (!ok(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    last = await fn();
  }
  return last;
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  expect(error, `expected a RendezvousError ${code}`).toBeDefined();
  expect(isRendezvousError(error) ? error.code : String(error)).toBe(code);
}

function handleCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) {
    if (r === 'TTYWrap' || r === 'FSReqCallback' || r === 'FSReqPromise' || r === 'Immediate') continue;
    counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  return counts;
}

function grown(before: Map<string, number>, after: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, v] of after) if (v > (before.get(k) ?? 0)) out.push(`${k}: ${before.get(k) ?? 0} -> ${v}`);
  return out;
}

/** The result of a backend call on hostile input: a value, or a RendezvousError; anything else fails. */
async function settled<T>(p: Promise<T>): Promise<T | { error: string }> {
  try {
    return await p;
  } catch (error) {
    if (isRendezvousError(error)) return { error: error.code };
    throw new Error(`expected a value or a RendezvousError, got: ${String(error)}`, { cause: error });
  }
}

/** Locators a card's author could write for this backend: wrong types, huge values, foreign targets. */
function hostileLocators(backend: string): Locator[] {
  const huge = 'x'.repeat(100_000);
  return [
    { backend, salt: 5, url: false, address: 7 },
    { backend, salt: huge, url: `http://127.0.0.1:1/${huge}`, address: huge, type: huge },
    { backend, url: 'http://127.0.0.1:1/some/internal/path?x=1', address: '../../etc', type: 'x' },
    { backend, url: 'file:///etc/passwd', salt: '' },
    { backend, constructor: 'x', __proto__: 'y', toString: 'z' } as unknown as Locator,
    { backend: 'some-other-backend', url: 'http://127.0.0.1:1' },
  ];
}

/** Registers the compliance tests for one backend. */
export function testRendezvousBackend(name: string, harness: ComplianceHarness): void {
  const settle = harness.settleMs ?? 2000;
  const timeout = harness.timeoutMs ?? 20_000;

  async function withInfra(fn: (create: () => Promise<RendezvousBackend>) => Promise<void>): Promise<void> {
    const infra = await harness.setup();
    const made: RendezvousBackend[] = [];
    try {
      await fn(async () => {
        const b = await infra.create();
        made.push(b);
        return b;
      });
    } finally {
      await Promise.allSettled(made.map((b) => b.close()));
      await infra.teardown();
    }
  }
  const keyOf = (peerId: Uint8Array, locator?: Locator): RecordKey =>
    locator ? { peerId, locator } : { peerId };
  const same = (a: Uint8Array | null, b: Uint8Array) =>
    a !== null && a.length === b.length && a.every((x, i) => x === b[i]);

  describe(`rendezvous backend compliance: ${name}`, () => {
    it('is a branded v1 backend with sane capabilities', { timeout }, async () => {
      await withInfra(async (create) => {
        const b = await create();
        expect(isRendezvousBackend(b)).toBe(true);
        expect(b.specificationVersion).toBe('v1');
        expect(typeof b.name).toBe('string');
        const c = b.capabilities;
        expect(c.maxValueSize).toBeGreaterThanOrEqual(MAX_RECORD_SIZE);
        expect(['push', 'poll', 'none']).toContain(c.watch);
        expect(['free', 'paid']).toContain(c.cost);
        expect(c.minPublishIntervalMs).toBeGreaterThanOrEqual(0);
        expect(c.republishIntervalMs).toBeGreaterThanOrEqual(c.minPublishIntervalMs);
        expect(typeof b.watch === 'function').toBe(c.watch !== 'none');
      });
    });

    it('round trip: a value published by one instance resolves on another', { timeout }, async () => {
      await withInfra(async (create) => {
        const a = await create();
        const b = await create();
        const id = testIdentity();
        const value = largestTestRecord(id, 1000);
        const { locator } = await a.publish({ peerId: id.peerId }, value, { seq: 1000, signer: id.signer });
        expect(locator.backend).toBe(a.name);
        const got = await eventually(
          () => b.resolve(keyOf(id.peerId, locator)),
          (v) => same(v, value),
          settle,
        );
        expect(got).toEqual(value);
        expect(decodeRecord(got as Uint8Array).record.seq).toBe(1000);
      });
    });

    it('not found gives null', { timeout }, async () => {
      await withInfra(async (create) => {
        const b = await create();
        const id = testIdentity();
        expect(await b.resolve(keyOf(id.peerId, harness.locatorFor?.(id.peerId)))).toBeNull();
      });
    });

    it('a newer sequence wins, an older one is rejected with STALE_SEQUENCE', { timeout }, async () => {
      await withInfra(async (create) => {
        const a = await create();
        const b = await create();
        const id = testIdentity();
        const v1 = testRecord(id, 10);
        const v2 = testRecord(id, 20);
        const { locator } = await a.publish({ peerId: id.peerId }, v1, { seq: 10, signer: id.signer });
        await a.publish({ peerId: id.peerId }, v2, { seq: 20, signer: id.signer });
        const got = await eventually(
          () => b.resolve(keyOf(id.peerId, locator)),
          (v) => same(v, v2),
          settle,
        );
        expect(got).toEqual(v2);
        await expectCode(
          b.publish({ peerId: id.peerId }, v1, { seq: 10, signer: id.signer }),
          'STALE_SEQUENCE',
        );
        // Same seq, other bytes: an equivocation, refused.
        const v2b = testRecord(id, 20, 2);
        await expectCode(
          a.publish({ peerId: id.peerId }, v2b, { seq: 20, signer: id.signer }),
          'STALE_SEQUENCE',
        );
        // Same seq, same bytes: an idempotent republish.
        await a.publish({ peerId: id.peerId }, v2, { seq: 20, signer: id.signer });
        expect(
          await eventually(
            () => a.resolve(keyOf(id.peerId, locator)),
            (v) => same(v, v2),
            settle,
          ),
        ).toEqual(v2);
      });
    });

    it('concurrent publishers converge on the highest sequence', { timeout }, async () => {
      await withInfra(async (create) => {
        const a = await create();
        const b = await create();
        const id = testIdentity();
        const first = testRecord(id, 1);
        const { locator } = await a.publish({ peerId: id.peerId }, first, { seq: 1, signer: id.signer });
        const seqs = [5, 3, 9, 7, 8, 2, 6];
        const values = new Map(seqs.map((s) => [s, testRecord(id, s)]));
        const results = await Promise.allSettled(
          seqs.map((s, i) =>
            (i % 2 ? a : b).publish({ peerId: id.peerId }, values.get(s) as Uint8Array, {
              seq: s,
              signer: id.signer,
            }),
          ),
        );
        for (const r of results) {
          if (r.status === 'rejected')
            expect(isRendezvousError(r.reason, 'STALE_SEQUENCE'), String(r.reason)).toBe(true);
        }
        const best = values.get(9) as Uint8Array;
        expect(
          await eventually(
            () => a.resolve(keyOf(id.peerId, locator)),
            (v) => same(v, best),
            settle,
          ),
        ).toEqual(best);
        expect(
          await eventually(
            () => b.resolve(keyOf(id.peerId, locator)),
            (v) => same(v, best),
            settle,
          ),
        ).toEqual(best);
      });
    });

    it('refuses values above maxValueSize with TOO_LARGE', { timeout }, async () => {
      await withInfra(async (create) => {
        const a = await create();
        const id = testIdentity();
        const big = new Uint8Array(a.capabilities.maxValueSize + 1).fill(7);
        await expectCode(a.publish({ peerId: id.peerId }, big, { seq: 1, signer: id.signer }), 'TOO_LARGE');
      });
    });

    it('honours AbortSignal: an aborted call rejects with ABORTED', { timeout }, async () => {
      await withInfra(async (create) => {
        const a = await create();
        const id = testIdentity();
        const aborted = AbortSignal.abort(new Error('stop'));
        await expectCode(
          a.publish({ peerId: id.peerId }, testRecord(id, 1), { seq: 1, signer: id.signer, signal: aborted }),
          'ABORTED',
        );
        await expectCode(
          a.resolve(keyOf(id.peerId, harness.locatorFor?.(id.peerId)), { signal: aborted }),
          'ABORTED',
        );
        // Aborting while in flight settles promptly: either done or ABORTED, never hanging.
        const c = new AbortController();
        const p = a.resolve(keyOf(id.peerId, harness.locatorFor?.(id.peerId)), { signal: c.signal });
        c.abort();
        try {
          await p;
        } catch (error) {
          expect(isRendezvousError(error, 'ABORTED'), String(error)).toBe(true);
        }
      });
    });

    it('watch yields the newest value and never the same value twice in a row', { timeout }, async () => {
      await withInfra(async (create) => {
        const a = await create();
        const b = await create();
        if (b.capabilities.watch === 'none') {
          expect(b.watch).toBeUndefined();
          return;
        }
        const id = testIdentity();
        const v1 = testRecord(id, 100);
        const v2 = testRecord(id, 200);
        const { locator } = await a.publish({ peerId: id.peerId }, v1, { seq: 100, signer: id.signer });
        await eventually(
          () => b.resolve(keyOf(id.peerId, locator)),
          (v) => same(v, v1),
          settle,
        );
        const controller = new AbortController();
        const seen: Uint8Array[] = [];
        const watchDone = (async () => {
          const it = b.watch?.(keyOf(id.peerId, locator), { signal: controller.signal });
          if (!it) return;
          for await (const v of it) {
            seen.push(v);
            if (same(v, v2)) {
              controller.abort();
            }
          }
        })();
        // Publish the same value again (must not be yielded twice), then a newer one.
        await new Promise((r) => setTimeout(r, 50));
        await a.publish({ peerId: id.peerId }, v1, { seq: 100, signer: id.signer });
        await a.publish({ peerId: id.peerId }, v2, { seq: 200, signer: id.signer });
        const timer = setTimeout(() => controller.abort(), settle + 5000);
        await watchDone;
        clearTimeout(timer);
        expect(seen.length).toBeGreaterThan(0);
        expect(seen[seen.length - 1]).toEqual(v2);
        for (let i = 1; i < seen.length; i++)
          expect(same(seen[i] as Uint8Array, seen[i - 1] as Uint8Array)).toBe(false);
      });
    });

    it('close() is idempotent, later calls throw CLOSED, and no handles stay open', { timeout }, async () => {
      const before = handleCounts();
      await withInfra(async (create) => {
        const a = await create();
        const id = testIdentity();
        const { locator } = await a.publish({ peerId: id.peerId }, testRecord(id, 1), {
          seq: 1,
          signer: id.signer,
        });
        await a.resolve(keyOf(id.peerId, locator));
        if (a.watch) {
          const c = new AbortController();
          const it = a.watch(keyOf(id.peerId, locator), { signal: c.signal });
          const iter = it[Symbol.asyncIterator]();
          const pending = iter.next();
          await a.close();
          // A watch ends when its backend closes.
          const r = await Promise.race([pending, new Promise((res) => setTimeout(() => res('hang'), 3000))]);
          c.abort();
          expect(r === 'hang' ? 'watch did not end on close()' : 'ended').toBe('ended');
        }
        await a.close();
        await a.close();
        await expectCode(
          a.publish({ peerId: id.peerId }, testRecord(id, 2), { seq: 2, signer: id.signer }),
          'CLOSED',
        );
        await expectCode(a.resolve(keyOf(id.peerId, locator)), 'CLOSED');
      });
      const after = await eventually(
        async () => handleCounts(),
        (now) => grown(before, now).length === 0,
        2000,
      );
      expect(grown(before, after)).toEqual([]);
    });
  });

  describe(`rendezvous backend compliance, hostile input: ${name}`, () => {
    it('canResolve and resolve with hostile locators give null, bytes or a typed error, never another exception', {
      timeout,
    }, async () => {
      await withInfra(async (create) => {
        const b = await create();
        const id = testIdentity();
        for (const locator of hostileLocators(b.name)) {
          expect(() => b.canResolve?.(locator)).not.toThrow();
          const r = await settled(
            b.resolve({ peerId: id.peerId, locator }, { signal: AbortSignal.timeout(settle + 3000) }),
          );
          expect(r === null || r instanceof Uint8Array || 'error' in r).toBe(true);
        }
      });
    });

    it('a value that is not a signed record is stored as opaque bytes or refused with a typed error', {
      timeout,
    }, async () => {
      await withInfra(async (create) => {
        const a = await create();
        const id = testIdentity();
        const junk = new Uint8Array(200).map((_, i) => (i * 37) & 255);
        const r = await settled(a.publish({ peerId: id.peerId }, junk, { seq: 1, signer: id.signer }));
        if ('error' in r) return; // refused (a server that verifies records)
        const got = await settled(a.resolve(keyOf(id.peerId, r.locator)));
        // a backend stores bytes; it never invents or alters them (resolvers verify)
        expect(got === null || (got instanceof Uint8Array && same(got, junk)) || 'error' in got).toBe(true);
      });
    });

    it('40 concurrent resolves with and without signals, half aborted: no listener warnings, the backend still works', {
      timeout,
    }, async () => {
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
      process.on('warning', onWarning);
      try {
        await withInfra(async (create) => {
          const a = await create();
          const id = testIdentity();
          const { locator } = await a.publish({ peerId: id.peerId }, testRecord(id, 5), {
            seq: 5,
            signer: id.signer,
          });
          const controllers = Array.from({ length: 20 }, () => new AbortController());
          const calls = [
            ...controllers.map((c) => settled(a.resolve(keyOf(id.peerId, locator), { signal: c.signal }))),
            ...Array.from({ length: 20 }, () => settled(a.resolve(keyOf(id.peerId, locator)))),
          ];
          for (const c of controllers) c.abort(new Error('enough'));
          const results = await Promise.race([
            Promise.all(calls),
            new Promise<'hang'>((r) => setTimeout(() => r('hang'), settle + 10_000)),
          ]);
          expect(results === 'hang' ? 'resolves hung after abort' : 'settled').toBe('settled');
          for (const r of results as unknown[]) {
            const e = r as { error?: string } | null;
            if (e !== null && !(e instanceof Uint8Array))
              expect(['ABORTED', 'UNAVAILABLE']).toContain(e.error);
          }
          expect(
            await eventually(
              () => a.resolve(keyOf(id.peerId, locator)),
              (v) => v !== null,
              settle,
            ),
          ).not.toBeNull();
        });
        await new Promise((r) => setImmediate(r));
        expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
      } finally {
        process.off('warning', onWarning);
      }
    });
  });
}
