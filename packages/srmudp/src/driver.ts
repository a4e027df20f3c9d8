import { performance } from 'node:perf_hooks';
import type { Address, EndpointApi, EndpointEvent, Transmit } from '@srmudp/core';
import {
  DEFAULT_STUN_SERVERS,
  type Endpoint,
  type NatEvent,
  type NatSession,
  type PortMappingEvent,
} from '@srmudp/punch';
import type { TransportAddress, TransportError, UdpSocketPool, UdpTransport } from '@srmudp/transport-node';
import { ContainedCount } from '@srmudp/wire';
import { PortMapError, type PortMapperIo } from './port-mapper.js';
import { parseStunServer, resolveStunServer, type StunServerName } from './stun-servers.js';
import { type Timer, TimerQueue } from './timer-queue.js';

/** The parts of `@srmudp/punch`'s NatSession the driver runs (tests may pass a scripted one). */
export type NatMachine = Pick<
  NatSession,
  | 'handle'
  | 'handleTimeout'
  | 'pollTimeout'
  | 'pollTransmit'
  | 'pollEvent'
  | 'route'
  | 'setStunServers'
  | 'setHostAddresses'
  | 'sendFailed'
  | 'socketsOpened'
> &
  Partial<Pick<NatSession, 'portMapped' | 'portMapFailed'>>;

/**
 * Another sans-IO machine the loop runs (the node's gossip, `group.ts`): its deadline joins the
 * one OS timer, and `flush` drains its output (into core's connections) in the loop's rounds.
 */
export interface DrivenMachine {
  pollTimeout(): number | null;
  handleTimeout(now: number): void;
  /** drains pending output and events; true when anything moved */
  flush(now: number): boolean;
}

/** What the driver hands to the node. */
export interface DriverHost {
  onEndpointEvent(e: EndpointEvent): void;
  /** NAT events for the node (the driver itself handles `resolve`, `open_sockets`, `close_sockets`) */
  onNatEvent(e: NatEvent): void;
  /** the main socket's addresses to gather from (polled every `interfacePollMs`) */
  hostAddresses(): Endpoint[];
  /** the polled addresses changed (the record needs republishing) */
  onHostAddressesChanged(): void;
}

export interface DriverOptions {
  /**
   * Server names to resolve when the session asks (`resolve`): the application's, or
   * `DEFAULT_STUN_SERVERS` when undefined.
   */
  stunServers?: readonly StunServerName[];
  /** address families the main socket can send to: resolved servers of other families are left out */
  families: ReadonlySet<4 | 6>;
  /** birthday sockets; null where the main socket has no IPv4 (the session then gets none) */
  pool: UdpSocketPool | null;
  /** how often the interface addresses are read (default 5000 ms; the NAT session's regather gap) */
  interfacePollMs?: number;
  /** name resolution is given up after this long (default 5000 ms; offline DNS can hang much longer) */
  resolveTimeoutMs?: number;
  /** the router I/O for the session's `map_port` / `unmap_port`; null: none (the session's port mapping is off) */
  portMapper?: PortMapperIo | null;
  clock?: () => number;
  log?: (message: string) => void;
  /**
   * Datagram carriers beside the UDP socket (the WebSocket relays, ws-relays.ts): core's
   * datagrams to an address it owns go to it instead of the socket (routed by address).
   */
  carrier?: DatagramCarrier;
}

/** A carrier of datagrams to some addresses (a WebSocket per relay), besides the UDP socket. */
export interface DatagramCarrier {
  owns(to: Address): boolean;
  send(data: Uint8Array, to: Address): void;
}

/** Datagrams sent per turn before the driver yields to the event loop so receives get processed. */
const MAX_TRANSMITS_PER_TURN = 512;
/** How often (at most, while datagrams arrive) the event loop's utilisation goes to core. */
const LOAD_REPORT_MS = 100;
/** Rounds of (transmit, events) per turn; events may queue more output. */
const MAX_ROUNDS = 32;
/**
 * A deadline at most this far ahead runs on the next turn (setImmediate); a later one, even
 * under a millisecond, waits for a 1 ms timer. Pacing deadlines are mostly sub-millisecond: run
 * on every turn, a sender waiting on its pacer spun the event loop (P1 under load: 7 turns per
 * data packet, each a full pass over the machines), CPU taken from the receiver on the same
 * cores. The pacer's bucket holds 2 ms of sending (reliability's pacer.ts), so the rate holds
 * across a timer; what changes is that a paced sender sends in bursts of about a millisecond.
 */
const DUE_SLACK_MS = 0.02;

/**
 * The one loop that touches sockets and timers (DESIGN.md §1). It runs two sans-IO machines side
 * by side: core's endpoint (connections) and punch's NAT session (gathering, dial verdicts,
 * birthday, binding keepalive), plus the façade's own deadlines ({@link TimerQueue}):
 *
 * - receive (main socket = 0, pool sockets ≥ 1): `session.handle` first, the rest to core;
 * - send: the session's transmits leave from the socket they name, core's from `session.route`;
 * - one OS timer at the earliest of `endpoint.pollTimeout()`, `session.pollTimeout()` and the
 *   façade's timers; output drained once per event-loop turn (setImmediate), at most 512
 *   datagrams, handed to the OS 32 at a time as they are built, then it yields so receives are
 *   processed;
 * - the session's requests: `resolve` (names resolved here, in the background, bounded),
 *   `open_sockets` / `close_sockets` (the socket pool); interfaces polled every 5 s.
 */
export class Driver {
  readonly clock: () => number;
  readonly #timers = new TimerQueue();
  readonly #o: Required<Omit<DriverOptions, 'stunServers' | 'log' | 'portMapper' | 'carrier'>> &
    Pick<DriverOptions, 'stunServers' | 'log' | 'portMapper' | 'carrier'>;
  /** port-mapping deletes under way (close waits for them, bounded) */
  readonly #unmapIo = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #scheduled = false;
  #stopped = false;
  #loadAt = Number.NEGATIVE_INFINITY;
  #elu = performance.eventLoopUtilization();
  #cpu = process.cpuUsage();
  #urgent = false;
  readonly #contained = new ContainedCount();
  #resolving = false;
  #resolveAgain = false;
  #hostKey: string | null = null;
  #turnWaiters: Array<() => void> = [];
  readonly #machines: DrivenMachine[] = [];

  constructor(
    readonly endpoint: EndpointApi,
    readonly session: NatMachine,
    private readonly transport: UdpTransport,
    private readonly host: DriverHost,
    options: DriverOptions,
  ) {
    this.#o = { interfacePollMs: 5000, resolveTimeoutMs: 5000, clock: () => performance.now(), ...options };
    this.clock = this.#o.clock;
    transport.onDatagram((data, from) => this.receive(0, data, from));
    transport.onError((err) => this.#sendError(0, err));
    this.#o.pool?.onDatagram((socket, data, from) => this.receive(socket, data, from));
    this.#o.pool?.onError((socket, err) => this.#sendError(socket, err));
    this.#pollInterfaces();
    this.schedule();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  // ------------------------------------------------------------------ timers (the façade's own)

  /** Runs `fn` from the loop at `at` (the driver's clock). Nothing runs after stop(). */
  at(at: number, fn: () => void): Timer {
    const t = this.#timers.add(at, fn);
    if (at < this.#timerAt) this.schedule();
    return t;
  }

  after(ms: number, fn: () => void): Timer {
    return this.at(this.clock() + Math.max(0, ms), fn);
  }

  /** Resolves after `ms` (at once when stopped). */
  sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.after(ms, resolve));
  }

  /** Resolves once the loop has run (its output drained) after this call (at once when stopped). */
  turn(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const p = new Promise<void>((resolve) => this.#turnWaiters.push(resolve));
    this.schedule();
    return p;
  }

  /** Runs `m` in this loop from now on (its timer, its output): no timer of its own. */
  attach(m: DrivenMachine): void {
    this.#machines.push(m);
    this.schedule();
  }

  // ------------------------------------------------------------------ input

  /** A datagram on socket `socket` (0 = main, else a pool socket). */
  receive(socket: number, data: Uint8Array, from: TransportAddress | Address): void {
    if (this.#stopped) return;
    const now = this.clock();
    try {
      if (!this.session.handle(now, socket, from, data)) this.endpoint.handle(now, from, data);
    } catch (err) {
      this.#contain(err);
    }
    if (now - this.#loadAt >= LOAD_REPORT_MS) this.reportLoad(now);
    this.schedule();
  }

  /** A datagram from a carrier that is not a UDP socket (a WebSocket relay): to core only. */
  receiveCarried(data: Uint8Array, from: Address): void {
    if (this.#stopped) return;
    try {
      this.endpoint.handle(this.clock(), from, data);
    } catch (err) {
      this.#contain(err);
    }
    this.schedule();
  }

  /**
   * Datagrams whose handling threw: dropped one by one instead of ending the process (an
   * uncaught exception in a socket's listener would close every connection of the node). The
   * machines drop what they refuse without throwing, so this counts bugs; tests assert it stays 0.
   */
  get contained(): number {
    return this.#contained.count;
  }

  #contain(err: unknown): void {
    if (this.#contained.add())
      this.#o.log?.(`datagram dropped: its handling threw (${this.#contained.count} so far): ${String(err)}`);
  }

  /**
   * The event loop's utilisation since the last report, to core (its handshake cap follows it):
   * the smaller of the loop's busy share of the wall time and the CPU time the process got in it.
   * On a machine with more runnable processes than cores a preempted callback counts as busy
   * loop time though this thread did no work then; halving the handshake cap for that measured
   * other processes, not this one (in P4, clients on the same cores pulled the cap to its floor
   * while the server used a third of a core). The process's CPU time includes its other threads
   * (GC, thread pool), so it never lowers the figure of a thread that is busy itself.
   */
  private reportLoad(now: number): void {
    const elu = performance.eventLoopUtilization();
    const d = performance.eventLoopUtilization(elu, this.#elu);
    const cpu = process.cpuUsage();
    const usedMs = (cpu.user - this.#cpu.user + cpu.system - this.#cpu.system) / 1000;
    this.#cpu = cpu;
    const cpuShare = d.idle + d.active > 0 ? usedMs / (d.idle + d.active) : 1;
    this.#elu = elu;
    this.#loadAt = now;
    this.endpoint.reportLoad?.(now, Math.min(d.utilization, cpuShare));
  }

  /**
   * From now on core's datagrams are sent ahead of the queue and past its limit: the endpoint is
   * closing, and what it sends now are CLOSE frames (queued data was abandoned).
   */
  closing(): void {
    this.#urgent = true;
  }

  /** Something changed (an API call, a datagram): drain output on this turn's check phase. */
  schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(this.#run);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timers.clear();
    for (const w of this.#turnWaiters.splice(0)) w();
  }

  // ------------------------------------------------------------------ the loop

  readonly #run = (): void => {
    this.#scheduled = false;
    if (this.#stopped) return;
    const now = this.clock();
    const e = this.endpoint.pollTimeout();
    if (e !== null && e <= now) this.endpoint.handleTimeout(now);
    const s = this.session.pollTimeout();
    if (s !== null && s <= now) this.session.handleTimeout(now);
    for (const m of this.#machines) {
      const t = m.pollTimeout();
      if (t !== null && t <= now) m.handleTimeout(now);
    }
    for (const fn of this.#timers.due(now)) {
      try {
        fn();
      } catch (err) {
        // a throwing callback must not stop the loop; surface it asynchronously
        queueMicrotask(() => {
          throw err;
        });
      }
      if (this.#stopped) return;
    }
    let sent = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      let progressed = false;
      for (const m of this.#machines) if (m.flush(now)) progressed = true;
      if (this.#stopped) return;
      while (sent < MAX_TRANSMITS_PER_TURN) {
        const t = this.session.pollTransmit(now);
        if (t === null) break;
        this.#send(t.socket, t.data, t.to);
        sent++;
        progressed = true;
      }
      while (sent < MAX_TRANSMITS_PER_TURN) {
        const t = this.endpoint.pollTransmit(now);
        if (t === null) break;
        this.#sendCore(t);
        sent++;
        progressed = true;
      }
      for (let ev = this.session.pollEvent(); ev !== null; ev = this.session.pollEvent()) {
        progressed = true;
        this.#onNatEvent(ev);
        if (this.#stopped) return;
      }
      for (let ev = this.endpoint.pollEvent(); ev !== null; ev = this.endpoint.pollEvent()) {
        progressed = true;
        this.host.onEndpointEvent(ev);
        if (this.#stopped) return;
      }
      if (!progressed || sent >= MAX_TRANSMITS_PER_TURN) break;
    }
    for (const w of this.#turnWaiters.splice(0)) w();
    if (sent >= MAX_TRANSMITS_PER_TURN) {
      // more to send: yield to I/O (receives, ACKs) and continue on the next turn
      this.schedule();
      return;
    }
    this.#arm(now);
  };

  #arm(now: number): void {
    let at = this.#timers.next() ?? Number.POSITIVE_INFINITY;
    const e = this.endpoint.pollTimeout();
    if (e !== null && e < at) at = e;
    const s = this.session.pollTimeout();
    if (s !== null && s < at) at = s;
    for (const m of this.#machines) {
      const t = m.pollTimeout();
      if (t !== null && t < at) at = t;
    }
    if (at === Number.POSITIVE_INFINITY) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      this.#timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (at <= now + DUE_SLACK_MS) {
      this.schedule();
      return;
    }
    if (this.#timer && at === this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(at - now)));
  }

  readonly #fire = (): void => {
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    this.#run();
  };

  // ------------------------------------------------------------------ output

  #sendCore(t: Transmit): void {
    if (this.#o.carrier?.owns(t.to)) {
      this.#o.carrier.send(t.data, t.to);
      return;
    }
    const socket = this.session.route(t.to);
    if (socket !== 0) {
      this.#send(socket, t.data, t.to);
    } else {
      if (this.#urgent) this.transport.sendUrgent(t.data, t.to.host, t.to.port);
      else this.transport.send(t.data, t.to.host, t.to.port);
      // A full batch goes to the OS now, not after the turn. A sender with a full window builds a
      // few hundred packets per turn (~1 ms on loopback): handed over only when the turn ended,
      // none reached the peer until the last was built, so the peer idled, then got them all at
      // once and acknowledged them a batch later, and the sender waited on its window in between
      // (P1 on loopback, issue 19: both processes idle about a third of the transfer).
      this.transport.flushFullBatch();
    }
  }

  #send(socket: number, data: Uint8Array, to: Endpoint): void {
    if (socket === 0) this.transport.send(data, to.host, to.port);
    // a socket the session named but the pool closed already: the datagram is lost, as a send
    // from a closed socket would be
    else this.#o.pool?.send(socket, data, to.host, to.port);
  }

  /** A send failed (ICMP unreachable and the like): tell both machines, never throw. */
  #sendError(socket: number, err: TransportError): void {
    if (this.#stopped || err.host === undefined || err.port === undefined) return;
    const now = this.clock();
    const to = { host: err.host, port: err.port };
    this.endpoint.reportSendError(now, to, err.code);
    this.session.sendFailed(now, socket, to, err.code);
    this.schedule();
  }

  // ------------------------------------------------------------------ the NAT session's requests

  #onNatEvent(e: NatEvent): void {
    switch (e.type) {
      case 'resolve':
        this.#resolve();
        return;
      case 'open_sockets':
        this.#openSockets(e.request, e.count);
        return;
      case 'close_sockets':
        void this.#o.pool?.close(e.ids);
        return;
      case 'map_port':
        this.#mapPort(e);
        return;
      case 'unmap_port':
        this.#unmapPort(e);
        return;
      default:
        this.host.onNatEvent(e);
    }
  }

  /** Asks the router in the background; the answer goes to the session (never throws). */
  #mapPort(e: Extract<PortMappingEvent, { type: 'map_port' }>): void {
    const io = this.#o.portMapper;
    if (!io) {
      this.session.portMapFailed?.(
        this.clock(),
        e.request,
        'NO_GATEWAY',
        'port mapping I/O is not available',
      );
      return;
    }
    void io
      .map({ internal: e.internal, lifetimeMs: e.lifetimeMs, timeoutMs: e.timeoutMs, renew: e.renew })
      .then(
        (r) => {
          if (this.#stopped) return;
          this.session.portMapped?.(this.clock(), e.request, r);
        },
        (err: unknown) => {
          if (this.#stopped) return;
          const code = err instanceof PortMapError ? err.code : 'REFUSED';
          this.session.portMapFailed?.(
            this.clock(),
            e.request,
            code,
            err instanceof Error ? err.message : String(err),
          );
        },
      )
      // the session never throws on what a router says; anything else is a bug to see, not a crash
      .catch((err: unknown) => this.#o.log?.(`port mapping: ${String(err)}`))
      .finally(() => this.schedule());
  }

  #unmapPort(e: Extract<PortMappingEvent, { type: 'unmap_port' }>): void {
    const io = this.#o.portMapper;
    if (!io) return;
    const p = io.unmap(e, 2000).finally(() => this.#unmapIo.delete(p));
    this.#unmapIo.add(p);
  }

  /**
   * At close, after the session's `unmap_port`: stops the map attempts under way (a router that
   * mapped for one of them lets the lease run out) and waits for the deletes, at most `ms`.
   */
  async settlePortMapping(ms: number): Promise<void> {
    const io = this.#o.portMapper;
    if (!io) return;
    io.close();
    if (this.#unmapIo.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#unmapIo]),
      new Promise<void>((r) => {
        timer = setTimeout(r, ms);
      }),
    ]);
    clearTimeout(timer);
  }

  #openSockets(request: number, count: number): void {
    const pool = this.#o.pool;
    if (pool === null) {
      this.session.socketsOpened(this.clock(), request, [], []);
      return;
    }
    pool.open(count).then(
      ({ ids, ports }) => {
        if (this.#stopped) {
          void pool.close(ids);
          return;
        }
        this.#o.log?.(`pool: ${ids.length} of ${count} sockets bound`);
        this.session.socketsOpened(this.clock(), request, ids, ports);
        this.schedule();
      },
      () => {
        if (!this.#stopped) this.session.socketsOpened(this.clock(), request, [], []);
      },
    );
  }

  /**
   * Resolves the STUN server names in the background (never delaying start or a dial), bounded
   * by `resolveTimeoutMs`; what resolved by then goes to the session (`[]`: "no server", which
   * the session says once). A `resolve` during a resolution runs another one after it.
   */
  #resolve(): void {
    if (this.#resolving) {
      this.#resolveAgain = true;
      return;
    }
    this.#resolving = true;
    const names = this.#o.stunServers ?? DEFAULT_STUN_SERVERS.map(parseStunServer);
    const found: StunServerName[] = [];
    const failed: string[] = [];
    let pending = names.length;
    let done = false;
    const finish = (why: string) => {
      if (done) return;
      done = true;
      deadline.cancel();
      this.#resolving = false;
      if (this.#stopped) return;
      this.#o.log?.(
        `STUN servers (${why}): ${found.map((s) => `${s.host}:${s.port}`).join(', ') || 'none'}${failed.length > 0 ? `; not resolved: ${failed.join(', ')}` : ''}`,
      );
      this.session.setStunServers(this.clock(), found.slice());
      this.schedule();
      if (this.#resolveAgain) {
        this.#resolveAgain = false;
        this.#resolve();
      }
    };
    const deadline = this.after(this.#o.resolveTimeoutMs, () => finish('timeout'));
    if (pending === 0) finish('none given');
    for (const n of names) {
      resolveStunServer(n, this.#o.families).then(
        (list) => {
          for (const e of list) if (!found.some((f) => f.host === e.host && f.port === e.port)) found.push(e);
          if (--pending === 0) finish('resolved');
        },
        () => {
          failed.push(`${n.host}:${n.port}`);
          if (--pending === 0) finish('resolved');
        },
      );
    }
  }

  /** Reads the interface addresses now (after a rebind, say) instead of at the next poll. */
  pollInterfaces(): void {
    const list = this.host.hostAddresses();
    const key = list
      .map((a) => `${a.host}|${a.port}`)
      .sort()
      .join(',');
    if (key === this.#hostKey) return;
    const first = this.#hostKey === null;
    this.#hostKey = key;
    this.session.setHostAddresses(this.clock(), list);
    if (!first) this.host.onHostAddressesChanged();
    this.schedule();
  }

  /** Interface polling: a change goes to the session (it gathers again) and the node. */
  readonly #pollInterfaces = (): void => {
    this.pollInterfaces();
    if (this.#o.interfacePollMs > 0) this.after(this.#o.interfacePollMs, this.#pollInterfaces);
  };
}
