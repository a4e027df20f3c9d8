import { createSocket, type Socket } from 'node:dgram';
import { ed25519 } from '@noble/curves/ed25519.js';
import { createSigner, signRecord } from '@srmudp/rendezvous';
import { afterEach, describe, expect, it } from 'vitest';
import { checkKrpcDatagram, type DhtBackend, dhtBackend } from '../src/index.js';
import { bencode, KrpcFuzzer } from './krpc-fuzz.js';
import { loopbackDht } from './loopback-dht.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function liveBackend() {
  const net = await loopbackDht(4);
  cleanup.push(() => net.close());
  const backend = dhtBackend({
    bootstrap: false,
    nodes: net.nodes,
    host: '127.0.0.1',
    timeoutMs: 5000,
    queryTimeoutMs: 500,
    minPublishIntervalMs: 0,
  });
  cleanup.push(() => backend.close());
  await backend.ready({ minNodes: net.nodes.length });
  const sock: Socket = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => sock.close(() => r())));
  return { backend, sock, port: backend.dht.address().port };
}

/** Publishes and resolves a fresh record through the DHT: the backend still works. */
async function roundTrip(backend: DhtBackend): Promise<void> {
  const secretKey = ed25519.utils.randomSecretKey();
  const signer = createSigner(secretKey);
  const now = Date.now();
  const seq = now * 1000; // as nextSequence(): 16 digits
  const value = signRecord(
    {
      peerId: signer.publicKey,
      seq,
      issuedAt: now,
      expiresAt: now + 60_000,
      candidates: [{ kind: 'srflx', family: 4, host: '198.51.100.9', port: 9 }],
    },
    secretKey,
  );
  await backend.publish({ peerId: signer.publicKey }, value, { seq, signer });
  expect(await backend.resolve({ peerId: signer.publicKey, locator: { backend: 'dht' } })).toEqual(value);
}

async function until(ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
}

describe('KRPC guard: malformed datagrams never reach bittorrent-dht', () => {
  it('the reported crash: an integer where a buffer is expected, in every query, leaves the backend alive', async () => {
    const { backend, sock, port } = await liveBackend();
    const cases = KrpcFuzzer.integerFieldCases();
    // the 66-byte datagram of the report: a get whose target is the integer 1
    const report = new TextEncoder().encode(
      'd1:ad2:id20:xxxxxxxxxxxxxxxxxxxx6:targeti1ee1:q3:get1:t2:aa1:y1:qe',
    );
    expect(report.length).toBe(66);
    for (const d of [report, ...cases]) sock.send(d, port, '127.0.0.1');
    await until(() => (backend.stats().dropped.query ?? 0) >= cases.length + 1, 3000);
    const stats = backend.stats();
    expect(stats.dropped).toEqual({ query: cases.length + 1 }); // the DHT's own traffic passes
    expect(stats.contained).toBe(0);
    await roundTrip(backend);
  });

  it('a query named after a property of Object (constructor, __proto__) is dropped, and the backend lives', async () => {
    const { backend, sock, port } = await liveBackend();
    const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
    for (const name of names)
      sock.send(
        `d1:ad2:id20:xxxxxxxxxxxxxxxxxxxxe1:q${name.length}:${name}1:t2:aa1:y1:qe`,
        port,
        '127.0.0.1',
      );
    await until(() => (backend.stats().dropped['unknown-query'] ?? 0) >= names.length, 3000);
    const stats = backend.stats();
    expect(stats.dropped).toEqual({ 'unknown-query': names.length });
    expect(stats.contained).toBe(0);
    await roundTrip(backend);
  });

  it('lets the real traffic of bittorrent-dht through (nothing dropped during a publish and resolve)', async () => {
    const { backend } = await liveBackend();
    await roundTrip(backend);
    const stats = backend.stats();
    expect(stats.passed).toBeGreaterThan(0);
    expect(stats.dropped).toEqual({});
  });

  it('one socket sending queries under many node ids takes one routing-table entry, not the table', async () => {
    const { backend, sock, port } = await liveBackend();
    const before = backend.dht.nodes.count();
    for (let i = 0; i < 400; i++) {
      const ping = bencode({
        t: new Uint8Array([0, i & 255]),
        y: new TextEncoder().encode('q'),
        q: new TextEncoder().encode('ping'),
        a: { id: crypto.getRandomValues(new Uint8Array(20)) },
      });
      sock.send(ping, port, '127.0.0.1');
      if (i % 64 === 63) await until(() => backend.stats().passed >= i - 8, 500);
    }
    await until(() => backend.stats().received >= 400, 3000);
    expect(backend.dht.nodes.count()).toBeLessThanOrEqual(before + 1);
    await roundTrip(backend);
  });

  it('a throw inside the library for a datagram that passed the checks drops that datagram only (contained)', async () => {
    const { backend, sock, port } = await liveBackend();
    const inner = (backend.dht as unknown as { _rpc: { socket: { socket: NodeJS.EventEmitter } } })._rpc
      .socket.socket;
    const boom = () => {
      throw new Error('library bug');
    };
    inner.prependListener('message', boom);
    const ping = bencode({
      t: new Uint8Array([9, 9]),
      y: new TextEncoder().encode('q'),
      q: new TextEncoder().encode('ping'),
      a: { id: new Uint8Array(20).fill(7) },
    });
    sock.send(ping, port, '127.0.0.1');
    await until(() => backend.stats().contained >= 1, 3000);
    inner.removeListener('message', boom);
    expect(backend.stats().contained).toBe(1);
    await roundTrip(backend);
  });

  it('checkKrpcDatagram: well-formed BEP 5 / BEP 44 messages pass, wrong types and sizes do not', () => {
    const t = new Uint8Array([1, 2]);
    const id = new Uint8Array(20);
    const enc = (s: string) => new TextEncoder().encode(s);
    const q = (name: string, a: Record<string, unknown>) =>
      checkKrpcDatagram(bencode({ t, y: enc('q'), q: enc(name), a: { id, ...(a as object) } } as never));
    expect(q('ping', {})).toBeNull();
    expect(q('get', { target: id, seq: 3 })).toBeNull();
    expect(q('get', { target: 1 })).toBe('query');
    expect(q('get', { target: new Uint8Array(19) })).toBe('query');
    expect(
      q('put', { token: t, v: enc('x'), k: new Uint8Array(32), sig: new Uint8Array(64), seq: 1 }),
    ).toBeNull();
    expect(q('put', { token: t, v: enc('x'), k: new Uint8Array(32) })).toBe('query'); // k without sig and seq
    expect(q('put', { token: t, v: new Uint8Array(1001) })).toBe('query');
    expect(q('announce_peer', { info_hash: id, token: t, port: 6881 })).toBeNull();
    expect(q('announce_peer', { info_hash: id, token: t })).toBe('query'); // no port, no implied_port
    expect(q('vote', {})).toBe('unknown-query');
    // names of Object's own properties are not methods (they threw past the guard: a crash)
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'])
      expect(q(name, {}), name).toBe('unknown-query');
    expect(checkKrpcDatagram(bencode({ t, y: enc('r'), r: { id, nodes: new Uint8Array(52) } }))).toBeNull();
    expect(checkKrpcDatagram(bencode({ t, y: enc('r'), r: { id, nodes: new Uint8Array(27) } }))).toBe(
      'response',
    );
    expect(checkKrpcDatagram(bencode({ t, y: enc('e'), e: [203, enc('bad token')] }))).toBeNull();
    expect(checkKrpcDatagram(bencode({ t, y: enc('e'), e: enc('x') }))).toBe('error');
    expect(checkKrpcDatagram(enc('i03e'))).toBe('bencode'); // leading zero
    expect(checkKrpcDatagram(enc('i9007199254740992e'))).toBe('bencode'); // above 2^53 - 1
    expect(q('get', { target: id, seq: Number.MAX_SAFE_INTEGER })).toBeNull();
    expect(checkKrpcDatagram(enc('d1:ti1e1:ti2ee'))).toBe('bencode'); // duplicate key
    expect(checkKrpcDatagram(enc('de garbage'))).toBe('bencode'); // trailing bytes
    expect(checkKrpcDatagram(enc(`${'l'.repeat(5)}${'e'.repeat(5)}`))).toBe('bencode'); // too deep
    expect(checkKrpcDatagram(new Uint8Array(3000))).toBe('size');
  });

  it('survives 100 000 malformed datagrams at a live backend, which still publishes and resolves', {
    timeout: 120_000,
  }, async () => {
    const { backend, sock, port } = await liveBackend();
    const seed = Number(process.env.KRPC_FUZZ_SEED ?? 0x5eed);
    const fuzz = new KrpcFuzzer(seed);
    const want = 100_000;
    const batch = 128; // below the default socket receive buffer: few kernel drops
    const t0 = performance.now();
    let sent = 0;
    // Bounded: at most 1.5x the datagrams and 90 s, whatever the kernel drops.
    while (backend.stats().received < want && sent < want * 1.5 && performance.now() - t0 < 90_000) {
      const before = backend.stats().received;
      for (let i = 0; i < batch; i++) sock.send(fuzz.next(), port, '127.0.0.1');
      sent += batch;
      await until(() => backend.stats().received >= before + batch, 200);
    }
    const ms = performance.now() - t0;
    const stats = backend.stats();
    const dropped = Object.values(stats.dropped).reduce((a, b) => a + (b ?? 0), 0);
    console.log(
      `KRPC fuzz (seed ${seed}): ${sent} sent, ${stats.received} received in ${(ms / 1000).toFixed(1)} s; ` +
        `${dropped} dropped ${JSON.stringify(stats.dropped)}, ${stats.passed} passed, ${stats.contained} contained`,
    );
    expect(stats.received, `seed ${seed}`).toBeGreaterThanOrEqual(want);
    expect(dropped, `seed ${seed}`).toBeGreaterThan(want * 0.9);
    expect(stats.contained, `seed ${seed}: a datagram passed the checks and still threw`).toBe(0);
    await roundTrip(backend);
  });
});
