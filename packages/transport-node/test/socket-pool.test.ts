import { afterEach, describe, expect, it } from 'vitest';
import { poolHostFor, type TransportError, UdpSocketPool, UdpTransport } from '../src/index.js';
import { collect } from './helpers.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function main(): Promise<UdpTransport> {
  const t = await UdpTransport.bind({ host: '127.0.0.1' });
  cleanup.push(() => t.close());
  return t;
}

function pool(host = '127.0.0.1'): UdpSocketPool {
  const p = new UdpSocketPool({ host });
  cleanup.push(() => p.closeAll());
  return p;
}

describe('UdpSocketPool', () => {
  it('binds N sockets on ephemeral ports, sends from a chosen one, delivers tagged with its id', async () => {
    const peer = await main();
    const p = pool();
    const { ids, ports } = await p.open(4);
    expect(ids).toEqual([1, 2, 3, 4]);
    expect(new Set(ports).size).toBe(4);
    expect(p.size).toBe(4);
    for (const [i, id] of ids.entries()) expect(p.localPort(id)).toBe(ports[i]);
    // each socket is its own source port (its own NAT mapping behind a real NAT)
    const got = collect(peer, 4);
    for (const id of ids) expect(p.send(id, Uint8Array.of(id), '127.0.0.1', peer.address().port)).toBe(true);
    const seen = (await got).map((m) => [m.data[0], m.from.port]);
    expect(seen.sort()).toEqual(ids.map((id, i) => [id, ports[i]]).sort());
    // an answer to socket 3 is delivered tagged with id 3 and the sender's address
    const back: Array<[number, number, number]> = [];
    p.onDatagram((socket, data, from) => back.push([socket, data[0] as number, from.port]));
    peer.send(Uint8Array.of(42), '127.0.0.1', ports[2] as number);
    for (let i = 0; i < 100 && back.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(back).toEqual([[3, 42, peer.address().port]]);
  });

  it('reports send errors with the socket id, and closes by id (ids are not reused)', async () => {
    const p = pool();
    const errors: Array<[number, TransportError]> = [];
    p.onError((socket, err) => errors.push([socket, err]));
    const { ids } = await p.open(2);
    expect(p.send(2, Uint8Array.of(1), '::1', 9)).toBe(false); // IPv6 from an IPv4 pool socket
    expect(errors).toEqual([[2, expect.objectContaining({ code: 'EAFNOSUPPORT', host: '::1', port: 9 })]]);
    await p.close([ids[0] as number, 77]);
    expect(p.has(1)).toBe(false);
    expect(p.has(2)).toBe(true);
    expect(p.send(1, Uint8Array.of(1), '127.0.0.1', 9)).toBe(false);
    expect((await p.open(1)).ids).toEqual([3]);
    expect(p.ids()).toEqual([2, 3]);
    await p.closeAll();
    expect(p.size).toBe(0);
    expect(await p.open(3)).toEqual({ ids: [], ports: [] });
  });

  it('poolHostFor: IPv4 next to the main socket, none next to an IPv6-only one', async () => {
    expect(poolHostFor({ host: '192.0.2.7', port: 1, family: 'IPv4' })).toBe('192.0.2.7');
    expect(poolHostFor({ host: '0.0.0.0', port: 1, family: 'IPv4' })).toBe('0.0.0.0');
    expect(poolHostFor({ host: '::', port: 1, family: 'IPv6' })).toBe('0.0.0.0');
    expect(poolHostFor({ host: '::', port: 1, family: 'IPv6' }, true)).toBeNull();
    expect(poolHostFor({ host: '::ffff:192.0.2.7', port: 1, family: 'IPv6' })).toBe('192.0.2.7');
    expect(poolHostFor({ host: '2001:db8::1', port: 1, family: 'IPv6' })).toBeNull();
    expect(() => new UdpSocketPool({ host: '::' })).toThrow('"host" expected an IPv4 literal, got ::');
    await expect(new UdpSocketPool({ host: '0.0.0.0' }).open(-1)).rejects.toThrow(RangeError);
  });
});
