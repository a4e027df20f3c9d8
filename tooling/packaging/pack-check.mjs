#!/usr/bin/env node
// Checks every published workspace package the way npm users will get it (README.md of this folder):
//   node tooling/packaging/pack-check.mjs [--fix] [--no-install] [--keep]
// --fix        write the manifest fixes rules.mjs knows (publishConfig.exports, files), then check
// --no-install skip the fresh-directory npm install (no network needed then)
// --keep       keep the temporary directory and print its path
// Needs a build (`pnpm run build`). Exit 0 when clean, 1 with every problem listed.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { checkPackage, createPackageFromTarballData } from '@arethetypeswrong/core';
import { problemKindInfo } from '@arethetypeswrong/core/problems';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { checkConsumer } from './src/consumer.mjs';
import {
  esmOnlyProblems,
  fixManifest,
  manifestProblems,
  packedManifestProblems,
  tarballProblems,
} from './src/rules.mjs';
import { publishedPackages, repoRoot } from './src/workspace.mjs';

const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (!['--fix', '--no-install', '--keep'].includes(a)) {
    console.error(`pack-check: unknown argument ${a}\nusage: pack-check.mjs [--fix] [--no-install] [--keep]`);
    process.exit(2);
  }
}
const started = Date.now();
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const log = (s) => console.log(`pack-check: ${s}`);
/** @type {Map<string, string[]>} package name → problems */
const problems = new Map();
const report = (name, list) => {
  if (list.length > 0) problems.set(name, [...(problems.get(name) ?? []), ...list]);
};

const packages = publishedPackages();
if (packages.length === 0) throw new Error('no published packages found');
log(`${packages.length} published packages: ${packages.map((p) => p.manifest.name).join(', ')}`);

// 1. The workspace manifests (and --fix).
for (const p of packages) {
  if (args.has('--fix')) {
    const fixed = fixManifest(p.manifest);
    if (JSON.stringify(fixed) !== JSON.stringify(p.manifest)) {
      writeFileSync(join(p.dir, 'package.json'), `${JSON.stringify(fixed, null, 2)}\n`);
      p.manifest = fixed;
      log(`fixed ${p.rel}/package.json`);
    }
  }
  report(p.manifest.name, manifestProblems(p.manifest));
  // A missing build would show up below as dozens of missing files; say it once instead.
  if (p.manifest.files?.includes('dist') && !existsSync(join(p.dir, 'dist'))) {
    console.error(`pack-check: ${p.rel} is not built (no dist/): run pnpm run build first`);
    process.exit(1);
  }
}

// 2. Pack with pnpm (it rewrites workspace: ranges and applies publishConfig, as `pnpm publish` and
// `changeset publish` do; `npm pack` would do neither) and check each tarball.
const tmp = mkdtempSync(join(tmpdir(), 'srmudp-pack-check-'));
const tarballDir = join(tmp, 'tarballs');
mkdirSync(tarballDir);
const tarballs = [];
const sizes = [];
let t = Date.now();
const packed = spawnSync(
  'pnpm',
  [
    '-r',
    ...packages.flatMap((p) => ['--filter', `./${p.rel}`]),
    'pack',
    '--pack-destination',
    tarballDir,
    '--json',
  ],
  { cwd: repoRoot, encoding: 'utf8', timeout: 300_000 },
);
if (packed.status !== 0)
  throw new Error(`pnpm pack failed: ${packed.stderr || packed.stdout || packed.error}`);
const filenames = new Map(JSON.parse(packed.stdout).map((r) => [r.name, r.filename]));
for (const p of packages) {
  const file = filenames.get(p.manifest.name);
  if (!file) {
    report(p.manifest.name, ['pnpm pack made no tarball']);
    continue;
  }
  const unpacked = join(tmp, 'unpacked', p.rel);
  mkdirSync(unpacked, { recursive: true });
  const x = spawnSync('tar', ['-xzf', file, '-C', unpacked], { encoding: 'utf8' });
  if (x.status !== 0) throw new Error(`tar -xzf ${file}: ${x.stderr}`);
  const root = join(unpacked, 'package');
  /** @type {Map<string, string>} */
  const files = new Map();
  let unpackedBytes = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const abs = join(dir, e.name);
      if (e.isDirectory()) walk(abs);
      else {
        const path = relative(root, abs);
        unpackedBytes += statSync(abs).size;
        files.set(path, /(\.map|\.d\.ts|^package\.json)$/.test(path) ? readFileSync(abs, 'utf8') : '');
      }
    }
  };
  walk(root);
  const manifest = JSON.parse(files.get('package.json') ?? '{}');
  report(p.manifest.name, packedManifestProblems(manifest));
  report(p.manifest.name, tarballProblems(files, manifest));
  const src = [...files.keys()].filter((f) => f.startsWith('src/')).length;
  sizes.push({ name: p.manifest.name, files: files.size, src, packed: statSync(file).size, unpackedBytes });
  tarballs.push({ file, manifest, pkg: p });
}
log(`packed and unpacked ${tarballs.length} tarballs: ${seconds(t)}`);

// 3. publint (every level, warnings as errors) and arethetypeswrong (the CLI's esm-only profile).
t = Date.now();
for (const { file, manifest } of tarballs) {
  const data = readFileSync(file);
  const tarball = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  const lint = await publint({ pack: { tarball }, level: 'suggestion', strict: true });
  report(
    manifest.name,
    lint.messages.map((m) => `publint ${m.type} ${m.code}: ${formatMessage(m, lint.pkg, { color: false })}`),
  );
  const analysis = await checkPackage(createPackageFromTarballData(new Uint8Array(data)));
  if (analysis.types === false) report(manifest.name, ['arethetypeswrong: the package ships no types']);
  else {
    report(
      manifest.name,
      esmOnlyProblems(analysis.problems).map((pr) => {
        const where = [pr.entrypoint, pr.resolutionKind].filter(Boolean).join(' under ');
        return `arethetypeswrong ${pr.kind}${where ? ` (${where})` : ''}: ${problemKindInfo[pr.kind]?.shortDescription ?? ''}`;
      }),
    );
  }
}
log(`publint and arethetypeswrong on ${tarballs.length} tarballs: ${seconds(t)}`);

// 4. A fresh project installs the tarballs from a directory outside the repository.
if (!args.has('--no-install') && problems.size > 0)
  log('fresh install skipped until the problems below are fixed');
if (!args.has('--no-install') && problems.size === 0) {
  t = Date.now();
  const example = packages.find((p) => p.manifest.name === 'srmudp');
  if (!example)
    throw new Error('the srmudp package, whose README example the consumer runs, is not published');
  try {
    const output = await checkConsumer({
      dir: join(tmp, 'consumer'),
      tarballs,
      example: { package: 'srmudp', markdown: readFileSync(join(example.dir, 'README.md'), 'utf8') },
      log,
    });
    for (const line of output) console.log(`  example> ${line}`);
  } catch (e) {
    report('fresh install', [String(e instanceof Error ? e.message : e)]);
  }
  log(`fresh install, imports, types and README example: ${seconds(t)}`);
}

console.log('\npackage                       files  src  packed KiB  unpacked KiB');
for (const s of sizes) {
  console.log(
    `${s.name.padEnd(30)}${String(s.files).padStart(5)}${String(s.src).padStart(5)}${(s.packed / 1024).toFixed(0).padStart(12)}${(s.unpackedBytes / 1024).toFixed(0).padStart(14)}`,
  );
}
if (args.has('--keep')) log(`kept ${tmp}`);
else rmSync(tmp, { recursive: true, force: true });

if (problems.size > 0) {
  console.error(`\npack-check: FAILED after ${seconds(started)}`);
  for (const [name, list] of problems) {
    console.error(`${name}:`);
    for (const p of list) console.error(`  - ${p}`);
  }
  console.error('(`node tooling/packaging/pack-check.mjs --fix` writes the manifest fixes it knows)');
  process.exit(1);
}
log(`all ${packages.length} packages clean in ${seconds(started)}`);
