// Pieces shared by the self-check probes (probe.mjs, probe6.mjs).
import { connect } from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * What a probe heard from the reflector (programs/reflector.mjs): observed endpoints by reflector
 * socket (`obs`), extra filtering replies by kind (`filt`: 'port' / 'ip'), acknowledgement counts
 * and the time of the last one. `onMessage` is the socket's message handler.
 */
export function probeState() {
  const st = { obs: new Map(), filt: new Set(), filterAcks: 0, pokeAcks: 0, lastAck: 0 };
  st.onMessage = (buf) => {
    let m;
    try {
      m = JSON.parse(buf.toString('utf8'));
    } catch {
      return;
    }
    if (m.t === 'obs') {
      if (!st.obs.has(m.at)) st.obs.set(m.at, { ip: m.ip, port: m.port });
      if (m.filter) {
        st.filterAcks++;
        st.lastAck = Date.now();
      }
    } else if (m.t === 'poked') {
      st.pokeAcks++;
      st.lastAck = Date.now();
    } else if (m.t === 'filt') st.filt.add(m.from);
  };
  return st;
}

/**
 * Sends `request()` every 100 ms until `done()`, or until `want` requests were acknowledged (or
 * one was and 3 s passed) and 400 ms went by without a new acknowledgement, for the replies they
 * caused to arrive. Each acknowledged request makes the reflector send its extra replies, so at
 * 20 % loss losing all five of a kind has probability 0.2^5 = 0.03 %. Ends at `until` (epoch ms).
 */
export async function ackedPhase({ request, acks, done, lastAck, until, want = 5 }) {
  const t1 = Date.now();
  while (Date.now() < until && !done()) {
    if (acks() >= want || (acks() >= 1 && Date.now() - t1 > 3000)) {
      if (Date.now() - lastAck() > 400) break;
      await sleep(25);
      continue;
    }
    request();
    await sleep(100);
  }
}

/**
 * Asks two reflector addresses (same port) which endpoint they see, until both answered or
 * `budgetMs` passed (100 ms between rounds). `obs` is filled by the caller's message handler,
 * keyed `<ip>:<port>` of the reflector socket that answered. Returns the next request id.
 */
export async function mappingPhase({ send, obs, rdv, rdvAlt, port, budgetMs }) {
  const t0 = Date.now();
  const keyMain = `${rdv}:${port}`;
  const keyAlt = `${rdvAlt}:${port}`;
  let n = 0;
  while (!(obs.has(keyMain) && obs.has(keyAlt)) && Date.now() - t0 < budgetMs) {
    if (!obs.has(keyMain)) send({ t: 'bind', id: n }, rdv);
    if (!obs.has(keyAlt)) send({ t: 'bind', id: n }, rdvAlt);
    n++;
    await sleep(100);
  }
  return n;
}

/**
 * TCP through the same NAT or firewall (the path a relay fallback would use): the reflector's
 * TCP server answers one JSON line with the endpoint it saw. 12 s covers four SYNs (Linux
 * retransmits after 1, 3 and 7 s) and a lost answer's retransmission. With 6 s (three SYNs) a
 * link losing 10 % each way lost all three SYN round trips (p ~ 0.19^3 = 0.7 % per host) and the
 * self-check measured TCP as blocked (CI, once); four make it ~0.13 %. Resolves {ip, port} or null.
 */
export const TCP_OBSERVE_MS = 12_000;
export function tcpObserve(host, port) {
  return new Promise((resolve) => {
    let data = '';
    const c = connect({ host, port });
    const timer = setTimeout(() => {
      c.destroy();
      resolve(null);
    }, TCP_OBSERVE_MS);
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
}
