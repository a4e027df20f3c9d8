/**
 * The receive path: one decrypted packet into state changes. It drops what must not be processed
 * (a bad packet number or payload, a packet after close, undecodable frames, a duplicate),
 * classifies the packet (ack-eliciting, PING, probing: RFC 9000 §9.1, §13.2), records it with the
 * ACK tracker and liveness, and hands each frame to the module that owns its rule. The connection
 * state (closing, draining) and its transitions belong to `closing.ts`: this file reads the state
 * and calls closing.ts for each transition.
 *
 * Plain functions over the connection itself, like loss recovery's and the packet builder's hosts:
 * no object of their own per connection, and no closure per packet.
 */
import { decodeFrames, type Frame, FrameDecoder } from '@srmudp/wire';
import {
  type ClosingHost,
  enterClosing,
  enterDraining,
  onPacketWhileClosing,
  sendRttProbe,
} from './closing.js';
import type { Datagrams } from './datagrams.js';
import { ErrorCode, errorName, ProtocolError } from './errors.js';
import type { ReceivedPacket } from './events.js';
import type { Messages } from './messages.js';
import { isAckEliciting } from './packet-builder.js';
import type { Counters, ReliableState } from './stats.js';

/**
 * The parts of a connection a received packet changes; its state transitions are closing.ts's
 * (`ClosingHost`).
 */
export interface ReceiveHost extends ClosingHost {
  readonly state: ReliableState;
  readonly counters: Counters;
  /** the queue of CONTROL (`control`) or application messages, created on first use */
  messageQueue(control: boolean): Messages;
  /** the queue of datagrams and core frames, created on first use */
  datagramQueue(): Datagrams;
  /** room in the send budget may have opened */
  notifyWritable(): void;
}

/**
 * One decoder for every connection of the process: its frame objects are rewritten by its next
 * packet, and nothing handed a frame here keeps the frame object (byte fields are views that may be
 * kept; a frame an event carries is copied). A packet that arrives while another is being handled
 * (re-entry through a host callback) gets fresh frames from `decodeFrames`.
 */
const sharedDecoder = new FrameDecoder();
let decoderBusy = false;

/** `ReliableConnection.handlePacket` without the timer re-arming: see its documentation. */
export function receivePacket(
  host: ReceiveHost,
  now: number,
  packetNumber: number,
  payload: Uint8Array,
): ReceivedPacket {
  if (decoderBusy) return receiveWith(host, now, packetNumber, payload, null);
  decoderBusy = true;
  try {
    return receiveWith(host, now, packetNumber, payload, sharedDecoder);
  } finally {
    decoderBusy = false;
  }
}

function receiveWith(
  host: ReceiveHost,
  now: number,
  packetNumber: number,
  payload: Uint8Array,
  decoder: FrameDecoder | null,
): ReceivedPacket {
  const s = host.counters;
  if (!Number.isSafeInteger(packetNumber) || packetNumber < 0 || !(payload instanceof Uint8Array)) {
    s.undecodablePackets++;
    return 'dropped';
  }
  const state = host.state;
  if (state === 'closed' || state === 'draining') {
    s.afterClose++;
    return 'dropped';
  }
  let frames: readonly Frame[];
  try {
    frames = decoder !== null ? decoder.decode(payload) : decodeFrames(payload);
  } catch (e) {
    s.undecodablePackets++;
    host.config.log?.(`packet ${packetNumber}: undecodable frames (${(e as Error).message})`);
    if (state === 'open') {
      enterClosing(host, ErrorCode.FRAME_ENCODING_ERROR, 'undecodable frames', 'FRAME_ENCODING_ERROR', now);
    }
    return 'dropped';
  }
  if (state === 'closing') {
    s.afterClose++;
    let peerClosed = false;
    for (const f of frames) {
      if (f.type === 'close') {
        peerClosed = true;
        break;
      }
    }
    onPacketWhileClosing(host, now, peerClosed);
    return 'dropped';
  }
  let eliciting = false;
  let probing = true;
  let ping = false;
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    if (!eliciting && isAckEliciting(f)) eliciting = true;
    if (f.type === 'ping') ping = true;
    if (probing && f.type !== 'path_challenge' && f.type !== 'path_response' && f.type !== 'padding') {
      probing = false;
    }
    if (eliciting && !probing && ping) break;
  }
  const path = host.activePath;
  // a PING (keepalive, PTO probe, PMTU probe) is acknowledged at once: the peer's RTT sample
  // is then the path's, not max_ack_delay late (idle links and fresh connections measure true)
  if (!host.acks.onPacket(now, packetNumber, eliciting, ping, path.rtt.minRtt())) {
    s.duplicatePackets++;
    host.config.log?.(`packet ${packetNumber}: duplicate, dropped`);
    return 'dropped';
  }
  s.packetsReceived++;
  s.bytesReceived += payload.length + host.config.overhead;
  host.liveness.onReceive(now);
  // our warm-up PING, if one is owed soon, rides with the ACK of the peer's (liveness.ts); a PMTU
  // probe's PING (PADDING fills the rest of its packet, the last frame) is not the peer's warm-up
  if (ping && frames[frames.length - 1]!.type !== 'padding' && host.liveness.rttProbeEarly(now))
    sendRttProbe(host, now);
  const kind: ReceivedPacket = probing ? 'probing' : 'non_probing';
  try {
    for (let i = 0; i < frames.length; i++) {
      onFrame(host, now, frames[i]!);
      if (host.state !== 'open') return kind;
    }
  } catch (e) {
    if (e instanceof ProtocolError) {
      enterClosing(host, e.code, e.reason, errorName(e.code), now);
      return kind;
    }
    // a bug must not take the process down on peer input: close with INTERNAL_ERROR
    enterClosing(host, ErrorCode.INTERNAL_ERROR, String(e), 'INTERNAL_ERROR', now);
  }
  return kind;
}

/** Each frame to the owner of its rule. */
function onFrame(host: ReceiveHost, now: number, f: Frame): void {
  switch (f.type) {
    case 'padding':
    case 'ping':
      return;
    case 'ack':
      if (host.recovery.onAckFrame(now, f, host.activePath)) {
        host.streams.forgetAcked();
        host.notifyWritable();
      }
      return;
    case 'stream':
      host.streams.onStreamFrame(now, f, host.activePath.rtt.smoothed);
      return;
    case 'message':
      host.messageQueue(f.control === true).onFrame(now, f, host.activePath.rtt.smoothed);
      return;
    case 'datagram':
      host.datagramQueue().onFrame(f);
      return;
    case 'max_data':
      host.streams.onMaxData(f.max);
      return;
    case 'max_stream_data':
      host.streams.onMaxStreamData(f.streamId, f.max);
      return;
    case 'max_streams':
      host.streams.onMaxStreams(f.max);
      return;
    case 'reset_stream':
      host.streams.onResetStream(now, f, host.activePath.rtt.smoothed);
      return;
    case 'stop_sending':
      host.streams.onStopSending(f);
      return;
    case 'close':
      enterDraining(host, now, f.code, f.reason);
      return;
    case 'path_challenge':
    case 'path_response':
    case 'relay':
      // a copy: the decoder's frame objects are rewritten by the next packet
      host.events.push({ type: 'frame', frame: { ...f } });
      return;
  }
}
