import type { TransportAddress, UdpTransport } from '../src/index.js';

export interface Received {
  readonly data: Uint8Array;
  readonly from: TransportAddress;
}

/** Resolves when `count` datagrams arrived, or after `ms` with what arrived (bounded wait). */
export function collect(t: UdpTransport, count: number, ms = 3000): Promise<Received[]> {
  return new Promise((resolve) => {
    const got: Received[] = [];
    const timer = setTimeout(() => {
      t.onDatagram(undefined);
      resolve(got);
    }, ms);
    t.onDatagram((data, from) => {
      got.push({ data, from });
      if (got.length >= count) {
        clearTimeout(timer);
        t.onDatagram(undefined);
        resolve(got);
      }
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
