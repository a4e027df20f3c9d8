import { connectViaPolicy, createVoucher, groupPolicy, openPolicy } from '@srmudp/relay';
import { Network } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import type { ConnectionApi, EndpointConfig } from '../src/api.js';
import { identity, randomBytes, SimEndpoint, sha256, Writer } from './helpers.js';

const MiB = 1024 * 1024;
let nonces = 0;
const rnd = (n: number) => randomBytes(`voucher-nonce-${nonces++}`, n);
const A = { host: '192.0.2.1', port: 4433 };
const B = { host: '198.51.100.2', port: 4433 };
const R = { host: '203.0.113.9', port: 4433 };
/** a gate's lifted rate (the sim links have no bandwidth limit; 1 MiB/s is the public-relay default) */
const LIFTED = { rateBytesPerSec: 64 * MiB, burstBytes: 4 * MiB };

/**
 * a and b cannot reach each other (every datagram between them is lost: symmetric NATs both);
 * r is reachable by both and serves as a relay. a and b have hop sessions with r.
 */
function trio(seed: string, rConfig: Partial<EndpointConfig>, latencyMs = 10) {
  const net = new Network({ seed, defaultLink: { latencyMs } });
  const a = new SimEndpoint('a');
  const b = new SimEndpoint('b');
  const r = new SimEndpoint('r', rConfig);
  r.recordSent = true;
  net.addHost('a', a, [A]);
  net.addHost('b', b, [B]);
  net.addHost('r', r, [R]);
  net.setPath('a', 'b', { latencyMs, loss: 1 });
  a.ep.connect(net.now, { addresses: [R], remoteKey: r.key });
  b.ep.connect(net.now, { addresses: [R], remoteKey: r.key });
  net.drive({
    until: () => a.count('connected') === 1 && b.count('connected') === 1 && r.count('connected') === 2,
    maxTimeMs: 5000,
  });
  expect(r.count('connected')).toBe(2);
  // the relay greets its clients (STATUS) in their hop sessions
  net.runFor(200);
  return { net, a, b, r };
}

function connectionTo(ep: SimEndpoint, key: Uint8Array): ConnectionApi {
  const ev = ep.connected().find((e) => e.remoteKey.every((x, i) => x === key[i]));
  if (ev === undefined) throw new Error(`${ep.name} has no connection to that key`);
  return ep.ep.connection(ev.id) as ConnectionApi;
}

/** Sends `data` one way on a new stream; returns the receiver's sink reader. */
function send(net: Network, from: SimEndpoint, conn: ConnectionApi, to: SimEndpoint, data: Uint8Array) {
  const sid = conn.openStream();
  const w = new Writer(conn, sid, data);
  const prev = from.onEvent;
  from.onEvent = (e, self) => {
    prev?.(e, self);
    if (e.type === 'writable' && e.id === conn.id) w.pump();
  };
  w.pump();
  const toId = () => to.connected().find((e) => e.remoteKey.every((x, i) => x === from.key[i]))?.id ?? -1;
  return { sid, w, done: () => to.sink(toId(), sid).finished, sink: () => to.sink(toId(), sid) };
}


import { it as it2 } from 'vitest';
import { appendFileSync } from 'node:fs';
const log = (...x: unknown[]) => appendFileSync('/tmp/r1dbg.log', x.map(String).join(' ') + '\n');
it2('dbg', () => {
    const { net, a, b, r } = trio('relay-basic', { relay: { serve: { policy: openPolicy(), limits: LIFTED } } });
    log('trio ok', net.now);
    for (const n of [a, b, r]) {
      const orig = n.pollTransmit.bind(n);
      let last = -1; let cnt = 0;
      n.pollTransmit = (now: number) => {
        const t = orig(now);
        if (now !== last) { last = now; cnt = 0; }
        if (t !== null && ++cnt > 20000) { log('SPIN', n.name, now, JSON.stringify(t.to), t.data.length, Buffer.from(t.data.subarray(0, 24)).toString('hex')); throw new Error('spin'); }
        return t;
      };
      const oh = n.handleTimeout.bind(n);
      let lt = -1; let ct = 0;
      n.handleTimeout = (now: number) => { if (now === lt) { if (++ct > 20000) { log('TSPIN', n.name, now, n.ep.pollTimeout()); throw new Error('tspin'); } } else { lt = now; ct = 0; } oh(now); };
    }
    const ca = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
    net.drive({ until: () => a.connected().length === 2 && b.connected().length === 2, maxTimeMs: 10_000 });
    log('relayed ok', net.now);
    const cb = connectionTo(b, a.key);
    const up = randomBytes('relay-up', MiB);
    const down = randomBytes('relay-down', MiB);
    const s1 = send(net, a, ca, b, up);
    const s2 = send(net, b, cb, a, down);
    for (let k = 0; k < 40; k++) {
      const t0 = net.now;
      try { net.driveBounded(20000, () => net.now > t0 + 50 || (s1.done() && s2.done())); } catch (e) { log('bound', String(e).slice(0, 80)); }
      log(k, net.now, s1.sink().bytes, s2.sink().bytes, ca.stats().bytesSent, cb.stats().bytesSent, JSON.stringify(ca.stats().drops), JSON.stringify(cb.stats().drops));
      if (s1.done() && s2.done()) break;
    }
});
