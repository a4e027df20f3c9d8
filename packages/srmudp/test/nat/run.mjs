#!/usr/bin/env node
// `pnpm test:nat [--report] [vitest args]`: runs the NAT lab suites (tooling/natlab's own tests,
// then the façade's NAT traversal suites in packages/srmudp/test/nat). With --report, the façade
// suites leave JSON fragments that become docs/nat-matrix.md (a real run's results: pair ->
// direct / failed reason, time to connect). Needs root and network namespaces; elsewhere every lab
// suite reports itself skipped with the reason.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
process.chdir(root);
const args = process.argv.slice(2);
const report = args.includes('--report');
const rest = args.filter((a) => a !== '--report');
const skipLab = args.includes('--no-natlab');
const vitestArgs = rest.filter((a) => a !== '--no-natlab');

const env = { ...process.env };
let dir = null;
if (report) {
  dir = mkdtempSync(join(tmpdir(), 'srmudp-nat-report-'));
  env.SRMUDP_NAT_REPORT_DIR = dir;
}
const vitest = (extra) =>
  spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...extra, ...vitestArgs], {
    stdio: 'inherit',
    env,
  }).status ?? 1;

const started = Date.now();
let status = 0;
if (!skipLab && !report) status = vitest(['--project', 'natlab']);
const natStatus = vitest(['--project', 'srmudp', 'packages/srmudp/test/nat/']);
status = status || natStatus;
const wallS = Math.round((Date.now() - started) / 1000);

if (report && dir) {
  const rows = [];
  for (const f of readdirSync(dir).sort()) rows.push(...JSON.parse(readFileSync(join(dir, f), 'utf8')));
  rmSync(dir, { recursive: true, force: true });
  if (rows.length === 0) {
    console.error(
      '[test:nat] no results: the lab could not run here (see the skip reasons above); report not written',
    );
    process.exit(status || 1);
  }
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  const kernel = spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim();
  const cell = (s) => String(s).replaceAll('|', '\\|');
  const table = (section) => {
    const lines = ['| pair (A × B) | expected | result | time to connect | why |', '|---|---|---|---|---|'];
    const list = rows.filter((x) => x.section === section).sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
    for (const r of list) {
      const ok = r.pass === true; // set by the test once every assertion of the row passed
      lines.push(
        `| ${cell(r.pair)} | ${cell(r.expected)} | ${ok ? cell(r.result) : `**${cell(r.result)} (assertions failed)**`} | ${r.timeMs === null ? '-' : `${(r.timeMs / 1000).toFixed(2)} s`} | ${cell(r.detail)} |`,
      );
    }
    return lines.join('\n');
  };
  // every profile pair: the matrix's direct result next to the relay-matrix suite's two columns
  const relayTable = () => {
    const time = (r) => (r.timeMs === null ? '' : `, ${(r.timeMs / 1000).toFixed(1)} s`);
    const cellOf = (r, ok) => {
      if (!r) return 'not run';
      if (r.pass !== true) return `**${cell(r.result)} (assertions failed)**`;
      return `${cell(ok(r))}${time(r)}`;
    };
    const direct = new Map(rows.filter((r) => r.section === 'matrix').map((r) => [r.pair, r]));
    const relayed = rows.filter((r) => r.section === 'relay-matrix');
    const pairs = [
      ...new Set(
        [...direct.values(), ...relayed].sort((a, b) => (a.order ?? 0) - (b.order ?? 0)).map((r) => r.pair),
      ),
    ];
    const lines = [
      '| pair (A × B) | direct | through a gate | via a peer behind eim | goodput A→B / B→A (gate; peer) |',
      '|---|---|---|---|---|',
    ];
    const counts = { pairs: 0, direct: 0, gate: 0, via: 0, any: 0 };
    for (const pair of pairs) {
      const d = direct.get(pair);
      const g = relayed.find((r) => r.pair === pair && r.column === 'gate');
      const v = relayed.find((r) => r.pair === pair && r.column === 'via');
      // the matrix row passed: it ended as expected (direct, or the typed failure it names)
      const dOk = d?.pass === true && d.expected === 'direct';
      const gOk = g?.pass === true;
      const vOk = v?.pass === true;
      counts.pairs++;
      counts.direct += dOk ? 1 : 0;
      counts.gate += gOk ? 1 : 0;
      counts.via += vOk ? 1 : 0;
      counts.any += dOk || gOk || vOk ? 1 : 0;
      lines.push(
        `| ${cell(pair)} | ${cellOf(d, (r) => (r.expected === 'direct' ? 'direct' : `no: ${r.expected}`))} | ${cellOf(g, (r) => r.result)} | ${cellOf(v, (r) => r.result)} | ${cell([g, v].map((r) => (r?.pass ? r.detail : '-')).join('; '))} |`,
      );
    }
    lines.push(
      '',
      `Of ${counts.pairs} pairs: ${counts.direct} direct, ${counts.gate} through a gate, ${counts.via} via a peer; ${counts.any} connect in at least one way.`,
    );
    return lines.join('\n');
  };
  const md = `# NAT traversal matrix (generated)

Generated by \`pnpm test:nat --report\` from a real run through Linux kernel NATs in network
namespaces (tooling/natlab; profiles as in its README, each self-checked before it counts).
Do not edit by hand.

- run: ${new Date().toISOString()}, commit ${git || 'unknown'}, kernel ${kernel}, ${cpus().length} CPUs, ${wallS} s wall, vitest exit ${natStatus}
- nodes: \`createNode({ port: 40000, stunServers: ['203.0.113.200:3478', '203.0.113.201:3478'] })\` on each host
  (the default bind \`'::'\`, dual-stack), one \`NatSession\` (\`@srmudp/punch\`) per node run by the
  façade's driver; a node's card is taken once its first gathering has a result; both peers dial
  the other's contact card at once (host + every server-reflexive candidate; simultaneous open);
  natA's public link delays 20 ms each way (RTT ≈ 40 ms)
- time to connect: from \`connect()\` to the established connection (slower side), or to the typed failure

## Profile matrix

${table('matrix')}

Profiles: \`eim\` = endpoint-independent mapping, port preserved, address-and-port-dependent
filtering; \`restricted\` = EIM + address-dependent filtering; \`fullcone\` = EIM + endpoint-independent
filtering; \`symmetric\` = \`masquerade fully-random\` (a new random port per destination); \`cgnat\` =
an \`eim\` home router behind an \`eim\` carrier NAT.

## Every pair: direct, through a gate, via a peer

${relayTable()}

The relayed columns come from a run with **no direct path** between the two homes (inet drops
every packet between their public addresses), so a relay is the only way: \`relay-matrix.test.ts\`
builds one lab per pair with a gate on the public segment (rdv, \`relay: { serve: true }\`, in
both members' \`relay.gates\`) and a third member behind an \`eim\` NAT (natC,
\`relay: { connectVia: true }\`). The dialler knows no working address of its peer (a port
nobody forwards): the direct dial times out (10 s), then the gate carries the connection; a
transfer each way at once arrives with SHA-256 equal and both ends report the path relayed
through the gate. The connection is closed, the gate is stopped, both ends connect directly to
the third member (a birthday when one is symmetric), and the same dial goes through it (connect
via, the requester's voucher; that member's circuit byte limit lifted, its default 1 MiB/s per
client kept: the peer column's ~8-10 Mbit/s). symmetric × symmetric moves 16 MiB each way in
both columns; other pairs 1 MiB. Time: from \`connect()\` to the
relayed connection, the 10 s direct timeout included.

## Birthday strategy

${table('birthday')}

With one RFC 5780 server the mapping comes from the server's alternate address, asked only after
the CHANGE-REQUEST filtering tests (which are valid only while the alternate IP was never
contacted): behind a port-dependent filter the first gathering takes about 7 s instead of one
round trip. With one plain server nothing is classified, and the birthday starts only after the
plain dial timed out (10 s), in both roles on both sides.

## Scenarios

${table('scenarios')}

## Relayed paths

${table('relay')}

Two symmetric NATs cannot punch (\`PUNCH_IMPOSSIBLE\` above); with a gate (a member on the public
segment with \`relay: { serve: true }\`) in both members' \`relay.gates\`, the dial falls back to
the gate and the connection runs on a relayed path (4-byte channel header, end-to-end AEAD only).
A dialler with no gate of its own falls back to the gate the peer's card lists. A connection that
starts relayed punches over the relayed session (candidates exchanged through it, the open timed
from its RTT, a birthday in the background) and moves to the direct path with streams intact; a
direct path that dies (NAT reboot) falls back to a circuit through the gate. A gate is reached
by an outgoing flow from each member: every profile pair through a gate and via a peer is in
the table at the top ("Every pair").

The group row: no gate; the two are gossip neighbours through the member that introduced them
(on the public segment, \`relay: { connectVia: true }\`), and a broadcast from each reaches both.

## IPv6

${table('ipv6')}

IPv6 homes get a routed prefix (2001:db8::/32 in the lab), no NAT: the home router is a stateful
firewall (nft \`ip6\` table, conntrack: outbound allowed, replies pass, unsolicited inbound
dropped; each firewall is self-checked before a row counts). Nodes bind the default \`'::'\`
(dual-stack) with STUN servers on both families, and report each family's result apart.
When both families work, the first handshake answer carries the connection, and core then
validates the direct IPv6 path in the background and moves to it (direct IPv6 is preferred over
direct IPv4, which is preferred over relayed: packages/core/src/paths.ts).
`;
  writeFileSync('docs/nat-matrix.md', md);
  console.log(`[test:nat] wrote docs/nat-matrix.md (${rows.length} rows)`);
}
process.exit(status);
