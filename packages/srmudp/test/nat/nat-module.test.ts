// The façade's NAT traversal on loopback (no lab needed): `@srmudp/punch`'s NatSession run by the
// node's driver. STUN server option and name resolution, gathering through the node's own socket
// (another srmudp node is the STUN server: every node answers Binding requests), the status per
// address family, the offline start (default STUN list, no internet), UDP_BLOCKED, the dial
// verdicts (PUNCH_IMPOSSIBLE, LAN grace) and the birthday roles up to PUNCH_TIMEOUT.
import { createSocket, type Socket } from 'node:dgram';
import { buildBindingResponse, DEFAULT_STUN_SERVERS, parseBindingRequest } from '@srmudp/punch';
import { encodeCard, Rendezvous } from '@srmudp/rendezvous';
import { afterEach, describe, expect, it } from 'vitest';
import { createNode, SrmudpError, type SrmudpNode } from '../../src/index.js';
import { bindDualStack } from '../../src/node.js';
import { parseStunServer, resolveStunServer } from '../../src/stun-servers.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function node(options: Parameters<typeof createNode>[0]): Promise<SrmudpNode> {
  const n = await createNode(options);
  cleanup.push(() => n.close());
  return n;
}

/** A fake reflector that reports `mapped` (or stays silent with `null`). */
async function fakeReflector(
  mapped: { host: string; port: number } | null,
  ip = '127.0.0.1',
): Promise<{ address: string; requests: () => number }> {
  const s: Socket = createSocket(ip.includes(':') ? 'udp6' : 'udp4');
  let n = 0;
  s.on('message', (msg, r) => {
    n++;
    const req = parseBindingRequest(new Uint8Array(msg));
    if (req === null || mapped === null) return;
    const res = buildBindingResponse({ transactionId: req.transactionId, mapped });
    if (res) s.send(res, r.port, r.address);
  });
  await new Promise<void>((resolve) => s.bind(0, ip, () => resolve()));
  cleanup.push(() => new Promise<void>((r) => s.close(() => r())));
  const port = s.address().port;
  return { address: ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`, requests: () => n };
}

/** A signed contact card of a stranger with exactly these candidates. */
function cardWith(candidates: Array<{ kind: 'host' | 'srflx'; host: string; port: number }>): string {
  const secret = new Uint8Array(32).fill(7);
  const r = new Rendezvous({ backends: [], secretKey: secret });
  const record = r.sign(
    {
      candidates: candidates.map((c) => ({
        ...c,
        family: c.host.includes(':') ? (6 as const) : (4 as const),
      })),
    },
    { ttlMs: 600_000 },
  ).bytes;
  return encodeCard({ peerId: r.peerId as Uint8Array, locators: [], record });
}

/** UDP handles open in this process (birthday sockets included). */
const udpHandles = () =>
  (process as unknown as { getActiveResourcesInfo(): string[] })
    .getActiveResourcesInfo()
    .filter((r) => r === 'UDPWrap').length;

const RANDOM_PEER = [
  { kind: 'srflx' as const, host: '203.0.113.10', port: 5001 },
  { kind: 'srflx' as const, host: '203.0.113.10', port: 5002 },
];

describe('STUN servers: option and names', () => {
  it('parses host:port, [v6]:port, bare hosts (port 3478); createNode refuses malformed entries at once', async () => {
    expect(parseStunServer('203.0.113.200:3479')).toEqual({ host: '203.0.113.200', port: 3479 });
    expect(parseStunServer('[2001:db8::1]:3480')).toEqual({ host: '2001:db8::1', port: 3480 });
    expect(parseStunServer('2001:db8::1')).toEqual({ host: '2001:db8::1', port: 3478 });
    expect(parseStunServer('stun.example.org')).toEqual({ host: 'stun.example.org', port: 3478 });
    for (const bad of ['', 'x:0', 'x:65536', 'x:abc', ':3478', '[nope]:1']) {
      expect(() => parseStunServer(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    }
    await expect(createNode({ host: '127.0.0.1', stunServers: ['x:0'] })).rejects.toMatchObject({
      code: 'INVALID_OPTIONS',
      message: expect.stringContaining('"x:0"'),
    });
    // every default server parses (the driver resolves them when the session asks)
    for (const s of DEFAULT_STUN_SERVERS) expect(parseStunServer(s).port).toBeGreaterThan(0);
  });

  it('resolves names to the families the socket can use; literals pass through', async () => {
    const v4 = new Set<4 | 6>([4]);
    expect(await resolveStunServer({ host: '127.0.0.1', port: 1 }, v4)).toEqual([
      { host: '127.0.0.1', port: 1 },
    ]);
    expect(await resolveStunServer({ host: '::1', port: 1 }, v4)).toEqual([]);
    const local = await resolveStunServer({ host: 'localhost', port: 2 }, new Set([4, 6]));
    expect(local.length).toBeGreaterThan(0);
    expect(local.every((s) => s.host === '127.0.0.1' || s.host === '::1')).toBe(true);
    await expect(resolveStunServer({ host: 'no-such-name.invalid', port: 3 }, v4)).rejects.toThrow();
  });
});

describe('gathering on the node socket (background: createNode never waits)', () => {
  it('learns the reflexive address from another srmudp node (its STUN responder), and gathers again on request', async () => {
    const reflector = await node({ host: '127.0.0.1' });
    const n = await node({ host: '127.0.0.1', stunServers: [`127.0.0.1:${reflector.address().port}`] });
    const st = await n.nat.ready();
    expect(st.state).toBe('ready');
    expect(st.reflexive).toEqual([{ host: '127.0.0.1', port: n.address().port }]);
    expect(st.nat?.mapping).toBe('unknown'); // one reflector IP cannot classify the mapping
    const again = await n.nat.regather();
    expect(again.gatherings).toBe(2);
    expect(again.reflexive).toEqual([{ host: '127.0.0.1', port: n.address().port }]);
  });

  it('puts every reflexive candidate into the contact card (two mappings of a random NAT) and republishes nothing without a rendezvous', async () => {
    const r1 = await fakeReflector({ host: '198.51.100.7', port: 1111 });
    const r2 = await fakeReflector({ host: '198.51.100.7', port: 2222 }, '127.0.0.2');
    const n = await node({ host: '127.0.0.1', stunServers: [r1.address, r2.address] });
    const events: string[] = [];
    n.on('nat', (e: { type: string }) => events.push(e.type));
    expect((await n.nat.ready()).nat?.mapping).toBe('random');
    const srflx = n.candidates().filter((c) => c.kind === 'srflx');
    expect(srflx).toEqual([
      { kind: 'srflx', family: 4, host: '198.51.100.7', port: 1111 },
      { kind: 'srflx', family: 4, host: '198.51.100.7', port: 2222 },
    ]);
    expect(events).toContain('candidates');
    expect(n.contactCard().length).toBeGreaterThan(0);
  });

  it('dual-stack: IPv4 and IPv6 are gathered and reported apart (families), the IPv6 result visible too', async () => {
    const r4 = await fakeReflector({ host: '198.51.100.7', port: 4444 });
    const r6 = await fakeReflector({ host: '2001:db8::7', port: 6666 }, '::1');
    const n = await node({ stunServers: [r4.address, r6.address] }); // default bind: '::'
    expect(n.address().host).toBe('::');
    const st = await n.nat.ready();
    expect(st.state).toBe('ready');
    const fams = Object.fromEntries(st.families.map((f) => [f.family, f.nat?.publicEndpoints]));
    expect(fams).toEqual({
      4: [{ host: '198.51.100.7', port: 4444 }],
      6: [{ host: '2001:db8::7', port: 6666 }],
    });
    expect(n.candidates().filter((c) => c.kind === 'srflx')).toEqual([
      { kind: 'srflx', family: 4, host: '198.51.100.7', port: 4444 },
      { kind: 'srflx', family: 6, host: '2001:db8::7', port: 6666 },
    ]);
  });

  it('offline with the default STUN list: starts as fast as with [] and says once that gathering found no server', async () => {
    // this machine has no internet: the default names do not resolve. Interleaved, 5 rounds.
    const withDefault: number[] = [];
    const withNone: number[] = [];
    for (let i = 0; i < 5; i++) {
      for (const [opts, times] of [
        [{}, withDefault],
        [{ stunServers: [] }, withNone],
      ] as const) {
        const t0 = performance.now();
        const n = await createNode(opts);
        times.push(performance.now() - t0);
        await n.close();
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[2] as number;
    const ratio = median(withDefault) / median(withNone);
    console.log(
      `createNode median: default STUN list ${median(withDefault).toFixed(1)} ms, [] ${median(withNone).toFixed(1)} ms (ratio ${ratio.toFixed(2)})`,
    );
    // nothing in start-up waits for names or servers: generous bound for a loaded 2-core machine
    expect(median(withDefault)).toBeLessThan(median(withNone) * 3 + 50);
    const n = await node({});
    const said: string[] = [];
    n.on('nat', (e: { type: string; message?: string }) => {
      if (e.type === 'no_server') said.push(e.message ?? '');
    });
    const st = await n.nat.ready({ timeoutMs: 10_000 });
    expect(st).toMatchObject({ state: 'failed', error: { code: 'NO_STUN_SERVER' } });
    expect(said).toEqual([expect.stringMatching(/no STUN server/)]);
    // a gathering on request finds none again: still said only once
    await n.nat.regather({ timeoutMs: 10_000 });
    expect(n.nat.status().error?.code).toBe('NO_STUN_SERVER');
    expect(said.length).toBe(1);
    // off: no gathering at all
    const off = await node({ stunServers: [] });
    expect(off.nat.status()).toMatchObject({ state: 'off', gatherings: 0 });
  }, 60_000);

  it('reports UDP_BLOCKED when no STUN server answers (start not delayed), and dials to public addresses fail at once with it', async () => {
    const silent = await fakeReflector(null);
    const t0 = performance.now();
    const n = await node({
      host: '127.0.0.1',
      stunServers: [silent.address],
      nat: { timing: { gatherTimeoutMs: 1500 } },
    });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(n.nat.status().state).toBe('gathering');
    const st = await n.nat.ready();
    expect(silent.requests()).toBeGreaterThan(0);
    expect(st).toMatchObject({ state: 'failed', error: { code: 'UDP_BLOCKED' } });
    const t1 = performance.now();
    const err = await n.connect({ host: '198.51.100.99', port: 4000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SrmudpError);
    expect(err).toMatchObject({ code: 'UDP_BLOCKED', message: expect.stringMatching(/UDP is blocked/) });
    expect(performance.now() - t1).toBeLessThan(500);
  }, 20_000);
});

describe('dial verdicts (the session judges, core dials)', () => {
  async function randomNode(timing = {}) {
    const r1 = await fakeReflector({ host: '198.51.100.7', port: 1111 });
    const r2 = await fakeReflector({ host: '198.51.100.7', port: 2222 }, '127.0.0.2');
    const n = await node({
      host: '127.0.0.1',
      stunServers: [r1.address, r2.address],
      handshakeTimeoutMs: 1000,
      nat: { timing: { lanGraceMs: 300, ...timing }, birthday: { sockets: 8, fallbackDelayMs: 100 } },
    });
    expect((await n.nat.ready()).nat?.mapping).toBe('random');
    return n;
  }

  it('random × random is PUNCH_IMPOSSIBLE at once without LAN addresses, after the LAN grace with them; a LAN peer that answers connects', async () => {
    const n = await randomNode();
    const t0 = performance.now();
    await expect(n.connect(cardWith(RANDOM_PEER))).rejects.toMatchObject({
      code: 'PUNCH_IMPOSSIBLE',
      message: expect.stringMatching(/relay/),
    });
    expect(performance.now() - t0).toBeLessThan(250);
    // with a LAN address (nobody there), only it is tried, and only for the grace period
    const t1 = performance.now();
    await expect(
      n.connect(cardWith([{ kind: 'host', host: '127.0.0.1', port: 9 }, ...RANDOM_PEER])),
    ).rejects.toMatchObject({ code: 'PUNCH_IMPOSSIBLE' });
    const waited = performance.now() - t1;
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(3000);
    // a LAN peer that answers in time connects (its card: a LAN address and a random NAT)
    const lan = await node({ host: '127.0.0.1', stunServers: [] });
    const card = encodeCard({
      peerId: lan.identity.publicKey,
      locators: [],
      record: lan.rendezvous.sign(
        {
          candidates: [
            { kind: 'host', family: 4, host: '127.0.0.1', port: lan.address().port },
            ...RANDOM_PEER.map((c) => ({ ...c, family: 4 as const })),
          ],
        },
        { ttlMs: 60_000 },
      ).bytes,
    });
    const c = await n.connect(card);
    expect(c.path).toEqual({ kind: 'direct', address: { host: '127.0.0.1', port: lan.address().port } });
  });

  it('random × one reflexive candidate: birthday sockets (opened and given back) after the failed plain dial, then PUNCH_TIMEOUT naming the strategy', async () => {
    const n = await randomNode({ birthdayTimeoutMs: 3500 });
    const before = udpHandles();
    let peak = before;
    const watch = setInterval(() => {
      peak = Math.max(peak, udpHandles());
    }, 20);
    cleanup.push(() => clearInterval(watch));
    const t0 = performance.now();
    const err = await n
      .connect(cardWith([{ kind: 'srflx', host: '203.0.113.10', port: 5001 }]))
      .catch((e) => e);
    clearInterval(watch);
    expect(err).toMatchObject({
      code: 'PUNCH_TIMEOUT',
      message: expect.stringMatching(/random side \(8 sockets/),
    });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2000); // retried inside the birthday window
    expect(peak - before).toBe(8); // the pool's sockets, bound on the session's open_sockets
    const st = n.nat.stats();
    expect(st.birthdays).toBe(1);
    expect(st.poolSends).toBeGreaterThanOrEqual(8);
    // close_sockets: every pool socket is given back once the attempt failed
    for (let i = 0; i < 50 && udpHandles() > before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(udpHandles()).toBe(before);
  }, 20_000);

  it('consistent × random: random-port probes from the main socket (the prober role), retried until PUNCH_TIMEOUT', async () => {
    const r1 = await fakeReflector({ host: '198.51.100.7', port: 1111 });
    const r2 = await fakeReflector({ host: '198.51.100.7', port: 1111 }, '127.0.0.2');
    const n = await node({
      host: '127.0.0.1',
      stunServers: [r1.address, r2.address],
      handshakeTimeoutMs: 1000,
      nat: { timing: { birthdayTimeoutMs: 3500 }, birthday: { fallbackDelayMs: 100, maxProbes: 50 } },
    });
    expect((await n.nat.ready()).nat?.mapping).toBe('consistent');
    const err = await n.connect(cardWith(RANDOM_PEER)).catch((e) => e);
    expect(err).toMatchObject({
      code: 'PUNCH_TIMEOUT',
      message: expect.stringMatching(/consistent side \(50 probes, no hit\)/),
    });
    expect(n.nat.stats()).toMatchObject({ birthdays: 1, probesSent: 50, probeHits: 0 });
  }, 20_000);
});

describe('dual-stack by default', () => {
  it("binds '::' (IPv4 and IPv6 peers on one socket) and falls back to '0.0.0.0' where IPv6 is missing", async () => {
    const n = await node({ stunServers: [] });
    expect(n.address()).toMatchObject({ host: '::', family: 6 });
    const v4 = await node({ host: '127.0.0.1', stunServers: [] });
    const v6 = await node({ host: '::1', stunServers: [] });
    const c4 = await v4.connect({ host: '127.0.0.1', port: n.address().port, peerId: n.peerId });
    const c6 = await v6.connect({ host: '::1', port: n.address().port, peerId: n.peerId });
    expect(c4.path?.address.host).toBe('127.0.0.1');
    expect(c6.path?.address.host).toBe('::1');
    // the fallback, with a bind that fails as a kernel without IPv6 does
    const tried: string[] = [];
    const noV6 = (host: string) => {
      tried.push(host);
      if (host === '::') return Promise.reject(Object.assign(new Error('no v6'), { code: 'EAFNOSUPPORT' }));
      return Promise.resolve(host);
    };
    await expect(bindDualStack(noV6)).resolves.toBe('0.0.0.0');
    expect(tried).toEqual(['::', '0.0.0.0']);
    const busy = () => Promise.reject(Object.assign(new Error('busy'), { code: 'EADDRINUSE' }));
    await expect(bindDualStack(busy)).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
