import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Proc } from './proc.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const live: Proc[] = [];
const start = (args: string[], env?: NodeJS.ProcessEnv) => {
  const p = new Proc(args, undefined, env ? { env } : {});
  live.push(p);
  return p;
};
afterEach(() => {
  for (const p of live.splice(0)) p.kill();
});

const dir = mkdtempSync(join(tmpdir(), 'srmudp-send-'));
// key files and control sockets of the commands stay in the test's folder
process.env.SRMUDP_HOME = join(dir, 'home');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A sender; `shared` ones outlive a test (killed by the caller), others die in afterEach. */
async function startSender(file: string, shared = false): Promise<{ proc: Proc; card: string }> {
  const proc = shared
    ? new Proc(['send', file, '--host', '127.0.0.1'])
    : start(['send', file, '--host', '127.0.0.1']);
  const m = await proc.waitFor(/^(srmudp2:\S+)$/m, 30_000, 'the contact card');
  return { proc, card: (m as RegExpMatchArray)[1] as string };
}

const DONE = /transferred (\d+) bytes from offset (\d+)/;

describe('srmudp send / srmudp receive between processes on 127.0.0.1', () => {
  const file = join(dir, 'payload.bin');
  const data = randomBytes(20 * MiB);
  writeFileSync(file, data);
  let sender: { proc: Proc; card: string };
  beforeAll(async () => {
    sender = await startSender(file, true);
  }, 40_000);
  afterAll(() => sender?.proc.kill());

  it('a 20 MiB file arrives with SHA-256 equal; a second run refuses to overwrite without --force', async () => {
    const out = join(dir, 'got.bin');
    const r = start(['receive', sender.card, '--out', out]);
    expect(await r.exit(60_000), r.output).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(data));
    expect(r.stdout).toContain(`sha256 ${sha(data)} verified`);
    expect(r.stdout).toMatch(DONE);
    expect(statSync(`${out}`).size).toBe(20 * MiB);

    // refuse to overwrite: exit 3, one line, the existing file untouched
    writeFileSync(out, 'keep me');
    const again = start(['receive', sender.card, '--out', out]);
    expect(await again.exit(30_000), again.output).toBe(3);
    expect(again.stderr.trim()).toMatch(/^srmudp receive: .*already exists \(use --force to overwrite\)$/);
    expect(readFileSync(out, 'utf8')).toBe('keep me');

    const forced = start(['receive', sender.card, '--out', out, '--force']);
    expect(await forced.exit(60_000), forced.output).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(data));
  }, 90_000);

  it('reads the card from stdin when none is given, joining a card pasted over several lines', async () => {
    const small = join(dir, 'small.bin');
    const smallData = randomBytes(64 * 1024);
    writeFileSync(small, smallData);
    const s = await startSender(small);
    const out = join(dir, 'stdin.bin');
    const third = Math.ceil(s.card.length / 3);
    const lines = [0, 1, 2].map((i) => s.card.slice(i * third, (i + 1) * third)).join('\n');
    // three at once: the pasted card, a piece of a card (its first line lost), a cut-off card
    const p = new Proc(['receive', '--out', out], undefined, { stdin: `${lines}\n` });
    const piece = new Proc(['receive', '-'], undefined, { stdin: `${s.card.slice(30, 90)}\n` });
    const cut = new Proc(['receive'], undefined, { stdin: `${s.card.slice(0, 50)}\n` });
    live.push(p, piece, cut);
    expect(await p.exit(60_000), p.output).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(smallData));
    expect(await piece.exit(30_000), piece.output).toBe(2);
    expect(piece.stderr.trim()).toBe(
      'srmudp receive: that is a piece of a contact card: paste it from its start ("srmudp2:")',
    );
    // the parser's reason, once (no doubled "invalid contact card:")
    expect(await cut.exit(30_000), cut.output).toBe(2);
    expect(cut.stderr.trim()).toMatch(
      /^srmudp receive: invalid contact card: (checksum mismatch|body too short|body is not base64url)/,
    );
  }, 90_000);

  it('serves several receivers at once', async () => {
    const outs = [join(dir, 'multi-1.bin'), join(dir, 'multi-2.bin'), join(dir, 'multi-3.bin')];
    const procs = outs.map((o) => start(['receive', sender.card, '--out', o]));
    const codes = await Promise.all(procs.map((p) => p.exit(60_000)));
    expect(codes, procs.map((p) => p.output).join('\n')).toEqual([0, 0, 0]);
    for (const o of outs) expect(sha(readFileSync(o))).toBe(sha(data));
  }, 90_000);

  it('resumes an interrupted transfer from the .part offset', async () => {
    const outDir = join(dir, 'resume');
    mkdirSync(outDir);
    const out = join(outDir, 'payload.bin'); // --out is a directory: the sender's name is used
    const first = start([
      'receive',
      sender.card,
      '--out',
      outDir,
      '--limit-rate',
      '4M',
      '--progress-interval',
      '100',
    ]);
    await first.waitFor(
      (p) => [...p.stderr.matchAll(/progress (\d+)\//g)].some((m) => Number(m[1]) >= 4 * MiB),
      40_000,
      '4 MiB of progress',
    );
    first.kill('SIGKILL');
    await first.exit(5_000);
    const partSize = statSync(`${out}.part`).size;
    expect(partSize).toBeGreaterThan(0);
    expect(partSize).toBeLessThan(20 * MiB);

    const second = start(['receive', sender.card, '--out', outDir]);
    expect(await second.exit(60_000), second.output).toBe(0);
    const m = second.stdout.match(DONE) as RegExpMatchArray;
    expect(Number(m[2])).toBe(partSize);
    expect(Number(m[1])).toBe(20 * MiB - partSize);
    expect(Number(m[1])).toBeLessThan(20 * MiB);
    expect(second.stderr).toContain(`resuming at`);
    expect(sha(readFileSync(out))).toBe(sha(data));
    expect(() => statSync(`${out}.part`)).toThrow();
  }, 90_000);
});

describe('--once', () => {
  it('the sender exits 0 after its first complete delivery', async () => {
    const file = join(dir, 'once.bin');
    const data = randomBytes(MiB);
    writeFileSync(file, data);
    const proc = start(['send', file, '--host', '127.0.0.1', '--once']);
    const card = (
      (await proc.waitFor(/^(srmudp2:\S+)$/m, 30_000, 'the card')) as RegExpMatchArray
    )[1] as string;
    const r = start(['receive', card, '--out', join(dir, 'once-out.bin')]);
    expect(await r.exit(30_000), r.output).toBe(0);
    expect(await proc.exit(10_000), proc.output).toBe(0);
    expect(proc.stderr).toContain('delivered once: exiting (--once)');
    expect(sha(readFileSync(join(dir, 'once-out.bin')))).toBe(sha(data));
  }, 60_000);
});

describe('failures', () => {
  it('a lost sender: the receiver exits 4 with one clean line within the idle timeout', async () => {
    const file = join(dir, 'lost.bin');
    writeFileSync(file, randomBytes(20 * MiB));
    const s = await startSender(file);
    const out = join(dir, 'lost-out.bin');
    const r = start([
      'receive',
      s.card,
      '--out',
      out,
      '--limit-rate',
      '4M',
      '--idle-timeout',
      '2000',
      '--progress-interval',
      '100',
    ]);
    await r.waitFor(/progress \d+\//, 40_000, 'progress');
    const killedAt = Date.now();
    s.proc.kill('SIGKILL');
    const code = await r.exit(20_000);
    const tookMs = (await r.exited).at - killedAt;
    expect(code, r.output).toBe(4);
    expect(tookMs).toBeLessThan(12_000);
    const lines = r.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^srmudp receive: lost the sender after \d+ of 20971520 bytes/);
    expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
    expect(statSync(`${out}.part`).size).toBeGreaterThan(0); // kept for a resume
  }, 60_000);

  it('a full disk (1 MiB tmpfs): exit 6 with "no space left on device", no stack', async (ctx) => {
    const mnt = join(dir, 'tiny');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch (e) {
      // not root / no CAP_SYS_ADMIN: the injected-ENOSPC test in receiver.test.ts covers the path
      ctx.annotate(`tmpfs mount impossible here (${String(e).split('\n')[0]}): covered by receiver.test.ts`);
      return;
    }
    try {
      const file = join(dir, 'big3.bin');
      writeFileSync(file, randomBytes(3 * MiB));
      const s = await startSender(file);
      const r = start(['receive', s.card, '--out', mnt]);
      expect(await r.exit(30_000), r.output).toBe(6);
      expect(r.stderr.trim()).toMatch(
        /\nsrmudp receive: cannot write .*big3\.bin\.part: no space left on device \(\d+ of 3145728 bytes kept[^\n]*$/,
      );
      expect(r.stderr).not.toMatch(/^\s+at /m);
    } finally {
      for (const p of live.splice(0)) p.kill();
      execFileSync('umount', ['-l', mnt]);
    }
  }, 60_000);
});
