// Interop check of the STUN client, gatherer, NAT session and responder against Debian's coturn on loopback.
// Not part of `vitest run` (this package is pure: no sockets in its tests); the NAT lab runs the
// same checks through real NATs. Usage: `npx tsc -b packages/punch && node packages/punch/scripts/coturn-interop.mjs`
// Needs `turnserver` and `turnutils_stunclient` (apt-get install coturn). Exits non-zero on failure.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gatherer, handleStunRequest, NatSession, StunClient } from '../dist/index.js';

const PORT = 34781;
const random = (n) => new Uint8Array(randomBytes(n));
const dir = mkdtempSync(join(tmpdir(), 'punch-coturn-'));
writeFileSync(
  join(dir, 'turn.conf'),
  [
    'listening-ip=127.0.0.1',
    'listening-ip=127.0.0.2',
    `listening-port=${PORT}`,
    `alt-listening-port=${PORT + 1}`,
    'stun-only',
    'no-cli',
    'no-tls',
    'no-dtls',
    'log-file=stdout',
    'simple-log',
    `pidfile=${join(dir, 'turn.pid')}`,
  ].join('\n'),
);
const turn = spawn('turnserver', ['-c', join(dir, 'turn.conf')], { stdio: 'ignore' });
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

/** Drives one sans-IO machine over a real socket until `done()` or `limitMs`. */
function drive(sock, m, done, limitMs = 15_000) {
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  return new Promise((resolve) => {
    let timer = null;
    const finish = () => {
      clearTimeout(timer);
      clearTimeout(limit);
      sock.removeAllListeners('message');
      resolve();
    };
    const pump = () => {
      for (let t = m.pollTransmit(now()); t; t = m.pollTransmit(now()))
        sock.send(t.data, t.to.port, t.to.host);
      if (done()) return finish();
      clearTimeout(timer);
      const next = m.pollTimeout();
      if (next !== null) {
        timer = setTimeout(
          () => {
            m.handleTimeout(now());
            pump();
          },
          Math.max(0, next - now()),
        );
      }
    };
    const limit = setTimeout(finish, limitMs);
    sock.on('message', (msg, r) => {
      m.handle(now(), { host: r.address, port: r.port }, new Uint8Array(msg));
      pump();
    });
    pump();
  });
}

try {
  await new Promise((r) => setTimeout(r, 1000)); // coturn start-up
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;

  const c = new StunClient({ random, software: 'srmudp-interop' });
  c.request(0, { host: '127.0.0.1', port: PORT });
  c.request(0, { host: '127.0.0.1', port: PORT }, { changeRequest: { changeIp: true, changePort: true } });
  const evs = [];
  await drive(sock, c, () => {
    for (let e = c.pollEvent(); e; e = c.pollEvent()) evs.push(e);
    return evs.length >= 2;
  });
  const plain = evs.find((e) => e.type === 'response' && e.changeRequest === undefined);
  const changed = evs.find((e) => e.type === 'response' && e.changeRequest !== undefined);
  check(plain?.mapped.host === '127.0.0.1' && plain.mapped.port === port, 'XOR-MAPPED-ADDRESS from coturn');
  check(plain?.otherAddress?.host === '127.0.0.2', 'OTHER-ADDRESS from coturn');
  check(plain?.responseOrigin?.port === PORT, 'RESPONSE-ORIGIN from coturn');
  check(
    changed?.from.host === '127.0.0.2' && changed.from.port === PORT + 1,
    'CHANGE-REQUEST honoured by coturn',
  );

  const g = new Gatherer({
    random,
    hostAddresses: [{ host: '127.0.0.1', port }],
    reflectors: [{ host: '127.0.0.1', port: PORT }],
  });
  g.start(0);
  await drive(sock, g, () => {
    while (g.pollEvent() !== null);
    return g.state === 'done' || g.state === 'failed';
  });
  const nat = g.nat();
  check(
    nat.mapping === 'open' && nat.filtering === 'endpoint-independent',
    `gatherer classifies loopback as open/EIF (${nat.mapping}/${nat.filtering})`,
  );

  // the NAT session with coturn as its only server (RFC 5780 on two addresses): loopback host
  // addresses are ignored, so the mapping is classified from 127.0.0.1 vs 127.0.0.2 (test II)
  const session = new NatSession({ random, stunServers: [{ host: '127.0.0.1', port: PORT }] }, 0);
  const adapter = {
    handle: (now, from, bytes) => session.handle(now, 0, from, bytes),
    handleTimeout: (now) => session.handleTimeout(now),
    pollTransmit: (now) => session.pollTransmit(now),
    pollTimeout: () => session.pollTimeout(),
  };
  const kinds = [];
  await drive(sock, adapter, () => {
    for (let e = session.pollEvent(); e; e = session.pollEvent()) kinds.push(e.type);
    return (
      kinds.includes('nat') || (kinds.includes('gathered') && session.status().nat?.filtering !== 'unknown')
    );
  });
  const st = session.status();
  check(
    st.state === 'ready' && st.nat?.mapping === 'consistent' && st.nat.filtering === 'endpoint-independent',
    `NatSession classifies with coturn alone (${st.state}: ${st.nat?.mapping}/${st.nat?.filtering})`,
  );
  check(
    session.candidates().some((c) => c.host === '127.0.0.1' && c.port === port),
    'NatSession publishes the reflexive candidate',
  );
  session.close(0);
  sock.close();

  // coturn's client against our responder
  const srv = dgram.createSocket('udp4');
  await new Promise((r) => srv.bind(0, '127.0.0.1', r));
  const sport = srv.address().port;
  srv.on('message', (msg, r) => {
    const res = handleStunRequest(
      new Uint8Array(msg),
      { host: r.address, port: r.port },
      { host: '127.0.0.1', port: sport },
    );
    if (res) srv.send(res, r.port, r.address);
  });
  const out = await new Promise((resolve) => {
    const p = spawn('turnutils_stunclient', ['-p', String(sport), '127.0.0.1']);
    let text = '';
    p.stdout.on('data', (d) => {
      text += d;
    });
    p.on('close', () => resolve(text));
    setTimeout(() => p.kill(), 5000);
  });
  check(/UDP reflexive addr: 127\.0\.0\.1:\d+/.test(out), 'turnutils_stunclient reads our responder');
  srv.close();
} finally {
  const exited = new Promise((r) => turn.once('exit', r));
  turn.kill();
  await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failures.length === 0 ? 0 : 1);
