// A TypeScript srmudp node (the built `srmudp` package of this repository) driven over JSON lines
// on stdin/stdout, for the Python client's interoperability tests.
//   node ts_peer.mjs '{"host":"127.0.0.1","secret":"<64 hex>","handshakeTimeoutMs":3000}'
// Prints {"type":"ready","card","peerId","host","port"}, then one line per event: connection,
// message (base64), stream (bytes, sha256 of every byte received on an incoming stream), and
// the answers to commands: connect {card}, send {to?, data(base64)}, stream {peer, bytes, seed}
// (opens a stream and writes `bytes` of AES-128-CTR keystream keyed by sha256(seed)), stats,
// close_conn {peer, code, reason}, close (the node). A message "close:<reason>" closes its connection.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { keystream } from './ts_keystream.mjs';

const dist = join(dirname(fileURLToPath(import.meta.url)), '../../../packages/srmudp/dist/index.js');
if (!existsSync(dist)) {
  process.stdout.write(
    `${JSON.stringify({ type: 'fatal', message: `${dist} missing: run pnpm run build` })}\n`,
  );
  process.exit(2);
}
const { createNode } = await import(pathToFileURL(dist).href);

const opts = JSON.parse(process.argv[2] ?? '{}');
const send = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const node = await createNode({
  host: opts.host ?? '127.0.0.1',
  port: opts.port ?? 0,
  ...(opts.secret ? { identity: { secret: new Uint8Array(Buffer.from(opts.secret, 'hex')) } } : {}),
  ...(opts.handshakeTimeoutMs ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
  ...(opts.idleTimeoutMs ? { idleTimeoutMs: opts.idleTimeoutMs } : {}),
});
const addr = node.address();
send({ type: 'ready', card: node.contactCard(), peerId: node.peerId, host: addr.host, port: addr.port });

const conns = new Map();
function watch(conn, outgoing) {
  conns.set(conn.peerId, conn);
  send({ type: 'connection', peerId: conn.peerId, outgoing });
  (async () => {
    for await (const s of conn.streams()) {
      (async () => {
        const h = createHash('sha256');
        let n = 0;
        const t0 = performance.now();
        for await (const chunk of s) {
          h.update(chunk);
          n += chunk.length;
        }
        send({
          type: 'stream',
          peerId: conn.peerId,
          bytes: n,
          sha256: h.digest('hex'),
          ms: performance.now() - t0,
        });
      })().catch((e) => send({ type: 'error', where: 'stream', message: String(e) }));
    }
  })().catch((e) => send({ type: 'error', where: 'streams', message: String(e) }));
  conn.closed.then(
    (info) =>
      send({
        type: 'closed',
        peerId: conn.peerId,
        code: info.code,
        reason: info.reason,
        remote: info.remote,
      }),
    () => {},
  );
}
node.on('connection', (conn) => watch(conn, false));
(async () => {
  for await (const m of node.messages()) {
    send({ type: 'message', peer: m.peer, data: Buffer.from(m.data).toString('base64') });
    // "close:<reason>" asks us to close that connection (code 0x101) in the same tick, while the
    // connection's clock is fresh (see clients/python/README.md, "TypeScript issues found")
    const text = Buffer.from(m.data).toString('utf8');
    if (text.startsWith('close:')) conns.get(m.peer)?.close(0x101, text.slice(6));
  }
})().catch((e) => send({ type: 'error', where: 'messages', message: String(e) }));

async function writeStream(conn, bytes, seed) {
  const data = keystream(seed, bytes);
  const s = conn.openStream();
  const t0 = performance.now();
  const chunk = 64 * 1024;
  for (let o = 0; o < data.length; o += chunk) {
    if (!s.write(data.subarray(o, o + chunk))) await new Promise((r) => s.once('drain', r));
  }
  await new Promise((resolve, reject) => {
    s.end(resolve);
    s.once('error', reject);
  });
  return { ms: performance.now() - t0, sha256: createHash('sha256').update(data).digest('hex') };
}

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const cmd = JSON.parse(line);
  try {
    if (cmd.cmd === 'connect') {
      const conn = await node.connect(cmd.card);
      if (!conns.has(conn.peerId)) watch(conn, true);
      send({ type: 'connected', peerId: conn.peerId });
    } else if (cmd.cmd === 'send') {
      const data = new Uint8Array(Buffer.from(cmd.data, 'base64'));
      const conn = cmd.to ? conns.get(cmd.to) : undefined;
      const ok = conn ? conn.send(data) : node.send(data).length > 0;
      send({ type: 'sent', ok });
    } else if (cmd.cmd === 'stream') {
      const conn = conns.get(cmd.peer);
      if (!conn) throw new Error(`no connection to ${cmd.peer}`);
      const r = await writeStream(conn, cmd.bytes, cmd.seed);
      send({ type: 'stream_sent', bytes: cmd.bytes, ...r });
    } else if (cmd.cmd === 'stats') {
      const conn = cmd.peer ? conns.get(cmd.peer) : undefined;
      send({ type: 'stats', node: node.stats(), conn: conn ? conn.stats() : null });
    } else if (cmd.cmd === 'close_conn') {
      const conn = conns.get(cmd.peer);
      if (!conn) throw new Error(`no connection to ${cmd.peer}`);
      await conn.close(cmd.code ?? 0, cmd.reason ?? '');
      send({ type: 'conn_closed' });
    } else if (cmd.cmd === 'close') {
      await node.close();
      send({ type: 'closed_node' });
      process.exit(0);
    }
  } catch (e) {
    send({ type: 'command_error', cmd: cmd.cmd, code: e?.code ?? null, message: String(e?.message ?? e) });
  }
});
