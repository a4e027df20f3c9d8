// IPv6 self-check probe, run by the lab on a host behind a home router's IPv6 firewall. Prints
// one JSON line and exits.
// argv: rdv rdvAlt rdvFilter primaryPort altPort localPort timeoutMs
// 1. Mapping: rdv:primary and rdvAlt:primary report the endpoint they see (the host's own
//    address and port when nothing translates).
// 2. Unsolicited inbound: rdv:primary is asked to send to another local port of this host
//    (localPort + 1), one that never sent anything: a stateful firewall must drop it.
// 3. Filtering as in probe.mjs: replies from rdv:alt (other port) and rdvFilter:alt (an address
//    this probe has not contacted yet).
// 4. Pinhole: when rdvFilter's packets were dropped, the probe sends to rdvFilter:alt itself and
//    asks again: now they must pass (after outbound to a peer, the peer's packets pass: the hole
//    punching case).
// 5. TCP to rdv:primary.
// Requests are retried and count only when the reflector acknowledged them, so lossy links do
// not fake a result.
import { createSocket } from 'node:dgram';
import { ackedPhase, mappingPhase, probeState, tcpObserve } from './probe-lib.mjs';

const [rdv, rdvAlt, rdvFilter, p1s, p2s, lps, tos] = process.argv.slice(2);
const primary = Number(p1s);
const alt = Number(p2s);
const localPort = Number(lps);
const timeoutMs = Number(tos);
const t0 = Date.now();

function open(port) {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: 'udp6', ipv6Only: true });
    s.once('error', reject);
    s.bind(port, '::', () => {
      s.off('error', reject);
      s.on('error', () => {});
      resolve(s);
    });
  });
}

const sock = await open(localPort);
const quiet = await open(localPort + 1);
const st = probeState();
sock.on('message', st.onMessage);
let unsolicited = false;
quiet.on('message', () => {
  unsolicited = true;
});
const send = (obj, ip, port = primary) => sock.send(JSON.stringify(obj), port, ip);
const keyMain = `${rdv}:${primary}`;
const keyAlt = `${rdvAlt}:${primary}`;
const common = { lastAck: () => st.lastAck, until: t0 + timeoutMs };

// 1. mapping (bounded by half the budget)
const budgetMs = Math.min(timeoutMs / 2, 3000);
let n = await mappingPhase({ send, obs: st.obs, rdv, rdvAlt, port: primary, budgetMs });
let filtering = null;
let pinhole = null;
if (st.obs.has(keyMain)) {
  // 2. unsolicited inbound to the quiet port
  await ackedPhase({
    ...common,
    request: () => send({ t: 'poke', id: n++, port: localPort + 1 }, rdv),
    acks: () => st.pokeAcks,
    done: () => unsolicited,
    want: 3,
  });
  // 3. filtering
  await ackedPhase({
    ...common,
    request: () => send({ t: 'filter', id: n++ }, rdv),
    acks: () => st.filterAcks,
    done: () => st.filt.has('ip'),
  });
  const { filt } = st;
  filtering = filt.has('ip') ? 'EIF' : filt.has('port') ? 'ADF' : st.filterAcks > 0 ? 'APDF' : null;
  // 4. pinhole: outbound to rdvFilter:alt, then its packets must pass
  if (filtering !== null && filtering !== 'EIF') {
    const before = st.filterAcks;
    await ackedPhase({
      ...common,
      request: () => {
        send({ t: 'open', id: n }, rdvFilter, alt);
        send({ t: 'filter', id: n++ }, rdv);
      },
      acks: () => st.filterAcks - before,
      done: () => filt.has('ip'),
    });
    pinhole = { acks: st.filterAcks - before, arrived: filt.has('ip') };
  }
}
sock.close();
quiet.close();

const tcp = await tcpObserve(rdv, primary);
const a = st.obs.get(keyMain) ?? null;
const b = st.obs.get(keyAlt) ?? null;
process.stdout.write(
  `${JSON.stringify({
    t: 'probe6',
    localPort,
    udp: a !== null || b !== null,
    observed: { main: a, alt: b },
    filtering,
    unsolicited: { acks: st.pokeAcks, arrived: unsolicited },
    pinhole,
    tcp,
    ms: Date.now() - t0,
  })}\n`,
);
