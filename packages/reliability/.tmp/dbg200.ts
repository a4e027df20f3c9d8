import { dumbbell } from '@srmudp/sim';
import { ConnNode } from '../test/helpers/sim-conn.ts';

const CHUNK = new Uint8Array(65536);
let recv = 0;
let snd: ConnNode;
let rcv: ConnNode;
const { net } = dumbbell({
  seed: 1,
  bottleneck: { bandwidthBps: 100e6, latencyMs: 100, loss: 0.01 },
  reverse: { latencyMs: 100 },
  flows: [
    {
      sender: (_n, to) => {
        const n = new ConnNode(to, {
          role: 'initiator',
          now: 0,
          congestion: 'bbr',
          maxUdpPayload: 1472,
          limits: { streamSendBuffer: 8 << 20, sendBuffer: 16 << 20 },
        });
        n.keepEvents = false;
        let id = -1;
        n.app = (node) => {
          if (id < 0) id = node.conn.openStream();
          for (let k = 0; k < 64; k++) if (node.conn.write(id, CHUNK) < CHUNK.length) break;
        };
        snd = n;
        return n;
      },
      receiver: (_n, to) => {
        const n = new ConnNode(to, { role: 'responder', now: 0, congestion: 'bbr', maxUdpPayload: 1472 });
        n.keepEvents = false;
        const ids: number[] = [];
        n.onEvent = (ev) => {
          if (ev.type === 'stream_opened') ids.push(ev.streamId);
        };
        n.app = (node) => {
          for (const id of ids)
            for (let r = node.conn.read(id); r !== null; r = node.conn.read(id)) recv += r.length;
        };
        rcv = n;
        return n;
      },
    },
  ],
});
let last = 0;
for (let t = 500; t <= 8000; t += 500) {
  net.drive({ untilTime: t, maxSteps: Number.POSITIVE_INFINITY });
  const s = snd!.conn.stats();
  const bbr = snd!.conn.congestionController as any;
  console.log(
    t,
    (((recv - last) * 8) / 0.5 / 1e6).toFixed(1),
    'Mbit',
    'cwnd',
    s.cwnd | 0,
    'infl',
    s.bytesInFlight,
    'pace',
    ((s.pacingRate * 8) / 1e6).toFixed(1),
    'srtt',
    s.srttMs.toFixed(0),
    'pto',
    s.ptoCount,
    'pmtu',
    s.pmtu,
    'mode',
    bbr.mode,
    'bw',
    ((bbr.btlBw.get() * 8) / 1000).toFixed(1),
    'hi',
    bbr.inflightHi | 0,
    'lost',
    s.packetsLost,
    'rtx',
    s.retransmittedBytes,
    'connCredit',
    (snd!.conn as any).connSend.available(),
    'stCredit',
    [...(snd!.conn as any).streams.values()][0]?.sendCredit.available(),
    'rwin',
    [...(rcv!.conn as any).streams.values()][0]?.recvWindow.window,
    (rcv!.conn as any).connRecv.window,
    'buffered',
    [...(snd!.conn as any).streams.values()][0]?.send.buffered(),
  );
  last = recv;
}
