// Measurement helper for lab tests, controlled through the JSON-lines channel.
//   udp-tool.mjs echo <ip> <port>     UDP echo server (+ counts); prints {t:'ready'}
//                                     (an IPv6 <ip> binds an IPv6 socket; clients pick the family
//                                     of each destination)
//   udp-tool.mjs client               waits for commands:
//     {t:'burst', ip, port, count, intervalMs, size, waitMs} -> {t:'burst', sent, unique, dups,
//        reordered, rtt: {min, median, max}}  (datagrams carry a sequence number and are echoed)
//     {t:'blast', ip, port, ms, size, rateKbit?} -> {t:'blast', sent, bytes}  (one-way; the echo side counts)
//     {t:'udp', ip, port, data | hex, localPort?, waitMs} -> {t:'udp', localPort, reply, hex, from}
//        (one request, one reply or reply null)
//     {t:'tcp', ip, port, waitMs} -> {t:'tcp', ok, data}
//   echo side: {t:'count'} -> {t:'count', datagrams, bytes, last: 'ip:port' of the last sender};
//              {t:'sendto', ip, port, data} sends from the echo socket -> {t:'sent'}
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { onMessage, send } from './channel.mjs';

const [mode, ip, portS] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const v6 = (host) => typeof host === 'string' && host.includes(':');
/** 'ip:port', or '[ip]:port' for IPv6. */
const endpoint = (r) => (v6(r.address) ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`);

if (mode === 'echo') {
  const s = createSocket(v6(ip) ? 'udp6' : 'udp4');
  let datagrams = 0;
  let bytes = 0;
  let last = null;
  s.on('error', () => {});
  s.on('message', (buf, r) => {
    datagrams++;
    bytes += buf.length;
    last = endpoint(r);
    // Blast datagrams (first byte 0x42) are counted, not echoed.
    if (buf[0] !== 0x42) s.send(buf, r.port, r.address);
  });
  s.bind(Number(portS), ip, () => send({ t: 'ready' }));
  onMessage((m) => {
    if (m.t === 'count') send({ t: 'count', datagrams, bytes, last });
    // Sends from the echo socket itself (opens its NAT mapping, e.g. for hairpin tests).
    if (m.t === 'sendto') s.send(m.data ?? 'hi', m.port, m.ip, () => send({ t: 'sent' }));
    if (m.t === 'reset') {
      datagrams = 0;
      bytes = 0;
      send({ t: 'reset' });
    }
  });
} else {
  onMessage(async (m) => {
    try {
      if (m.t === 'burst') send(await burst(m));
      else if (m.t === 'blast') send(await blast(m));
      else if (m.t === 'udp') send(await udpOnce(m));
      else if (m.t === 'tcp') send(await tcpOnce(m));
    } catch (err) {
      send({ t: 'error', for: m.t, message: String(err) });
    }
  });
  send({ t: 'ready' });
}

function socket(localPort = 0, to = '') {
  return new Promise((resolve) => {
    const s = createSocket(v6(to) ? { type: 'udp6', ipv6Only: true } : 'udp4');
    s.on('error', () => {});
    s.bind(localPort, () => resolve(s));
  });
}

async function burst({ ip, port, count, intervalMs = 1, size = 64, waitMs = 1500 }) {
  const s = await socket(0, ip);
  const sentAt = new Float64Array(count);
  const seen = new Uint32Array(count);
  const rtts = [];
  let last = -1;
  let reordered = 0;
  s.on('message', (buf) => {
    if (buf.length < 4) return;
    const i = buf.readUInt32BE(0);
    if (i >= count) return;
    if (seen[i]++ === 0) {
      rtts.push(performance.now() - sentAt[i]);
      if (i < last) reordered++;
      else last = i;
    }
  });
  const payload = Buffer.alloc(Math.max(size, 4));
  for (let i = 0; i < count; i++) {
    payload.writeUInt32BE(i, 0);
    sentAt[i] = performance.now();
    s.send(payload, port, ip);
    if (intervalMs > 0) await sleep(intervalMs);
  }
  await sleep(waitMs);
  s.close();
  let unique = 0;
  let dups = 0;
  for (const n of seen) {
    if (n > 0) unique++;
    if (n > 1) dups += n - 1;
  }
  rtts.sort((a, b) => a - b);
  const pick = (q) => (rtts.length ? rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))] : null);
  return {
    t: 'burst',
    sent: count,
    unique,
    dups,
    reordered,
    rtt: { min: pick(0), median: pick(0.5), max: pick(1) },
  };
}

async function blast({ ip, port, ms, size = 1000, rateKbit }) {
  const s = await socket(0, ip);
  const payload = Buffer.alloc(size, 0x42);
  const t0 = performance.now();
  let sent = 0;
  // Paced at rateKbit when given (else as fast as the socket takes it, in small batches).
  const perMs = rateKbit ? (rateKbit * 1000) / 8 / size / 1000 : Number.POSITIVE_INFINITY;
  while (performance.now() - t0 < ms) {
    const due = Number.isFinite(perMs) ? Math.floor((performance.now() - t0) * perMs) : sent + 20;
    while (sent < due) {
      await new Promise((r) => s.send(payload, port, ip, r));
      sent++;
    }
    await sleep(1);
  }
  s.close();
  return { t: 'blast', sent, bytes: sent * size, ms: performance.now() - t0 };
}

async function udpOnce({ ip, port, data = 'hello', hex, localPort = 0, waitMs = 1000 }) {
  const s = await socket(localPort, ip);
  const reply = new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ reply: null, from: null }), waitMs);
    s.on('message', (buf, r) => {
      clearTimeout(timer);
      resolve({ reply: buf.toString('utf8'), hex: buf.toString('hex'), from: endpoint(r) });
    });
  });
  s.send(hex ? Buffer.from(hex, 'hex') : data, port, ip);
  const r = await reply;
  const local = s.address().port;
  s.close();
  return { t: 'udp', localPort: local, ...r };
}

function tcpOnce({ ip, port, waitMs = 2000 }) {
  return new Promise((resolve) => {
    let data = '';
    const c = connect({ host: ip, port });
    const timer = setTimeout(() => {
      c.destroy();
      resolve({ t: 'tcp', ok: false, data });
    }, waitMs);
    c.on('data', (d) => {
      data += d;
    });
    c.on('error', () => {
      clearTimeout(timer);
      resolve({ t: 'tcp', ok: false, data });
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve({ t: 'tcp', ok: data.length > 0, data });
    });
  });
}
