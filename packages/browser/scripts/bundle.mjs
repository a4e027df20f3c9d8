// Builds the browser bundle (ESM, minified, no Node polyfills) with esbuild from the TypeScript
// sources of the workspace packages, and reports its size. `node scripts/bundle.mjs` writes
// dist/bundle/srmudp-browser.js; bundleBrowser({ write: false }) is what the budget test checks.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(here, '..');

/** Bundles `entry` (default src/index.ts) for browsers; resolves with the code and its sizes. */
export async function bundleBrowser({ entry = join(ROOT, 'src/index.ts'), minify = true } = {}) {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    write: false,
    metafile: true,
    sourcemap: false,
    legalComments: 'none',
    // the workspace packages' TypeScript sources (their "source" export condition)
    conditions: ['source'],
    logLevel: 'silent',
  });
  const code = r.outputFiles[0].contents;
  return { code, bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length, metafile: r.metafile };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = join(ROOT, 'dist/bundle/srmudp-browser.js');
  const b = await bundleBrowser();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, b.code);
  console.log(
    `bundle: ${out} ${(b.bytes / 1024).toFixed(1)} KiB min, ${(b.gzipBytes / 1024).toFixed(1)} KiB min+gzip`,
  );
}
