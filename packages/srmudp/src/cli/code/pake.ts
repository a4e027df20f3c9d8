import * as opaque from '@serenity-kit/opaque';
import { z } from 'zod';
import type { Connection } from '../../connection.js';
import type { SrmudpStream } from '../../stream.js';
import { CliError, cliLog, EXIT } from '../common.js';
import { encodeLine, parseLine, readLine } from '../send/protocol.js';

/**
 * Proving knowledge of a short code over an established srmudp connection, with OPAQUE (RFC 9807)
 * from `@serenity-kit/opaque` (opaque-ke compiled to WebAssembly; security review by 7ASecurity).
 * OPAQUE is an asymmetric PAKE; we use it symmetrically: the offering side (OPAQUE's server)
 * registers the code itself for each connection, then the connecting side logs in with it.
 *
 * - Both sides pass the two Noise static keys as OPAQUE identifiers (client = the connecting
 *   peer's id, server = the offering peer's id), so the exchange is bound to this Noise session:
 *   someone in the middle holds a session with each side under its own key and the identifiers
 *   differ on the two sides, so the login fails even when the password is right.
 * - A wrong code (or a relay of messages) fails both ways: the client's finishLogin returns
 *   nothing (the server's MAC in KE2 does not verify), the server's finishLogin throws on KE3.
 * - Each KE1/KE2 exchange lets the connecting side test one password: the offering side counts
 *   every exchange that did not end in a verified KE3 as a failed attempt (see CodeGate).
 * - Key stretching (argon2id in OPAQUE) protects a stored registration record; ours lives for one
 *   connection in memory and is never stored, so a light setting is enough (8 MiB, 2 passes).
 *
 * Messages: JSON lines on the first stream the connecting side opens.
 *   client → {"v":1,"op":"pake","ke1":…}     server → {"ok":true,"ke2":…}
 *   client → {"ke3":…} or {"abort":true}      server → {"ok":true} or {"ok":false,"message":…}
 */
const KEY_STRETCHING = { 'argon2id-custom': { memory: 8192, iterations: 2, parallelism: 1 } } as const;
const b64 = z.string().min(1).max(4096);
const ke1Schema = z.strictObject({ v: z.literal(1), op: z.literal('pake'), ke1: b64 });
const ke2Schema = z.strictObject({ ok: z.literal(true), ke2: b64 });
const ke3Schema = z.union([z.strictObject({ ke3: b64 }), z.strictObject({ abort: z.literal(true) })]);
const doneSchema = z.union([
  z.strictObject({ ok: z.literal(true) }),
  z.strictObject({ ok: z.literal(false), message: z.string().max(512) }),
]);

const MISMATCH =
  'the code did not match: mistyped, or someone other than the sender answered (nothing was exchanged)';

/** The connecting side: proves it knows `password`; throws CliError(EXIT.verify) when the codes differ. */
export async function proveCode(
  conn: Connection,
  ownPeerId: string,
  password: string,
  timeoutMs = 30_000,
): Promise<void> {
  await opaque.ready;
  const identifiers = { client: ownPeerId, server: conn.peerId };
  const stream = conn.openStream();
  stream.on('error', () => {}); // surfaced through readLine
  const timer = setTimeout(
    () => stream.destroy(new Error(`no answer to the code check within ${timeoutMs / 1000} s`)),
    timeoutMs,
  );
  try {
    const { clientLoginState, startLoginRequest } = opaque.client.startLogin({ password });
    stream.write(encodeLine({ v: 1, op: 'pake', ke1: startLoginRequest }));
    const ke2 = parseLine(await readLine(stream), z.union([ke2Schema, doneSchema]));
    if (!('ke2' in ke2))
      throw new CliError(
        EXIT.verify,
        ke2.ok ? MISMATCH : `the sender refused the code check: ${ke2.message}`,
      );
    const done = opaque.client.finishLogin({
      clientLoginState,
      loginResponse: ke2.ke2,
      password,
      identifiers,
      keyStretching: KEY_STRETCHING,
    });
    if (done === undefined) {
      stream.end(encodeLine({ abort: true }));
      throw new CliError(EXIT.verify, MISMATCH);
    }
    stream.end(encodeLine({ ke3: done.finishLoginRequest }));
    const answer = parseLine(await readLine(stream), doneSchema);
    if (!answer.ok) throw new CliError(EXIT.verify, `${MISMATCH} (${answer.message})`);
    cliLog(`code proven to ${conn.peerId.slice(0, 12)}`);
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(EXIT.peer, `the code check with the sender failed: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    clearTimeout(timer);
    stream.resume();
  }
}

/**
 * The offering side: admits a connection once its peer proved the code (on the first stream it
 * opens). Counts failed attempts; after `maxAttempts` it calls `onExhausted` (withdraw the code)
 * and admits nobody else.
 */
export class CodeGate {
  failures = 0;
  private readonly serverSetup: string;
  private exhausted = false;

  private constructor(
    private readonly ownPeerId: string,
    private readonly password: string,
    readonly maxAttempts: number,
    private readonly onExhausted: () => void,
  ) {
    this.serverSetup = opaque.server.createSetup();
  }

  static async create(
    ownPeerId: string,
    password: string,
    maxAttempts: number,
    onExhausted: () => void,
  ): Promise<CodeGate> {
    await opaque.ready;
    return new CodeGate(ownPeerId, password, maxAttempts, onExhausted);
  }

  get closed(): boolean {
    return this.exhausted;
  }

  /** Resolves true when the peer proved the code, false otherwise (the connection is then closed). */
  async admit(conn: Connection, timeoutMs = 30_000): Promise<boolean> {
    const short = conn.peerId.slice(0, 12);
    if (this.exhausted) {
      void conn.close(0, 'code withdrawn');
      return false;
    }
    const stream = await firstStream(conn, timeoutMs);
    if (stream === null) {
      void conn.close(0, 'no code check');
      return false;
    }
    stream.on('error', () => {});
    const timer = setTimeout(() => stream.destroy(new Error('code check timed out')), timeoutMs);
    let counted = false;
    try {
      const first = parseLine(await readLine(stream), ke1Schema);
      const identifiers = { client: conn.peerId, server: this.ownPeerId };
      const { clientRegistrationState, registrationRequest } = opaque.client.startRegistration({
        password: this.password,
      });
      const { registrationResponse } = opaque.server.createRegistrationResponse({
        serverSetup: this.serverSetup,
        userIdentifier: conn.peerId,
        registrationRequest,
      });
      const { registrationRecord } = opaque.client.finishRegistration({
        clientRegistrationState,
        registrationResponse,
        password: this.password,
        identifiers,
        keyStretching: KEY_STRETCHING,
      });
      const { serverLoginState, loginResponse } = opaque.server.startLogin({
        serverSetup: this.serverSetup,
        registrationRecord,
        startLoginRequest: first.ke1,
        userIdentifier: conn.peerId,
        identifiers,
      });
      // from here the peer can test one password: it is an attempt until KE3 verifies
      counted = true;
      this.failures++;
      stream.write(encodeLine({ ok: true, ke2: loginResponse }));
      const third = parseLine(await readLine(stream), ke3Schema);
      if ('abort' in third) throw new Error('the receiver gave up: wrong code');
      opaque.server.finishLogin({ serverLoginState, finishLoginRequest: third.ke3, identifiers });
      this.failures--;
      counted = false;
      stream.end(encodeLine({ ok: true }));
      cliLog(`code proven by ${short}`);
      return true;
    } catch (e) {
      cliLog(`code check of ${short} failed: ${(e as Error).message}`);
      if (!stream.destroyed) stream.end(encodeLine({ ok: false, message: 'code check failed' }));
      setTimeout(() => void conn.close(0, 'code check failed'), 200).unref();
      if (counted && this.failures >= this.maxAttempts && !this.exhausted) {
        this.exhausted = true;
        this.onExhausted();
      }
      return false;
    } finally {
      clearTimeout(timer);
      stream.resume();
    }
  }
}

/**
 * The first stream the peer opens, or null when the connection closes or `timeoutMs` passes
 * first. Taken from the connection's queue of incoming streams, so a stream that arrived before
 * we asked is not missed.
 */
async function firstStream(conn: Connection, timeoutMs: number): Promise<SrmudpStream | null> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const r = await conn.streams(ac.signal).next();
    return r.done ? null : r.value;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}
