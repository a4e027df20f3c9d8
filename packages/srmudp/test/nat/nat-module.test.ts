// The façade's NAT module on loopback (no lab needed): STUN server parsing, gathering through the
// node's own socket (another srmudp node is the STUN server: every node answers binding requests),
// UDP_BLOCKED, and the dial verdicts (PUNCH_IMPOSSIBLE, LAN grace, BIRTHDAY_UNSUPPORTED).
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { buildBindingResponse, parseBindingRequest } from '@srmudp/punch';
import { afterEach, describe, expect, it } from 'vitest';
import { createNode, SrmudpError } from '../../src/index.js';
import { NatTraversal, parseStunServer, resolveStunServers } from '../../src/nat/index.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A fake reflector on loopback that reports `mapped` (or stays silent with `null`). */
async function fakeReflector(
  mapped: { host: string; port: number } | null,
  ip = '127.0.0.1',
): Promise<{ port: number; requests: () => number }> {
  const s: Socket = createSocket('udp4');
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
  return { port: s.address().port, requests: () => n };
}

async function natOver(
  servers: Array<{ host: string; port: number }>,
  lanGraceMs = 300,
): Promise<NatTraversal> {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const nat = new NatTraversal({
    stunServers: servers,
    random: (n) => new Uint8Array(randomBytes(n)),
    send: (data, host, port) => sock.send(data, port, host),
    hostAddresses: () => [],
    localPort: () => sock.address().port,
    timeoutMs: 1500,
    interfacePollMs: 0,
    refreshMs: 0,
    lanGraceMs,
  });
  sock.on('message', (msg, r) => nat.handleStun({ host: r.address, port: r.port }, new Uint8Array(msg)));
  cleanup.push(() => {
    nat.close();
    return new Promise<void>((r) => sock.close(() => r()));
  });
  return nat;
}

describe('STUN server option', () => {
  it('parses host:port, [v6]:port, bare hosts (port 3478) and rejects malformed entries', async () => {
    expect(parseStunServer('203.0.113.200:3479')).toEqual({ host: '203.0.113.200', port: 3479 });
    expect(parseStunServer('[2001:db8::1]:3480')).toEqual({ host: '2001:db8::1', port: 3480 });
    expect(parseStunServer('2001:db8::1')).toEqual({ host: '2001:db8::1', port: 3478 });
    expect(parseStunServer('stun.example.org')).toEqual({ host: 'stun.example.org', port: 3478 });
    for (const bad of ['', 'x:0', 'x:65536', 'x:abc', ':3478']) {
      expect(() => parseStunServer(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    }
    expect(await resolveStunServers(['127.0.0.1:1', '127.0.0.1:1', 'localhost:2'])).toEqual([
      { host: '127.0.0.1', port: 1 },
      { host: expect.stringMatching(/^(127\.0\.0\.1|::1)$/), port: 2 },
    ]);
  });
});

describe('gathering on the node socket', () => {
  it('learns the reflexive address from another srmudp node (its STUN responder) through the endpoint', async () => {
    const reflector = await createNode({ host: '127.0.0.1' });
    cleanup.push(() => reflector.close());
    const node = await createNode({
      host: '127.0.0.1',
      stunServers: [`127.0.0.1:${reflector.address().port}`],
    });
    cleanup.push(() => node.close());
    const st = node.nat?.status();
    expect(st?.state).toBe('ready');
    expect(st?.reflexive).toEqual([{ host: '127.0.0.1', port: node.address().port }]);
    expect(st?.nat?.mapping).toBe('unknown'); // one reflector IP cannot classify the mapping
    // regather runs again on the same socket
    const again = await node.nat?.regather('test');
    expect(again?.gatherings).toBe(2);
    expect(again?.reflexive).toEqual([{ host: '127.0.0.1', port: node.address().port }]);
  });

  it('puts every reflexive candidate into the contact card (two mappings of a random NAT)', async () => {
    const r1 = await fakeReflector({ host: '198.51.100.7', port: 1111 });
    const r2 = await fakeReflector({ host: '198.51.100.7', port: 2222 });
    const node = await createNode({
      host: '127.0.0.1',
      stunServers: [`127.0.0.1:${r1.port}`, `127.0.0.1:${r2.port}`],
    });
    cleanup.push(() => node.close());
    expect(node.nat?.status().nat?.mapping).toBe('random');
    const srflx = node.candidates().filter((c) => c.kind === 'srflx');
    expect(srflx).toEqual([
      { kind: 'srflx', family: 4, host: '198.51.100.7', port: 1111 },
      { kind: 'srflx', family: 4, host: '198.51.100.7', port: 2222 },
    ]);
    expect(node.contactCard().length).toBeGreaterThan(0);
  });

  it('reports UDP_BLOCKED when no STUN server answers, and dials to public addresses fail at once with it', async () => {
    const silent = await fakeReflector(null);
    const t0 = performance.now();
    const node = await createNode({ host: '127.0.0.1', stunServers: [`127.0.0.1:${silent.port}`] });
    cleanup.push(() => node.close());
    expect(performance.now() - t0).toBeLessThan(8000);
    expect(silent.requests()).toBeGreaterThan(0);
    expect(node.nat?.status()).toMatchObject({ state: 'failed', error: { code: 'UDP_BLOCKED' } });
    const t1 = performance.now();
    const err = await node.connect({ host: '198.51.100.99', port: 4000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SrmudpError);
    expect(err).toMatchObject({ code: 'UDP_BLOCKED', message: expect.stringMatching(/UDP is blocked/) });
    expect(performance.now() - t1).toBeLessThan(500);
  }, 20_000);
});

describe('dial verdicts', () => {
  it('random × random is PUNCH_IMPOSSIBLE at once without LAN addresses, after the LAN grace with them', async () => {
    const r1 = await fakeReflector({ host: '198.51.100.7', port: 1111 });
    const r2 = await fakeReflector({ host: '198.51.100.7', port: 2222 });
    const nat = await natOver([
      { host: '127.0.0.1', port: r1.port },
      { host: '127.0.0.1', port: r2.port },
    ]);
    expect((await nat.start()).nat?.mapping).toBe('random');
    const remoteRandom = [
      { host: '203.0.113.10', port: 5001 },
      { host: '203.0.113.10', port: 5002 },
    ];
    const v = nat.verdict(remoteRandom);
    expect(v.remoteMapping).toBe('random');
    expect(v.strategy.kind).toBe('impossible');
    expect(v.blocked?.code).toBe('PUNCH_IMPOSSIBLE');
    let dialled = 0;
    await expect(
      nat.guardDial(remoteRandom, async () => {
        dialled++;
      }),
    ).rejects.toMatchObject({ code: 'PUNCH_IMPOSSIBLE' });
    expect(dialled).toBe(0);
    // with a LAN address, only it is tried, and only for the grace period
    const tried: unknown[] = [];
    const t0 = performance.now();
    await expect(
      nat.guardDial([{ host: '192.168.1.20', port: 40000 }, ...remoteRandom], (addresses, signal) => {
        tried.push(addresses);
        return new Promise((_, reject) =>
          signal?.addEventListener('abort', () => reject(new Error('aborted'))),
        );
      }),
    ).rejects.toMatchObject({ code: 'PUNCH_IMPOSSIBLE' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(250);
    expect(tried).toEqual([[{ host: '192.168.1.20', port: 40000 }]]);
    // a LAN peer that answers in time connects
    await expect(
      nat.guardDial([{ host: '192.168.1.20', port: 40000 }, ...remoteRandom], async () => 'lan'),
    ).resolves.toBe('lan');
  });

  it('consistent × random: a handshake timeout becomes BIRTHDAY_UNSUPPORTED; other errors pass through', async () => {
    const r1 = await fakeReflector({ host: '198.51.100.7', port: 1111 });
    const r2 = await fakeReflector({ host: '198.51.100.7', port: 1111 }, '127.0.0.2');
    const nat = await natOver([
      { host: '127.0.0.1', port: r1.port },
      { host: '127.0.0.2', port: r2.port },
    ]);
    const st = await nat.start();
    expect(st.nat?.mapping).toBe('consistent');
    const remoteRandom = [
      { host: '203.0.113.10', port: 5001 },
      { host: '203.0.113.10', port: 5002 },
    ];
    expect(nat.verdict(remoteRandom).strategy.kind).toBe('birthday');
    await expect(
      nat.guardDial(remoteRandom, async () => {
        throw new SrmudpError('HANDSHAKE_TIMEOUT', 'timeout');
      }),
    ).rejects.toMatchObject({ code: 'BIRTHDAY_UNSUPPORTED', message: expect.stringMatching(/birthday/) });
    await expect(
      nat.guardDial(remoteRandom, async () => {
        throw new SrmudpError('REFUSED', 'no');
      }),
    ).rejects.toMatchObject({ code: 'REFUSED' });
    // consistent × consistent is a plain dial
    expect(nat.verdict([{ host: '203.0.113.10', port: 5001 }]).strategy.kind).toBe('direct');
  });
});
