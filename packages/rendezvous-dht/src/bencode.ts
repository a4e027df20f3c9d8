/**
 * A strict, bounded bencode decoder (BEP 3) for untrusted KRPC datagrams. It accepts a subset of
 * what bittorrent-dht's own decoder accepts, so anything it lets through is read the same way
 * there: canonical integers within 2^53 (no leading zeros, no "-0"), canonical string lengths,
 * printable-ASCII dictionary keys without duplicates, no trailing bytes, bounded nesting and item
 * count. Total: any byte string gives a value or null, never an exception.
 */
export type BValue = Uint8Array | number | BValue[] | BDict;
export type BDict = Map<string, BValue>;

export interface BencodeLimits {
  /** Deepest nesting of lists and dictionaries (the top level is depth 1). */
  readonly maxDepth: number;
  /** Most values (strings, integers, lists, dictionaries) in one message. */
  readonly maxItems: number;
}

const E = 0x65; // 'e'
const I = 0x69; // 'i'
const L = 0x6c; // 'l'
const D = 0x64; // 'd'
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
/** 2^53 - 1 has 16 digits (srmudp sequence numbers, microseconds since 1970, have 16 too). */
const MAX_DIGITS = 16;

class Cursor {
  pos = 0;
  items = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly limits: BencodeLimits,
  ) {}
}

function digits(c: Cursor, end: number): number | null {
  const b = c.bytes;
  const start = c.pos;
  while (c.pos < b.length && (b[c.pos] as number) >= ZERO && (b[c.pos] as number) <= NINE) c.pos++;
  const n = c.pos - start;
  if (n === 0 || n > MAX_DIGITS) return null;
  if (n > 1 && b[start] === ZERO) return null; // leading zero: not canonical
  if (c.pos >= b.length || b[c.pos] !== end) return null;
  let v = 0;
  for (let i = start; i < c.pos; i++) v = v * 10 + ((b[i] as number) - ZERO);
  if (v > Number.MAX_SAFE_INTEGER) return null;
  c.pos++; // the terminator
  return v;
}

function str(c: Cursor): Uint8Array | null {
  const len = digits(c, COLON);
  if (len === null || c.pos + len > c.bytes.length) return null;
  const out = c.bytes.subarray(c.pos, c.pos + len);
  c.pos += len;
  return out;
}

function value(c: Cursor, depth: number): BValue | null {
  if (++c.items > c.limits.maxItems) return null;
  const b = c.bytes;
  const tag = b[c.pos];
  if (tag === undefined) return null;
  if (tag === I) {
    c.pos++;
    const negative = b[c.pos] === MINUS;
    if (negative) c.pos++;
    const v = digits(c, E);
    if (v === null || (negative && v === 0)) return null;
    return negative ? -v : v;
  }
  if (tag === L || tag === D) {
    if (depth >= c.limits.maxDepth) return null;
    c.pos++;
    if (tag === L) {
      const list: BValue[] = [];
      while (b[c.pos] !== E) {
        const item = value(c, depth + 1);
        if (item === null) return null;
        list.push(item);
      }
      c.pos++;
      return list;
    }
    const dict: BDict = new Map();
    while (b[c.pos] !== E) {
      if (++c.items > c.limits.maxItems) return null;
      const raw = str(c);
      if (raw === null) return null;
      let key = '';
      for (const ch of raw) {
        if (ch < 0x20 || ch > 0x7e) return null; // KRPC keys are ASCII
        key += String.fromCharCode(ch);
      }
      if (dict.has(key)) return null;
      const item = value(c, depth + 1);
      if (item === null) return null;
      dict.set(key, item);
    }
    c.pos++;
    return dict;
  }
  return str(c);
}

/** Decodes one bencoded value filling all of `bytes`, or null. */
export function decodeBencode(bytes: Uint8Array, limits: BencodeLimits): BValue | null {
  const c = new Cursor(bytes, limits);
  const v = value(c, 1);
  return v !== null && c.pos === bytes.length ? v : null;
}
