import { request } from 'node:http';
import { ed25519 } from '@noble/curves/ed25519.js';
import { isRendezvousError, signRecord } from '@srmudp/rendezvous';
import { afterEach } from 'vitest';
import type { RendezvousServer } from '../src/index.js';
import { startRendezvousServer } from '../src/index.js';

export const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

export async function server(
  options: Parameters<typeof startRendezvousServer>[0] = {},
): Promise<RendezvousServer> {
  const s = await startRendezvousServer(options);
  cleanup.push(() => s.close());
  return s;
}

export function identity() {
  const secretKey = ed25519.utils.randomSecretKey();
  return { secretKey, peerId: ed25519.getPublicKey(secretKey) };
}

export function record(id: ReturnType<typeof identity>, seq: number, issuedAt = Date.now(), ttl = 60_000) {
  return signRecord(
    {
      peerId: id.peerId,
      seq,
      issuedAt,
      expiresAt: issuedAt + ttl,
      candidates: [{ kind: 'host', family: 4, host: '10.0.0.1', port: 1 }],
    },
    id.secretKey,
  );
}

/** One HTTP request on a fresh connection, optionally from another loopback address (127.0.0.x). */
export function raw(
  url: string,
  method: string,
  body?: Uint8Array,
  headers: Record<string, string> = {},
  localAddress?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, agent: false, headers, ...(localAddress ? { localAddress } : {}) },
      (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    return isRendezvousError(error) ? error.code : `other: ${String(error)}`;
  }
  return 'no error';
}
