// Builds the browser bundle (ESM, minified, no Node polyfills) with esbuild from the TypeScript
// sources of the workspace packages, and reports its size. `node scripts/bundle.mjs` writes
// dist/bundle/srmudp-browser.js; bundleBrowser({ write: false }) is what the budget test checks.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import ts from 'typescript';

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
    plugins: [withoutLogText],
  });
  const code = r.outputFiles[0].contents;
  return { code, bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length, metafile: r.metafile };
}

/**
 * The browser node sets no log sink: `BrowserNodeOptions` has no `log`, and the node builds its
 * CoreEndpoint without one, so core, crypto, reliability and the relay client, which derive
 * theirs from it, hold null. Every log line of theirs is an optional call, `<sink>.log?.(text)`
 * (or `this.#log?.(text)`), which with a null sink neither calls anything nor evaluates `text`:
 * this plugin replaces those calls with `undefined` in the workspace sources it bundles, so the
 * messages and what only they use (formatters) leave the bundle and nothing that runs changes
 * (reading a sink is side-effect free). `test/bundle.test.ts` checks both that no log text is
 * left and that the node still passes no sink.
 */
const withoutLogText = {
  name: 'without-log-text',
  setup(b) {
    b.onLoad({ filter: /[\\/]packages[\\/][^\\/]+[\\/]src[\\/].*\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('log?.(')) return undefined;
      const cuts = logCalls(args.path, text).stripped;
      let contents = text;
      for (const [start, end] of cuts.reverse())
        contents = `${contents.slice(0, start)}undefined${contents.slice(end)}`;
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * The optional calls in one source file that look like log lines: `stripped`, the [start, end)
 * of each `<x>.log?.(…)` / `this.#log?.(…)`, which the plugin removes; `missed`, the text of any
 * other optional call to something named like a log sink (`log?.(…)` on a local, `x.logger?.(…)`),
 * whose message the plugin would leave in the bundle (test/bundle.test.ts expects none).
 */
export function logCalls(path, text) {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
  const stripped = [];
  const missed = [];
  const visit = (n) => {
    if (ts.isCallExpression(n) && n.questionDotToken !== undefined) {
      const callee = n.expression;
      if (ts.isPropertyAccessExpression(callee) && /^#?log$/.test(callee.name.text)) {
        stripped.push([n.getStart(sf), n.end]);
        return;
      }
      const name = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : '';
      if (/log/i.test(name)) missed.push(n.getText(sf).slice(0, 60));
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return { stripped, missed };
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
