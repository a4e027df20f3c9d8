// Soak: a group of peers in one process (issue 11). Each peer, with its own identity and socket,
// loops: connect to the hub's card, send 1-3 streams of random bytes (4-64 KiB) and compare the
// hub's "<bytes>:<sha256>" answer on the same stream, then close gracefully, or restart its node (same identity, new
// port), or stay connected; then pause. Some datagrams sent to the hub are captured and sent again
// from another socket, replayed or mutated. JSON lines: 'progress' every 2 s, 'final' after 'stop'.
// Options (argv[2]): { card, hubPort, count, seed, mutateRate, keepaliveMs, idleTimeoutMs, handshakeTimeoutMs }
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { type Connection, createNode, type SrmudpNode } from '../../src/index.js';

const o = JSON.parse(process.argv[2] ?? '{}') as {
  card: string;
  hubPort: number;
  count: number;
  seed: number;
  mutateRate: number;
  keepaliveMs: number;
  idleTimeoutMs: number;
  handshakeTimeoutMs: number;
};
const send = (m: object) => process.stdout.write(`${JSON.stringify(m)}\n`);
const c = {
  connects: 0,
  connectFailures: 0,
  transfers: 0,
  transferBytes: 0,
  transferFailures: 0,
  mismatches: 0,
  closes: 0,
  restarts: 0,
  mutated: 0,
  unhandled: 0,
};
process.on('unhandledRejection', (e) => {
  c.unhandled++;
  process.stderr.write(`unhandled rejection: ${String(e)}\n`);
});
process.on('uncaughtException', (e) => {
  c.unhandled++;
  process.stderr.write(`uncaught: ${String(e)}\n`);
});

/** connect failures by error code */
const failures: Record<string, number> = {};
let stopping = false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);

// captured datagrams to the hub, for replays and mutations
const captured: Uint8Array[] = [];
function capture(node: SrmudpNode): void {
  const t = node.transport;
  const orig = t.send.bind(t);
  t.send = (data: Uint8Array, host: string, port: number) => {
    if (port === o.hubPort && Math.random() < 0.02) {
      if (captured.length < 512) captured.push(data.slice());
      else captured[rand(512)] = data.slice();
    }
    return orig(data, host, port);
  };
}

function secretOf(i: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`soak-peer-${o.seed}-${i}`).digest());
}

/** live nodes, closed at once on 'stop' (CLOSE first: in-flight transfers end) */
const live = new Set<SrmudpNode>();

async function makeNode(i: number): Promise<SrmudpNode> {
  const node = await createNode({
    host: '127.0.0.1',
    identity: { secret: secretOf(i) },
    keepaliveMs: o.keepaliveMs,
    idleTimeoutMs: o.idleTimeoutMs,
    handshakeTimeoutMs: o.handshakeTimeoutMs,
  });
  capture(node);
  live.add(node);
  return node;
}

async function closeNode(node: SrmudpNode): Promise<void> {
  live.delete(node);
  await node.close();
}

async function transfer(conn: Connection): Promise<void> {
  const data = randomBytes(4096 + rand(60 * 1024));
  const want = `${data.length}:${createHash('sha256').update(data).digest('hex')}`;
  const s = conn.openStream();
  const answer = new Promise<string | null>((resolve) => {
    const parts: Buffer[] = [];
    const t = setTimeout(() => resolve(null), 20_000);
    s.on('data', (b: Buffer) => parts.push(b));
    s.on('end', () => {
      clearTimeout(t);
      resolve(Buffer.concat(parts).toString());
    });
    s.on('error', () => {
      clearTimeout(t);
      resolve(null);
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(null); // after 'end' this changes nothing
    });
  });
  s.end(data);
  const got = await answer;
  if (got === null) {
    c.transferFailures++;
    s.destroy();
  } else if (got === want) {
    c.transfers++;
    c.transferBytes += data.length;
  } else {
    c.mismatches++;
    process.stderr.write(`mismatch: sent ${want}, hub saw ${got}\n`);
  }
}

async function peer(i: number): Promise<void> {
  let node = await makeNode(i);
  try {
    while (!stopping) {
      let conn: Connection;
      try {
        conn = await node.connect(o.card, { signal: AbortSignal.timeout(3 * o.handshakeTimeoutMs) });
        c.connects++;
      } catch (e) {
        c.connectFailures++;
        const code = `connect_${(e as { code?: string }).code ?? 'error'}`;
        failures[code] = (failures[code] ?? 0) + 1;
        await sleep(500);
        continue;
      }
      for (let k = 1 + rand(3); k > 0 && !stopping && !conn.isClosed; k--) {
        try {
          await transfer(conn);
        } catch {
          c.transferFailures++;
        }
      }
      const r = Math.random();
      if (r < 0.4) {
        await conn.close(0, 'done');
        c.closes++;
      } else if (r < 0.7) {
        await closeNode(node);
        if (stopping) break;
        node = await makeNode(i);
        c.restarts++;
      }
      await sleep(300 + rand(2500));
    }
  } finally {
    await closeNode(node);
  }
}

// replays and mutations of captured traffic, `mutateRate` per second
const noise = createSocket('udp4');
await new Promise<void>((r) => noise.bind(0, '127.0.0.1', () => r()));
noise.on('error', () => {});
const mutateTimer = setInterval(() => {
  if (captured.length === 0) return;
  for (let k = 0; k < o.mutateRate / 20; k++) {
    let d = (captured[rand(captured.length)] as Uint8Array).slice();
    const m = Math.random();
    if (m < 0.6) for (let f = 1 + rand(3); f > 0; f--) d[rand(d.length)] ^= 1 + rand(255);
    else if (m < 0.8) d = d.subarray(0, rand(d.length));
    // else: an exact replay
    noise.send(d, o.hubPort, '127.0.0.1');
    c.mutated++;
  }
}, 50);

const loops = Array.from({ length: o.count }, (_, i) => peer(i).catch(() => {}));
const progress = setInterval(() => send({ type: 'progress', ...c, ...failures }), 2000);
send({ type: 'ready' });

createInterface({ input: process.stdin }).on('line', async (line) => {
  if (JSON.parse(line).type !== 'stop') return;
  stopping = true;
  clearInterval(mutateTimer);
  await Promise.all([...live].map((n) => closeNode(n)));
  await Promise.race([Promise.all(loops), sleep(20_000)]);
  clearInterval(progress);
  noise.close();
  send({ type: 'final', ...c, ...failures });
  process.exit(0);
});
