import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the bin from its sources; `stop` sends SIGTERM once `until` matches stdout. */
function run(args: string[], env: Record<string, string> = {}, until?: RegExp) {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c;
    if (until?.test(stdout)) {
      until = undefined;
      child.kill('SIGTERM');
    }
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c;
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('srmudp-relay command', () => {
  it('starts from flags and environment, logs its card as JSON, and exits 0 on SIGTERM after telling clients', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'srmudp-relay-cli-'));
    dirs.push(dir);
    const r = await run(
      ['--host=127.0.0.1', '--port=0', '--udp-host=127.0.0.1', `--key-file=${join(dir, 'k', 'relay.key')}`],
      { SRMUDP_RELAY_UDP_PORT: '0', SRMUDP_RELAY_DRAIN_MS: '0' },
      /"msg":"srmudp relay listening"/,
    );
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const listening = lines.find((l) => l.msg === 'srmudp relay listening');
    expect(listening).toMatchObject({ level: 'info', admission: 'open', tls: false });
    expect(String(listening?.card)).toMatch(/^srmudp/);
    expect(String(listening?.relay)).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/relay#/);
    expect(lines.map((l) => l.msg)).toEqual(
      expect.arrayContaining([
        'created a new relay identity',
        'signal',
        'shutting down: telling clients to reconnect',
        'stopped',
      ]),
    );
  });

  it('refuses invalid configuration with every problem and exit code 2; --help prints the usage', async () => {
    const bad = await run(['--port', '99999', '--admission', 'token'], { SRMUDP_RELAY_RATE: '-5' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('srmudp-relay: invalid relay config');
    expect(bad.stderr).toMatch(/port: /);
    expect(bad.stderr).toMatch(/limits\.rateBytesPerSec: /);
    expect(bad.stderr).toMatch(/tokens: admission 'token' needs at least one token/);
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: srmudp-relay');
  });
});
