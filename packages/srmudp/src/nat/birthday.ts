/**
 * The birthday strategy for a random (endpoint-dependent) mapping against a consistent one with
 * port-dependent filtering (punch README "Hard NATs"; hyperdht's holepuncher, Tailscale's "How NAT
 * traversal works"), done in the façade because core sends from one socket:
 *
 * - the random side (`SocketPool`) binds `sockets` extra UDP sockets and sends a STUN Binding
 *   request from each to the consistent side's public endpoint(s), paced, repeated every
 *   `resendMs`: its NAT creates one mapping per socket, each open to exactly that endpoint;
 * - the consistent side (`Prober`) sends Binding requests from the node's socket to distinct random
 *   ports of the random side's public IP, one every `probeIntervalMs`, at most `maxProbes`;
 * - a probe that lands on a mapped port reaches socket i, which answers it from socket i; from then
 *   on every datagram for that peer endpoint leaves through socket i (the pool's route table) and
 *   what socket i receives goes into the node's endpoint. The answer tells the prober which public
 *   port works; it adds that address to its dial, and the Noise handshake runs over the pair.
 *
 * Nothing here is trusted: probes and answers are plain STUN, the route only decides which socket
 * sends; the connection is authenticated by the handshake that follows.
 */
import { createSocket, type Socket } from 'node:dgram';
import {
  DEFAULT_BIRTHDAY,
  type Endpoint,
  handleStunRequest,
  normalizeAddress,
  RandomPortSampler,
  type ResolvedBirthdayParams,
  tryDecodeBinding,
} from '@srmudp/punch';

const key = (host: string, port: number) => `${normalizeAddress(host)}:${port}`;

/** A 20-byte STUN Binding request (RFC 8489 §5) with a random transaction id. */
export function bindingRequest(random: (n: number) => Uint8Array): { data: Uint8Array; tid: string } {
  const data = new Uint8Array(20);
  data[1] = 0x01; // Binding request, length 0
  data.set([0x21, 0x12, 0xa4, 0x42], 4); // magic cookie
  const tid = random(12).slice(0, 12);
  data.set(tid, 8);
  return { data, tid: hex(tid) };
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export interface BirthdayOptions extends Partial<ResolvedBirthdayParams> {
  random: (n: number) => Uint8Array;
  log?: (m: string) => void;
}

/** The random side: extra sockets, each mapping towards the peer, and the route table. */
export class SocketPool {
  private readonly sockets: Socket[] = [];
  private readonly routes = new Map<string, Socket>();
  private timers: NodeJS.Timeout[] = [];
  private closed = false;
  hits = 0;

  constructor(
    private readonly o: BirthdayOptions & { bindHost: string },
    /** hands a non-STUN datagram received on an extra socket to the node's endpoint */
    private readonly deliver: (data: Uint8Array, from: Endpoint) => void,
  ) {}

  get size(): number {
    return this.sockets.length;
  }

  /** Local ports of the bound sockets. */
  localPorts(): number[] {
    return this.sockets.map((s) => s.address().port);
  }

  /** Binds the sockets and starts sending towards `targets` (the peer's public endpoints). */
  async open(targets: readonly Endpoint[]): Promise<void> {
    const n = this.o.sockets ?? DEFAULT_BIRTHDAY.sockets;
    for (let i = 0; i < n && !this.closed; i++) {
      const s = createSocket('udp4');
      s.on('error', () => {
        /* ICMP errors on a probe socket: that socket just stays unused */
      });
      s.on('message', (msg, rinfo) => this.onMessage(s, new Uint8Array(msg), rinfo.address, rinfo.port));
      try {
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(0, this.o.bindHost, () => {
            s.off('error', reject);
            resolve();
          });
        });
      } catch {
        s.close();
        break; // out of ports or descriptors: work with what we have
      }
      this.sockets.push(s);
    }
    if (this.closed) {
      this.close();
      return;
    }
    this.o.log?.(
      `birthday: ${this.sockets.length} sockets towards ${targets.map((t) => key(t.host, t.port))}`,
    );
    const sendAll = () => {
      // paced: one socket every socketPacingMs, so the NAT is not flooded in one burst
      const pacing = this.o.socketPacingMs ?? DEFAULT_BIRTHDAY.socketPacingMs;
      this.sockets.forEach((s, i) => {
        const t = setTimeout(() => {
          if (this.closed || [...this.routes.values()].includes(s)) return;
          for (const to of targets) s.send(bindingRequest(this.o.random).data, to.port, to.host);
        }, i * pacing);
        t.unref();
        this.timers.push(t);
      });
    };
    sendAll();
    const every = setInterval(sendAll, this.o.resendMs ?? DEFAULT_BIRTHDAY.resendMs);
    every.unref();
    this.timers.push(every);
  }

  /** Sends through the socket that `host:port` was heard on; false when no route exists. */
  route(data: Uint8Array, host: string, port: number): boolean {
    if (this.routes.size === 0) return false;
    const s = this.routes.get(key(host, port));
    if (s === undefined) return false;
    s.send(data, port, host);
    return true;
  }

  /** Closes every socket that carries no route (after the connection is up, or on failure). */
  release(): void {
    if (this.routes.size === 0) {
      this.close();
      return;
    }
    const keep = new Set(this.routes.values());
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    for (const s of this.sockets) if (!keep.has(s)) s.close();
    this.sockets.splice(0, this.sockets.length, ...keep);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    for (const s of this.sockets) s.close();
    this.sockets.length = 0;
    this.routes.clear();
  }

  private onMessage(s: Socket, data: Uint8Array, host: string, port: number): void {
    if (this.closed) return;
    const from = { host: normalizeAddress(host), port };
    const k = key(host, port);
    if (data.length >= 20 && ((data[0] as number) & 0xc0) === 0) {
      const local = s.address();
      const reply = handleStunRequest(data, from, { host: local.address, port: local.port });
      if (reply !== null) {
        // a probe of the consistent side landed on this socket's mapping: the path is open
        if (this.routes.get(k) !== s) {
          this.hits++;
          this.o.log?.(`birthday: probe from ${k} hit socket port ${local.port}`);
        }
        this.routes.set(k, s);
        s.send(reply, port, host);
      }
      return;
    }
    this.routes.set(k, s);
    this.deliver(data, from);
  }
}

/** The consistent side: random-port probes from the node's socket. */
export class Prober {
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private sent = 0;
  private done = false;

  constructor(
    private readonly o: BirthdayOptions,
    private readonly send: (data: Uint8Array, host: string, port: number) => void,
    private readonly onHit: (at: Endpoint) => void,
  ) {}

  get probes(): number {
    return this.sent;
  }

  /** Probes distinct random ports of `ip` (excluding ports already known not to be the peer's). */
  start(ip: string, exclude: readonly number[] = []): void {
    const sampler = new RandomPortSampler(
      this.o.random,
      this.o.portRange ?? DEFAULT_BIRTHDAY.portRange,
      exclude,
    );
    const max = this.o.maxProbes ?? DEFAULT_BIRTHDAY.maxProbes;
    const tick = () => {
      if (this.done) return;
      // setInterval cannot beat ~1 ms granularity under load: send what is due since the last tick
      const port = sampler.next();
      if (port === null || this.sent >= max) {
        this.stop();
        return;
      }
      const { data, tid } = bindingRequest(this.o.random);
      this.pending.add(tid);
      this.sent++;
      this.send(data, ip, port);
    };
    this.timer = setInterval(tick, this.o.probeIntervalMs ?? DEFAULT_BIRTHDAY.probeIntervalMs);
    this.timer.unref();
    this.o.log?.(`birthday: probing random ports of ${ip}`);
  }

  /** Offers a STUN message; true when it answered one of our probes (a hit). */
  handle(from: Endpoint, data: Uint8Array): boolean {
    if (this.pending.size === 0) return false;
    const msg = tryDecodeBinding(data);
    if (msg === null || msg.class !== 'success') return false;
    const tid = hex(msg.transactionId);
    if (!this.pending.delete(tid)) return false;
    this.o.log?.(`birthday: hit ${key(from.host, from.port)} after ${this.sent} probes`);
    this.onHit({ host: normalizeAddress(from.host), port: from.port });
    return true;
  }

  stop(): void {
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
