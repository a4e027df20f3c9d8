// What a published package must look like, as pure functions over manifests and tarball file lists
// (no I/O, so test/rules.test.ts can feed them broken packages). pack-check.mjs applies them to the
// tarballs `pnpm pack` makes; publint and arethetypeswrong run next to them.

/**
 * The workspace resolves `@srmudp/*` to TypeScript sources through the `source` export condition
 * (vitest.shared.ts, `node --conditions=source`). A published manifest must not carry it: a consumer
 * whose own tools set a `source` condition (a common monorepo convention) would load our `.ts` files,
 * which Node refuses under node_modules and which their compiler would check with their settings.
 * So `publishConfig.exports` (applied by `pnpm pack`/`pnpm publish`) is `exports` without `source`.
 * @param {unknown} exports
 * @returns {unknown}
 */
export function withoutSourceCondition(exports) {
  if (exports === null || typeof exports !== 'object') return exports;
  if (Array.isArray(exports)) return exports.map(withoutSourceCondition);
  const out = {};
  for (const [key, value] of Object.entries(exports)) {
    if (key !== 'source') out[key] = withoutSourceCondition(value);
  }
  return out;
}

function hasSourceCondition(exports) {
  if (exports === null || typeof exports !== 'object') return false;
  return Object.entries(exports).some(([k, v]) => k === 'source' || hasSourceCondition(v));
}

const sameJson = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * `files` exclusions a shipped folder needs: tsc's incremental build state (tsBuildInfoFile:
 * dist/.tsbuildinfo), and the ambient declarations in src (globals.d.ts of the pure packages, typings
 * for an untyped dependency) that only our own compilation reads and no map points at.
 */
export const EXCLUDES = { dist: '!dist/.tsbuildinfo', src: '!src/**/*.d.ts' };
const missingExcludes = (files) =>
  Object.entries(EXCLUDES).filter(([dir, not]) => files.includes(dir) && !files.includes(not));

/**
 * Problems of a publishable workspace manifest (the package.json in the repository).
 * @param {Record<string, any>} m
 * @returns {string[]}
 */
export function manifestProblems(m) {
  const p = [];
  if (typeof m.description !== 'string' || m.description.length === 0) p.push('no "description"');
  if (typeof m.license !== 'string') p.push('no "license"');
  if (m.type !== 'module') p.push('"type" is not "module" (the packages are ESM only)');
  if (m.sideEffects !== false) p.push('"sideEffects" is not false');
  if (typeof m.engines?.node !== 'string') p.push('no "engines.node"');
  if (m.exports === undefined) p.push('no "exports" map');
  if (!Array.isArray(m.files)) p.push('no "files" list (everything in the directory would ship)');
  else {
    for (const [dir, not] of missingExcludes(m.files)) p.push(`"files" has "${dir}" without "${not}"`);
  }
  if (hasSourceCondition(m.exports)) {
    const want = withoutSourceCondition(m.exports);
    if (!sameJson(m.publishConfig?.exports, want)) {
      p.push(
        `"publishConfig.exports" must be "exports" without the "source" condition: ${JSON.stringify(want)}`,
      );
    }
  } else if (m.publishConfig?.exports !== undefined && !sameJson(m.publishConfig.exports, m.exports)) {
    p.push('"publishConfig.exports" differs from "exports" although "exports" has no "source" condition');
  }
  return p;
}

/**
 * The fixes `pack-check --fix` writes: the `files` exclusions and `publishConfig.exports`.
 * Key order is kept; `publishConfig` goes right after `files`.
 * @param {Record<string, any>} m
 * @returns {Record<string, any>}
 */
export function fixManifest(m) {
  const out = {};
  const publishExports = hasSourceCondition(m.exports) ? withoutSourceCondition(m.exports) : undefined;
  for (const [key, value] of Object.entries(m)) {
    if (key === 'publishConfig') continue;
    if (key === 'files' && Array.isArray(value)) {
      const missing = new Map(missingExcludes(value));
      out.files = value.flatMap((f) => (missing.has(f) ? [f, missing.get(f)] : [f]));
    } else out[key] = value;
    if (key === 'files') {
      const publishConfig = { ...(m.publishConfig ?? {}) };
      if (publishExports !== undefined) publishConfig.exports = publishExports;
      if (Object.keys(publishConfig).length > 0) out.publishConfig = publishConfig;
    }
  }
  return out;
}

const DEP_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies'];

/**
 * Problems of the package.json inside a tarball (after pnpm rewrote it).
 * @param {Record<string, any>} m
 * @returns {string[]}
 */
export function packedManifestProblems(m) {
  const p = [];
  for (const field of DEP_FIELDS) {
    for (const [name, range] of Object.entries(m[field] ?? {})) {
      if (/^(workspace|link|file|portal):/.test(String(range))) {
        p.push(`${field}.${name} is "${range}": pack with pnpm so workspace ranges become versions`);
      }
    }
  }
  if (hasSourceCondition(m.exports)) p.push('the packed "exports" still has the "source" condition');
  return p;
}

// What a tarball may hold: the manifest, the docs, compiled output with its maps and declarations, and
// the TypeScript sources those maps point at. Anything else is listed as unexpected, unless the
// manifest names it (a `bin`, an export target).
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^CHANGELOG\.md$/,
  /^dist\/.+\.(js|d\.ts|js\.map|d\.ts\.map)$/,
  /^src\/.+\.ts$/,
  // C sources an install script compiles (@srmudp/transport-node's optional native module)
  /^native\/[^/]+\.[ch]$/,
];
const FORBIDDEN = [
  [/(^|\/)(test|tests|__tests__|fixtures)\//, 'a test directory'],
  [/\.(test|spec|bench)\.[cm]?[jt]sx?$/, 'a test or benchmark file'],
  [/(^|\/)bench\//, 'a benchmark directory'],
  [/\.tsbuildinfo$/, "tsc's build state"],
  [/(^|\/)(tsconfig[^/]*\.json|vitest\.config\.[cm]?[jt]s|biome\.json|turbo\.json)$/, 'build configuration'],
  [/(^|\/)(node_modules|\.turbo)\//, 'an install or cache directory'],
  [/\.(node|o|so)$|(^|\/)native\/build\//, 'a binary compiled on this machine'],
];

function manifestTargets(m) {
  const targets = new Set();
  const walk = (v) => {
    if (typeof v === 'string') targets.add(v.replace(/^\.\//, ''));
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(m.exports);
  walk(typeof m.bin === 'string' ? { bin: m.bin } : m.bin);
  // a script file the install lifecycle runs (`node scripts/build-native.mjs`)
  for (const k of ['preinstall', 'install', 'postinstall']) {
    const cmd = m.scripts?.[k];
    if (typeof cmd !== 'string') continue;
    for (const word of cmd.split(/\s+/)) if (/\.[cm]?js$/.test(word)) targets.add(word.replace(/^\.\//, ''));
  }
  return targets;
}

function posixResolve(fromDir, rel) {
  const parts = fromDir === '' ? [] : fromDir.split('/');
  for (const seg of rel.split('/')) {
    if (seg === '..') parts.pop();
    else if (seg !== '.' && seg !== '') parts.push(seg);
  }
  return parts.join('/');
}

/**
 * Problems of a tarball's file list.
 * @param {Map<string, string>} files path inside `package/` → text content (read for package.json, .map and .d.ts)
 * @param {Record<string, any>} manifest the packed package.json
 * @returns {string[]}
 */
export function tarballProblems(files, manifest) {
  const p = [];
  for (const required of ['package.json', 'README.md', 'LICENSE']) {
    if (!files.has(required)) p.push(`${required} is missing`);
  }
  const named = manifestTargets(manifest);
  for (const path of files.keys()) {
    const bad = FORBIDDEN.find(([re]) => re.test(path));
    if (bad) p.push(`${path} is ${bad[1]}`);
    else if (!named.has(path) && !ALLOWED.some((re) => re.test(path))) p.push(`${path} is not expected`);
  }
  // Sources ship only as the targets of the source maps and declaration maps (stack traces with
  // --enable-source-maps, go-to-definition in editors) or of a `/// <reference path>` of a shipped
  // declaration (typings of an untyped dependency): every such target must be in the tarball, and
  // every shipped source must be one.
  const targeted = new Set();
  for (const [path, text] of files) {
    const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
    if (path.endsWith('.d.ts')) {
      for (const [, ref] of text.matchAll(/^\/\/\/\s*<reference\s+path="([^"]+)"/gm)) {
        const target = posixResolve(dir, ref);
        targeted.add(target);
        if (!files.has(target)) p.push(`${path} references ${target}, which is not in the tarball`);
      }
    }
    if (!path.endsWith('.map')) continue;
    let map;
    try {
      map = JSON.parse(text);
    } catch {
      p.push(`${path} is not JSON`);
      continue;
    }
    const root = posixResolve(dir, map.sourceRoot ?? '');
    for (const source of map.sources ?? []) {
      const target = posixResolve(root, source);
      targeted.add(target);
      if (!files.has(target)) p.push(`${path} maps to ${target}, which is not in the tarball`);
    }
  }
  for (const path of files.keys()) {
    if (path.startsWith('src/') && !targeted.has(path)) {
      p.push(`${path} ships but no map or declaration refers to it`);
    }
  }
  return p;
}

/**
 * arethetypeswrong problems that matter for an ESM-only package: the CLI's `--profile esm-only`
 * leaves out the `node10` and `node16-cjs` resolutions (`require()` of ESM is not supported by
 * design; engines say Node >= 20). Problems without a resolution kind always count.
 * @param {Array<Record<string, any>>} problems `checkPackage(...).problems` of @arethetypeswrong/core
 */
export function esmOnlyProblems(problems) {
  const ignored = new Set(['node10', 'node16-cjs']);
  return problems.filter((problem) => !ignored.has(problem.resolutionKind));
}
