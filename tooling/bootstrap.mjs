#!/usr/bin/env node
// Entry point of the README's quick start. Works on a machine that has only Node >= 20 and npm:
//   npm run demo   -> installs pnpm deps if needed, builds, runs the main demo
//   npm test       -> installs pnpm deps if needed, builds, runs every test suite, prints a summary
// Extra arguments after `--` go to the demo or to vitest.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const PNPM_VERSION = JSON.parse(readFileSync('package.json', 'utf8')).packageManager.split('@')[1];
const [target, ...rest] = process.argv.slice(2);
const quiet = process.env.SRMUDP_BOOTSTRAP_QUIET === '1';

function log(msg) {
  if (!quiet) console.error(`[srmudp] ${msg}`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function must(cmd, args, opts) {
  const status = run(cmd, args, opts);
  if (status !== 0) {
    console.error(`[srmudp] failed: ${cmd} ${args.join(' ')} (exit ${status})`);
    process.exit(status);
  }
}

// pnpm: use an installed one, else run the pinned version through npx (no global install needed).
const havePnpm = spawnSync('pnpm', ['--version'], { stdio: 'ignore' }).status === 0;
const pnpm = havePnpm ? ['pnpm'] : ['npx', '--yes', `pnpm@${PNPM_VERSION}`];
const pn = (args) => must(pnpm[0], [...pnpm.slice(1), ...args]);

const marker = 'node_modules/.modules.yaml';
const stale = !existsSync(marker) || statSync('pnpm-lock.yaml').mtimeMs > statSync(marker).mtimeMs;
if (stale) {
  log(`installing dependencies with pnpm ${PNPM_VERSION}${havePnpm ? '' : ' (through npx)'}...`);
  pn(['install', '--frozen-lockfile', ...(quiet ? ['--reporter=silent'] : [])]);
}
log('building...');
pn(['run', 'build', '--output-logs=errors-only']);

if (target === 'demo' || target === 'demo:nat') {
  must(process.execPath, ['apps/demo/dist/main.js', ...(target === 'demo:nat' ? ['--nat'] : []), ...rest]);
} else if (target === 'test') {
  const results = '.vitest-results.json';
  const status = run(pnpm[0], [
    ...pnpm.slice(1),
    'exec',
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile=${results}`,
    ...rest,
  ]);
  let summary = 'no results';
  if (existsSync(results)) {
    const r = JSON.parse(readFileSync(results, 'utf8'));
    summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed`;
    if (r.numTotalTestSuites !== undefined) {
      const failedFiles = r.testResults.filter((f) => f.status !== 'passed').map((f) => f.name);
      if (failedFiles.length > 0) console.error(`[srmudp] failing files:\n  ${failedFiles.join('\n  ')}`);
    }
  }
  console.log(`tests: ${summary}`);
  writeFileSync('.test-summary', `tests: ${summary}\n`);
  process.exit(status);
} else {
  console.error('usage: bootstrap.mjs <demo|demo:nat|test> [-- args]');
  process.exit(2);
}
