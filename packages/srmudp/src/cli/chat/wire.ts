import { cleanName } from '@srmudp/rendezvous';
import { z } from 'zod';

/**
 * Chat messages: one srmudp message (arrives whole, ordered) per chat event, JSON in UTF-8.
 *
 *   hello  sent first on every connection, both ways: the sender's nickname, its contact card (so
 *          the receiver can redial it after a loss) and the cards of the peers it is connected to
 *          (so a newcomer meets the whole group: a full mesh, no relaying through one member)
 *   say    a line to everyone           msg  a line to this peer only (private)
 *
 * Large groups (above `GOSSIP_ABOVE` members, chat.ts): hello carries `group: true` (the sender
 * talks through the gossip group; the receiver joins it too), and `say` lines go to the group
 * (`node.group`, signed by their origin) with the sender's `nick` and an `id` that members use to
 * drop the copy that also came over a direct connection.
 *
 * Unknown `t` values are ignored, so newer versions can add kinds.
 */
export const MAX_TEXT = 4000;
/** Raw nickname on the wire; shown through cleanNick (the card name rule: 64 bytes of UTF-8). */
const nick = z.string().min(1).max(256);
const card = z.string().min(1).max(8192);

export const chatMessageSchema = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('hello'),
    nick,
    card,
    peers: z.array(card).max(64).default([]),
    group: z.boolean().optional(),
  }),
  z.object({
    t: z.literal('say'),
    text: z.string().max(MAX_TEXT),
    id: z.string().max(32).optional(),
    nick: nick.optional(),
  }),
  z.object({ t: z.literal('msg'), text: z.string().max(MAX_TEXT) }),
]);
export type ChatMessage = z.infer<typeof chatMessageSchema>;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The message, or null for anything malformed or unknown (dropped, never thrown). */
export function decodeChat(data: Uint8Array): ChatMessage | null {
  try {
    const r = chatMessageSchema.safeParse(JSON.parse(decoder.decode(data)));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

export function encodeChat(m: ChatMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m));
}

/**
 * A printable nickname from untrusted text: the name rule of contact cards (at most 64 bytes of
 * UTF-8; control characters, terminal escapes and bidi overrides removed), 'anonymous' if
 * nothing is left.
 */
export function cleanNick(s: string): string {
  return cleanName(s) || 'anonymous';
}

/** Text safe to print on a terminal: no escape sequences or bidi overrides from a peer. */
export { cleanText } from '@srmudp/rendezvous';
