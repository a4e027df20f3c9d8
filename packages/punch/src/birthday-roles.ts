/**
 * The two parts of the birthday strategy (birthday.ts has the math), as sans-IO senders of plain
 * STUN Binding requests (hyperdht's holepuncher, Tailscale's "How NAT traversal works"):
 *
 * - {@link BirthdaySockets}, the random (endpoint-dependent) side: from each of the pool's sockets a
 *   request to the consistent side's public endpoint(s), paced `socketPacingMs`, every round
 *   repeated after `resendMs` to keep the mappings. Its NAT creates one mapping per socket, each
 *   open to exactly that endpoint. Nobody needs to answer these.
 * - {@link BirthdayProber}, the consistent side: requests from the main socket to distinct random
 *   ports of the random side's public IP, one every `probeIntervalMs`, at most `maxProbes`. A
 *   probe that lands on a mapped port reaches pool socket i, which answers it (NatSession's
 *   responder): the answer's source is the address to dial.
 *
 * The handshake that follows is core's (authenticated); a forged answer only adds a useless
 * candidate address.
 */
import type { Address, StunMessage } from '@srmudp/wire';
import { RandomPortSampler, type ResolvedBirthdayParams } from './birthday.js';
import { encodeBindingRequest, transactionKey } from './stun-codec.js';
import type { RandomBytes, Transmit } from './transmit.js';

function request(random: RandomBytes, software: string | undefined): { data: Uint8Array; id: string } {
  const tid = random(12).slice(0, 12);
  return {
    data: encodeBindingRequest(tid, software !== undefined ? { software } : {}),
    id: transactionKey(tid),
  };
}

/** The consistent side's random-port probes (from socket 0). */
export class BirthdayProber {
  readonly #random: RandomBytes;
  readonly #p: ResolvedBirthdayParams;
  readonly #ips: readonly string[];
  readonly #sampler: RandomPortSampler;
  readonly #pending = new Set<string>();
  readonly #software: string | undefined;
  #sent = 0;
  #nextAt: number;
  #done = false;

  /** `exclude`: ports of the first IP already known (its published srflx ports). */
  constructor(
    random: RandomBytes,
    params: ResolvedBirthdayParams,
    ips: readonly string[],
    exclude: readonly number[],
    now: number,
    software?: string,
  ) {
    this.#random = random;
    this.#p = params;
    this.#ips = ips.slice();
    this.#sampler = new RandomPortSampler(random, params.portRange, exclude);
    this.#software = software;
    this.#nextAt = now;
    if (this.#ips.length === 0 || params.maxProbes === 0) this.#done = true;
  }

  get probes(): number {
    return this.#sent;
  }

  get active(): boolean {
    return !this.#done;
  }

  poll(now: number): Transmit | null {
    if (this.#done || now < this.#nextAt) return null;
    const port = this.#sampler.next();
    if (port === null || this.#sent >= this.#p.maxProbes) {
      this.#done = true;
      return null;
    }
    const to = { host: this.#ips[this.#sent % this.#ips.length]!, port };
    const { data, id } = request(this.#random, this.#software);
    this.#pending.add(id);
    this.#sent++;
    this.#nextAt = now + this.#p.probeIntervalMs;
    if (this.#sent >= this.#p.maxProbes) this.#done = true;
    return { socket: 0, to, data };
  }

  pollTimeout(): number | null {
    return this.#done ? null : this.#nextAt;
  }

  /** True when `msg` answers one of our probes (a hit). Answers stay valid after `stop`. */
  matches(msg: StunMessage): boolean {
    return msg.class === 'success' && this.#pending.delete(transactionKey(msg.transactionId));
  }

  stop(): void {
    this.#done = true;
  }
}

/** The random side's sends from every pool socket towards the consistent side. */
export class BirthdaySockets {
  readonly #random: RandomBytes;
  readonly #p: ResolvedBirthdayParams;
  readonly #targets: readonly Address[];
  readonly #software: string | undefined;
  #sockets: number[] = [];
  #i = 0;
  #j = 0;
  #nextAt: number | null = null;
  #sends = 0;

  constructor(
    random: RandomBytes,
    params: ResolvedBirthdayParams,
    targets: readonly Address[],
    software?: string,
  ) {
    this.#random = random;
    this.#p = params;
    this.#targets = targets.map((t) => ({ host: t.host, port: t.port }));
    this.#software = software;
  }

  get sends(): number {
    return this.#sends;
  }

  get sockets(): readonly number[] {
    return this.#sockets;
  }

  /** The pool answered: start (or restart) the rounds with these sockets. */
  setSockets(now: number, ids: readonly number[]): void {
    this.#sockets = ids.slice();
    this.#i = 0;
    this.#j = 0;
    this.#nextAt = this.#sockets.length > 0 && this.#targets.length > 0 ? now : null;
  }

  /** The next due send; `skip(socket)` leaves out sockets that already carry the path. */
  poll(now: number, skip: (socket: number) => boolean): Transmit | null {
    const total = this.#sockets.length * this.#targets.length;
    for (let n = 0; n < total; n++) {
      if (this.#nextAt === null || now < this.#nextAt) return null;
      const socket = this.#sockets[this.#i]!;
      const to = this.#targets[this.#j]!;
      if (++this.#j >= this.#targets.length) {
        this.#j = 0;
        this.#i++;
      }
      if (this.#i >= this.#sockets.length) {
        this.#i = 0;
        this.#nextAt = now + this.#p.resendMs; // the next round refreshes the mappings
      } else {
        this.#nextAt = now + this.#p.socketPacingMs;
      }
      if (skip(socket)) continue;
      this.#sends++;
      return { socket, to, data: request(this.#random, this.#software).data };
    }
    return null;
  }

  pollTimeout(): number | null {
    return this.#nextAt;
  }

  stop(): void {
    this.#nextAt = null;
  }
}
