/**
 * Dials as the NAT session and core carry them together (punch README "How the driver runs it"):
 * the session judges each dial and says which addresses core dials (`dial`), adds a birthday
 * hit to a running dial (`dial_addresses`), ends a hopeless one (`dial_failed`: the LAN grace
 * of PUNCH_IMPOSSIBLE / UDP_BLOCKED is over), and after core's handshake timeout says whether to
 * dial again inside the birthday window (`dialEnded` → `retry`) or fail with which error.
 * Core sends the handshakes. One attempt per peer; every `connect()` of that peer waits on it.
 */
import type { ClosedWhileConnecting, ConnectionApi, PathInfo } from '@srmudp/core';
import {
  type DialEvent,
  type Endpoint,
  type NatSession,
  type RemoteCandidate,
  sameEndpoint,
} from '@srmudp/punch';
import { keyToHex, SrmudpError, toHex } from '@srmudp/wire';
import { abortError } from './async-queue.js';
import type { Connection } from './connection.js';
import { DialPacer } from './dial-pacer.js';
import type { Driver } from './driver.js';
import type { ResolvedTarget } from './resolve.js';

/** What the dialer needs from its node. */
export interface DialerOwner {
  readonly driver: Driver;
  readonly closing: boolean;
  /** the established connection with this peer (key in hex), if any */
  liveConnection(keyHex: string): Connection | undefined;
  /** the façade connection of core connection `id`, once established */
  connectionOf(id: number): Connection | undefined;
  /** relays (gates) to reach `remoteKey` through when the direct dial is hopeless; may be empty */
  relaysFor(remoteKey: Uint8Array): { key: Uint8Array; voucher?: Uint8Array }[];
  /** notes the gates `remoteKey`'s record lists (gates.ts) */
  learnGates(remoteKey: Uint8Array, gates: ResolvedTarget['gates']): void;
  /**
   * Dials the learned gates of `remoteKey` we have no connection with; resolves once they are
   * connected or failed (bounded), true when one is connected. Null: no learned gate to dial.
   */
  reachGates(remoteKey: Uint8Array): Promise<boolean> | null;
  kick(): void;
}

interface Waiter {
  readonly resolve: (c: Connection) => void;
  readonly reject: (e: unknown) => void;
  readonly name: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

interface Attempt {
  /** the session's key: the peer id in hex, or `xx|host|port…` for a dial without a peer id */
  readonly peer: string;
  readonly remoteKey: Uint8Array | undefined;
  /** core's current dial; null while learned gates are being reached */
  core: ConnectionApi | null;
  /** what core's current dial was given */
  addresses: Endpoint[];
  /** the dial now goes through relays (the direct one was hopeless): its failure is final */
  relayed?: boolean;
  /** core's dial was replaced by the restarted peer's new session, this connection: the answer */
  successor?: number;
  readonly waiters: Waiter[];
}

export class Dialer {
  /** paces first contact to addresses no connection came through yet (issue 22, item 6) */
  readonly pacer: DialPacer;
  readonly #owner: DialerOwner;
  readonly #nat: Pick<NatSession, 'dial' | 'dialEnded' | 'cancelDial'>;
  readonly #byPeer = new Map<string, Attempt>();
  readonly #byCore = new Map<number, Attempt>();
  /** background punches of relayed connections (peer hex → its give-up timer) */
  readonly #upgrades = new Map<string, { cancel(): void }>();

  constructor(owner: DialerOwner, nat: Pick<NatSession, 'dial' | 'dialEnded' | 'cancelDial'>) {
    this.#owner = owner;
    this.#nat = nat;
    this.pacer = new DialPacer({
      after: (ms, fn) => owner.driver.after(ms, fn),
      now: owner.driver.clock,
    });
  }

  /** The name of the named peer whose dial core connection `id` carries, if any. */
  nameFor(id: number): string | undefined {
    return this.#byCore.get(id)?.waiters.find((w) => w.name !== undefined)?.name;
  }

  /** Dials a resolved target (paced first), judged by the NAT session. */
  async dial(target: ResolvedTarget, signal?: AbortSignal, name?: string): Promise<Connection> {
    try {
      await this.pacer.admit(target.addresses, signal);
    } catch (e) {
      throw signal?.aborted ? abortError(signal) : e;
    }
    if (signal?.aborted) throw abortError(signal);
    if (this.#owner.closing) throw new SrmudpError('NODE_CLOSED', 'the node is closed');
    const hex = target.key ? toHex(target.key) : undefined;
    if (target.key !== undefined && target.gates !== undefined)
      this.#owner.learnGates(target.key, target.gates);
    if (hex !== undefined) {
      // the open connection (a relayed one probes the target's direct candidates: the relay
      // fallback's afterDial, after each dial of connect() and of the named peers)
      const live = this.#owner.liveConnection(hex);
      if (live) return live;
    }
    const peer = hex ?? `xx|${target.addresses.map((a) => `${a.host}|${a.port}`).join('|')}`;
    const d = this.#owner.driver;
    const now = d.clock();
    // a dial of a peer already being dialled adds its candidates (the session judges them again)
    const plan = this.#nat.dial(now, peer, target.candidates);
    let a = this.#byPeer.get(peer);
    // a running dial without a peer id cannot be extended (core would start a second handshake)
    if (a !== undefined && (plan.addresses.length === 0 || a.remoteKey === undefined)) {
      return this.#wait(a, signal, name);
    }
    if (plan.addresses.length === 0) {
      const error =
        plan.verdict.error ??
        new SrmudpError('UNREACHABLE', 'no address of the peer can be dialled from here');
      // PUNCH_IMPOSSIBLE and the like: through a gate, when we have one (or learned one)
      if (a === undefined && target.key !== undefined) {
        const r: Attempt = { peer, remoteKey: target.key, core: null, addresses: [], waiters: [] };
        this.#byPeer.set(peer, r);
        if (this.#tryRelay(r, error)) {
          this.#nat.cancelDial(now, peer);
          return this.#wait(r, signal, name);
        }
        this.#byPeer.delete(peer);
      }
      throw error;
    }
    const addresses = plan.addresses.map((e) => ({ host: e.host, port: e.port }));
    const core = d.endpoint.connect(now, { addresses, ...(target.key ? { remoteKey: target.key } : {}) });
    const ready = this.#owner.connectionOf(core.id);
    if (ready && !ready.isClosed) {
      this.#nat.dialEnded(now, peer, { connected: true, remote: pathAddress(ready.path, plan) });
      return ready;
    }
    if (a === undefined) {
      a = { peer, remoteKey: target.key, core, addresses, waiters: [] };
      this.#byPeer.set(peer, a);
    } else {
      a.addresses = merge(a.addresses, addresses);
      if (a.core?.id !== core.id) {
        if (a.core !== null) this.#byCore.delete(a.core.id);
        a.core = core;
      }
    }
    this.#byCore.set(core.id, a);
    this.#owner.kick();
    return this.#wait(a, signal, name);
  }

  /** Core established connection `id` with `remoteKey` (ours or incoming). */
  onConnected(id: number, remoteKey: Uint8Array, path: PathInfo, conn: Connection): void {
    const now = this.#owner.driver.clock();
    const hex = keyToHex(remoteKey);
    const remote = path.address;
    if (path.kind === 'relayed') {
      // no direct route was found: the session's attempt ends without one (the handle is not an address)
      this.#nat.cancelDial(now, hex);
      for (const a of [this.#byCore.get(id), this.#byPeer.get(hex)]) {
        if (a === undefined || this.#byPeer.get(a.peer) !== a) continue;
        if (a.peer !== hex) this.#nat.cancelDial(now, a.peer);
        // the direct candidates stay known to the connection: core probes them in the background
        // (again every 60 s) and moves to the first that validates
        if (a.addresses.length > 0) {
          this.#owner.driver.endpoint.connect(now, { addresses: a.addresses, remoteKey });
        }
        this.#end(a);
        for (const w of a.waiters) w.resolve(conn);
      }
      return;
    }
    this.#nat.dialEnded(now, hex, { connected: true, remote });
    this.pacer.validated(remote);
    for (const a of [this.#byCore.get(id), this.#byPeer.get(hex)]) {
      if (a === undefined || this.#byPeer.get(a.peer) !== a) continue;
      if (a.peer !== hex) this.#nat.dialEnded(now, a.peer, { connected: true, remote });
      this.#end(a);
      for (const w of a.waiters) w.resolve(conn);
    }
  }

  /** Core's dial `id` failed: the session says whether to dial again (birthday window) or fail. */
  onConnectFailed(id: number, error: SrmudpError): void {
    const a = this.#byCore.get(id);
    if (a === undefined || this.#byPeer.get(a.peer) !== a) return;
    const d = this.#owner.driver;
    const now = d.clock();
    // an XX dial that reached a peer we already have a connection with: that connection is the answer
    const cause = error.cause as { connectionId?: number } | undefined;
    const existing =
      error.code === 'ALREADY_CONNECTED' && cause?.connectionId !== undefined
        ? this.#owner.connectionOf(cause.connectionId)
        : undefined;
    if (existing && !existing.isClosed) {
      this.#nat.cancelDial(now, a.peer);
      this.#end(a);
      for (const w of a.waiters) w.resolve(existing);
      return;
    }
    if (this.#owner.closing) {
      this.#nat.cancelDial(now, a.peer);
      this.#fail(a, new SrmudpError('NODE_CLOSED', 'the node was closed', { cause: error }));
      return;
    }
    if (error.code === 'CLOSED') {
      // it reached the peer and closed in the turn that connected it (core withheld its
      // 'connected': the peer's CLOSE came with it, a crossing session replaced it): neither a
      // redial nor a relay is the answer; replaced by the restarted peer's new session, core
      // names that connection (ClosedWhileConnecting.successor): it is the answer
      this.#nat.cancelDial(now, a.peer);
      const successor = (error.cause as ClosedWhileConnecting | undefined)?.successor ?? null;
      if (successor !== null) {
        // its 'connected' comes next (onConnected finds the attempt by its id) or, withheld too,
        // its 'connect_failed' (onConnectFailed), as a dial's. Not the attempt's `core`: the
        // peer's connection, an abort of every connect() does not close it
        this.#byCore.delete(id);
        a.core = null;
        a.successor = successor;
        this.#byCore.set(successor, a);
        return;
      }
      this.#fail(a, new SrmudpError('CONNECT_FAILED', error.message, { cause: error }));
      return;
    }
    if (a.relayed) {
      this.#fail(a, error);
      return;
    }
    const next = this.#nat.dialEnded(now, a.peer, { connected: false, code: error.code });
    if (next.kind === 'retry' && next.addresses.length > 0) {
      // a gate is at hand: through it now rather than after the whole birthday window; the
      // ends go on punching over the relayed session (relayed-punch.ts) and move when it works
      if (a.remoteKey !== undefined && this.#owner.relaysFor(a.remoteKey).length > 0) {
        this.#nat.cancelDial(now, a.peer);
        if (this.#tryRelay(a, error)) return;
      }
      this.#byCore.delete(id);
      this.#redial(a, next.addresses);
      return;
    }
    const final = next.kind === 'fail' && next.error !== null ? next.error : error;
    if (this.#tryRelay(a, final)) return;
    this.#fail(a, final);
  }

  /**
   * Punches towards `remoteKey`, whose connection runs on a relayed path, in the background
   * (relayed-punch.ts starts it on both ends at once): the NAT session judges the candidates the
   * peer sent through the relayed session (a birthday, when one side maps per destination), and
   * every address it yields joins the connection's upgrade candidates; core validates them and
   * moves the connection to the first that answers (streams carry on). Ends when the path is
   * direct ({@link upgraded}), the session gives up, or after `maxMs`.
   */
  upgrade(remoteKey: Uint8Array, candidates: readonly RemoteCandidate[], maxMs: number): boolean {
    const hex = keyToHex(remoteKey);
    if (this.#byPeer.has(hex) || this.#owner.closing) return false;
    const d = this.#owner.driver;
    const now = d.clock();
    // a newer round (new candidates on either side: UDP back here or there) replaces the one
    // still running; the rounds are bounded by relayed-punch.ts
    const running = this.#upgrades.get(hex);
    if (running !== undefined) {
      running.cancel();
      this.#upgrades.delete(hex);
      this.#nat.cancelDial(now, hex);
    }
    const plan = this.#nat.dial(now, hex, candidates);
    if (plan.addresses.length === 0 && plan.verdict.error !== null) {
      this.#nat.cancelDial(now, hex);
      return false;
    }
    const timer = d.after(maxMs, () => {
      if (this.#upgrades.get(hex) !== timer) return;
      this.#upgrades.delete(hex);
      this.#nat.cancelDial(d.clock(), hex);
    });
    this.#upgrades.set(hex, timer);
    if (plan.addresses.length > 0) this.#addCandidates(remoteKey, plan.addresses);
    return true;
  }

  /** The connection with `remoteKey` moved to direct path `remote`: its background punch is done. */
  upgraded(remoteKey: Uint8Array, remote: Endpoint): void {
    const hex = keyToHex(remoteKey);
    const t = this.#upgrades.get(hex);
    if (t === undefined) return;
    t.cancel();
    this.#upgrades.delete(hex);
    const now = this.#owner.driver.clock();
    this.#nat.dialEnded(now, hex, { connected: true, remote });
    this.pacer.validated(remote);
  }

  #addCandidates(remoteKey: Uint8Array, addresses: readonly Endpoint[]): void {
    const live = this.#owner.liveConnection(keyToHex(remoteKey));
    if (live === undefined) return;
    this.#owner.driver.endpoint.connect(this.#owner.driver.clock(), {
      addresses: addresses.map((x) => ({ host: x.host, port: x.port })),
      remoteKey,
    });
    this.#owner.kick();
  }

  /** The NAT session's word on a running dial. */
  onNatEvent(e: DialEvent): void {
    if (e.type !== 'dial_addresses' && e.type !== 'dial_failed') return;
    const up = this.#upgrades.get(e.peer);
    if (up !== undefined) {
      if (e.type === 'dial_addresses') {
        const live = this.#owner.liveConnection(e.peer);
        if (live) this.#addCandidates(live.remoteKey, e.addresses);
      } else {
        up.cancel();
        this.#upgrades.delete(e.peer);
      }
      return;
    }
    const a = this.#byPeer.get(e.peer);
    if (a === undefined) return;
    const d = this.#owner.driver;
    const now = d.clock();
    if (e.type === 'dial_addresses') {
      // A birthday hit: the port that answered is open now, and for a short while. Core would
      // add it to the running handshake but send there only at its next retransmission, which
      // backs off to 4 s; a fresh handshake with the hit first goes out at once.
      if (a.core === null) return;
      this.#byCore.delete(a.core.id);
      a.core.close(now, 0, 'birthday hit: dialled again');
      this.#redial(a, merge(e.addresses, a.addresses));
      return;
    }
    // dial_failed: the session has finished the attempt already
    if (a.relayed) return;
    a.core?.close(now, 0, 'dial failed');
    if (this.#tryRelay(a, e.error)) return;
    this.#fail(a, e.error);
  }

  /** Rejects every waiting dial (the node is closing). */
  close(): void {
    this.pacer.close();
    const now = this.#owner.driver.clock();
    for (const [hex, t] of this.#upgrades) {
      t.cancel();
      this.#nat.cancelDial(now, hex);
    }
    this.#upgrades.clear();
    for (const a of [...this.#byPeer.values()]) {
      this.#nat.cancelDial(now, a.peer);
      this.#fail(a, new SrmudpError('NODE_CLOSED', 'the node was closed'));
    }
  }

  /** A new core dial for attempt `a` (its waiters stay). */
  #redial(a: Attempt, addresses: readonly Endpoint[]): void {
    a.addresses = addresses.map((x) => ({ host: x.host, port: x.port }));
    a.core = this.#owner.driver.endpoint.connect(this.#owner.driver.clock(), {
      addresses: a.addresses,
      ...(a.remoteKey ? { remoteKey: a.remoteKey } : {}),
    });
    this.#byCore.set(a.core.id, a);
    this.#owner.kick();
  }

  /**
   * The direct dial of `a` is hopeless: through the gates we are connected to, or else first
   * through the gates its record lists (dialled now, then asked for a circuit); the attempt
   * fails with `error` when none answers. True when the relayed dial started.
   */
  #tryRelay(a: Attempt, error: unknown): boolean {
    if (a.relayed || a.remoteKey === undefined || this.#owner.closing) return false;
    const key = a.remoteKey;
    if (this.#owner.relaysFor(key).length > 0) {
      if (a.core !== null) this.#byCore.delete(a.core.id);
      this.#relay(a);
      return true;
    }
    const reaching = this.#owner.reachGates(key);
    if (reaching === null) return false;
    if (a.core !== null) this.#byCore.delete(a.core.id);
    a.relayed = true;
    a.core = null;
    reaching
      .then(
        (any) => {
          if (this.#byPeer.get(a.peer) !== a) return; // aborted meanwhile
          if (this.#owner.closing) this.#fail(a, new SrmudpError('NODE_CLOSED', 'the node was closed'));
          else if (any && this.#owner.relaysFor(key).length > 0) this.#relay(a);
          else this.#fail(a, error);
        },
        () => this.#fail(a, error),
      )
      .catch(() => {});
    return true;
  }

  /** A core dial of `a` through the gates only (direct addresses stay candidates for an upgrade later). */
  #relay(a: Attempt): void {
    const key = a.remoteKey as Uint8Array;
    a.relayed = true;
    a.core = this.#owner.driver.endpoint.connect(this.#owner.driver.clock(), {
      addresses: [],
      remoteKey: key,
      relays: this.#owner.relaysFor(key),
    });
    this.#byCore.set(a.core.id, a);
    this.#owner.kick();
  }

  #wait(a: Attempt, signal: AbortSignal | undefined, name: string | undefined): Promise<Connection> {
    return new Promise<Connection>((resolve, reject) => {
      const w: Waiter = {
        name,
        signal,
        onAbort: () => {
          const i = a.waiters.indexOf(w);
          if (i >= 0) a.waiters.splice(i, 1);
          reject(abortError(signal as AbortSignal));
          if (a.waiters.length === 0 && this.#byPeer.get(a.peer) === a) {
            // nobody waits any more: the attempt ends, its pool sockets are given back
            const now = this.#owner.driver.clock();
            this.#nat.cancelDial(now, a.peer);
            this.#end(a);
            a.core?.close(now, 0, 'aborted');
            this.#owner.kick();
          }
        },
        resolve: (c) => {
          signal?.removeEventListener('abort', w.onAbort);
          resolve(c);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', w.onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', w.onAbort, { once: true });
      a.waiters.push(w);
    });
  }

  #end(a: Attempt): void {
    if (a.successor !== undefined && this.#byCore.get(a.successor) === a) this.#byCore.delete(a.successor);
    if (this.#byPeer.get(a.peer) === a) this.#byPeer.delete(a.peer);
    if (a.core !== null && this.#byCore.get(a.core.id) === a) this.#byCore.delete(a.core.id);
  }

  #fail(a: Attempt, error: unknown): void {
    this.#end(a);
    for (const w of a.waiters.splice(0)) w.reject(error);
  }
}

/** `first`, then the addresses of `rest` not in it. */
function merge(first: readonly Endpoint[], rest: readonly Endpoint[]): Endpoint[] {
  const out = first.map((x) => ({ host: x.host, port: x.port }));
  for (const x of rest) if (!out.some((o) => sameEndpoint(o, x))) out.push({ host: x.host, port: x.port });
  return out;
}

function pathAddress(path: PathInfo | null, plan: { addresses: readonly { host: string; port: number }[] }) {
  return path?.address ?? (plan.addresses[0] as { host: string; port: number });
}
