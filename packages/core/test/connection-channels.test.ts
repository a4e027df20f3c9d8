import type { SecureChannel } from '@srmudp/crypto';
import { describe, expect, it } from 'vitest';
import { ConnectionChannels } from '../src/connection-channels.js';

const ch = (name: string) => ({ name }) as unknown as SecureChannel;

describe('ConnectionChannels (one channel without an array, several in use order)', () => {
  it('seals with the channel used last; detaching it falls back to the last one left', () => {
    const c = new ConnectionChannels();
    const [a, b, d] = [ch('a'), ch('b'), ch('d')];
    expect(c.size).toBe(0);
    expect(c.sealer).toBeNull();
    c.use(a);
    c.use(a);
    expect(c.size).toBe(1);
    expect(c.sealer).toBe(a);
    c.use(b);
    c.use(d);
    expect(c.size).toBe(3);
    expect(c.sealer).toBe(d);
    c.detach(d);
    expect(c.sealer).toBe(b);
    c.detach(a);
    expect(c.sealer).toBe(b);
    expect(c.size).toBe(1);
    c.detach(b);
    expect(c.size).toBe(0);
    expect(c.sealer).toBeNull();
  });

  it('detaching another channel keeps the sealer; takeAll hands back every channel once', () => {
    const c = new ConnectionChannels();
    const [a, b] = [ch('a'), ch('b')];
    c.use(a);
    c.detach(b);
    expect(c.sealer).toBe(a);
    expect(c.takeAll()).toEqual([a]);
    expect(c.takeAll()).toEqual([]);
    expect(c.size).toBe(0);
    c.use(a);
    c.use(b);
    expect(c.takeAll()).toEqual([a, b]);
    expect(c.size).toBe(0);
  });

  it('tells a restarted peer by its boot id', () => {
    const c = new ConnectionChannels();
    expect(c.bootDiffers(Uint8Array.of(1, 2))).toBe(false);
    c.setRemoteBoot(Uint8Array.of(1, 2, 200));
    expect(c.bootDiffers(Uint8Array.of(1, 2, 200))).toBe(false);
    expect(c.bootDiffers(Uint8Array.of(1, 2, 201))).toBe(true);
    expect(c.bootDiffers(null)).toBe(false);
    c.setRemoteBoot(null);
    expect(c.bootDiffers(Uint8Array.of(9))).toBe(false);
  });
});
