// Raw datagram rate between two sockets on 127.0.0.1 in one process (sender and receiver share
// the event loop, as in the project's reference figure "raw Node UDP about 420 MB/s at 1,200 B").
// One iteration = BURST datagrams sent and all received (or 50 ms without arrivals: the rest counts as lost).
// MB/s = hz x BURST x size / 1e6; the lines printed at the end give it directly.
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, bench, describe } from 'vitest';
import { UdpTransport } from '../src/index.js';

const BURST = Number(process.env.BENCH_BURST ?? 10_000);
const results: Array<() => string> = [];

function makeRun(
  send: (data: Uint8Array) => void,
  onReceive: (cb: () => void) => void,
  size: number,
  label: string,
): () => Promise<void> {
  let got = 0;
  let target = 0;
  let done: (() => void) | undefined;
  let totalMs = 0;
  let totalReceived = 0;
  let totalSent = 0;
  const tick = (): void => {
    got++;
    if (got >= target && done !== undefined) done();
  };
  const payload = new Uint8Array(size);
  const report = (): string => {
    const mbps = (totalReceived * size) / 1e3 / totalMs;
    const loss = (100 * (totalSent - totalReceived)) / totalSent;
    return `${label} ${size} B: ${mbps.toFixed(0)} MB/s received, loss ${loss.toFixed(2)}% (${totalSent} sent in ${totalMs.toFixed(0)} ms)`;
  };
  results.push(report);
  return async () => {
    onReceive(tick);
    got = 0;
    target = BURST;
    const t0 = performance.now();
    const finished = new Promise<void>((resolve) => {
      // Bounded: finish when all arrived, or when nothing arrived for 50 ms (the rest was lost).
      let last = -1;
      const idle = setInterval(() => {
        if (got === last) {
          clearInterval(idle);
          resolve();
        }
        last = got;
      }, 50);
      done = () => {
        clearInterval(idle);
        resolve();
      };
    });
    for (let i = 0; i < BURST; i++) send(payload);
    await finished;
    done = undefined;
    // Let stragglers land so they do not count toward the next iteration.
    await new Promise((r) => setTimeout(r, 1));
    totalMs += performance.now() - t0;
    totalReceived += Math.min(got, BURST);
    totalSent += BURST;
  };
}

const mk = async (): Promise<Socket> => {
  const s = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
};
// vitest bench does not run beforeAll hooks before bench functions: set up at module level.
const a = await UdpTransport.bind({ host: '127.0.0.1', maxQueue: 1 << 20 });
const b = await UdpTransport.bind({ host: '127.0.0.1' });
const ra = await mk();
const rb = await mk();
let onBatched: () => void = () => {};
let onRaw: () => void = () => {};
b.onDatagram(() => onBatched());
rb.on('message', () => onRaw());
const port = b.address().port;
const rport = rb.address().port;
const noop = (): void => {};

for (const size of [1200, 1452]) {
  describe(`${size}-byte datagrams, ${BURST} per iteration`, () => {
    bench(
      'UdpTransport (batched per turn)',
      makeRun(
        (d) => {
          a.send(d, '127.0.0.1', port);
        },
        (cb) => {
          onBatched = cb;
        },
        size,
        'UdpTransport',
      ),
      { time: 1500, warmupIterations: 1 },
    );
    // The naive reference: every datagram handed to dgram immediately, no batching.
    bench(
      'raw dgram send (no batching)',
      makeRun(
        (d) => ra.send(d, rport, '127.0.0.1', noop),
        (cb) => {
          onRaw = cb;
        },
        size,
        'raw dgram  ',
      ),
      { time: 1500, warmupIterations: 1 },
    );
  });
}

afterAll(async () => {
  await Promise.all([a.close(), b.close()]);
  ra.close();
  rb.close();
  console.log(`\n${results.map((r) => r()).join('\n')}`);
});
