// An srmudp-relay (the built @srmudp/relay-server of this repository) on loopback with ephemeral
// ports, for the Python client's relay tests. Config overrides as JSON in argv[2] (e.g. limits).
// Prints {"type":"ready","relay":"ws://…/relay#<peer id>","url","peerId","udp":{host,port}};
// a line {"cmd":"close"} on stdin (or stdin's end) shuts it down and prints {"type":"closed"}.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { importDist } from './ts_dist.mjs';

const { createRelayServer } = await importDist('relay-server');
const dir = mkdtempSync(join(tmpdir(), 'srmudp-py-relay-'));
const relay = await createRelayServer({
  host: '127.0.0.1',
  port: 0,
  udpHost: '127.0.0.1',
  udpPort: 0,
  keyFile: join(dir, 'relay.key'),
  drainMs: 200,
  logLevel: 'silent',
  ...JSON.parse(process.argv[2] ?? '{}'),
});
const send = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
send({ type: 'ready', relay: relay.relayAddress, url: relay.url, peerId: relay.peerId, udp: relay.udp });
let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  await relay.close();
  rmSync(dir, { recursive: true, force: true });
  send({ type: 'closed' });
  process.exit(0);
}
const rl = createInterface({ input: process.stdin });
rl.on('line', (l) => {
  let cmd = l.trim();
  try {
    cmd = JSON.parse(l).cmd;
  } catch {}
  if (cmd === 'close') void shutdown();
  else if (cmd === 'metrics') send({ type: 'metrics', text: relay.metrics() });
});
rl.on('close', () => void shutdown());
