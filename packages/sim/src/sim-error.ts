/** Codes of {@link SimError}. */
export type SimErrorCode =
  | 'SIM_BOUND_EXCEEDED' // driveBounded/drive ran more steps than allowed
  | 'SIM_NODE_FAILED' // a node threw from handle/handleTimeout/poll*
  | 'SIM_TEST_FAILED'; // failWithSeed

/**
 * Error of the simulator. Shaped like `SrmudpError` (string `code`, `cause`) without depending on
 * `@srmudp/wire`; the message always contains `seed=<seed>` so a failing run can be replayed.
 */
export class SimError extends Error {
  readonly code: SimErrorCode;
  readonly seed: string;
  constructor(code: SimErrorCode, seed: string, message: string, options?: { cause?: unknown }) {
    super(`${message} (seed=${seed})`, options);
    this.code = code;
    this.seed = seed;
    this.name = 'SimError';
  }
}

/** Throws a {@link SimError} whose message names the seed: use it for assertions in sim tests. */
export function failWithSeed(seed: number | string, message: string, cause?: unknown): never {
  throw new SimError('SIM_TEST_FAILED', String(seed), message, cause === undefined ? undefined : { cause });
}

/**
 * Runs `fn(seed)`; if it throws (or its promise rejects) and the error does not already name the
 * seed, rethrows a {@link SimError} naming it with the original as `cause`.
 */
export function withSeed<T>(seed: number | string, fn: (seed: number | string) => T): T {
  const wrap = (e: unknown): never => {
    if (e instanceof SimError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new SimError('SIM_TEST_FAILED', String(seed), msg, { cause: e });
  };
  let out: T;
  try {
    out = fn(seed);
  } catch (e) {
    return wrap(e);
  }
  if (out instanceof Promise) return out.catch(wrap) as T;
  return out;
}

/** A node's exception as a SimError naming the host, the call, the time and the seed (a SimError passes as is). */
export function nodeFailed(seed: string, host: string, what: string, now: number, e: unknown): SimError {
  if (e instanceof SimError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new SimError('SIM_NODE_FAILED', seed, `host "${host}" ${what} threw at t=${now}ms: ${msg}`, {
    cause: e,
  });
}
