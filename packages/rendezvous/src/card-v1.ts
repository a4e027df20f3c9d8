import { blake2s } from '@noble/hashes/blake2.js';
import { concatBytes, equalBytes } from '@srmudp/wire';
import { z } from 'zod';
import { fromBase64Url } from './bytes.js';

/**
 * Reading of version 1 cards (`srmudp1:`, the first release): base64url( JSON || checksum[4] ),
 * checksum = BLAKE2s-256("srmudp/card/v1" || 0x00 || JSON)[0..4], JSON
 * `{ "peer": "pk...", "locators": [...], "record"?: "<base64url>", "name"?: "..." }`.
 * New cards are version 2 (card.ts); version 1 is still read so saved cards keep working. The
 * fields go through the same checks as version 2 in card.ts.
 */
const CARD_V1_DOMAIN = new TextEncoder().encode('srmudp/card/v1\0');

const payloadSchema = z.strictObject({
  peer: z.string().min(1).max(64),
  locators: z.array(z.unknown()).max(16),
  record: z.string().max(1400).optional(),
  name: z.string().max(256).optional(),
});

export interface CardV1Fields {
  readonly peer: string;
  readonly locators: readonly unknown[];
  readonly record?: Uint8Array;
  readonly name?: string;
}

function pathOf(path: readonly PropertyKey[]): string {
  return (
    path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '') || 'card'
  );
}

/** Decodes the body (after "srmudp1:") of a version 1 card; a string is the problem. */
export function decodeCardV1(body: string): CardV1Fields | string {
  const raw = fromBase64Url(body);
  if (raw === null) return 'body is not base64url (damaged while copying?)';
  if (raw.length < 5) return 'body too short (truncated?)';
  const json = raw.subarray(0, raw.length - 4);
  const sum = blake2s(concatBytes(CARD_V1_DOMAIN, json)).subarray(0, 4);
  if (!equalBytes(sum, raw.subarray(raw.length - 4)))
    return 'checksum mismatch (card damaged or truncated while copying)';
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch {
    return 'payload is not valid JSON';
  }
  const parsed = payloadSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `field ${issue === undefined ? 'card' : pathOf(issue.path)}: ${issue?.message ?? 'invalid'}`;
  }
  const p = parsed.data;
  let record: Uint8Array | undefined;
  if (p.record !== undefined) {
    const bytes = fromBase64Url(p.record);
    if (bytes === null) return 'field record: not base64url';
    record = bytes;
  }
  return {
    peer: p.peer,
    locators: p.locators,
    ...(record !== undefined ? { record } : {}),
    ...(p.name !== undefined ? { name: p.name } : {}),
  };
}
