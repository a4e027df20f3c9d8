/**
 * The per-datagram floor of any encrypted protocol on Node 20: 1,452-byte UDP datagrams, each
 * sealed with node:crypto's ChaCha20-Poly1305 (nonce = packet number, AD = a 13-byte header, as
 * srmudp does) and sent with node:dgram in bursts of 32 per event-loop turn; the receiver opens
 * each one. No reliability, no congestion control, no flow control: open loop, so what is lost
 * is simply not counted. `raw-udp` does the same without the AEAD. These rows say what
 * srmudp's P1 figure could be at best with this runtime, and what the encryption alone costs.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';

export const DATAGRAM = 1452;
const HEADER = 13;
const TAG = 16;
const PAYLOAD = DATAGRAM - HEADER - TAG;
const TAG_OPTIONS = { authTagLength: 16 } as const;

function ipLookup(host: string, _o: unknown, cb: (e: Error | null, a: string, f: number) => void): void {
  cb(null, host, host.includes(':') ? 6 : 4);
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
  const nonce = new Uint8Array(12);
  const nv = new DataView(nonce.buffer);
  sock.on('message', (m: Buffer) => {
    if (m.length !== DATAGRAM) return onBad();
    if (!sealed) return onBytes(PAYLOAD);
    nv.setUint32(4, m.readUInt32LE(5), true);
    const d = createDecipheriv('chacha20-poly1305', key, nonce, TAG_OPTIONS);
    d.setAuthTag(m.subarray(DATAGRAM - TAG));
    d.setAAD(m.subarray(0, HEADER), { plaintextLength: PAYLOAD });
    const p = d.update(m.subarray(HEADER, DATAGRAM - TAG));
    try {
      d.final();
    } catch {
      return onBad();
    }
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
  const plaintext = randomBytes(PAYLOAD);
  const nonce = new Uint8Array(12);
  const nv = new DataView(nonce.buffer);
  let pn = 0;
  let stopped = false;
  const ignore = () => {};
  const burst = () => {
    if (stopped) return;
    for (let i = 0; i < 32; i++) {
      const out = new Uint8Array(DATAGRAM);
      out[0] = 0x80;
      new DataView(out.buffer).setUint32(5, pn, true);
      if (sealed) {
        nv.setUint32(4, pn, true);
        const c = createCipheriv('chacha20-poly1305', key, nonce, TAG_OPTIONS);
        c.setAAD(out.subarray(0, HEADER), { plaintextLength: PAYLOAD });
        out.set(c.update(plaintext), HEADER);
        c.final();
        out.set(c.getAuthTag(), DATAGRAM - TAG);
      } else out.set(plaintext, HEADER);
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
