/**
 * A UDP transport address as the façade's socket adapter sees it (`rinfo.address`, `rinfo.port`).
 * IPv6 addresses are written in text form; a zone (`fe80::1%eth0`) is kept as given.
 */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** Address family of an endpoint: 6 when the address contains ':', else 4. */
export function endpointFamily(e: Endpoint): 4 | 6 {
  return e.address.includes(':') ? 6 : 4;
}

/** Stable map key: `1.2.3.4:5` or `[::1]:5`. */
export function endpointKey(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && normalizeAddress(a.address) === normalizeAddress(b.address);
}

/** Canonical text of an address, so that `::ffff:1.2.3.4`-style and compressed forms compare equal. */
export function normalizeAddress(address: string): string {
  if (!address.includes(':')) return address;
  const bytes = parseIPv6(address);
  if (bytes === null) return address.toLowerCase();
  return formatIPv6(bytes);
}

/** Parses dotted IPv4 text into 4 bytes, or null. */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

export function formatIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** Parses IPv6 text (RFC 4291 §2.2, with `::` and an embedded dotted IPv4 tail; a zone is ignored) into 16 bytes, or null. */
export function parseIPv6(text: string): Uint8Array | null {
  const zone = text.indexOf('%');
  const s = zone >= 0 ? text.slice(0, zone) : text;
  if (s.length === 0 || s.length > 45) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const groups: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseIPv4(item);
        if (v4 === null) return null;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return null;
        groups.push(Number.parseInt(item, 16));
      }
    }
    return groups;
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - tail.length;
    if (fill < 1) return null;
    groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  } else {
    groups = head;
  }
  if (groups.length !== 8) return null;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >> 8;
    out[2 * i + 1] = groups[i]! & 0xff;
  }
  return out;
}

/** Formats 16 bytes as canonical IPv6 text (RFC 5952: lowercase, longest zero run compressed). */
export function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
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
  const hex = (g: number) => g.toString(16);
  if (bestLen < 2) return groups.map(hex).join(':');
  const left = groups.slice(0, bestStart).map(hex).join(':');
  const right = groups
    .slice(bestStart + bestLen)
    .map(hex)
    .join(':');
  return `${left}::${right}`;
}

/** True for RFC 1918 / RFC 6598 / loopback / link-local IPv4 and ULA / link-local / loopback IPv6. */
export function isPrivateAddress(address: string): boolean {
  const v4 = parseIPv4(address);
  if (v4 !== null) {
    const [a, b] = [v4[0]!, v4[1]!];
    return (
      a === 10 ||
      a === 127 ||
      (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b < 128)
    );
  }
  const v6 = parseIPv6(address);
  if (v6 === null) return false;
  if ((v6[0]! & 0xfe) === 0xfc) return true; // fc00::/7 ULA
  if (v6[0] === 0xfe && (v6[1]! & 0xc0) === 0x80) return true; // fe80::/10
  return v6.every((x, i) => (i === 15 ? x === 1 : x === 0)); // ::1
}
