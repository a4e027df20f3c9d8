import { bench, describe } from 'vitest';
import { ReliableConnection } from '../src/index.js';

/**
 * CPU cost of the send + ack path: a sender fills packets from a stream, a receiver processes
 * them and acknowledges every second one, the sender processes the ACKs. One iteration moves
 * PACKETS full-size packets; divide the reported time by PACKETS for µs per packet.
 */
const PACKETS = 100;
const chunk = new Uint8Array(256 * 1024);

function setup(congestion: 'bbr' | 'cubic' | 'newreno') {
  const a = new ReliableConnection({ role: 'initiator', now: 0, overhead: 8, congestion });
  const b = new ReliableConnection({ role: 'responder', now: 0, overhead: 8, congestion });
  const id = a.openStream();
  let now = 0;
  // until the receiver knows the stream (the first packet is a PMTU probe): read() needs it
  a.write(id, chunk);
  for (let i = 0; i < 10 && !b.streamIds().includes(id); i++) {
    const t = a.pollTransmit(now);
    if (t !== null) b.handlePacket(now, t.packetNumber, t.payload);
  }
  const step = () => {
    let sent = 0;
    while (sent < PACKETS) {
      if (a.writable(id) > chunk.length) a.write(id, chunk);
      now += 0.05;
      const t = a.pollTransmit(now);
      if (t === null) {
        // window full: let the receiver's ACKs through
        now += 1;
        a.handleTimeout(now);
      } else {
        b.handlePacket(now, t.packetNumber, t.payload);
        sent++;
      }
      for (let r = b.read(now, id); r !== null; r = b.read(now, id)) {}
      for (let ack = b.pollTransmit(now); ack !== null; ack = b.pollTransmit(now))
        a.handlePacket(now, ack.packetNumber, ack.payload);
      while (b.pollEvent(now) !== null) {}
      while (a.pollEvent(now) !== null) {}
    }
  };
  return step;
}

describe(`send + ack path, ${PACKETS} packets per iteration`, () => {
  for (const cc of ['bbr', 'cubic', 'newreno'] as const) {
    const step = setup(cc);
    bench(`${cc}: ${PACKETS} packets sent, received and acknowledged`, step, { time: 1000 });
  }
});
