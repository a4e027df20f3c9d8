// Self-check probe, run by the lab on a host behind a NAT. Prints one JSON line and exits.
// argv: rdv rdvAlt primaryPort localPort timeoutMs
// Mapping: EIM when rdv:primary and rdvAlt:primary see the same public endpoint.
// Filtering: ask rdv:primary to answer also from rdv:alt (other port) and rdvFilter:alt (an IP
// this probe never contacts, NATLAB-NOTES pitfall 7): rdvFilter arrives -> EIF; only the other
// port -> ADF; neither -> APDF. Every request is retried, so lossy links do not fake a result.
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

const [rdv, rdvAlt, p1s, lps, tos] = process.argv.slice(2);
const primary = Number(p1s);
const localPort = Number(lps);
const timeoutMs = Number(tos);
const t0 = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const sock = createSocket('udp4');
sock.on('error', () => {});
await new Promise((resolve) => sock.bind(localPort, resolve));
const obs = new Map(); // at -> {ip, port}
let filterAcks = 0;
let lastAck = 0;
const filt = new Set();
sock.on('message', (buf) => {
  let m;
  try {
    m = JSON.parse(buf.toString('utf8'));
  } catch {
    return;
  }
  if (m.t === 'obs') {
    if (!obs.has(m.at)) obs.set(m.at, { ip: m.ip, port: m.port });
    if (m.filter) {
      filterAcks++;
      lastAck = Date.now();
    }
  } else if (m.t === 'filt') filt.add(m.from);
});
const send = (obj, ip) => sock.send(JSON.stringify(obj), primary, ip);
const keyMain = `${rdv}:${primary}`;
const keyAlt = `${rdvAlt}:${primary}`;

// Phase 1: mapping (bounded by half the budget).
let n = 0;
while (!(obs.has(keyMain) && obs.has(keyAlt)) && Date.now() - t0 < Math.min(timeoutMs / 2, 3000)) {
  if (!obs.has(keyMain)) send({ t: 'bind', id: n }, rdv);
  if (!obs.has(keyAlt)) send({ t: 'bind', id: n }, rdvAlt);
  n++;
  await sleep(100);
}
// Phase 2: filtering, only when UDP works at all.
let filtering = null;
if (obs.has(keyMain)) {
  const t1 = Date.now();
  // Five acknowledged filter requests, then 400 ms for their extra replies to arrive (each
  // request makes rdv send both extra replies: at 20 % loss, losing all five of a kind has
  // probability 0.2^5 = 0.03 %).
  while (Date.now() - t0 < timeoutMs) {
    if (filt.has('ip')) break;
    if (filterAcks >= 5 || (filterAcks >= 1 && Date.now() - t1 > 3000)) {
      if (Date.now() - lastAck > 400) break;
      await sleep(25);
      continue;
    }
    send({ t: 'filter', id: n++ }, rdv);
    await sleep(100);
  }
  filtering = filt.has('ip') ? 'EIF' : filt.has('port') ? 'ADF' : filterAcks > 0 ? 'APDF' : null;
}
sock.close();

// TCP through the same NAT (the path a relay fallback would use). 6 s covers three SYNs
// (retransmitted after 1 s and 3 s) on a lossy link.
const tcp = await new Promise((resolve) => {
  let data = '';
  const c = connect({ host: rdv, port: primary });
  const timer = setTimeout(() => {
    c.destroy();
    resolve(null);
  }, 6000);
  c.on('data', (d) => {
    data += d;
  });
  c.on('error', () => {
    clearTimeout(timer);
    resolve(null);
  });
  c.on('close', () => {
    clearTimeout(timer);
    try {
      const m = JSON.parse(data);
      resolve({ ip: m.ip, port: m.port });
    } catch {
      resolve(null);
    }
  });
});

const a = obs.get(keyMain) ?? null;
const b = obs.get(keyAlt) ?? null;
process.stdout.write(
  `${JSON.stringify({
    t: 'probe',
    localPort,
    udp: a !== null || b !== null,
    observed: { main: a, alt: b },
    filtering,
    filterAcks,
    tcp,
    ms: Date.now() - t0,
  })}\n`,
);
