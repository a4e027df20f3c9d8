import { parseCard } from '@srmudp/rendezvous';
import type { Connection } from '../../connection.js';
import { createNode } from '../../create-node.js';
import type { DialEvent, SrmudpNode } from '../../node.js';
import type { SrmudpStream } from '../../stream.js';
import { CodeOffer, codePassword, formatCode, looksLikeCode, parseCode, resolveCode } from '../code/code.js';
import { CodeGate, proveCode } from '../code/pake.js';
import {
  CARD_GATHER_WAIT_MS,
  CliError,
  type Command,
  cliLog,
  EXIT,
  NODE_OPTION_HELP,
  NODE_OPTIONS,
  nodeOptionsFrom,
  onInterrupt,
} from '../common.js';
import { ControlServer } from '../control.js';
import { formatBytes, formatRate } from '../format.js';
import {
  CODE_ATTEMPTS_OPTION,
  CONNECT_TIMEOUT_OPTION,
  codeAttemptsOption,
  connectTimeoutOption,
  DEFAULT_CONNECT_TIMEOUT_MS,
  RENDEZVOUS_OPTION,
  rendezvousServer,
} from '../options.js';
import { style } from '../style.js';

/** The app tag of pipe cards. */
export const PIPE_APP = 'srmudp-pipe/1';

const options = {
  ...NODE_OPTIONS,
  ...RENDEZVOUS_OPTION,
  ...CONNECT_TIMEOUT_OPTION,
  ...CODE_ATTEMPTS_OPTION,
} as const;

export const pipeCommand: Command<typeof options> = {
  name: 'pipe',
  summary:
    "stdin to the other side's stdout, both ways, like netcat: one side waits, the other dials its card or code",
  usage: '[<card> | <code>] [options]',
  options,
  optionHelp: [
    ...NODE_OPTION_HELP,
    [
      'rendezvous <server>',
      'waiting side: offer a short code on this server; dialling side: the server of a code without "@server"',
    ],
    ['connect-timeout <ms>', 'dialling side: give up after this long (default 15000)'],
    ['code-attempts <n>', 'waiting side: withdraw the code after this many failed code checks (default 3)'],
  ],
  notes: [
    'Without a card it waits for one peer and prints its card (or short code) on stderr; with one it',
    'dials it. Each side sends its stdin and writes what arrives to its stdout; a side ends its',
    'sending when its stdin ends (a terminal as stdin ends when the other side has finished), and',
    'exits once both directions are done. Encrypted end to end; only the first peer is taken.',
  ],
  examples: [
    'tar c mydir | srmudp pipe                 # prints a card on stderr, waits',
    'srmudp pipe srmudp2:Vq3… | tar x         # on the other machine',
    'srmudp pipe --rendezvous rv.example.org < big.iso   # prints a short code instead',
  ],
  exits: [
    [EXIT.ok, 'both directions finished'],
    [EXIT.failed, 'cannot start: key file, port in use, rendezvous server'],
    [EXIT.usage, 'usage error, invalid card or code, or a card of another program'],
    [EXIT.peer, 'the other side is unreachable or was lost before the end'],
    [EXIT.verify, 'the short code did not match (or was withdrawn after failed checks)'],
    [EXIT.interrupted, 'interrupted (Ctrl-C)'],
  ],
  async run({ values, positionals }) {
    const nodeOpts = nodeOptionsFrom(values);
    const server = rendezvousServer(values);
    const connectTimeout = connectTimeoutOption(values) ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const attempts = codeAttemptsOption(values);
    const target =
      positionals.length === 0 ? null : positionals.join(looksLikeCode(positionals.join(' ')) ? ' ' : '');
    const s = style(process.stderr);
    const say = (l: string) => process.stderr.write(`${s.dim(l)}\n`);
    // refuse what can be refused before binding anything
    let card: string | null = null;
    let code: ReturnType<typeof parseCode> | null = null;
    if (target !== null) {
      if (looksLikeCode(target)) code = parseCode(target, server);
      else {
        const parsed = parseCard(target);
        if (parsed.app !== undefined && parsed.app !== PIPE_APP)
          throw new CliError(EXIT.usage, `that card is for ${parsed.app}, not a waiting srmudp pipe`);
        card = target;
      }
    }
    const node = await createNode({ ...nodeOpts });
    // a card or code we offer carries our public NAT mapping: wait for the first gathering (bounded)
    if (target === null) await node.nat.ready({ timeoutMs: CARD_GATHER_WAIT_MS });
    const control = await ControlServer.start(node, 'pipe', () => ({
      sent: counts.sent,
      received: counts.received,
    }));
    const counts = { sent: 0, received: 0 };
    const ac = new AbortController();
    const stopInterrupt = onInterrupt(() => ac.abort());
    let offer: CodeOffer | null = null;
    try {
      let conn: Connection;
      let stream: SrmudpStream;
      if (target === null) {
        ({ conn, stream, offer } = await waitForPeer(node, server, attempts, say, ac.signal));
      } else {
        const onDial = (e: DialEvent) =>
          say(
            `connecting to ${e.peerId ? e.peerId.slice(0, 12) : 'the other side'} (${e.addresses.length} address${e.addresses.length === 1 ? '' : 'es'})…`,
          );
        node.on('dial', onDial);
        if (card !== null) conn = await node.connect(card, { signal: ac.signal, timeout: connectTimeout });
        else {
          const c = code as NonNullable<typeof code>;
          say(`looking up code ${c.nameplate} on ${c.server}…`);
          const addresses = await resolveCode(c, ac.signal);
          conn = await Promise.any(
            addresses.map((a) =>
              node.connect({ host: a.host, port: a.port }, { signal: ac.signal, timeout: connectTimeout }),
            ),
          ).catch((e: unknown) => {
            throw e instanceof AggregateError ? e.errors[0] : e;
          });
          await proveCode(conn, node.peerId, codePassword(c));
        }
        node.off('dial', onDial);
        stream = conn.openStream();
      }
      say(
        `connected to ${conn.peerId.slice(0, 12)} (${conn.path ? `${conn.path.kind} ${conn.path.address.host}:${conn.path.address.port}` : 'no path'})`,
      );
      const t0 = performance.now();
      await pump(stream, conn, counts, ac.signal);
      const secs = (performance.now() - t0) / 1000;
      say(
        `done: sent ${formatBytes(counts.sent)}, received ${formatBytes(counts.received)} in ${secs.toFixed(2)} s` +
          ` (${formatRate((counts.sent + counts.received) / Math.max(secs, 0.001))})`,
      );
      await conn.close(0, 'pipe done');
      return EXIT.ok;
    } catch (e) {
      if (ac.signal.aborted) throw new CliError(EXIT.interrupted, 'interrupted');
      throw e;
    } finally {
      stopInterrupt();
      control?.close();
      await offer?.withdraw();
      await node.close();
    }
  },
};

/** The waiting side: prints its card (or a code) and takes the first peer (that proved the code). */
async function waitForPeer(
  node: SrmudpNode,
  server: string | undefined,
  attempts: number,
  say: (l: string) => void,
  signal: AbortSignal,
): Promise<{ conn: Connection; stream: SrmudpStream; offer: CodeOffer | null }> {
  let offer: CodeOffer | null = null;
  let gate: CodeGate | null = null;
  let exhausted: (e: Error) => void = () => {};
  const gaveUp = new Promise<never>((_, reject) => {
    exhausted = reject;
  });
  gaveUp.catch(() => {});
  if (server !== undefined) {
    offer = await CodeOffer.create(server, node.candidates());
    gate = await CodeGate.create(node.peerId, codePassword(offer.code), attempts, () =>
      exhausted(
        new CliError(EXIT.verify, 'too many failed code checks: the code was withdrawn (someone guessing?)'),
      ),
    );
    const code = formatCode(offer.code);
    process.stderr.write(`short code: ${code}\non the other side run:  srmudp pipe ${code}\n`);
  } else {
    const card = node.contactCard({ app: PIPE_APP });
    process.stderr.write(`contact card:\n${card}\non the other side run:  srmudp pipe ${card}\n`);
  }
  say('waiting for the other side…');
  const taken = new Promise<{ conn: Connection; stream: SrmudpStream }>((resolve, reject) => {
    let busy = false;
    const onConnection = (conn: Connection) => {
      if (busy) {
        void conn.close(0, 'busy: this pipe has its peer');
        return;
      }
      const admitted = gate ? gate.admit(conn) : Promise.resolve(true);
      void admitted.then((ok) => {
        if (!ok || busy) return;
        busy = true;
        node.off('connection', onConnection);
        // from the queue of incoming streams: one that arrived before this line is not missed
        conn
          .streams(signal)
          .next()
          .then(
            (r) =>
              r.done
                ? reject(new CliError(EXIT.peer, 'the other side left before opening its stream'))
                : resolve({ conn, stream: r.value }),
            reject,
          );
      });
    };
    node.on('connection', onConnection);
    signal.addEventListener('abort', () => reject(new CliError(EXIT.interrupted, 'interrupted')), {
      once: true,
    });
  });
  const r = await Promise.race([taken, gaveUp]);
  cliLog(`pipe peer ${r.conn.peerId.slice(0, 12)}`);
  return { ...r, offer };
}

/**
 * stdin → stream (FIN at stdin's end, or at the remote's end when stdin is a terminal) and
 * stream → stdout; resolves when both directions are done, rejects when the peer is lost first.
 */
function pump(
  stream: SrmudpStream,
  conn: Connection,
  counts: { sent: number; received: number },
  signal: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let readDone = false;
    let writeDone = false;
    const stdinTTY = process.stdin.isTTY === true;
    const finish = () => {
      if (!readDone || !writeDone) return;
      cleanup();
      // everything written to stdout reaches it before we report done
      process.stdout.write('', () => resolve());
    };
    const fail = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onClose = (info: { reason: string; remote: boolean }) => {
      if (readDone && writeDone) return;
      // A close after the peer's FIN and every byte before it arrived (the peer's close, or our
      // idle timeout) keeps the stream: it ends by itself ('end', 'finish') once stdout takes its
      // bytes. Only a stream the close tore down (destroyed) lost something.
      if (!stream.destroyed) return;
      fail(
        new CliError(
          EXIT.peer,
          `lost the other side after ${counts.sent} bytes sent, ${counts.received} received (${info.reason || 'closed'})`,
        ),
      );
    };
    const onAbort = () => fail(new CliError(EXIT.interrupted, 'interrupted'));
    const cleanup = () => {
      conn.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
      process.stdin.unpipe(stream);
      process.stdin.pause();
    };
    conn.on('close', onClose);
    signal.addEventListener('abort', onAbort, { once: true });
    stream.on('error', (e) => fail(new CliError(EXIT.peer, `the stream failed: ${e.message}`)));
    // receive
    stream.on('data', (chunk: Buffer) => {
      counts.received += chunk.length;
      if (!process.stdout.write(chunk)) {
        stream.pause();
        process.stdout.once('drain', () => stream.resume());
      }
    });
    stream.on('end', () => {
      readDone = true;
      if (stdinTTY && !writeDone) stream.end(); // a terminal has no end: the other side finished, so do we
      finish();
    });
    // send
    process.stdin.on('data', (chunk: Buffer) => {
      counts.sent += chunk.length;
    });
    process.stdin.pipe(stream);
    stream.on('finish', () => {
      writeDone = true;
      finish();
    });
  });
}
