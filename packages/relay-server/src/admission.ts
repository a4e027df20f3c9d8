import { timingSafeEqual } from 'node:crypto';
import type { Address } from '@srmudp/core';
import { parsePeerId } from '@srmudp/crypto';
import { type AdmissionPolicy, allowListPolicy, groupPolicy, openPolicy } from '@srmudp/relay';
import { isWsHost } from '@srmudp/transport-ws';
import type { WsAdmissionRequest } from '@srmudp/transport-ws/server';
import { toHex } from '@srmudp/wire';
import type { RelayConfig } from './config.js';

/**
 * The three gates of admission, one per layer:
 *  - `ws`: before a WebSocket opens (bearer token, mode 'token');
 *  - `acceptKey`: before core completes a hop-session handshake (keys: allow-list and group
 *    refuse strangers before any state is kept; mode 'token' admits WebSocket clients, which
 *    passed the token, and over UDP only the keys in `allow`);
 *  - `policy`: @srmudp/relay's circuit admission (both ends must be admitted).
 */
export interface Admission {
  ws: ((req: WsAdmissionRequest) => boolean) | undefined;
  acceptKey: (key: Uint8Array, from: Address) => boolean;
  policy: AdmissionPolicy;
}

export function admissionFromConfig(config: RelayConfig): Admission {
  const allowKeys = config.allow.map((t) => parsePeerId(t));
  const allowed = new Set(allowKeys.map(toHex));
  switch (config.admission) {
    case 'open':
      return { ws: undefined, acceptKey: () => true, policy: openPolicy() };
    case 'allow-list':
      return { ws: undefined, acceptKey: (k) => allowed.has(toHex(k)), policy: allowListPolicy(allowKeys) };
    case 'group':
      return {
        ws: undefined,
        acceptKey: (k) => allowed.has(toHex(k)),
        policy: groupPolicy({
          members: allowKeys,
          ...(config.group ? { group: new Uint8Array(Buffer.from(config.group, 'hex')) } : {}),
        }),
      };
    case 'token': {
      const tokens = config.tokens.map((t) => Buffer.from(t, 'utf8'));
      const ok = (token: string | undefined): boolean => {
        if (token === undefined) return false;
        const got = Buffer.from(token, 'utf8');
        let match = false;
        // constant time per candidate of the same length; lengths are not secret
        for (const t of tokens) if (t.length === got.length && timingSafeEqual(t, got)) match = true;
        return match;
      };
      return {
        ws: (req) => ok(req.token),
        acceptKey: (k, from) => isWsHost(from.host) || allowed.has(toHex(k)),
        policy: openPolicy(),
      };
    }
  }
}
