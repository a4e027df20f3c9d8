import type { IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { RendezvousError } from '@srmudp/rendezvous';
import type { z } from 'zod';

export interface JsonReply {
  readonly status: number;
  readonly json: unknown;
  readonly text: string;
}

const MAX_RESPONSE = 64 * 1024;

/**
 * One HTTP request with a JSON body, on a fresh connection (agent: false, so nothing stays open),
 * with a timeout, an AbortSignal and a response size cap. Never throws anything but
 * RendezvousError (UNAVAILABLE, ABORTED).
 */
export function requestJson(
  method: 'GET' | 'POST' | 'PUT',
  url: string,
  body: unknown,
  options: { timeoutMs: number; signal?: AbortSignal | undefined; headers?: Record<string, string> },
): Promise<JsonReply> {
  return new Promise<JsonReply>((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      reject(new RendezvousError('UNAVAILABLE', `bad gateway URL ${url}`));
      return;
    }
    const signal = options.signal;
    if (signal?.aborted) {
      reject(new RendezvousError('ABORTED', 'operation aborted', { cause: signal.reason }));
      return;
    }
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    let settled = false;
    const finish = (error: RendezvousError | null, reply?: JsonReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(reply as JsonReply);
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(
      u,
      {
        method,
        agent: false,
        headers: {
          accept: 'application/json',
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(payload.length) }
            : {}),
          ...options.headers,
        },
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE) {
            req.destroy();
            finish(new RendezvousError('UNAVAILABLE', `gateway answered more than ${MAX_RESPONSE} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text.length > 0 ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          finish(null, { status: res.statusCode ?? 0, json, text });
        });
        res.on('error', (e) =>
          finish(new RendezvousError('UNAVAILABLE', `gateway response failed: ${e.message}`, { cause: e })),
        );
      },
    );
    const onAbort = () => {
      req.destroy();
      finish(new RendezvousError('ABORTED', 'operation aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      req.destroy();
      finish(
        new RendezvousError('UNAVAILABLE', `${method} ${u.pathname} timed out after ${options.timeoutMs} ms`),
      );
    }, options.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (e) =>
      finish(
        new RendezvousError('UNAVAILABLE', `${method} ${u.pathname} failed: ${e.message}`, { cause: e }),
      ),
    );
    req.end(payload);
  });
}

/** Validates a gateway answer with zod; a wrong shape is the gateway's fault: UNAVAILABLE. */
export function parseReply<T extends z.ZodType>(schema: T, reply: JsonReply, what: string): z.output<T> {
  const r = schema.safeParse(reply.json);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue?.path.join('.') || 'body';
    throw new RendezvousError(
      'UNAVAILABLE',
      `gateway answered ${what} with an unexpected shape (${where}: ${issue?.message ?? 'invalid'}): ${reply.text.slice(0, 80)}`,
    );
  }
  return r.data;
}

/** Maps a non-2xx status to the typed error every adapter uses. */
export function statusError(reply: JsonReply, what: string): RendezvousError {
  const detail = reply.text.slice(0, 120);
  if (reply.status === 402)
    return new RendezvousError('PAYMENT_REQUIRED', `${what}: gateway needs payment (${detail})`);
  return new RendezvousError('UNAVAILABLE', `${what}: gateway answered ${reply.status} (${detail})`);
}
