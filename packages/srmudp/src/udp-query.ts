/**
 * One UDP question to a router, asked the way NAT-PMP (nat-pmp.ts) and SSDP (ssdp-search.ts)
 * both need it: from an ephemeral port on each of some local addresses, sent again on a
 * schedule until the first acceptable answer or the abort. A socket that fails is closed and
 * left out; nothing a datagram holds can throw here (`answer` returns null for what it does not
 * accept), and every socket, timer and listener is gone when it settles.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export interface UdpQuery<T> {
  /** Local addresses to ask from, one socket each on an ephemeral port (undefined: any). */
  readonly from: readonly (string | undefined)[];
  readonly to: { readonly host: string; readonly port: number };
  readonly request: Uint8Array;
  /** The wait after the `sent`-th sending (1, 2, …) before the next. */
  readonly retryMs: (sent: number) => number;
  /** The answer in a datagram, or null to ignore it (must not throw). */
  readonly answer: (msg: Buffer, from: RemoteInfo) => T | null;
  /** Socket options once bound (may throw: that socket is then left out). */
  readonly setup?: (socket: Socket, address: string | undefined) => void;
  readonly signal: AbortSignal;
  readonly log?: (message: string) => void;
}

/**
 * The first answer, or null once `signal` aborts, or when no socket could ask (at once when
 * `from` is empty).
 */
export function udpQuery<T>(q: UdpQuery<T>): Promise<T | null> {
  return new Promise<T | null>((resolve) => {
    const sockets = new Set<Socket>();
    /** sockets whose bind completed (the repeats go out on these) */
    const bound = new Set<Socket>();
    let timer: ReturnType<typeof setTimeout> | null = null;
    let sent = 0;
    let done = false;
    const close = (s: Socket) => {
      try {
        s.close();
      } catch {
        // never bound (its bind failed): nothing to close
      }
    };
    const finish = (found: T | null) => {
      if (done) return;
      done = true;
      if (timer !== null) clearTimeout(timer);
      q.signal.removeEventListener('abort', onAbort);
      for (const s of sockets) close(s);
      sockets.clear();
      resolve(found);
    };
    const onAbort = () => finish(null);
    const drop = (s: Socket, why: string) => {
      q.log?.(`port mapping: socket to ${q.to.host}:${q.to.port} ${why}`);
      bound.delete(s);
      if (sockets.delete(s)) close(s);
      if (sockets.size === 0) finish(null);
    };
    const send = (s: Socket) => {
      try {
        s.send(q.request, q.to.port, q.to.host, (err) => {
          if (err) q.log?.(`port mapping: not sent to ${q.to.host}:${q.to.port}: ${err.message}`);
        });
      } catch (err) {
        drop(s, `cannot send: ${(err as Error).message}`);
      }
    };
    const again = () => {
      if (done) return;
      for (const s of bound) send(s);
      timer = setTimeout(again, q.retryMs(++sent));
    };
    if (q.signal.aborted || q.from.length === 0) {
      finish(null);
      return;
    }
    q.signal.addEventListener('abort', onAbort, { once: true });
    for (const address of q.from) {
      const s = createSocket({ type: 'udp4' });
      sockets.add(s);
      s.on('error', (err) => drop(s, `on ${address ?? 'any address'} failed: ${err.message}`));
      s.on('message', (msg, rinfo) => {
        const found = q.answer(msg, rinfo);
        if (found !== null) finish(found);
      });
      s.bind(0, address, () => {
        if (done) return;
        try {
          q.setup?.(s, address);
        } catch (err) {
          drop(s, `on ${address ?? 'any address'}: ${(err as Error).message}`);
          return;
        }
        bound.add(s);
        // the first socket bound starts the schedule; later ones send at once and join it
        if (timer === null) again();
        else send(s);
      });
    }
  });
}
