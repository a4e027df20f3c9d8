// The relay's circuit table: each client (a hop session), the two ends of each circuit with the
// channel each end's hop carries it on, the CONNECTs waiting for their target, the timers over
// them, and the per-client drop-oldest send queues. RelayService holds the rules that change it.
import type { RandomBytes } from './bytes.js';
import { CHANNEL_HEADER_LENGTH, CHANNEL_MIN } from './channel-data.js';
import { Deque } from './deque.js';
import type { CircuitLimits, RelayLimits } from './limits.js';
import type { TokenBucket } from './token-bucket.js';

export interface Queued<H> {
  readonly data: Uint8Array;
  readonly at: number;
  /** the destination end: a datagram of a circuit that closed meanwhile is never sent */
  readonly end: End<H>;
}

export interface End<H> {
  readonly client: ClientState<H>;
  readonly channel: number;
  expiresAt: number;
  readonly circuit: Circuit<H>;
}

export interface Circuit<H> {
  readonly id: number;
  readonly a: End<H>; // requester
  readonly b: End<H>; // target
  readonly limits: CircuitLimits;
  /** duration limit deadline, or Infinity */
  readonly deadline: number;
  bytes: number;
  packets: number;
  closed: boolean;
  readonly voucher: boolean;
}

export interface Pending<H> {
  readonly id: number;
  readonly requester: ClientState<H>;
  readonly requesterRequestId: number;
  readonly target: ClientState<H>;
  readonly limits: CircuitLimits;
  readonly deadline: number;
  readonly voucher: boolean;
}

export interface ClientState<H> {
  readonly key: Uint8Array;
  readonly id: string;
  hop: H;
  hopId: unknown;
  readonly relayed: boolean;
  readonly admitted: boolean;
  readonly bucket: TokenBucket;
  readonly maxCircuits: number;
  readonly channels: Map<number, End<H>>;
  nextChannel: number;
  readonly pendingOut: Set<Pending<H>>;
  readonly pendingIn: Map<number, Pending<H>>;
  lastRequestId: number;
  readonly answers: Map<number, Uint8Array>;
  lastRateNotice: number;
  lastChannelNotice: number;
  readonly data: Deque<Queued<H>>;
  dataBytes: number;
  readonly handshakes: Deque<Queued<H>>;
  writable: boolean;
  inReady: boolean;
  removed: boolean;
  /** the STATUS sent at clientUp, re-sent if the host reports the same session again */
  greeting: Uint8Array | null;
}

export type Timer<H> =
  | { readonly kind: 'end'; readonly end: End<H> }
  | { readonly kind: 'deadline'; readonly circuit: Circuit<H> }
  | { readonly kind: 'pending'; readonly pending: Pending<H> };

/** Answers kept per client so a duplicated request gets the same answer again. */
export const ANSWER_CACHE = 32;
export const CHANNEL_SPACE = 0x1000;

/** A client just up: its hop and admission (token bucket, circuit cap), nothing bound or queued yet. */
export function newClient<H>(
  init: Pick<
    ClientState<H>,
    'key' | 'id' | 'hop' | 'hopId' | 'relayed' | 'admitted' | 'bucket' | 'maxCircuits' | 'nextChannel'
  >,
): ClientState<H> {
  return {
    ...init,
    channels: new Map(),
    pendingOut: new Set(),
    pendingIn: new Map(),
    lastRequestId: 0,
    answers: new Map(),
    lastRateNotice: Number.NEGATIVE_INFINITY,
    lastChannelNotice: Number.NEGATIVE_INFINITY,
    data: new Deque(),
    dataBytes: 0,
    handshakes: new Deque(),
    writable: true,
    inReady: false,
    removed: false,
    greeting: null,
  };
}

/**
 * A circuit between requester `a.client` and target `b.client`, each end on the channel its hop
 * carries it on (allocChannel) with its binding expiring at `expiresAt`: entered in both clients'
 * channel tables.
 */
export function openCircuit<H>(
  init: Pick<Circuit<H>, 'id' | 'limits' | 'deadline' | 'voucher'>,
  a: { client: ClientState<H>; channel: number },
  b: { client: ClientState<H>; channel: number },
  expiresAt: number,
): Circuit<H> {
  const circuit = { ...init, bytes: 0, packets: 0, closed: false } as Circuit<H> & { a: End<H>; b: End<H> };
  circuit.a = { client: a.client, channel: a.channel, expiresAt, circuit };
  circuit.b = { client: b.client, channel: b.channel, expiresAt, circuit };
  a.client.channels.set(a.channel, circuit.a);
  b.client.channels.set(b.channel, circuit.b);
  return circuit;
}

/** The end of `end`'s circuit on the other side. */
export function otherEnd<H>(end: End<H>): End<H> {
  return end === end.circuit.a ? end.circuit.b : end.circuit.a;
}

export function randomChannelStart(random: RandomBytes): number {
  const r = random(2);
  return (((r[0] ?? 0) << 8) | (r[1] ?? 0)) % CHANNEL_SPACE;
}

/** A free channel on the client's hop, cycling through the space so numbers are not reused soon. */
export function allocChannel<H>(c: ClientState<H>): number {
  for (let i = 0; i < CHANNEL_SPACE; i++) {
    const ch = CHANNEL_MIN + ((c.nextChannel + i) % CHANNEL_SPACE);
    if (!c.channels.has(ch)) {
      c.nextChannel = (c.nextChannel + i + 1) % CHANNEL_SPACE;
      return ch;
    }
  }
  return -1;
}

function isHandshakePacket(firstByte: number): boolean {
  return firstByte >= 0x81 && firstByte <= 0x84;
}

/**
 * Queues a datagram for `item.end`'s client: handshake packets and data in their own drop-oldest
 * queues, bounded by `limits`; each packet dropped to make room is reported to `drop`.
 */
export function enqueueDatagram<H>(
  item: Queued<H>,
  limits: RelayLimits,
  drop: (reason: 'handshake_queue_full' | 'queue_full') => void,
): void {
  const c = item.end.client;
  const data = item.data;
  if (isHandshakePacket(data[CHANNEL_HEADER_LENGTH]!)) {
    c.handshakes.push(item);
    if (c.handshakes.length > limits.handshakeQueuePackets) {
      c.handshakes.shift();
      drop('handshake_queue_full');
    }
  } else {
    c.data.push(item);
    c.dataBytes += data.length;
    while (c.data.length > limits.sendQueuePackets || c.dataBytes > limits.sendQueueBytes) {
      const old = c.data.shift()!;
      c.dataBytes -= old.data.length;
      drop('queue_full');
    }
  }
}

/** The next queued datagram of `c`: handshakes first. */
export function shiftDatagram<H>(c: ClientState<H>): Queued<H> | undefined {
  const h = c.handshakes.shift();
  if (h) return h;
  const item = c.data.shift();
  if (item) c.dataBytes -= item.data.length;
  return item;
}
