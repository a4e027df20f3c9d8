/** The cacophony Noise vectors (vectors/README.md) and a runner for one vector on any backend:
 * used here on noble and by @srmudp/crypto-node on its backends. */
import { readFileSync } from 'node:fs';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { expect } from 'vitest';
import type { CryptoBackend } from '../src/backend.js';
import { HandshakeState, type KeyPair } from '../src/noise/handshake-state.js';
import { PATTERNS } from '../src/noise/patterns.js';

export interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_static?: string;
  resp_ephemeral?: string;
  resp_remote_static?: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const file = JSON.parse(
  readFileSync(new URL('./vectors/noise-cacophony-25519-chachapoly.json', import.meta.url), 'utf8'),
) as {
  vectors: Vector[];
};

/** The NN, IK and XX vectors with BLAKE2s and SHA256 (six). */
export const selectedVectors = file.vectors.filter((v) =>
  /^Noise_(NN|IK|XX)_25519_ChaChaPoly_(BLAKE2s|SHA256)$/.test(v.protocol_name),
);

export function keyPair(backend: CryptoBackend, hex: string | undefined): KeyPair | undefined {
  if (!hex) return undefined;
  const privateKey = hexToBytes(hex);
  return { privateKey, publicKey: backend.x25519Public(privateKey) };
}

/** Every handshake message, the handshake hash and the transport messages after Split. */
export function checkVector(v: Vector, backend: CryptoBackend): void {
  const [, patternName, , , hashName] = v.protocol_name.split('_') as [
    string,
    'NN' | 'IK' | 'XX',
    string,
    string,
    'BLAKE2s' | 'SHA256',
  ];
  const pattern = PATTERNS[patternName];
  const initS = keyPair(backend, v.init_static);
  const respS = keyPair(backend, v.resp_static);
  const initE = keyPair(backend, v.init_ephemeral);
  const respE = keyPair(backend, v.resp_ephemeral);
  const rs = v.init_remote_static ? hexToBytes(v.init_remote_static) : undefined;
  const init = new HandshakeState({
    pattern,
    initiator: true,
    hash: hashName,
    backend,
    prologue: hexToBytes(v.init_prologue),
    ...(initS ? { s: initS } : {}),
    ...(initE ? { e: initE } : {}),
    ...(rs ? { rs } : {}),
  });
  const resp = new HandshakeState({
    pattern,
    initiator: false,
    hash: hashName,
    backend,
    prologue: hexToBytes(v.resp_prologue),
    ...(respS ? { s: respS } : {}),
    ...(respE ? { e: respE } : {}),
  });
  const n = pattern.messages.length;
  let i = 0;
  for (; i < n; i++) {
    const m = v.messages[i];
    if (!m) throw new Error('vector too short');
    const [w, r] = i % 2 === 0 ? [init, resp] : [resp, init];
    const ct = w.writeMessage(hexToBytes(m.payload));
    expect(bytesToHex(ct)).toBe(m.ciphertext);
    const pt = r.readMessage(ct);
    expect(pt && bytesToHex(pt)).toBe(m.payload);
  }
  expect(bytesToHex(init.handshakeHash())).toBe(v.handshake_hash);
  expect(bytesToHex(resp.handshakeHash())).toBe(v.handshake_hash);
  const a = init.split();
  const b = resp.split();
  expect(bytesToHex(a.handshakeHash)).toBe(v.handshake_hash);
  for (; i < v.messages.length; i++) {
    const m = v.messages[i];
    if (!m) throw new Error('unreachable');
    const [w, r] = i % 2 === 0 ? [a, b] : [b, a];
    const ct = w.send.encryptWithAd(new Uint8Array(0), hexToBytes(m.payload));
    expect(bytesToHex(ct)).toBe(m.ciphertext);
    const pt = r.recv.decryptWithAd(new Uint8Array(0), ct);
    expect(pt && bytesToHex(pt)).toBe(m.payload);
  }
}
