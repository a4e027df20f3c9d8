/**
 * The per-datagram floor of any encrypted protocol on Node 20: 1,452-byte UDP datagrams, each
 * sealed by srmudp's own AEAD backend (@srmudp/crypto-node's autoBackend(), as the façade picks
 * it: libsodium when sodium-native loads, else node:crypto; ChaCha20-Poly1305, nonce = packet
 * number, AD = the 13-byte data header) into a buffer carved from @srmudp/wire's
 * sharedSlab, exactly as srmudp's send path does, and sent with node:dgram in bursts of 32 per
 * event-loop turn; the receiver opens each one with the same backend. No reliability, no
 * congestion control, no flow control: open loop, so what is lost is simply not counted.
 * `raw-udp` does the same without the AEAD. These rows say what srmudp's P1 figure could be at
 * best with this runtime, and what the encryption alone costs.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { autoBackend } from '@srmudp/crypto-node';
import { AEAD_TAG_LENGTH, DATA_HEADER_LENGTH, sharedSlab } from '@srmudp/wire';

export const DATAGRAM = 1452;
const PAYLOAD = DATAGRAM - DATA_HEADER_LENGTH - AEAD_TAG_LENGTH;
const aead = autoBackend();
/** which backend seals the floor's datagrams ('sodium', 'node', 'noble') */
export const FLOOR_BACKEND = aead.name;
/** datagrams per event-loop turn, as srmudp's transport-node sends them (128 measured no faster here) */
const BURST = 32;

function ipLookup(host: string, _o: unknown, cb: (e: Error | null, a: string, f: number) => void): void {
  cb(null, host, host.includes(':') ? 6 : 4);
}

/** The packet number at bytes 5..9 of the header (little endian; the floor's own layout). */
function readPn(d: Uint8Array): number {
  return (
    (d[5] as number) | ((d[6] as number) << 8) | ((d[7] as number) << 16) | ((d[8] as number) * 0x100_0000)
  );
}

/** Receiving side: counts payload bytes of datagrams that authenticate (sealed) or arrive (raw). */
export function floorSink(
  host: string,
  sealed: boolean,
  key: Uint8Array,
  onBytes: (n: number) => void,
  onBad: () => void,
): Promise<{ port: number; close: () => void }> {
  const sock = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20 });
  sock.on('message', (m: Buffer) => {
    if (m.length !== DATAGRAM) return onBad();
    if (!sealed) return onBytes(PAYLOAD);
    const p = aead.aeadOpen(
      key,
      readPn(m),
      m.subarray(0, DATA_HEADER_LENGTH),
      m.subarray(DATA_HEADER_LENGTH),
    );
    if (p === null) return onBad();
    onBytes(p.length);
  });
  return new Promise((resolve) => {
    sock.bind(0, host, () => resolve({ port: sock.address().port, close: () => sock.close() }));
  });
}

/** Sending side: seals and sends until `stop()`; 32 datagrams per event-loop turn. */
export function floorSource(
  host: string,
  port: number,
  sealed: boolean,
  key: Uint8Array,
): Promise<{ stop: () => void; sent: () => number }> {
  const sock = dgram.createSocket({
    type: host.includes(':') ? 'udp6' : 'udp4',
    sendBufferSize: 4 << 20,
    lookup: ipLookup as never,
  });
  const plaintext = new Uint8Array(randomBytes(PAYLOAD));
  let pn = 0;
  let stopped = false;
  const ignore = () => {};
  const burst = () => {
    if (stopped) return;
    for (let i = 0; i < BURST; i++) {
      const out = sharedSlab.take(DATAGRAM);
      out[0] = 0x80;
      out[5] = pn & 0xff;
      out[6] = (pn >>> 8) & 0xff;
      out[7] = (pn >>> 16) & 0xff;
      out[8] = (pn >>> 24) & 0xff;
      if (sealed) {
        aead.aeadSeal(
          key,
          pn,
          out.subarray(0, DATA_HEADER_LENGTH),
          plaintext,
          out.subarray(DATA_HEADER_LENGTH),
        );
      } else out.set(plaintext, DATA_HEADER_LENGTH);
      pn++;
      sock.send(out, port, host, ignore);
    }
    setImmediate(burst);
  };
  return new Promise((resolve) => {
    sock.bind(0, host, () => {
      burst();
      resolve({
        stop: () => {
          stopped = true;
          sock.close();
        },
        sent: () => pn,
      });
    });
  });
}
