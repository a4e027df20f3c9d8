import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTmux, Tmux } from './tmux.js';

const count = (s: string, text: string) => s.split(text).length - 1;

// key files and control sockets of the commands stay in a folder of the test
process.env.SRMUDP_HOME = mkdtempSync(join(tmpdir(), 'srmudp-chat-home-'));

describe('srmudp chat in tmux: alice, bob and carol on 127.0.0.1', () => {
  const dir = mkdtempSync(join(tmpdir(), 'srmudp-chat-'));
  let t: Tmux;
  const chat = (name: string, extra: string[] = []) =>
    t.startChat(name, [
      '--name',
      name,
      '--identity',
      join(dir, `${name}.key`),
      '--host',
      '127.0.0.1',
      '--idle-timeout',
      '3000',
      ...extra,
    ]);

  beforeAll(() => {
    requireTmux();
    t = new Tmux();
  });
  afterAll(() => {
    if (process.env.CHAT_DEBUG)
      for (const n of ['alice', 'bob', 'carol']) console.log(`=== ${n}\n${t?.screen(n)}`);
    t?.killServer();
    rmSync(dir, { recursive: true, force: true });
  });

  it('joins by card, talks to all and to one, shows peers, and survives bob leaving and coming back', async () => {
    for (const n of ['alice', 'bob', 'carol']) chat(n);
    const ready = /type \/help for commands/;
    const aliceStart = await t.waitFor('alice', ready, 30_000, 'alice to start');
    await t.waitFor('bob', ready, 30_000, 'bob to start');
    await t.waitFor('carol', ready, 30_000, 'carol to start');
    const card = (aliceStart.match(/^(srmudp2:\S+)$/m) as RegExpMatchArray)[1] as string;
    const bobPort = (
      (await t.waitFor('bob', /listening on 127\.0\.0\.1:(\d+)/, 1000, 'port')).match(
        /listening on 127\.0\.0\.1:(\d+)/,
      ) as RegExpMatchArray
    )[1] as string;

    // bob and carol join alice by her card (read off her screen); carol meets bob through alice
    t.type('bob', `/join ${card}`);
    await t.waitFor('bob', /\*\*\* alice joined \(direct 127\.0\.0\.1:\d+\)/, 20_000, 'alice joined');
    // carol pastes the card wrapped over three lines (as a narrow terminal or a mail gives it)
    const third = Math.ceil(card.length / 3);
    t.type('carol', `/join ${card.slice(0, third)}`);
    await t.waitFor('carol', /card incomplete: paste the rest/, 5000, 'the first line taken as a card start');
    t.type('carol', card.slice(third, 2 * third));
    t.type('carol', card.slice(2 * third));
    await t.waitFor(
      'alice',
      (s) => s.includes('*** bob joined') && s.includes('*** carol joined'),
      20_000,
      'bob and carol',
    );
    await t.waitFor('bob', /\*\*\* carol joined/, 20_000, 'carol meeting bob (full mesh)');
    await t.waitFor('carol', /\*\*\* bob joined/, 20_000, 'bob meeting carol');

    // to everyone, both ways
    t.type('alice', 'hello everyone');
    await t.waitFor('bob', /^alice: hello everyone$/m, 10_000, "alice's message");
    await t.waitFor('carol', /^alice: hello everyone$/m, 10_000, "alice's message");
    t.type('bob', 'hi from bob');
    await t.waitFor('alice', /^bob: hi from bob$/m, 10_000, "bob's message");
    await t.waitFor('carol', /^bob: hi from bob$/m, 10_000, "bob's message");

    // a piece of a card typed on its own is never sent as a chat line
    t.type('carol', card.slice(20, 80));
    await t.waitFor('carol', /looks like a piece of a contact card: not sent/, 5000, 'the fragment refused');

    // to one: bob sees it, carol does not (she sees the next public line, so it had its chance)
    t.type('alice', '/msg bob a secret for bob');
    await t.waitFor('bob', /^alice \(private\): a secret for bob$/m, 10_000, 'the private message');
    t.type('alice', 'public again');
    const carolScreen = await t.waitFor('carol', /^alice: public again$/m, 10_000, 'the next public line');
    expect(carolScreen).not.toContain('a secret for bob');
    expect(t.screen('alice')).not.toContain(`carol: ${card.slice(20, 80)}`);
    expect(await t.waitFor('alice', /-> bob \(private\): a secret for bob/, 5000, 'echo')).toBeTruthy();

    // /peers: both established, direct, with an RTT
    t.type('alice', '/peers');
    const peers = await t.waitFor('alice', /^carol\s+established/m, 10_000, 'the /peers table');
    expect(peers).toMatch(/^peer\s+state\s+path\s+rtt/m);
    // RTT with its unit: one decimal below 10 ms (idle loopback RTTs are that low since PINGs are
    // acknowledged at once)
    expect(peers).toMatch(/^bob\s+established\s+direct 127\.0\.0\.1:\d+\s+\d+(\.\d)? ms/m);
    expect(peers).toMatch(/^carol\s+established\s+direct 127\.0\.0\.1:\d+\s+\d+(\.\d)? ms/m);

    // bob crashes (SIGKILL: no goodbye); alice and carol notice within the idle timeout
    process.kill(t.pid('bob'), 'SIGKILL');
    const killedAt = Date.now();
    await t.waitFor('alice', /\*\*\* bob left/, 15_000, 'bob left');
    await t.waitFor('carol', /\*\*\* bob left/, 15_000, 'bob left');
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    t.type('alice', '/peers');
    await t.waitFor('alice', /^bob\s+(reconnecting|connecting)/m, 10_000, 'bob reconnecting in /peers');

    // bob comes back with the same identity and port: alice's redial finds him, they talk again
    chat('bob', ['--port', bobPort]);
    await t.waitFor('alice', (s) => count(s, '*** bob joined') >= 2, 40_000, 'bob joined again');
    await t.waitFor('bob', /\*\*\* alice joined/, 20_000, 'alice joined (new bob)');
    t.type('bob', 'bob is back');
    await t.waitFor('alice', /^bob: bob is back$/m, 10_000, "bob's message after the restart");
    t.type('alice', 'welcome back');
    await t.waitFor('bob', /^alice: welcome back$/m, 10_000, "alice's message after the restart");

    // bob crashes again and comes back on a new port: his saved peers file brings him back
    process.kill(t.pid('bob'), 'SIGKILL');
    await t.waitFor('alice', (s) => count(s, '*** bob left') >= 2, 15_000, 'bob left again');
    chat('bob');
    const bob3 = await t.waitFor('bob', /\*\*\* alice joined/, 30_000, 'alice joined (bob on a new port)');
    expect(bob3).toMatch(/\*\*\* rejoining 2 saved peer\(s\) from .*bob\.key\.peers\.json/);
    expect(bob3).not.toContain(`listening on 127.0.0.1:${bobPort},`);
    await t.waitFor('alice', (s) => count(s, '*** bob joined') >= 3, 30_000, 'bob joined a third time');
    // a chat line goes to the peers connected when it is typed: carol too, before bob speaks
    await t.waitFor('bob', /\*\*\* carol joined/, 30_000, 'carol joined (bob on a new port)');
    await t.waitFor('carol', (s) => count(s, '*** bob joined') >= 3, 30_000, 'bob joined carol a third time');
    t.type('bob', 'new port, same bob');
    await t.waitFor('alice', /^bob: new port, same bob$/m, 10_000, "bob's message from the new port");
    await t.waitFor('carol', /^bob: new port, same bob$/m, 10_000, "bob's message from the new port");

    // /quit leaves cleanly: the others see it at once (no idle timeout needed)
    t.type('carol', '/quit');
    await t.waitFor('alice', /\*\*\* carol left/, 8_000, 'carol left');
  }, 85_000);
});
