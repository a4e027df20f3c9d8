// NAT-PMP client (src/nat-pmp.ts): the codec against RFC 6886's layouts, hostile bytes, and the
// exchange and the port mapper over loopback against a fake router.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodePmpResponse,
  encodeExternalAddressRequest,
  encodeMapUdpRequest,
  NAT_PMP_PORT,
  pmpExchange,
} from '../src/nat-pmp.js';
import { PortMapError, RouterPortMapper } from '../src/port-mapper.js';

const hex = (h: string) => Uint8Array.from(Buffer.from(h.replaceAll(' ', ''), 'hex'));

describe('NAT-PMP codec (RFC 6886)', () => {
  it('encodes the external address and UDP mapping requests', () => {
    expect(Buffer.from(encodeExternalAddressRequest()).toString('hex')).toBe('0000');
    // version 0, op 1, reserved, internal 40000, suggested external 40001, lifetime 7200 s
    expect(Buffer.from(encodeMapUdpRequest(40000, 40001, 7200)).toString('hex')).toBe(
      '00010000' + '9c409c41' + '00001c20',
    );
    // §3.4: a deletion is lifetime 0 and external port 0
    expect(Buffer.from(encodeMapUdpRequest(40000, 0, 0)).toString('hex')).toBe('000100009c40000000000000');
  });

  it('decodes answers, and an error answer from its first 8 bytes', () => {
    expect(decodePmpResponse(hex('0080 0000 00000123 c6336514'))).toEqual({
      op: 'external',
      result: 0,
      address: '198.51.101.20',
    });
    expect(decodePmpResponse(hex('0081 0000 00000123 9c40 9c41 00001c20'))).toEqual({
      op: 'map-udp',
      result: 0,
      internalPort: 40000,
      externalPort: 40001,
      lifetimeS: 7200,
    });
    expect(decodePmpResponse(hex('0081 0002 00000123'))).toMatchObject({ op: 'map-udp', result: 2 });
  });

  it('returns null for anything that is no well-formed answer, and never throws', () => {
    for (const h of [
      '',
      '00',
      '0081', // the datagram that ended the process on the library's client
      '0081 0000 00000123', // a success too short for its fields
      '0080 0000 00000123 c633', // an external address cut short
      '0180 0000 00000123 c6336514', // version 1
      '0001 0000 00000123 9c40 9c41 00001c20', // a request, not an answer
      '0082 0000 00000123 9c40 9c41 00001c20', // the TCP mapping answer: never asked for
    ])
      expect(decodePmpResponse(hex(h)), h).toBeNull();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        const r = decodePmpResponse(b);
        if (r !== null) expect(b[0]).toBe(0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('NAT-PMP over loopback', () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  /** A fake router on 127.0.0.1:`port`: `answer` decides what it sends to each request. */
  async function router(
    port: number,
    answer: (req: Buffer, from: RemoteInfo, reply: (b: Uint8Array) => void) => void,
  ): Promise<{ requests: Buffer[]; port: number }> {
    const s = createSocket('udp4');
    sockets.push(s);
    const requests: Buffer[] = [];
    s.on('message', (req, from) => {
      requests.push(req);
      answer(req, from, (b) => s.send(b, from.port, from.address));
    });
    await new Promise<void>((r) => s.bind(port, '127.0.0.1', r));
    return { requests, port: s.address().port };
  }

  it('retransmits, and ignores junk from the router and datagrams from elsewhere', async () => {
    const stranger = createSocket('udp4');
    sockets.push(stranger);
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', r));
    const r = await router(0, (req, from, reply) => {
      if (r.requests.length === 1) return; // the first request is lost
      for (const junk of ['', '00', '0081', '0081 0000 00000123']) reply(hex(junk));
      // a well-formed answer, but not from the router's port
      stranger.send(hex('0080 0000 00000001 01020304'), from.port, from.address);
      if (req[1] === 0) reply(hex('0080 0000 00000001 c6336514'));
    });
    const got = await pmpExchange(
      '127.0.0.1',
      encodeExternalAddressRequest(),
      (x) => x.op === 'external',
      AbortSignal.timeout(5000),
      r.port,
    );
    expect(got).toEqual({ op: 'external', result: 0, address: '198.51.101.20' });
    expect(r.requests.length).toBe(2);
  });

  it("rejects with the signal's reason when nothing answers", async () => {
    const r = await router(0, () => {});
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('gave up')), 1200);
    await expect(
      pmpExchange('127.0.0.1', encodeExternalAddressRequest(), () => true, ac.signal, r.port),
    ).rejects.toThrow('gave up');
    // at 0, 250 and 750 ms (RFC 6886 §3.1: 250 ms, then doubling), the next at 1750: at most
    // three within 1.2 s (a fixed 250 ms would make five)
    expect(r.requests.length).toBeGreaterThanOrEqual(2);
    expect(r.requests.length).toBeLessThanOrEqual(3);
  });

  // RouterPortMapper's NAT-PMP leg against a router on 127.0.0.1:5351 (NAT-PMP alone: nothing
  // leaves loopback)
  const mapper = () => new RouterPortMapper(undefined, () => '127.0.0.1', ['nat-pmp']);
  const request = {
    internal: { host: '127.0.0.1', port: 40000 },
    lifetimeMs: 7_200_000,
    timeoutMs: 5000,
    renew: null,
  };

  it('maps: external address and port, and the lifetime the router granted; deletes with lifetime 0', async () => {
    const r = await router(NAT_PMP_PORT, (req, _from, reply) => {
      if (req[1] === 0) reply(hex('0080 0000 00000001 c6336514'));
      else if (req.readUInt32BE(8) === 0) reply(hex('0081 0000 00000001 9c40 0000 00000000'));
      // grants 3600 s of the 7200 asked for, on external port 40001
      else reply(hex('0081 0000 00000001 9c40 9c41 00000e10'));
    });
    const m = mapper();
    try {
      const got = await m.map(request);
      expect(got).toEqual({
        protocol: 'nat-pmp',
        external: { host: '198.51.101.20', port: 40001 },
        lifetimeMs: 3_600_000,
      });
      expect(r.requests.map((b) => b.toString('hex'))).toEqual(['0000', '000100009c409c4000001c20']);
      await m.unmap({ internal: request.internal, external: got.external, protocol: 'nat-pmp' }, 2000);
      expect(r.requests[2]?.toString('hex')).toBe('000100009c40000000000000');
    } finally {
      m.close();
    }
  });

  it('a result code is REFUSED with its meaning', async () => {
    await router(NAT_PMP_PORT, (req, _from, reply) => {
      if (req[1] === 0) reply(hex('0080 0000 00000001 c6336514'));
      else reply(hex('0081 0002 00000001'));
    });
    const m = mapper();
    try {
      const err = await m.map(request).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PortMapError);
      expect((err as PortMapError).code).toBe('REFUSED');
      expect((err as PortMapError).message).toMatch(/NAT-PMP result 2: not authorized or refused/);
    } finally {
      m.close();
    }
  });
});
