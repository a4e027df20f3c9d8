// A fresh project outside the repository that installs the packed tarballs with npm, the way a user
// would, then: imports every export of every package as ESM, type-checks a TypeScript file that uses
// every export plus the srmudp README example against the published declarations (skipLibCheck off,
// so every shipped .d.ts is checked), and runs that README example with Node.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { exportSpecifiers, repoRoot } from './workspace.mjs';

const require = createRequire(join(repoRoot, 'package.json'));

/**
 * Runs a command with a bound on time; resolves with its exit status and output.
 * @returns {Promise<{ status: number | null, stdout: string, stderr: string, timedOut: boolean }>}
 */
export function run(cmd, args, { cwd, timeoutMs, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL'); // the whole group: npm and the scripts it started
      } catch {}
    }, timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, timedOut });
    });
  });
}

/** The first ```ts block after the `## Example` heading of a README. */
export function readmeExample(markdown) {
  const at = markdown.search(/^## Example\s*$/m);
  if (at < 0) throw new Error('README has no "## Example" section');
  const m = /```ts\n([\s\S]*?)\n```/.exec(markdown.slice(at));
  if (!m) throw new Error('README "## Example" section has no ```ts block');
  return `${m[1]}\n`;
}

const installedVersion = (name) => require(`${name}/package.json`).version;
const installedVersionOf = (dir, name) =>
  JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;

function fail(step, result) {
  const why = result.timedOut ? 'timed out' : `exit ${result.status}`;
  return new Error(`${step} failed (${why})\n${result.stdout}${result.stderr}`.trim());
}

/**
 * @param {{ dir: string, tarballs: Array<{ file: string, manifest: Record<string, any> }>, example: { package: string, markdown: string }, log: (s: string) => void }} o
 * @returns {Promise<string[]>} notes for the report
 */
export async function checkConsumer({ dir, tarballs, example, log }) {
  mkdirSync(dir, { recursive: true });
  const deps = Object.fromEntries(tarballs.map((t) => [t.manifest.name, `file:${t.file}`]));
  // Optional peers our packages declare (vitest for @srmudp/rendezvous/compliance): a user of those
  // entry points has them, so the consumer installs them too, at the version the workspace tests with.
  const peers = {};
  for (const { manifest } of tarballs) {
    for (const name of Object.keys(manifest.peerDependencies ?? {})) {
      if (!(name in deps)) peers[name] = installedVersion(name);
    }
  }
  const pkg = {
    name: 'srmudp-pack-consumer',
    private: true,
    type: 'module',
    dependencies: { ...deps, ...peers },
    devDependencies: { '@types/node': installedVersion('@types/node') },
    // Each tarball's own dependencies on the others are plain versions ("0.0.0"); the overrides make
    // npm take them from the tarballs too, never from the registry.
    overrides: deps,
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  const t0 = Date.now();
  const install = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', '--no-update-notifier'],
    { cwd: dir, timeoutMs: 600_000 },
  );
  if (install.status !== 0) throw fail('npm install', install);
  log(`npm install of ${tarballs.length} tarballs: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // Where did npm take our packages from? Every copy must come from a tarball.
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
  const ours = new Set(tarballs.map((t) => t.manifest.name));
  const problems = [];
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (path !== '' && ours.has(name) && !String(entry.resolved ?? '').startsWith('file:')) {
      problems.push(`${path} was installed from ${entry.resolved ?? 'an unknown place'}, not a tarball`);
    }
  }
  if (problems.length > 0) throw new Error(problems.join('\n'));

  // @srmudp/transport-node's install script compiled its optional native module (Linux with a C
  // compiler, as in CI): a user's `npm install` gets UDP segmentation offload without further steps.
  if (process.platform === 'linux' && ours.has('@srmudp/transport-node') && process.env.SRMUDP_GSO !== '0') {
    const cc = await run(process.env.CC || 'cc', ['--version'], { cwd: dir, timeoutMs: 30_000 }).catch(
      () => null,
    );
    const built = join(dir, 'node_modules', '@srmudp', 'transport-node', 'native', 'build', 'udp_gso.node');
    if (cc?.status === 0 && !existsSync(built)) {
      throw new Error(
        `npm install did not build ${built} (the package's install script, with a C compiler present)`,
      );
    }
    log(
      cc?.status === 0
        ? "npm install built @srmudp/transport-node's native module"
        : 'no C compiler: native module not expected',
    );
  }

  const specifiers = tarballs.flatMap((t) => exportSpecifiers(t.manifest));
  // 1. ESM: every entry point loads and exports something.
  writeFileSync(
    join(dir, 'imports.mjs'),
    [
      `const specifiers = ${JSON.stringify(specifiers)};`,
      'for (const s of specifiers) {',
      '  const m = await import(s);',
      "  if (Object.keys(m).length === 0) throw new Error(s + ' exports nothing');",
      "  console.log(s + ': ' + Object.keys(m).length + ' exports');",
      '}',
      '',
    ].join('\n'),
  );
  const imports = await run(process.execPath, ['imports.mjs'], { cwd: dir, timeoutMs: 60_000 });
  if (imports.status !== 0) throw fail('importing every entry point', imports);
  log(`imported ${specifiers.length} entry points as ESM`);

  // 2. Types: every entry point and the README example, against the published declarations.
  writeFileSync(
    join(dir, 'all-exports.ts'),
    [
      ...specifiers.map((s, i) => `import * as m${i} from '${s}';`),
      `export const entryPoints = [${specifiers.map((_, i) => `m${i}`).join(', ')}];`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'example.ts'), readmeExample(example.markdown));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2022'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
        },
        files: ['all-exports.ts', 'example.ts'],
      },
      null,
      2,
    )}\n`,
  );
  const tsc = require.resolve('typescript/bin/tsc');
  const types = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, timeoutMs: 180_000 });
  if (types.status !== 0) throw fail('type-checking the consumer (tsc, skipLibCheck off)', types);
  log(`type-checked ${specifiers.length} entry points and the ${example.package} README example`);

  // 3. The README example runs as ESM (types stripped by TypeScript itself, nothing else changed).
  const ts = require('typescript');
  const js = ts.transpileModule(readFileSync(join(dir, 'example.ts'), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  writeFileSync(join(dir, 'example.mjs'), js);
  const ran = await run(process.execPath, ['example.mjs'], { cwd: dir, timeoutMs: 60_000 });
  if (ran.status !== 0) throw fail(`running the ${example.package} README example`, ran);
  const out = ran.stdout.trim().split('\n');
  log(`ran the ${example.package} README example: exit 0, ${out.length} lines of output`);

  // 4. The command line as `npx srmudp` runs it: the bin npm linked from the srmudp tarball.
  const bin = join(dir, 'node_modules', '.bin', 'srmudp');
  const env = { ...process.env, SRMUDP_HOME: join(dir, 'srmudp-home'), NO_COLOR: '1' };
  const version = await run(bin, ['--version'], { cwd: dir, timeoutMs: 30_000, env });
  const want = `srmudp ${installedVersionOf(dir, 'srmudp')}`;
  if (version.status !== 0 || version.stdout.trim() !== want)
    throw fail(`"srmudp --version" (expected "${want}")`, version);
  const id = await run(bin, ['id', '--json', '--port', '4000'], { cwd: dir, timeoutMs: 30_000, env });
  if (
    id.status !== 0 ||
    !/^\{"peerId":"pk[a-z2-7]+","keyFile":".*","created":true,"card":"srmudp2:/.test(id.stdout)
  )
    throw fail('"srmudp id --json"', id);
  log(`ran the installed bin: ${want}; srmudp id created a key file and printed its card`);
  return out;
}
