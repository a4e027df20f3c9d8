// DEBUG=srmudp:* (issue 21 item 5): a connection's life produces log lines from the façade and
// from every layer under it (core, crypto, reliability, nat), and no line carries a key, a session
// key or plaintext.
import { afterEach, describe, expect, it } from 'vitest';
import { createNode } from '../src/index.js';
import { configureLogs, logger } from '../src/log.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** The transport keys a node's channels hold now (test-only: crypto's private fields). */
function sessionKeys(node: { driver: unknown }): Uint8Array[] {
  // biome-ignore lint/suspicious/noExplicitAny: reaching private key material on purpose
  const secure = (node.driver as any).endpoint.secure as { channels(): any[] };
  const keys: Uint8Array[] = [];
  for (const ch of secure.channels()) {
    for (const t of [ch.current, ch.previous, ch.next]) {
      if (t?.sendKey instanceof Uint8Array) keys.push(t.sendKey.slice(), t.recvKey.slice());
    }
  }
  return keys;
}

afterEach(() => {
  configureLogs(process.env.DEBUG ?? '', (l) => process.stderr.write(`${l}\n`));
});

describe('component loggers', () => {
  it('are silent by default and follow DEBUG patterns (wildcards, exclusions)', () => {
    const lines: string[] = [];
    configureLogs('', (l) => lines.push(l));
    const a = logger('srmudp:test-a');
    a('nothing');
    expect(a.enabled).toBe(false);
    configureLogs('srmudp:*,-srmudp:test-b', (l) => lines.push(l));
    const b = logger('srmudp:test-b');
    a('shown');
    b('hidden');
    expect(a.enabled).toBe(true);
    expect(b.enabled).toBe(false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z srmudp:test-a shown$/);
  });

  it('a connection from dial to close logs dial, handshake done, path and close, and no secret', async () => {
    const lines: string[] = [];
    configureLogs('srmudp:*', (l) => lines.push(l));
    const alice = await createNode({ host: '127.0.0.1' });
    const bob = await createNode({ host: '127.0.0.1' });
    const secretText = 'TOP-SECRET-PLAINTEXT-1234';
    const keys: Uint8Array[] = [];
    try {
      bob.peers.add({ alice: alice.contactCard() });
      const conn = await bob.peers.ready('alice', { timeout: 10_000 });
      conn.send(secretText);
      const m = await alice.receive({ timeout: 5000 });
      expect(new TextDecoder().decode(m?.data)).toBe(secretText);
      keys.push(...sessionKeys(alice), ...sessionKeys(bob));
    } finally {
      await bob.close();
      await alice.close();
    }
    const log = lines.join('\n');
    const a = alice.peerId.slice(0, 12);
    expect(log).toMatch(/srmudp:node bound 127\.0\.0\.1:\d+/);
    expect(log).toContain(`srmudp:node dial alice ${a}: 1 address(es)`);
    expect(log).toMatch(
      new RegExp(`srmudp:node connected alice ${a} \\(outgoing, direct 127\\.0\\.0\\.1:\\d+\\)`),
    );
    expect(log).toMatch(/srmudp:node connected [a-z0-9]{12} \(incoming, direct 127\.0\.0\.1:\d+\)/);
    expect(log).toMatch(new RegExp(`srmudp:node closed alice \\(${a}\\): here, code 0, node closed`));
    expect(log).toMatch(/srmudp:node closed [a-z0-9]{12}: by the peer, code 0, node closed/);
    // the layers under the façade (DEBUG=srmudp:* enables them too)
    const b = bob.peerId.slice(0, 12);
    expect(log).toMatch(new RegExp(`srmudp:core #1 ${a} dial \\(IK\\): 127\\.0\\.0\\.1:\\d+`));
    expect(log).toMatch(
      new RegExp(`srmudp:core #1 ${a} established \\(outgoing, direct 127\\.0\\.0\\.1:\\d+`),
    );
    expect(log).toMatch(new RegExp(`srmudp:core #\\d+ ${b} closed by the peer: code 0, node closed`));
    expect(log).toContain(`srmudp:crypto peer ${a}: IK handshake started to 127.0.0.1:`);
    expect(log).toMatch(new RegExp(`srmudp:crypto peer ${b}: handshake done \\(responder`));
    expect(log).toMatch(new RegExp(`srmudp:reliability #1 ${a} closing: code 0 node closed`));
    expect(keys.length).toBeGreaterThanOrEqual(4);
    for (const k of keys) expect(log).not.toContain(hex(k));
    // never keys, never plaintext, never whole peer ids (prefixes are enough to tell peers apart)
    for (const n of [alice, bob]) {
      for (const secret of [hex(n.identity.secret), b64(n.identity.secret), hex(n.identity.publicKey)]) {
        expect(log).not.toContain(secret);
      }
      expect(log).not.toContain(n.peerId);
    }
    expect(log).not.toContain(secretText);
  });
});
