import { RendezvousError } from '@srmudp/rendezvous';
import { toHex } from '@srmudp/wire';
import { z } from 'zod';
import type { AutonomiGateway, CreateResult, SlotValue } from './gateway.js';
import { ADDRESS_PATTERN } from './gateway.js';
import { parseReply, requestJson, statusError } from './http-json.js';

const hex = z
  .string()
  .transform((s) => s.toLowerCase().replace(/^0x/, ''))
  .pipe(z.string().regex(ADDRESS_PATTERN, 'expected a hex network address'));
const putReply = z.object({ address: hex, cost: z.union([z.string(), z.number()]).optional() });
const pointerReply = z.object({
  address: z.string().optional(),
  owner: z.string().optional(),
  counter: z.number().int().nonnegative(),
  target: z.object({ kind: z.string(), address: hex }),
});
const chunkReply = z.object({ data: z.base64('expected base64 chunk data') });
const existsReply = z.object({ address: hex });

export interface AntdGatewayOptions {
  /** Base URL of the antd daemon, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly timeoutMs?: number;
  /**
   * What goes after `PUT /v1/pointers/`: the pointer address (the route's `{addr}`, default) or
   * the owner secret key, as some antd client libraries send it. The body carries the key either way.
   */
  readonly updatePath?: 'address' | 'owner-key';
}

/**
 * The antd daemon REST API: a pointer (owned by a BLS secret key, address derived from it) that
 * targets a chunk holding our bytes. Publishing = `POST /v1/chunks` then `POST /v1/pointers`
 * (create) or `PUT /v1/pointers/{addr}` (update); resolving = `GET /v1/pointers/{addr}` then
 * `GET /v1/chunks/{target}`. Every write is paid by the daemon's wallet.
 */
export class AntdGateway implements AutonomiGateway {
  readonly kind = 'antd' as const;
  readonly slotType = 'pointer' as const;
  readonly url: string;
  readonly #timeoutMs: number;
  readonly #updatePath: 'address' | 'owner-key';

  constructor(options: AntdGatewayOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#updatePath = options.updatePath ?? 'address';
  }

  async #putChunk(data: Uint8Array, signal?: AbortSignal): Promise<string> {
    const reply = await requestJson(
      'POST',
      `${this.url}/v1/chunks`,
      { data: Buffer.from(data).toString('base64') },
      { timeoutMs: this.#timeoutMs, signal },
    );
    if (reply.status < 200 || reply.status >= 300) throw statusError(reply, 'POST /v1/chunks');
    return parseReply(putReply, reply, 'POST /v1/chunks').address;
  }

  async create(slot: string, data: Uint8Array, signal?: AbortSignal): Promise<CreateResult> {
    const chunk = await this.#putChunk(data, signal);
    const reply = await requestJson(
      'POST',
      `${this.url}/v1/pointers`,
      { owner_secret_key: slot, target: { kind: 'chunk', address: chunk } },
      { timeoutMs: this.#timeoutMs, signal },
    );
    if (reply.status === 409) {
      // The pointer of this owner exists already (we lost track of its address).
      return { address: parseReply(existsReply, reply, 'POST /v1/pointers (409)').address, existed: true };
    }
    if (reply.status < 200 || reply.status >= 300) throw statusError(reply, 'POST /v1/pointers');
    return { address: parseReply(putReply, reply, 'POST /v1/pointers').address, existed: false };
  }

  async update(slot: string, address: string, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    const chunk = await this.#putChunk(data, signal);
    const path = this.#updatePath === 'address' ? address : slot;
    const reply = await requestJson(
      'PUT',
      `${this.url}/v1/pointers/${path}`,
      { owner_secret_key: slot, target: { kind: 'chunk', address: chunk } },
      { timeoutMs: this.#timeoutMs, signal },
    );
    if (reply.status < 200 || reply.status >= 300) throw statusError(reply, 'PUT /v1/pointers');
  }

  async read(address: string, signal?: AbortSignal): Promise<SlotValue | null> {
    if (!ADDRESS_PATTERN.test(address)) return null;
    const p = await requestJson('GET', `${this.url}/v1/pointers/${address}`, undefined, {
      timeoutMs: this.#timeoutMs,
      signal,
    });
    if (p.status === 404) return null;
    if (p.status !== 200) throw statusError(p, 'GET /v1/pointers');
    const pointer = parseReply(pointerReply, p, 'GET /v1/pointers');
    if (pointer.target.kind.toLowerCase() !== 'chunk') {
      throw new RendezvousError('UNAVAILABLE', `pointer targets a ${pointer.target.kind}, expected a chunk`);
    }
    const c = await requestJson('GET', `${this.url}/v1/chunks/${pointer.target.address}`, undefined, {
      timeoutMs: this.#timeoutMs,
      signal,
    });
    if (c.status === 404) return null; // pointer ahead of its chunk on this replica: not visible yet
    if (c.status !== 200) throw statusError(c, 'GET /v1/chunks');
    const data = new Uint8Array(Buffer.from(parseReply(chunkReply, c, 'GET /v1/chunks').data, 'base64'));
    return { data, counter: pointer.counter };
  }
}

/** Hex text of bytes (for owner keys). */
export const hexOf = toHex;
