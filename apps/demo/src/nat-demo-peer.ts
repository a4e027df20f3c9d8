// One peer of `pnpm demo:nat`, run by nat-demo.ts inside a NAT lab namespace (JSON lines on
// stdin/stdout). argv[2]: 'peer' (a node with STUN servers) or 'stun' (srmudp nodes on the given
// public addresses: every srmudp node answers STUN binding requests, so two of them are the
// reflectors). argv[3]: JSON node options (peer) or a JSON list of 'ip:port' (stun).
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { type Connection, createNode, type SrmudpNode } from 'srmudp';

const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const [role, arg] = process.argv.slice(2) as [string, string];
const nodes: SrmudpNode[] = [];
const rl = createInterface({ input: process.stdin });
// the demo closing our stdin ends the program (no process keeps a lab namespace alive)
rl.on('close', () => {
  void Promise.allSettled(nodes.map((n) => n.close())).finally(() => process.exit(0));
});

if (role === 'stun') {
  for (const a of JSON.parse(arg) as string[]) {
    const i = a.lastIndexOf(':');
    nodes.push(await createNode({ host: a.slice(0, i), port: Number(a.slice(i + 1)), stunServers: [] }));
  }
  out({ t: 'ready' });
} else {
  const node = await createNode(JSON.parse(arg));
  nodes.push(node);
  let conn: Connection | null = null;
  node.on('peer', (e: { name: string; state: string }) => {
    const c = node.connection(e.name);
    if (e.state === 'established' && c) {
      conn = c;
      c.on('path', (path) => out({ t: 'path', path }));
      (async () => {
        for await (const m of c.messages())
          out({ t: 'message', from: e.name, text: Buffer.from(m).toString() });
      })().catch(() => {});
      (async () => {
        for await (const s of c.streams()) {
          const h = createHash('sha256');
          let n = 0;
          const t0 = performance.now();
          for await (const chunk of s) {
            h.update(chunk as Buffer);
            n += (chunk as Buffer).length;
          }
          out({ t: 'file', bytes: n, sha256: h.digest('hex'), ms: Math.round(performance.now() - t0) });
        }
      })().catch(() => {});
    }
    out({ t: 'peer', name: e.name, state: e.state });
  });
  await node.nat.ready(); // gathering runs in the background: the card should carry its result
  out({
    t: 'ready',
    card: node.contactCard(),
    candidates: node.candidates(),
    nat: node.nat.status(),
    peerId: node.peerId,
  });
  rl.on('line', (line) => {
    const m = JSON.parse(line) as { t: string; name?: string; card?: string; text?: string; bytes?: number };
    (async () => {
      if (m.t === 'add') node.peers.add({ [m.name as string]: m.card as string });
      else if (m.t === 'say' && conn) conn.send(m.text as string);
      else if (m.t === 'stats' && conn) {
        const s = conn.stats();
        out({ t: 'stats', path: s.path, rttMs: s.rttMs, minRttMs: s.minRttMs });
      } else if (m.t === 'file' && conn) {
        const c = conn as Connection;
        const h = createHash('sha256');
        const s = c.openStream();
        const total = m.bytes as number;
        const block = randomBytes(64 * 1024);
        for (let sent = 0, i = 0; sent < total; i++) {
          const chunk = Buffer.from(block.subarray(0, Math.min(block.length, total - sent)));
          chunk.writeUInt32BE(i, 0);
          h.update(chunk);
          sent += chunk.length;
          if (!s.write(chunk)) await once(s, 'drain');
        }
        s.end();
        out({ t: 'sent', bytes: total, sha256: h.digest('hex') });
      }
    })().catch((e: unknown) => out({ t: 'error', message: String(e) }));
  });
}
