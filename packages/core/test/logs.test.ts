// The layers' log hooks (issue 21 item 5): a connection's life — dial, handshake, data, a loss
// burst, a migration, close — produces lines from core, crypto and reliability, each naming its
// connection or peer by a short prefix, and no line carries a key, a session key or plaintext.
import { peerIdToString } from '@srmudp/crypto';
import { toHex } from '@srmudp/wire';
import { describe, expect, it } from 'vitest';
import type { EndpointConfig } from '../src/api.js';
import { ADDR_A, ADDR_B, identity, randomBytes, SimEndpoint, simPair, Writer } from './helpers.js';

type Lines = string[];

/** Log sinks of one endpoint, each line as `<component> <message>`. */
function sinks(lines: Lines): NonNullable<EndpointConfig['log']> {
  return {
    core: (m) => lines.push(`core ${m}`),
    crypto: (m) => lines.push(`crypto ${m}`),
    reliability: (m) => lines.push(`reliability ${m}`),
  };
}

/** Every transport key of an endpoint's channels while they live (test-only: private fields). */
function sessionKeys(ep: SimEndpoint): Uint8Array[] {
  // biome-ignore lint/suspicious/noExplicitAny: reaching crypto's private key material on purpose
  const secure = (ep.ep as any).secure as { channels(): any[] };
  const keys: Uint8Array[] = [];
  for (const ch of secure.channels()) {
    for (const s of [ch.current, ch.previous, ch.next]) {
      if (s?.sendKey instanceof Uint8Array) keys.push(s.sendKey.slice(), s.recvKey.slice());
    }
  }
  return keys;
}

describe('component logs', () => {
  it('a connection from dial to close logs each layer, by short prefixes, and no secret', () => {
    const la: Lines = [];
    const lb: Lines = [];
    const { net, a, b } = simPair('logs', { a: { log: sinks(la) }, b: { log: sinks(lb) } });
    const secretText = 'PLAINTEXT-that-must-not-be-logged-7f3a';
    const ca = a.ep.connect(net.now, { addresses: [ADDR_B], remoteKey: b.key });
    net.drive({ until: () => a.count('connected') > 0 && b.count('connected') > 0, maxTimeMs: 5000 });
    const keys = [...sessionKeys(a), ...sessionKeys(b)];
    expect(keys.length).toBeGreaterThanOrEqual(4);
    ca.sendMessage(new TextEncoder().encode(secretText));
    net.drive({ until: () => b.messages.length > 0, maxTimeMs: 5000 });
    expect(new TextDecoder().decode(b.messages[0]?.data)).toBe(secretText);

    // a bulk transfer with a blackout in the middle: PTOs, then a burst of losses
    const bid = b.connected()[0]?.id as number;
    const data = randomBytes('bulk', 2 * 1024 * 1024);
    const sid = ca.openStream();
    const w = new Writer(ca, sid, data);
    a.onEvent = (e) => e.type === 'writable' && w.pump();
    w.pump();
    net.drive({ until: () => b.sink(bid, sid).bytes > 256 * 1024, maxTimeMs: 10_000 });
    net.setPath('a', 'b', { latencyMs: 10, loss: 1 });
    net.runFor(400);
    net.setPath('a', 'b', { latencyMs: 10 });
    // the client moves (NAT rebinding): the server validates the new path and migrates
    net.moveHost('a', [{ host: ADDR_A.host, port: 50_001 }]);
    net.drive({ until: () => b.sink(bid, sid).finished, maxTimeMs: 60_000 });
    expect(b.sink(bid, sid).bytes).toBe(data.length);
    expect(b.count('path_changed')).toBe(1);

    ca.close(net.now, 0, 'done');
    net.drive({ until: () => a.count('closed') > 0 && b.count('closed') > 0, maxTimeMs: 10_000 });
    net.runFor(5000); // closing periods end, channels are released (keys erased)

    const pa = peerIdToString(a.key).slice(0, 12);
    const pb = peerIdToString(b.key).slice(0, 12);
    const A = la.join('\n');
    const B = lb.join('\n');
    // core: the dial, both ends established, the migration, the close with who closed
    expect(A).toContain(`core #1 ${pb} dial (IK): 10.0.0.2:4433`);
    expect(A).toMatch(
      new RegExp(
        `core #1 ${pb} established \\(outgoing, direct 10\\.0\\.0\\.2:4433, handshake rtt [\\d.]+ ms\\)`,
      ),
    );
    expect(B).toMatch(new RegExp(`core #\\d+ ${pa} established \\(incoming, direct 10\\.0\\.0\\.1:4433`));
    expect(B).toMatch(new RegExp(`core #\\d+ ${pa} validating path 10\\.0\\.0\\.1:50001 \\(migration\\)`));
    expect(B).toMatch(
      new RegExp(`core #\\d+ ${pa} path changed \\(migration\\): direct 10\\.0\\.0\\.1:50001`),
    );
    expect(A).toContain(`core #1 ${pb} closing (code 0, done): sending what is queued first`);
    expect(A).toContain(`core #1 ${pb} closed here: code 0, done`);
    expect(B).toMatch(new RegExp(`core #\\d+ ${pa} closed by the peer: code 0, done`));
    // crypto: handshake started, answered, done on both sides; keys erased at the end
    expect(A).toContain(`crypto peer ${pb}: IK handshake started to 10.0.0.2:4433`);
    expect(B).toContain(
      `crypto peer ${pa}: IK initiation from 10.0.0.1:4433 answered, awaiting key confirmation`,
    );
    expect(A).toMatch(
      new RegExp(
        `crypto peer ${pb}: handshake done \\(initiator, 10\\.0\\.0\\.2:4433, key phase 0, rtt [\\d.]+ ms\\)`,
      ),
    );
    expect(B).toMatch(
      new RegExp(`crypto peer ${pa}: handshake done \\(responder, 10\\.0\\.0\\.1:4433, key phase 0`),
    );
    expect(A).toContain(`crypto peer ${pb}: channel closed, keys erased`);
    // reliability, prefixed by core with the connection: probe timeouts and the loss burst
    expect(A).toMatch(new RegExp(`reliability #1 ${pb} PTO #1 at`));
    expect(A).toMatch(
      new RegExp(
        `reliability #1 ${pb} loss burst: \\d+ packets \\(\\d+ bytes\\) lost at once.*; cwnd \\d+ bytes, srtt`,
      ),
    );
    expect(A).toMatch(new RegExp(`reliability #1 ${pb} closing: code 0 done`));

    // never a key, a session key, a whole peer id or the plaintext, in any form
    const all = `${A}\n${B}`;
    if (process.env.SHOW_LOGS) console.log(`A:\n${A}\n\nB:\n${B}`);
    const secrets: string[] = [secretText, toHex(new TextEncoder().encode(secretText))];
    for (const id of [identity('a'), identity('b')]) {
      secrets.push(
        toHex(id.secret),
        toHex(id.x25519Private),
        toHex(id.publicKey),
        peerIdToString(id.publicKey),
      );
    }
    for (const k of keys) secrets.push(toHex(k));
    for (const s of secrets) expect(all).not.toContain(s);
  });

  it('refuses sinks that are not functions (exact TypeError)', () => {
    expect(() => new SimEndpoint('x', { log: { core: 'yes' as never } })).toThrow(
      '"log.core" expected a function',
    );
    expect(() => new SimEndpoint('x', { log: { crypto: 1 as never } })).toThrow(
      '"log.crypto" expected a function',
    );
    expect(() => new SimEndpoint('x', { log: { reliability: {} as never } })).toThrow(
      '"log.reliability" expected a function',
    );
    expect(() => new SimEndpoint('x', { log: 3 as never })).toThrow(
      '"log" expected an object { core?, crypto?, reliability? } of functions',
    );
  });
});
