/**
 * The endpoint's dials (`connect`): a target is validated (typed errors before any state changes),
 * then joins the live connection the peer already has (more candidates, relay circuits), waits
 * (for a relay circuit, or for the peer's previous connection to finish draining), fails
 * (`LIMIT`, `RELAY_REFUSED`, crypto's refusal) or starts its handshake on crypto's channel; and a
 * dial's failed handshake becomes a typed `CoreError` (`handshakeFailure`), as the keys an
 * established connection loses become its close's reason (`keysLost`).
 *
 * Sessions a handshake produces are endpoint-sessions.ts; relay circuits endpoint-circuits.ts;
 * routing of datagrams and crypto's output, and the accept policy, are endpoint.ts.
 */
import type { FailureCode, SecureChannel, SecureEndpoint } from '@srmudp/crypto';
import { type Address, addressKey, checkAddress, copyAddress, equalBytes, SrmudpError } from '@srmudp/wire';
import type { ConnectTarget, LogSink } from './api.js';
import type { CoreConnection } from './connection.js';
import type { ConnectionTable } from './connection-table.js';
import type { EndpointCircuits } from './endpoint-circuits.js';
import { alreadyConnected, type EndpointSessions } from './endpoint-sessions.js';
import { CoreError } from './errors.js';

/** What the dial side of the endpoint needs from the endpoint. */
export interface DialsHost {
  /** our static public key (a dial to it is refused) */
  readonly localKey: Uint8Array;
  /** the connections and their indexes (by key, by channel) */
  readonly table: ConnectionTable;
  /** crypto's endpoint: opens (or reuses) a dial's channel */
  readonly secure: SecureEndpoint;
  /** crypto's sessions as connections (a reused channel may already be established) */
  readonly sessions: EndpointSessions;
  /** relay circuits of dials through relays */
  readonly circuits: EndpointCircuits;
  /** core's log; null: silent */
  readonly log: LogSink | null;
  /** the connection limit (`maxConnections`) */
  readonly maxConnections: number;
  /** true once the endpoint is closing or closed: no new dials */
  isClosing(): boolean;
  /** a new connection, added to the table under the next id */
  newConnection(outgoing: boolean, remoteKey: Uint8Array | null): CoreConnection;
  /** drains crypto's events and transmits after a call into it */
  afterSecure(now: number): void;
}

/** `connect`: validation, joining or waiting, and the start of a dial's handshake. */
export class EndpointDials {
  constructor(private readonly host: DialsHost) {}

  connect(now: number, target: ConnectTarget): CoreConnection {
    const { key, relays } = validateTarget(now, target, this.host.localKey);
    // log lines as `this.host.log?.(…)`: the browser bundle strips such calls (no log sink there)
    const { table, circuits } = this.host;
    if (this.host.isClosing()) throw new CoreError('ENDPOINT_CLOSED', 'the endpoint is closed');
    circuits.at(now);
    if (key !== undefined) {
      const existing = table.ofKey(key);
      if (existing !== undefined && (existing.state === 'established' || existing.state === 'handshaking')) {
        // more candidates: the handshake tries them too, an established connection probes the better ones
        this.host.log?.(`${existing.label()} dialled again: ${target.addresses.length} more candidate(s)`);
        table.addCandidates(now, existing, target.addresses);
        // relays: a handshake goes on through them; an established connection gets the circuit
        // as a standby route (its direct path was lost, or its relayed route died with a relay)
        circuits.request(now, existing, relays);
        return existing;
      }
    }
    const conn = this.host.newConnection(true, key ? key.slice() : null);
    table.addCandidates(now, conn, target.addresses);
    this.host.log?.(
      `${conn.label()} dial (${key ? 'IK' : 'XX, key unknown'}): ${target.addresses.map(addressKey).join(', ')}`,
    );
    if (relays.length > 0) {
      circuits.request(now, conn, relays);
      if (target.addresses.length === 0) {
        // relayed only: the handshake starts once a circuit is bound
        if (!circuits.pending(conn)) {
          conn.fail(now, new CoreError('RELAY_REFUSED', 'no relay of the target is connected to us'));
        } else if (key && table.ofKey(key) === undefined) {
          // found by key meanwhile: a second dial joins this one (no second circuit), and an
          // incoming handshake from the peer is this connection's
          table.setKey(key, conn);
        }
        return conn;
      }
    }
    if (table.live() > this.host.maxConnections) {
      conn.fail(now, new CoreError('LIMIT', `at most ${this.host.maxConnections} connections`));
      return conn;
    }
    const closing = key ? table.ofKey(key) : undefined;
    if (key && closing !== undefined && closing.state === 'closing' && !closing.isFinished) {
      // The previous connection to this peer is still draining on the same Noise channel:
      // start the new handshake once it is gone, so the two can never share a session.
      table.setKey(key, conn);
      closing.deferUntilFinished(conn);
      return conn;
    }
    const started = this.startHandshake(now, conn);
    this.host.afterSecure(now);
    return started;
  }

  /**
   * Starts the handshake of a dial that waited (for its predecessor to finish, or for a relay
   * circuit); when crypto hands it a channel a live connection already holds, it fails
   * ALREADY_CONNECTED naming that connection.
   */
  startDeferred(now: number, conn: CoreConnection): void {
    const got = this.startHandshake(now, conn);
    if (got !== conn) conn.fail(now, alreadyConnected(got, conn.remoteKey as Uint8Array));
    this.host.afterSecure(now);
  }

  /** Opens (or reuses) crypto's channel for an outgoing connection and sends the initiation. */
  private startHandshake(now: number, conn: CoreConnection): CoreConnection {
    const table = this.host.table;
    const key = conn.remoteKey ?? undefined;
    let channel: SecureChannel;
    try {
      channel = this.host.secure.connect(now, {
        address: copyAddress(conn.channels.candidates[0] as Address),
        ...(key ? { remoteKey: key } : {}),
      });
    } catch (e) {
      // INVALID_PEER_ID (not an Ed25519 point) and the like: a typed failure event
      const err =
        e instanceof SrmudpError && (e.code === 'INVALID_PEER_ID' || e.code === 'CLOSED')
          ? new CoreError(e.code, e.message, { cause: e })
          : new CoreError('HANDSHAKE_FAILED', String(e), { cause: e });
      conn.fail(now, err);
      return conn;
    }
    const owner = table.ofChannel(channel);
    if (owner !== undefined && owner !== conn && !owner.isFinished) {
      // crypto reused a channel that already belongs to a live connection (an incoming one)
      table.discard(conn);
      owner.channels.addCandidates(conn.channels.candidates);
      table.markOutgoing(owner);
      return owner;
    }
    if (key) table.setKey(key, conn);
    conn.channels.use(channel);
    table.bindChannel(channel, conn);
    if (channel.isEstablished) {
      // the channel was established by an incoming handshake we had not surfaced yet
      this.host.sessions.establish(now, conn, channel, { address: channel.address, handshakeRttMs: null });
    }
    return conn;
  }
}

/** A dial's target checked (typed errors, nothing changed yet): its remote key and relays. */
function validateTarget(
  now: number,
  target: ConnectTarget,
  localKey: Uint8Array,
): { key: Uint8Array | undefined; relays: NonNullable<ConnectTarget['relays']> } {
  if (!Number.isFinite(now)) throw new TypeError(`"now" expected a finite number, got ${now}`);
  if (typeof target !== 'object' || target === null || !Array.isArray(target.addresses)) {
    throw new TypeError('"target" expected { addresses: Address[], remoteKey?: Uint8Array }');
  }
  const relays = target.relays ?? [];
  if (!Array.isArray(relays)) throw new TypeError('"target.relays" expected an array');
  for (const r of relays) {
    if (typeof r !== 'object' || r === null || !(r.key instanceof Uint8Array) || r.key.length !== 32) {
      throw new TypeError('"target.relays" expected { key: 32-byte Uint8Array, voucher?: Uint8Array }[]');
    }
  }
  if (relays.length > 0 && target.remoteKey === undefined) {
    throw new TypeError('"target.remoteKey" is required to connect through relays');
  }
  if (target.addresses.length === 0 && relays.length === 0) {
    throw new RangeError('"target.addresses" must not be empty');
  }
  for (let i = 0; i < target.addresses.length; i++)
    checkAddress(target.addresses[i], `target.addresses[${i}]`);
  const key = target.remoteKey;
  if (key !== undefined) {
    if (!(key instanceof Uint8Array) || key.length !== 32) {
      throw new TypeError('"target.remoteKey" expected a 32-byte Uint8Array');
    }
    if (equalBytes(key, localKey)) throw new RangeError('cannot connect to our own key');
  }
  return { key, relays };
}

/** A dial's failed handshake (crypto's `failed` code) as the connection's typed error. */
export function handshakeFailure(code: FailureCode): CoreError {
  switch (code) {
    case 'HANDSHAKE_TIMEOUT':
      return new CoreError(
        'HANDSHAKE_TIMEOUT',
        'no authenticated answer before the handshake timeout (wrong key, refused, or unreachable)',
      );
    case 'PEER_REFUSED':
      return new CoreError('REFUSED', 'the remote key was refused by the accept policy');
    case 'SESSION_EXPIRED':
      return new CoreError('SESSION_EXPIRED', `handshake failed (${code})`);
  }
}

/**
 * Why an established connection lost its keys (crypto's `failed` code after establishment), as
 * the reason of its SESSION_EXPIRED close.
 */
export function keysLost(code: FailureCode): string {
  switch (code) {
    case 'SESSION_EXPIRED':
      return 'session keys expired and no rekey was answered';
    case 'HANDSHAKE_TIMEOUT':
      // the early session of a simultaneous open, or a new session of ours the peer never confirmed
      return 'the peer never used the new session (no packet under its keys within the handshake timeout)';
    case 'PEER_REFUSED':
      return "the peer's key was refused on a rekey (the accept policy)";
  }
}
