import { Rng } from '@srmudp/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Gatherer,
  handleStunRequest,
  makeCandidate,
  Puncher,
  parseBindingRequest,
  StunClient,
  tryDecodeBinding,
} from '../src/index.js';
import { rngRandom } from './harness.js';

const RUNS = Number(process.env.PUNCH_FUZZ_RUNS ?? 300);
const SERVER = { host: '198.51.100.1', port: 3478 };

const endpoint = fc.record({
  host: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 12 })),
  port: fc.integer({ min: 0, max: 65535 }),
});

/** Random bytes, plus STUN-shaped messages with the right header (so the attribute parser is reached). */
const datagram = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc
    .tuple(
      fc.integer({ min: 0, max: 0x3fff }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 120 }),
    )
    .map(([type, tid, body]) => {
      const len = body.length & ~3;
      const out = new Uint8Array(20 + len);
      out[0] = type >> 8;
      out[1] = type & 0xff;
      out[2] = len >> 8;
      out[3] = len & 0xff;
      out.set([0x21, 0x12, 0xa4, 0x42], 4);
      out.set(tid, 8);
      out.set(body.subarray(0, len), 20);
      return out;
    }),
);

/** A Binding success for `tid` whose XOR-MAPPED-ADDRESS value is arbitrary bytes (usually malformed). */
function rawResponse(tid: Uint8Array, value: Uint8Array): Uint8Array {
  const padded = (value.length + 3) & ~3;
  const out = new Uint8Array(20 + 4 + padded);
  out.set([0x01, 0x01, 0, 4 + padded, 0x21, 0x12, 0xa4, 0x42], 0);
  out.set(tid, 8);
  out.set([0x00, 0x20, 0, value.length], 20);
  out.set(value, 24);
  return out;
}

describe('machines never throw on network input (fast-check)', () => {
  it('responder and decoders', () => {
    fc.assert(
      fc.property(datagram, endpoint, endpoint, (d, from, local) => {
        handleStunRequest(d, from, local);
        parseBindingRequest(d);
        tryDecodeBinding(d);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('StunClient.handle with in-flight transactions (including spoofed responses to their ids)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(datagram, endpoint, fc.boolean()), { maxLength: 20 }),
        fc.integer(),
        (inputs, seed) => {
          const c = new StunClient({ random: rngRandom(new Rng(seed)) });
          c.request(0, SERVER);
          const req = c.pollTransmit(0)!;
          const tid = tryDecodeBinding(req.data)!.transactionId;
          let now = 0;
          for (const [d, from, spoof] of inputs) {
            now += 7;
            const data = spoof ? rawResponse(tid, d.subarray(0, 24)) : d;
            c.handle(now, from, data);
            c.handleTimeout(now);
            while (c.pollTransmit(now) !== null);
            while (c.pollEvent() !== null);
          }
          expect(c.pending).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('Gatherer and Puncher under random datagrams and random authenticated sources', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(datagram, endpoint, fc.integer({ min: 0, max: 3 })), { maxLength: 30 }),
        fc.integer(),
        (inputs, seed) => {
          const rng = new Rng(seed);
          const g = new Gatherer({
            random: rngRandom(rng),
            hostAddresses: [{ host: '192.168.1.10', port: 5000 }],
            reflectors: [SERVER, { host: '198.51.100.2', port: 3478 }],
          });
          g.start(0);
          const p = new Puncher({
            random: rngRandom(rng),
            controlling: true,
            localCandidates: [makeCandidate('host', { host: '192.168.1.10', port: 5000 })],
            remoteCandidates: [makeCandidate('srflx', { host: '203.0.113.9', port: 7000 })],
            localNat: { mapping: 'consistent' },
            remoteNat: { mapping: 'random' },
            probeFactory: () => new Uint8Array(4),
          });
          p.start(0);
          let now = 0;
          for (const [d, from, socket] of inputs) {
            now += 13;
            g.handle(now, from, d, socket);
            g.handleTimeout(now);
            p.authenticated(now, from, socket);
            p.handleTimeout(now);
            while (g.pollTransmit(now) !== null);
            while (p.pollTransmit(now) !== null);
            while (g.pollEvent() !== null);
            while (p.pollEvent() !== null);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});
