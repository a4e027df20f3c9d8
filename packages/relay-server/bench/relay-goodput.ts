// pnpm bench (packages/relay-server): in one run, interleaved, as ratios against references
// measured in the same run:
//   goodput of a stream through the relay over WebSocket vs over UDP vs a plain `ws` forwarder
//   (the floor: no crypto, no reliability, no limits); relay CPU per forwarded MB (from
//   /proc/<pid>/stat of the relay process); memory per idle WebSocket client (relay RSS and heap,
//   from its /metrics, before and after N idle clients).
// The relay runs as its own process (the built bin), the clients in this one.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { RelayPeer } from '../src/testing/index.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const MB = 1 << 20;
const SIZE = Number(process.env.BENCH_MB ?? 16) * MB;
const REPS = Number(process.env.BENCH_REPS ?? 3);
const IDLE = Number(process.env.BENCH_IDLE ?? 500);
const CLK = 100; // USER_HZ on Linux

interface Proc {
  child: ChildProcess;
  lines: string[];
}

function start(args: string[], ready: RegExp): Promise<Proc & { match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')}: not ready in 30 s`)), 30_000);
    let buf = '';
    child.stdout?.on('data', (c: Buffer) => {
      buf += c;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        const m = ready.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ child, lines, match: m });
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)));
  });
}

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK; // utime + stime (fields 14, 15)
}

async function metric(http: string, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const re = new RegExp(`^${name}${label.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm');
  return Number(re.exec(text)?.[1] ?? Number.NaN);
}

async function relayRun(
  kind: 'ws' | 'udp',
  relay: { url: string; udp: number; key: Uint8Array; pid: number; http: string },
) {
  const carrier =
    kind === 'ws'
      ? ({ kind: 'ws', url: relay.url } as const)
      : ({ kind: 'udp', host: '127.0.0.1', port: relay.udp } as const);
  const a = await RelayPeer.start({ relayKey: relay.key, carrier });
  const b = await RelayPeer.start({ relayKey: relay.key, carrier });
  try {
    await Promise.all([a.ready(), b.ready()]);
    const ab = await a.connectTo(b.publicKey);
    const ba = await b.acceptedFrom(a.publicKey);
    const data = new Uint8Array(randomBytes(SIZE));
    const bytes0 = await metric(relay.http, 'srmudp_relay_forwarded_bytes_total');
    const cpu0 = cpuSeconds(relay.pid);
    const t0 = performance.now();
    const [got] = await Promise.all([b.receiveStream(ba, 300_000), a.sendStream(ab, data, 300_000)]);
    const ms = performance.now() - t0;
    const cpu = cpuSeconds(relay.pid) - cpu0;
    const forwarded = (await metric(relay.http, 'srmudp_relay_forwarded_bytes_total')) - bytes0;
    if (got.length !== SIZE) throw new Error(`${kind}: ${got.length} of ${SIZE} bytes`);
    return { mbps: SIZE / MB / (ms / 1000), cpuPerMB: cpu / (forwarded / MB) };
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}

async function floorRun(port: number, pid: number, rep: number) {
  const url = `ws://127.0.0.1:${port}/?pair=p${rep}`;
  const open = (w: WebSocket) => new Promise((r) => w.once('open', r));
  const a = new WebSocket(url, { perMessageDeflate: false });
  const b = new WebSocket(url, { perMessageDeflate: false });
  await Promise.all([open(a), open(b)]);
  await new Promise((r) => setTimeout(r, 50));
  const chunk = 1200; // about an srmudp packet
  const total = Math.floor(SIZE / chunk) * chunk;
  let received = 0;
  const done = new Promise<void>((resolve) =>
    b.on('message', (d: Buffer) => {
      received += d.length;
      if (received >= total) resolve();
    }),
  );
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const payload = randomBytes(chunk);
  for (let sent = 0; sent < total; sent += chunk) {
    a.send(payload);
    if (a.bufferedAmount > 1 << 20) await new Promise((r) => setTimeout(r, 1));
  }
  await done;
  const ms = performance.now() - t0;
  const cpu = cpuSeconds(pid) - cpu0;
  a.close();
  b.close();
  return { mbps: total / MB / (ms / 1000), cpuPerMB: cpu / (total / MB) };
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'srmudp-relay-bench-'));
  const relayProc = await start(
    [
      join(HERE, '../dist/cli.js'),
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--udp-host',
      '127.0.0.1',
      '--udp-port',
      '0',
      '--key-file',
      join(dir, 'relay.key'),
      '--rate',
      String(1 << 30),
      '--burst',
      String(64 << 20),
      '--new-connections-per-ip',
      '100000',
      '--new-connections-burst',
      String(IDLE + 100),
      '--max-connections-per-ip',
      String(IDLE + 100),
    ],
    /"msg":"srmudp relay listening"/,
  );
  const info = JSON.parse(relayProc.match.input) as {
    url: string;
    udp: { port: number };
    peerId: string;
    card: string;
  };
  const { parseCard } = await import('@srmudp/rendezvous');
  const relay = {
    url: info.url,
    http: info.url.replace(/^ws/, 'http').replace(/\/relay$/, ''),
    udp: info.udp.port,
    key: parseCard(info.card).peerId,
    pid: relayProc.child.pid as number,
  };
  const floorProc = await start([join(HERE, 'ws-forwarder.mjs')], /^(\d+)$/);
  const floorPort = Number(floorProc.match[1]);
  type Run = { mbps: number; cpuPerMB: number };
  const results: Record<'ws' | 'udp' | 'floor', Run[]> = { ws: [], udp: [], floor: [] };
  try {
    for (let rep = 0; rep < REPS; rep++) {
      results.floor.push(await floorRun(floorPort, floorProc.child.pid as number, rep));
      results.ws.push(await relayRun('ws', relay));
      results.udp.push(await relayRun('udp', relay));
    }
    // memory per idle WebSocket client (relay side)
    await new Promise((r) => setTimeout(r, 500));
    const rss0 = await metric(relay.http, 'srmudp_relay_memory_bytes', '{kind="rss"}');
    const heap0 = await metric(relay.http, 'srmudp_relay_memory_bytes', '{kind="heap_used"}');
    const idle: RelayPeer[] = [];
    for (let i = 0; i < IDLE; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, IDLE - i) }, () =>
          RelayPeer.start({ relayKey: relay.key, carrier: { kind: 'ws', url: relay.url } }),
        ),
      );
      idle.push(...batch);
      await Promise.all(batch.map((p) => p.ready(60_000)));
    }
    await new Promise((r) => setTimeout(r, 2_000));
    const rss1 = await metric(relay.http, 'srmudp_relay_memory_bytes', '{kind="rss"}');
    const heap1 = await metric(relay.http, 'srmudp_relay_memory_bytes', '{kind="heap_used"}');
    for (let i = 0; i < idle.length; i += 100)
      await Promise.all(idle.slice(i, i + 100).map((p) => p.close()));

    const m = (k: keyof typeof results, f: 'mbps' | 'cpuPerMB') => median(results[k].map((r) => r[f]));
    const line = (name: string, k: keyof typeof results) =>
      `| ${name} | ${m(k, 'mbps').toFixed(1)} | ${(m(k, 'mbps') / m('floor', 'mbps')).toFixed(2)} | ${(m(k, 'cpuPerMB') * 1000).toFixed(1)} | ${(m(k, 'cpuPerMB') / m('floor', 'cpuPerMB')).toFixed(2)} |`;
    console.log(
      `\nsrmudp-relay bench: ${SIZE / MB} MiB stream, median of ${REPS} interleaved runs, relay in its own process\n`,
    );
    console.log('| path | goodput MiB/s | × floor | relay CPU ms per MB | × floor |');
    console.log('| --- | --- | --- | --- | --- |');
    console.log(line('plain ws forwarder (floor)', 'floor'));
    console.log(line('relay over WebSocket (e2e Noise + reliability)', 'ws'));
    console.log(line('relay over UDP (e2e Noise + reliability)', 'udp'));
    console.log(`\nWebSocket / UDP goodput: ${(m('ws', 'mbps') / m('udp', 'mbps')).toFixed(2)}`);
    console.log(
      `memory per idle WebSocket client (relay process, ${IDLE} clients with hop sessions): ` +
        `RSS ${((rss1 - rss0) / IDLE / 1024).toFixed(1)} KiB, heap ${((heap1 - heap0) / IDLE / 1024).toFixed(1)} KiB`,
    );
  } finally {
    relayProc.child.kill('SIGTERM');
    floorProc.child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
