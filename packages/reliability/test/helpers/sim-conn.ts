import type { Address, SimNode, Transmit } from '@srmudp/sim';
import { ReliableConnection, type ReliableEvent, type ReliableOptions } from '../../src/index.js';

/** Bytes our test carrier adds: an 8-byte packet number (no crypto in these tests). */
export const TEST_OVERHEAD = 8;

/**
 * A ReliableConnection as a @srmudp/sim node: datagram = 8-byte big-endian packet number + frames.
 * `app(node, now)` runs after every input so tests can read, write and drain events.
 */
export class ConnNode implements SimNode {
  readonly conn: ReliableConnection;
  readonly events: ReliableEvent[] = [];
  app: ((node: ConnNode, now: number) => void) | null = null;
  keepEvents = true;
  private started = false;

  constructor(
    readonly peer: Address,
    options: Omit<ReliableOptions, 'overhead'> & { overhead?: number },
  ) {
    this.conn = new ReliableConnection({ overhead: TEST_OVERHEAD, ...options });
  }

  private runApp(now: number): void {
    for (let ev = this.conn.pollEvent(now); ev !== null; ev = this.conn.pollEvent(now)) {
      if (this.keepEvents) this.events.push(ev);
      this.onEvent?.(ev, now);
    }
    this.app?.(this, now);
    for (let ev = this.conn.pollEvent(now); ev !== null; ev = this.conn.pollEvent(now)) {
      if (this.keepEvents) this.events.push(ev);
      this.onEvent?.(ev, now);
    }
  }

  onEvent: ((ev: ReliableEvent, now: number) => void) | null = null;

  handle(now: number, _from: Address, _to: Address, data: Uint8Array): void {
    if (data.length < 8) return;
    const pn =
      (data[0]! * 2 ** 24 + ((data[1]! << 16) | (data[2]! << 8) | data[3]!)) * 2 ** 32 +
      ((data[4]! << 24) >>> 0) +
      ((data[5]! << 16) | (data[6]! << 8) | data[7]!);
    this.conn.handlePacket(now, pn, data.subarray(8));
    this.runApp(now);
  }

  handleTimeout(now: number): void {
    this.conn.handleTimeout(now);
    this.runApp(now);
  }

  pollTransmit(now: number): Transmit | null {
    if (!this.started) {
      this.started = true;
      this.runApp(now);
    }
    const t = this.conn.pollTransmit(now);
    if (t === null) return null;
    const out = new Uint8Array(t.datagramSize);
    const pn = t.packetNumber;
    const hi = Math.floor(pn / 2 ** 32);
    const lo = pn >>> 0;
    out[0] = hi >>> 24;
    out[1] = (hi >>> 16) & 0xff;
    out[2] = (hi >>> 8) & 0xff;
    out[3] = hi & 0xff;
    out[4] = lo >>> 24;
    out[5] = (lo >>> 16) & 0xff;
    out[6] = (lo >>> 8) & 0xff;
    out[7] = lo & 0xff;
    out.set(t.payload, 8);
    return { to: this.peer, data: out };
  }

  pollTimeout(): number | null {
    return this.conn.pollTimeout();
  }
}

/** Deterministic test bytes. */
export function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Byte equality: @srmudp/wire's, re-exported for the tests that import it from here. */
export { equalBytes } from '@srmudp/wire';
