/**
 * Owns what a gossip instance hands its host and what it counts: the transmit and event queues
 * drained by `pollTransmit()`/`pollEvent()`, and the frame, byte, delivery, drop and penalty
 * counters behind `stats()`. Every other part writes through it, so each counter has one place
 * that bumps it.
 */
import { PollQueue } from '@srmudp/wire';
import { FRAME_TYPE, type FrameTypeName } from './codec.js';
import { type DropReason, emptyDrops, emptyFrameCounts, type GossipEvent } from './events.js';

/** Bytes for one neighbour. */
export interface GossipTransmit {
  to: Uint8Array;
  bytes: Uint8Array;
}

const TYPE_NAMES: (FrameTypeName | undefined)[] = [];
for (const [name, code] of Object.entries(FRAME_TYPE)) TYPE_NAMES[code] = name as FrameTypeName;

/** The instance's output queues and counters. */
export class Outbox {
  readonly transmits = new PollQueue<GossipTransmit>();
  readonly events = new PollQueue<GossipEvent>();
  readonly counts = {
    framesSent: emptyFrameCounts(),
    framesReceived: emptyFrameCounts(),
    bytesSent: 0,
    bytesReceived: 0,
    broadcasts: 0,
    delivered: 0,
    duplicates: 0,
    drops: emptyDrops(),
    penalties: 0,
  };

  /** Queues an encoded frame (its type is byte 1) to the neighbour `to`. */
  send(to: Uint8Array, bytes: Uint8Array): void {
    this.transmits.push({ to, bytes });
    this.counts.bytesSent += bytes.length;
    const name = TYPE_NAMES[bytes[1]!];
    if (name) this.counts.framesSent[name]++;
  }

  emit(e: GossipEvent): void {
    this.events.push(e);
  }

  drop(reason: DropReason): void {
    this.counts.drops[reason]++;
  }
}
