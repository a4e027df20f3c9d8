import { blake2s } from '@noble/hashes/blake2.js';
import { parsePeerId, peerIdToString } from '@srmudp/crypto';
import { concatBytes, equalBytes, fromHex, toHex } from '@srmudp/wire';
import { fromBase64Url, toBase64Url } from './bytes.js';
import { decodeCardV1 } from './card-v1.js';
import { isRendezvousError, RendezvousError } from './errors.js';
import type { Locator } from './locator.js';
import { locatorKey, MAX_CARD_LOCATORS, normalizeLocator } from './locator.js';
import { cleanName, nameProblem } from './name.js';
import type { PeerRecord, VerifyOptions } from './record.js';
import { decodeRecord, MAX_RECORD_SIZE, verifyRecord } from './record.js';

/**
 * Contact card text form, version 2 (binary; see the README, "Contact card format"):
 *
 *   "srmudp2:" + base64url( body || checksum[4] )
 *   checksum = BLAKE2s-256("srmudp/card/v2" || 0x00 || body)[0..4]
 *   body = peer id[32] || flags[1] || locator count[1] || locators
 *          || (flags & 1: record length u16 || the signed record without its peer id)
 *          || (flags & 2: name length u8 || UTF-8 name)
 *          || (flags & 4: app tag length u8 || ASCII app tag)
 *
 * Whitespace anywhere in the text is ignored, so a card wrapped by a terminal or a mail client
 * still parses. The checksum catches copy-paste damage (1 - 2^-32); it is not a signature: an
 * embedded record is signed by the peer, and the handshake authenticates the peer id whatever the
 * card says. Version 1 cards (base64url JSON, the first release) are still read.
 */
export const CARD_PREFIX = 'srmudp';
export const CARD_VERSION = 2;
/** Longest card text once whitespace is removed. */
export const MAX_CARD_LENGTH = 8192;
/** Longest input parseCard looks at (whitespace included): refused before any other work. */
export const MAX_CARD_INPUT = 2 * MAX_CARD_LENGTH;
const CARD_DOMAIN = new TextEncoder().encode('srmudp/card/v2\0');
const FLAG_RECORD = 0x01;
const FLAG_NAME = 0x02;
const FLAG_APP = 0x04;
/** An app tag: 1 to 32 of a-z, 0-9, '.', '-', '/' (e.g. 'srmudp-send/1'). */
const APP_RE = /^[a-z0-9][a-z0-9./-]{0,31}$/;

/** Why `app` is not a valid card app tag, or null. */
export function appTagProblem(app: unknown): string | null {
  if (typeof app !== 'string') return 'expected a string';
  if (!APP_RE.test(app))
    return 'expected 1 to 32 of a-z, 0-9, ".", "-", "/", starting with a letter or digit';
  return null;
}

/** Locator tags of the binary card: the common backends in a few bytes, anything else generic. */
const TAG = {
  generic: 0x00,
  dht: 0x01, // { backend: 'dht' } (default salt)
  dhtSalt: 0x02, // u8 length, UTF-8 salt
  http: 0x03, // u8 length, origin
  manual: 0x04,
  autonomi: 0x05, // u8 slot type (0 none, 1 pointer, 2 scratchpad), u8 length, address bytes
} as const;
const AUTONOMI_TYPES = [undefined, 'pointer', 'scratchpad'] as const;
const VALUE = { string: 0, number: 1, false: 2, true: 3 } as const;

export type { Locator } from './locator.js';
export interface ContactCard {
  readonly peerId: Uint8Array;
  readonly locators: readonly Locator[];
  /** A signed PeerRecord carried in the card itself (the manual case). */
  readonly record?: Uint8Array;
  /** Optional human label (the name rule of name.ts); not authenticated. */
  readonly name?: string;
  /**
   * Optional tag of the program the card is meant for (`'srmudp-send/1'`, `'srmudp-chat/1'`): lets
   * a program say "this card is for another program" at once instead of dialling it. Not
   * authenticated (a hint, like the name); a card without one is for any program.
   */
  readonly app?: string;
}
/** What parseCard returns: the card plus its embedded record decoded (signature checked). */
export interface ParsedCard extends ContactCard {
  readonly peerIdText: string;
  readonly embedded?: PeerRecord;
  /** The card format it was written in: 1 (JSON, first release) or 2 (binary). */
  readonly version: 1 | 2;
}

function invalid(message: string, cause?: unknown): RendezvousError {
  return new RendezvousError(
    'INVALID_CARD',
    `invalid contact card: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

function checksum(body: Uint8Array): Uint8Array {
  return blake2s(concatBytes(CARD_DOMAIN, body)).subarray(0, 4);
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

class Writer {
  readonly parts: Uint8Array[] = [];
  u8(v: number): void {
    this.parts.push(Uint8Array.of(v));
  }
  bytes(b: Uint8Array): void {
    this.parts.push(b);
  }
  /** u8 length then the bytes (at most 255). */
  short(b: Uint8Array): void {
    this.u8(b.length);
    this.bytes(b);
  }
}

/** The compact form of a well-known locator (tag and payload), or null for the generic form. */
function compactLocator(loc: Locator, keys: readonly string[]): Uint8Array[] | null {
  const short = (b: Uint8Array) => [Uint8Array.of(b.length), b];
  if (loc.backend === 'dht' && keys.length === 0) return [Uint8Array.of(TAG.dht)];
  if (loc.backend === 'dht' && keys.length === 1 && typeof loc.salt === 'string')
    return [Uint8Array.of(TAG.dhtSalt), ...short(utf8.encode(loc.salt))];
  if (loc.backend === 'http') return [Uint8Array.of(TAG.http), ...short(utf8.encode(loc.url as string))];
  if (loc.backend === 'manual' && keys.length === 0) return [Uint8Array.of(TAG.manual)];
  if (loc.backend === 'autonomi') {
    const type = AUTONOMI_TYPES.indexOf(loc.type as (typeof AUTONOMI_TYPES)[number]);
    const address = typeof loc.address === 'string' ? fromHex(loc.address) : null;
    const rest = keys.filter((k) => k !== 'type' && k !== 'address');
    if (
      type >= 0 &&
      address !== null &&
      address.length > 0 &&
      rest.length === 0 &&
      loc.address === toHex(address)
    )
      return [Uint8Array.of(TAG.autonomi, type), ...short(address)];
  }
  return null;
}

function encodeLocator(w: Writer, loc: Locator): void {
  const keys = Object.keys(loc).filter((k) => k !== 'backend');
  const compact = compactLocator(loc, keys);
  if (compact !== null) {
    for (const part of compact) w.bytes(part);
    return;
  }
  w.u8(TAG.generic);
  w.short(utf8.encode(loc.backend));
  w.u8(keys.length);
  for (const k of keys) {
    w.short(utf8.encode(k));
    const v = loc[k] as string | number | boolean;
    if (typeof v === 'boolean') w.u8(v ? VALUE.true : VALUE.false);
    else {
      w.u8(typeof v === 'number' ? VALUE.number : VALUE.string);
      w.short(utf8.encode(String(v)));
    }
  }
}

/**
 * Formats a contact card as one copy-pasteable string (version 2). Throws TypeError/RangeError on
 * API misuse: a malformed peer id, locator (see normalizeLocator), name (see nameProblem), more
 * than 8 locators, or a record of another peer.
 */
export function encodeCard(card: ContactCard): string {
  const peerText = peerIdToString(card.peerId);
  const peerId = parsePeerId(peerText);
  if (!Array.isArray(card.locators)) throw new TypeError('"card.locators" expected an array');
  if (card.locators.length > MAX_CARD_LOCATORS)
    throw new RangeError(`"card.locators" holds at most ${MAX_CARD_LOCATORS} entries`);
  const w = new Writer();
  w.bytes(peerId);
  let flags = 0;
  if (card.record !== undefined) flags |= FLAG_RECORD;
  if (card.name !== undefined) flags |= FLAG_NAME;
  if (card.app !== undefined) flags |= FLAG_APP;
  w.u8(flags);
  w.u8(card.locators.length);
  card.locators.forEach((l, i) => {
    const r = normalizeLocator(l);
    if ('problem' in r) throw new TypeError(`"card.locators[${i}]" is invalid: ${r.problem}`);
    encodeLocator(w, r.locator);
  });
  if (card.record !== undefined) {
    const { record, bytes } = decodeRecord(card.record);
    if (!equalBytes(record.peerId, peerId)) throw new TypeError('"card.record" belongs to another peer id');
    // The peer id is already at the start of the card: store the record without it.
    const stripped = concatBytes(bytes.subarray(0, 1), bytes.subarray(33));
    w.u8(stripped.length >> 8);
    w.u8(stripped.length & 0xff);
    w.bytes(stripped);
  }
  if (card.name !== undefined) {
    const problem = nameProblem(card.name);
    if (problem !== null) throw new RangeError(`"card.name" is not a valid name: ${problem}`);
    w.short(utf8.encode(card.name));
  }
  if (card.app !== undefined) {
    const problem = appTagProblem(card.app);
    if (problem !== null) throw new RangeError(`"card.app" is not a valid app tag: ${problem}`);
    w.short(utf8.encode(card.app));
  }
  const body = concatBytes(...w.parts);
  return `${CARD_PREFIX}${CARD_VERSION}:${toBase64Url(concatBytes(body, checksum(body)))}`;
}

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array) {}
  u8(what: string): number {
    if (this.pos >= this.b.length) throw invalid(`truncated inside ${what}`);
    return this.b[this.pos++] as number;
  }
  take(n: number, what: string): Uint8Array {
    if (this.pos + n > this.b.length) throw invalid(`truncated inside ${what}`);
    const out = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  short(what: string): Uint8Array {
    return this.take(this.u8(what), what);
  }
  text(what: string): string {
    try {
      return utf8Strict.decode(this.short(what));
    } catch (error) {
      if (isRendezvousError(error)) throw error;
      throw invalid(`${what} is not UTF-8`);
    }
  }
}

function decodeLocator(r: Reader, i: number): unknown {
  const where = `locators[${i}]`;
  const tag = r.u8(where);
  switch (tag) {
    case TAG.dht:
      return { backend: 'dht' };
    case TAG.dhtSalt:
      return { backend: 'dht', salt: r.text(where) };
    case TAG.http: {
      const url = r.text(where);
      return { backend: 'http', url };
    }
    case TAG.manual:
      return { backend: 'manual' };
    case TAG.autonomi: {
      const type = AUTONOMI_TYPES[r.u8(where)];
      if (type === undefined && r.b[r.pos - 1] !== 0)
        throw invalid(`field ${where}: unknown autonomi slot type`);
      const address = toHex(r.short(where));
      return type === undefined ? { backend: 'autonomi', address } : { backend: 'autonomi', type, address };
    }
    case TAG.generic: {
      const loc: Record<string, string | number | boolean> = { backend: r.text(where) };
      const n = r.u8(where);
      for (let k = 0; k < n; k++) {
        const key = r.text(where);
        if (key === 'backend' || Object.hasOwn(loc, key))
          throw invalid(`field ${where}: duplicate parameter`);
        const type = r.u8(where);
        if (type === VALUE.true || type === VALUE.false) loc[key] = type === VALUE.true;
        else if (type === VALUE.string) loc[key] = r.text(where);
        else if (type === VALUE.number) {
          const text = r.text(where);
          const v = Number(text);
          if (!Number.isFinite(v) || String(v) !== text) throw invalid(`field ${where}.${key}: not a number`);
          loc[key] = v;
        } else throw invalid(`field ${where}: unknown value type ${type}`);
      }
      return loc;
    }
    default:
      throw invalid(`field ${where}: unknown locator tag ${tag} (a newer srmudp wrote this card?)`);
  }
}

interface CardFields {
  readonly peerId: Uint8Array;
  readonly locators: readonly unknown[];
  readonly record?: Uint8Array;
  readonly name?: string;
  readonly app?: string;
}

function decodeCardV2(body: string): CardFields {
  const raw = fromBase64Url(body);
  if (raw === null) throw invalid('body is not base64url (damaged while copying?)');
  if (raw.length < 32 + 2 + 4) throw invalid('body too short (truncated?)');
  const content = raw.subarray(0, raw.length - 4);
  if (!equalBytes(checksum(content), raw.subarray(raw.length - 4)))
    throw invalid('checksum mismatch (card damaged or truncated while copying)');
  const r = new Reader(content);
  const peerId = r.take(32, 'peer id').slice();
  const flags = r.u8('flags');
  if ((flags & ~(FLAG_RECORD | FLAG_NAME | FLAG_APP)) !== 0)
    throw invalid(`unknown flags 0x${flags.toString(16)} (a newer srmudp wrote this card?)`);
  const count = r.u8('locator count');
  if (count > MAX_CARD_LOCATORS) throw invalid(`field locators: more than ${MAX_CARD_LOCATORS} locators`);
  const locators: unknown[] = [];
  for (let i = 0; i < count; i++) locators.push(decodeLocator(r, i));
  let record: Uint8Array | undefined;
  if (flags & FLAG_RECORD) {
    const n = (r.u8('record length') << 8) | r.u8('record length');
    if (n < 1 || n + 32 > MAX_RECORD_SIZE) throw invalid(`field record: length ${n} is out of range`);
    const stripped = r.take(n, 'record');
    record = concatBytes(stripped.subarray(0, 1), peerId, stripped.subarray(1));
  }
  let name: string | undefined;
  if (flags & FLAG_NAME) name = r.text('name');
  let app: string | undefined;
  if (flags & FLAG_APP) {
    app = r.text('app');
    const problem = appTagProblem(app);
    if (problem !== null) throw invalid(`field app: ${problem}`);
  }
  if (r.pos !== content.length) throw invalid(`${content.length - r.pos} unexpected bytes at the end`);
  return {
    peerId,
    locators,
    ...(record !== undefined ? { record } : {}),
    ...(name !== undefined ? { name } : {}),
    ...(app !== undefined ? { app } : {}),
  };
}

/** Splits "srmudp2:..." into its version and body in linear time (no backtracking regex). */
function splitPrefix(t: string): { version: string; body: string } {
  const colon = t.indexOf(':');
  const head = colon < 0 ? '' : t.slice(0, colon).toLowerCase();
  if (colon < 0 || colon > 16 || !head.startsWith(CARD_PREFIX))
    throw invalid(`must start with "${CARD_PREFIX}${CARD_VERSION}:"`);
  const version = head.slice(CARD_PREFIX.length);
  if (version === '')
    throw invalid(`missing version after "${CARD_PREFIX}" (expected "${CARD_PREFIX}${CARD_VERSION}:")`);
  if (!/^[0-9]{1,10}$/.test(version)) throw invalid(`must start with "${CARD_PREFIX}${CARD_VERSION}:"`);
  return { version, body: t.slice(colon + 1) };
}

/**
 * Parses a contact card (version 2, or version 1 of the first release). Every problem gives
 * RendezvousError('INVALID_CARD') whose message says what is wrong: length, prefix, version,
 * encoding, checksum, a named field, the peer id, a locator, the name, or the embedded record
 * (its signature is checked here; its expiry is the resolver's business). Work is linear in the
 * input, and input longer than MAX_CARD_INPUT is refused before anything else. `options.verify`: the
 * Ed25519 verification to use (see VerifyOptions.verify; default noble's).
 */
export function parseCard(text: string, options: Pick<VerifyOptions, 'verify'> = {}): ParsedCard {
  if (typeof text !== 'string') throw invalid('expected a string');
  if (text.length > MAX_CARD_INPUT) throw invalid(`longer than ${MAX_CARD_INPUT} characters`);
  const t = text.replace(/\s+/g, '');
  if (t.length === 0) throw invalid('empty');
  if (t.length > MAX_CARD_LENGTH) throw invalid(`longer than ${MAX_CARD_LENGTH} characters`);
  const { version, body } = splitPrefix(t);
  let fields: CardFields;
  let v: 1 | 2;
  if (version === '2') {
    fields = decodeCardV2(body);
    v = 2;
  } else if (version === '1') {
    const old = decodeCardV1(body);
    if (typeof old === 'string') throw invalid(`${old} (a version 1 card, "${CARD_PREFIX}1:")`);
    let peerId: Uint8Array;
    try {
      peerId = parsePeerId(old.peer);
    } catch (error) {
      throw invalid(`field peer: ${(error as Error).message}`, error);
    }
    fields = { ...old, peerId };
    v = 1;
  } else {
    throw invalid(
      `unknown version ${version} (this library reads versions 1 and ${CARD_VERSION}; upgrade srmudp?)`,
    );
  }
  return checkFields(fields, v, options);
}

/** The checks both versions share: locators, name, embedded record. */
function checkFields(f: CardFields, version: 1 | 2, checks: Pick<VerifyOptions, 'verify'>): ParsedCard {
  if (f.locators.length > MAX_CARD_LOCATORS)
    throw invalid(`field locators: more than ${MAX_CARD_LOCATORS} locators`);
  const locators: Locator[] = [];
  const seen = new Set<string>();
  f.locators.forEach((raw, i) => {
    const r = normalizeLocator(raw);
    if ('problem' in r) throw invalid(`field locators[${i}]: ${r.problem}`);
    const key = locatorKey(r.locator);
    if (!seen.has(key)) {
      seen.add(key);
      locators.push(r.locator);
    }
  });
  let card: ParsedCard = {
    peerId: f.peerId,
    peerIdText: peerIdToString(f.peerId),
    locators,
    version,
    ...(f.app !== undefined ? { app: f.app } : {}),
  };
  if (f.name !== undefined) {
    // Version 2 refuses a name outside the rule; a version 1 card (written before the rule) has
    // its name cleaned instead, so saved cards keep working.
    const name = version === 1 ? cleanName(f.name) : f.name;
    const problem = nameProblem(name);
    if (problem !== null && version === 2) throw invalid(`field name: ${problem}`);
    if (problem === null) card = { ...card, name };
  }
  if (f.record !== undefined) {
    try {
      // Signature and peer id now; expiry is checked by whoever resolves (cards live long).
      const { record } = verifyRecord(f.record, {
        expectedPeerId: f.peerId,
        now: 0,
        clockSkewMs: Number.MAX_SAFE_INTEGER,
        ...(checks.verify ? { verify: checks.verify } : {}),
      });
      card = { ...card, record: f.record, embedded: record };
    } catch (error) {
      if (isRendezvousError(error)) throw invalid(`field record: ${error.message} (${error.code})`, error);
      throw error;
    }
  }
  return card;
}
