// A TypeScript client of a relay (@srmudp/relay-server/testing's RelayPeer: a core endpoint, the
// hop session over UDP or WebSocket, @srmudp/relay's RelayClient, end-to-end Noise IK sessions
// through circuits), driven over JSON lines like ts_peer.mjs.
//   node ts_relay_peer.mjs '{"relayKey":"<peer id>","carrier":{"kind":"ws","url":…}|{"kind":"udp",host,port}}'
// Prints {"type":"ready","peerId"} once the relay greeted the hop session, then one line per
// event: connection {peerId, outgoing}, closed {peerId, code, reason, remote}, message {peer, data (base64)}, stream {peerId, bytes,
// sha256, ms}. Commands: connect {peer} (circuit + IK), send {to, data}, stream {peer, bytes,
// seed} (keystream as ts_peer.mjs), close.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { importDist } from './ts_dist.mjs';
import { keystream } from './ts_keystream.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const testing = join(here, '../../../packages/relay-server/dist/testing/index.js');
if (!existsSync(testing)) {
  process.stdout.write(
    `${JSON.stringify({ type: 'fatal', message: `${testing} missing: run pnpm run build` })}\n`,
  );
  process.exit(2);
}
const { RelayPeer } = await import(pathToFileURL(testing).href);
const { parsePeerId, peerIdToString } = await importDist('crypto');

const opts = JSON.parse(process.argv[2] ?? '{}');
const send = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const peer = await RelayPeer.start({ relayKey: parsePeerId(opts.relayKey), carrier: opts.carrier });
await peer.ready(30_000);
send({ type: 'ready', peerId: peerIdToString(peer.publicKey) });

const conns = new Map(); // peer id text -> ConnectionApi
const streams = new Map(); // `${conn id}:${stream id}` -> { hash, n, t0 }
const peerOf = new Map(); // conn id -> peer id text
function pid(key) {
  return peerIdToString(key);
}
peer.on((e) => {
  const now = performance.now();
  if (e.type === 'connected') {
    const conn = peer.endpoint.connection(e.id);
    if (!conn || e.id === peer.hopId) return;
    conns.set(pid(e.remoteKey), conn);
    peerOf.set(e.id, pid(e.remoteKey));
    send({ type: 'connection', peerId: pid(e.remoteKey), outgoing: e.outgoing });
    return;
  }
  if (!('id' in e) || e.id === peer.hopId) return;
  if (e.type === 'closed' && peerOf.has(e.id)) {
    send({ type: 'closed', peerId: peerOf.get(e.id), code: e.code, reason: e.reason, remote: e.remote });
    peerOf.delete(e.id);
    return;
  }
  const conn = peer.endpoint.connection(e.id);
  if (!conn) return;
  if (e.type === 'message') {
    send({ type: 'message', peer: pid(conn.remoteKey), data: Buffer.from(e.data).toString('base64') });
  } else if (e.type === 'readable' || e.type === 'stream_finished' || e.type === 'stream_opened') {
    const key = `${e.id}:${e.streamId}`;
    let s = streams.get(key);
    if (!s) {
      s = { hash: createHash('sha256'), n: 0, t0: now, done: false };
      streams.set(key, s);
    }
    for (let c = conn.read(now, e.streamId); c !== null; c = conn.read(now, e.streamId)) {
      s.hash.update(c);
      s.n += c.length;
    }
    peer.schedule();
    if (e.type === 'stream_finished' && !s.done) {
      s.done = true;
      send({
        type: 'stream',
        peerId: pid(conn.remoteKey),
        bytes: s.n,
        sha256: s.hash.digest('hex'),
        ms: now - s.t0,
      });
    }
  }
});

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const cmd = JSON.parse(line);
  try {
    if (cmd.cmd === 'connect') {
      const conn = await peer.connectTo(parsePeerId(cmd.peer), 30_000);
      conns.set(cmd.peer, conn);
      send({ type: 'connected', peerId: cmd.peer });
    } else if (cmd.cmd === 'send') {
      const conn = conns.get(cmd.to);
      if (!conn) throw new Error(`no connection to ${cmd.to}`);
      const ok = conn.sendMessage(new Uint8Array(Buffer.from(cmd.data, 'base64')));
      peer.schedule();
      send({ type: 'sent', ok });
    } else if (cmd.cmd === 'stream') {
      const conn = conns.get(cmd.peer);
      if (!conn) throw new Error(`no connection to ${cmd.peer}`);
      const data = keystream(cmd.seed, cmd.bytes);
      const t0 = performance.now();
      await peer.sendStream(conn, data, 300_000);
      send({
        type: 'stream_sent',
        bytes: cmd.bytes,
        ms: performance.now() - t0,
        sha256: createHash('sha256').update(data).digest('hex'),
      });
    } else if (cmd.cmd === 'close') {
      await peer.close();
      send({ type: 'closed_node' });
      process.exit(0);
    }
  } catch (e) {
    send({
      type: 'command_error',
      cmd: cmd.cmd,
      code: e?.code ?? null,
      reason: e?.reason ?? null,
      message: String(e?.message ?? e),
    });
  }
});
