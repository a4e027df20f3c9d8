import { z } from 'zod';
import type { AutonomiGateway, CreateResult, SlotValue } from './gateway.js';
import { ADDRESS_PATTERN } from './gateway.js';
import { parseReply, requestJson, statusError } from './http-json.js';

const hex = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.string().regex(ADDRESS_PATTERN, 'expected a hex network address'));
const bytes = z.array(z.number().int().min(0).max(255)).max(65_536);
const readReply = z.object({
  counter: z.number().int().nonnegative(),
  scratchpad_address: z.string().optional(),
  unencrypted_data: bytes,
});
const createReply = z.object({ network_address: hex });

export interface DwebGatewayOptions {
  /** Base URL of `dweb serve`, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  /** Ant-App-ID header: the application the scratchpad names belong to. */
  readonly appId?: string;
  readonly timeoutMs?: number;
}

/**
 * The dweb REST API (older network): public scratchpads at `/ant-0/scratchpad-public`, named by
 * the `Ant-App-ID` and `Ant-Object-Name` headers; the body is a DwebScratchpad JSON whose
 * `unencrypted_data` is an array of byte values; an update sends `counter` + 1.
 */
export class DwebGateway implements AutonomiGateway {
  readonly kind = 'dweb' as const;
  readonly slotType = 'scratchpad' as const;
  readonly url: string;
  readonly #appId: string;
  readonly #timeoutMs: number;

  constructor(options: DwebGatewayOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#appId = options.appId ?? 'srmudp-rendezvous';
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  #headers(slot: string): Record<string, string> {
    return { 'ant-app-id': this.#appId, 'ant-object-name': slot };
  }

  #body(data: Uint8Array, counter: number): unknown {
    return {
      counter,
      data_encoding: 0,
      dweb_type: 'PublicScratchpad',
      encryped_data: [0],
      scratchpad_address: '',
      unencrypted_data: Array.from(data),
    };
  }

  async create(slot: string, data: Uint8Array, signal?: AbortSignal): Promise<CreateResult> {
    const reply = await requestJson('POST', `${this.url}/ant-0/scratchpad-public`, this.#body(data, 0), {
      timeoutMs: this.#timeoutMs,
      signal,
      headers: this.#headers(slot),
    });
    if (reply.status === 409)
      return {
        address: parseReply(createReply, reply, 'POST scratchpad-public (409)').network_address,
        existed: true,
      };
    if (reply.status < 200 || reply.status >= 300) throw statusError(reply, 'POST scratchpad-public');
    return {
      address: parseReply(createReply, reply, 'POST scratchpad-public').network_address,
      existed: false,
    };
  }

  async update(slot: string, address: string, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    // dweb wants the next counter from the client. Replicas may answer a stale counter, so take
    // the highest of a few reads, and step up when the gateway says the counter did not increase.
    let counter = 0;
    for (let i = 0; i < 3; i++) counter = Math.max(counter, (await this.read(address, signal))?.counter ?? 0);
    for (let attempt = 0; ; attempt++) {
      const reply = await requestJson(
        'PUT',
        `${this.url}/ant-0/scratchpad-public`,
        this.#body(data, counter + 1 + attempt),
        {
          timeoutMs: this.#timeoutMs,
          signal,
          headers: this.#headers(slot),
        },
      );
      if (reply.status === 409 && attempt < 4) continue;
      if (reply.status < 200 || reply.status >= 300) throw statusError(reply, 'PUT scratchpad-public');
      return;
    }
  }

  async read(address: string, signal?: AbortSignal): Promise<SlotValue | null> {
    if (!ADDRESS_PATTERN.test(address)) return null;
    const reply = await requestJson('GET', `${this.url}/ant-0/scratchpad-public/${address}`, undefined, {
      timeoutMs: this.#timeoutMs,
      signal,
    });
    if (reply.status === 404) return null;
    if (reply.status !== 200) throw statusError(reply, 'GET scratchpad-public');
    const r = parseReply(readReply, reply, 'GET scratchpad-public');
    return { data: new Uint8Array(r.unencrypted_data), counter: r.counter };
  }
}
