import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { MemoryStore, memoryBackend } from '@srmudp/rendezvous-memory';
import { createNode, type SrmudpNode, type SrmudpStream } from 'srmudp';
import { formatBytes, formatRate, type Output, progressBar, table } from './output.js';

export interface DemoOptions {
  /** size of the file sent from A to D (default 50 MiB) */
  fileBytes?: number;
  out?: Output;
  /** show a live progress bar (default: when stdout is a TTY) */
  tty?: boolean;
}

export interface DemoResult {
  ok: boolean;
  established: number;
  messages: { sent: number; received: number; misdelivered: number };
  file: { bytes: number; ms: number; sha256: string; match: boolean };
}

const NAMES = ['A', 'B', 'C', 'D'] as const;
type Name = (typeof NAMES)[number];

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Four peers on loopback, joined through a rendezvous backend: each publishes a signed record of
 * its addresses, and the others know it only by a contact card (peer id + locator, no IP:port).
 */
export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const out = opts.out ?? ((line: string) => console.log(line));
  const fileBytes = opts.fileBytes ?? 50 * 1024 * 1024;
  const store = new MemoryStore();
  const nodes = {} as Record<Name, SrmudpNode>;
  const result: DemoResult = {
    ok: false,
    established: 0,
    messages: { sent: 0, received: 0, misdelivered: 0 },
    file: { bytes: fileBytes, ms: 0, sha256: '', match: false },
  };
  try {
    out('srmudp demo: four peers on loopback, found through a rendezvous backend (in-memory)');
    out('');
    out('1. Peers start, publish their signed address records and hand out contact cards');
    for (const n of NAMES) {
      nodes[n] = await createNode({ host: '127.0.0.1', rendezvous: [memoryBackend({ store })] });
      const a = nodes[n].address();
      out(`   ${n}  ${nodes[n].peerId}  ${a.host}:${a.port}`);
    }
    // cards carry only the peer id and the locator: the address comes from the signed record
    const cards = Object.fromEntries(
      NAMES.map((n) => [n, nodes[n].contactCard({ candidates: false })]),
    ) as Record<Name, string>;
    out(`   A's contact card: ${cards.A.slice(0, 48)}... (${cards.A.length} chars, no IP:port inside)`);
    out('');
    out('2. Each peer adds the others by card; connections come up');
    const t0 = performance.now();
    for (const n of NAMES) {
      nodes[n].peers.add(Object.fromEntries(NAMES.filter((o) => o !== n).map((o) => [o, cards[o]])));
    }
    for (const n of NAMES) {
      const others = NAMES.filter((o) => o !== n);
      await until(
        () => others.every((o) => nodes[n].status()[o]?.state === 'established'),
        15_000,
        `${n} to connect`,
      );
    }
    out(
      `   full mesh of ${NAMES.length * (NAMES.length - 1)} directions established in ${(performance.now() - t0).toFixed(0)} ms`,
    );
    for (const n of NAMES) {
      const s = nodes[n].status();
      result.established += NAMES.filter((o) => o !== n && s[o]?.state === 'established').length;
    }
    out('');
    out('3. Group messages');
    const cases: Array<{ from: Name; to?: Name[]; text: string }> = [
      { from: 'A', text: 'hello everyone' },
      { from: 'B', to: ['A', 'C'], text: 'psst, A and C only' },
      { from: 'C', to: ['D'], text: 'just for D' },
    ];
    for (const c of cases) {
      const expected = c.to ?? NAMES.filter((n) => n !== c.from);
      const sentTo = nodes[c.from].send(c.text, c.to ? { to: c.to } : {});
      result.messages.sent += sentTo.length;
      const got: string[] = [];
      for (const n of NAMES.filter((x) => x !== c.from)) {
        const m = await nodes[n].receive({ timeout: expected.includes(n) ? 5000 : 150 });
        if (m === null) continue;
        const ok = m.peer === c.from && new TextDecoder().decode(m.data) === c.text && expected.includes(n);
        if (ok) {
          got.push(n);
          result.messages.received++;
        } else result.messages.misdelivered++;
      }
      const label = `${c.from} -> ${c.to ? `[${c.to.join(', ')}]` : 'all'}`;
      out(`   ${label.padEnd(12)} "${c.text}"  received by ${got.join(', ') || 'nobody'}`);
    }
    out('');
    out("   paths and round-trip times, smoothed and smallest (the handshakes' samples queue behind");
    out('   the 12 handshakes this one process runs at once; a few PINGs after each connection opens');
    out('   re-measure, and the smallest sample so far resets the estimate):');
    for (const n of NAMES) {
      const s = nodes[n].status();
      const cells = NAMES.filter((o) => o !== n).map((o) => {
        const p = s[o];
        const addr =
          p?.path?.kind === 'direct'
            ? `${p.path.address.host}:${p.path.address.port}`
            : (p?.path?.kind ?? '-');
        return `${o} ${p?.path?.kind ?? '?'} ${addr} rtt ${p?.rttMs?.toFixed(2) ?? '?'} ms (min ${p?.minRttMs?.toFixed(2) ?? '?'})`;
      });
      out(`   ${n}: ${cells.join(' | ')}`);
    }
    out('');
    out(`4. A sends a ${formatBytes(fileBytes)} file to D over one encrypted stream`);
    const file = await sendFile(nodes.A, nodes.D, fileBytes, out, opts.tty ?? process.stdout.isTTY === true);
    result.file = { bytes: fileBytes, ...file };
    out(
      `   ${formatBytes(fileBytes)} in ${(file.ms / 1000).toFixed(2)} s = ${formatRate((fileBytes * 1000) / file.ms)}; ` +
        `SHA-256 ${file.match ? 'matches' : 'DIFFERS'} (${file.sha256.slice(0, 16)}...)`,
    );
    out('');
    out('5. Status');
    const rows: string[][] = [
      ['peer', 'sees', 'state', 'path', 'rtt ms', 'min rtt', 'loss', 'sent', 'received'],
    ];
    for (const n of NAMES) {
      const s = nodes[n].status();
      for (const o of NAMES.filter((x) => x !== n)) {
        const p = s[o];
        rows.push([
          n,
          o,
          p?.state ?? '-',
          p?.path?.kind ?? '-',
          p?.rttMs?.toFixed(2) ?? '-',
          p?.minRttMs?.toFixed(2) ?? '-',
          p?.lossRate !== null && p?.lossRate !== undefined ? `${(p.lossRate * 100).toFixed(1)}%` : '-',
          formatBytes(p?.bytesSent ?? 0),
          formatBytes(p?.bytesReceived ?? 0),
        ]);
      }
    }
    for (const line of table(rows)) out(`   ${line}`);
    result.ok =
      result.established === NAMES.length * (NAMES.length - 1) &&
      result.messages.received === result.messages.sent &&
      result.messages.misdelivered === 0 &&
      result.file.match;
    out('');
    out(result.ok ? 'demo OK' : 'demo FAILED');
    return result;
  } finally {
    await Promise.all(Object.values(nodes).map((n) => n.close()));
  }
}

async function sendFile(
  from: SrmudpNode,
  to: SrmudpNode,
  bytes: number,
  out: Output,
  tty: boolean,
): Promise<{ ms: number; sha256: string; match: boolean }> {
  const connA = from.connection('D');
  const connD = to.connection('A');
  if (!connA || !connD) throw new Error('A and D are not connected');
  const incoming = connD.streams().next();
  const sendHash = createHash('sha256');
  const t0 = performance.now();
  const stream = connA.openStream();
  const chunk = 256 * 1024;
  const writer = (async () => {
    for (let sent = 0; sent < bytes; sent += chunk) {
      const part = randomBytes(Math.min(chunk, bytes - sent));
      sendHash.update(part);
      if (!stream.write(part)) await once(stream, 'drain');
    }
    stream.end();
  })();
  const first = await incoming;
  if (first.done) throw new Error('D got no stream');
  const rx: SrmudpStream = first.value;
  const recvHash = createHash('sha256');
  const bar = progressBar(out, bytes, tty);
  let received = 0;
  for await (const part of rx) {
    recvHash.update(part as Buffer);
    received += (part as Buffer).length;
    bar.update(received, performance.now() - t0);
  }
  await writer;
  const ms = performance.now() - t0;
  bar.done(received, ms);
  const sha256 = recvHash.digest('hex');
  return { ms, sha256, match: received === bytes && sha256 === sendHash.digest('hex') };
}
