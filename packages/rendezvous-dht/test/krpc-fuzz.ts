/**
 * Malformed KRPC datagrams for the guard's fuzz test: well-formed BEP 5 / BEP 44 messages with
 * fields replaced by values of the wrong type or length, removed or added, and byte-level damage
 * (truncation, flipped bytes, broken lengths, deep nesting), from a seeded generator.
 */
import { Rng } from '@srmudp/sim';

type Val = Uint8Array | number | Val[] | { [k: string]: Val };

const enc = new TextEncoder();
const s = (text: string) => enc.encode(text);

export function bencode(v: Val): Uint8Array {
  const parts: Uint8Array[] = [];
  const put = (x: Val): void => {
    if (typeof x === 'number') parts.push(s(`i${Math.trunc(x)}e`));
    else if (x instanceof Uint8Array) parts.push(s(`${x.length}:`), x);
    else if (Array.isArray(x)) {
      parts.push(s('l'));
      for (const y of x) put(y);
      parts.push(s('e'));
    } else {
      parts.push(s('d'));
      for (const k of Object.keys(x).sort()) {
        put(s(k));
        put(x[k] as Val);
      }
      parts.push(s('e'));
    }
  };
  put(v);
  return Buffer.concat(parts);
}

const BUFFER_FIELDS: Record<string, string[]> = {
  ping: ['id'],
  find_node: ['id', 'target'],
  get_peers: ['id', 'info_hash'],
  announce_peer: ['id', 'info_hash', 'token'],
  get: ['id', 'target'],
  put: ['id', 'token', 'v', 'k', 'sig', 'salt'],
};

export class KrpcFuzzer {
  readonly #rng: Rng;
  constructor(seed: number) {
    this.#rng = new Rng(seed);
  }

  #r(): number {
    return this.#rng.next();
  }
  #int(n: number): number {
    return this.#rng.int(n);
  }
  #pick<T>(xs: readonly T[]): T {
    return xs[this.#int(xs.length)] as T;
  }
  #bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.#int(256);
    return b;
  }

  #query(q: string): { [k: string]: Val } {
    const a: { [k: string]: Val } = { id: this.#bytes(20) };
    if (q === 'find_node' || q === 'get') a.target = this.#bytes(20);
    if (q === 'get_peers' || q === 'announce_peer') a.info_hash = this.#bytes(20);
    if (q === 'announce_peer') Object.assign(a, { token: this.#bytes(20), port: 6881, implied_port: 0 });
    if (q === 'put')
      Object.assign(a, {
        token: this.#bytes(20),
        v: this.#bytes(this.#int(900) + 1),
        k: this.#bytes(32),
        sig: this.#bytes(64),
        seq: this.#int(1e6),
        salt: s('srmudp/rendezvous/v1'),
        cas: 1,
      });
    return { t: this.#bytes(2), y: s('q'), q: s(q), a };
  }

  #response(): { [k: string]: Val } {
    return {
      t: this.#bytes(2),
      y: s('r'),
      r: {
        id: this.#bytes(20),
        nodes: this.#bytes(26 * this.#int(9)),
        token: this.#bytes(20),
        values: [this.#bytes(6), this.#bytes(6)],
        v: this.#bytes(this.#int(200) + 1),
        k: this.#bytes(32),
        sig: this.#bytes(64),
        seq: this.#int(1000),
      },
    };
  }

  #hostile(): Val {
    switch (this.#int(9)) {
      case 0:
        return this.#pick([0, 1, -1, 2 ** 31, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]);
      case 1:
        return new Uint8Array(0);
      case 2:
        return this.#bytes(this.#pick([1, 2, 19, 21, 31, 33, 63, 65, 70]));
      case 3:
        return [];
      case 4:
        return [this.#int(100), this.#bytes(3)];
      case 5:
        return {};
      case 6:
        return { x: { y: this.#int(5) } };
      case 7:
        return [[this.#int(3)]];
      default:
        return this.#int(1 << 20);
    }
  }

  /** A message with 1 to 3 structural mutations. */
  #mutated(): Uint8Array {
    const kind = this.#int(10);
    const msg =
      kind < 7
        ? this.#query(this.#pick(Object.keys(BUFFER_FIELDS)))
        : kind < 9
          ? this.#response()
          : { t: this.#bytes(2), y: s('e'), e: [201, s('oops')] as Val[] };
    for (let i = 0, n = 1 + this.#int(3); i < n; i++) {
      const inner = [msg.a, msg.r].find(
        (x) => typeof x === 'object' && !Array.isArray(x) && !(x instanceof Uint8Array),
      ) as { [k: string]: Val } | undefined;
      const where = inner !== undefined && this.#r() < 0.75 ? inner : msg;
      const keys = Object.keys(where);
      switch (this.#int(6)) {
        case 0:
        case 1:
        case 2:
          if (keys.length) where[this.#pick(keys)] = this.#hostile();
          break;
        case 3:
          if (keys.length) delete where[this.#pick(keys)];
          break;
        case 4:
          where[this.#pick(['seq', 'cas', 'salt', 'want', 'values', 'nodes', 'e', 'q', 'ro', 'ip', 'zz'])] =
            this.#hostile();
          break;
        default:
          msg[this.#pick(['y', 'q', 't'])] = this.#pick<Val>([
            s('q'),
            s('r'),
            s('e'),
            s('x'),
            s('get'),
            s('vote'),
            s('constructor'),
            s('__proto__'),
            7,
            [],
          ]);
      }
    }
    return bencode(msg);
  }

  /** Byte-level damage to an encoded message. */
  #damaged(): Uint8Array {
    const b = this.#mutated();
    switch (this.#int(6)) {
      case 0:
        return b.subarray(0, this.#int(b.length));
      case 1: {
        const c = b.slice();
        for (let i = 0, n = 1 + this.#int(4); i < n; i++) c[this.#int(c.length)] = this.#int(256);
        return c;
      }
      case 2: {
        const text = new TextDecoder('latin1').decode(b).replace(/(\d+):/, '0$1:');
        return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
      }
      case 3:
        return s(`d1:t2:aa1:y1:q1:q4:ping1:ad2:id${'9'.repeat(1 + this.#int(12))}:xee`);
      case 4:
        return s(`${'l'.repeat(2 + this.#int(500))}i1e${'e'.repeat(this.#int(500))}`);
      default:
        return this.#bytes(this.#int(1600));
    }
  }

  /** The next malformed datagram: mostly structural mutations, some byte damage. */
  next(): Uint8Array {
    return this.#r() < 0.7 ? this.#mutated() : this.#damaged();
  }

  /**
   * The reported crash, exhaustively: every query bittorrent-dht answers with an integer in each
   * field it expects to be a buffer (the 66-119 byte datagrams of the issue).
   */
  static integerFieldCases(): Uint8Array[] {
    const f = new KrpcFuzzer(1);
    const out: Uint8Array[] = [];
    for (const [q, fields] of Object.entries(BUFFER_FIELDS)) {
      for (const field of fields) {
        const m = f.#query(q);
        (m.a as { [k: string]: Val })[field] = 1;
        out.push(bencode(m));
      }
    }
    return out;
  }
}
