// UPnP-IGD discovery (src/ssdp-search.ts): the response parser, and the search over loopback
// against a fake device that answers unicast (nothing is multicast: `to` is a loopback address).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { IGD2_DEVICE, mSearchRequest, parseSearchResponse, searchDevice } from '../src/ssdp-search.js';

const ok = (headers: string) => `HTTP/1.1 200 OK\r\n${headers}\r\n\r\n`;
const answer = (host: string) =>
  ok(
    `CACHE-CONTROL: max-age=120\r\nST: ${IGD2_DEVICE}\r\nUSN: uuid:x::${IGD2_DEVICE}\r\nLOCATION: http://${host}:5000/rootDesc.xml`,
  );

describe('SSDP search response parser', () => {
  it('takes the LOCATION of a 200 answer for the device type searched, header names in any case', () => {
    expect(parseSearchResponse(answer('192.168.1.1'), '192.168.1.1', IGD2_DEVICE)?.href).toBe(
      'http://192.168.1.1:5000/rootDesc.xml',
    );
    const lower = `HTTP/1.1 200 OK\nst:${IGD2_DEVICE}\nlocation:  http://192.168.1.1:5000/d.xml  \n\n`;
    expect(parseSearchResponse(lower, '192.168.1.1', IGD2_DEVICE)?.href).toBe(
      'http://192.168.1.1:5000/d.xml',
    );
  });

  it('refuses anything else, without throwing', () => {
    const from = '192.168.1.1';
    const cases = [
      '',
      '\u0000\u00ff\u0001',
      'XYZ * HTTP/1.1\r\nST: x\r\n\r\n',
      `M-SEARCH * HTTP/1.1\r\nST: ${IGD2_DEVICE}\r\n\r\n`,
      `NOTIFY * HTTP/1.1\r\nNT: ${IGD2_DEVICE}\r\nLOCATION: http://${from}:5000/d.xml\r\n\r\n`,
      answer(from).replace('200 OK', '404 Not Found'),
      // another device type
      answer(from).replace(`ST: ${IGD2_DEVICE}`, 'ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1'),
      // no LOCATION, or one that is no URL, or not http, or on another host than the responder
      ok(`ST: ${IGD2_DEVICE}`),
      ok(`ST: ${IGD2_DEVICE}\r\nLOCATION: not a url`),
      answer(from).replace('http://', 'https://'),
      answer(from).replace('http://', 'file://'),
      answer('10.0.0.99'),
      answer(`${from}.evil.example`),
    ];
    for (const text of cases) expect(parseSearchResponse(text, from, IGD2_DEVICE), text).toBeNull();
  });

  it('sends the M-SEARCH of UDA 1.1 §1.3.2', () => {
    expect(mSearchRequest(IGD2_DEVICE).toString('latin1')).toBe(
      `M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ${IGD2_DEVICE}\r\n\r\n`,
    );
  });
});

describe('SSDP search over loopback', () => {
  let device: Socket | null = null;
  afterEach(() => {
    device?.close();
    device = null;
  });

  /** A fake device on 127.0.0.1: `onSearch` decides what it sends back to each search. */
  async function fakeDevice(onSearch: (n: number, from: RemoteInfo, reply: (text: string) => void) => void) {
    const s = createSocket('udp4');
    device = s;
    const searches: RemoteInfo[] = [];
    s.on('message', (msg, from) => {
      if (!msg.toString('latin1').startsWith('M-SEARCH')) return;
      searches.push(from);
      onSearch(searches.length, from, (text) => s.send(Buffer.from(text, 'latin1'), from.port, from.address));
    });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    return { to: { host: '127.0.0.1', port: s.address().port }, searches };
  }

  it('searches again until a device answers, from an ephemeral port, ignoring hostile datagrams', async () => {
    const d = await fakeDevice((n, _from, reply) => {
      if (n === 1) {
        // the first search goes unanswered but for junk a hostile LAN host could send
        for (const junk of [
          'XYZ * HTTP/1.1\r\nST: x\r\n\r\n',
          '\u0000\u0001binary',
          answer('10.0.0.99'),
          answer('127.0.0.1').replace('200 OK', '500 Oops'),
        ])
          reply(junk);
        return;
      }
      reply(answer('127.0.0.1'));
    });
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), 10_000);
    const found = await searchDevice({
      st: IGD2_DEVICE,
      intervalMs: 200,
      signal: ac.signal,
      addresses: ['127.0.0.1'],
      to: d.to,
    });
    clearTimeout(t);
    expect(found?.href).toBe('http://127.0.0.1:5000/rootDesc.xml');
    expect(d.searches.length).toBe(2);
    // never port 1900: another program may hold it, and nothing but answers should reach us
    for (const s of d.searches) expect(s.port).not.toBe(1900);
  });

  it('ends with null when aborted, and at once with nothing to search from', async () => {
    const d = await fakeDevice(() => {});
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    expect(
      await searchDevice({
        st: IGD2_DEVICE,
        intervalMs: 100,
        signal: ac.signal,
        addresses: ['127.0.0.1'],
        to: d.to,
      }),
    ).toBeNull();
    expect(d.searches.length).toBeGreaterThanOrEqual(2);
    const never = new AbortController().signal;
    expect(
      await searchDevice({ st: IGD2_DEVICE, intervalMs: 100, signal: never, addresses: [], to: d.to }),
    ).toBeNull();
  });

  it('an address that cannot be bound ends the search with null instead of hanging or throwing', async () => {
    const d = await fakeDevice(() => {});
    const never = new AbortController().signal;
    // TEST-NET-3: on no interface here, so the bind fails (EADDRNOTAVAIL)
    expect(
      await searchDevice({
        st: IGD2_DEVICE,
        intervalMs: 100,
        signal: never,
        addresses: ['203.0.113.77'],
        to: d.to,
      }),
    ).toBeNull();
  });
});
