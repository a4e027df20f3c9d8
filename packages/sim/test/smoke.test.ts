import { describe, expect, it } from 'vitest';
import { echoNode, Network, ScriptedNode } from '../src/index.js';

describe('smoke', () => {
  it('ping-pong over a 10 ms link', () => {
    const net = new Network({ seed: 1 });
    const a = new ScriptedNode();
    net.addHost('a', a, [{ host: '10.0.0.1', port: 1000 }]);
    net.addHost('b', echoNode(), [{ host: '10.0.0.2', port: 2000 }]);
    net.setPath('a', 'b', { latencyMs: 10 });
    a.send({ host: '10.0.0.2', port: 2000 }, new Uint8Array([1, 2, 3]));
    expect(net.drive()).toBe('idle');
    expect(a.received).toHaveLength(1);
    expect(a.received[0]!.at).toBe(20);
    expect(net.now).toBe(20);
  });
});
