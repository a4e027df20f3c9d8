// The command line in real terminals (tmux): what a person sees (issue 21 items 4 and 7, issue 20's
// short codes typed by hand). Every wait is bounded; the tmux server is killed in afterAll.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRendezvousServer } from '@srmudp/rendezvous-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Proc } from './proc.js';
import { requireTmux, Tmux } from './tmux.js';

const dir = mkdtempSync(join(tmpdir(), 'srmudp-term-'));
process.env.SRMUDP_HOME = join(dir, 'home');
const PS1 = 'SHELL$ ';
const ESC = '\u001b[';

describe('srmudp in real terminals', () => {
  let t: Tmux;
  const procs: Proc[] = [];
  beforeAll(() => {
    requireTmux();
    t = new Tmux();
  });
  afterAll(() => {
    if (process.env.TERM_DEBUG)
      for (const s of ['alice', 'bob', 'recv', 'send']) console.log(`=== ${s}\n${t?.screen(s)}`);
    for (const p of procs) p.kill();
    t?.killServer();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An interactive shell with a known prompt, in which we type command lines. */
  const shell = (session: string) => {
    t.startShell(session, `env PS1='${PS1}' sh`);
  };

  it('chat: colours on a terminal and none with NO_COLOR; RTT with units; quitting leaves the shell prompt on its own line', async () => {
    shell('alice');
    shell('bob');
    await t.waitFor('alice', (s) => s.includes(PS1), 10_000, 'the shell');
    await t.waitFor('bob', (s) => s.includes(PS1), 10_000, 'the shell');
    const common = ['--host', '127.0.0.1', '--idle-timeout', '3000'];
    // alice: colour allowed (a NO_COLOR from the test runner's environment emptied), bob: NO_COLOR=1
    t.type(
      'alice',
      t.command(['chat', '--name', 'alice', '--identity', join(dir, 'alice.key'), ...common], {
        NO_COLOR: '',
      }),
    );
    t.type(
      'bob',
      t.command(['chat', '--name', 'bob', '--identity', join(dir, 'bob.key'), ...common], { NO_COLOR: '1' }),
    );
    const aliceStart = await t.waitFor('alice', /type \/help for commands/, 30_000, 'alice to start');
    await t.waitFor('bob', /type \/help for commands/, 30_000, 'bob to start');
    const card = (aliceStart.match(/^(srmudp2:\S+)$/m) as RegExpMatchArray)[1] as string;
    t.type('bob', `/join ${card}`);
    await t.waitFor('alice', /\*\*\* bob joined/, 20_000, 'bob joined');
    await t.waitFor('bob', /\*\*\* alice joined/, 20_000, 'alice joined');
    t.type('bob', 'hi alice');
    await t.waitFor('alice', /^bob: hi alice$/m, 10_000, "bob's line");
    // colours: alice's terminal has them (join in green, names in cyan); bob's has none (NO_COLOR)
    const aliceColours = t.screenWithEscapes('alice');
    // (tmux re-encodes attributes: a colour may come as ESC[32m or ESC[0;32m, next to other SGRs)
    const sgr = (n: number) => `(?:\u001b\\[[0-9;]*m)*\u001b\\[(?:[0-9;]*;)?${n}m(?:\u001b\\[[0-9;]*m)*`;
    expect(aliceColours, JSON.stringify(aliceColours)).toMatch(new RegExp(`${sgr(32)}\\*\\*\\* bob joined`));
    expect(aliceColours).toMatch(new RegExp(`${sgr(36)}bob:${sgr(39)} hi alice`));
    t.type('alice', 'hello bob');
    await t.waitFor('bob', /^alice: hello bob$/m, 10_000, "alice's line");
    expect(t.screenWithEscapes('bob')).not.toContain(ESC); // no escape sequence at all
    // /peers: rounded figures with units, smoothed and min RTT
    t.type('alice', '/peers');
    const peers = await t.waitFor('alice', /^bob\s+established/m, 10_000, 'the peers table');
    expect(peers).toMatch(/^peer\s+state\s+path\s+rtt\s+min rtt\s+loss\s+sent\s+received\s+id/m);
    expect(peers).toMatch(
      /^bob\s+established\s+direct 127\.0\.0\.1:\d+\s+\d+(\.\d)? ms\s+\d+(\.\d)? ms\s+\d+\.\d%/m,
    );
    // /quit: the shell's prompt comes back on a line of its own, not after "alice> "
    t.type('alice', '/quit');
    const after = await t.waitFor(
      'alice',
      (s) => s.trimEnd().endsWith(PS1.trimEnd()),
      15_000,
      'the shell prompt',
    );
    expect(after).toMatch(/\*\*\* leaving\n/);
    expect(after).not.toMatch(/alice> *SHELL\$/);
    expect(after.trimEnd().split('\n').at(-1)).toBe(PS1.trimEnd());
    // Ctrl-D on bob: the same
    t.keys('bob', 'C-d');
    const afterBob = await t.waitFor(
      'bob',
      (s) => s.trimEnd().endsWith(PS1.trimEnd()),
      15_000,
      'the shell prompt',
    );
    expect(afterBob).not.toMatch(/bob> *SHELL\$/);
  }, 120_000);

  it('receive: a progress bar on a terminal; Ctrl-C says the .part is kept and exits 130; the rerun resumes', async () => {
    const file = join(dir, 'twenty.bin');
    writeFileSync(file, randomBytes(20 * 1024 * 1024));
    const sender = new Proc(['send', file, '--host', '127.0.0.1'], dir);
    procs.push(sender);
    const card = (
      (await sender.waitFor(/^(srmudp2:\S+)$/m, 30_000, 'the card')) as RegExpMatchArray
    )[1] as string;
    shell('recv');
    await t.waitFor('recv', (s) => s.includes(PS1), 10_000, 'the shell');
    const out = join(dir, 'got/');
    t.type('recv', `${t.command(['receive', card, '--out', out, '--limit-rate', '2M'])}; echo "exit1=$?"`);
    await t.waitFor('recv', /\[[=-]{30}\] \d+% \| [\d.]+ (KiB|MiB) \/ 20\.0 MiB/, 30_000, 'the progress bar');
    await new Promise((r) => setTimeout(r, 1500));
    t.keys('recv', 'C-c');
    const screen = await t.waitFor('recv', /exit1=\d+/, 15_000, 'the exit code');
    expect(screen).toMatch(
      /srmudp receive: interrupted: .*twenty\.bin\.part kept \(\d+ of 20971520 bytes\): run the same command again to resume/,
    );
    expect(screen).toContain('exit1=130');
    t.type('recv', `${t.command(['receive', card, '--out', out])}; echo "exit2=$?"`);
    const again = await t.waitFor('recv', /exit2=\d+/, 60_000, 'the rerun');
    expect(again).toMatch(/resuming at [\d.]+ (KiB|MiB) \(offset \d+\)/);
    expect(again).toContain('exit2=0');
  }, 120_000);

  it('send and receive with a short code typed by hand', async () => {
    const server = await startRendezvousServer();
    try {
      const file = join(dir, 'hand.bin');
      writeFileSync(file, randomBytes(1024 * 1024));
      shell('send');
      shell('recv2');
      await t.waitFor('send', (s) => s.includes(PS1), 10_000, 'the shell');
      t.type(
        'send',
        t.command(['send', file, '--host', '127.0.0.1', '--once'], { SRMUDP_RENDEZVOUS: server.url }),
      );
      const screen = await t.waitFor('send', /short code: \S+/, 30_000, 'the code');
      const code = (screen.match(/short code: (\S+)/) as RegExpMatchArray)[1] as string;
      expect(t.screenWithEscapes('send')).toContain(`${ESC}1m${code}`); // bold on a terminal
      await t.waitFor('recv2', (s) => s.includes(PS1), 10_000, 'the shell');
      // typed as a person would: the words, then the server as printed
      t.type('recv2', `${t.command(['receive', code, '--out', join(dir, 'byhand/')])}; echo "exit=$?"`);
      const r = await t.waitFor('recv2', /exit=\d+/, 60_000, 'the receive');
      expect(r).toMatch(/checking the code with [a-z0-9]{12}…/);
      expect(r).toMatch(/received .*hand\.bin: 1048576 bytes, sha256 [0-9a-f]{64} verified/);
      expect(r).toContain('exit=0');
      await t.waitFor('send', /delivered once: exiting/, 15_000, 'the sender to finish');
    } finally {
      await server.close();
    }
  }, 120_000);
});
