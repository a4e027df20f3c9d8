// The srmudp command line end to end, through real processes and pipes on 127.0.0.1 (issue 20),
// and the newcomer items of issue 21 that a command line shows.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  createReadStream,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer as httpServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRendezvousServer } from '@srmudp/rendezvous-http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createNode } from '../../src/index.js';
import { Proc, SRMUDP } from './proc.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'srmudp-cli-'));
const home = join(dir, 'home');
process.env.SRMUDP_HOME = home;
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const live: Proc[] = [];
const start = (args: string[], opts: ConstructorParameters<typeof Proc>[2] = {}) => {
  const p = new Proc(args, dir, opts);
  live.push(p);
  return p;
};
afterEach(() => {
  for (const p of live.splice(0)) p.kill();
});
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
async function shaFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}
/** The card a command printed on stdout (or stderr) as a line of its own. */
async function cardOf(p: Proc, what = 'the card'): Promise<string> {
  return ((await p.waitFor(/^(srmudp2:\S+)$/m, 30_000, what)) as RegExpMatchArray)[1] as string;
}
/** A card of a node that is gone: nothing answers at its address. */
async function deadCard(app?: string): Promise<string> {
  const n = await createNode({ host: '127.0.0.1' });
  const card = n.contactCard(app ? { app } : {});
  await n.close();
  return card;
}

const COMMANDS = ['id', 'send', 'receive', 'chat', 'pipe', 'expose', 'forward', 'status'];

describe('help, version and bad arguments', () => {
  it('every subcommand: --help has a description, usage, an example and exit codes; a bad option exits 2 in one line', async () => {
    const helps = COMMANDS.map((c) => start([c, '--help']));
    const bads = COMMANDS.map((c) => start([c, '--no-such-option']));
    for (const [i, p] of helps.entries()) {
      expect(await p.exit(30_000), p.output).toBe(0);
      const c = COMMANDS[i] as string;
      expect(p.stdout).toMatch(new RegExp(`^srmudp ${c}: \\S.+\\n\\nusage: srmudp ${c} `));
      expect(p.stdout).toMatch(/\nexamples:\n {2}\S+/);
      expect(p.stdout).toMatch(/\nexit codes:\n +0 {2}\S/);
      expect(p.stdout).not.toContain('\u001b['); // not a terminal: no colour
    }
    for (const [i, p] of bads.entries()) {
      expect(await p.exit(30_000), p.output).toBe(2);
      const c = COMMANDS[i] as string;
      expect(p.stderr).toBe(`srmudp ${c}: Unknown option '--no-such-option' (srmudp ${c} --help)\n`);
    }
    const chatHelp = helps[COMMANDS.indexOf('chat')] as Proc;
    expect(chatHelp.stdout).toContain('/msg <peer> <text>'); // the in-chat commands
  }, 120_000);

  it('--version, no command, an unknown command, a bad value', async () => {
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
    const v = start(['--version']);
    const none = start([]);
    const unknown = start(['nosuch']);
    const badValue = start(['receive', '7-ember-walrus@127.0.0.1:1', '--connect-timeout', 'soon']);
    expect(await v.exit(30_000)).toBe(0);
    expect(v.stdout).toBe(`srmudp ${version}\n`);
    expect(await none.exit(30_000)).toBe(2);
    expect(none.stdout).toContain('commands:');
    expect(await unknown.exit(30_000)).toBe(2);
    expect(unknown.stderr).toMatch(
      /^srmudp: unknown command "nosuch" \(srmudp --help lists them: id, send, /,
    );
    expect(await badValue.exit(30_000)).toBe(2);
    expect(badValue.stderr).toBe(
      'srmudp receive: --connect-timeout expects an integer in 100..600000, got "soon" (srmudp receive --help)\n',
    );
  }, 60_000);

  it('relay: the relay server of @srmudp/relay-server (help, a bad value exits 2, runs and stops on SIGTERM)', async () => {
    const help = start(['relay', '--help']);
    const bad = start(['relay', '--port', 'nope']);
    const relay = start([
      'relay',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--udp-port',
      'off',
      '--key-file',
      join(dir, 'relay.key'),
    ]);
    expect(await help.exit(30_000), help.output).toBe(0);
    expect(help.stdout).toMatch(/^usage: srmudp-relay \[options\]/);
    expect(await bad.exit(30_000), bad.output).toBe(2);
    expect(bad.stderr).toMatch(/^srmudp relay: .*port/);
    const deadline = Date.now() + 30_000;
    while (!relay.stdout.includes('srmudp relay listening') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(relay.stdout, relay.output).toContain('srmudp relay listening');
    relay.child.kill('SIGTERM');
    expect(await relay.exit(30_000), relay.output).toBe(0);
    expect(relay.stdout).toContain('"msg":"stopped"');
  }, 60_000);
});

describe('pipe', () => {
  const spawnPipe = (args: string[], stdin: number | 'ignore', env: NodeJS.ProcessEnv = process.env) =>
    spawn(SRMUDP[0] as string, [...SRMUDP.slice(1), 'pipe', ...args], {
      stdio: [stdin, 'pipe', 'pipe'],
      env,
      cwd: dir,
    });
  /** the exit code (SIGKILL after `killAfterMs`) */
  const exit = (c: ReturnType<typeof spawn>, killAfterMs: number) =>
    new Promise<number | null>((resolve) => {
      const t = setTimeout(() => c.kill('SIGKILL'), killAfterMs);
      c.on('close', (code) => {
        clearTimeout(t);
        resolve(code);
      });
    });
  /** the card the waiting side prints on stderr (polled for up to 30 s) */
  const cardOf = async (stderr: () => string) => {
    const until = Date.now() + 30_000;
    while (!/^srmudp2:\S+$/m.test(stderr()) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    return (stderr().match(/^(srmudp2:\S+)$/m) as RegExpMatchArray)[1] as string;
  };

  it("moves 64 MiB from stdin to the other side's stdout with SHA-256 equal (and logs with DEBUG, no secret)", async () => {
    const file = join(dir, 'pipe.bin');
    const data = randomBytes(64 * MiB);
    writeFileSync(file, data);
    const want = sha(data);
    const env = { ...process.env, DEBUG: 'srmudp:*' };
    const waiting = spawnPipe(['--host', '127.0.0.1'], openSync(file, 'r'), env);
    let waitErr = '';
    waiting.stderr.on('data', (d) => {
      waitErr += d;
    });
    waiting.stdout.resume();
    try {
      const card = await cardOf(() => waitErr);
      const dialling = spawnPipe([card, '--host', 'localhost'], 'ignore', env);
      const hash = createHash('sha256');
      let bytes = 0;
      dialling.stdout.on('data', (d: Buffer) => {
        hash.update(d);
        bytes += d.length;
      });
      let dialErr = '';
      dialling.stderr.on('data', (d) => {
        dialErr += d;
      });
      const [a, b] = await Promise.all([exit(waiting, 90_000), exit(dialling, 90_000)]);
      expect(b, dialErr).toBe(0);
      expect(a, waitErr).toBe(0);
      expect(bytes).toBe(64 * MiB);
      expect(hash.digest('hex')).toBe(want);
      expect(dialErr).toMatch(/connecting to [a-z0-9]{12} \(1 address\)…/);
      expect(dialErr).toMatch(/done: sent 0 B, received 64\.0 MiB in/);
      // DEBUG=srmudp:*: the node and the command line log the connection's life, without secrets
      expect(dialErr).toMatch(/srmudp:cli pipe /);
      expect(dialErr).toMatch(/srmudp:node dial [a-z0-9]{12}: 1 address\(es\)/);
      expect(dialErr).toMatch(/srmudp:node connected [a-z0-9]{12} \(outgoing, direct 127\.0\.0\.1:\d+\)/);
      expect(waitErr).toMatch(/srmudp:node connected [a-z0-9]{12} \(incoming/);
      // both sides close once both directions are done: either may be first, so the waiting
      // side's close is its own ("here") or its peer's (seen both ways in CI)
      expect(waitErr).toMatch(/srmudp:node closed [a-z0-9]{12}: (by the peer|here, code 0, pipe done)/);
      for (const line of `${waitErr}\n${dialErr}`.split('\n').filter((l) => l.includes(' srmudp:'))) {
        expect(line).not.toMatch(/pk[a-z2-7]{56}/); // log lines carry peer id prefixes only
        expect(line).not.toMatch(/[0-9a-f]{64}/); // no key material in hex
      }
    } finally {
      waiting.kill('SIGKILL');
    }
  }, 150_000);

  it('a receiver whose stdout nobody reads until the sender has closed and exited still writes every byte and exits 0', async () => {
    // the sender's close comes while the receiver's stream is held paused by a full stdout: the
    // stream kept every byte up to the FIN, so that close is not a lost peer
    const file = join(dir, 'pipe-held.bin');
    const data = randomBytes(256 * 1024);
    writeFileSync(file, data);
    const waiting = spawnPipe(['--host', '127.0.0.1'], openSync(file, 'r'));
    let waitErr = '';
    waiting.stderr.on('data', (d) => {
      waitErr += d;
    });
    waiting.stdout.resume();
    const waited = exit(waiting, 60_000);
    try {
      const card = await cardOf(() => waitErr);
      const dialling = spawnPipe([card, '--host', 'localhost'], 'ignore');
      let dialErr = '';
      dialling.stderr.on('data', (d) => {
        dialErr += d;
      });
      // nobody reads the receiver's stdout until the sender is gone: a 'readable' listener that
      // reads nothing holds it (backpressure reaches the receiver once its socket buffer is full)
      // and keeps Node from discarding it if the receiver exits first, which it may when the
      // socket buffer takes all 256 KiB (Node's exit handler resumes every stdio stream of the
      // child, flushStdio: one in flowing mode with no 'data' listener loses its data; CI lost
      // all 256 KiB that way)
      const hold = () => {};
      dialling.stdout.on('readable', hold);
      const dialled = exit(dialling, 60_000);
      expect(await waited, waitErr).toBe(0);
      const chunks: Buffer[] = [];
      dialling.stdout.off('readable', hold);
      dialling.stdout.on('data', (d: Buffer) => chunks.push(d));
      dialling.stdout.resume();
      expect(await dialled, dialErr).toBe(0);
      const got = Buffer.concat(chunks);
      expect(got.length).toBe(data.length);
      expect(sha(got)).toBe(sha(data));
    } finally {
      waiting.kill('SIGKILL');
    }
  }, 90_000);
});

describe('send / receive with a short code (HTTP rendezvous on 127.0.0.1)', () => {
  it('the code finds the sender; a wrong code gets nothing and costs an attempt; the last attempt withdraws it', async () => {
    const server = await startRendezvousServer({ rateLimitPerMinute: 10_000, rateLimitBurst: 1000 });
    try {
      const file = join(dir, 'coded.bin');
      const data = randomBytes(2 * MiB);
      writeFileSync(file, data);
      const sender = start([
        'send',
        file,
        '--host',
        '127.0.0.1',
        '--rendezvous',
        server.url,
        '--code-attempts',
        '2',
      ]);
      const code = (
        (await sender.waitFor(/^short code: (\S+)$/m, 30_000, 'the code')) as RegExpMatchArray
      )[1] as string;
      expect(code).toMatch(new RegExp(`^\\d{1,3}-[a-z]+-[a-z]+@${server.url.replace(/[.]/g, '\\.')}$`));
      expect(sender.stdout + sender.stderr).not.toMatch(/^srmudp2:/m); // a code instead of a card
      // right code: the file, verified
      const ok = start(['receive', code, '--out', join(dir, 'coded-out/'), '--host', 'localhost']);
      expect(await ok.exit(60_000), ok.output).toBe(0);
      expect(await shaFile(join(dir, 'coded-out', 'coded.bin'))).toBe(sha(data));
      expect(ok.stderr).toMatch(
        /looking up code \d+ on http:\/\/127\.0\.0\.1:\d+…\nconnecting to the sender \(1 address\)…\nchecking the code with [a-z0-9]{12}…/,
      );
      // wrong words: exit 5, nothing written
      const [num, , w2] = (code.split('@')[0] as string).split('-') as [string, string, string];
      const other = w2 === 'zebra' ? 'apple' : 'zebra';
      const wrong = start(['receive', `${num}-${other}-${w2}@${server.url}`, '--out', join(dir, 'wrong/')]);
      expect(await wrong.exit(60_000), wrong.output).toBe(5);
      expect(wrong.stderr.trim().split('\n').at(-1)).toBe(
        'srmudp receive: the code did not match: mistyped, or someone other than the sender answered (nothing was exchanged)',
      );
      expect(existsSync(join(dir, 'wrong', 'coded.bin'))).toBe(false);
      await sender.waitFor(
        /failed the code check \(1 of 2 failed attempts allowed\)/,
        10_000,
        'the failed attempt',
      );
      // the second failure withdraws the code: the sender exits 5, the right code no longer finds it
      const wrong2 = start(['receive', `${num}-${other}-${w2}@${server.url}`, '--out', join(dir, 'wrong/')]);
      expect(await wrong2.exit(60_000), wrong2.output).toBe(5);
      expect(await sender.exit(15_000), sender.output).toBe(5);
      expect(sender.stderr).toContain('too many failed code checks');
      const late = start(['receive', code, '--out', join(dir, 'late/')]);
      expect(await late.exit(30_000), late.output).toBe(4);
      expect(late.stderr).toMatch(/was withdrawn \(the sender finished or quit\)/);
    } finally {
      await server.close();
    }
  }, 180_000);

  it('a code names its server; without one (and no --rendezvous) it says so', async () => {
    const r = start(['receive', '7-ember-walrus']);
    expect(await r.exit(30_000)).toBe(2);
    expect(r.stderr).toContain('this code names no rendezvous server: add @server as the sender printed it');
    const typo = start(['receive', '7-ember-walrusx@127.0.0.1:1']);
    expect(await typo.exit(30_000)).toBe(2);
    expect(typo.stderr).toContain('"walrusx" is not a word of short codes (mistyped?)');
  }, 60_000);
});

describe('expose / forward (loopback)', () => {
  it('an HTTP request goes through; a peer not on the allow-list gets nothing; status shows both ends', async () => {
    const http = httpServer((req, res) => res.end(`hello ${req.url}`));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const httpPort = (http.address() as { port: number }).port;
    try {
      const idOut = start(['id', '--identity', join(dir, 'fwd.key'), '--json']);
      expect(await idOut.exit(30_000)).toBe(0);
      const fwdId = JSON.parse(idOut.stdout).peerId as string;
      const expose = start([
        'expose',
        String(httpPort),
        '--allow',
        fwdId,
        '--identity',
        join(dir, 'exp.key'),
        '--host',
        '127.0.0.1',
      ]);
      const card = await cardOf(expose);
      const forward = start([
        'forward',
        card,
        '--identity',
        join(dir, 'fwd.key'),
        '--host',
        '127.0.0.1',
        '--json',
      ]);
      const listen = JSON.parse(
        (
          (await forward.waitFor(/^(\{"listen".*\})$/m, 30_000, 'listening')) as RegExpMatchArray
        )[1] as string,
      ).listen as string;
      const get = (where: string, path: string) =>
        new Promise<string>((resolve, reject) => {
          const [host, port] = [
            where.slice(0, where.lastIndexOf(':')),
            Number(where.slice(where.lastIndexOf(':') + 1)),
          ];
          const req = request({ host, port, path, timeout: 20_000 }, (res) => {
            let body = '';
            res.on('data', (d) => {
              body += d;
            });
            res.on('end', () => resolve(body));
          });
          req.on('error', reject);
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.end();
        });
      expect(await get(listen, '/through-srmudp')).toBe('hello /through-srmudp');
      expect(await get(listen, '/again')).toBe('hello /again');
      // status: both commands answer on their control sockets (0600), with their peer established
      const st = start(['status', '--json']);
      expect(await st.exit(30_000), st.output).toBe(0);
      const answers = JSON.parse(st.stdout) as Array<{
        command: string;
        peers: Array<{ state: string; rttMs: number | null }>;
        detail: Record<string, unknown>;
      }>;
      const exp = answers.find((a) => a.command === 'expose');
      const fwd = answers.find((a) => a.command === 'forward');
      expect(exp?.peers[0]?.state).toBe('established');
      expect(fwd?.peers[0]).toMatchObject({ name: 'remote', state: 'established' });
      expect(exp?.detail.streams).toBeGreaterThanOrEqual(1); // one stream per TCP connection (keep-alive may reuse one)
      const sockets = readdirSyncSafe(join(home, 'run'));
      expect(sockets.length).toBeGreaterThanOrEqual(2);
      for (const s of sockets) expect(statSync(join(home, 'run', s)).mode & 0o777).toBe(0o600);
      expect(statSync(join(home, 'run')).mode & 0o777).toBe(0o700);
      const table = start(['status']);
      expect(await table.exit(30_000)).toBe(0);
      expect(table.stdout).toMatch(/^expose \(pid \d+\) [a-z0-9]{12}… on 127\.0\.0\.1:\d+, up \d+s/m);
      expect(table.stdout).toMatch(/^ {2}peer +state +path +rtt +min rtt +loss/m);
      expect(table.stdout).toMatch(/established +direct 127\.0\.0\.1:\d+ +\d+(\.\d)? ms +\d+(\.\d)? ms/);
      // a forwarder whose key is not allowed: its handshake is refused, its TCP connection dropped
      const stranger = start([
        'forward',
        card,
        '--identity',
        join(dir, 'stranger.key'),
        '--host',
        '127.0.0.1',
        '--json',
        '--connect-timeout',
        '1500',
      ]);
      const listen2 = JSON.parse(
        (
          (await stranger.waitFor(/^(\{"listen".*\})$/m, 30_000, 'listening')) as RegExpMatchArray
        )[1] as string,
      ).listen as string;
      await expect(get(listen2, '/nope')).rejects.toThrow();
      await stranger.waitFor(
        /TCP connection dropped: remote not connected within 1500 ms .*allow-list/,
        10_000,
        'the drop',
      );
      // expose refuses to start without an allow-list unless told
      const open = start(['expose', String(httpPort)]);
      expect(await open.exit(30_000)).toBe(2);
      expect(open.stderr).toContain('no --allow or --allow-file: say who may connect, or --allow-anyone');
    } finally {
      http.close();
    }
  }, 120_000);
});

function readdirSyncSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

describe('what a new user meets (issue 21)', () => {
  it('receive refuses what it can before connecting: an existing file, a missing folder, a card of another program', async () => {
    const dead = await deadCard();
    writeFileSync(join(dir, 'exists.bin'), 'keep');
    const t0 = Date.now();
    const exists = start(['receive', dead, '--out', join(dir, 'exists.bin')]);
    expect(await exists.exit(30_000), exists.output).toBe(3);
    expect(exists.stderr).toBe(
      `srmudp receive: ${join(dir, 'exists.bin')} already exists (use --force to overwrite)\n`,
    );
    expect(Date.now() - t0).toBeLessThan(10_000); // no dial: the sender is gone and would time out
    const noFolder = start(['receive', dead, '--out', join(dir, 'no', 'such', 'file.bin')]);
    expect(await noFolder.exit(30_000)).toBe(6);
    expect(noFolder.stderr).toBe(
      `srmudp receive: the folder ${join(dir, 'no', 'such')} does not exist (create it, or end --out with "/" to have it created)\n`,
    );
    const chatCard = await deadCard('srmudp-chat/1');
    const wrongApp = start(['receive', chatCard]);
    expect(await wrongApp.exit(30_000)).toBe(2);
    expect(wrongApp.stderr).toBe(
      'srmudp receive: that card is for a chat card (srmudp chat --join <card>), not a file sender\n',
    );
    const bad = start(['receive', 'srmudp2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']);
    expect(await bad.exit(30_000)).toBe(2);
    expect(bad.stderr.match(/invalid contact card/g)).toHaveLength(1);
  }, 60_000);

  it('--out dir/ that does not exist is created; the file goes there', async () => {
    const file = join(dir, 'small.bin');
    writeFileSync(file, randomBytes(100_000));
    const s = start(['send', file, '--host', '127.0.0.1']);
    const card = await cardOf(s);
    const r = start(['receive', card, '--out', join(dir, 'new', 'folder/')]);
    expect(await r.exit(30_000), r.output).toBe(0);
    expect(readFileSync(join(dir, 'new', 'folder', 'small.bin'))).toEqual(readFileSync(file));
  }, 60_000);

  it('an offline sender: says what it tries, then times out with the typed reason (not "aborted")', async () => {
    const r = start(['receive', await deadCard(), '--connect-timeout', '1500', '--out', join(dir, 'off/')]);
    expect(await r.exit(30_000), r.output).toBe(4);
    expect(r.stderr).toMatch(/^connecting to [a-z0-9]{12} \(1 address\)…\n/);
    expect(r.stderr).toMatch(
      /srmudp receive: cannot reach the sender: no answer from [a-z0-9]{12} at 1 address\(es\) within 1500 ms .*\[CONNECT_TIMEOUT\]\n$/,
    );
    expect(r.stderr).not.toContain('aborted');
  }, 60_000);

  it('typed start-up errors: a port in use, our own card, a 0444 key file', async () => {
    const taken = await createNode({ host: '127.0.0.1' });
    try {
      const port = String(taken.address().port);
      const p = start(['pipe', '--host', '127.0.0.1', '--port', port]);
      expect(await p.exit(30_000)).toBe(1);
      expect(p.stderr).toBe(
        `srmudp pipe: UDP port ${port} on 127.0.0.1 is already in use (another srmudp node?); choose another port or 0 for any\n`,
      );
    } finally {
      await taken.close();
    }
    const key = join(dir, 'own.key');
    const id = start(['id', '--identity', key, '--port', '45999', '--json']);
    expect(await id.exit(30_000)).toBe(0);
    const own = JSON.parse(id.stdout).card as string;
    const self = start(['pipe', own, '--identity', key, '--host', '127.0.0.1']);
    expect(await self.exit(30_000)).toBe(2);
    expect(self.stderr).toBe(
      "srmudp pipe: that is this node's own contact card (or peer id): a node cannot connect to itself\n",
    );
    chmodSync(key, 0o444);
    const ro = start(['id', '--identity', key]);
    expect(await ro.exit(30_000)).toBe(1);
    expect(ro.stderr).toBe(
      `srmudp id: ${key}: mode 0444: its group can read it and everyone else can read it, but a secret key must be private to its owner; run chmod 600 on it (or chmod 400 to keep it read-only)\n`,
    );
  }, 60_000);
});
