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
 * TCP server answers one JSON line with the endpoint it saw. A fresh connection (new source port,
 * new conntrack entry) starts every 3 s, up to four, and the first answer wins; null when none
 * answered within 12 s. One connection alone (6 s: three SYNs) failed twice in a row in CI on the
 * lossy, duplicating, reordering links of the self-check test, once with 12 s for it: a connection
 * can stall there beyond its SYN retransmissions; a new one does not inherit that.
 */
export const TCP_OBSERVE_MS = 12_000;
const TCP_ATTEMPT_EVERY_MS = 3000;
export function tcpObserve(host, port, log = [], observeMs = TCP_OBSERVE_MS, everyMs = TCP_ATTEMPT_EVERY_MS) {
  // `log` receives one line per event of each attempt (+ms since the start), for the self-check's
  // error text when TCP did not answer
  const t0 = Date.now();
  const note = (s) => log.push(`+${Date.now() - t0}ms ${s}`);
  let n = 0;
  return new Promise((resolve) => {
    const sockets = new Set();
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      clearInterval(again);
      clearTimeout(timer);
      for (const c of sockets) c.destroy();
      resolve(v);
    };
    const attempt = () => {
      let data = '';
      const id = ++n;
      note(`#${id} connect`);
      const c = connect({ host, port });
      sockets.add(c);
      c.on('connect', () => note(`#${id} connected from port ${c.localPort}`));
      c.on('data', (d) => {
        data += d;
      });
      c.on('error', (e) => {
        note(`#${id} error ${e.code ?? e.message}`);
        sockets.delete(c);
      });
      c.on('close', () => {
        if (!done) note(`#${id} closed after ${data.length} bytes`);
        sockets.delete(c);
        try {
          const m = JSON.parse(data);
          finish({ ip: m.ip, port: m.port });
        } catch {
          // no answer on this one: another attempt or the deadline decides
        }
      });
    };
    const again = setInterval(() => {
      if (sockets.size < 4) attempt();
    }, everyMs);
    const timer = setTimeout(() => {
      note(`no answer; ${sockets.size} attempt(s) still open`);
      finish(null);
    }, observeMs);
    attempt();
  });
}
