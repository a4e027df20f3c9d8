// Self-check probe, run by the lab on a host behind a NAT. Prints one JSON line and exits.
// argv: rdv rdvAlt primaryPort localPort timeoutMs
// Mapping: EIM when rdv:primary and rdvAlt:primary see the same public endpoint.
// Filtering: ask rdv:primary to answer also from rdv:alt (other port) and rdvFilter:alt (an IP
// this probe never contacts, NATLAB-NOTES pitfall 7): rdvFilter arrives -> EIF; only the other
// port -> ADF; neither -> APDF. Every request is retried, so lossy links do not fake a result.
import { createSocket } from 'node:dgram';
import { ackedPhase, mappingPhase, probeState, tcpObserve } from './probe-lib.mjs';

const [rdv, rdvAlt, p1s, lps, tos] = process.argv.slice(2);
const primary = Number(p1s);
const localPort = Number(lps);
const timeoutMs = Number(tos);
const t0 = Date.now();

const sock = createSocket('udp4');
sock.on('error', () => {});
await new Promise((resolve) => sock.bind(localPort, resolve));
const st = probeState();
sock.on('message', st.onMessage);
const send = (obj, ip) => sock.send(JSON.stringify(obj), primary, ip);
const keyMain = `${rdv}:${primary}`;
const keyAlt = `${rdvAlt}:${primary}`;

// Phase 1: mapping (bounded by half the budget).
const budgetMs = Math.min(timeoutMs / 2, 3000);
let n = await mappingPhase({ send, obs: st.obs, rdv, rdvAlt, port: primary, budgetMs });
// Phase 2: filtering, only when UDP works at all.
let filtering = null;
if (st.obs.has(keyMain)) {
  await ackedPhase({
    request: () => send({ t: 'filter', id: n++ }, rdv),
    acks: () => st.filterAcks,
    done: () => st.filt.has('ip'),
    lastAck: () => st.lastAck,
    until: t0 + timeoutMs,
  });
  const { filt, filterAcks } = st;
  filtering = filt.has('ip') ? 'EIF' : filt.has('port') ? 'ADF' : filterAcks > 0 ? 'APDF' : null;
}
sock.close();

const tcpLog = [];
const tcp = await tcpObserve(rdv, primary, tcpLog);
const a = st.obs.get(keyMain) ?? null;
const b = st.obs.get(keyAlt) ?? null;
process.stdout.write(
  `${JSON.stringify({
    t: 'probe',
    localPort,
    udp: a !== null || b !== null,
    observed: { main: a, alt: b },
    filtering,
    filterAcks: st.filterAcks,
    tcp,
    tcpLog: tcp === null ? tcpLog : [],
    ms: Date.now() - t0,
  })}\n`,
);
