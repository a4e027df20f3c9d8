import { ed25519 } from '@noble/curves/ed25519.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { Candidate } from '../src/index.js';
import {
  decodeRecord,
  encodeCard,
  isRendezvousError,
  parseCard,
  RecordCache,
  Rendezvous,
  RendezvousError,
  SequencedStore,
  signRecord,
} from '../src/index.js';
import { TestBackend } from './helpers.js';

const A: Candidate = { kind: 'host', family: 4, host: '192.168.0.2', port: 5000 };
const B: Candidate = { kind: 'srflx', family: 4, host: '198.51.100.7', port: 62000 };

const open: Rendezvous[] = [];
function make(options: ConstructorParameters<typeof Rendezvous>[0]): Rendezvous {
  const r = new Rendezvous(options);
  open.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

function key() {
  const secretKey = ed25519.utils.randomSecretKey();
  return { secretKey, peerId: ed25519.getPublicKey(secretKey) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    return isRendezvousError(error) ? error.code : `non-rendezvous: ${String(error)}`;
  }
  return 'no error';
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('Rendezvous publish', () => {
  it('publishes a signed record and another node resolves it from the card', async () => {
    const store = new SequencedStore();
    const { secretKey, peerId } = key();
    const alice = make({ backends: [new TestBackend('t', store)], secretKey });
    const report = await alice.publish({ candidates: [A, B] });
    expect(report.changed).toBe(true);
    expect(report.backends).toEqual([{ backend: 't', status: 'published', locator: { backend: 't' } }]);
    const card = alice.card({ name: 'alice' });
    expect(parseCard(card).record).toBeUndefined(); // a network locator: no embedded record
    const bob = make({ backends: [new TestBackend('t', store)] });
    const found = await bob.resolve(card);
    expect(found?.record.peerId).toEqual(peerId);
    expect(found?.record.candidates).toEqual([A, B]);
    expect(found?.source).toBe('t');
  });

  it('re-signs only when candidates change, with a higher sequence', async () => {
    const backend = new TestBackend('t');
    const alice = make({ backends: [backend], secretKey: key().secretKey });
    const r1 = await alice.publish({ candidates: [A] });
    const r2 = await alice.publish({ candidates: [A] });
    expect(r2.changed).toBe(false);
    expect(r2.record.seq).toBe(r1.record.seq);
    const r3 = await alice.publish({ candidates: [A, B] });
    expect(r3.changed).toBe(true);
    expect(r3.record.seq).toBeGreaterThan(r1.record.seq);
    expect(decodeRecord(backend.store.get(r3.record.peerId) as Uint8Array).record.seq).toBe(r3.record.seq);
  });

  it('never publishes faster than minPublishIntervalMs and coalesces to the newest record', async () => {
    const backend = new TestBackend('t', undefined, { minPublishIntervalMs: 300 });
    const alice = make({ backends: [backend], secretKey: key().secretKey });
    await alice.publish({ candidates: [A] });
    const r2 = await alice.publish({ candidates: [B] });
    expect(r2.backends[0]?.status).toBe('deferred');
    const r3 = await alice.publish({ candidates: [A, B] });
    expect(r3.backends[0]?.status).toBe('deferred');
    expect(backend.publishes.length).toBe(1);
    await until(() => backend.publishes.length >= 2);
    expect(backend.publishes.length).toBe(2);
    expect((backend.publishes[1]?.at ?? 0) - (backend.publishes[0]?.at ?? 0)).toBeGreaterThanOrEqual(290);
    expect(backend.publishes[1]?.seq).toBe(r3.record.seq); // the newest, B alone was never sent
  });

  it('republishes on the republish interval and re-signs past half the lifetime', async () => {
    const backend = new TestBackend('t', undefined, { republishIntervalMs: 80 });
    const alice = make({ backends: [backend], secretKey: key().secretKey, ttlMs: 200 });
    await alice.publish({ candidates: [A] });
    await until(() => backend.publishes.length >= 4, 3000);
    const seqs = backend.publishes.map((p) => p.seq);
    expect(new Set(seqs).size).toBeGreaterThan(1); // records were re-signed before expiring
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThanOrEqual(seqs[i - 1] as number);
    const last = decodeRecord(backend.publishes.at(-1)?.value as Uint8Array).record;
    expect(last.expiresAt).toBeGreaterThan(Date.now());
  });

  it('continues above a newer sequence found on the backend (STALE_SEQUENCE recovery)', async () => {
    const store = new SequencedStore();
    const { secretKey, peerId } = key();
    const future = Date.now() * 1000 + 5_000_000_000;
    const now = Date.now();
    store.put(
      peerId,
      signRecord({ peerId, seq: future, issuedAt: now, expiresAt: now + 60_000, candidates: [] }, secretKey),
      future,
    );
    const alice = make({ backends: [new TestBackend('t', store)], secretKey });
    const r = await alice.publish({ candidates: [A] });
    expect(r.backends[0]?.status).toBe('published');
    expect(alice.current()?.record.seq).toBe(future + 1);
    expect(store.seq(peerId)).toBe(future + 1);
  });

  it('reports a failing backend without failing the others', async () => {
    const bad = new TestBackend('bad');
    bad.publish = async () => {
      throw new RendezvousError('PAYMENT_REQUIRED', 'no funds');
    };
    const good = new TestBackend('good');
    const alice = make({ backends: [bad, good], secretKey: key().secretKey });
    const r = await alice.publish({ candidates: [A] });
    expect(r.backends.map((b) => b.status)).toEqual(['failed', 'published']);
    expect(alice.stats().publishFailures).toBe(1);
  });

  it('embeds the record in the card for the manual case and resolves it offline', async () => {
    const { secretKey, peerId } = key();
    const alice = make({ backends: [new TestBackend('manual')], secretKey });
    await alice.publish({ candidates: [A] });
    const card = alice.card();
    expect(parseCard(card).embedded?.candidates).toEqual([A]);
    const bob = make({ backends: [] });
    const r = await bob.resolve(card);
    expect(r?.source).toBe('card');
    expect(r?.record.peerId).toEqual(peerId);
  });

  it('throws TypeError when publishing without a secret key and CLOSED after close()', async () => {
    const r = make({ backends: [new TestBackend('t')] });
    await expect(r.publish({ candidates: [A] })).rejects.toThrow(TypeError);
    const backend = new TestBackend('t');
    const s = make({ backends: [backend], secretKey: key().secretKey });
    await s.close();
    expect(backend.closed).toBe(true);
    expect(await codeOf(s.publish({ candidates: [A] }))).toBe('CLOSED');
    expect(() => new Rendezvous({ backends: [{} as never] })).toThrow(
      '"backends[0]" is not a RendezvousBackend',
    );
  });
});

describe('Rendezvous resolve (untrusted backends)', () => {
  async function published() {
    const store = new SequencedStore();
    const { secretKey, peerId } = key();
    const alice = make({ backends: [new TestBackend('t', store)], secretKey });
    await alice.publish({ candidates: [A] });
    return { store, secretKey, peerId, alice, card: alice.card() };
  }

  it('picks the newest valid record and reports a forged one', async () => {
    const { store, peerId, card } = await published();
    const forger = key();
    const good = new TestBackend('t', store);
    const evil = new TestBackend('evil');
    const now = Date.now();
    // A higher seq signed by someone else, labelled with the victim's id.
    const forged = signRecord(
      {
        peerId: forger.peerId,
        seq: Date.now() * 2000,
        issuedAt: now,
        expiresAt: now + 60_000,
        candidates: [B],
      },
      forger.secretKey,
    );
    forged.set(peerId, 1);
    evil.answer = forged;
    const bob = make({ backends: [good, evil] });
    const c = parseCard(card);
    const r = await bob.resolve({ peerId, locators: [...c.locators, { backend: 'evil' }] });
    expect(r?.record.candidates).toEqual([A]);
    expect(r?.rejected.map((x) => x.error.code)).toEqual(['RECORD_FORGED']);
    expect(bob.stats().rejected.RECORD_FORGED).toBe(1);
  });

  it('throws the typed error when only bad values exist: forged, garbage, expired, other peer', async () => {
    const { peerId, secretKey } = await published();
    const evil = new TestBackend('evil');
    const bob = make({ backends: [evil] });
    const target = { peerId, locators: [{ backend: 'evil' }] };
    const other = key();
    const now = Date.now();
    const rec = (sk: Uint8Array, id: Uint8Array, issuedAt: number, expiresAt: number) =>
      signRecord({ peerId: id, seq: 1, issuedAt, expiresAt, candidates: [A] }, sk);
    evil.answer = rec(other.secretKey, other.peerId, now, now + 60_000);
    expect(await codeOf(bob.resolve(target))).toBe('RECORD_FORGED');
    evil.answer = new Uint8Array([1, 2, 3]);
    expect(await codeOf(bob.resolve(target))).toBe('RECORD_MALFORMED');
    evil.answer = new Uint8Array(5000);
    expect(await codeOf(bob.resolve(target))).toBe('RECORD_TOO_LARGE');
    evil.answer = rec(secretKey, peerId, now - 7_200_000, now - 3_600_000);
    expect(await codeOf(bob.resolve(target))).toBe('RECORD_EXPIRED');
    evil.answer = rec(secretKey, peerId, now + 3_600_000, now + 7_200_000);
    expect(await codeOf(bob.resolve(target))).toBe('RECORD_NOT_YET_VALID');
    evil.answer = null;
    expect(await bob.resolve(target)).toBeNull();
    evil.answer = new Error('socket hang up');
    expect(await codeOf(bob.resolve(target))).toBe('UNAVAILABLE');
  });

  it('a replayed older record does not go back: the cached newer one answers', async () => {
    const { store, peerId, alice, card } = await published();
    const first = alice.current()?.bytes as Uint8Array;
    await alice.publish({ candidates: [B] });
    const replay = new TestBackend('t', store);
    const bob = make({ backends: [replay] });
    expect((await bob.resolve(card))?.record.candidates).toEqual([B]);
    replay.answer = first; // the backend now replays the old record
    const r = await bob.resolve(card);
    expect(r?.source).toBe('cache');
    expect(r?.record.candidates).toEqual([B]);
    expect(r?.rejected.map((x) => x.error.code)).toEqual(['STALE_RECORD']);
    expect(new RecordCache().accept(first).record.peerId).toEqual(peerId);
  });

  it('times out a hanging backend with UNAVAILABLE and honours abort', async () => {
    const { peerId } = await published();
    const slow = new TestBackend('slow');
    slow.answer = 'hang';
    const bob = make({ backends: [slow], resolveTimeoutMs: 100 });
    const t0 = Date.now();
    expect(await codeOf(bob.resolve({ peerId, locators: [{ backend: 'slow' }] }))).toBe('UNAVAILABLE');
    expect(Date.now() - t0).toBeLessThan(2000);
    const c = new AbortController();
    const p = bob.resolve(
      { peerId, locators: [{ backend: 'slow' }] },
      { signal: c.signal, timeoutMs: 10_000 },
    );
    setTimeout(() => c.abort(), 20);
    expect(await codeOf(p)).toBe('ABORTED');
  });

  it('NO_BACKEND when no configured backend understands the locators', async () => {
    const { peerId } = key();
    const bob = make({ backends: [new TestBackend('t')] });
    expect(await codeOf(bob.resolve({ peerId, locators: [{ backend: 'dht' }] }))).toBe('NO_BACKEND');
    expect(await codeOf(bob.resolve('srmudp9:xyz'))).toBe('INVALID_CARD');
  });
});

describe('Rendezvous watch', () => {
  it('polls backends without push, yielding each newer record once', async () => {
    const store = new SequencedStore();
    const { secretKey } = key();
    const alice = make({ backends: [new TestBackend('t', store)], secretKey });
    await alice.publish({ candidates: [A] });
    const card = alice.card();
    const polled = new TestBackend('t', store);
    const bob = make({ backends: [polled] });
    const c = new AbortController();
    const seen: Candidate[][] = [];
    const done = (async () => {
      for await (const r of bob.watch(card, { signal: c.signal, intervalMs: 20 })) {
        seen.push([...r.record.candidates]);
        if (seen.length === 1) await alice.publish({ candidates: [B] });
        if (seen.length === 2) c.abort();
      }
    })();
    await done;
    expect(seen).toEqual([[A], [B]]);
    expect(polled.resolves).toBeGreaterThanOrEqual(2);
  });

  it('backs off on failures', async () => {
    const failing = new TestBackend('t');
    failing.answer = new RendezvousError('UNAVAILABLE', 'down');
    const bob = make({ backends: [failing], random: () => 0.5 });
    const c = new AbortController();
    const it = bob.watch(
      { peerId: key().peerId, locators: [{ backend: 't' }] },
      { signal: c.signal, intervalMs: 10, maxIntervalMs: 1000 },
    );
    const consumer = (async () => {
      for await (const _ of it) {
        // nothing arrives from a failing backend
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    c.abort();
    await consumer;
    // without backoff ~40 polls; with doubling 10, 20, 40, 80, 160 ms: at most ~7
    expect(failing.resolves).toBeGreaterThanOrEqual(3);
    expect(failing.resolves).toBeLessThanOrEqual(8);
  });

  it('follows a push backend and ends when the Rendezvous closes', async () => {
    const store = new SequencedStore();
    const { secretKey } = key();
    const alice = make({ backends: [new TestBackend('p', store, { watch: 'push' })], secretKey });
    await alice.publish({ candidates: [A] });
    const card = alice.card();
    const bob = new Rendezvous({ backends: [new TestBackend('p', store, { watch: 'push' })] });
    const seen: number[] = [];
    const done = (async () => {
      for await (const r of bob.watch(card, { intervalMs: 60_000 })) {
        seen.push(r.record.seq);
        if (seen.length === 1) await alice.publish({ candidates: [B] });
        if (seen.length === 2) await bob.close();
      }
    })();
    await done;
    expect(seen.length).toBe(2);
    expect(seen[1]).toBeGreaterThan(seen[0] as number);
  });

  it('encodeCard output is accepted by resolve as a parsed card too', async () => {
    const { secretKey, peerId } = key();
    const store = new SequencedStore();
    const alice = make({ backends: [new TestBackend('t', store)], secretKey });
    await alice.publish({ candidates: [A] });
    const bob = make({ backends: [new TestBackend('t', store)] });
    const r = await bob.resolve(parseCard(encodeCard({ peerId, locators: [{ backend: 't' }] })));
    expect(r?.record.candidates).toEqual([A]);
  });
});

describe('Rendezvous sign', () => {
  it('signs from the same sequence counter as publish, so card records never collide with published ones', async () => {
    const store = new SequencedStore();
    const { secretKey } = key();
    const fixed = 1_764_000_000_000;
    const alice = make({ backends: [new TestBackend('t', store)], secretKey, now: () => fixed });
    const published = await alice.publish({ candidates: [A] });
    const signed = alice.sign({ candidates: [A, B] }, { ttlMs: 30 * 86_400_000 });
    expect(signed.record.seq).toBe(published.record.seq + 1); // same millisecond, still distinct
    expect(signed.record.expiresAt - signed.record.issuedAt).toBe(30 * 86_400_000);
    expect(alice.current()?.record.seq).toBe(published.record.seq); // not published
    const card = alice.card({ record: signed.bytes });
    expect(parseCard(card).embedded?.candidates).toEqual([A, B]);
    expect(() => alice.sign({ candidates: [A] }, { ttlMs: -1 })).toThrow(RangeError);
  });
});

describe('Rendezvous publish retries', () => {
  it('retries a failed put with backoff instead of waiting for the republish interval', async () => {
    const backend = new TestBackend('t', undefined, { republishIntervalMs: 3_600_000 });
    const realPublish = backend.publish.bind(backend);
    let fail = 2;
    backend.publish = async (key, value, options) => {
      if (fail > 0) {
        fail--;
        throw new RendezvousError('UNAVAILABLE', 'server down');
      }
      return realPublish(key, value, options);
    };
    const alice = make({ backends: [backend], secretKey: key().secretKey });
    const r = await alice.publish({ candidates: [A] });
    expect(r.backends[0]?.status).toBe('failed');
    // 1 s, then 2 s later: stored after ~3 s, long before the one-hour republish interval
    await until(() => backend.publishes.length === 1, 6000);
    expect(decodeRecord(backend.store.get(r.record.peerId) as Uint8Array).record.seq).toBe(r.record.seq);
    expect(alice.stats().publishFailures).toBe(2);
  });
});

describe('Rendezvous with a slow backend', () => {
  it('keeps one put in flight and sends only the newest record afterwards', async () => {
    const backend = new TestBackend('slow');
    const realPublish = backend.publish.bind(backend);
    let calls = 0;
    backend.publish = async (key, value, options) => {
      calls++;
      await new Promise((r) => setTimeout(r, 200));
      return realPublish(key, value, options);
    };
    const alice = make({ backends: [backend], secretKey: key().secretKey });
    const first = alice.publish({ candidates: [A] });
    await new Promise((r) => setTimeout(r, 20));
    const r2 = await alice.publish({ candidates: [B] });
    expect(r2.backends[0]?.status).toBe('deferred');
    const r3 = await alice.publish({ candidates: [A, B] });
    expect(r3.backends[0]?.status).toBe('deferred');
    expect((await first).backends[0]?.status).toBe('published');
    await until(() => backend.publishes.length === 2, 3000);
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toBe(2); // no busy retry while the first put was in flight
    expect(backend.publishes[1]?.seq).toBe(r3.record.seq);
  });
});

describe('Rendezvous verify option', () => {
  it('checks cards and resolved records with the injected Ed25519 verification (node:crypto in the façade)', async () => {
    const store = new SequencedStore();
    const { secretKey, peerId } = key();
    const alice = make({ backends: [new TestBackend('t', store)], secretKey });
    await alice.publish({ candidates: [A] });
    const card = alice.card({ record: alice.sign({ candidates: [A, B] }).bytes });
    const seen: Uint8Array[] = [];
    const counting = (s: Uint8Array, m: Uint8Array, k: Uint8Array) => {
      seen.push(k);
      return ed25519.verify(s, m, k);
    };
    expect(parseCard(card, { verify: counting }).embedded?.candidates).toEqual([A, B]);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toEqual(peerId);
    // the verification decides: one that refuses makes the card and the resolve fail
    expect(() => parseCard(card, { verify: () => false })).toThrow(/RECORD_FORGED/);
    const bob = make({ backends: [new TestBackend('t', store)], verify: counting });
    seen.length = 0;
    expect((await bob.resolve(parseCard(card)))?.record.peerId).toEqual(peerId);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((k) => equalKey(k, peerId))).toBe(true);
    const carol = make({ backends: [new TestBackend('t', store)], verify: () => false });
    expect(await codeOf(carol.resolve(parseCard(card)))).not.toBe('no error');
  });
});

function equalKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
