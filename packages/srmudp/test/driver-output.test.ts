// How the driver hands a bulk sender's datagrams to the OS during a turn, on loopback.
import { expect, it } from 'vitest';
import { connectedPair, loopbackNodes } from './helpers.js';

const node = loopbackNodes();

it("a bulk sender's datagrams go to the OS 32 at a time as they are built, not at the end of the turn", async () => {
  const { a, conn, bConn } = await connectedPair(node);

  // Watch a's transport: at each send(), how many datagrams are queued, not yet handed to the OS,
  // and the longest run of send() calls within one synchronous stretch (about one driver turn).
  const t = a.transport;
  const send = t.send.bind(t);
  let run = 0;
  let longestRun = 0;
  let mostQueued = 0;
  t.send = (data, host, port) => {
    mostQueued = Math.max(mostQueued, t.stats().queued);
    if (run++ === 0)
      setImmediate(() => {
        run = 0;
      });
    longestRun = Math.max(longestRun, run);
    return send(data, host, port);
  };

  // 8 MiB on a stream; again on a new one (at most 4 in all) while no turn has sent more than
  // one batch yet: how many packets a turn builds depends on when ACKs arrive, and a loaded
  // machine (CI) sometimes moved a whole 8 MiB in turns of ~20-30
  const total = 8 * 1024 * 1024;
  const incoming = bConn.streams();
  const chunk = new Uint8Array(64 * 1024);
  for (let transfer = 0; transfer < 4 && longestRun <= 32; transfer++) {
    const s = conn.openStream();
    const rx = (async () => {
      const r = (await incoming.next()).value;
      let n = 0;
      for await (const c of r) n += (c as Uint8Array).byteLength;
      return n;
    })();
    for (let sent = 0; sent < total; sent += chunk.byteLength) {
      if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
    }
    s.end();
    expect(await rx).toBe(total);
  }

  // some turn sent more than one batch (else this test shows nothing) ...
  expect(longestRun).toBeGreaterThan(32);
  // ... and no batch waited for the end of the turn that built it
  expect(mostQueued).toBeLessThan(32);
}, 30_000);
