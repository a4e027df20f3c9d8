import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LabError } from '../src/errors.js';
import { createLab, type Lab } from '../src/lab.js';
import { runSync } from '../src/run.js';
import { ADDR } from '../src/types.js';
import { client, echoServer, LAB, PROGRAMS, reportSkipWhenUnsupported } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

// What tests do inside a lab: processes in namespaces, LAN and hairpin paths, UDP blocking,
// conntrack timeouts, NAT reboots, coturn.
describe.runIf(LAB.ok)('natlab network behaviour', () => {
  const labs: Lab[] = [];
  const make = (...a: Parameters<typeof createLab>) => {
    const l = createLab(...a);
    labs.push(l);
    return l;
  };
  afterEach(async () => {
    await Promise.all(labs.splice(0).map((l) => l.down()));
  });

  it('spawnNode: JSON-lines channel, TypeScript scripts, bounded waits, typed errors', async () => {
    const lab = await make().up();
    const p = lab.spawnNode('hostB', `${FIXTURES}echo-child.ts`);
    const ready = await p.next((m) => m.t === 'ready', 10_000);
    expect(typeof ready.pid).toBe('number');
    p.send({ t: 'ping', n: 41 });
    expect(await p.next((m) => m.t === 'pong')).toEqual({ t: 'pong', n: 42, rdv: ADDR.rdv });
    const t0 = Date.now();
    const err = await p.next((m) => m.t === 'never', 300).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabError);
    expect((err as LabError).code).toBe('LAB_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(2000);
    p.send({ t: 'exit' });
    const err2 = await p.next((m) => m.t === 'never', 5000).catch((e: unknown) => e);
    expect((err2 as LabError).code).toBe('LAB_PROCESS_EXITED');
    expect((await p.exited).code).toBe(3);
    // It really ran inside hostB's namespace.
    const q = lab.spawnNode('hostB', `${PROGRAMS}udp-tool.mjs`, ['client']);
    await q.next((m) => m.t === 'ready');
    const addr = await lab.exec('hostB', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addr.stdout).toContain(`${ADDR.hostB}/24`);
    expect(runSync(['ip', 'netns', 'identify', String(q.pid)]).stdout.trim()).toBe(lab.ns('hostB'));
    expect((await q.kill()).signal).toBe('SIGTERM');
  }, 30_000);

  it('hosts behind one NAT reach each other on the LAN; the public address only with hairpin', async () => {
    const plain = make({ A: { profile: 'eim', secondHost: true } });
    const hairpin = make({ A: { profile: 'eim', secondHost: true, hairpin: true } });
    await Promise.all([plain.up(), hairpin.up()]);
    for (const lab of [plain, hairpin]) {
      const echo = await echoServer(lab, 'hostA', '0.0.0.0', 7100);
      // Open hostA's mapping (203.0.113.10:7100) by sending from the echo socket itself.
      const rdvEcho = await echoServer(lab, 'rdv', ADDR.rdv, 7000);
      echo.proc.send({ t: 'sendto', ip: ADDR.rdv, port: 7000, data: 'open' });
      await echo.proc.next((m) => m.t === 'sent');
      const seen = await rdvEcho.ask<{ last: string }>({ t: 'count' });
      expect(seen.last).toBe(`${ADDR.publicA}:7100`);
      const c = await client(lab, 'hostA2');
      const lan = await c.ask<{ reply: string | null; from: string }>({
        t: 'udp',
        ip: ADDR.hostA,
        port: 7100,
        data: 'lan',
      });
      expect(lan).toMatchObject({ reply: 'lan', from: `${ADDR.hostA}:7100` });
      const pub = await c.ask<{ reply: string | null; from: string | null }>({
        t: 'udp',
        ip: ADDR.publicA,
        port: 7100,
        data: 'hairpin',
        waitMs: 700,
      });
      if (lab === hairpin) expect(pub).toMatchObject({ reply: 'hairpin', from: `${ADDR.publicA}:7100` });
      else expect(pub.reply).toBeNull();
    }
  }, 30_000);

  it('udp-blocked drops UDP (except DNS) while TCP through the same NAT works', async () => {
    const lab = await make({ A: 'udp-blocked' }).up();
    await echoServer(lab, 'rdv', ADDR.rdv, 7000);
    await echoServer(lab, 'rdv', ADDR.rdv, 53);
    const refl = lab.spawnNode('rdv', `${PROGRAMS}reflector.mjs`, [
      ADDR.rdv,
      ADDR.rdvAlt,
      ADDR.rdvFilter,
      '3478',
      '3479',
    ]);
    await refl.next((m) => m.t === 'ready');
    const a = await client(lab, 'hostA');
    const b = await client(lab, 'hostB');
    expect(
      (await a.ask<{ reply: unknown }>({ t: 'udp', ip: ADDR.rdv, port: 7000, waitMs: 600 })).reply,
    ).toBeNull();
    expect((await b.ask<{ reply: unknown }>({ t: 'udp', ip: ADDR.rdv, port: 7000, data: 'x' })).reply).toBe(
      'x',
    );
    expect((await a.ask<{ reply: unknown }>({ t: 'udp', ip: ADDR.rdv, port: 53, data: 'dns' })).reply).toBe(
      'dns',
    );
    const tcp = await a.ask<{ ok: boolean; data: string }>({ t: 'tcp', ip: ADDR.rdv, port: 3478 });
    expect(tcp.ok).toBe(true);
    expect(JSON.parse(tcp.data)).toMatchObject({ ip: ADDR.publicA });
  }, 30_000);

  it('conntrack UDP timeouts are per router: set, read back, expire a mapping; the host keeps its own', async () => {
    const hostBefore = runSync(['sysctl', '-n', 'net.netfilter.nf_conntrack_udp_timeout']).stdout;
    const lab = await make({ B: { profile: 'eim', udpTimeout: 10, udpTimeoutStream: 10 } }).up();
    expect(await lab.udpTimeouts('natB')).toEqual({ udpTimeout: 10, udpTimeoutStream: 10 });
    expect(await lab.udpTimeouts('natA')).toEqual({ udpTimeout: 30, udpTimeoutStream: 120 });
    await lab.setUdpTimeouts('natA', { udpTimeout: 2, udpTimeoutStream: 3 });
    expect(await lab.udpTimeouts('natA')).toEqual({ udpTimeout: 2, udpTimeoutStream: 3 });
    await expect(lab.setUdpTimeouts('natA', { udpTimeout: 0 })).rejects.toThrow(RangeError);
    await echoServer(lab, 'rdv', ADDR.rdv, 7000);
    const c = await client(lab, 'hostA');
    await c.ask({ t: 'udp', ip: ADDR.rdv, port: 7000, localPort: 42_000 });
    expect(await lab.mappedPorts('natA')).toContain(42_000);
    await new Promise((r) => setTimeout(r, 3500));
    expect(await lab.mappedPorts('natA')).not.toContain(42_000);
    expect(runSync(['sysctl', '-n', 'net.netfilter.nf_conntrack_udp_timeout']).stdout).toBe(hostBefore);
  }, 30_000);

  it('natReboot forgets the mapping and gives the flow a new public port; the profile still holds', async () => {
    const lab = await make({ A: 'restricted' }).up();
    const echo = await echoServer(lab, 'rdv', ADDR.rdv, 7000);
    const c = await client(lab, 'hostA');
    await c.ask({ t: 'udp', ip: ADDR.rdv, port: 7000, localPort: 43_000 });
    expect((await echo.ask<{ last: string }>({ t: 'count' })).last).toBe(`${ADDR.publicA}:43000`);
    const { portRange } = await lab.natReboot('natA');
    if (!portRange) throw new Error('expected a port range');
    expect(portRange[0] <= 43_000 && 43_000 <= portRange[1]).toBe(false);
    expect(await lab.mappedPorts('natA')).toEqual([]);
    await c.ask({ t: 'udp', ip: ADDR.rdv, port: 7000, localPort: 43_000 });
    const last = (await echo.ask<{ last: string }>({ t: 'count' })).last;
    const port = Number(last.split(':')[1]);
    expect(last.startsWith(`${ADDR.publicA}:`)).toBe(true);
    expect(port).not.toBe(43_000);
    expect(port).toBeGreaterThanOrEqual(portRange[0]);
    expect(port).toBeLessThanOrEqual(portRange[1]);
    // The self-check no longer demands port preservation; new mappings come from the window.
    const m = (await lab.selfCheck()).hosts[0]?.measured;
    expect(m).toMatchObject({ mapping: 'EIM', filtering: 'ADF', publicIp: ADDR.publicA });
    expect(m?.publicPort).toBeGreaterThanOrEqual(portRange[0]);
    expect(m?.publicPort).toBeLessThanOrEqual(portRange[1]);
  }, 30_000);

  it('coturn in rdv answers a hand-built STUN binding request with the public address', async () => {
    const lab = await make().up();
    const turn = await lab.startCoturn();
    expect(turn.port).toBe(3480);
    const c = await client(lab, 'hostA');
    const id = Buffer.from(Array.from({ length: 12 }, () => Math.floor(Math.random() * 256)));
    // RFC 8489 §5: type 0x0001 (Binding request), length 0, magic cookie, 96-bit transaction id.
    const req = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), id]);
    let res: { hex: string | null; localPort: number } | undefined;
    for (let i = 0; i < 5 && !res?.hex; i++) {
      res = await c.ask({
        t: 'udp',
        ip: turn.ip,
        port: turn.port,
        hex: req.toString('hex'),
        localPort: 44_000,
        waitMs: 500,
      });
    }
    const buf = Buffer.from(res?.hex ?? '', 'hex');
    expect(buf.readUInt16BE(0)).toBe(0x0101); // Binding success response
    expect(buf.subarray(8, 20).equals(id)).toBe(true);
    let mapped: string | undefined;
    for (let off = 20; off + 4 <= buf.length; ) {
      const type = buf.readUInt16BE(off);
      const len = buf.readUInt16BE(off + 2);
      if (type === 0x0020) {
        // XOR-MAPPED-ADDRESS (RFC 8489 §14.2): port ^ 0x2112, address ^ magic cookie
        const port = buf.readUInt16BE(off + 6) ^ 0x2112;
        const a = buf.readUInt32BE(off + 8) ^ 0x2112a442;
        mapped = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}:${port}`;
      }
      off += 4 + len + ((4 - (len % 4)) % 4);
    }
    expect(mapped).toBe(`${ADDR.publicA}:44000`);
    await turn.stop();
    expect(turn.process.exit).toBeDefined();
  }, 30_000);
});

reportSkipWhenUnsupported();
