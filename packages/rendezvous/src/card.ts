import { blake2s } from '@noble/hashes/blake2.js';
import { parsePeerId, peerIdToString } from '@srmudp/crypto';
import { z } from 'zod';
import { concatBytes, equalBytes, fromBase64Url, toBase64Url } from './bytes.js';
import { isRendezvousError, RendezvousError } from './errors.js';
import type { PeerRecord } from './record.js';
import { decodeRecord, verifyRecord } from './record.js';

/**
 * Contact card text form, version 1:
 *
 *   "srmudp1:" + base64url( utf8(JSON payload) || checksum[4] )
 *   checksum = BLAKE2s-256("srmudp/card/v1" || 0x00 || utf8(JSON payload))[0..4]
 *
 * payload = { "peer": "<peer id text>", "locators": [{ "backend": "dht", ... }],
 *             "record"?: "<base64url signed PeerRecord>", "name"?: "<label>" }
 *
 * Whitespace anywhere in the text is ignored, so a card wrapped by a mail client still parses.
 * The checksum catches copy-paste damage (1 - 2^-32); it is not a signature: an embedded record is
 * signed by the peer, and the handshake authenticates the peer id whatever the card says.
 */
export const CARD_PREFIX = 'srmudp';
export const CARD_VERSION = 1;
export const MAX_CARD_LENGTH = 8192;
const CARD_DOMAIN = new TextEncoder().encode('srmudp/card/v1\0');

/** Where a peer's record can be found. `backend` names a RendezvousBackend; the rest is its data. */
export interface Locator {
  readonly backend: string;
  readonly [param: string]: string | number | boolean;
}
export interface ContactCard {
  readonly peerId: Uint8Array;
  readonly locators: readonly Locator[];
  /** A signed PeerRecord carried in the card itself (the manual case). */
  readonly record?: Uint8Array;
  /** Optional human label; not authenticated. */
  readonly name?: string;
}
/** What parseCard returns: the card plus its embedded record decoded (signature checked). */
export interface ParsedCard extends ContactCard {
  readonly peerIdText: string;
  readonly embedded?: PeerRecord;
}

const locatorSchema = z
  .object({
    backend: z
      .string()
      .min(1)
      .max(32)
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'backend name must be lower-case letters, digits and dashes'),
  })
  .catchall(z.union([z.string().max(1024), z.number(), z.boolean()]));

const payloadSchema = z.strictObject({
  peer: z.string().min(1).max(64),
  locators: z.array(locatorSchema).max(16),
  record: z.string().max(1400).optional(),
  name: z.string().max(64).optional(),
});

function invalid(message: string, cause?: unknown): RendezvousError {
  return new RendezvousError(
    'INVALID_CARD',
    `invalid contact card: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

function checksum(json: Uint8Array): Uint8Array {
  return blake2s(concatBytes(CARD_DOMAIN, json)).subarray(0, 4);
}

function checkLocator(loc: Locator, i: number): void {
  const r = locatorSchema.safeParse(loc);
  if (!r.success) throw new TypeError(`"card.locators[${i}]" is invalid: ${z.prettifyError(r.error)}`);
}

/** Formats a contact card as one copy-pasteable string. Throws TypeError on API misuse. */
export function encodeCard(card: ContactCard): string {
  const peer = peerIdToString(card.peerId);
  card.locators.forEach(checkLocator);
  if (card.locators.length > 16) throw new RangeError('"card.locators" holds at most 16 entries');
  const payload: z.input<typeof payloadSchema> = { peer, locators: card.locators.map((l) => ({ ...l })) };
  if (card.record !== undefined) {
    const { record } = decodeRecord(card.record);
    if (!equalBytes(record.peerId, card.peerId))
      throw new TypeError('"card.record" belongs to another peer id');
    payload.record = toBase64Url(card.record);
  }
  if (card.name !== undefined) {
    if (card.name.length > 64) throw new RangeError('"card.name" holds at most 64 characters');
    payload.name = card.name;
  }
  const json = new TextEncoder().encode(JSON.stringify(payload));
  return `${CARD_PREFIX}${CARD_VERSION}:${toBase64Url(concatBytes(json, checksum(json)))}`;
}

function pathOf(path: readonly PropertyKey[]): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '') || 'card'
  );
}

/**
 * Parses a contact card. Every problem gives RendezvousError('INVALID_CARD') whose message says
 * what is wrong: prefix, version, encoding, checksum, JSON, a named field, the peer id, or the
 * embedded record (its signature is checked here; its expiry is the resolver's business).
 */
export function parseCard(text: string): ParsedCard {
  if (typeof text !== 'string') throw invalid('expected a string');
  const t = text.replace(/\s+/g, '');
  if (t.length === 0) throw invalid('empty');
  if (t.length > MAX_CARD_LENGTH) throw invalid(`longer than ${MAX_CARD_LENGTH} characters`);
  const m = /^([a-z0-9]*?)(\d*):(.*)$/i.exec(t);
  if (m === null || (m[1] as string).toLowerCase() !== CARD_PREFIX) {
    throw invalid(`must start with "${CARD_PREFIX}${CARD_VERSION}:"`);
  }
  if (m[2] === '')
    throw invalid(`missing version after "${CARD_PREFIX}" (expected "${CARD_PREFIX}${CARD_VERSION}:")`);
  if (Number(m[2]) !== CARD_VERSION) {
    throw invalid(`unknown version ${m[2]} (this library reads version ${CARD_VERSION}; upgrade srmudp?)`);
  }
  const raw = fromBase64Url(m[3] as string);
  if (raw === null) throw invalid('body is not base64url (damaged while copying?)');
  if (raw.length < 5) throw invalid('body too short (truncated?)');
  const json = raw.subarray(0, raw.length - 4);
  if (!equalBytes(checksum(json), raw.subarray(raw.length - 4))) {
    throw invalid('checksum mismatch (card damaged or truncated while copying)');
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (error) {
    throw invalid('payload is not valid JSON', error);
  }
  const parsed = payloadSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined ? 'card' : pathOf(issue.path);
    throw invalid(`field ${where}: ${issue?.message ?? 'invalid'}`, parsed.error);
  }
  const p = parsed.data;
  let peerId: Uint8Array;
  try {
    peerId = parsePeerId(p.peer);
  } catch (error) {
    throw invalid(`field peer: ${(error as Error).message}`, error);
  }
  let card: ParsedCard = { peerId, peerIdText: peerIdToString(peerId), locators: p.locators as Locator[] };
  if (p.name !== undefined) card = { ...card, name: p.name };
  if (p.record !== undefined) {
    const bytes = fromBase64Url(p.record);
    if (bytes === null) throw invalid('field record: not base64url');
    try {
      // Signature and peer id now; expiry is checked by whoever resolves (cards live long).
      const { record } = verifyRecord(bytes, {
        expectedPeerId: peerId,
        now: 0,
        clockSkewMs: Number.MAX_SAFE_INTEGER,
      });
      card = { ...card, record: bytes, embedded: record };
    } catch (error) {
      if (isRendezvousError(error)) throw invalid(`field record: ${error.message} (${error.code})`, error);
      throw error;
    }
  }
  return card;
}
