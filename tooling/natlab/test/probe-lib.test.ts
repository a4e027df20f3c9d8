import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs program run inside the lab's namespaces (no types)
import { tcpObserve } from '../programs/probe-lib.mjs';

type Observe = (
  host: string,
  port: number,
  log?: string[],
  observeMs?: number,
  everyMs?: number,
) => Promise<{ ip: string; port: number } | null>;
const observe = tcpObserve as Observe;

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});
async function listen(onConn: (c: Socket) => void): Promise<number> {
  const s = createServer(onConn);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

// The self-check's TCP probe on loopback: its answer, and the log its error text quotes.
describe('tcpObserve (the self-check TCP probe)', () => {
  it('returns the endpoint the reflector answered, and logs the attempt', async () => {
    const port = await listen((c) =>
      c.end(`${JSON.stringify({ ip: c.remoteAddress, port: c.remotePort })}\n`),
    );
    const log: string[] = [];
    const r = await observe('127.0.0.1', port, log, 2000, 500);
    expect(r?.ip).toBe('127.0.0.1');
    expect(r?.port).toBeGreaterThan(0);
    expect(log[0]).toMatch(/^\+\d+ms #1 connect$/);
    expect(log.some((l) => /#1 connected from port \d+/.test(l))).toBe(true);
  });

  it('with no answer: retries on fresh connections, gives null at the deadline, and the log says what each attempt saw', async () => {
    const port = await listen((c) => c.destroy()); // accepts, answers nothing
    const log: string[] = [];
    expect(await observe('127.0.0.1', port, log, 700, 200)).toBeNull();
    expect(log.filter((l) => / #\d connect$/.test(l)).length).toBeGreaterThanOrEqual(3);
    expect(log.some((l) => /#1 closed after 0 bytes/.test(l))).toBe(true);
    expect(log.at(-1)).toMatch(/no answer; \d attempt\(s\) still open$/);
    // a refused port: each attempt's error code
    const closed = await listen(() => {});
    servers.pop()!.close();
    const log2: string[] = [];
    expect(await observe('127.0.0.1', closed, log2, 300, 100)).toBeNull();
    expect(log2.some((l) => /#1 error ECONNREFUSED/.test(l))).toBe(true);
  });
});
