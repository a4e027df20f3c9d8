// The routing of core's endpoint events into the node's tables (src/connection-registry.ts), with
// recording stand-ins for the parts it hands events to.
import type { EndpointEvent } from '@srmudp/core';
import { SrmudpError } from '@srmudp/wire';
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
  // Core withholds the 'connected' of a connection that is no longer established when it is polled
  // (closed and finished in the turn that connected it; or closing: the peer's CLOSE, or a crossing
  // session that replaced it, came in the same turn): a dial of it ends in 'connect_failed'
  // (CLOSED), an incoming one in nothing (core/test/event-contract.test.ts). What the registry gets
  // of such a dial: never announced, and the dialer fails it.
  it("a dial core reports closed while connecting ('connect_failed', CLOSED) is never announced; the dialer fails it", () => {
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
    const driver = {
      clock: () => 0,
      endpoint: { connection: (_id: number) => ({ id: 7, state: 'closed' }) },
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

    const error = new SrmudpError(
      'CLOSED',
      'the connection closed while connecting (by the peer: replaced)',
      {
        cause: { code: 0, reason: 'replaced', remote: true },
      },
    );
    const events: EndpointEvent[] = [{ type: 'connect_failed', id: 7, error }];
    for (const e of events) expect(() => registry.onEndpointEvent(e)).not.toThrow();

    expect(emitted).toEqual([]);
    expect(registry.byCoreId.size).toBe(0);
    expect(registry.incoming.size).toBe(0);
    expect(calls).toContain('dialer.onConnectFailed(7,object)');
    expect(calls).not.toContain('dialer.onConnected(7,object,object,object)');
  });
});
