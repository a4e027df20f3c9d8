// A gate on loopback (issue 14): a member whose direct dial fails falls back to its gate, the
// transfer goes through the gate's relay service, and the gate never sees the plaintext.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { peerIdToString } from '@srmudp/crypto';
import { describe, expect, it } from 'vitest';
import type { SrmudpNode, SrmudpStream } from '../src/index.js';
import { blockTo, hashOfStream, loopbackNodes, waitFor } from './helpers.js';

const node = loopbackNodes();

/** The SHA-256 of the first stream `from` opens to `to`. */
function firstStreamFrom(to: SrmudpNode, from: SrmudpNode): Promise<{ bytes: number; sha256: string }> {
  return (async () => {
    for await (const c of to.connections()) {
      if (c.peerId !== from.peerId) continue;
      for await (const s of c.streams()) return hashOfStream(s);
    }
    throw new Error('no stream');
  })();
}

/**
 * `from` dials `to` at a port nobody listens on (its direct dial times out): the connection the
 * fallback gives, and `payload` written on a new stream of it.
 */
async function dialDeadThenSend(from: SrmudpNode, to: SrmudpNode, payload: Uint8Array) {
  const dead = await node({ stunServers: [] });
  const port = dead.address().port;
  await dead.close();
  const conn = await from.connect({ host: '127.0.0.1', port, peerId: to.peerId }, { timeout: 30_000 });
  const relayedAtStart = conn.path;
  const s = conn.openStream();
  for (let off = 0; off < payload.length; off += 64 * 1024) {
    if (!s.write(payload.subarray(off, off + 64 * 1024))) await once(s, 'drain');
  }
  s.end();
  return { conn, relayedAtStart };
}

/** Writes `payload` to `s` in 64 KiB chunks and ends it; `at` bytes in, `event` runs (once). */
async function writeAll(s: SrmudpStream, payload: Uint8Array, at: number, event: () => Promise<void>) {
  for (let off = 0; off < payload.length; off += 64 * 1024) {
    if (off === at) await event();
    if (!s.write(payload.subarray(off, off + 64 * 1024))) await once(s, 'drain');
  }
  s.end();
}

/** A gate and two members configured with it, once both hold their hop session. */
async function gateAndTwoMembers(gateOptions: object = {}) {
  const gate = await node({ relay: { serve: true }, stunServers: [], ...gateOptions });
  const gateTarget = { host: '127.0.0.1', port: gate.address().port, peerId: gate.peerId };
  const a = await node({ relay: { gates: [gateTarget] }, stunServers: [], handshakeTimeoutMs: 1500 });
  const b = await node({ relay: { gates: [gateTarget] }, stunServers: [] });
  await waitFor(
    () => a.status()['gate-0']?.state === 'established' && b.status()['gate-0']?.state === 'established',
    20_000,
    'hop sessions with the gate',
  );
  return { gate, a, b };
}

describe('gate (façade, loopback)', () => {
  it('a dial whose direct path fails falls back to the gate: 2 MiB through it, status says relayed; a direct address later moves it to a direct path', async () => {
    const { gate, a, b } = await gateAndTwoMembers();
    // the gate sees every datagram it sends: the payload must never appear in them
    const sentByGate: Buffer[] = [];
    const origSend = gate.transport.send.bind(gate.transport);
    gate.transport.send = (data, host, port) => {
      sentByGate.push(Buffer.from(data));
      return origSend(data, host, port);
    };
    const incoming = firstStreamFrom(b, a);
    // b's direct address is wrong (nobody listens there): the direct dial times out, the gate
    // carries it; and nothing a sends reaches b's port directly, so the punch the ends run over
    // the relayed session fails and the transfer stays relayed
    const unblock = blockTo(a, b.address().port);
    const payload = randomBytes(2 * 1024 * 1024);
    const { conn, relayedAtStart } = await dialDeadThenSend(a, b, payload);
    expect(relayedAtStart?.kind).toBe('relayed');
    expect(relayedAtStart?.kind === 'relayed' && peerIdToString(relayedAtStart.via)).toBe(gate.peerId);
    const got = await incoming;
    expect(got.bytes).toBe(payload.length);
    expect(got.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    const st = a.status();
    const peer = Object.values(st).find((p) => p.peerId === b.peerId);
    expect(peer?.path?.kind).toBe('relayed');
    // b's real address (a new card): the connection moves to the direct path, same streams
    unblock();
    const moved = once(conn, 'path');
    // probed once (the relay fallback's afterDial), not once more by the dialer
    const probes: unknown[] = [];
    const endpoint = a.driver.endpoint;
    const connect = endpoint.connect.bind(endpoint);
    endpoint.connect = (now, target) => {
      probes.push(target.addresses);
      return connect(now, target);
    };
    const again = await a.connect({ host: '127.0.0.1', port: b.address().port, peerId: b.peerId });
    expect(again).toBe(conn);
    expect(probes).toEqual([[{ host: '127.0.0.1', port: b.address().port }]]);
    await moved;
    expect(conn.path).toMatchObject({ kind: 'direct', address: { port: b.address().port } });
    // the gate forwarded it, and never in plaintext
    const all = Buffer.concat(sentByGate);
    expect(all.length).toBeGreaterThan(payload.length);
    for (const off of [0, 12_345, 1_000_000, payload.length - 64]) {
      expect(all.indexOf(payload.subarray(off, off + 32))).toBe(-1);
    }
  }, 90_000);

  it('relayed at start, the ends punch over the relayed session (candidates exchanged through it) and move to the direct path by themselves; 4 MiB SHA-256 equal', async () => {
    const { gate, a, b } = await gateAndTwoMembers();
    const incoming = firstStreamFrom(b, a);
    // a knows no address of b's that works: b's candidates reach a only through the relayed session
    const payload = randomBytes(4 * 1024 * 1024);
    const { conn, relayedAtStart } = await dialDeadThenSend(a, b, payload);
    expect(relayedAtStart?.kind === 'relayed' && peerIdToString(relayedAtStart.via)).toBe(gate.peerId);
    await waitFor(() => conn.path?.kind === 'direct', 20_000, 'the upgrade to the direct path');
    expect(conn.path).toMatchObject({ kind: 'direct', address: { port: b.address().port } });
    const got = await incoming;
    expect(got.bytes).toBe(payload.length);
    expect(got.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    // b moved too (its side validated a's address, or migrated to it)
    await waitFor(() => b.connection(a.peerId)?.path?.kind === 'direct', 10_000, "b's direct path");
  }, 90_000);

  it('a direct path that dies mid-transfer falls back to a circuit through the gate: 8 MiB SHA-256 equal, no reset', async () => {
    const { gate, a, b } = await gateAndTwoMembers();
    const conn = await a.connect({ host: '127.0.0.1', port: b.address().port, peerId: b.peerId });
    expect(conn.path?.kind).toBe('direct');
    const paths: PathInfo[] = [];
    conn.on('path', (p: PathInfo) => paths.push(p));
    const incoming = firstStreamFrom(b, a);
    const payload = randomBytes(8 * 1024 * 1024);
    const s = conn.openStream();
    await writeAll(s, payload, 1024 * 1024, async () => {
      // the direct path dies both ways (a NAT that forgot the flow); the gate stays reachable
      blockTo(a, b.address().port);
      blockTo(b, a.address().port);
    });
    const got = await incoming;
    expect(got.bytes).toBe(payload.length);
    expect(got.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(conn.path?.kind === 'relayed' && peerIdToString(conn.path.via)).toBe(gate.peerId);
    expect(paths.some((p) => p.kind === 'relayed')).toBe(true);
  }, 90_000);

  it('a gate that restarts (same key and port) mid-transfer is survived: hop sessions redialled, circuit asked again, 8 MiB SHA-256 equal', async () => {
    const secret = randomBytes(32);
    const first = await gateAndTwoMembers({ identity: { secret } });
    const { a, b } = first;
    let gate = first.gate;
    const gatePort = gate.address().port;
    // no direct path between a and b: the gate is the only way
    blockTo(a, b.address().port);
    blockTo(b, a.address().port);
    const incoming = firstStreamFrom(b, a);
    const payload = randomBytes(8 * 1024 * 1024);
    const conn = await a.connect(
      { host: '127.0.0.1', port: b.address().port, peerId: b.peerId },
      { timeout: 30_000 },
    );
    expect(conn.path?.kind).toBe('relayed');
    const s = conn.openStream();
    await writeAll(s, payload, 2 * 1024 * 1024, async () => {
      // the gate goes away and comes back on the same port with the same key
      await gate.close();
      gate = await node({ identity: { secret }, port: gatePort, relay: { serve: true }, stunServers: [] });
    });
    const got = await incoming;
    expect(got.bytes).toBe(payload.length);
    expect(got.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(conn.path?.kind === 'relayed' && peerIdToString(conn.path.via)).toBe(gate.peerId);
  }, 90_000);

  it('connect-via: a peer connected to both ends relays with the requester’s voucher', async () => {
    const carol = await node({ relay: { connectVia: true }, stunServers: [] });
    const a = await node({ stunServers: [], handshakeTimeoutMs: 1500 });
    const b = await node({ stunServers: [] });
    const carolTarget = { host: '127.0.0.1', port: carol.address().port, peerId: carol.peerId };
    await a.connect(carolTarget);
    await b.connect(carolTarget);
    // carol greets both as their relay (in the hop sessions)
    await waitFor(
      () => a.driver.endpoint.relays().length === 1 && b.driver.endpoint.relays().length === 1,
      10_000,
      'carol greeting a and b',
    );
    const incoming = firstStreamFrom(b, a);
    const payload = randomBytes(1024 * 1024); // connect-via circuits: 2 min / 4 MiB by default
    const { relayedAtStart } = await dialDeadThenSend(a, b, payload);
    expect(relayedAtStart?.kind === 'relayed' && peerIdToString(relayedAtStart.via)).toBe(carol.peerId);
    const got = await incoming;
    expect(got.sha256).toBe(createHash('sha256').update(payload).digest('hex'));
  }, 90_000);
});
