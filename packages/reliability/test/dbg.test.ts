import { it } from 'vitest';
import { Pair } from './helpers/pair.js';

it('dbg', () => {
  const p = new Pair(10);
  const id = p.a.openStream();
  const data = new Uint8Array(200_000);
  let written = 0;
  let got = 0;
  let steps = 0;
  const t0 = performance.now();
  const ok = p.run(
    () => {
      steps++;
      if (written < data.length) written += p.a.write(id, data.subarray(written));
      else p.a.finish(id);
      for (;;) {
        const r = p.b.streamIds().includes(id) ? p.b.read(id) : null;
        if (r === null) break;
        got += r.length;
      }
      return p.eventsB.some((e) => e.type === 'stream_finished');
    },
    20000,
    200000,
  );
  console.log(ok, p.now, got, steps, p.delivered, performance.now() - t0, JSON.stringify(p.a.stats()));
});
