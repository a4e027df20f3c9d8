#!/usr/bin/env node
// Compiles native/udp-gso.c (UDP segmentation offload, Linux) into native/build/udp_gso.node.
// Optional: the transport sends through node:dgram alone when the file is missing, so this script
// never fails an install or a build. It says why it built nothing instead (no Linux, no C
// compiler, SRMUDP_GSO=0) and exits 0.
//   node scripts/build-native.mjs            build when possible
//   SRMUDP_GSO_BUILD_STRICT=1 node …          exit 1 when it could not build (CI)
// A C compiler (`cc`, or $CC) and the Node-API headers of the `node-api-headers` package are all it
// needs: no node-gyp, no download of Node's headers (Node-API is ABI-stable across Node versions).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'udp-gso.c');
const outDir = join(root, 'native', 'build');
const out = join(outDir, 'udp_gso.node');
const strict = process.env.SRMUDP_GSO_BUILD_STRICT === '1';

function skip(reason) {
  console.log(
    `@srmudp/transport-node: UDP segmentation offload not built (${reason}); sends go through node:dgram alone`,
  );
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') skip(`${process.platform}: UDP_SEGMENT is Linux-only`);
if (process.env.SRMUDP_GSO === '0') skip('SRMUDP_GSO=0');
if (!existsSync(source)) skip(`${source} missing`);

let include;
try {
  const require = createRequire(import.meta.url);
  include = join(dirname(require.resolve('node-api-headers/package.json')), 'include');
} catch {
  skip('the node-api-headers package is not installed');
}

const cc = process.env.CC || 'cc';
mkdirSync(outDir, { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
const args = [
  '-O2',
  '-std=c11',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-shared',
  '-fPIC',
  '-DNAPI_VERSION=8',
  '-I',
  include,
  source,
  '-o',
  tmp,
];
const r = spawnSync(cc, args, { encoding: 'utf8' });
if (r.error || r.status !== 0) {
  rmSync(tmp, { force: true });
  const why = r.error
    ? `${cc}: ${r.error.code ?? r.error.message}`
    : `${cc} exited ${r.status}: ${(r.stderr || '').trim().split('\n').slice(0, 6).join(' | ')}`;
  skip(why);
}
renameSync(tmp, out); // atomic: a concurrent loader sees the old file or the new one
console.log(
  `@srmudp/transport-node: built ${join('native', 'build', 'udp_gso.node')} (UDP segmentation offload)`,
);
