/**
 * Reliability's events as the endpoint's event contract: each event of a connection's reliability
 * state machine becomes the endpoint's (with the connection's id), or goes back to the connection
 * when it is core's own business (a path or relay frame, CONTROL, the close), and a stream's
 * 'stream_finished' is emitted once, as soon as every byte up to the peer's FIN is readable.
 *
 * Plain functions over the connection (`EventsOwner`), called per packet: no closure and no object
 * per packet; the streams' state (`StreamEnds`) is created at a connection's first stream, so an
 * idle connection holds none.
 */
import type { ReliableConnection as Reliable, ReliableEvent } from '@srmudp/reliability';
import type { ConnectionHost } from './connection.js';

/** A reliability event that the connection handles itself (with the time of the call that drained it). */
export type OwnEvent = Extract<ReliableEvent, { type: 'closed' } | { type: 'frame' } | { type: 'control' }>;

/** What the translation needs from the connection itself (CoreConnection). */
export interface EventsOwner {
  readonly id: number;
  /** its streams' ends, created at its first stream */
  streamEnds: StreamEnds | null;
  /** a path or relay frame, a CONTROL message, or reliability's close */
  onOwnEvent(ev: OwnEvent, now: number): void;
}

/** What it needs from the endpoint (the connection's own host). */
export type EventsEndpoint = Pick<ConnectionHost, 'emit'>;

/** The receive sides of a connection's streams: which may still finish, which finished. */
export class StreamEnds {
  /** streams whose receive side may still finish; 'stream_finished' already emitted for the rest */
  readonly open = new Set<number>();
  /** created at the first */
  private emitted: Set<number> | null = null;

  /** True the first time `streamId` finishes (it is no longer open). */
  finishOnce(streamId: number): boolean {
    this.open.delete(streamId);
    if (this.emitted?.has(streamId)) return false;
    (this.emitted ??= new Set()).add(streamId);
    return true;
  }
}

/** A stream was opened (by us or by the peer): its receive side may finish from now on. */
export function streamOpened(owner: EventsOwner, streamId: number): void {
  (owner.streamEnds ??= new StreamEnds()).open.add(streamId);
}

/** Moves reliability's events to the endpoint, handing the connection's own back to it. */
export function drainEvents(owner: EventsOwner, endpoint: EventsEndpoint, rel: Reliable, now: number): void {
  const id = owner.id;
  for (let ev = rel.pollEvent(now); ev !== null; ev = rel.pollEvent(now)) {
    switch (ev.type) {
      case 'stream_opened':
        streamOpened(owner, ev.streamId);
        endpoint.emit({ type: ev.type, id, streamId: ev.streamId });
        break;
      case 'readable':
      case 'writable':
        endpoint.emit({ type: ev.type, id, streamId: ev.streamId });
        break;
      case 'stream_finished':
        emitFinished(owner, endpoint, ev.streamId);
        break;
      case 'stream_reset':
        owner.streamEnds?.open.delete(ev.streamId);
        endpoint.emit({ type: 'stream_reset', id, streamId: ev.streamId, code: ev.code });
        break;
      case 'message':
        endpoint.emit({ type: 'message', id, data: ev.data, unordered: ev.unordered });
        break;
      case 'datagram':
        endpoint.emit({ type: 'datagram', id, data: ev.data });
        break;
      case 'message_writable':
        endpoint.emit({ type: 'message_writable', id });
        break;
      case 'control':
      case 'frame':
      case 'closed':
        owner.onOwnEvent(ev, now);
        break;
      default:
        break; // stream_stopped, pmtu: not part of the endpoint contract
    }
  }
}

/**
 * The contract's 'stream_finished': every byte up to the peer's FIN has arrived and is
 * readable (reliability itself reports it only once the application has read them all).
 */
export function checkFinReceived(owner: EventsOwner, endpoint: EventsEndpoint, rel: Reliable): void {
  const ends = owner.streamEnds;
  if (ends === null || ends.open.size === 0) return;
  for (const sid of ends.open) {
    if (rel.recvComplete(sid)) emitFinished(owner, endpoint, sid);
  }
}

function emitFinished(owner: EventsOwner, endpoint: EventsEndpoint, streamId: number): void {
  if (!(owner.streamEnds ??= new StreamEnds()).finishOnce(streamId)) return;
  endpoint.emit({ type: 'stream_finished', id: owner.id, streamId });
}
