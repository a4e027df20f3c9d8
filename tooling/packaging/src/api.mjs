// Where the API reference of each entry point lives, which source file TypeDoc reads for it, and the
// README links that must point at it.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { exportEntries } from './workspace.mjs';

/** Page of an entry point inside docs/api/ (typedoc-plugin-markdown's `modules` file layout). */
export const apiDocPath = (specifier) => `${specifier}.md`;

/**
 * The TypeScript source of a subpath export: its `source` condition, or else the `.ts` file in src/
 * that the `default`/`import` target in dist/ was compiled from.
 */
export function sourceOf(dir, target) {
  const conditions = typeof target === 'string' ? { default: target } : (target ?? {});
  const built = conditions.import ?? conditions.default;
  const candidates = [
    conditions.source,
    typeof built === 'string' ? built.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts') : undefined,
  ].filter((c) => typeof c === 'string');
  const found = candidates.map((c) => join(dir, c)).find((f) => existsSync(f));
  if (!found) throw new Error(`api-docs: no TypeScript source for ${dir} ${JSON.stringify(target)}`);
  return found;
}

/** @returns {Array<{ file: string, specifier: string }>} every entry point of every package. */
export function entryPoints(packages) {
  return packages.flatMap((p) =>
    exportEntries(p.manifest).map((e) => ({ file: sourceOf(p.dir, e.target), specifier: e.specifier })),
  );
}

/** Markdown link target from a file in `fromDir` to the page of `specifier`. */
export const apiDocLink = (root, fromDir, specifier) =>
  relative(fromDir, join(root, 'docs/api', apiDocPath(specifier)));

/**
 * Every package README links the page of each of its entry points; the root README links the index.
 * @returns {string[]}
 */
export function readmeLinkProblems(packages, root) {
  const problems = [];
  const rootReadme = readFileSync(join(root, 'README.md'), 'utf8');
  if (!rootReadme.includes('](docs/api/README.md)')) {
    problems.push('README.md has no link to the API reference (docs/api/README.md)');
  }
  for (const p of packages) {
    const file = join(p.dir, 'README.md');
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    for (const { specifier } of exportEntries(p.manifest)) {
      const link = apiDocLink(root, p.dir, specifier);
      if (!text.includes(`](${link})`)) problems.push(`${p.rel}/README.md has no link to ${link}`);
    }
  }
  return problems;
}
