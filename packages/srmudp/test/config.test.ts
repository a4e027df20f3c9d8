import { newReno } from '@srmudp/reliability';
import { describe, expect, it } from 'vitest';
import { parseNodeOptions } from '../src/config.js';
import { createNode, isClosedError } from '../src/index.js';

describe('node options: congestion control', () => {
  it('accepts the built-in names and any CongestionControllerFactory; refuses the rest by field', async () => {
    expect(parseNodeOptions({ congestion: 'cubic' }).congestion).toBe('cubic');
    const factory = (o: Parameters<typeof newReno>[0]) => newReno(o);
    expect(parseNodeOptions({ congestion: factory }).congestion).toBe(factory);
    for (const bad of ['vegas', 3, {}]) {
      expect(() => parseNodeOptions({ congestion: bad })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('congestion') }),
      );
    }
  });

  it('a node with a factory connects over it (loopback)', async () => {
    let made = 0;
    const counting = (o: Parameters<typeof newReno>[0]) => {
      made++;
      return newReno(o);
    };
    const a = await createNode({ host: '127.0.0.1', congestion: counting });
    const b = await createNode({ host: '127.0.0.1' });
    try {
      const conn = await a.connect({ host: '127.0.0.1', port: b.address().port, peerId: b.peerId });
      expect(conn.stats().cwnd).toBeGreaterThan(0);
      expect(made).toBeGreaterThanOrEqual(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    await expect(a.connect({ host: '127.0.0.1', port: 1 })).rejects.toSatisfy(isClosedError);
  });
});

describe('node options: peer names', () => {
  it('a peer named "__proto__" (an own key, as JSON.parse makes) is refused, not skipped without a word', () => {
    const peers = JSON.parse('{"__proto__": {"host": "127.0.0.1", "port": 1}}');
    expect(() => parseNodeOptions({ peers })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('__proto__') }),
    );
    // other names of Object's properties are plain names
    const named = JSON.parse('{"constructor": {"host": "127.0.0.1", "port": 1}}');
    expect(Object.keys(parseNodeOptions({ peers: named }).peers)).toEqual(['constructor']);
  });
});
