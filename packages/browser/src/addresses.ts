// The texts a browser node is configured with: a relay as `<ws(s) url>#<relay peer id>`, a named
// peer as its peer id text.
import { parsePeerId } from '@srmudp/crypto';
import { SrmudpError } from '@srmudp/wire';

export function isPeerIdText(text: string): boolean {
  try {
    parsePeerId(text);
    return true;
  } catch {
    return false;
  }
}
/** `<url>#<peer id>` → its parts; SrmudpError 'INVALID_RELAY' otherwise. */
export function parseRelayAddress(text: string): { url: string; key: Uint8Array; peerId: string } {
  const hash = typeof text === 'string' ? text.lastIndexOf('#') : -1;
  const url = hash > 0 ? text.slice(0, hash) : '';
  const id = hash > 0 ? text.slice(hash + 1) : '';
  if (!/^wss?:\/\//.test(url) || !isPeerIdText(id))
    throw new SrmudpError(
      'INVALID_RELAY',
      `relay ${JSON.stringify(text)}: expected "<ws:// or wss:// url>#<relay peer id>" (srmudp-relay logs it and serves it at /card)`,
    );
  return { url, key: parsePeerId(id), peerId: id };
}

export function parsePeerTarget(name: string, target: string): Uint8Array {
  if (typeof target === 'string' && isPeerIdText(target.trim())) return parsePeerId(target.trim());
  throw new SrmudpError('INVALID_PEER', `peer ${JSON.stringify(name)}: expected a peer id text (pk…)`);
}
