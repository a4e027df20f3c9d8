import { Rng } from '@srmudp/sim';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildBindingResponse,
  handleStunRequest,
  isStun,
  NatSession,
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

  it('NatSession: any datagram on any socket, spoofed answers to its transactions: never throws, drops counted', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(datagram, endpoint, fc.constantFrom(0, 0, 1, 2, 3, 9), fc.integer({ min: 0, max: 3 })),
          { maxLength: 30 },
        ),
        fc.integer(),
        (inputs, seed) => {
          const s = new NatSession(
            {
              random: rngRandom(new Rng(seed)),
              stunServers: [SERVER],
              hostAddresses: [{ host: '192.168.1.10', port: 5000 }],
              birthday: { sockets: 3 },
            },
            0,
          );
          // one plain server answers: gathered, mapping unknown
          const req = s.pollTransmit(0)!;
          const res = buildBindingResponse({
            transactionId: tryDecodeBinding(req.data)!.transactionId,
            mapped: { host: '198.51.100.77', port: 5000 },
          })!;
          expect(s.handle(20, 0, SERVER, res)).toBe(true);
          expect(s.status().nat?.mapping).toBe('unknown');
          // a dial whose mappings are unknown: the last-resort birthday (both roles) after a failed dial
          const peer = [
            { host: '203.0.113.9', port: 7000 },
            { host: '192.168.1.20', port: 5000 },
          ];
          s.dial(0, 'p', peer);
          expect(s.dialEnded(10_000, 'p', { connected: false, code: 'HANDSHAKE_TIMEOUT' }).kind).toBe(
            'retry',
          );
          for (let e = s.pollEvent(); e !== null; e = s.pollEvent()) {
            if (e.type === 'open_sockets')
              s.socketsOpened(10_000, e.request, [1, 2, 3], [40001, 40002, 40003]);
          }
          const tids: Uint8Array[] = [];
          const drain = (now: number) => {
            for (let t = s.pollTransmit(now); t !== null; t = s.pollTransmit(now)) {
              const m = tryDecodeBinding(t.data);
              if (m?.class === 'request') tids.push(m.transactionId);
            }
            while (s.pollEvent() !== null);
          };
          let now = 10_000;
          drain(now);
          for (const [d, from, socket, spoof] of inputs) {
            now += 13;
            const tid = tids[(d[0] ?? 0) % Math.max(1, tids.length)];
            // spoof 1: a malformed success to an in-flight transaction; 2: a request from the peer's IP
            const data =
              spoof === 1 && tid !== undefined
                ? rawResponse(tid, d.subarray(0, 24))
                : spoof === 2
                  ? Uint8Array.from([
                      0,
                      1,
                      0,
                      0,
                      0x21,
                      0x12,
                      0xa4,
                      0x42,
                      ...d.subarray(0, 12),
                      ...new Uint8Array(12),
                    ]).subarray(0, 20)
                  : d;
            const src = spoof === 2 ? { host: '203.0.113.9', port: from.port } : from;
            const before = s.stats();
            const malformed = isStun(data) && tryDecodeBinding(data) === null;
            const consumed = s.handle(now, socket, src, data);
            const after = s.stats();
            if (socket === 9) expect(after.unknownSocket).toBe(before.unknownSocket + 1);
            else if (malformed) expect(after.dropped).toBe(before.dropped + 1);
            if (!isStun(data) && socket !== 9) expect(consumed).toBe(false); // core's
            s.handleTimeout(now);
            drain(now);
            const t = s.pollTimeout();
            if (t !== null) expect(t).toBeGreaterThan(now);
          }
          s.close(now);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
