// Sender and receiver in two processes on 127.0.0.1: offered send rate and delivery ratio.
// Needs a build: pnpm run bench:two-process (runs tsc -b first).
// Usage: node bench/two-process.mjs [count=100000]
import { fork } from 'node:child_process';
import { UdpTransport } from '../dist/index.js';

const N = Number(process.argv[2] ?? 100_000);
for (const size of [1200, 1452]) {
  for (const maxBatch of [32, 256]) {
    const child = fork(new URL('./two-process-receiver.mjs', import.meta.url));
    const { port } = await new Promise((r) => child.once('message', r));
    const t = await UdpTransport.bind({ host: '127.0.0.1', maxBatch, maxQueue: 1 << 20 });
    const p = new Uint8Array(size);
    const t0 = performance.now();
    let i = 0;
    await new Promise((res) => {
      const step = () => {
        for (let k = 0; k < 256 && i < N; k++, i++) t.send(p, '127.0.0.1', port);
        if (i < N || t.stats().queued > 0) setImmediate(step);
        else res();
      };
      step();
    });
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 200));
    child.send('stop');
    const { n } = await new Promise((r) => child.once('message', r));
    console.log(
      `${size} B, maxBatch ${maxBatch}: sent ${((N * size) / 1e3 / ms).toFixed(0)} MB/s, ` +
        `received ${n}/${N} (${((100 * n) / N).toFixed(2)}%)`,
    );
    await t.close();
  }
}
