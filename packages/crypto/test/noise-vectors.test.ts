import { readFileSync } from 'node:fs';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { nobleBackend } from '../src/backend.js';
import { HandshakeState } from '../src/noise/handshake-state.js';
import { PATTERNS } from '../src/noise/patterns.js';

interface Vector {
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
const backend = nobleBackend();
const pair = (hex: string | undefined) => {
  if (!hex) return undefined;
  const privateKey = hexToBytes(hex);
  return { privateKey, publicKey: backend.x25519Public(privateKey) };
};

const selected = file.vectors.filter((v) =>
  /^Noise_(NN|IK|XX)_25519_ChaChaPoly_(BLAKE2s|SHA256)$/.test(v.protocol_name),
);

describe('Noise vectors (cacophony)', () => {
  it('selects all six NN/IK/XX x BLAKE2s/SHA256 vectors', () => {
    expect(selected.map((v) => v.protocol_name).sort()).toEqual([
      'Noise_IK_25519_ChaChaPoly_BLAKE2s',
      'Noise_IK_25519_ChaChaPoly_SHA256',
      'Noise_NN_25519_ChaChaPoly_BLAKE2s',
      'Noise_NN_25519_ChaChaPoly_SHA256',
      'Noise_XX_25519_ChaChaPoly_BLAKE2s',
      'Noise_XX_25519_ChaChaPoly_SHA256',
    ]);
  });

  for (const v of selected) {
    it(v.protocol_name, () => {
      const [, patternName, , , hashName] = v.protocol_name.split('_') as [
        string,
        'NN' | 'IK' | 'XX',
        string,
        string,
        'BLAKE2s' | 'SHA256',
      ];
      const pattern = PATTERNS[patternName];
      const initS = pair(v.init_static);
      const respS = pair(v.resp_static);
      const initE = pair(v.init_ephemeral);
      const respE = pair(v.resp_ephemeral);
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
    });
  }

  it('rejects a tampered handshake message and fails without throwing', () => {
    const v = selected.find((x) => x.protocol_name === 'Noise_IK_25519_ChaChaPoly_BLAKE2s') as Vector;
    const respS = pair(v.resp_static) as { privateKey: Uint8Array; publicKey: Uint8Array };
    const mk = () => ({
      init: new HandshakeState({
        pattern: PATTERNS.IK,
        initiator: true,
        hash: 'BLAKE2s',
        backend,
        prologue: new Uint8Array(0),
        s: pair(v.init_static) as { privateKey: Uint8Array; publicKey: Uint8Array },
        e: pair(v.init_ephemeral) as { privateKey: Uint8Array; publicKey: Uint8Array },
        rs: respS.publicKey,
      }),
      resp: new HandshakeState({
        pattern: PATTERNS.IK,
        initiator: false,
        hash: 'BLAKE2s',
        backend,
        prologue: new Uint8Array(0),
        s: respS,
      }),
    });
    const { init } = mk();
    const msg = init.writeMessage(new Uint8Array(3));
    for (let pos = 0; pos < msg.length; pos++) {
      const bad = msg.slice();
      bad[pos] = (bad[pos] as number) ^ 0x01;
      const { resp } = mk();
      expect(resp.readMessage(bad)).toBeNull();
    }
    expect(mk().resp.readMessage(msg.subarray(0, 40))).toBeNull();
  });
});
