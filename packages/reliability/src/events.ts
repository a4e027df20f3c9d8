import type { Frame, PollQueue } from '@srmudp/wire';

/** What a received packet was (`ReliableConnection.handlePacket`). */
export type ReceivedPacket = 'non_probing' | 'probing' | 'dropped';

/** Events drained with `ReliableConnection.pollEvent()`, in the order they happened. */
export type ReliableEvent =
  /** the peer opened a stream (the first frame for it arrived) */
  | { type: 'stream_opened'; streamId: number }
  /** a stream has bytes to `read` (sent once until the next read returns them) */
  | { type: 'readable'; streamId: number }
  /** a stream whose `write` was short has room again */
  | { type: 'writable'; streamId: number }
  /** the peer finished its side and every byte was read */
  | { type: 'stream_finished'; streamId: number }
  /** the peer reset its side; unread bytes were discarded */
  | { type: 'stream_reset'; streamId: number; code: number }
  /** the peer asked us to stop sending (STOP_SENDING); our side was reset with `code` */
  | { type: 'stream_stopped'; streamId: number; code: number }
  /** a whole message */
  | { type: 'message'; data: Uint8Array; unordered: boolean }
  /** a whole CONTROL message (`sendControl`): the session's own protocols, core's business */
  | { type: 'control'; data: Uint8Array }
  /** `sendMessage` returned false earlier and there is room again */
  | { type: 'message_writable' }
  | { type: 'datagram'; data: Uint8Array }
  /** a path_challenge, path_response or relay frame: core's business */
  | { type: 'frame'; frame: Frame }
  /** the path MTU changed (bytes of UDP payload) */
  | { type: 'pmtu'; pmtu: number }
  /**
   * The connection closed: `remote` when the peer sent CLOSE; `error` names a transport error
   * code (a protocol violation by the peer, or IDLE_TIMEOUT).
   */
  | { type: 'closed'; code: number; reason: string; remote: boolean; error: string | null };

/** Events in the order they happened (a @srmudp/wire `PollQueue`). */
export type EventQueue = PollQueue<ReliableEvent>;
