// The `log` hook (issue 21 item 5): handshakes started, answered, done and failed with the reason,
// cookies and load changes, rekeys, keys erased; peers as 12-character prefixes, never a key.
import { toHex } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import { peerIdToString } from '../src/peer-id.js';
import type { SecureChannel } from '../src/secure-channel.js';
import { collect, confirm, identity, run, type Side, side } from './helpers.js';

/** Every transport key the channels of `s` hold now (test-only: private fields). */
function sessionKeys(s: Side): string[] {
  const keys: string[] = [];
  for (const ch of s.ep.channels()) {
    for (const t of [ch.current, ch.previous, ch.next]) {
      // biome-ignore lint/suspicious/noExplicitAny: reaching private key material on purpose
      const k = t as any;
      if (k?.sendKey instanceof Uint8Array) keys.push(toHex(k.sendKey), toHex(k.recvKey));
    }
  }
  return keys;
}

describe('crypto log hook', () => {
  it('logs a handshake, cookies under load, a rekey, a timeout and a refusal, never a key', () => {
    const la: string[] = [];
    const lb: string[] = [];
    const lc: string[] = [];
    const timing = { rekeyAfterMs: 5000, handshakeTimeoutMs: 3000, handshakeRetransmitMs: 500 };
    const a = side(1, '10.0.0.1', { timing, log: (m) => la.push(m) });
    // b counts more than one initiation per second as load: it then asks for cookies
    const b = side(2, '10.0.0.2', {
      timing,
      limits: { loadThreshold: 1 },
      log: (m) => lb.push(m),
      acceptPeer: (key) => peerIdToString(key) !== peerIdToString(identity(3).publicKey),
    });
    const c = side(3, '10.0.0.3', { timing, log: (m) => lc.push(m) });
    const pa = peerIdToString(a.ep.identity.publicKey).slice(0, 12);
    const pb = peerIdToString(b.ep.identity.publicKey).slice(0, 12);
    const pc = peerIdToString(c.ep.identity.publicKey).slice(0, 12);

    // a and c (refused by b's policy) dial b together: the second initiation puts b under load,
    // c gets a cookie reply
    const cc = c.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    const ca = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([a, b, c], 0, { stopWhen: () => ca.isEstablished });
    confirm(1, a, b, ca, 0, 0);
    const keys = [...sessionKeys(a), ...sessionKeys(b)];
    expect(keys.length).toBeGreaterThanOrEqual(4);
    // the rekey after 5 s, and c's dial times out (3 s)
    run([a, b, c], 1, { until: 9000, stopWhen: () => cc.state === 'failed' && ca.keyPhase === 1 });
    expect(cc.state).toBe('failed');
    keys.push(...sessionKeys(a), ...sessionKeys(b));
    // much later, one more initiation: b is no longer under load
    const d = side(4, '10.0.0.4', { timing });
    const cd = d.ep.connect(20_000, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    run([b, d], 20_000, { until: 21_000, stopWhen: () => cd.isEstablished });
    (ca as SecureChannel).close();
    collect(21_000, [a, b]);

    const A = la.join('\n');
    const B = lb.join('\n');
    const C = lc.join('\n');
    if (process.env.SHOW_LOGS) console.log(`A:\n${A}\n\nB:\n${B}\n\nC:\n${C}`);
    expect(A).toContain(`peer ${pb}: IK handshake started to 10.0.0.2:4000`);
    expect(B).toContain('under load: unconfirmed initiations over the threshold');
    expect(C).toContain(`peer ${pb}: cookie reply (the peer is under load): initiation resent with it`);
    expect(A).toMatch(
      new RegExp(`peer ${pb}: handshake done \\(initiator, 10\\.0\\.0\\.2:4000, key phase 0`),
    );
    expect(B).toContain(`peer ${pa}: IK initiation from 10.0.0.1:4000 answered, awaiting key confirmation`);
    expect(B).toMatch(
      new RegExp(`peer ${pa}: handshake done \\(responder, 10\\.0\\.0\\.1:4000, key phase 0`),
    );
    expect(`${A}\n${B}`).toMatch(/rekey \(key age\)/);
    expect(`${A}\n${B}`).toMatch(
      new RegExp(`peer (${pa}|${pb}): rekeyed \\((initiator|responder), .*key phase 1`),
    );
    expect(B).toContain(`peer ${pc}: IK initiation from 10.0.0.3:4000 refused (accept policy)`);
    expect(C).toMatch(new RegExp(`peer ${pb}: initiation resent \\(no answer for \\d+ ms\\)`));
    expect(C).toContain(`peer ${pb}: no answer to our IK initiation in 3000 ms`);
    expect(C).toContain(`peer ${pb}: failed (HANDSHAKE_TIMEOUT)`);
    expect(B).toContain('load back under the threshold');
    expect(A).toContain(`peer ${pb}: channel closed, keys erased`);

    const all = [A, B, C].join('\n');
    const secrets = [...keys];
    for (const s of [1, 2, 3, 4]) {
      const id = identity(s);
      secrets.push(
        toHex(id.secret),
        toHex(id.x25519Private),
        toHex(id.publicKey),
        peerIdToString(id.publicKey),
      );
    }
    for (const s of secrets) expect(all).not.toContain(s);
  });

  it('an XX dial is logged before the key is known; a non-function log is a TypeError', () => {
    const la: string[] = [];
    const lb: string[] = [];
    const a = side(1, '10.0.0.1', { log: (m) => la.push(m) });
    const b = side(2, '10.0.0.2', { log: (m) => lb.push(m) });
    const ca = a.ep.connect(0, { address: b.addr });
    run([a, b], 0, { stopWhen: () => ca.isEstablished && b.events.length > 0 });
    expect(la[0]).toBe('peer ?: XX handshake started to 10.0.0.2:4000');
    expect(lb).toContain('XX initiation from 10.0.0.1:4000 answered (half-open until message 3)');
    const pb = peerIdToString(b.ep.identity.publicKey).slice(0, 12);
    expect(la.join('\n')).toContain(`peer ${pb}: handshake done (initiator`);
    expect(() => side(5, '10.0.0.5', { log: 'on' as never })).toThrow('"log" expected a function');
  });
});
