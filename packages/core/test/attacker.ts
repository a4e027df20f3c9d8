// A hostile host for @srmudp/sim tests: sends forged handshake initiations from many source
// addresses at a fixed rate, optionally answering cookie replies the way an attacker that
// receives at its addresses can (issue 11).
import type { CryptoBackend } from '@srmudp/crypto';
import { CookieJar, InitiationForger } from '@srmudp/crypto/testing';
import { nodeBackend } from '@srmudp/crypto-node';
import { type Address, Rng, type SimNode } from '@srmudp/sim';
import type { Transmit } from '../src/api.js';

export interface FloodOptions {
  /** source addresses, used round-robin */
  from: Address[];
  to: Address;
  /** initiations per second over all sources */
  rate: number;
  startAt: number;
  durationMs: number;
  /** what to send */
  kind: 'junk' | 'ik' | 'xx' | 'replay';
  /** the responder's peer id (IK mac1, IK cookies) */
  responderKey?: Uint8Array;
  /** take cookies from cookie replies and sign every later initiation with them (mac2) */
  answerCookies?: boolean;
  /** for kind 'replay': the datagram to send again and again */
  datagram?: Uint8Array;
  seed?: string;
}

/** Sends `rate` initiations per second in 1 ms ticks; counts what comes back per kind. */
export class Flooder implements SimNode {
  private readonly forger: InitiationForger;
  private readonly jars = new Map<string, CookieJar>();
  /** initiations by sender index (to open the cookie replies that answer them) */
  private readonly sentInits = new Map<number, { init: Uint8Array; from: Address }>();
  private readonly queue: Transmit[] = [];
  private next: number;
  private carry = 0;
  private i = 0;
  sent = 0;
  readonly replies = { cookie: 0, response: 0, other: 0, bytes: 0 };

  constructor(private readonly o: FloodOptions) {
    const rng = new Rng(o.seed ?? 'flood');
    this.forger = new InitiationForger({
      random: (n) => rng.bytes(n),
      ...(o.responderKey ? { responderKey: o.responderKey } : {}),
    });
    this.next = o.startAt;
  }

  handle(_now: number, _from: Address, to: Address, data: Uint8Array): void {
    this.replies.bytes += data.length;
    if (data[0] === 0x84) {
      this.replies.cookie++;
      if (!this.o.answerCookies) return;
      const idx = ((data[1]! << 24) | (data[2]! << 16) | (data[3]! << 8) | data[4]!) >>> 0;
      const sent = this.sentInits.get(idx);
      if (!sent) return;
      const jar = this.jar(to);
      if (jar.take(sent.init, data)) {
        // resend the answered initiation with its mac2, as a real initiator would
        this.queue.push({ from: sent.from, to: this.o.to, data: jar.sign(sent.init.slice()) });
        this.sent++;
      }
    } else if (data[0] === 0x82) this.replies.response++;
    else this.replies.other++;
  }

  handleTimeout(now: number): void {
    const o = this.o;
    if (now < this.next || now >= o.startAt + o.durationMs) return;
    this.carry += o.rate / 1000;
    const n = Math.floor(this.carry);
    this.carry -= n;
    for (let k = 0; k < n; k++) {
      const from = o.from[this.i++ % o.from.length] as Address;
      let data: Uint8Array;
      if (o.kind === 'replay') data = (o.datagram as Uint8Array).slice();
      else
        data = o.kind === 'junk' ? this.forger.junk() : o.kind === 'ik' ? this.forger.ik() : this.forger.xx();
      if (o.answerCookies && o.kind !== 'junk') {
        this.jar(from).sign(data);
        const idx = ((data[3]! << 24) | (data[4]! << 16) | (data[5]! << 8) | data[6]!) >>> 0;
        this.sentInits.set(idx, { init: data.slice(), from });
        if (this.sentInits.size > 20_000) this.sentInits.delete(this.sentInits.keys().next().value as number);
      }
      this.queue.push({ from, to: o.to, data });
      this.sent++;
    }
    this.next = now + 1;
  }

  pollTransmit(): Transmit | null {
    return this.queue.shift() ?? null;
  }

  pollTimeout(): number | null {
    return this.next < this.o.startAt + this.o.durationMs ? this.next : null;
  }

  private jar(from: Address): CookieJar {
    const k = `${from.host}:${from.port}`;
    let j = this.jars.get(k);
    if (!j) {
      j = new CookieJar(this.o.kind === 'ik' ? this.o.responderKey : undefined);
      this.jars.set(k, j);
    }
    return j;
  }
}

/** `n` source addresses: each in its own /24 (`spread`) or all in 10.66.0.0/24. */
export function sources(n: number, spread: boolean): Address[] {
  return Array.from({ length: n }, (_, i) =>
    spread ? { host: `10.66.${i}.1`, port: 5000 + i } : { host: `10.66.0.${i + 1}`, port: 5000 + i },
  );
}

/** node:crypto backend that counts X25519 operations (the Diffie-Hellman work of a responder). */
export function countingBackend(): CryptoBackend & { dh: number } {
  const base = nodeBackend();
  const b = {
    name: `counting-${base.name}`,
    dh: 0,
    x25519(priv: Uint8Array, pub: Uint8Array) {
      b.dh++;
      return base.x25519(priv, pub);
    },
    x25519Public(priv: Uint8Array) {
      b.dh++;
      return base.x25519Public(priv);
    },
    aeadSeal: base.aeadSeal.bind(base),
    aeadOpen: base.aeadOpen.bind(base),
  };
  return b as CryptoBackend & { dh: number };
}
