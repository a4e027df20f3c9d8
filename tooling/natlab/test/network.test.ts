import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LabError } from '../src/errors.js';
import { createLab, type Lab } from '../src/lab.js';
import { runSync } from '../src/run.js';
import type { SelfCheckReport } from '../src/self-check.js';
import { ADDR, ADDR6 } from '../src/types.js';
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

  it('a third home (option C): hostC reaches the public segment through natC, seen at its public address', async () => {
    expect(() => createLab({ C: 'cgnat' as 'eim' })).toThrow(RangeError);
    const lab = await make({ C: 'eim' }).up();
    expect(lab.nodes()).toEqual(expect.arrayContaining(['natC', 'hostC']));
    expect(lab.routerNames()).toContain('natC');
    const rdvEcho = await echoServer(lab, 'rdv', ADDR.rdv, 7000);
    const c = await client(lab, 'hostC');
    const r = await c.ask<{ reply: string | null; from: string }>({
      t: 'udp',
      ip: ADDR.rdv,
      port: 7000,
      data: 'third',
    });
    expect(r).toMatchObject({ reply: 'third', from: `${ADDR.rdv}:7000` });
    const seen = await rdvEcho.ask<{ last: string }>({ t: 'count' });
    expect(seen.last.split(':')[0]).toBe(ADDR.publicC);
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

  it('IPv6 firewalls: LAN neighbours talk freely; across the internet only after both sent (a hole punch through two stateful firewalls)', async () => {
    const lab = await make({
      A: { profile: 'eim', ipv6: 'firewall', secondHost: true },
      B: { profile: 'eim', ipv6: 'firewall' },
    }).up();
    const echo = await echoServer(lab, 'hostA', '::', 7200);
    // same LAN: the bridge does not filter (bridge-nf-call-ip6tables off in the router)
    const lan = await client(lab, 'hostA2');
    expect(await lan.ask({ t: 'udp', ip: ADDR6.hostA, port: 7200, data: 'lan6' })).toMatchObject({
      reply: 'lan6',
      from: `[${ADDR6.hostA}]:7200`,
    });
    const b = await client(lab, 'hostB');
    // 1. B alone: A's firewall drops it (nothing from A went to B yet)
    const first = await b.ask<{ reply: string | null }>({
      t: 'udp',
      ip: ADDR6.hostA,
      port: 7200,
      data: 'knock',
      localPort: 7300,
      waitMs: 700,
    });
    expect(first.reply).toBeNull();
    // 2. A sends to B's endpoint: that opens A's pinhole (B's firewall lets it in too: B sent first)
    echo.proc.send({ t: 'sendto', ip: ADDR6.hostB, port: 7300, data: 'open' });
    await echo.proc.next((m) => m.t === 'sent');
    // 3. now B's packets reach A and the echo comes back, with A's own (untranslated) address
    const second = await b.ask({ t: 'udp', ip: ADDR6.hostA, port: 7200, data: 'punched', localPort: 7300 });
    expect(second).toMatchObject({ reply: 'punched', from: `[${ADDR6.hostA}]:7200` });
    // endpoint-dependent: another port of B is still dropped
    const other = await b.ask<{ reply: string | null }>({
      t: 'udp',
      ip: ADDR6.hostA,
      port: 7200,
      data: 'other port',
      localPort: 7301,
      waitMs: 700,
    });
    expect(other.reply).toBeNull();
    // IPv4 is still there, NATed as before
    const v4 = await client(lab, 'hostA');
    await echoServer(lab, 'rdv', ADDR.rdv, 7000);
    expect(await v4.ask({ t: 'udp', ip: ADDR.rdv, port: 7000, data: 'v4' })).toMatchObject({ reply: 'v4' });
  }, 30_000);

  it('the self-check fails an IPv6 router that lets unsolicited traffic in (and a NAT-only IPv4 check would not notice)', async () => {
    const lab = await make({
      A: { profile: 'eim', ipv6: 'firewall' },
      B: { profile: 'eim', ipv6: 'firewall' },
    }).up();
    // an "open" router: forward everything
    await lab.exec('natB', ['nft', 'flush', 'chain', 'ip6', 'natlab6', 'forward']);
    await lab.exec('natB', ['nft', 'add', 'rule', 'ip6', 'natlab6', 'forward', 'accept']);
    const err = await lab.selfCheck().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabError);
    expect((err as LabError).code).toBe('LAB_PROFILE_MISMATCH');
    expect((err as LabError).message).toContain('hostB (ipv6 firewall)');
    expect((err as LabError).message).toContain(
      'ipv6 unsolicited inbound: expected dropped, measured passed',
    );
    expect((err as LabError).message).toContain('ipv6 filtering: expected APDF, measured EIF');
    expect((err as LabError).message).not.toContain('hostA');
    const report = (err as LabError).cause as SelfCheckReport;
    expect(report.hosts.every((h) => h.problems.length === 0)).toBe(true); // IPv4 is fine
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

  it('one STUN server only: coturn on two addresses and ports answers CHANGE-REQUEST from the other one (IPv4 and IPv6), checked before use', async () => {
    const lab = await make({ A: { profile: 'eim', ipv6: 'firewall' } }).up();
    const turn = await lab.startCoturn({ rfc5780: true, ip6: true });
    expect(turn).toMatchObject({ ip: ADDR.rdv, altIp: ADDR.rdvAlt, ip6: ADDR6.rdv, altIp6: ADDR6.rdvAlt });
    const [v4, v6] = turn.rfc5780;
    expect(v4).toMatchObject({
      server: { ip: ADDR.rdv, port: 3480 },
      otherAddress: { ip: ADDR.rdvAlt, port: 3481 },
      changePort: { from: { ip: ADDR.rdv, port: 3481 } },
      changeIp: { from: { ip: ADDR.rdvAlt, port: 3480 } },
      changeBoth: { from: { ip: ADDR.rdvAlt, port: 3481 } },
      problems: [],
    });
    expect(v6).toMatchObject({
      otherAddress: { ip: ADDR6.rdvAlt, port: 3481 },
      changeBoth: { from: { ip: ADDR6.rdvAlt, port: 3481 } },
      problems: [],
    });
    // the probe ran from inet: the mapped address is inet's own (no NAT in between)
    expect(v4?.plain?.mapped?.ip).toBe('203.0.113.129');
    // through the IPv6 firewall a host sees its own address as the mapped one
    const c = await client(lab, 'hostA');
    const id = Buffer.from(Array.from({ length: 12 }, (_, i) => i + 1));
    const req = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42]), id]);
    let res: { hex: string | null } | undefined;
    for (let i = 0; i < 5 && !res?.hex; i++) {
      res = await c.ask<{ hex: string | null }>({
        t: 'udp',
        ip: ADDR6.rdv,
        port: 3480,
        hex: req.toString('hex'),
        localPort: 44_006,
        waitMs: 500,
      });
    }
    const buf = Buffer.from(res?.hex ?? '', 'hex');
    expect(buf.readUInt16BE(0)).toBe(0x0101);
    // XOR-MAPPED-ADDRESS (RFC 8489 §14.2) of family 2 (IPv6): port ^ 0x2112, address ^ cookie + id
    let mapped: string | undefined;
    for (let off = 20; off + 4 <= buf.length; ) {
      const type = buf.readUInt16BE(off);
      const len = buf.readUInt16BE(off + 2);
      if (type === 0x0020 && buf[off + 5] === 0x02) {
        const mask = Buffer.concat([Buffer.from([0x21, 0x12, 0xa4, 0x42]), id]);
        const a = Buffer.from(buf.subarray(off + 8, off + 24));
        for (let i = 0; i < 16; i++) a[i] = (a[i] ?? 0) ^ (mask[i] ?? 0);
        const groups = Array.from({ length: 8 }, (_, i) => a.readUInt16BE(i * 2).toString(16));
        mapped = `[${new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1)}]:${buf.readUInt16BE(off + 6) ^ 0x2112}`;
      }
      off += 4 + len + ((4 - (len % 4)) % 4);
    }
    expect(mapped).toBe(`[${ADDR6.hostA}]:44006`);
    await turn.stop();
  }, 30_000);
});

reportSkipWhenUnsupported();
