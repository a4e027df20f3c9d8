/**
 * P3: time from connect(card) to the first byte, eim × eim through the NAT lab, in RTTs.
 *
 * Topology: hostA behind natA (eim) and hostB behind natB (eim); coturn on rdv 203.0.113.200:3480
 * is the STUN server both nodes gather their reflexive candidate from (before the clock starts).
 * 10 ms delay each way on natA's and natB's public links: the A–B path RTT is 40 ms. Cards are
 * exchanged by hand (manual rendezvous); both peers dial each other's card at the same moment
 * (eim NATs filter per address and port, so both must send). A writes one byte on a new stream
 * when its connection is up; the figure is A's connect() call to B's receipt of that byte.
 */
import { parsePeerId } from '@srmudp/crypto';
import { ADDR, COTURN_PORT } from '@srmudp/natlab';
import { compareBytes } from '@srmudp/wire';
import { inEimLab, labWorker } from './lab.js';
import { type Summary, sleep, summarize } from './stats.js';

export interface P3Result {
  ran: boolean;
  reason?: string;
  topology: string;
  configuredRttMs: number;
  runs: {
    ms: number;
    rtts: number;
    measuredRttMs: number | null;
    path: unknown;
    /** the writer (A) has the smaller key: its initiation is the one both sides settle on */
    writerWinsTieBreak: boolean;
  }[];
  ms: Summary | null;
  rtts: Summary | null;
  /** reference: the connection's own min RTT (srmudp's RTT estimator) */
  measuredRttMs: Summary | null;
}

export const P3_TOPOLOGY =
  'hostA 192.168.1.10 → natA (eim) → 10 ms each way → inet ← 10 ms each way ← natB (eim) ← hostB 192.168.1.20; ' +
  `STUN: coturn on rdv ${ADDR.rdv}:${COTURN_PORT}`;

export async function runP3(opts: { repeat: number; log?: (s: string) => void }): Promise<P3Result> {
  const delay = 10;
  const base: P3Result = {
    ran: false,
    topology: P3_TOPOLOGY,
    configuredRttMs: 4 * delay,
    runs: [],
    ms: null,
    rtts: null,
    measuredRttMs: null,
  };
  return inEimLab(base, async (lab) => {
    await lab.startCoturn();
    await lab.impair('natA', { delayMs: delay });
    await lab.impair('natB', { delayMs: delay });
    const errors: string[] = [];
    for (let i = 0; i < opts.repeat; i++) {
      const stun = ['--stun', `${ADDR.rdv}:${COTURN_PORT}`];
      const a = labWorker(lab, 'hostA', 'p3-peer', stun);
      const b = labWorker(lab, 'hostB', 'p3-peer', stun);
      try {
        const [ra, rb] = await Promise.all([
          a.next((m) => m.t === 'ready', 20_000),
          b.next((m) => m.t === 'ready', 20_000),
        ]);
        b.send({ t: 'connect', card: ra.card, write: false });
        a.send({ t: 'connect', card: rb.card, write: true });
        const ca = await a.next((m) => m.t === 'connected', 30_000);
        const first = await b.next((m) => m.t === 'first', 30_000);
        const ms = Number(first.at) - Number(ca.startAt);
        // the byte's ACK gives srmudp its first RTT sample (the handshake does not feed the estimator)
        await sleep(Math.max(500, 4 * base.configuredRttMs));
        a.send({ t: 'stats' });
        const st = (await a.next((m) => m.t === 'stats', 10_000)).stats as { minRttMs?: number } | null;
        const measured = typeof st?.minRttMs === 'number' && st.minRttMs > 0 ? st.minRttMs : null;
        const writerWinsTieBreak =
          compareBytes(parsePeerId(String(ra.peerId)), parsePeerId(String(rb.peerId))) < 0;
        base.runs.push({
          ms,
          rtts: ms / base.configuredRttMs,
          measuredRttMs: measured,
          path: ca.path,
          writerWinsTieBreak,
        });
        opts.log?.(
          `P3 run ${i + 1}: ${ms.toFixed(1)} ms (${(ms / base.configuredRttMs).toFixed(2)} RTT, writer ${writerWinsTieBreak ? 'wins' : 'loses'} the tie-break)`,
        );
      } catch (err) {
        errors.push(String((err as Error).message ?? err));
        opts.log?.(`P3 run ${i + 1} failed: ${errors.at(-1)}`);
        break;
      } finally {
        await Promise.all([a.kill(2000), b.kill(2000)]);
      }
    }
    if (base.runs.length === 0) {
      return {
        ...base,
        reason: `hole punching eim × eim through the façade did not connect: ${errors[0] ?? ''}`,
      };
    }
    base.ran = true;
    base.ms = summarize(base.runs.map((r) => r.ms));
    base.rtts = summarize(base.runs.map((r) => r.rtts));
    const m = base.runs.map((r) => r.measuredRttMs).filter((x): x is number => x !== null);
    base.measuredRttMs = m.length ? summarize(m) : null;
    if (errors.length) base.reason = `${errors.length} run(s) failed: ${errors[0]}`;
    return base;
  });
}
