// Heap per idle connection, by constructor: one server node here, N client nodes in a child
// process; heap snapshots of the server before any client and after N idle connections, diffed.
// node --expose-gc scripts/heap-probe.mjs [N=200] [client]
import { fork } from 'node:child_process';
import { readFileSync, unlinkSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import { createNode } from 'srmudp';

const N = Number(process.argv[2] ?? 200);
if (process.argv[3] === 'client') {
  const card = process.argv[4];
  const nodes = [];
  for (let i = 0; i < N; i++) nodes.push(await createNode({ host: '127.0.0.1', port: 0 }));
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < nodes.length; i = next++) {
      for (let k = 0; k < 3; k++) {
        try {
          await nodes[i].connect(card);
          break;
        } catch (e) {
          console.error(`client ${i}: ${e.message}`);
        }
      }
    }
    next = nodes.length;
  };
  await Promise.all(Array.from({ length: 8 }, lane));
  process.send('connected');
  // a second batch of N on request: the per-connection figure as the difference of two points
  process.on('message', async () => {
    for (let i = 0; i < N; i++) nodes.push(await createNode({ host: '127.0.0.1', port: 0 }));
    await Promise.all(Array.from({ length: 8 }, lane));
    process.send('connected');
  });
  process.on('disconnect', () => process.exit(0));
} else {
  const gc = globalThis.gc;
  const settle = async () => {
    for (let i = 0; i < 4; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const byCtor = () => {
    const f = writeHeapSnapshot();
    const s = JSON.parse(readFileSync(f, 'utf8'));
    unlinkSync(f);
    const m = s.snapshot.meta;
    const nf = m.node_fields.length;
    const iType = m.node_fields.indexOf('type');
    const iName = m.node_fields.indexOf('name');
    const iSize = m.node_fields.indexOf('self_size');
    const types = m.node_types[0];
    const out = new Map();
    for (let i = 0; i < s.nodes.length; i += nf) {
      const t = types[s.nodes[i + iType]];
      let name = s.strings[s.nodes[i + iName]];
      if (t === 'string' || t === 'concatenated string' || t === 'sliced string')
        name = process.env.STRINGS ? `(string) ${name.slice(0, 40)}` : '(string)';
      else if (t === 'array' && process.env.ARRAYS) name = `(array) ${name} ${s.nodes[i + iSize]}`;
      else if (t === 'code') name = '(code)';
      else if (t !== 'object' && t !== 'closure' && t !== 'native') name = `(${t}) ${name}`.slice(0, 60);
      else if (t === 'closure') name = `closure ${name}`;
      const e = out.get(name) ?? { n: 0, b: 0 };
      e.n++;
      e.b += s.nodes[i + iSize];
      out.set(name, e);
    }
    return out;
  };
  // Attributes every object new since `before` (ids) to its nearest owner: the first retainer up
  // the chain that is an instance of a named class (not a built-in container).
  const GENERIC = new Set([
    'Object',
    'Array',
    'Map',
    'Set',
    'Uint8Array',
    'ArrayBuffer',
    'Float64Array',
    'Uint32Array',
    'Int32Array',
    'Promise',
    'WeakMap',
    '',
  ]);
  const owners = (beforeIds) => {
    const f = writeHeapSnapshot();
    const s = JSON.parse(readFileSync(f, 'utf8'));
    unlinkSync(f);
    const m = s.snapshot.meta;
    const nf = m.node_fields.length;
    const ef = m.edge_fields.length;
    const iType = m.node_fields.indexOf('type'),
      iName = m.node_fields.indexOf('name'),
      iId = m.node_fields.indexOf('id');
    const iSize = m.node_fields.indexOf('self_size'),
      iEc = m.node_fields.indexOf('edge_count');
    const eType = m.edge_fields.indexOf('type'),
      eName = m.edge_fields.indexOf('name_or_index'),
      eTo = m.edge_fields.indexOf('to_node');
    const types = m.node_types[0];
    const etypes = m.edge_types[0];
    const count = s.nodes.length / nf;
    const ids = new Int32Array(count); // small ints: Smis in the Set below, not boxed numbers (noise in the figures)
    const retainer = new Int32Array(count).fill(-1);
    const retEdge = new Array(count);
    let e = 0;
    for (let n = 0; n < count; n++) {
      ids[n] = s.nodes[n * nf + iId];
      const ec = s.nodes[n * nf + iEc];
      for (let k = 0; k < ec; k++, e += ef) {
        const et = etypes[s.edges[e + eType]];
        if (et === 'weak' || et === 'shortcut') continue;
        const to = s.edges[e + eTo] / nf;
        if (retainer[to] === -1) {
          retainer[to] = n;
          retEdge[to] =
            et === 'element' || et === 'hidden' ? `[${s.edges[e + eName]}]` : s.strings[s.edges[e + eName]];
        }
      }
    }
    const nameOf = (n) => s.strings[s.nodes[n * nf + iName]];
    const typeOf = (n) => types[s.nodes[n * nf + iType]];
    const isOwner = (n) =>
      typeOf(n) === 'object' && !GENERIC.has(nameOf(n)) && !nameOf(n).startsWith('system');
    const out = new Map();
    const ids1 = new Set();
    for (let n = 0; n < count; n++) {
      ids1.add(ids[n]);
      if (beforeIds.has(ids[n])) continue;
      const t = typeOf(n);
      if (t === 'code' || (t === 'hidden' && nameOf(n).includes('Code'))) continue;
      let o = n;
      let via = '';
      for (let d = 0; d < 12 && o >= 0; d++) {
        if (isOwner(o)) break;
        via = retEdge[o] ?? '';
        o = retainer[o];
      }
      const owner = o >= 0 && isOwner(o) ? nameOf(o) : '(other)';
      if (
        process.env.CHAIN &&
        beforeIds.size > 0 &&
        `${owner} ${t === 'object' || t === 'native' ? nameOf(n) : t}`.startsWith(process.env.CHAIN) &&
        (globalThis.chains = (globalThis.chains ?? 0) + 1) % Number(process.env.CHAIN_EVERY ?? 1) === 0 &&
        globalThis.chains <= 4 * Number(process.env.CHAIN_EVERY ?? 1)
      ) {
        const parts = [];
        for (let x = n, d = 0; d < 14 && x >= 0; d++, x = retainer[x])
          parts.push(`${typeOf(x)}:${nameOf(x).slice(0, 30)}.${retEdge[x]}`);
        console.log(`chain: ${parts.join(' <- ')}`);
      }
      const what = t === 'object' || t === 'native' ? nameOf(n) : `(${t})`;
      const key = `${owner}.${via} ${what}`;
      const r = out.get(key) ?? { n: 0, b: 0, owner };
      r.n++;
      r.b += s.nodes[n * nf + iSize];
      out.set(key, r);
    }
    return { out, ids: ids1 };
  };
  const node = await createNode({
    host: '127.0.0.1',
    port: 0,
    limits: { maxConnections: 2 * N + 64, maxPendingHandshakes: Math.max(1024, 2 * N) },
  });
  let count = 0;
  node.on('connection', () => count++);
  await settle();
  const mz = process.memoryUsage(); // before any client: the first batch's figure includes one-time costs, as P4's does
  // FROM0=1: the rows diff the first batch against no connection (one-time costs included, as in P4)
  if (process.env.FROM0) byCtor(); // compiles byCtor: its code is not counted below
  const hz = process.env.FROM0 ? byCtor() : null;
  const card = node.contactCard();
  const child = fork(new URL(import.meta.url).pathname, [String(N), 'client', card], { stdio: 'inherit' });
  const batch = async (want) => {
    await new Promise((r) => child.once('message', r));
    for (let i = 0; i < 100 && count < want; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    await settle();
  };
  await batch(N);
  const m0 = process.memoryUsage();
  const h0 = process.env.ROWS === '0' ? new Map() : byCtor();
  const before = process.env.OWNERS ? owners(new Set()).ids : null;
  child.send('more');
  await batch(2 * N);
  const m1 = process.memoryUsage();
  const h1 = process.env.ROWS === '0' ? new Map() : byCtor();
  if (before) {
    const { out } = owners(before);
    const byOwner = new Map();
    for (const r of out.values()) byOwner.set(r.owner, (byOwner.get(r.owner) ?? 0) + r.b);
    const LAYER = {
      srmudp: ['Connection', 'SrmudpNode', 'AsyncQueue', 'DialPacer', 'SrmudpStream', 'Dialer', 'Driver'],
      core: [
        'CoreConnection',
        'ConnectionTable',
        'PathSet',
        'Path',
        'PathsHostOf',
        'ConnectionChannels',
        'CoreEndpoint',
        'AmplificationGuard',
      ],
      wire: ['Schedule', 'ByteSlab', 'PollQueue'],
      crypto: [
        'SecureChannel',
        'TransportSession',
        'ReplayWindow',
        'SecureEndpoint',
        'Responder',
        'RateLimiter',
        'CookieChecker',
        'PendingTable',
        'HandshakeBudget',
        'SourceKeys',
        'Initiation',
        'HandshakeState',
      ],
    };
    const layerOf = (o) => {
      for (const [l, names] of Object.entries(LAYER)) if (names.includes(o)) return l;
      return o === '(other)' || o === 'ModuleWrap' || o === 'Generator'
        ? '(not per connection: modules, probe)'
        : 'reliability';
    };
    const byLayer = new Map();
    for (const [o, b] of byOwner) byLayer.set(layerOf(o), (byLayer.get(layerOf(o)) ?? 0) + b);
    console.log('--- by layer (bytes/conn, heap and external together)');
    for (const [k, b] of [...byLayer].sort((a, b) => b[1] - a[1]))
      console.log(`${(b / N).toFixed(0).padStart(7)} B  ${k}`);
    console.log('--- new objects by owner class (bytes/conn)');
    for (const [k, b] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, 40))
      if (b / N >= 8) console.log(`${(b / N).toFixed(0).padStart(7)} B  ${k}`);
    console.log('--- by owner.field type');
    // ONLY=type: the rows of one type (e.g. `(number)`), however many
    const only = process.env.ONLY;
    const keep = [...out].filter(([k]) => only === undefined || k.endsWith(` ${only}`));
    for (const [k, r] of keep.sort((a, b) => b[1].b - a[1].b).slice(0, Number(process.env.OWNERS)))
      if (r.b / N >= (only === undefined ? 8 : 1))
        console.log(`${(r.b / N).toFixed(0).padStart(7)} B ${(r.n / N).toFixed(2).padStart(6)}×  ${k}`);
  }
  const rows = [];
  const [ha, hb] = hz ? [hz, h0] : [h0, h1];
  for (const [k, v] of hb) {
    const b = ha.get(k) ?? { n: 0, b: 0 };
    const db = v.b - b.b;
    if (Math.abs(db) / N >= 16) rows.push([k, (v.n - b.n) / N, db / N]);
  }
  rows.sort((a, b) => b[2] - a[2]);
  console.log(`connections ${count}/${2 * N} (figures: the second ${N} only)  backend ${node.cryptoBackend}`);
  console.log(
    `heapUsed/conn ${((m1.heapUsed - m0.heapUsed) / N).toFixed(0)} B  external/conn ${((m1.external - m0.external) / N).toFixed(0)} B` +
      `  (first ${N} from no connection, as P4 measures: ${((m0.heapUsed - mz.heapUsed) / N).toFixed(0)} B)`,
  );
  const total = rows.reduce((a, r) => a + r[2], 0);
  console.log(`snapshot self-size delta/conn (rows >= 16 B) ${total.toFixed(0)} B`);
  for (const [k, n, b] of rows.slice(0, Number(process.env.ROWS ?? 70)))
    console.log(`${b.toFixed(0).padStart(7)} B ${n.toFixed(2).padStart(7)}×  ${k}`);
  child.kill();
  await node.close?.();
  process.exit(0);
}
