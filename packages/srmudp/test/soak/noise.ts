// Soak: random and mutated datagrams at the hub from 16 sockets (issue 11): random bytes, forged
// and junk handshake initiations, data-shaped and STUN-shaped packets, with flipped bytes,
// truncations and replays. JSON lines: 'ready', 'progress' every 2 s, 'final' after 'stop'.
// Options (argv[2]): { hubPort, peerId, rate }
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { parsePeerId } from '@srmudp/crypto';
import { InitiationForger } from '@srmudp/crypto/testing';

const o = JSON.parse(process.argv[2] ?? '{}') as { hubPort: number; peerId: string; rate: number };
const send = (m: object) => process.stdout.write(`${JSON.stringify(m)}\n`);
const rand = (n: number) => Math.floor(Math.random() * n);
const random = (n: number) => new Uint8Array(randomBytes(n));
const forger = new InitiationForger({ random, responderKey: parsePeerId(o.peerId) });

function fresh(): Uint8Array {
  const k = Math.random();
  if (k < 0.25) return random(1 + rand(1400));
  if (k < 0.4) return forger.junk();
  if (k < 0.55) return forger.ik();
  if (k < 0.7) return forger.xx();
  if (k < 0.85) {
    const d = random(29 + rand(1200)); // data-shaped: type, receiver index, packet number, sealed
    d[0] = 0x90 | ((d[0] as number) & 1);
    return d;
  }
  // STUN-shaped: binding request header with the magic cookie, random attributes
  const len = 4 * rand(20);
  const d = random(20 + len);
  d[0] = 0;
  d[1] = 1;
  d[2] = len >> 8;
  d[3] = len & 0xff;
  d.set([0x21, 0x12, 0xa4, 0x42], 4);
  return d;
}

// a pool built ahead; each send mutates a copy (flip, truncate) or sends it as is (a replay)
const pool = Array.from({ length: 8192 }, fresh);
const sockets: Socket[] = [];
for (let i = 0; i < 16; i++) {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, `127.2.${i}.1`, () => r()));
  s.on('error', () => {});
  s.on('message', () => {});
  sockets.push(s);
}
let sent = 0;
const start = performance.now();
const timer = setInterval(() => {
  const due = Math.min(2000, Math.floor((o.rate * (performance.now() - start)) / 1000) - sent);
  for (let k = 0; k < due; k++) {
    let d = pool[rand(pool.length)] as Uint8Array;
    const m = Math.random();
    if (m < 0.4) {
      d = d.slice();
      for (let f = 1 + rand(3); f > 0; f--) d[rand(d.length)] ^= 1 + rand(255);
    } else if (m < 0.55) d = d.subarray(0, rand(d.length));
    else if (m < 0.6) pool[rand(pool.length)] = fresh();
    (sockets[sent % sockets.length] as Socket).send(d, o.hubPort, '127.0.0.1');
    sent++;
  }
}, 5);
const progress = setInterval(() => send({ type: 'progress', sent }), 2000);
send({ type: 'ready' });
createInterface({ input: process.stdin }).on('line', (line) => {
  if (JSON.parse(line).type !== 'stop') return;
  clearInterval(timer);
  clearInterval(progress);
  for (const s of sockets) s.close();
  send({ type: 'final', sent });
  process.exit(0);
});
