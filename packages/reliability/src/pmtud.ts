/**
 * Datagram Packetization Layer PMTU Discovery, RFC 8899. States (§5.2): BASE (1200 bytes of UDP
 * payload, which every path we support carries, as QUIC assumes), SEARCHING (probe packets of
 * PING + PADDING; a probe is acknowledged or lost, MAX_PROBES = 3 losses of one size mean it does
 * not fit), SEARCH_COMPLETE (re-search after PMTU_RAISE_TIMER) and ERROR/black hole: when packets
 * of the current size keep disappearing while the search had succeeded, fall back to BASE and
 * search again later (§4.3, §5.2). Sizes here are UDP payload bytes (the datagram the carrier
 * emits, header and tag included).
 */
import { numericSlots, PATH_SLOTS, PMTUD_AT } from './numeric-slots.js';
export const BASE_PLPMTU = 1200;
export const MAX_PROBES = 3;
/** RFC 8899 §5.1.1: 600 s. */
export const PMTU_RAISE_TIMER_MS = 600_000;
/** Wait after a black hole before probing again. */
export const BLACK_HOLE_RETRY_MS = 60_000;
/** Stop the binary search when the interval is this small. */
const SEARCH_GRANULARITY = 16;

export type PmtudState = 'search' | 'complete' | 'disabled';

export class Pmtud {
  /** current PLPMTU */
  current = BASE_PLPMTU;
  state: PmtudState;
  private low = BASE_PLPMTU;
  private high: number;
  private probeSize = 0;
  private probeLosses = 0;
  /** packet number of the outstanding probe, or -1 */
  probePn = -1;
  /** earliest time to start the next search */
  private get searchAt(): number {
    return this.numbers[PMTUD_AT + 0]!;
  }
  private set searchAt(x: number) {
    this.numbers[PMTUD_AT + 0] = x;
  }
  blackHoles = 0;

  constructor(
    readonly maxPayload: number,
    private readonly numbers: number[] = numericSlots(PATH_SLOTS),
  ) {
    this.high = maxPayload;
    this.state = maxPayload > BASE_PLPMTU ? 'search' : 'disabled';
  }

  /** Size of the probe to send now, or 0. */
  wantProbe(now: number): number {
    if (this.probePn >= 0) return 0;
    if (this.state === 'complete' && now >= this.searchAt && this.current < this.maxPayload) {
      this.state = 'search';
      this.low = this.current;
      this.high = this.maxPayload;
      this.probeSize = 0;
    }
    if (this.state !== 'search' || now < this.searchAt) return 0;
    if (this.probeSize === 0) this.probeSize = this.nextSize();
    if (this.probeSize <= this.current) {
      this.finish(now);
      return 0;
    }
    return this.probeSize;
  }

  /** When the next search starts (for the timer), or +Inf. */
  nextSearchTime(): number {
    if (this.state === 'disabled' || this.probePn >= 0) return Number.POSITIVE_INFINITY;
    return this.searchAt;
  }

  private nextSize(): number {
    // first try the ceiling (most paths carry it), then binary search
    if (this.low === this.current && this.high === this.maxPayload) return this.maxPayload;
    return Math.floor((this.low + this.high + 1) / 2);
  }

  onProbeSent(pn: number): void {
    this.probePn = pn;
  }

  onProbeAcked(now: number): number {
    this.probePn = -1;
    this.current = this.probeSize;
    this.low = this.probeSize;
    this.probeLosses = 0;
    if (this.high - this.low < SEARCH_GRANULARITY) this.state = 'complete';
    this.probeSize = this.state === 'search' ? this.nextSize() : 0;
    if (this.state === 'complete') this.searchAt = now + PMTU_RAISE_TIMER_MS;
    return this.current;
  }

  onProbeLost(now: number): void {
    this.probePn = -1;
    this.probeLosses++;
    if (this.probeLosses < MAX_PROBES) return;
    this.probeLosses = 0;
    this.high = this.probeSize - 1;
    if (this.high - this.low < SEARCH_GRANULARITY) {
      this.finish(now);
      return;
    }
    this.probeSize = this.nextSize();
  }

  private finish(now: number): void {
    this.state = 'complete';
    this.probeSize = 0;
    this.searchAt = now + PMTU_RAISE_TIMER_MS;
  }

  /** Black hole detected: back to BASE_PLPMTU; search again later. */
  onBlackHole(now: number): void {
    this.blackHoles++;
    this.current = BASE_PLPMTU;
    this.low = BASE_PLPMTU;
    this.high = this.maxPayload;
    this.probePn = -1;
    this.probeSize = 0;
    this.probeLosses = 0;
    if (this.state !== 'disabled') {
      this.state = 'complete';
      this.searchAt = now + BLACK_HOLE_RETRY_MS;
    }
  }
}
