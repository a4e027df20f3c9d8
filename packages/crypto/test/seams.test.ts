import { describe, expect, it } from 'vitest';
import type { SecureTransmit } from '../src/channel-events.js';
import { confirm, establishedPair, run, type Side, side } from './helpers.js';

/** Every transmit of `s` now, with its tags (what core routes by, without parsing the bytes). */
function drain(now: number, s: Side): SecureTransmit[] {
  const out: SecureTransmit[] = [];
  for (let t = s.ep.pollTransmit(now); t; t = s.ep.pollTransmit(now)) out.push(t);
  for (let e = s.ep.pollEvent(); e; e = s.ep.pollEvent()) s.events.push(e);
  return out;
}

/**
 * An established IK pair; then a rekeys (past rekeyAfterMs, 120 s) and its initiation reaches b,
 * which holds the new session unconfirmed and has answered.
 */
function rekeyArrived() {
  const { a, b, ca, cb } = establishedPair();
  a.ep.handleTimeout(121_000);
  const [rekey] = drain(121_000, a);
  b.ep.handle(121_001, a.addr, (rekey as SecureTransmit).data);
  const [response] = drain(121_001, b);
  return { a, b, ca, cb, rekey, response };
}

describe('what crypto tells its host (route once)', () => {
  it('IK: the initiation names its channel, the response its channel and that it answers an unproven source', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    const ch = a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    const [init] = drain(0, a);
    expect(init).toMatchObject({ kind: 'initiation', channel: ch, answersUnverified: false, to: b.addr });
    expect(init?.data[0]).toBe(0x81);
    b.ep.handle(1, a.addr, (init as SecureTransmit).data);
    const [resp] = drain(1, b);
    const cb = b.ep.channel(a.ep.identity.publicKey);
    expect(cb).toBeDefined();
    expect(resp).toMatchObject({ kind: 'response', channel: cb, answersUnverified: true, to: a.addr });
    a.ep.handle(2, b.addr, (resp as SecureTransmit).data);
    drain(2, a);
    expect(a.events[0]).toMatchObject({ type: 'established', initiator: true, address: b.addr });
    // the responder reports the session only once the initiator sends under it (key confirmation)
    expect(b.events).toEqual([]);
    confirm(3, a, b, ch, 0);
    expect(b.events[0]).toMatchObject({ type: 'established', initiator: false, address: a.addr });
  });

  it('XX: message 2 holds no channel yet (half-open), message 3 names the initiator channel', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    const ch = a.ep.connect(0, { address: b.addr });
    const [init] = drain(0, a);
    b.ep.handle(1, a.addr, (init as SecureTransmit).data);
    const [resp] = drain(1, b);
    expect(resp).toMatchObject({ kind: 'response', channel: null, answersUnverified: true });
    expect(b.ep.pendingHandshakes()).toBe(1);
    a.ep.handle(2, b.addr, (resp as SecureTransmit).data);
    const [fin] = drain(2, a);
    expect(fin).toMatchObject({ kind: 'final', channel: ch, answersUnverified: false, to: b.addr });
  });

  it('cookie replies under load hold no channel and are answers to an unproven source', () => {
    const a = side(1, '10.0.0.1');
    const b = side(2, '10.0.0.2');
    a.ep.connect(0, { address: b.addr, remoteKey: b.ep.identity.publicKey });
    const [init] = drain(0, a);
    b.ep.handle(1, a.addr, (init as SecureTransmit).data, { underLoad: true });
    const [reply] = drain(1, b);
    expect(reply).toMatchObject({ kind: 'cookie_reply', channel: null, answersUnverified: true });
  });

  it('release(): a channel with nothing pending closes; one whose peer started a new session waits for it', () => {
    const { a, b, ca, cb, rekey } = rekeyArrived();
    expect(rekey).toMatchObject({ kind: 'initiation', channel: ca });
    expect(cb.isEstablished).toBe(true);
    expect(cb.awaitingConfirmation).toBe(true);
    expect(a.events.filter((e) => e.type === 'rekeyed')).toEqual([]);
    // b's connection ends now: the channel is kept for the pending session
    cb.release();
    expect(cb.isReleased).toBe(true);
    expect(cb.state).not.toBe('closed');
    // the session is given up after one handshake timeout: the released channel closes
    run([b], 121_001, { until: 140_000 });
    expect(cb.state).toBe('closed');
    expect(b.events.filter((e) => e.type === 'rekeyed')).toEqual([]);
  });

  it('release(): when the pending session is confirmed it comes back as rekeyed with reopened: true', () => {
    const { a, b, ca, cb, response: resp } = rekeyArrived();
    cb.release();
    a.ep.handle(121_002, b.addr, (resp as SecureTransmit).data);
    drain(121_002, a);
    confirm(121_003, a, b, ca, 1);
    const ev = b.events.find((e) => e.type === 'rekeyed');
    expect(ev).toMatchObject({ type: 'rekeyed', reopened: true, initiator: false });
    expect(cb.isReleased).toBe(false);
    // a plain release with nothing pending closes the channel at once
    cb.release();
    expect(cb.state).toBe('closed');
  });
});
