// The Python client's test suite (clients/python, pytest) inside the repository's vitest run:
// every pytest test becomes one vitest test, so `npm test` counts them and fails when one fails.
// pytest runs once (beforeAll); its conftest writes each test's outcome to a JSON file.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const client = resolve(dirname(fileURLToPath(import.meta.url)), '../../../clients/python');
const NEEDS = 'import sys, cryptography, websockets, pytest, hypothesis; assert sys.version_info >= (3, 11)';

/** The first Python that has what the suite needs: $SRMUDP_PYTHON, python3, Debian's python3. */
function findPython(): { python: string | null; tried: string[] } {
  const tried: string[] = [];
  for (const c of [process.env.SRMUDP_PYTHON, 'python3', '/usr/bin/python3']) {
    if (!c || tried.includes(c)) continue;
    tried.push(c);
    if (spawnSync(c, ['-c', NEEDS], { stdio: 'ignore', timeout: 30_000 }).status === 0)
      return { python: c, tried };
  }
  return { python: null, tried };
}

const { python, tried } = findPython();
const collected = python
  ? spawnSync(python, ['-m', 'pytest', '--collect-only', '-q'], {
      cwd: client,
      encoding: 'utf8',
      timeout: 120_000,
    })
  : null;
const ids = (collected?.stdout ?? '').split('\n').filter((l) => l.includes('::'));

interface Outcome {
  outcome: 'passed' | 'failed' | 'skipped';
  message: string;
}

describe('python client (pytest, clients/python)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'srmudp-pytest-'));
  const resultsFile = join(dir, 'results.json');
  let results = new Map<string, Outcome>();
  let output = '';

  beforeAll(async () => {
    if (!python || ids.length === 0) return;
    const status = await new Promise<number | null>((done) => {
      const p = spawn(python, ['-m', 'pytest', '-q'], {
        cwd: client,
        env: { ...process.env, SRMUDP_PYTEST_RESULTS: resultsFile },
      });
      p.stdout.on('data', (d) => {
        output += String(d);
      });
      p.stderr.on('data', (d) => {
        output += String(d);
      });
      p.on('close', done);
    });
    try {
      results = new Map(
        Object.entries(JSON.parse(readFileSync(resultsFile, 'utf8')) as Record<string, Outcome>),
      );
    } catch {
      results = new Map();
    }
    if (status !== 0 && results.size === 0) console.error(output.slice(-4000));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds Python >= 3.11 with cryptography, websockets, pytest and hypothesis, and collects the suite', () => {
    expect(
      python,
      `none of ${tried.join(', ')} can run: ${NEEDS} (install: see clients/python/README.md)`,
    ).not.toBeNull();
    expect(ids.length, collected?.stderr || collected?.stdout || '').toBeGreaterThan(50);
  });

  for (const id of ids) {
    it(id, () => {
      const r = results.get(id);
      expect(r, `no result for ${id}; pytest output:\n${output.slice(-2000)}`).toBeDefined();
      expect(r?.outcome, r?.message).toBe('passed');
    });
  }
});
