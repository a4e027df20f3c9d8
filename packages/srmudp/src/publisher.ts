/**
 * This node's record (DESIGN.md §7), one rule: what the record says (its candidates, its gates,
 * its home WebSocket relay), publishing it to the rendezvous backends, publishing it again when
 * what it says changes, and the contact card that carries the locators (or the record itself).
 *
 * Which gates go in is gates.ts's rule (`gatesToPublish`); the candidates are candidates.ts's.
 */

import { isIP } from 'node:net';
import type { Identity } from '@srmudp/crypto';
import type { NatSessionStatus, ReflexiveCandidate } from '@srmudp/punch';
import {
  type Candidate,
  type CandidateUpdate,
  encodeCard,
  type Gate,
  type Locator,
  type Rendezvous,
} from '@srmudp/rendezvous';
import { SrmudpError } from '@srmudp/wire';
import { withReflexive } from './candidates.js';
import type { PeerTarget } from './config.js';
import type { Connection } from './connection.js';
import { gatesToPublish } from './gates.js';
import type { WsRelays } from './ws-relays.js';

/** records keep this many candidates (DESIGN.md §7) */
const RECORD_CANDIDATES = 8;

/** What the publisher needs from the node. */
export interface PublisherHost {
  readonly identity: Identity;
  readonly rendezvous: Rendezvous;
  readonly closing: boolean;
  /** the configured gates (`relay.gates`), named peers `gate-0` … */
  readonly configuredGates: readonly PeerTarget[];
  /** whether this node serves as a gate (`relay.serve`) */
  readonly servingGate: boolean;
  /** the named peer `name`'s key and connection, if any */
  namedPeer(name: string): { readonly key: Uint8Array | null; readonly conn: Connection | null } | undefined;
  /** the host candidates of the socket as bound now */
  hostCandidates(): Candidate[];
  /** the server-reflexive candidates (the NAT session's) */
  reflexive(): ReflexiveCandidate[];
  /** the external address of the router port mapping, if one is open */
  mapped(): NatSessionStatus['portMapping']['external'];
  /** the home WebSocket relay, when we keep one */
  homeRelay(): ReturnType<WsRelays['home']>;
}

export class Publisher {
  readonly #host: PublisherHost;
  #locators: Locator[] = [];
  #republishing: Promise<void> | null = null;
  #republishAgain = false;
  #published = false;

  constructor(host: PublisherHost) {
    this.#host = host;
  }

  /**
   * Publishes the record to every rendezvous backend; the locators of the backends that took it
   * are kept for the card. Returns them. (The caller checks the node is open.)
   */
  async publish(opts: { signal?: AbortSignal } = {}): Promise<Locator[]> {
    const h = this.#host;
    if (h.rendezvous.backends.length === 0) {
      throw new SrmudpError('NO_BACKEND', 'no rendezvous backends configured (option "rendezvous")');
    }
    this.#published = true;
    const report = await h.rendezvous.publish(this.#recordUpdate(), opts);
    const locators: Locator[] = [];
    for (const b of report.backends) if (b.status === 'published') locators.push(b.locator);
    if (locators.length > 0) this.#locators = locators;
    return this.#locators;
  }

  /** Publishes the record again (coalesced; best effort) once it has been published. */
  republish(): void {
    const h = this.#host;
    if (!this.#published || h.closing || h.rendezvous.backends.length === 0) return;
    if (this.#republishing) {
      this.#republishAgain = true;
      return;
    }
    this.#republishing = this.publish()
      .then(
        () => {},
        () => {
          /* best effort: the next change or an explicit publish() tries again */
        },
      )
      .finally(() => {
        this.#republishing = null;
        if (this.#republishAgain) {
          this.#republishAgain = false;
          this.republish();
        }
      });
  }

  /** The contact card (see SrmudpNode.contactCard). */
  contactCard(
    opts: { name?: string; app?: string; locators?: Locator[]; candidates?: boolean; ttlMs?: number } = {},
  ): string {
    const h = this.#host;
    const locators = opts.locators ?? this.#locators;
    const embed = opts.candidates ?? (locators.length === 0 || locators.some((l) => l.backend === 'manual'));
    // one sequence counter (the Rendezvous one) for card records and published records, so two
    // records of this node never share a seq with different bytes
    const record = embed
      ? h.rendezvous.sign(this.#recordUpdate(), { ttlMs: opts.ttlMs ?? 24 * 3600_000 }).bytes
      : undefined;
    return encodeCard({
      peerId: h.identity.publicKey,
      locators,
      ...(record ? { record } : {}),
      ...(opts.name !== undefined ? { name: opts.name } : {}),
      ...(opts.app !== undefined ? { app: opts.app } : {}),
    });
  }

  /** The candidates the record carries (at most {@link RECORD_CANDIDATES}). */
  recordCandidates(): Candidate[] {
    return withReflexive(this.#host.hostCandidates(), this.#host.reflexive(), RECORD_CANDIDATES);
  }

  /**
   * The gates the record and card carry: this node itself when it serves as a gate and is
   * reachable (a port mapping it opened, or a public address of its own), then its configured
   * gates at the address its hop session reaches each one.
   */
  recordGates(): Gate[] {
    const h = this.#host;
    const configured = h.configuredGates.map((t, i) => {
      const p = h.namedPeer(`gate-${i}`);
      const c = p?.conn && !p.conn.isClosed ? p.conn : null;
      const path = c?.path;
      const address =
        path?.kind === 'direct'
          ? { host: path.address.host, port: path.address.port }
          : typeof t !== 'string' && isIP(t.host)
            ? { host: t.host, port: t.port }
            : null;
      return { key: p?.key ?? null, address };
    });
    return gatesToPublish({
      self: h.identity.publicKey,
      serving: h.servingGate,
      mapped: h.mapped(),
      host: h.hostCandidates(),
      configured,
    });
  }

  /** What our record says: the candidates, the gates, and the home relay when we keep one. */
  #recordUpdate(): CandidateUpdate {
    const home = this.#host.homeRelay();
    const gates = this.recordGates();
    return {
      candidates: this.recordCandidates(),
      ...(gates.length > 0 ? { gates } : {}),
      ...(home ? { homeRelay: home } : {}),
    };
  }
}
