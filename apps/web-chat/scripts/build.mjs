// Builds the static site into dist/web: index.html + app.js (esbuild, ESM, minified).
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_DIR = join(root, 'dist/web');

export async function buildSite(outDir = WEB_DIR) {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(root, 'src/main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    outfile: join(outDir, 'app.js'),
    conditions: ['source'],
    legalComments: 'none',
    logLevel: 'silent',
  });
  copyFileSync(join(root, 'src/index.html'), join(outDir, 'index.html'));
  return outDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(`web-chat: ${await buildSite()}`);
