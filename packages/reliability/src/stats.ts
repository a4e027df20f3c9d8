import type { LossRecovery } from './loss-recovery.js';
import type { PathState } from './paths.js';

export type ReliableState = 'open' | 'closing' | 'draining' | 'closed';

export interface ReliableStats {
  state: ReliableState;
  congestion: string;
  rttMs: number;
  srttMs: number;
  /** an RTT sample (or a handshake seed) exists: before it, the RTT fields hold the 333 ms default */
  rttSampled: boolean;
  minRttMs: number;
  rttVarMs: number;
  cwnd: number;
  bytesInFlight: number;
  /** bytes per second (0 before the first RTT sample: not paced) */
  pacingRate: number;
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsReceived: number;
  packetsLost: number;
  /** packets declared lost that were acknowledged later (reordering, not loss) */
  spuriousLosses: number;
  /** current packet reordering threshold (3, widened by spurious losses) */
  reorderingThreshold: number;
  /** packets that carried only an ACK (coalescing keeps these rare while data flows both ways) */
  ackOnlyPacketsSent: number;
  lossRate: number;
  retransmittedBytes: number;
  ptoCount: number;
  pmtu: number;
  blackHoles: number;
  openStreams: number;
  drops: {
    duplicatePackets: number;
    undecodablePackets: number;
    afterClose: number;
    datagramTooBig: number;
    datagramNoRoom: number;
    datagramReceiveOverflow: number;
    coreFrameDropped: number;
  };
}

/** The counters behind `stats()`; each module counts its own events here. */
export class Counters {
  bytesSent = 0;
  bytesReceived = 0;
  packetsSent = 0;
  packetsReceived = 0;
  packetsLost = 0;
  spuriousLosses = 0;
  ackOnlyPacketsSent = 0;
  retransmittedBytes = 0;
  duplicatePackets = 0;
  undecodablePackets = 0;
  afterClose = 0;
  datagramTooBig = 0;
  datagramNoRoom = 0;
  datagramReceiveOverflow = 0;
  coreFrameDropped = 0;
}

/** The `stats()` snapshot: counters plus the current path's and loss recovery's state. */
export function snapshot(
  state: ReliableState,
  path: PathState,
  recovery: LossRecovery,
  s: Counters,
  openStreams: number,
): ReliableStats {
  const rtt = path.rtt;
  const pacingRate = path.pacingRate();
  return {
    state,
    congestion: path.cc.name,
    rttMs: rtt.latest,
    srttMs: rtt.smoothed,
    rttSampled: rtt.hasSample,
    minRttMs: rtt.hasSample ? rtt.min : 0,
    rttVarMs: rtt.variance,
    cwnd: path.cc.window(),
    bytesInFlight: recovery.bytesInFlight,
    pacingRate: Number.isFinite(pacingRate) ? pacingRate * 1000 : 0,
    bytesSent: s.bytesSent,
    bytesReceived: s.bytesReceived,
    packetsSent: s.packetsSent,
    packetsReceived: s.packetsReceived,
    packetsLost: s.packetsLost,
    spuriousLosses: s.spuriousLosses,
    reorderingThreshold: recovery.packetThreshold,
    ackOnlyPacketsSent: s.ackOnlyPacketsSent,
    lossRate: s.packetsSent === 0 ? 0 : Math.max(0, s.packetsLost - s.spuriousLosses) / s.packetsSent,
    retransmittedBytes: s.retransmittedBytes,
    ptoCount: recovery.ptoCount,
    pmtu: path.pmtud.current,
    blackHoles: path.pmtud.blackHoles,
    openStreams,
    drops: {
      duplicatePackets: s.duplicatePackets,
      undecodablePackets: s.undecodablePackets,
      afterClose: s.afterClose,
      datagramTooBig: s.datagramTooBig,
      datagramNoRoom: s.datagramNoRoom,
      datagramReceiveOverflow: s.datagramReceiveOverflow,
      coreFrameDropped: s.coreFrameDropped,
    },
  };
}
