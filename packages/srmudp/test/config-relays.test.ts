// WebSocket relay options (issue 15): `relays`, `relayMode`, `relayToken` are validated with
// readable errors naming the field and what is wrong.
import { peerIdToString } from '@srmudp/crypto';
import { describe, expect, it } from 'vitest';
import { parseNodeOptions, parseWsRelay } from '../src/config.js';
import { SrmudpError } from '../src/index.js';
import { endpointConfig } from '../src/layer-config.js';

const relayId = peerIdToString(new Uint8Array(32).fill(7));

function error(options: unknown): string {
  try {
    parseNodeOptions(options);
  } catch (e) {
    expect(e).toBeInstanceOf(SrmudpError);
    expect((e as SrmudpError).code).toBe('INVALID_OPTIONS');
    return (e as Error).message;
  }
  throw new Error('no error');
}

describe('relays options', () => {
  it('accepts ws:// and wss:// with a relay peer id; defaults: [] and auto', () => {
    const o = parseNodeOptions({
      relays: [`wss://relay.example/srmudp#${relayId}`, `ws://10.0.0.1:8080/#${relayId}`],
    });
    expect(o.relays).toHaveLength(2);
    expect(o.relayMode).toBe('auto');
    const d = parseNodeOptions({});
    expect(d.relays).toEqual([]);
    expect(d.relayMode).toBe('auto');
    const p = parseWsRelay(`wss://relay.example/srmudp#${relayId}`);
    expect(typeof p === 'object' && p.url).toBe('wss://relay.example/srmudp');
  });

  it('names what is wrong', () => {
    expect(error({ relays: ['wss://relay.example/'] })).toMatch(/relay peer id[\s\S]*at relays\[0\]/);
    expect(error({ relays: [`https://relay.example/#${relayId}`] })).toMatch(
      /ws:\/\/ or wss:\/\/ URL, got https:/,
    );
    expect(error({ relays: ['wss://relay.example/#pkNOTAKEY'] })).toMatch(/not a relay peer id/);
    expect(error({ relays: [`wss://u:p@relay.example/#${relayId}`] })).toMatch(/credentials/);
    expect(error({ relays: [`not a url#${relayId}`] })).toMatch(/is not a URL/);
    expect(error({ relays: 'wss://x' })).toMatch(/relays/);
    expect(error({ relays: Array.from({ length: 9 }, () => `wss://r/#${relayId}`) })).toMatch(/relays/);
    expect(error({ relayMode: 'sometimes' })).toMatch(/"auto"\|"always"\|"never"[\s\S]*at relayMode/);
    expect(error({ relayToken: '' })).toMatch(/relayToken/);
  });

  it('relay.connectViaLimits: non-negative integers (0 = no limit), only durationMs and bytes', () => {
    const o = parseNodeOptions({
      relay: { connectVia: true, connectViaLimits: { bytes: 0, durationMs: 600_000 } },
    });
    expect(o.relay?.connectViaLimits).toEqual({ bytes: 0, durationMs: 600_000 });
    expect(parseNodeOptions({ relay: { connectVia: true } }).relay?.connectViaLimits).toBeUndefined();
    expect(error({ relay: { connectVia: true, connectViaLimits: { bytes: -1 } } })).toMatch(
      /at relay\.connectViaLimits\.bytes/,
    );
    expect(error({ relay: { connectViaLimits: { durationMs: 1.5 } } })).toMatch(/durationMs/);
    expect(error({ relay: { connectViaLimits: { rate: 1 } } })).toMatch(/rate/);
  });
});

describe('relay.peerGoneGraceMs', () => {
  const parts = {
    identity: undefined as never,
    random: (n: number) => new Uint8Array(n),
    backend: undefined as never,
    accepts: () => true,
    logs: {},
  };

  it('reaches core with and without a relay service; absent: core default', () => {
    const grace = (options: unknown) =>
      endpointConfig(parseNodeOptions(options), parts).relay?.peerGoneGraceMs;
    expect(grace({ relay: { peerGoneGraceMs: 0 } })).toBe(0);
    expect(grace({ relay: { serve: true, peerGoneGraceMs: 1500 } })).toBe(1500);
    expect(grace({ relay: { connectVia: true, peerGoneGraceMs: 20_000 } })).toBe(20_000);
    expect(
      typeof endpointConfig(parseNodeOptions({ relay: { serve: true, peerGoneGraceMs: 1500 } }), parts).relay
        ?.serve,
    ).toBe('function'); // @srmudp/relay's relayService(…): core builds the service with it
    expect(endpointConfig(parseNodeOptions({ relay: {} }), parts).relay).toBeUndefined();
    expect(grace({ relay: { serve: true } })).toBeUndefined();
  });

  it('a non-negative integer of ms, at most 10 min', () => {
    expect(error({ relay: { peerGoneGraceMs: -1 } })).toMatch(/at relay\.peerGoneGraceMs/);
    expect(error({ relay: { peerGoneGraceMs: 1.5 } })).toMatch(/peerGoneGraceMs/);
    expect(error({ relay: { peerGoneGraceMs: 600_001 } })).toMatch(/peerGoneGraceMs/);
  });
});
