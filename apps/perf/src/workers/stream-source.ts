/**
 * Sending end of a single-stream goodput measurement. Waits for { t: 'go', ... } with the sink's
 * address (srmudp: its contact card), connects, writes `bytes` bytes (0: until killed) of random
 * data in 64 KiB chunks honouring backpressure, then ends the stream. `--crypto` picks srmudp's
 * crypto backend (default: the façade's automatic choice).
 *
 * Messages in: go { host, port, card?, id? }, report. Out: ready ({ port, id } for udx and
 * hyperswarm), connected ({ at, pmtu?, backend? }), sent, report ({ cpuSec, peakRss, stats }), error.
 */

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { Writable } from 'node:stream';
import SecretStream from '@hyperswarm/secret-stream';
import { type Connection, createNode, type SrmudpNode } from 'srmudp';
import UDX from 'udx-native';
import { congestionOf, cryptoOf, parseArgs, protoOf } from './args.js';
import { cryptoOption } from './backend.js';
import {
  cpuSecondsSince,
  fail,
  onMessage,
  peakRss,
  send,
  startProfile,
  stopProfile,
  wallMs,
} from './channel.js';
import { floorSource } from './datagram-floor.js';

const args = parseArgs(process.argv.slice(2));
const proto = protoOf(args.proto);
const host = args.host ?? '127.0.0.1';
const total = Number(args.bytes ?? 0);
const chunk = randomBytes(Number(args.chunk ?? 64 * 1024));

let cpuStart = process.cpuUsage();
let node: SrmudpNode | null = null;
let conn: Connection | null = null;
let udx: { socket: UDX.Socket; stream: UDX.Stream } | null = null;
let writer: Writable | null = null;
let written = 0;
let floor: { stop: () => void; sent: () => number } | null = null;

async function pump(w: Writable): Promise<void> {
  let sent = 0;
  while (total === 0 || sent < total) {
    const n = total === 0 ? chunk.length : Math.min(chunk.length, total - sent);
    const ok = w.write(n === chunk.length ? chunk : chunk.subarray(0, n));
    sent += n;
    written = sent;
    if (!ok) await once(w, 'drain');
  }
  w.end();
  send({ t: 'sent', bytes: sent, at: wallMs() });
}

async function go(m: Record<string, unknown>): Promise<void> {
  // the profiler first: its start (V8 logs every compiled function: tens of ms) stays out of the measured CPU
  startProfile();
  cpuStart = process.cpuUsage();
  const startAt = wallMs();
  let w: Writable;
  if (proto === 'srmudp') {
    const congestion = congestionOf(args.congestion);
    node = await createNode({
      host,
      port: 0,
      ...(congestion ? { congestion } : {}),
      ...cryptoOption(cryptoOf(args.crypto)),
    });
    conn = await node.connect(
      typeof m.card === 'string' ? m.card : { host: String(m.host), port: Number(m.port) },
    );
    w = conn.openStream();
    send({ t: 'connected', startAt, at: wallMs(), pmtu: conn.stats().pmtu, backend: node.cryptoBackend });
  } else if (proto === 'sealed-udp' || proto === 'raw-udp') {
    // open loop (datagram-floor.ts): sends until the sink has its bytes and we are killed
    const key = new Uint8Array(Buffer.from(String(m.key), 'hex'));
    floor = await floorSource(String(m.host), Number(m.port), proto === 'sealed-udp', key);
    send({ t: 'connected', startAt, at: wallMs() });
    send({ t: 'sent', bytes: 0, at: wallMs() });
    return;
  } else if (proto === 'udx' || proto === 'hyperswarm') {
    if (!udx) throw new Error('udx socket not bound');
    udx.stream.connect(udx.socket, Number(m.id), Number(m.port), String(m.host));
    if (proto === 'hyperswarm') {
      // Hyperswarm's encrypted stream: Noise XX handshake, then secretstream per write
      const secret = new SecretStream(true, udx.stream);
      await secret.opened;
      w = secret;
    } else w = udx.stream;
    send({ t: 'connected', startAt, at: wallMs() });
  } else {
    const sock = net.connect({ host: String(m.host), port: Number(m.port) });
    await once(sock, 'connect');
    w = sock;
    send({ t: 'connected', startAt, at: wallMs() });
  }
  w.on('error', (err) => fail(err));
  writer = w;
  await pump(w);
}

if (proto === 'udx' || proto === 'hyperswarm') {
  const u = new UDX();
  const socket = u.createSocket();
  socket.bind(0, host);
  udx = { socket, stream: u.createStream(1) };
  send({ t: 'ready', host, port: socket.address().port, id: 1 });
} else {
  send({ t: 'ready' });
}

onMessage(async (m) => {
  if (m.t === 'go') await go(m);
  else if (m.t === 'report') {
    floor?.stop();
    const cpuSec = cpuSecondsSince(cpuStart);
    await stopProfile();
    send({
      t: 'report',
      cpuSec,
      peakRss: peakRss(),
      stats: conn ? conn.stats() : floor ? { datagramsSent: floor.sent() } : null,
      // the sender socket's counters (segmentation offload among them)
      transport: node ? node.stats().transport : null,
      // state for stall reports
      writable: writer
        ? {
            written,
            writableLength: writer.writableLength,
            writableNeedDrain: writer.writableNeedDrain,
            writableEnded: writer.writableEnded,
            destroyed: writer.destroyed,
          }
        : null,
    });
  }
});
