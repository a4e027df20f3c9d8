import { bytesKey } from '@srmudp/wire';
import type { BDict, BValue } from './bencode.js';
import { decodeBencode } from './bencode.js';

/**
 * Type and length checks of every incoming KRPC message (BEP 5, BEP 44) before bittorrent-dht
 * sees it. bittorrent-dht@11 calls Buffer methods on fields of incoming queries without checking
 * their types (an integer `target` in a `get` query throws inside its UDP message handler and
 * kills the process; see the README). A message is passed on only when every field the library
 * reads has the type and length the BEPs give it; anything else is dropped with a reason.
 */

/** Largest KRPC datagram accepted: a BEP 44 put or get answer with a 1000-byte value fits easily. */
export const MAX_KRPC_DATAGRAM = 2048;
const LIMITS = { maxDepth: 4, maxItems: 512 } as const;
const ID = 20; // SHA-1 node ids and targets
const MAX_TOKEN = 64;
const MAX_VALUE = 1000; // BEP 44: v at most 1000 bytes

export type KrpcDropReason =
  | 'size' // larger than MAX_KRPC_DATAGRAM or empty
  | 'bencode' // not strict, bounded bencode
  | 'shape' // not a dictionary with t and y, or an unknown y
  | 'query' // a query whose arguments have the wrong types or lengths
  | 'unknown-query' // a query method this node does not serve
  | 'response' // a response whose values have the wrong types or lengths
  | 'error'; // an error message that is not [code, message]

type Check = (v: BValue | undefined) => boolean;

const isBytes = (v: BValue | undefined): v is Uint8Array => v instanceof Uint8Array;
const isDict = (v: BValue | undefined): v is BDict => v instanceof Map;
const bytes =
  (min: number, max = min): Check =>
  (v) =>
    isBytes(v) && v.length >= min && v.length <= max;
const uint =
  (max = Number.MAX_SAFE_INTEGER): Check =>
  (v) =>
    typeof v === 'number' && v >= 0 && v <= max;
const multipleOf =
  (n: number, maxCount: number): Check =>
  (v) =>
    isBytes(v) && v.length % n === 0 && v.length <= n * maxCount;
const listOf =
  (item: Check, max: number): Check =>
  (v) =>
    Array.isArray(v) && v.length <= max && v.every((x) => item(x));
const either =
  (...checks: Check[]): Check =>
  (v) =>
    checks.some((c) => c(v));

interface Schema {
  readonly required: Readonly<Record<string, Check>>;
  readonly optional?: Readonly<Record<string, Check>>;
}

const node = bytes(ID);
const token = bytes(1, MAX_TOKEN);
const value = bytes(1, MAX_VALUE);
const want = listOf(bytes(1, 8), 4);

/** Arguments of the queries bittorrent-dht answers (BEP 5 §"DHT Queries", BEP 44 §"get"/"put"). */
const QUERIES: Readonly<Record<string, Schema>> = {
  ping: { required: { id: node } },
  find_node: { required: { id: node, target: node }, optional: { want } },
  get_peers: {
    required: { id: node, info_hash: node },
    optional: { want, noseed: uint(1), scrape: uint(1) },
  },
  announce_peer: {
    required: { id: node, info_hash: node, token },
    optional: { port: uint(65535), implied_port: uint(1), seed: uint(1) },
  },
  get: { required: { id: node, target: node }, optional: { seq: uint(), want } },
  put: {
    required: { id: node, token, v: value },
    optional: { k: bytes(32), sig: bytes(64), salt: bytes(1, 64), seq: uint(), cas: uint() },
  },
};

/** Values a response may carry that bittorrent-dht or k-rpc read (BEP 5, BEP 32, BEP 44). */
const RESPONSE: Schema = {
  required: { id: node },
  optional: {
    nodes: multipleOf(26, 64),
    nodes6: multipleOf(38, 64),
    token,
    values: listOf(either(bytes(6), bytes(18)), 256),
    v: value,
    k: bytes(32),
    sig: bytes(64),
    seq: uint(),
  },
};

function fits(dict: BDict, schema: Schema): boolean {
  for (const [key, check] of Object.entries(schema.required)) if (!check(dict.get(key))) return false;
  if (schema.optional) {
    for (const [key, check] of Object.entries(schema.optional)) {
      const v = dict.get(key);
      if (v !== undefined && !check(v)) return false;
    }
  }
  return true;
}

/** Why a datagram must not reach bittorrent-dht, or null when it is a well-formed KRPC message. */
export function checkKrpcDatagram(datagram: Uint8Array): KrpcDropReason | null {
  if (datagram.length === 0 || datagram.length > MAX_KRPC_DATAGRAM) return 'size';
  const msg = decodeBencode(datagram, LIMITS);
  if (msg === null) return 'bencode';
  if (!isDict(msg)) return 'shape';
  const t = msg.get('t');
  const y = msg.get('y');
  if (!bytes(1, 32)(t) || !bytes(1)(y)) return 'shape';
  // Top-level extras read by some clients: client version (BEP 5), external address (BEP 42), read-only (BEP 43).
  const v = msg.get('v');
  const ip = msg.get('ip');
  const ro = msg.get('ro');
  if ((v !== undefined && !bytes(0, 32)(v)) || (ip !== undefined && !either(bytes(6), bytes(18))(ip)))
    return 'shape';
  if (ro !== undefined && !uint(1)(ro)) return 'shape';
  switch (bytesKey(y as Uint8Array)) {
    case 'q': {
      const q = msg.get('q');
      const a = msg.get('a');
      if (!bytes(1, 32)(q) || !isDict(a)) return 'query';
      const name = bytesKey(q as Uint8Array);
      // own methods only: `constructor` or `__proto__` would find Object's (and throw in fits)
      const schema = Object.hasOwn(QUERIES, name) ? QUERIES[name] : undefined;
      if (schema === undefined) return 'unknown-query';
      if (!fits(a, schema)) return 'query';
      // BEP 44: a mutable put carries k, sig and seq together; an immutable one none of them.
      if (name === 'put') {
        const mutable = [a.has('k'), a.has('sig'), a.has('seq')];
        if (mutable.some((x) => x) && !mutable.every((x) => x)) return 'query';
        if (!a.has('k') && (a.has('salt') || a.has('cas'))) return 'query';
      }
      // announce_peer needs a port unless it asks for the source port (implied_port = 1).
      if (name === 'announce_peer' && a.get('implied_port') !== 1) {
        const port = a.get('port');
        if (typeof port !== 'number' || port < 1) return 'query';
      }
      return null;
    }
    case 'r': {
      const r = msg.get('r');
      return isDict(r) && fits(r, RESPONSE) ? null : 'response';
    }
    case 'e': {
      const e = msg.get('e');
      const ok =
        Array.isArray(e) &&
        e.length >= 1 &&
        e.length <= 2 &&
        typeof e[0] === 'number' &&
        (e.length === 1 || bytes(0, 256)(e[1]));
      return ok ? null : 'error';
    }
    default:
      return 'shape';
  }
}
