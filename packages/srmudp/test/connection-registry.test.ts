// The routing of core's endpoint events into the node's tables (src/connection-registry.ts), with
// recording stand-ins for the parts it hands events to.
import { randomBytes } from 'node:crypto';
import type { EndpointEvent } from '@srmudp/core';
import { describe, expect, it } from 'vitest';
import { ConnectionRegistry, type RegistryNode, type RegistryParts } from '../src/connection-registry.js';

/** A part whose every method records its call and returns `undefined` (`false` for the relays). */
function recorder(calls: string[], name: string, returns: Record<string, unknown> = {}): unknown {
  return new Proxy(
    {},
    {
      get: (_t, prop) => {
        if (typeof prop !== 'string') return undefined;
        return (...args: unknown[]) => {
          calls.push(`${name}.${prop}(${args.map((a) => (typeof a === 'number' ? a : typeof a)).join(',')})`);
          return returns[prop];
        };
      },
    },
  );
}

describe('ConnectionRegistry', () => {
  // closed and finished in the turn that connected it; or closing (the peer's CLOSE, or a crossing
  // session that replaced it, came in the same turn: its 'closed' is queued behind)
  it.each(['closed', 'closing'])(
    "a connection core already %s when its 'connected' is routed is never announced, and its 'closed' fails the dial",
    (state) => {
      const calls: string[] = [];
      const emitted: string[] = [];
      const node: RegistryNode = {
        peerId: 'self',
        kick: () => {},
        now: () => 0,
        deliverMessage: () => {},
        deliverInternal: () => {},
        emit: (event) => {
          emitted.push(event);
          return true;
        },
      };
      const registry = new ConnectionRegistry(node);
      // core keeps connection 7 findable until its 'closed' is polled (core/test/event-contract.test.ts)
      const driver = {
        clock: () => 0,
        endpoint: { connection: (_id: number) => ({ id: 7, state }) },
      };
      registry.attach({
        driver,
        session: recorder(calls, 'session'),
        wsRelays: recorder(calls, 'wsRelays', { onEndpointEvent: false }),
        dialer: recorder(calls, 'dialer'),
        named: recorder(calls, 'named'),
        fallback: recorder(calls, 'fallback'),
        relayedPunch: recorder(calls, 'relayedPunch'),
        publisher: recorder(calls, 'publisher'),
      } as unknown as RegistryParts);

      const remoteKey = new Uint8Array(randomBytes(32));
      const path = { kind: 'direct', address: { host: '127.0.0.1', port: 4000 } } as const;
      const events: EndpointEvent[] = [
        { type: 'connected', id: 7, remoteKey, outgoing: true, path },
        { type: 'closed', id: 7, code: 0, reason: 'replaced', remote: false },
      ];
      for (const e of events) expect(() => registry.onEndpointEvent(e)).not.toThrow();

      expect(emitted).toEqual([]);
      expect(registry.byCoreId.size).toBe(0);
      expect(registry.incoming.size).toBe(0);
      expect(calls).toContain('dialer.onClosedEarly(7,string)');
      expect(calls).not.toContain('dialer.onConnected(7,object,object,object)');
    },
  );
});
