/**
 * IP address text <-> bytes, pure (no node:net): the one IP parser of srmudp. Output is canonical
 * and matches what Node prints for socket addresses (libuv's inet_ntop, RFC 5952): lowercase hex,
 * leading zeros dropped, the longest run of two or more zero groups (the first on a tie) as "::",
 * and IPv4-mapped (::ffff:a.b.c.d) or IPv4-compatible (::a.b.c.d) addresses with a dotted tail
 * (RFC 5952 §5), unless `mixedIpv4: false` asks for hex groups throughout (rendezvous records).
 */

export interface FormatIpOptions {
  /** print IPv4-mapped and IPv4-compatible addresses with a dotted IPv4 tail (default true) */
  mixedIpv4?: boolean;
}

function formatIpv4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** Canonical text of a 4- or 16-byte address. */
export function formatIp(bytes: Uint8Array, options?: FormatIpOptions): string {
  if (bytes.length === 4) return formatIpv4(bytes, 0);
  if (bytes.length !== 16)
    throw new RangeError(`"bytes" expected length 4 or 16, got length=${bytes.length}`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Longest run of zero words (length >= 2), the first one on a tie (RFC 5952 §4.2).
  let bestBase = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestBase = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestBase = -1;
  // Embedded IPv4 (libuv inet_ntop6): ::a.b.c.d and ::ffff:a.b.c.d.
  if (
    options?.mixedIpv4 !== false &&
    bestBase === 0 &&
    (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))
  ) {
    return `::${bestLen === 5 ? 'ffff:' : ''}${formatIpv4(bytes, 12)}`;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out.length > 0 && !out.endsWith(':')) out += ':';
    out += words[i]!.toString(16);
  }
  return out;
}

function parseIpv4Into(s: string, out: Uint8Array, o: number): boolean {
  // one pass over the characters, no split or regex: a responder parses each new initiator's
  // host (its rate-limit prefix, crypto's handshake-guard.ts)
  let part = 0;
  let v = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      // Decimal only, no leading zeros (they mean octal to some parsers), at most 255.
      if (digits === 0 || part > 3) return false;
      out[o + part++] = v;
      v = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && v === 0) return false;
      v = v * 10 + (c - 0x30);
      if (++digits > 3 || v > 255) return false;
    } else return false;
  }
  return part === 4;
}

/** Bytes of an IPv4 (4) or IPv6 (16) text address, or undefined when `s` is neither. */
export function parseIp(s: string): Uint8Array | undefined {
  if (typeof s !== 'string') return undefined;
  if (!s.includes(':')) {
    const out = new Uint8Array(4);
    return parseIpv4Into(s, out, 0) ? out : undefined;
  }
  const out = new Uint8Array(16);
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string, maxGroups: number, allowV4Tail: boolean): number[] | undefined => {
    if (part === '') return [];
    const groups = part.split(':');
    const words: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (i === groups.length - 1 && allowV4Tail && g.includes('.')) {
        const v4 = new Uint8Array(4);
        if (!parseIpv4Into(g, v4, 0)) return undefined;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
        words.push(Number.parseInt(g, 16));
      }
    }
    return words.length > maxGroups ? undefined : words;
  };
  let words: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, 7, false);
    const tail = parseGroups(halves[1]!, 7, true);
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseGroups(s, 8, true);
    if (all === undefined || all.length !== 8) return undefined;
    words = all;
  }
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  return out;
}

/** The canonical form of a text address (throws TypeError when it is not one). */
export function canonicalIp(s: string): string {
  const b = parseIp(s);
  if (b === undefined)
    throw new TypeError(`"host" expected an IPv4 or IPv6 address, got ${JSON.stringify(s)}`);
  return formatIp(b);
}
