#!/usr/bin/env node
// Creates (or refreshes the boilerplate of) a workspace package:
//   node tooling/scaffold.mjs <dir> <name> <pure|node> "<description>" [dep ...]
// Dependencies named @srmudp/* become workspace:* deps and tsconfig project references.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fixManifest } from './packaging/src/rules.mjs';

const [dir, name, kind, description, ...deps] = process.argv.slice(2);
if (!dir || !name || (kind !== 'pure' && kind !== 'node') || description === undefined) {
  console.error('usage: scaffold.mjs <dir> <name> <pure|node> "<description>" [dep ...]');
  process.exit(2);
}
const root = new URL('..', import.meta.url).pathname;
const abs = join(root, dir);
mkdirSync(join(abs, 'src'), { recursive: true });
mkdirSync(join(abs, 'test'), { recursive: true });
const up = relative(abs, root) || '.';

const pkgPath = join(abs, 'package.json');
const old = existsSync(pkgPath) ? JSON.parse(readFileSync(pkgPath, 'utf8')) : {};
const dependencies = { ...(old.dependencies ?? {}) };
const references = [];
for (const d of deps) {
  const [depName, version] = d.startsWith('@')
    ? [`@${d.slice(1).split('@')[0]}`, d.slice(1).split('@')[1]]
    : d.split('@');
  if (depName.startsWith('@srmudp/') || depName === 'srmudp') {
    dependencies[depName] = 'workspace:*';
    const short = depName === 'srmudp' ? 'srmudp' : depName.slice('@srmudp/'.length);
    references.push({ path: relative(abs, join(root, 'packages', short)) });
  } else {
    dependencies[depName] = version ?? old.dependencies?.[depName] ?? 'latest';
  }
}
const pkg = {
  name,
  version: old.version ?? '0.0.0',
  description,
  license: 'MIT',
  ...(dir.startsWith('apps/') ? { private: true } : {}),
  type: 'module',
  sideEffects: false,
  engines: { node: '>=20' },
  exports: old.exports ?? {
    '.': { source: './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' },
  },
  ...(old.bin ? { bin: old.bin } : {}),
  files: old.files ?? ['dist', 'src', 'README.md'],
  ...(old.publishConfig ? { publishConfig: old.publishConfig } : {}),
  scripts: {
    build: 'tsc -b',
    typecheck: 'tsc -b',
    test: 'vitest run',
    ...(old.scripts ?? {}),
  },
  dependencies,
  devDependencies: old.devDependencies ?? {},
};
// A published package gets the packaging rules of tooling/packaging (files exclusions,
// publishConfig.exports without the workspace-only `source` condition).
writeFileSync(pkgPath, `${JSON.stringify(pkg.private ? pkg : fixManifest(pkg), null, 2)}\n`);

const tsconfig = {
  extends: `${up}/tsconfig.base.json`,
  compilerOptions: {
    rootDir: 'src',
    outDir: 'dist',
    tsBuildInfoFile: 'dist/.tsbuildinfo',
    ...(kind === 'pure' ? { types: [] } : { types: ['node'] }),
  },
  include: ['src'],
  references,
};
writeFileSync(join(abs, 'tsconfig.json'), `${JSON.stringify(tsconfig, null, 2)}\n`);
const short = name.replace('@srmudp/', '');
writeFileSync(
  join(abs, 'vitest.config.ts'),
  `import { project } from '${up}/vitest.shared.ts';\n\nexport default project('${short}');\n`,
);
if (!existsSync(join(abs, 'src/index.ts'))) writeFileSync(join(abs, 'src/index.ts'), 'export {};\n');
if (kind === 'pure' && !existsSync(join(abs, 'src/globals.d.ts'))) {
  // Pure packages compile without DOM or Node types; declare only the host globals they may use.
  writeFileSync(
    join(abs, 'src/globals.d.ts'),
    `// Pure package: no Node or DOM types. These two globals exist in every JS runtime we target.
declare class TextEncoder {
  encode(input?: string): Uint8Array;
  encodeInto(src: string, dest: Uint8Array): { read: number; written: number };
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
`,
  );
}

// keep the root solution tsconfig in sync
const rootTs = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8'));
const ref = { path: `./${dir}` };
if (!rootTs.references.some((r) => r.path === ref.path)) rootTs.references.push(ref);
rootTs.references.sort((a, b) => a.path.localeCompare(b.path));
writeFileSync(join(root, 'tsconfig.json'), `${JSON.stringify(rootTs, null, 2)}\n`);
console.log(`scaffolded ${name} in ${dir}`);
