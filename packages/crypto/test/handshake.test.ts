import { describe, expect, it } from 'vitest';
import { collect, deliver, run, side } from './helpers.js';

describe('IK handshake', () => {
  it('establishes a session both ways and moves data', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    const ch = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    expect(ch.state).toBe('handshaking');
    expect(ch.pendingIndex).not.toBeNull();
    expect(ch.isConfirmed).toBe(false);
    run([a, b], 0, { stopWhen: () => a.events.length > 0 });
    expect(ch.pendingIndex).toBeNull();
    // the initiator got an answer under the new keys; the IK responder has only seen an
    // initiation (replayable): no session, no event until the first data packet (key confirmation)
    expect(ch.isConfirmed).toBe(true);
    expect(a.events[0]).toMatchObject({ type: 'established', initiator: true });
    expect(b.events).toEqual([]);
    const bch = b.ep.channel(a.ep.identity.publicKey);
    expect(bch?.isEstablished).toBe(false);
    expect(bch?.awaitingConfirmation).toBe(true);
    expect(bch?.state).toBe('handshaking');
    const dg = ch.seal(0, new TextEncoder().encode('hello'));
    const r = b.ep.handle(1, a.addr, dg);
    expect(r.type).toBe('data');
    collect(1, [a, b]);
    expect(b.events[0]).toMatchObject({ type: 'established', initiator: false, handshakeRttMs: 1 });
    expect(bch?.isConfirmed).toBe(true);
    expect(bch?.awaitingConfirmation).toBe(false);
    expect(ch.handshakeHash).toEqual(bch?.handshakeHash);
    if (r.type === 'data') {
      expect(new TextDecoder().decode(r.plaintext)).toBe('hello');
      expect(r.packetNumber).toBe(0);
      expect(r.channel).toBe(bch);
    }
    const back = bch?.seal(5, Uint8Array.of(1, 2, 3)) as Uint8Array;
    const r2 = a.ep.handle(2, b.addr, back);
    expect(r2).toMatchObject({ type: 'data', packetNumber: 5, plaintext: Uint8Array.of(1, 2, 3) });
  });
});

describe('openInPlace', () => {
  it('decrypts into the datagram (the plaintext is a view of it); without it the datagram is untouched', () => {
    for (const inPlace of [false, true]) {
      const a = side(1, '10.0.0.1');
      const b = side(2, '10.0.0.2', { openInPlace: inPlace });
      const ch = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
      run([a, b], 0, { stopWhen: () => a.events.length > 0 });
      const text = new TextEncoder().encode('hello, in place');
      const dg = ch.seal(0, text);
      const sealed = dg.slice();
      const r = b.ep.handle(1, a.addr, dg);
      expect(r).toMatchObject({ type: 'data', packetNumber: 0, plaintext: text });
      if (r.type !== 'data') continue;
      expect(r.plaintext.buffer === dg.buffer).toBe(inPlace);
      if (inPlace) expect(r.plaintext.byteOffset).toBe(dg.byteOffset + 13);
      else expect(dg).toEqual(sealed);
      // a tampered packet is still refused (and counted), in place or not
      const bad = ch.seal(1, text);
      bad[20] = (bad[20] as number) ^ 1;
      expect(b.ep.handle(2, a.addr, bad)).toMatchObject({ type: 'dropped', reason: 'decrypt_failed' });
      expect(b.ep.handle(3, a.addr, ch.seal(2, text))).toMatchObject({ type: 'data', plaintext: text });
    }
  });
});

describe('XX handshake', () => {
  it('dials a bare address, learns the key, both sides see each other', () => {
    const a = side(3, '10.0.0.1');
    const b = side(4, '10.0.0.2');
    const seen: Uint8Array[] = [];
    const a2 = side(3, '10.0.0.1', {
      acceptPeer: (k) => {
        seen.push(k);
        return true;
      },
    });
    const ch = a2.ep.connect(0, { address: b.addr });
    run([a2, b], 0);
    expect(seen).toEqual([b.ep.identity.publicKey]);
    expect(a2.events[0]).toMatchObject({
      type: 'established',
      initiator: true,
      remoteKey: b.ep.identity.publicKey,
    });
    expect(b.events[0]).toMatchObject({
      type: 'established',
      initiator: false,
      remoteKey: a.ep.identity.publicKey,
    });
    const dg = ch.seal(1, Uint8Array.of(9));
    expect(b.ep.handle(1, a2.addr, dg)).toMatchObject({ type: 'data', plaintext: Uint8Array.of(9) });
    void collect;
    void deliver;
  });
});
