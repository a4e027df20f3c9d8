/**
 * Where a peer's record can be found: `backend` names a RendezvousBackend, the other fields are
 * its parameters. Locators come from cards, i.e. from strangers, so every locator is brought to a
 * canonical, bounded form before any backend sees it ({@link normalizeLocator}).
 */
export interface Locator {
  readonly backend: string;
  readonly [param: string]: string | number | boolean;
}

/** A node publishes at most this many locators; a card or a resolve carries no more. */
export const MAX_CARD_LOCATORS = 8;
/** Parameters of one locator besides `backend`. */
export const MAX_LOCATOR_PARAMS = 8;
/** Longest string parameter, bytes of UTF-8 (the binary card stores a one-byte length). */
export const MAX_LOCATOR_STRING_BYTES = 255;
/** Longest BEP 44 salt. */
export const MAX_DHT_SALT_BYTES = 64;

const BACKEND = /^[a-z0-9][a-z0-9-]{0,31}$/;
const PARAM = /^[A-Za-z0-9_-]{1,32}$/;
const utf8 = new TextEncoder();

export type LocatorCheck = { readonly locator: Locator } | { readonly problem: string };

/**
 * The origin (scheme, host, port) of an http(s) URL, or a problem. An HTTP locator is reduced to
 * its origin so a card can only point a resolver at `<origin>/v1/records/<peer id>`, never at a
 * path or query of the card author's choice (issue 22, item 8).
 */
export function httpOrigin(url: unknown): { readonly origin: string } | { readonly problem: string } {
  if (typeof url !== 'string') return { problem: 'url: expected a string' };
  if (utf8.encode(url).length > 1024) return { problem: 'url: longer than 1024 bytes' };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { problem: 'url: not a URL' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { problem: 'url: must be http: or https:' };
  if (u.username !== '' || u.password !== '')
    return { problem: 'url: must not carry a user name or password' };
  if (u.origin.length > MAX_LOCATOR_STRING_BYTES) return { problem: 'url: origin longer than 255 bytes' };
  return { origin: u.origin };
}

/**
 * Checks an untrusted locator and returns its canonical form: backend name lower-case letters,
 * digits and dashes (at most 32), at most 8 parameters named by letters, digits, `_` or `-`, with
 * string (at most 255 bytes of UTF-8), finite number or boolean values. Known backends get their
 * own rules: `http` keeps only the origin of `url`; `dht` needs a salt of 1 to 64 bytes if any.
 */
export function normalizeLocator(value: unknown): LocatorCheck {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { problem: 'expected an object' };
  const entries = Object.entries(value as Record<string, unknown>);
  const backend = (value as { backend?: unknown }).backend;
  if (typeof backend !== 'string' || !BACKEND.test(backend))
    return { problem: 'backend: must be 1-32 lower-case letters, digits and dashes' };
  if (entries.length - 1 > MAX_LOCATOR_PARAMS)
    return { problem: `more than ${MAX_LOCATOR_PARAMS} parameters` };
  const out: Record<string, string | number | boolean> = { backend };
  for (const [key, v] of entries) {
    if (key === 'backend') continue;
    if (!PARAM.test(key))
      return { problem: `parameter name ${JSON.stringify(key.slice(0, 40))} is not allowed` };
    if (typeof v === 'string') {
      if (utf8.encode(v).length > MAX_LOCATOR_STRING_BYTES && !(backend === 'http' && key === 'url'))
        return { problem: `${key}: longer than ${MAX_LOCATOR_STRING_BYTES} bytes` };
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return { problem: `${key}: not a finite number` };
    } else if (typeof v !== 'boolean') return { problem: `${key}: expected a string, number or boolean` };
    out[key] = v;
  }
  if (backend === 'http') {
    const o = httpOrigin(out.url);
    if ('problem' in o) return o;
    return { locator: { backend, url: o.origin } };
  }
  if (backend === 'dht' && out.salt !== undefined) {
    const salt = out.salt;
    const n = typeof salt === 'string' ? utf8.encode(salt).length : 0;
    if (n < 1 || n > MAX_DHT_SALT_BYTES)
      return { problem: `salt: expected 1 to ${MAX_DHT_SALT_BYTES} bytes` };
  }
  return { locator: out as Locator };
}

/** A stable text key of a canonical locator (parameter order does not matter), for deduplication. */
export function locatorKey(locator: Locator): string {
  return JSON.stringify(Object.entries(locator).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
