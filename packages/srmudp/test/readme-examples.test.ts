// Every README example that uses the façade runs, exits by itself and prints what it says
// (issue 21 item 1: the root README's example lost its first message and never exited).
// An example is a ```ts block that starts with an import; fragments (no import) are not run.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tsx = pathToFileURL(createRequire(`${root}package.json`).resolve('tsx')).href;
const srmudp = pathToFileURL(fileURLToPath(new URL('../src/index.ts', import.meta.url))).href;

function examples(readme: string): string[] {
  const text = readFileSync(join(root, readme), 'utf8');
  return [...text.matchAll(/```ts\n([\s\S]*?)\n```/g)]
    .map((m) => m[1] as string)
    .filter((code) => /^import /.test(code) && /from 'srmudp'/.test(code));
}

function run(code: string): Promise<{ status: number | null; out: string; ms: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'srmudp-readme-'));
  const file = join(dir, 'example.mts');
  writeFileSync(file, code.replaceAll("from 'srmudp'", `from '${srmudp}'`));
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsx, '--conditions=source', file], { cwd: dir });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ status, out, ms: Date.now() - t0 });
    });
  });
}

describe('README examples run and exit', () => {
  it('root README: the first message arrives (peers.ready) and the script exits by itself', async () => {
    const [example] = examples('README.md');
    expect(example).toContain("peers.ready('alice'");
    const r = await run(example as string);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/peer: 'bob',\s+data: Uint8Array\(11\)/);
    expect(r.out).not.toMatch(/^null$/m);
  }, 40_000);

  it('packages/srmudp README: every example', async () => {
    const list = examples('packages/srmudp/README.md');
    expect(list.length).toBeGreaterThan(0);
    for (const example of list) {
      const r = await run(example);
      expect(r.status, r.out).toBe(0);
      expect(r.out).toContain('hello over an encrypted stream');
    }
  }, 40_000);
});
