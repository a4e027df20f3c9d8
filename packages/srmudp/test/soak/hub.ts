// Soak: the node every peer connects to (issue 11), in its own process started with --expose-gc.
// For each incoming stream it answers "<bytes>:<sha256>" of what arrived, on that stream. JSON lines:
// 'ready' (card, port); 'sample' -> heap after GC, handle counts, endpoint counters; 'close'.
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { createNode } from '../../src/index.js';

const options = JSON.parse(process.argv[2] ?? '{}');
let unhandled = 0;
process.on('unhandledRejection', () => {
  unhandled++;
});
process.on('uncaughtException', (e) => {
  unhandled++;
  process.stderr.write(`uncaught: ${String(e)}\n`);
});
const send = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
const node = await createNode({ host: '127.0.0.1', ...options });
let streams = 0;
node.on('connection', (conn) => {
  conn.on('stream', (s) => {
    streams++;
    const h = createHash('sha256');
    let bytes = 0;
    s.on('data', (c: Buffer) => {
      h.update(c);
      bytes += c.length;
    });
    // the answer goes back on the same stream: it cannot be taken for another transfer's
    s.on('end', () => s.end(`${bytes}:${h.digest('hex')}`));
    s.on('error', () => {}); // a peer that crashed mid-transfer: its stream just ends
  });
});
send({ type: 'ready', port: node.address().port, card: node.contactCard(), peerId: node.peerId });

const gc = (globalThis as { gc?: () => void }).gc;
const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const cmd = JSON.parse(line);
  if (cmd.type === 'sample') {
    for (let i = 0; i < 3; i++) gc?.();
    const kinds: Record<string, number> = {};
    for (const k of process.getActiveResourcesInfo()) kinds[k] = (kinds[k] ?? 0) + 1;
    const st = node.stats().endpoint;
    send({
      type: 'sample',
      heapUsed: process.memoryUsage().heapUsed,
      handles: Object.values(kinds).reduce((a, b) => a + b, 0),
      kinds,
      endpoint: st,
      streams,
      unhandled,
    });
  } else if (cmd.type === 'close') {
    await node.close();
    send({ type: 'closed', unhandled });
    process.exit(0);
  }
});
