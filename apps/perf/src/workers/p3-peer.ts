/**
 * P3 peer: a node behind a lab NAT with a STUN server (coturn in rdv) so its contact card carries
 * its reflexive candidate. On { t: 'connect', card, write } it dials the card; the side with
 * `write` opens a stream as soon as the connection is up and writes one byte; every side reports
 * the first byte it receives on any stream ({ t: 'first', at }).
 */
import { type Connection, createNode } from 'srmudp';
import { parseArgs } from './args.js';
import { fail, onMessage, send, wallMs } from './channel.js';

const args = parseArgs(process.argv.slice(2));
const stun = args.stun ? [args.stun] : [];

const node = await createNode({ host: '0.0.0.0', port: 0, ...(stun.length ? { stunServers: stun } : {}) });
// gathering runs in the background (createNode returns at once): the card must carry its
// reflexive candidate, else the peers behind their NATs have only each other's private addresses
await node.nat.ready({ timeoutMs: 15_000 });

let reported = false;
function watch(conn: Connection): void {
  void (async () => {
    for await (const s of conn.streams()) {
      s.once('data', () => {
        if (reported) return;
        reported = true;
        send({ t: 'first', at: wallMs() });
      });
    }
  })().catch(fail);
}
node.on('connection', (c: Connection) => watch(c));

let last: Connection | null = null;
onMessage(async (m) => {
  if (m.t === 'stats') {
    send({ t: 'stats', stats: (last?.stats() ?? null) as unknown as Record<string, unknown> });
    return;
  }
  if (m.t !== 'connect') return;
  const startAt = wallMs();
  const conn = await node.connect(String(m.card));
  const at = wallMs();
  last = conn;
  if (m.write) {
    const s = conn.openStream();
    s.write(new Uint8Array([1]));
  }
  send({
    t: 'connected',
    startAt,
    at,
    path: conn.path,
    stats: conn.stats() as unknown as Record<string, unknown>,
  });
});

send({ t: 'ready', card: node.contactCard(), candidates: node.candidates(), peerId: node.peerId });
