// A relay service outside core (srmudp-relay's engine, issue 15): clients' relay CONTROL frames
// reach it through RelayOptions.external, it answers with ConnectionApi.sendControl; and dialling
// an established connection with `relays` asks for a circuit (a standby route after a relay
// restart, say).
import { openPolicy, relayService } from '@srmudp/relay';
import { Network } from '@srmudp/sim';
import { describe, expect, it } from 'vitest';
import type { ConnectionApi } from '../src/api.js';
import { RELAY_TO_CLIENT, RELAY_TO_SERVICE } from '../src/index.js';
import { SimEndpoint } from './helpers.js';

const A = { host: '192.0.2.1', port: 4433 };
const B = { host: '198.51.100.2', port: 4433 };
const R = { host: '203.0.113.9', port: 4433 };

describe('relay control for a service outside core', () => {
  it('CONTROL frames of protocol 0x02 go to `external` (key and body); without it they are dropped and counted', () => {
    const got: Array<{ key: string; body: number[] }> = [];
    const net = new Network({ seed: 'relay-external', defaultLink: { latencyMs: 5 } });
    const a = new SimEndpoint('a');
    const r = new SimEndpoint('r', {
      relay: {
        external: (_now, key, body) => got.push({ key: Buffer.from(key).toString('hex'), body: [...body] }),
      },
    });
    const plain = new SimEndpoint('p');
    net.addHost('a', a, [A]);
    net.addHost('r', r, [R]);
    net.addHost('p', plain, [B]);
    const toR = a.ep.connect(net.now, { addresses: [R], remoteKey: r.key });
    const toP = a.ep.connect(net.now, { addresses: [B], remoteKey: plain.key });
    net.drive({ until: () => a.count('connected') === 2, maxTimeMs: 5000 });
    expect(toR.sendControl(Uint8Array.of(RELAY_TO_SERVICE))).toBe(true);
    expect(toR.sendControl(Uint8Array.of(RELAY_TO_SERVICE, 7, 8, 9))).toBe(true);
    expect(toP.sendControl(Uint8Array.of(RELAY_TO_SERVICE, 1))).toBe(true);
    net.runFor(200);
    const hexA = Buffer.from(a.key).toString('hex');
    expect(got).toEqual([
      { key: hexA, body: [] },
      { key: hexA, body: [7, 8, 9] },
    ]);
    expect(plain.ep.stats().drops.relay_not_serving).toBe(1);
    // nothing of it reaches either application
    expect(r.messages).toHaveLength(0);
    expect(plain.messages).toHaveLength(0);
    expect(RELAY_TO_CLIENT).toBe(0x01);
  });

  it('dialling an established relayed connection with `relays` binds another circuit to it (same connection)', () => {
    const net = new Network({ seed: 'relay-redial', defaultLink: { latencyMs: 5 } });
    const a = new SimEndpoint('a');
    const b = new SimEndpoint('b');
    const r = new SimEndpoint('r', { relay: { serve: relayService({ policy: openPolicy() }) } });
    net.addHost('a', a, [A]);
    net.addHost('b', b, [B]);
    net.addHost('r', r, [R]);
    net.setPath('a', 'b', { latencyMs: 5, loss: 1 });
    a.ep.connect(net.now, { addresses: [R], remoteKey: r.key });
    b.ep.connect(net.now, { addresses: [R], remoteKey: r.key });
    net.drive({ until: () => r.count('connected') === 2, maxTimeMs: 5000 });
    net.runFor(200);
    const ca = a.ep.connect(net.now, { addresses: [], remoteKey: b.key, relays: [{ key: r.key }] });
    net.drive({ until: () => a.count('connected') === 2 && b.count('connected') === 2, maxTimeMs: 10_000 });
    expect(ca.state).toBe('established');
    expect(r.ep.relayStats()?.circuits).toBe(1);
    const again: ConnectionApi = a.ep.connect(net.now, {
      addresses: [],
      remoteKey: b.key,
      relays: [{ key: r.key }],
    });
    expect(again.id).toBe(ca.id);
    net.runFor(1000);
    expect(r.ep.relayStats()?.circuits).toBe(2);
    expect(ca.state).toBe('established');
    expect(a.count('connected')).toBe(2);
  });
});
