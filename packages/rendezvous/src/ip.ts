/**
 * IP literal parsing and formatting without `node:net`, so records and cards also work in
 * browsers. IPv6 text follows RFC 5952 (lower case, longest zero run compressed, no leading zeros)
 * so `format(parse(x))` is canonical and records compare byte for byte.
 */

/** Parses a dotted-quad IPv4 literal into 4 bytes, or null. */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

/** Parses an IPv6 literal (optionally with an embedded IPv4 tail, no zone id) into 16 bytes, or null. */
export function parseIPv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  let head = text;
  let v4: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const double = head.indexOf('::');
  if (double !== head.lastIndexOf('::')) return null;
  const groups: number[] = [];
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  if (double >= 0) {
    const left = parseGroups(head.slice(0, double));
    const right = parseGroups(head.slice(double + 2));
    if (left === null || right === null || left.length + right.length > 7) return null;
    groups.push(...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right);
  } else {
    const all = parseGroups(head);
    if (all === null || all.length !== 8) return null;
    groups.push(...all);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = (groups[i] as number) >> 8;
    out[2 * i + 1] = (groups[i] as number) & 0xff;
  }
  if (v4 !== null) out.set(v4, 12);
  return out;
}

/** Formats 4 or 16 address bytes as text (RFC 5952 for IPv6). */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16)
    throw new TypeError(`"bytes" expected Uint8Array of length 4 or 16, got length=${bytes.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number));
  // RFC 5952 §4.2: compress the longest run (>= 2 groups) of zeros, the first one on ties.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** Canonical text of an IP literal of the given family, or null when it is not one. */
export function canonicalIP(text: string, family: 4 | 6): string | null {
  const bytes = family === 4 ? parseIPv4(text) : parseIPv6(text);
  return bytes === null ? null : formatIP(bytes);
}
