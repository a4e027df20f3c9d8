import type { Address as PeerAddress } from '@srmudp/wire';
import type { SecureEvent } from '../src/channel-events.js';
import type { SecureEndpointConfig } from '../src/config.js';
import type { HandleResult } from '../src/handle-result.js';
import { type Identity, identityFromSecret } from '../src/identity.js';
import { SecureEndpoint } from '../src/secure-endpoint.js';

/** Deterministic random bytes (splitmix32-style): tests are reproducible from the seed. */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  let s = seed >>> 0;
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      out[i] = (z ^ (z >>> 16)) & 0xff;
    }
    return out;
  };
}

export function identity(seed: number): Identity {
  return identityFromSecret(seededRandom(seed)(32));
}

export interface Wire {
  from: PeerAddress;
  to: PeerAddress;
  data: Uint8Array;
}

export interface Side {
  ep: SecureEndpoint;
  addr: PeerAddress;
  events: SecureEvent[];
  received: HandleResult[];
}

export function side(seed: number, host: string, extra: Partial<SecureEndpointConfig> = {}): Side {
  return {
    ep: new SecureEndpoint({ identity: identity(seed), random: seededRandom(seed * 7919 + 1), ...extra }),
    addr: { host, port: 4000 },
    events: [],
    received: [],
  };
}

/** Drains outputs of both sides into a list of datagrams in flight. */
export function collect(now: number, sides: Side[]): Wire[] {
  const out: Wire[] = [];
  for (const s of sides) {
    for (let t = s.ep.pollTransmit(now); t; t = s.ep.pollTransmit(now))
      out.push({ from: s.addr, to: t.to, data: t.data });
    for (let e = s.ep.pollEvent(); e; e = s.ep.pollEvent()) s.events.push(e);
  }
  return out;
}

export function deliver(
  now: number,
  sides: Side[],
  w: Wire,
  opts?: { underLoad?: boolean },
): HandleResult | null {
  const dst = sides.find((s) => s.addr.host === w.to.host && s.addr.port === w.to.port);
  if (!dst) return null;
  const r = dst.ep.handle(now, w.from, w.data, opts);
  dst.received.push(r);
  return r;
}

/**
 * Runs until quiet: delivers every datagram (optionally through `filter`), then advances the
 * virtual clock to the next timer. Bounded by `maxSteps` and `until` (ms).
 */
export function run(
  sides: Side[],
  start: number,
  opts: {
    until?: number;
    maxSteps?: number;
    filter?: (w: Wire) => Wire[];
    underLoad?: (w: Wire) => boolean;
    stopWhen?: () => boolean;
  } = {},
): number {
  let now = start;
  const until = opts.until ?? start + 60_000;
  let steps = 0;
  let queue: Wire[] = collect(now, sides);
  while (steps++ < (opts.maxSteps ?? 10_000)) {
    if (opts.stopWhen?.()) return now;
    if (queue.length > 0) {
      const w = queue.shift() as Wire;
      for (const x of opts.filter ? opts.filter(w) : [w])
        deliver(now, sides, x, { underLoad: opts.underLoad?.(x) ?? false });
      queue.push(...collect(now, sides));
      continue;
    }
    let next = Number.POSITIVE_INFINITY;
    for (const s of sides) {
      const t = s.ep.pollTimeout();
      if (t !== null && t < next) next = t;
    }
    if (next === Number.POSITIVE_INFINITY || next > until) return now;
    now = Math.max(now, next);
    for (const s of sides) {
      const t = s.ep.pollTimeout();
      if (t !== null && t <= now) s.ep.handleTimeout(now);
    }
    queue = collect(now, sides);
  }
  return now;
}

/**
 * Key confirmation by hand, as the upper layer does it: the initiator `from` sends its first data
 * packet (packet number `pn`) on `ch`, which makes the responder `to` use, and report, the session
 * (an IK responder keeps it unconfirmed until then). With `answerPn`, the responder answers under
 * the new keys too (core always does: a PING at once), so the initiator's keys count as answered.
 * Returns what the responder made of the first packet.
 */
export function confirm(
  now: number,
  from: Side,
  to: Side,
  ch: import('../src/secure-channel.js').SecureChannel,
  pn = 0,
  answerPn?: number,
): HandleResult {
  const r = to.ep.handle(now, from.addr, ch.seal(pn, new Uint8Array(0)));
  to.received.push(r);
  collect(now, [to]);
  if (answerPn !== undefined && r.type === 'data') {
    const back = from.ep.handle(now, to.addr, r.channel.seal(answerPn, new Uint8Array(0)));
    from.received.push(back);
    collect(now, [from]);
  }
  return r;
}

/**
 * Two sides (seeds 1 and 2) with an IK session from 1 to 2, confirmed (the initiator's first
 * packet, pn 0; with `answerPn` the responder answers under the new keys too).
 */
export function establishedPair(
  extra: Partial<SecureEndpointConfig> = {},
  answerPn?: number,
): {
  a: Side;
  b: Side;
  ca: import('../src/secure-channel.js').SecureChannel;
  cb: import('../src/secure-channel.js').SecureChannel;
} {
  const a = side(1, '10.0.0.1', extra);
  const b = side(2, '10.0.0.2', extra);
  const ca = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
  run([a, b], 0, { stopWhen: () => ca.isEstablished });
  confirm(1, a, b, ca, 0, answerPn);
  const cb = b.ep.channel(a.ep.identity.publicKey) as import('../src/secure-channel.js').SecureChannel;
  return { a, b, ca, cb };
}

/** The other form of a peer id: the same key holder, the sign bit (top bit of byte 31) flipped. */
export function otherForm(key: Uint8Array): Uint8Array {
  const o = key.slice();
  o[31] = (o[31] as number) ^ 0x80;
  return o;
}
