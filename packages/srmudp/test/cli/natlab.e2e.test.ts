// srmudp expose / forward through real Linux NATs (tooling/natlab, root only): an HTTP request
// from a host behind one NAT reaches a server behind another, through the command line alone.
// The exposing side is behind a full-cone NAT (the forwarder dials it, nobody dials back), the
// forwarding side behind an endpoint-independent NAT with address-and-port-dependent filtering.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { listControlSockets, queryControl } from '../../src/cli/control.js';
import { ADDR, LAB, type LabRun, reportSkipWhenUnsupported, STUN_PORT, withLab } from '../nat/helpers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TSX = join(dirname(createRequire(import.meta.url).resolve('tsx/package.json')), 'dist', 'loader.mjs');
const srmudp = (args: string[]) => [process.execPath, '--import', TSX, '--conditions=source', MAIN, ...args];

// a tiny HTTP server (JSON lines: {"t":"ready"}) and a client that prints {"t":"body",...}
const SERVER = `require('http').createServer((q,r)=>r.end('hello from behind natB '+q.url)).listen(8080,'127.0.0.1',()=>console.log(JSON.stringify({t:'ready'})))`;
const client = (port: number) =>
  `require('http').get({host:'127.0.0.1',port:${port},path:'/through-two-nats',timeout:20000},(r)=>{let b='';r.on('data',(d)=>b+=d);r.on('end',()=>console.log(JSON.stringify({t:'body',body:b})))}).on('error',(e)=>console.log(JSON.stringify({t:'error',message:e.message})))`;

reportSkipWhenUnsupported('expose/forward');

describe.runIf(LAB.ok)('srmudp expose / forward through the NAT lab', () => {
  it('an HTTP request crosses two NATs (fullcone exposer, eim forwarder); a stranger is refused', async () => {
    await withLab({ A: 'eim', B: 'fullcone' }, async (run: LabRun) => {
      const { lab, procs } = run;
      const stun = ['--stun', `${ADDR.rdv}:${STUN_PORT}`, '--stun', `${ADDR.rdvAlt}:${STUN_PORT}`];
      const env = { SRMUDP_HOME: mkdtempSync(join(tmpdir(), 'srmudp-natlab-cli-')), NO_COLOR: '1' };
      const http = lab.spawn('hostB', [process.execPath, '-e', SERVER]);
      procs.push(http);
      await http.next((m) => m.t === 'ready', 10_000);
      // the forwarder's identity first: its peer id goes on the exposer's allow-list
      const id = lab.spawn(
        'hostA',
        srmudp(['id', '--identity', `${env.SRMUDP_HOME}/fwd.key`, '--json']),
        env,
      );
      procs.push(id);
      const fwdId = ((await id.next((m) => 'peerId' in m, 30_000)) as unknown as { peerId: string }).peerId;
      const expose = lab.spawn(
        'hostB',
        srmudp([
          'expose',
          '8080',
          '--allow',
          fwdId,
          '--identity',
          `${env.SRMUDP_HOME}/exp.key`,
          '--json',
          ...stun,
        ]),
        env,
      );
      procs.push(expose);
      const { card } = (await expose.next((m) => 'card' in m, 30_000)) as unknown as { card: string };
      const forward = lab.spawn(
        'hostA',
        srmudp([
          'forward',
          card,
          '--listen',
          '127.0.0.1:9090',
          '--identity',
          `${env.SRMUDP_HOME}/fwd.key`,
          '--json',
          ...stun,
        ]),
        env,
      );
      procs.push(forward);
      await forward.next((m) => 'listen' in m, 30_000);
      const get = lab.spawn('hostA', [process.execPath, '-e', client(9090)]);
      procs.push(get);
      const answer = (await get.next((m) => m.t === 'body' || m.t === 'error', 45_000)) as unknown as {
        t: string;
        body?: string;
        message?: string;
      };
      expect(answer, forward.stderr).toEqual({ t: 'body', body: 'hello from behind natB /through-two-nats' });
      // the path is direct through both NATs: `srmudp status` (its Unix sockets work across network
      // namespaces) shows each side talking to the other's public NAT address
      const snaps = await Promise.all(
        listControlSockets(join(env.SRMUDP_HOME, 'run')).map((p) => queryControl(p)),
      );
      const exp = snaps.find((s) => s.command === 'expose');
      const fwd = snaps.find((s) => s.command === 'forward');
      expect(exp?.peers[0]?.path).toMatchObject({ kind: 'direct', address: { host: ADDR.publicA } });
      expect(fwd?.peers[0]).toMatchObject({ name: 'remote', state: 'established' });
      expect(fwd?.peers[0]?.path).toMatchObject({ kind: 'direct', address: { host: ADDR.publicB } });
      // a second forwarder whose key is not allowed gets no session and says why it may be
      const stranger = lab.spawn(
        'hostA',
        srmudp([
          'forward',
          card,
          '--listen',
          '127.0.0.1:9091',
          '--identity',
          `${env.SRMUDP_HOME}/stranger.key`,
          '--json',
          '--connect-timeout',
          '3000',
          ...stun,
        ]),
        env,
      );
      procs.push(stranger);
      await stranger.next((m) => 'listen' in m, 30_000);
      const denied = lab.spawn('hostA', [process.execPath, '-e', client(9091)]);
      procs.push(denied);
      const refused = (await denied.next((m) => m.t === 'body' || m.t === 'error', 30_000)) as unknown as {
        t: string;
      };
      expect(refused.t).toBe('error');
      expect(stranger.stderr).toMatch(/TCP connection dropped: .*allow-list/);
      rmSync(env.SRMUDP_HOME, { recursive: true, force: true });
    });
  }, 180_000);
});
