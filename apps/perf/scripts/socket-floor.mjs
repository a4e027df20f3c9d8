// The per-datagram floor of the socket layer, without any protocol: CPU µs per 1,400-byte datagram
// sent and received over loopback, node:dgram against udx-native's raw datagram socket (the
// binding Hyperswarm's streams run on), rounds interleaved.
//   node scripts/socket-floor.mjs [datagrams per run = 200000] [rounds = 3] [bytes = 1400]
// One run: a child process binds a receiver and counts; the parent sends in bursts of 64 per
// event-loop turn. Sender CPU covers the sends (on loopback the kernel delivers into the
// receiver's socket inside the sender's send call); receiver CPU is from its first datagram to
// the end. Datagrams lost to a full receive buffer are reported, and CPU is divided by those that
// arrived.
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const UDX = require('udx-native');
const HOST = '127.0.0.1';
const BUFFER = 8 << 20;

function cpuUs(since) {
  const c = process.cpuUsage(since);
  return c.user + c.system;
}

/** A bound socket of either kind: { port, send(buf, port), onMessage(fn), close() }. */
async function openSocket(kind) {
  if (kind === 'dgram') {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: BUFFER, sendBufferSize: BUFFER });
    await new Promise((resolve) => s.bind(0, HOST, resolve));
    return {
      port: s.address().port,
      send: (buf, port) => s.send(buf, port, HOST),
      onMessage: (fn) => s.on('message', fn),
      close: () => s.close(),
    };
  }
  const s = new UDX().createSocket();
  s.bind(0, HOST);
  s.setRecvBufferSize(BUFFER);
  s.setSendBufferSize(BUFFER);
  return {
    port: s.address().port,
    send: (buf, port) => s.trySend(buf, port, HOST),
    onMessage: (fn) => s.on('message', fn),
    close: () => s.close(),
  };
}

async function receiver(kind) {
  const s = await openSocket(kind);
  let n = 0;
  let t0;
  s.onMessage(() => {
    if (n++ === 0) t0 = process.cpuUsage();
  });
  process.on('message', (m) => {
    if (m !== 'done') return;
    process.send({ n, us: n > 0 ? cpuUs(t0) : 0 }, () => {
      s.close();
      process.exit(0);
    });
  });
  process.send({ port: s.port });
}

async function once(kind, count, bytes) {
  const child = fork(fileURLToPath(import.meta.url), ['--receiver', kind]);
  const next = () => new Promise((resolve) => child.once('message', resolve));
  const { port } = await next();
  const s = await openSocket(kind);
  const buf = Buffer.alloc(bytes, 7);
  const t0 = process.cpuUsage();
  let sent = 0;
  await new Promise((resolve) => {
    const burst = () => {
      for (let i = 0; i < 64 && sent < count; i++, sent++) s.send(buf, port);
      if (sent < count) setImmediate(burst);
      else resolve();
    };
    burst();
  });
  await new Promise((resolve) => setTimeout(resolve, 200)); // the last sends complete
  const sendUs = cpuUs(t0);
  child.send('done');
  const r = await next();
  s.close();
  return { sendUs: sendUs / count, recvUs: r.n > 0 ? r.us / r.n : Number.NaN, lost: count - r.n };
}

if (process.argv[2] === '--receiver') {
  await receiver(process.argv[3]);
} else {
  const count = Number(process.argv[2] ?? 200_000);
  const rounds = Number(process.argv[3] ?? 3);
  const bytes = Number(process.argv[4] ?? 1400);
  const kinds = ['dgram', 'udx-native'];
  const results = { dgram: [], 'udx-native': [] };
  for (let r = 0; r < rounds; r++) {
    for (const kind of r % 2 === 0 ? kinds : [...kinds].reverse()) {
      const x = await once(kind === 'udx-native' ? 'udx' : 'dgram', count, bytes);
      results[kind].push(x);
      console.log(
        `round ${r + 1} ${kind.padEnd(10)} send ${x.sendUs.toFixed(2)} µs  receive ${x.recvUs.toFixed(2)} µs  lost ${x.lost}`,
      );
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const kind of kinds) {
    const rs = results[kind];
    console.log(
      `${kind.padEnd(10)} median per ${bytes}-byte datagram: send ${median(rs.map((x) => x.sendUs)).toFixed(2)} µs, receive ${median(rs.map((x) => x.recvUs)).toFixed(2)} µs`,
    );
  }
}
