// Every profile pair of the matrix, relayed (issue 14): with no direct path between the two homes
// (inet drops every packet between their public addresses), the pair connects through a gate (a
// member on the public segment, rdv, `relay: { serve: true }`) and, with the gate gone, via a
// common peer (a third member behind an `eim` NAT, natC, `relay: { connectVia: true }`, connected
// to both ends). Both ways at once, a transfer arrives with SHA-256 equal and both ends report the path as
// relayed through that relay. One lab per pair serves both columns; pairs run concurrently.
import { afterAll, describe, expect, it } from 'vitest';
import {
  ADDR,
  blockDirect,
  connectBoth,
  gateAndMembers,
  LAB,
  type Peer,
  PROFILE_PAIRS,
  type Profile,
  type ReportRow,
  reportSkipWhenUnsupported,
  slots,
  spawnPeer,
  withLab,
  writeReportFragment,
} from './helpers.js';

/** MiB each way per pair; symmetric × symmetric moves the 16 MiB each way. */
const SMALL_MIB = Number(process.env.SRMUDP_NAT_RELAY_SMALL_MIB ?? 1);
const FULL_MIB = Number(process.env.SRMUDP_NAT_RELAY_MIB ?? 16);
/** the direct dial (to a port nobody forwards) times out after core's 10 s, then relays carry it */
const DIAL_TIMEOUT_MS = 60_000;

const rows: ReportRow[] = [];
afterAll(() => writeReportFragment('relay-matrix', rows));

/** Labs at once (each: a lab, a STUN server and four nodes; mostly waiting on dial timeouts). */
const slot = slots(Number(process.env.SRMUDP_NAT_RELAY_PARALLEL ?? 4));

interface PathOf {
  path: { kind: string; via?: string } | null;
  relays: string[];
}

async function pathOf(p: Peer, peer: Peer): Promise<PathOf> {
  p.proc.send({ t: 'pathof', peer: peer.ready.peerId });
  return (await p.proc.next((m) => m.t === 'pathof', 10_000)) as unknown as PathOf;
}

/** Waits (bounded: 60 × 0.5 s) until `relay` greeted `p` as a connect-via relay. */
async function relayGreeted(p: Peer, relay: Peer): Promise<void> {
  for (let i = 0; i < 60; i++) {
    if ((await pathOf(p, relay)).relays.includes(relay.ready.peerId)) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${relay.host} never greeted ${p.host} as a relay`);
}

/** Waits (bounded: 40 × 0.25 s) until `p`'s connection with `peer` is relayed through `relay`. */
async function pathVia(p: Peer, peer: Peer, relay: Peer): Promise<void> {
  let last: PathOf | null = null;
  for (let i = 0; i < 40; i++) {
    last = await pathOf(p, peer);
    if (last.path?.kind === 'relayed' && last.path.via === relay.ready.peerId) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `${p.host}: no connection with ${peer.host} relayed through ${relay.host}: ${JSON.stringify(last)}`,
  );
}

/** On failure, what each process says now (stats, relays) and the end of its log, then rethrows. */
async function withDiagnostics<T>(peers: Peer[], p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    for (const q of peers) {
      q.proc.send({ t: 'stats' });
      const st = await q.proc.next((m) => m.t === 'stats', 5000).catch(() => null);
      console.error(
        `--- ${q.host}: pending ${JSON.stringify(q.proc.pending())}\n${JSON.stringify(st)}\n${q.proc.stderr.slice(-4000)}`,
      );
    }
    throw e;
  }
}

interface Exchange {
  ms: number;
  mbitAB: number;
  mbitBA: number;
}

/**
 * `a` dials `b` knowing no working address of it (natB's port 9: the direct dial times out), so
 * the relays `a` holds carry the connection; then `mib` MiB each way, SHA-256 checked, and
 * both ends' paths must be relayed through `relay`.
 */
async function relayedExchange(a: Peer, b: Peer, relay: Peer, mib: number): Promise<Exchange> {
  a.proc.send({
    t: 'connect',
    card: { host: ADDR.publicB, port: 9, peerId: b.ready.peerId },
    timeoutMs: DIAL_TIMEOUT_MS,
  });
  const r = (await a.proc.next((m) => m.t === 'connected' || m.t === 'failed', DIAL_TIMEOUT_MS + 15_000)) as {
    t: string;
    ms?: number;
  };
  expect(r, JSON.stringify(r)).toMatchObject({ t: 'connected' });
  const via = { kind: 'relayed', via: relay.ready.peerId };
  const pa = await pathOf(a, b);
  expect(pa.path, JSON.stringify(pa)).toEqual(via);
  // the responder knows the connection a moment later (key confirmation comes with a's first
  // packet, one relay hop away); until then its connection with a may still be the previous
  // one (through the gate, closing): b sends once its own end names this relay
  await pathVia(b, a, relay);
  const bytes = mib * 1024 * 1024;
  const timeout = 60_000 + mib * 10_000;
  // both ways at once (each end writes while it reads the other's stream)
  const ways = [
    [a, b],
    [b, a],
  ] as const;
  for (const [from, to] of ways) from.proc.send({ t: 'send', bytes, peer: to.ready.peerId });
  const results = (await withDiagnostics(
    [a, b, relay],
    Promise.all(
      ways.flatMap(([from, to]) => [
        from.proc.next((m) => m.t === 'sent' || m.t === 'error', timeout),
        to.proc.next((m) => (m.t === 'stream' && m.from === from.ready.peerId) || m.t === 'error', timeout),
      ]),
    ),
  )) as unknown as Array<{ t: string; bytes: number; sha256: string; ms: number }>;
  const mbit: number[] = [];
  for (let i = 0; i < ways.length; i++) {
    const sent = results[2 * i];
    const got = results[2 * i + 1];
    expect(sent?.t, JSON.stringify(sent)).toBe('sent');
    expect(got?.t, JSON.stringify(got)).toBe('stream');
    expect(got?.bytes).toBe(bytes);
    expect(got?.sha256).toBe(sent?.sha256);
    mbit.push((bytes * 8) / (Math.max(1, got?.ms ?? 0) * 1000));
  }
  // still relayed at the end, on both ends (no direct path exists between the homes)
  expect((await pathOf(a, b)).path).toEqual(via);
  expect((await pathOf(b, a)).path).toEqual(via);
  return { ms: r.ms ?? 0, mbitAB: mbit[0] ?? 0, mbitBA: mbit[1] ?? 0 };
}

reportSkipWhenUnsupported('relay-matrix');
describe.runIf(LAB.ok)(
  'every profile pair relayed: through a gate, via a common peer (real kernel NATs)',
  () => {
    PROFILE_PAIRS.forEach(([pa, pb], order) => {
      const full = pa === 'symmetric' && pb === 'symmetric';
      const mib = full ? FULL_MIB : SMALL_MIB;
      it.concurrent(
        `${pa} × ${pb}, no direct path: through a gate and via a peer behind eim, ${mib} MiB each way`,
        () => slot(() => relayPair(pa, pb, mib, order)),
        420_000,
      );
    });
  },
);

async function relayPair(pa: Profile, pb: Profile, mib: number, order: number): Promise<void> {
  await withLab({ A: pa, B: pb, C: 'eim' }, async (run) => {
    await blockDirect(run.lab);
    const [{ gate, a, b }, c] = await Promise.all([
      gateAndMembers(run),
      // connect-via circuits are 4 MiB by default: this one carries the full transfer both ways
      spawnPeer(run, 'hostC', { relay: { connectVia: true, connectViaLimits: { bytes: 0 } } }),
    ]);
    // natC is not in the lab's self-check: the third member's own gathering classifies it
    expect(c.ready.nat.nat?.mapping, JSON.stringify(c.ready.nat)).toBe('consistent');
    const pair = `${pa} × ${pb}`;
    const size = `${mib} MiB each way`;

    // through the gate
    const gateRow: ReportRow = {
      section: 'relay-matrix',
      column: 'gate',
      pair,
      expected: 'relayed through the gate',
      result: 'failed',
      timeMs: null,
      detail: '',
      order,
    };
    rows.push(gateRow);
    const g = await relayedExchange(a, b, gate, mib);
    gateRow.result = `relayed via gate (${size}, SHA-256 equal)`;
    gateRow.timeMs = g.ms;
    gateRow.detail = `${g.mbitAB.toFixed(0)}/${g.mbitBA.toFixed(0)} Mbit/s`;
    gateRow.pass = true;

    // via a common peer: the gate goes away, both ends connect to the member behind natC
    const viaRow: ReportRow = {
      section: 'relay-matrix',
      column: 'via',
      pair,
      expected: 'relayed via the peer',
      result: 'failed',
      timeMs: null,
      detail: '',
      order,
    };
    rows.push(viaRow);
    a.proc.send({ t: 'disconnect', peer: b.ready.peerId });
    await a.proc.next((m) => m.t === 'disconnected' || m.t === 'error', 15_000);
    // b hears the close through the gate (else its side idles out; a new dial replaces it anyway)
    await b.proc.next((m) => m.t === 'closed', 15_000).catch(() => null);
    gate.proc.killNow();
    for (const end of [a, b]) {
      // a symmetric end reaches natC by a birthday; one more try if it missed (4 labs on 2
      // loaded cores missed once in 30 runs): reaching the relay is not what this tests
      let [re, rc] = await connectBoth(end, c, 35_000);
      if (re.t !== 'connected' || rc.t !== 'connected') [re, rc] = await connectBoth(end, c, 35_000);
      expect(re, JSON.stringify(re)).toMatchObject({ t: 'connected', path: { kind: 'direct' } });
      expect(rc, JSON.stringify(rc)).toMatchObject({ t: 'connected', path: { kind: 'direct' } });
      await relayGreeted(end, c);
    }
    const v = await relayedExchange(a, b, c, mib);
    viaRow.result = `relayed via peer (${size}, SHA-256 equal)`;
    viaRow.timeMs = v.ms;
    viaRow.detail = `${v.mbitAB.toFixed(0)}/${v.mbitBA.toFixed(0)} Mbit/s`;
    viaRow.pass = true;
  });
}
