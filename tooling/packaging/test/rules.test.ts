import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readmeLinkProblems, writeReadmeLinks } from '../src/api.mjs';
import { readmeExample } from '../src/consumer.mjs';
import {
  esmOnlyProblems,
  fixManifest,
  manifestProblems,
  packedManifestProblems,
  tarballProblems,
  withoutSourceCondition,
} from '../src/rules.mjs';
import {
  changesetProblems,
  exportEntries,
  publishedPackages,
  repoChangesetProblems,
  workspacePackages,
} from '../src/workspace.mjs';

type Conditions = Record<string, string>;
interface Manifest {
  [field: string]: unknown;
  type?: string;
  sideEffects?: boolean;
  exports: Record<string, Conditions>;
  files: string[];
  publishConfig?: { exports: Record<string, Conditions> };
  dependencies?: Record<string, string>;
}

const good = (): Manifest => ({
  name: '@srmudp/x',
  version: '0.0.0',
  description: 'x',
  license: 'MIT',
  type: 'module',
  sideEffects: false,
  engines: { node: '>=20' },
  exports: {
    '.': { source: './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' },
    './sub': { source: './src/sub.ts', types: './dist/sub.d.ts', default: './dist/sub.js' },
  },
  files: ['dist', '!dist/.tsbuildinfo', 'src', '!src/**/*.d.ts', 'README.md'],
  publishConfig: {
    exports: {
      '.': { types: './dist/index.d.ts', default: './dist/index.js' },
      './sub': { types: './dist/sub.d.ts', default: './dist/sub.js' },
    },
  },
  scripts: { build: 'tsc -b' },
});

describe('manifest rules', () => {
  it('strips the source condition at every depth and keeps condition order', () => {
    const e = { '.': { source: 's', types: 't', node: { source: 's2', default: 'n' }, default: 'd' } };
    expect(withoutSourceCondition(e)).toEqual({ '.': { types: 't', node: { default: 'n' }, default: 'd' } });
    expect(Object.keys((withoutSourceCondition(e) as Record<string, object>)['.'] ?? {})).toEqual([
      'types',
      'node',
      'default',
    ]);
  });

  it('accepts a complete manifest', () => {
    expect(manifestProblems(good())).toEqual([]);
  });

  it('finds a missing or stale publishConfig.exports, missing files exclusions and non-ESM packages', () => {
    const m = good();
    delete m.publishConfig;
    expect(manifestProblems(m).join('\n')).toMatch(/publishConfig\.exports" must be "exports" without/);
    const stale = good();
    stale.exports['./extra'] = { source: './src/extra.ts', default: './dist/extra.js' };
    expect(manifestProblems(stale)).toHaveLength(1);
    const files = good();
    files.files = ['dist', 'src', 'README.md'];
    expect(manifestProblems(files)).toEqual([
      '"files" has "dist" without "!dist/.tsbuildinfo"',
      '"files" has "src" without "!src/**/*.d.ts"',
    ]);
    const cjs = good();
    delete cjs.type;
    cjs.sideEffects = true;
    expect(manifestProblems(cjs)).toHaveLength(2);
  });

  it('fixManifest makes a manifest clean, keeps key order and is idempotent', () => {
    const m = good();
    delete m.publishConfig;
    m.files = ['dist', 'src', 'README.md'];
    const fixed = fixManifest(m);
    expect(manifestProblems(fixed)).toEqual([]);
    expect(Object.keys(fixed)).toEqual(Object.keys(good()));
    expect(fixed.files).toEqual(good().files);
    expect(fixManifest(fixed)).toEqual(fixed);
  });

  it('finds workspace ranges and the source condition in a packed manifest', () => {
    const m: Manifest = { ...good(), dependencies: { '@srmudp/wire': 'workspace:*', zod: '^4.1.0' } };
    expect(packedManifestProblems(m)).toEqual([
      'dependencies.@srmudp/wire is "workspace:*": pack with pnpm so workspace ranges become versions',
      'the packed "exports" still has the "source" condition',
    ]);
    expect(packedManifestProblems({ ...m, exports: m.publishConfig?.exports, dependencies: {} })).toEqual([]);
  });
});

describe('tarball rules', () => {
  const map = (sources: string[]) => JSON.stringify({ version: 3, sources, mappings: '' });
  const clean = () =>
    new Map<string, string>([
      ['package.json', '{}'],
      ['README.md', ''],
      ['LICENSE', ''],
      ['dist/index.js', ''],
      ['dist/index.js.map', map(['../src/index.ts'])],
      ['dist/index.d.ts', '/// <reference path="../src/ambient.d.ts" preserve="true" />\nexport {};\n'],
      ['dist/index.d.ts.map', map(['../src/index.ts'])],
      ['src/index.ts', ''],
      ['src/ambient.d.ts', ''],
    ]);

  it('accepts compiled output, its maps, their sources and referenced declarations', () => {
    expect(tarballProblems(clean(), {})).toEqual([]);
  });

  it('finds tests, benchmarks, build state and unexpected files', () => {
    const files = clean();
    for (const f of [
      'test/x.test.ts',
      'dist/x.test.js',
      'bench/a.ts',
      'dist/.tsbuildinfo',
      'tsconfig.json',
      'notes.txt',
    ]) {
      files.set(f, '');
    }
    expect(tarballProblems(files, {})).toEqual([
      'test/x.test.ts is a test directory',
      'dist/x.test.js is a test or benchmark file',
      'bench/a.ts is a benchmark directory',
      "dist/.tsbuildinfo is tsc's build state",
      'tsconfig.json is build configuration',
      'notes.txt is not expected',
    ]);
  });

  it('allows a file the manifest names (a bin) and requires README, LICENSE and package.json', () => {
    const files = clean();
    files.set('bin/cli.mjs', '');
    files.delete('LICENSE');
    expect(tarballProblems(files, { bin: { x: './bin/cli.mjs' } })).toEqual(['LICENSE is missing']);
  });

  it('allows the script the install lifecycle runs and C sources under native/, never a compiled binary', () => {
    const files = clean();
    files.set('scripts/build-native.mjs', '');
    files.set('native/udp-gso.c', '');
    files.set('native/build/udp_gso.node', '');
    files.set('native/x.o', '');
    files.set('scripts/other.mjs', '');
    expect(tarballProblems(files, { scripts: { install: 'node scripts/build-native.mjs' } })).toEqual([
      'native/build/udp_gso.node is a binary compiled on this machine',
      'native/x.o is a binary compiled on this machine',
      'scripts/other.mjs is not expected',
    ]);
  });

  it('finds maps and references whose targets are missing, and sources nothing points at', () => {
    const files = clean();
    files.delete('src/index.ts');
    files.delete('src/ambient.d.ts');
    files.set('src/stray.ts', '');
    expect(tarballProblems(files, {})).toEqual([
      'dist/index.js.map maps to src/index.ts, which is not in the tarball',
      'dist/index.d.ts references src/ambient.d.ts, which is not in the tarball',
      'dist/index.d.ts.map maps to src/index.ts, which is not in the tarball',
      'src/stray.ts ships but no map or declaration refers to it',
    ]);
  });

  it('keeps the arethetypeswrong problems of the esm-only profile', () => {
    const problems = [
      { kind: 'CJSResolvesToESM', resolutionKind: 'node16-cjs' },
      { kind: 'NoResolution', resolutionKind: 'node10' },
      { kind: 'FalseESM', resolutionKind: 'node16-esm' },
      { kind: 'InternalResolutionError', resolutionOption: 'bundler' },
    ];
    expect(esmOnlyProblems(problems).map((p) => p.kind)).toEqual(['FalseESM', 'InternalResolutionError']);
  });
});

describe('workspace', () => {
  it('lists every non-private package and the entry points of its exports', () => {
    const all = workspacePackages();
    const published = publishedPackages();
    expect(published.map((p) => p.rel)).toContain('packages/srmudp');
    expect(published.every((p) => p.manifest.private !== true)).toBe(true);
    expect(all.filter((p) => p.manifest.private === true).map((p) => p.rel)).toContain('apps/demo');
    expect(exportEntries({ name: 'a', exports: './x.js' }).map((e) => e.specifier)).toEqual(['a']);
    expect(
      exportEntries({ name: 'a', exports: { '.': './x.js', './b': './b.js', './*': './*.js' } }).map(
        (e) => e.specifier,
      ),
    ).toEqual(['a', 'a/b']);
  });

  // The packing itself runs in CI (`pnpm check:pack`); the manifest rules are cheap enough to hold
  // every published package to them in the unit tests too, so a new package hears about them early.
  it('every published manifest follows the rules', () => {
    for (const p of publishedPackages()) expect([p.rel, manifestProblems(p.manifest)]).toEqual([p.rel, []]);
  });

  it('takes the README example from the first ts block of its Example section', () => {
    const md =
      '# x\n\n```ts\nnot this\n```\n\n## Example\n\nText.\n\n```ts\nconst a = 1;\n```\n\n```ts\nno\n```\n';
    expect(readmeExample(md)).toBe('const a = 1;\n');
    expect(() => readmeExample('# x\n')).toThrow(/no "## Example"/);
  });
});

describe('README links to the API reference', () => {
  it('finds a missing link, and writeReadmeLinks inserts then updates the one line', () => {
    const root = mkdtempSync(join(tmpdir(), 'srmudp-readme-links-'));
    try {
      const dir = join(root, 'packages/x');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(root, 'README.md'), 'see [docs/api/README.md](docs/api/README.md)\n');
      writeFileSync(join(dir, 'README.md'), '# x\n\nWhat it is.\n\n## Why\n\nBecause.\n');
      const pkg = { dir, rel: 'packages/x', manifest: { name: '@s/x', exports: { '.': {}, './y': {} } } };
      expect(readmeLinkProblems([pkg], root)).toEqual([
        'packages/x/README.md has no link to ../../docs/api/@s/x.md',
        'packages/x/README.md has no link to ../../docs/api/@s/x/y.md',
      ]);
      expect(writeReadmeLinks([pkg], root)).toEqual(['packages/x/README.md']);
      expect(readFileSync(join(dir, 'README.md'), 'utf8')).toBe(
        '# x\n\nWhat it is.\n\nAPI reference (every export, generated by TypeDoc): ' +
          '[`@s/x`](../../docs/api/@s/x.md) · [`@s/x/y`](../../docs/api/@s/x/y.md).\n\n## Why\n\nBecause.\n',
      );
      expect(readmeLinkProblems([pkg], root)).toEqual([]);
      expect(writeReadmeLinks([pkg], root)).toEqual([]);
      pkg.manifest.exports = { '.': {} } as typeof pkg.manifest.exports;
      writeReadmeLinks([pkg], root);
      expect(readFileSync(join(dir, 'README.md'), 'utf8')).not.toContain('@s/x/y');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('changesets', () => {
  it("every changeset names workspace packages with a bump (one unknown name stops 'changeset version')", () => {
    expect(repoChangesetProblems()).toEqual([]);
  });

  it('finds an unknown package, a wrong bump, a line of another shape and a file without front matter', () => {
    const names = new Set(['srmudp', '@srmudp/wire']);
    const files = [
      { name: 'ok.md', text: '---\n\'srmudp\': patch\n"@srmudp/wire": minor\n---\n\nText.\n' },
      { name: 'scoped.md', text: "---\n'@srmudp/srmudp': patch\n---\n\nText.\n" },
      { name: 'bump.md', text: "---\n'srmudp': huge\n---\n" },
      { name: 'shape.md', text: '---\nsrmudp patch\n---\n' },
      { name: 'none.md', text: 'Text only.\n' },
      { name: 'empty.md', text: '---\n---\n\nA change to no npm package.\n' },
    ];
    expect(changesetProblems(files, names)).toEqual([
      "scoped.md: '@srmudp/srmudp' is not a workspace package",
      "bump.md: 'huge' is not a bump",
      `shape.md: 'srmudp patch' is not "'package': bump"`,
      'none.md: no front matter',
    ]);
  });
});
