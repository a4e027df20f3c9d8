// The packages this repository publishes: every workspace package (pnpm-workspace.yaml globs) whose
// package.json is not `private`. Read from disk each run, so a package added later is checked and
// documented without editing a list.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** The `packages:` globs of pnpm-workspace.yaml; only the `dir/*` form is used in this repository. */
export function workspaceGlobs(root = repoRoot) {
  const text = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const globs = [];
  let inPackages = false;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) inPackages = line.startsWith('packages:');
    else if (inPackages) {
      const m = /^\s+-\s+['"]?([^'"#\s]+)['"]?/.exec(line);
      if (m) globs.push(m[1]);
    }
  }
  for (const g of globs) {
    if (!/^[\w.-]+(\/[\w.-]+)*\/\*$/.test(g)) {
      throw new Error(`pnpm-workspace.yaml: glob '${g}' is not of the form 'dir/*' this tool understands`);
    }
  }
  return globs;
}

/**
 * @typedef {{ dir: string, rel: string, manifest: Record<string, any> }} WorkspacePackage
 * `dir` absolute, `rel` relative to the repository root (`packages/wire`).
 */

/** @returns {WorkspacePackage[]} every workspace package, sorted by directory. */
export function workspacePackages(root = repoRoot) {
  const out = [];
  for (const glob of workspaceGlobs(root)) {
    const parent = join(root, glob.slice(0, -2));
    if (!existsSync(parent)) continue;
    for (const entry of readdirSync(parent, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = join(parent, entry.name);
      const file = join(dir, 'package.json');
      if (!existsSync(file)) continue;
      out.push({ dir, rel: relative(root, dir), manifest: JSON.parse(readFileSync(file, 'utf8')) });
    }
  }
  return out.sort((a, b) => a.rel.localeCompare(b.rel));
}

/** @returns {WorkspacePackage[]} the workspace packages that are published (not `private`). */
export function publishedPackages(root = repoRoot) {
  return workspacePackages(root).filter((p) => p.manifest.private !== true);
}

/**
 * The entry points a package publishes: import specifier (`name` for ".", `name/sub` for "./sub")
 * and the conditions object of that subpath. Patterns (`./*`) and `./package.json` are left out.
 * @returns {Array<{ specifier: string, subpath: string, target: unknown }>}
 */
export function exportEntries(manifest) {
  const exports = manifest.exports;
  const isSubpathMap =
    exports !== null && typeof exports === 'object' && Object.keys(exports).some((k) => k.startsWith('.'));
  if (!isSubpathMap) return [{ specifier: manifest.name, subpath: '.', target: exports }];
  return Object.entries(exports)
    .filter(([k]) => !k.includes('*') && k !== './package.json')
    .map(([k, target]) => ({
      specifier: k === '.' ? manifest.name : `${manifest.name}/${k.slice(2)}`,
      subpath: k,
      target,
    }));
}

/** @returns {string[]} every import specifier a package publishes. */
export const exportSpecifiers = (manifest) => exportEntries(manifest).map((e) => e.specifier);

/**
 * What is wrong with the changesets in `files` (`{ name, text }`, the .md files of .changeset/)
 * given the workspace's package `names`: each front-matter line must be `'package': bump` with a
 * workspace package and major, minor or patch. `changeset version` stops at the first unknown
 * name, so one wrong name blocks every release.
 * @param {{ name: string, text: string }[]} files
 * @param {Set<string>} names
 * @returns {string[]}
 */
export function changesetProblems(files, names) {
  const out = [];
  for (const { name, text } of files) {
    const m = /^---\r?\n((?:[\s\S]*?\r?\n)?)---/.exec(text);
    if (!m) {
      out.push(`${name}: no front matter`);
      continue;
    }
    // an empty front matter is a changeset that bumps no package (the Python client's)
    for (const line of (m[1] ?? '').split(/\r?\n/)) {
      if (line.trim() === '') continue;
      const e = /^\s*(['"]?)([^'":\s]+)\1\s*:\s*(\S+)\s*$/.exec(line);
      if (!e) out.push(`${name}: '${line}' is not "'package': bump"`);
      else if (!names.has(e[2])) out.push(`${name}: '${e[2]}' is not a workspace package`);
      else if (!['major', 'minor', 'patch'].includes(e[3])) out.push(`${name}: '${e[3]}' is not a bump`);
    }
  }
  return out;
}

/** {@link changesetProblems} of this repository's .changeset/ directory. */
export function repoChangesetProblems(root = repoRoot) {
  const dir = join(root, '.changeset');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.md') && f !== 'README.md')
    .map((f) => ({ name: f, text: readFileSync(join(dir, f), 'utf8') }));
  return changesetProblems(files, new Set(workspacePackages(root).map((p) => p.manifest.name)));
}
