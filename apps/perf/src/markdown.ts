// Why ~465 lines: docs/performance.md is mostly prose and table templates, one section per
// experiment; the measurements live in p1.ts-p4.ts and profile.ts, the summary in report.ts.
/** The markdown rendering of a report: docs/performance.md. */
import { marginalHeap, type P4Result } from './p4.js';
import type { ProfileResult } from './profile.js';
import type { Report } from './report.js';
import { ratio } from './stats.js';

function f(n: number | null | undefined, digits = 1): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return 'n/a';
  const a = Math.abs(n);
  if (a !== 0 && a < 0.01) return n.toExponential(2);
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function fr(n: number): string {
  return Number.isFinite(n) ? `${f(n, n < 10 ? 2 : 1)}×` : 'n/a';
}

function range(s: { median: number; min: number; max: number; n: number }, d = 1): string {
  if (s.n === 0) return 'n/a';
  return s.n > 1 ? `${f(s.median, d)} (${f(s.min, d)}–${f(s.max, d)})` : f(s.median, d);
}

/** P1's sentence on the sender's segmentation offload (its last srmudp run). */
function gsoText(g: { sent: number; datagrams: number; sends: number } | null | undefined): string {
  if (g === null || g === undefined || g.sent === 0) return '';
  if (g.datagrams === 0)
    return '; the sender sent without UDP segmentation offload (not built or not available here)';
  return `; the sender sent ${f((100 * g.datagrams) / g.sent)} % of its datagrams with UDP segmentation offload (Linux UDP_SEGMENT, @srmudp/transport-node), ${f(g.datagrams / g.sends)} per sendmsg on average`;
}

/** P1's sentence on the receiver's batched receive (its last srmudp run). */
function recvBatchText(
  r: { received: number; datagrams: number; batches: number; coalesced?: number | null } | null | undefined,
): string {
  if (r === null || r === undefined || r.received === 0) return '';
  if (r.batches === 0)
    return '; the receiver read every datagram through node:dgram (batched receive not available here)';
  const batched = `; the receiver read ${f((100 * r.datagrams) / r.received)} % of its datagrams in batches (recvmmsg, @srmudp/transport-node), ${f(r.datagrams / r.batches)} per call on average`;
  // (a report written before the transport counted coalesced reads has no such field)
  if (r.coalesced === null || r.coalesced === undefined) return batched;
  if (r.coalesced === 0) return `${batched}, none of them coalesced (UDP_GRO off or not available here)`;
  return `${batched}; ${f((100 * r.coalesced) / r.received)} % arrived coalesced, several datagrams to one read (Linux UDP_GRO), cut apart by the transport`;
}

function table(head: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** How P4's warm figures were taken: the median of the steady batches after the warm-up, or
 * (reports written before 2026-12-07) the one batch after `warmupBatches`, the cold one included. */
function steadyText(p: P4Result): string {
  const w = p.warmupBatches ?? 0;
  const s = p.steadyBatches;
  if (s === undefined)
    return `the batch of ${p.peers} connections after ${w} warm-up batch${w === 1 ? '' : 'es'} (the cold one included).`;
  if (s === 0) return 'not measured in this run (no steady batch).';
  return `after the cold batch and ${w} warm-up batch${w === 1 ? '' : 'es'} of ${p.peers} connections (discarded: the CPU per handshake
fell over the first four or five batches on 2026-12-07), ${s === 1 ? `one batch of ${p.peers}` : `the median of ${s} batches of ${p.peers}, each figure's own (one batch varies by about ±15% on a shared 2-core machine)`}.`;
}

/** "cold / warm" cell of the P4 table (warm n/a when no warm batch ran) */
function coldWarm(cold: number, warm: number | undefined, digits: number): string {
  return `${f(cold, digits)} / ${f(warm, digits)}`;
}

/** The marginal heap per connection under the P4 table, when a scaling point was measured. */
export function p4MarginalText(p: P4Result): string {
  const big = p.rows.find((x) => x.proto === 'srmudp' && x.established > 0);
  const small = p.scaling.find((x) => x.proto === 'srmudp' && x.established > 0);
  const m = big && small ? marginalHeap(small, big) : null;
  if (!big || !m) return '';
  return `

Marginal heap per connection (srmudp): **${f(m.bytesPerConn / 1024, 1)} KiB**, the slope between the
${m.fromPeers}- and ${m.toPeers}-peer rows: (heap growth at ${m.toPeers} − heap growth at ${m.fromPeers}) ÷
${m.toPeers - m.fromPeers}. The heap per connection in the table (${f(big.heapBytesPerConn / 1024, 1)} KiB at ${big.peers}) divides
all the server's growth by the connections, one-time costs included: code V8 compiles and
optimises during the first handshakes, caches and tables sized on first use (~${f((big.heapBytesPerConn - m.bytesPerConn) / 1024, 1)} KiB per
connection here, that is ~${f(((big.heapBytesPerConn - m.bytesPerConn) * big.heapConnections) / 1e6, 1)} MB once).`;
}

/**
 * `[native] send` is the socket's send (transport-node's sendmsg with segmentation offload, else
 * node:dgram's binding); on loopback the kernel delivers the datagram (and
 * processes the CPU's pending receive backlog) inside that syscall, so its self time is mostly
 * the kernel's work, not srmudp's JavaScript. Per datagram it shows where that cost lands.
 */
function sendNote(pr: ProfileResult): string {
  const per = (list: ProfileResult['top'], n: number | null) => {
    const e = list.find((x) => !x.file && x.fn === 'send');
    return e && n
      ? `${f((e.selfMs * 1000) / n, 1)} µs per datagram over ${n.toLocaleString('en-US')} datagrams`
      : 'n/a';
  };
  return `Reading it: \`[native] send\` is the socket's send: @srmudp/transport-node's own \`sendmsg\`
where its native module is built (UDP segmentation offload: one call carries a run of datagrams for
one destination), else node:dgram's binding. On loopback the kernel delivers each datagram (and
drains the CPU's pending receive backlog) inside the sending syscall, so this self time is mostly
kernel work: sender ${per(pr.sender, pr.datagramsSent.sender)}; receiver (ACKs)
${per(pr.receiver, pr.datagramsSent.receiver)} (a receiver send also pays for delivering the data
packets queued for it). The crypto backend of this transfer was ${pr.backend ?? 'n/a'}${
    pr.backend === 'node'
      ? ` (node:crypto's per-packet cipher objects: \`initiv\`, \`CipherBase\`, \`update\`,
\`final\`, one createCipheriv/createDecipheriv per packet)`
      : pr.backend === 'sodium'
        ? ' (libsodium: its seal and open are the sodium-native binding functions)'
        : ''
  }; the rest of the JavaScript-side cost is garbage collection and reliability's packet assembly
and receive buffer.`;
}

export function renderMarkdown(r: Report): string {
  const m = r.machine;
  const parts: string[] = [];
  parts.push(`# srmudp performance

Generated by \`${r.command}\` (apps/perf, mode **${r.mode}**) on ${r.generatedAt}, ${f(r.wallSeconds, 0)} s wall time.
Every figure is shown next to its reference measured **in the same run** on the same machine, as a
ratio (srmudp ÷ reference). MB = 10⁶ bytes, MiB = 2²⁰ bytes. Regenerate with \`pnpm bench\` (full)
or \`pnpm --filter @srmudp/perf report --quick\` (smoke run, written to a temporary directory);
see apps/perf/README.md.

## Machine

${table(
  ['CPU', 'cores', 'memory', 'Node', 'kernel', 'load average at start (1/5/15 min)'],
  [
    [
      m.cpuModel,
      `${m.cores}${m.cpuQuota ? ` (cgroup quota ${f(m.cpuQuota, 1)})` : ''}`,
      `${f(m.memoryGiB, 1)} GiB`,
      m.node,
      m.kernel,
      m.loadAverageAtStart.join(' / '),
    ],
  ],
)}

The machine is shared (2 cores, other work may run at the same time): absolute figures move with
the load; ratios between runs interleaved in the same minutes are the stable part.

Code measured: commit \`${r.source?.commit ?? 'unknown'}\`${
    r.source?.uncommitted.length
      ? ` plus uncommitted changes in ${r.source.uncommitted.map((x) => `\`${x}\``).join(', ')}`
      : ''
  }.`);

  parts.push(`## Summary (ratios)

${
  r.summary.length === 0
    ? 'No figure was measured (see below).'
    : table(
        ['figure', 'srmudp', 'reference (same run)', 'ratio srmudp ÷ ref', 'target'],
        r.summary.map((l) => [
          l.figure,
          `${f(l.srmudp, l.srmudp < 10 ? 2 : 1)} ${l.unit}`,
          `${l.referenceName}: ${f(l.reference, l.reference < 10 ? 2 : 1)} ${l.unit}`,
          fr(l.ratio),
          l.target ? `${l.target.text}: ${l.met === undefined ? 'n/a' : l.met ? 'met' : '**not met**'}` : '',
        ]),
      )
}`);

  if (r.python) {
    parts.push(`**Against the original Python srmudp/srudp**: it quotes ${r.python.quotedMbit} Mbps; srmudp's
P1 median here is ${f(r.python.srmudpMbit, 0)} Mbit/s, ${fr(r.python.ratio)} that figure (the Python figure
is the one the original project quotes; it was not measured on this machine, and its conditions
are not known here, so this ratio is indicative only).`);
  }

  if (r.p1) {
    const p = r.p1;
    const floorBackend = p.rows.find((x) => x.proto === 'sealed-udp')?.backend ?? null;
    parts.push(`## P1: single-stream goodput on loopback

Two processes on 127.0.0.1, one stream, ${f(p.bytes / 2 ** 20, 0)} MiB of random data written in 64 KiB
chunks with backpressure, ${p.repeat} run(s) per implementation, interleaved (every implementation
once, then again). Goodput = bytes ÷ (receiver's last byte − first byte). CPU = user + system seconds
of both processes (process.cpuUsage) over the transfer, per MB delivered; for srmudp also per data
packet on each side (sender CPU ÷ packets it sent, receiver CPU ÷ packets it received). Peak RSS =
maxRSS of each process (includes Node's own ~40–100 MiB baseline). srmudp: default congestion
controller, encryption on (Noise IK, ChaCha20-Poly1305), datagram size from its PMTU discovery
(${p.srmudpPmtu ?? 'n/a'} bytes of UDP payload at the end of the run; not configurable in the façade)${gsoText(p.srmudpGso)}${recvBatchText(p.srmudpRecvBatch)}; the
first srmudp row uses the crypto backend the façade picks by itself (libsodium through sodium-native
when its prebuild loads, else node:crypto, else noble), the next ones force node:crypto and noble.
Hyperswarm: what users of the Holepunch stack run, a udx-native stream wrapped in
@hyperswarm/secret-stream (Noise XX handshake, then libsodium's secretstream, XChaCha20-Poly1305,
one message per write). udx-native: two UDX sockets, one stream each, no encryption. Node TCP:
net.Server / net.connect. Median (min–max).

${table(
  [
    'implementation',
    'crypto backend',
    'goodput MB/s',
    'CPU ms per MB',
    'CPU µs/packet sender',
    'CPU µs/packet receiver',
    'peak RSS sender MiB',
    'peak RSS receiver MiB',
    'note',
  ],
  p.rows.map((row) => [
    row.label,
    row.backend ?? '',
    range(row.goodputMBps),
    range(
      {
        ...row.cpuSecPerMB,
        median: row.cpuSecPerMB.median * 1000,
        min: row.cpuSecPerMB.min * 1000,
        max: row.cpuSecPerMB.max * 1000,
      },
      2,
    ),
    row.cpuUsPerPacketSender ? range(row.cpuUsPerPacketSender, 1) : '',
    row.cpuUsPerPacketReceiver ? range(row.cpuUsPerPacketReceiver, 1) : '',
    range(row.peakRssSenderMiB, 0),
    range(row.peakRssReceiverMiB, 0),
    row.failures.length
      ? `${row.failures.length} of ${row.failures.length + row.runs.length} runs failed (see below)`
      : '',
  ]),
)}
${
  p.rows.some((row) => row.failures.length)
    ? `\nFailed runs (not counted in the figures; a failed run is replaced by an extra run):\n\n${p.rows
        .flatMap((row) => row.failures.map((x) => `- ${row.proto}: ${x.slice(0, 600)}`))
        .join('\n')}\n`
    : ''
}
The two floor rows send 1,452-byte datagrams open loop (32 per event-loop turn, no reliability,
no congestion or flow control; what is lost is not counted) and the receiver counts what arrives
(and, sealed, authenticates: ChaCha20-Poly1305 with the packet number as nonce through srmudp's own
backend, ${floorBackend ?? 'n/a'} in this run, as srmudp does). The sealed floor is what any encrypted
protocol can reach with this runtime and backend. Per 1,400-byte datagram and side, measured on this
machine: libsodium about 1.6 µs, node:crypto about 6.5 µs (it has no reusable AEAD context, so
each datagram pays a fixed ~5 µs of cipher set-up), @noble/ciphers about 17 µs.

Reference measured earlier on this machine (issue 5): udx-native about 230 MB/s, raw Node UDP about
420 MB/s at 1,200-byte datagrams. The project's targets: srmudp ≥ 0.5 × udx-native and ≥ 1.0 ×
Hyperswarm, CPU per MB ≤ 2 × udx-native's.`);
  }

  if (r.profile) {
    const pr = r.profile;
    const rows = (list: ProfileResult['top']) =>
      list.map((e, i) => [
        String(i + 1),
        e.file ? `${e.file}:${e.fn}${e.line > 1 ? ` (line ${e.line})` : ''}` : `[native] ${e.fn}`,
        `${f(e.pct, 1)} %`,
        f(e.selfMs, 0),
      ]);
    parts.push(`## CPU profile of srmudp's P1 (node --cpu-prof)

One extra srmudp transfer of ${f(pr.bytes / 2 ** 20, 0)} MiB profiled in both processes with V8's
sampling CPU profiler (the one behind \`node --cpu-prof\`, started through node:inspector when the
transfer starts and stopped when it ends, so start-up and module loading are excluded; 0.5 ms
sampling), ${f(pr.goodputMBps, 1)} MB/s under the profiler, crypto backend ${pr.backend ?? 'n/a'}. Self
time per function, idle excluded,
% of all non-idle samples. \`[native]\` = V8/Node built-ins and native addons without a JS file
(\`send\` is the socket's send: transport-node's segmentation offload module, else node:dgram's binding, \`initiv\`/\`update\` are node:crypto's cipher bindings, \`(program)\` is
V8 itself).

Sender and receiver together:

${table(['#', 'file:function', 'self %', 'self ms'], rows(pr.top))}

By file (self time summed over its functions):

${table(
  ['#', 'file', 'self %', 'self ms'],
  pr.byFile.map((e, i) => [String(i + 1), e.file, `${f(e.pct, 1)} %`, f(e.selfMs, 0)]),
)}

${sendNote(pr)}

<details><summary>Sender only / receiver only</summary>

Sender:

${table(['#', 'file:function', 'self %', 'self ms'], rows(pr.sender))}

Receiver:

${table(['#', 'file:function', 'self %', 'self ms'], rows(pr.receiver))}

</details>`);
  }

  if (r.handshakeProfile) {
    const h = r.handshakeProfile;
    parts.push(`## CPU profile of the srmudp server during handshakes

The P4 server (one srmudp node) profiled the same way while ${h.peers} clients connect
(${f(h.handshakesPerSec, 0)} handshakes/s, ${f(h.serverCpuMsPerHandshake, 2)} ms of server CPU per
handshake, crypto backend ${h.backend ?? 'n/a'}), from its first to its last accepted connection, ${
      h.warmupBatches
        ? `in steady state: after ${h.warmupBatches} batch${h.warmupBatches > 1 ? 'es' : ''} of ${h.peers} fresh clients (the cold one included), connected and dropped`
        : 'the first connections after the server started (cold)'
    }.
What the primitives cost per IK handshake on the responder: four X25519 (about 30 µs each in
libsodium or node:crypto here), one X25519 key generation (about 12 µs in libsodium), the check
that the initiator's static key is its peer id's X25519 image (about 3 µs: the birational map's
equation; builds before this check converted the key, about 33-90 µs in libsodium, which also
checks the key is in the prime-order subgroup, and every P4 client is a new peer),
about 15 HMAC-BLAKE2s and 10 BLAKE2s (about 2 µs each in node:crypto), the keyed BLAKE2s MACs
of the DoS protection (mac1, and under load the cookie and mac2: @noble/hashes, 4-7 µs each, since
node:crypto has no keyed BLAKE2s) and three AEAD calls: roughly 0.3 ms. Samples inside a native
addon are charged to the JS function that called it (\`(native)\`): V8 names every N-API function
of an addon after the last one registered (sodium-native's X25519 showed up as
"extension_pbkdf2_sha512_async"). \`dispatch\` under \`node:inspector\` is the profiler itself.

${table(
  ['#', 'file:function', 'self %', 'self ms'],
  h.top.map((e, i) => [
    String(i + 1),
    e.file ? `${e.file}:${e.fn}${e.line > 1 ? ` (line ${e.line})` : ''}` : `[native] ${e.fn}`,
    `${f(e.pct, 1)} %`,
    f(e.selfMs, 0),
  ]),
)}

By file:

${table(
  ['#', 'file', 'self %', 'self ms'],
  h.byFile.map((e, i) => [String(i + 1), e.file, `${f(e.pct, 1)} %`, f(e.selfMs, 0)]),
)}`);
  }

  if (r.p2) {
    const p = r.p2;
    parts.push(`## P2: goodput through the NAT lab (40 ms RTT, 1 % loss, 100 Mbit/s)

Topology: ${p.topology}. Impairments on natA's public link, both directions: ${p.impairment.delayMsEachWay} ms delay
each way (RTT ${2 * p.impairment.delayMsEachWay} ms), ${p.impairment.lossPctEachWay} % random loss each way, tbf
${p.impairment.rateMbit} Mbit/s each way (impairment backend: ${p.impairBackend ?? 'n/a'}). The sender writes
without end; goodput = bytes the receiver got in a ${p.windowSeconds} s window after ${p.warmupSeconds} s of
warm-up. TCP runs through the same lab: once with the namespace's default congestion control
(${p.tcpCongestionControl ?? 'n/a'}) and once with cubic, set on hostA's default route
(\`ip route … congctl cubic\`; the namespace's sysctl is read-only in this sandbox); \`ss -ti\` on
the sender's socket during the window shows which one ran.

${
  p.ran
    ? table(
        [
          'sender',
          'goodput Mbit/s',
          '÷ TCP default',
          '÷ TCP cubic',
          'RTT seen (smoothed / min) ms',
          'loss rate seen',
          'note',
        ],
        p.rows.map((row) => {
          const ref = p.rows.find((x) => x.variant === 'tcp');
          const cub = p.rows.find((x) => x.variant === 'tcp-cubic');
          return [
            row.label,
            f(row.goodputMbit, 2),
            fr(ratio(row.goodputMbit, ref?.goodputMbit)),
            fr(ratio(row.goodputMbit, cub?.goodputMbit)),
            row.rttMs !== null ? `${f(row.rttMs, 1)} / ${f(row.minRttMs, 1)}` : '',
            row.lossRate !== null ? `${f(row.lossRate * 100, 2)} %` : '',
            [
              row.tcpCongestionSeen !== undefined
                ? `ss -ti on the sender: ${row.tcpCongestionSeen ?? 'not seen'}`
                : '',
              row.error ? `failed: ${row.error.slice(0, 200)}` : '',
            ]
              .filter(Boolean)
              .join('; '),
          ];
        }),
      )
    : `**Not measured**: ${p.reason ?? 'unknown reason'}`
}`);
  }

  if (r.p3) {
    const p = r.p3;
    parts.push(`## P3: connect(card) to first byte, eim × eim

Topology: ${p.topology}. Path RTT between the hosts: ${p.configuredRttMs} ms (configured delay). Both
nodes gather their reflexive candidate from the STUN server at start (not counted); cards are
exchanged by hand and both peers call \`connect(card)\` at the same moment (eim NATs filter by
address and port: both must send); A opens a stream and writes one byte once connected. Figure:
A's \`connect()\` call → B receives the byte (same machine clock), ${p.runs.length} run(s).

${
  p.ran && p.ms && p.rtts
    ? table(
        [
          'connect → first byte ms',
          'in RTTs (÷ configured RTT)',
          'srmudp min RTT on the connection ms',
          'path',
        ],
        [
          [
            range(p.ms, 1),
            range(p.rtts, 2),
            p.measuredRttMs ? range(p.measuredRttMs, 1) : 'n/a',
            JSON.stringify((p.runs[0]?.path as { kind?: string } | null)?.kind ?? null),
          ],
        ],
      ) + (p.reason ? `\n\nNote: ${p.reason}` : '')
    : `**Not measured**: ${p.reason ?? 'unknown reason'}`
}`);
  }

  if (r.p4) {
    const p = r.p4;
    parts.push(`## P4: ${p.peers} peers on one node

One server process (srmudp: one node on one UDP socket; reference: a Node net.Server) accepts
${p.peers} connections from ${p.clientProcesses} client processes (each client endpoint has its own socket;
at most ${p.concurrencyPerProcess} handshakes in flight per client process; srmudp clients: ${
      (p.client ?? 'node') === 'light'
        ? 'bare @srmudp/core endpoints, the real protocol without the façade'
        : 'full srmudp nodes'
    }). Handshakes are measured twice. **Cold**: the first ${p.peers} connections after the server
process started, V8's JIT warm-up (parsing, compiling, optimising the handshake path) included.
**Warm** (steady state, what a server running for days pays): ${steadyText(p)}
Between batches the clients close every connection and the server drops them (it waits until it
holds no connection, closing periods included; no forced GC, which would throw away the JIT's
optimised code); each batch comes from fresh clients: new sockets and newly generated
identities, so no key the server saw before (no hit in its caches of peers' keys, replay or
timestamp tables). The Node TCP reference runs the same batches. Memory: the server's
\`process.memoryUsage()\` after forced GC, after the cold batch, minus the same before any client
connected, ÷ connections: one-time costs (compiled code, tables sized on first use) included, as
before the warm-up existed; the idle window runs on the warm batch.
Handshakes per second: connections ÷ (go → the server saw the last one); client and server share
the 2 cores (the clients' initiator work is close to the server's, and there are
${p.clientProcesses} of them), so this rate measures the clients too: the server's own CPU per
accepted connection is shown too, and 1000 ÷ it is what one server core would accept with the
clients elsewhere (the summary's "one server core" lines: steady state against the 2,000/s
target, and cold). Idle CPU: the server's CPU over ${p.idleSeconds} s with every connection established
and idle (keepalives only), per connection per second. Datagrams per handshake: what the server's
socket sent and received from its first to its last accepted connection ÷ connections (IK
initiation, the cookie round trip while unconfirmed initiations exceed the cookie threshold, response, the
first packet each way, the initiator's ACK).

${table(
  [
    'server',
    'established',
    'heap KiB/conn',
    'external KiB/conn',
    'RSS KiB/conn',
    'handshakes/s cold / warm',
    'server CPU ms/handshake cold / warm',
    'server datagrams out / in per handshake, cold; warm',
    'connect median / p99 ms (cold batch)',
    'idle CPU µs/conn/s',
    'idle datagrams/conn/s',
    'note',
  ],
  [...p.rows, ...p.scaling, ...(p.variants ?? [])].map((row) => [
    `${row.label}${row.backend ? `, ${row.backend} backend` : ''}${row.peers !== p.peers ? `, ${row.peers} peers (scaling point)` : ''}${row.variant ? `, ${row.variant}` : ''}`,
    `${row.established}/${row.peers}`,
    f(row.heapBytesPerConn / 1024, 1),
    f(row.externalBytesPerConn / 1024, 2),
    f(row.rssBytesPerConn / 1024, 1),
    coldWarm(row.handshakesPerSec, row.warmHandshakesPerSec, 0),
    coldWarm(row.serverCpuMsPerHandshake, row.warmServerCpuMsPerHandshake, 2),
    row.proto === 'srmudp'
      ? `${f(row.serverDatagramsSentPerHandshake, 2)} / ${f(row.serverDatagramsReceivedPerHandshake, 2)}; ${f(row.warmServerDatagramsSentPerHandshake, 2)} / ${f(row.warmServerDatagramsReceivedPerHandshake, 2)}`
      : 'kernel',
    `${f(row.connectMedianMs, 1)} / ${f(row.connectP99Ms, 1)}`,
    f(row.idleCpuUsPerConnPerSec, 2),
    row.proto === 'srmudp' ? f(row.idlePacketsPerConnPerSec, 3) : 'kernel',
    [
      row.error ? `failed: ${row.error.slice(0, 200)}` : '',
      row.failed ? `${row.failed} failed: ${row.firstError ?? ''}` : '',
      row.keepaliveMs ? `keepalive ${row.keepaliveMs} ms` : '',
      row.proto === 'srmudp' && Number.isFinite(row.serverCookieRepliesPerHandshake)
        ? `cookie replies per handshake ${f(row.serverCookieRepliesPerHandshake, 2)} / ${f(row.warmServerCookieRepliesPerHandshake, 2)} (cold / warm)`
        : '',
      (row.batchCpuMsPerHandshake?.length ?? 0) > 2
        ? `CPU ms/handshake by batch: ${row.batchCpuMsPerHandshake.map((x) => f(x, 3)).join(', ')}`
        : '',
      Number.isFinite(row.warmHeapBytesPerConn)
        ? `heap after the last batch ${f(row.warmHeapBytesPerConn / 1024, 1)} KiB/conn (same baseline)`
        : '',
    ]
      .filter(Boolean)
      .join('; '),
  ]),
)}${p4MarginalText(p)}`);
  }

  if (r.notMeasured.length) {
    parts.push(`## Not measured

${r.notMeasured.map((n) => `- **${n.figure}**: ${n.reason}`).join('\n')}`);
  }
  parts.push(`The same data as JSON: [performance.json](performance.json).`);
  return `${parts.join('\n\n')}\n`;
}
