import { z } from 'zod';
import type { AutonomiGateway, CreateResult, SlotValue } from './gateway.js';
import { ADDRESS_PATTERN } from './gateway.js';
import { parseReply, requestJson, statusError } from './http-json.js';

const hex = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.string().regex(ADDRESS_PATTERN, 'expected a hex network address'));
const writeReply = z.object({ address: hex });
const readReply = z.object({
  address: z.string().nullish(),
  content: z.base64('expected base64 content'),
  counter: z.number().int().nonnegative(),
});

export interface AntTpGatewayOptions {
  /** Base URL of AntTP, e.g. http://127.0.0.1:18888 */
  readonly url: string;
  readonly timeoutMs?: number;
}

/**
 * AntTP's public scratchpad API: `POST /anttp-0/public_scratchpad` `{ name, content }` creates a
 * scratchpad whose key AntTP derives from its app key and the name; `PUT
 * /anttp-0/public_scratchpad/{address}` replaces the content; `GET` reads `{ content, counter }`
 * (content base64). The bytes live in the scratchpad itself (no chunk).
 */
export class AntTpGateway implements AutonomiGateway {
  readonly kind = 'anttp' as const;
  readonly slotType = 'scratchpad' as const;
  readonly url: string;
  readonly #timeoutMs: number;

  constructor(options: AntTpGatewayOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  async create(slot: string, data: Uint8Array, signal?: AbortSignal): Promise<CreateResult> {
    const reply = await requestJson(
      'POST',
      `${this.url}/anttp-0/public_scratchpad`,
      { name: slot, content: Buffer.from(data).toString('base64') },
      { timeoutMs: this.#timeoutMs, signal },
    );
    if (reply.status === 409)
      return {
        address: parseReply(writeReply, reply, 'POST public_scratchpad (409)').address,
        existed: true,
      };
    if (reply.status < 200 || reply.status >= 300) throw statusError(reply, 'POST public_scratchpad');
    return { address: parseReply(writeReply, reply, 'POST public_scratchpad').address, existed: false };
  }

  async update(slot: string, address: string, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    const reply = await requestJson(
      'PUT',
      `${this.url}/anttp-0/public_scratchpad/${address}`,
      { name: slot, content: Buffer.from(data).toString('base64') },
      { timeoutMs: this.#timeoutMs, signal },
    );
    if (reply.status < 200 || reply.status >= 300) throw statusError(reply, 'PUT public_scratchpad');
  }

  async read(address: string, signal?: AbortSignal): Promise<SlotValue | null> {
    if (!ADDRESS_PATTERN.test(address)) return null;
    const reply = await requestJson('GET', `${this.url}/anttp-0/public_scratchpad/${address}`, undefined, {
      timeoutMs: this.#timeoutMs,
      signal,
    });
    if (reply.status === 404) return null;
    if (reply.status !== 200) throw statusError(reply, 'GET public_scratchpad');
    const r = parseReply(readReply, reply, 'GET public_scratchpad');
    return { data: new Uint8Array(Buffer.from(r.content, 'base64')), counter: r.counter };
  }
}
