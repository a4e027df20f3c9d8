import type { OutMessage } from './message-queue.js';
import type { Stream } from './stream.js';

/** What a sent packet carried that must be repaired if it is lost (RFC 9000 §13.3). */
export const SentKind = {
  Stream: 0,
  Message: 1,
  MaxData: 2,
  MaxStreamData: 3,
  MaxStreams: 4,
  ResetStream: 5,
  StopSending: 6,
} as const;
export type SentKindId = (typeof SentKind)[keyof typeof SentKind];

export class SentFrame {
  constructor(
    readonly kind: SentKindId,
    readonly stream: Stream | null,
    readonly msg: OutMessage | null,
    readonly offset: number,
    readonly length: number,
    readonly fin: boolean,
  ) {}
}

/** Book-keeping of one sent packet (RFC 9002 Appendix A.1.1) plus delivery-rate state. */
export class SentPacket {
  acked = false;
  lost = false;
  /** largest packet number acknowledged by the ACK frame it carried, or -1 */
  ackLargest = -1;
  // delivery-rate sampling (draft-cheng-iccrg-delivery-rate-estimation §3.2)
  delivered = 0;
  deliveredTime = 0;
  firstSentTime = 0;
  appLimited = false;

  constructor(
    readonly pn: number,
    readonly time: number,
    readonly size: number,
    readonly ackEliciting: boolean,
    readonly inFlight: boolean,
    readonly mtuProbe: boolean,
    readonly frames: SentFrame[] | null,
  ) {}
}
