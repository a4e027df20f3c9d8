/**
 * Receiving end of a single-stream goodput measurement (P1 loopback, P2 NAT lab). Binds, reports
 * `ready` (port, and a contact card for srmudp), counts the bytes of the first incoming stream.
 *
 * Messages in:  { t: 'arm' } (CPU baseline), { t: 'sample' } (bytes so far), { t: 'peer', port,
 * host, id } (udx only: the source's socket and stream id), { t: 'report' }.
 * Messages out: ready, first (first byte), done (size-bounded runs: all bytes and the end of
 * stream arrived), sample, report ({ cpuSec, peakRss }), error.
 */

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { Readable } from 'node:stream';
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
import { FLOOR_BACKEND, floorSink } from './datagram-floor.js';

const args = parseArgs(process.argv.slice(2));
const proto = protoOf(args.proto);
const host = args.host ?? '127.0.0.1';
const expected = Number(args.bytes ?? 0); // 0: unbounded (time-bounded run, sampled)

let cpuStart = process.cpuUsage();
let received = 0;
let firstAt = 0;
let lastAt = 0;

let current: Readable | null = null;
let currentConn: Connection | null = null;

function consume(stream: Readable): void {
  current = stream;
  stream.on('data', (chunk: Uint8Array) => {
    if (received === 0) {
      firstAt = wallMs();
      send({ t: 'first', at: firstAt });
    }
    received += chunk.length;
    lastAt = wallMs();
  });
  stream.on('end', () => {
    const cpuSec = cpuSecondsSince(cpuStart);
    if (expected > 0 && received !== expected)
      fail(new Error(`received ${received} bytes, expected ${expected}`));
    // srmudp: datagrams this side opened, for CPU per packet
    const packetsReceived = currentConn?.stats().packetsReceived ?? null;
    // srmudp: this socket's counters (@srmudp/transport-node's stats(): batched receive)
    const transport = srmudp?.stats().transport ?? null;
    stopProfile().then(
      () =>
        send({
          t: 'done',
          bytes: received,
          firstAt,
          lastAt,
          cpuSec,
          peakRss: peakRss(),
          packetsReceived,
          transport,
        }),
      fail,
    );
  });
  stream.on('error', (err) => fail(err));
}

let srmudp: SrmudpNode | null = null;
let floorBad = 0;
let udx: { socket: UDX.Socket; stream: UDX.Stream } | null = null;

async function start(): Promise<void> {
  if (proto === 'srmudp') {
    const congestion = congestionOf(args.congestion);
    const node = await createNode({
      host,
      port: 0,
      ...(congestion ? { congestion } : {}),
      ...cryptoOption(cryptoOf(args.crypto)),
    });
    srmudp = node;
    void (async () => {
      for await (const conn of node.connections()) {
        currentConn = conn;
        for await (const s of conn.streams()) {
          consume(s);
          break;
        }
      }
    })().catch(fail);
    send({
      t: 'ready',
      host,
      port: node.address().port,
      card: node.contactCard(),
      peerId: node.peerId,
      backend: node.cryptoBackend,
    });
  } else if (proto === 'sealed-udp' || proto === 'raw-udp') {
    // the datagram floor (datagram-floor.ts): done at `expected` payload bytes; losses not counted
    const key = randomBytes(32);
    let finished = false;
    const sink = await floorSink(
      host,
      proto === 'sealed-udp',
      key,
      (n) => {
        if (finished) return;
        if (received === 0) {
          firstAt = wallMs();
          send({ t: 'first', at: firstAt });
        }
        received += n;
        lastAt = wallMs();
        if (expected > 0 && received >= expected) {
          finished = true;
          const cpuSec = cpuSecondsSince(cpuStart);
          sink.close();
          stopProfile().then(
            () => send({ t: 'done', bytes: received, firstAt, lastAt, cpuSec, peakRss: peakRss() }),
            fail,
          );
        }
      },
      () => {
        floorBad++;
      },
    );
    send({
      t: 'ready',
      host,
      port: sink.port,
      key: key.toString('hex'),
      ...(proto === 'sealed-udp' ? { backend: FLOOR_BACKEND } : {}),
    });
  } else if (proto === 'udx' || proto === 'hyperswarm') {
    const u = new UDX();
    const socket = u.createSocket();
    socket.bind(0, host);
    const stream = u.createStream(2);
    udx = { socket, stream };
    // hyperswarm: the responder's side of @hyperswarm/secret-stream over the same UDX stream
    consume(proto === 'hyperswarm' ? new SecretStream(false, stream) : stream);
    send({ t: 'ready', host, port: socket.address().port, id: 2 });
  } else {
    const server = net.createServer((sock) => {
      server.close();
      consume(sock);
    });
    server.listen(0, host);
    await once(server, 'listening');
    const addr = server.address() as net.AddressInfo;
    send({ t: 'ready', host, port: addr.port });
  }
}

onMessage(async (m) => {
  if (m.t === 'arm') {
    // the profiler first: its start (V8 logs every compiled function: tens of ms) stays out of the measured CPU
    startProfile();
    cpuStart = process.cpuUsage();
    send({ t: 'armed' });
  } else if (m.t === 'peer' && udx) {
    udx.stream.connect(udx.socket, Number(m.id), Number(m.port), String(m.host));
    send({ t: 'peered' });
  } else if (m.t === 'sample') {
    send({
      t: 'sample',
      bytes: received,
      at: wallMs(),
      firstAt,
      lastAt,
      cpuSec: cpuSecondsSince(cpuStart),
      // state for stall reports
      readable: current
        ? {
            readableLength: current.readableLength,
            readableFlowing: current.readableFlowing,
            readableEnded: current.readableEnded,
            destroyed: current.destroyed,
          }
        : null,
      stats: (currentConn?.stats() ?? null) as unknown as Record<string, unknown> | null,
    });
  } else if (m.t === 'report') {
    const stats = srmudp ? [...srmudpStats(srmudp)] : [];
    send({ t: 'report', cpuSec: cpuSecondsSince(cpuStart), peakRss: peakRss(), stats, floorBad });
  }
});

function* srmudpStats(node: SrmudpNode) {
  for (const s of Object.values(node.status())) yield s;
}

start().catch(fail);
