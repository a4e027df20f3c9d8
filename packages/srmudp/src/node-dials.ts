/**
 * The node's dials: `connect()` (a target resolved through the rendezvous, our own key refused,
 * its `timeout` reported as CONNECT_TIMEOUT) and the dial of a resolved target that connect()
 * and the named peers share: the relays first (relay-fallback.ts), the 'dial' event (and the
 * named peer's 'peer' event), then the dialer (dialer.ts); a connection that came up relayed
 * keeps the target's direct candidates.
 */
import type { Address } from '@srmudp/core';
import { peerIdToString } from '@srmudp/crypto';
import type { Rendezvous } from '@srmudp/rendezvous';
import { equalBytes, SrmudpError } from '@srmudp/wire';
import { type PeerTarget, parsePeerTarget } from './config.js';
import type { Connection } from './connection.js';
import type { Dialer } from './dialer.js';
import type { Driver } from './driver.js';
import { logger, short } from './log.js';
import type { PeerEvent } from './named-peers.js';
import type { RelayFallback } from './relay-fallback.js';
import { type ResolvedTarget, resolveTarget } from './resolve.js';

/** Same namespace as the façade's lines (`DEBUG=srmudp:node`). */
const log = logger('srmudp:node');

/** What the 'dial' event carries: a dial (connect() or a named peer) about to start. */
export interface DialEvent {
  /** the named peer's name, when the dial is for one */
  name?: string;
  /** the peer id we expect, or null for an address dialled without one (Noise XX) */
  peerId: string | null;
  addresses: Address[];
}

/** The node's parts a dial goes through, and where its events go. */
export interface NodeDialsHost {
  /** our own peer id (key) */
  readonly ownKey: Uint8Array;
  readonly rendezvous: Rendezvous;
  readonly driver: Driver;
  readonly fallback: RelayFallback;
  readonly dialer: Dialer;
  emit(event: 'dial', e: DialEvent): void;
  emit(event: 'peer', e: PeerEvent): void;
}

export class NodeDials {
  constructor(private readonly host: NodeDialsHost) {}

  /** `node.connect()` once the node is known to be open. */
  async connect(target: PeerTarget, opts: { signal?: AbortSignal; timeout?: number }): Promise<Connection> {
    const t = parsePeerTarget(target);
    if (opts.timeout !== undefined && !(Number.isInteger(opts.timeout) && opts.timeout > 0))
      throw new RangeError(`"timeout" expected a positive integer (ms), got ${opts.timeout}`);
    // a timeout is our own abort, told apart from the caller's signal so it can say why
    const timer = opts.timeout !== undefined ? new AbortController() : null;
    const handle = timer ? this.host.driver.after(opts.timeout as number, () => timer.abort()) : null;
    const signal = timer
      ? opts.signal
        ? AbortSignal.any([opts.signal, timer.signal])
        : timer.signal
      : opts.signal;
    let resolved: ResolvedTarget | null = null;
    try {
      resolved = await resolveTarget(t, this.host.rendezvous, signal);
      this.refuseOwnKey(resolved.key);
      return await this.dial(resolved, signal);
    } catch (e) {
      if (timer?.signal.aborted && !opts.signal?.aborted) {
        const where = resolved ? ` at ${resolved.addresses.length} address(es)` : '';
        const who = resolved?.key ? short(peerIdToString(resolved.key)) : 'the peer';
        throw new SrmudpError(
          'CONNECT_TIMEOUT',
          `no answer from ${who}${where} within ${opts.timeout} ms (offline, or UDP blocked on the way)`,
          { cause: e },
        );
      }
      throw e;
    } finally {
      handle?.cancel();
    }
  }

  /** The dial of a resolved target (connect() and the named peers). */
  async dial(resolved: ResolvedTarget, signal: AbortSignal | undefined, name?: string): Promise<Connection> {
    await this.host.fallback.beforeDial(resolved, signal);
    this.emitDial(resolved, name);
    const conn = await this.host.dialer.dial(resolved, signal, name);
    this.host.fallback.afterDial(conn, resolved);
    return conn;
  }

  /** Our own card or key as a target: a typed error instead of core's RangeError. */
  refuseOwnKey(key: Uint8Array | undefined | null): void {
    if (key && equalBytes(key, this.host.ownKey)) {
      throw new SrmudpError(
        'OWN_CARD',
        "that is this node's own contact card (or peer id): a node cannot connect to itself",
      );
    }
  }

  private emitDial(resolved: ResolvedTarget, name?: string): void {
    const peerId = resolved.key ? peerIdToString(resolved.key) : null;
    log(
      `dial ${name !== undefined ? `${name} ` : ''}${peerId ? short(peerId) : '(key unknown, Noise XX)'}: ${resolved.addresses.length} address(es)`,
    );
    const e: DialEvent = { peerId, addresses: resolved.addresses, ...(name !== undefined ? { name } : {}) };
    this.host.emit('dial', e);
    if (name !== undefined)
      this.host.emit('peer', { name, state: 'connecting', addresses: resolved.addresses.length });
  }
}
