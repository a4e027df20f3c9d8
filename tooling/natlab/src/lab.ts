// Why ~1,100 lines: one Lab builds, checks and tears down one namespace topology whose steps
// share its bookkeeping (namespaces, links, routers, cleanup order); impairments, coturn,
// self-checks and errors are their own files. Test tooling, not shipped.
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Coturn, type CoturnOptions, startCoturn } from './coturn.js';
import { LabError } from './errors.js';
import {
  impairRuleset,
  LINK_IF,
  LINK_QUEUE,
  needsDelayer,
  netemArgs,
  validateImpairment,
} from './impair-rules.js';
import { type Miniupnpd, type MiniupnpdOptions, startMiniupnpd } from './miniupnpd.js';
import { firewall6Ruleset, natRuleset, REPLACE_TABLE, REPLACE_TABLE6 } from './nat-rules.js';
import { LabProcess } from './node-process.js';
import { pidAlive, readStates, registerLive, removeState, unregisterLive, writeState } from './registry.js';
import { type RunOptions, type RunResult, run, runSync } from './run.js';
import {
  classify,
  classify6,
  compare,
  compare6,
  expectedBehaviour,
  expectedBehaviour6,
  type Host6Check,
  type HostCheck,
  type Probe6Output,
  type ProbeOutput,
  type SelfCheckReport,
  type SideCheck,
} from './self-check.js';
import {
  ADDR,
  ADDR6,
  type HostName,
  type Impairment,
  type LabOptions,
  type LinkName,
  NAT_PROFILES,
  type NatProfile,
  type NodeName,
  REFLECTOR_PORTS,
  type RouterName,
  type RouterProfile,
  type Side,
  type SideOptions,
  V6_PROFILES,
  type V6Profile,
} from './types.js';

const PROGRAMS = fileURLToPath(new URL('../programs/', import.meta.url));

/** A side after defaults: the home router, the optional carrier NAT in front, the hosts. */
interface SidePlan {
  readonly side: Side;
  readonly profile: NatProfile;
  readonly home: RouterProfile;
  readonly cgn: RouterProfile | undefined;
  readonly hairpin: boolean;
  readonly hosts: readonly HostName[];
  readonly udpTimeout: number | undefined;
  readonly udpTimeoutStream: number | undefined;
  /** IPv6 profile of the home router; null: no IPv6 on this side. */
  readonly v6: V6Profile | null;
  /** The hosts have IPv4 (false: an IPv6-only home). */
  readonly ipv4: boolean;
}

/** Per-router mutable state. */
interface RouterState {
  readonly name: RouterName;
  profile: RouterProfile;
  readonly lanNet: string;
  readonly wanIp: string;
  readonly hairpin: boolean;
  portRange: readonly [number, number] | undefined;
  mapTimeout: number;
  /** IPv6 firewall of a home router (null: none, e.g. a carrier router or an IPv4-only side). */
  readonly v6: V6Profile | null;
  readonly lanNet6: string;
}

export interface SpawnOptions {
  /** Extra environment (merged over process.env). */
  readonly env?: NodeJS.ProcessEnv;
  /** Extra node flags before the script (e.g. `--enable-source-maps`). */
  readonly nodeArgs?: readonly string[];
}

export interface NatRebootResult {
  /** The port range new mappings now come from (undefined: unrestricted, port preserving). */
  readonly portRange: readonly [number, number] | undefined;
}

const isTs = (p: string): boolean => p.endsWith('.ts') || p.endsWith('.mts');

function sidePlan(side: Side, o: NatProfile | SideOptions | undefined): SidePlan {
  const so: SideOptions = typeof o === 'string' ? { profile: o } : (o ?? {});
  const profile = so.profile ?? 'eim';
  if (!NAT_PROFILES.includes(profile))
    throw new RangeError(`"profile" expected one of ${NAT_PROFILES.join(', ')}, got ${profile}`);
  const home: RouterProfile = profile === 'cgnat' ? 'eim' : profile;
  const cgn: RouterProfile | undefined = so.cgn ?? (profile === 'cgnat' ? 'eim' : undefined);
  for (const t of [so.udpTimeout, so.udpTimeoutStream]) {
    if (t !== undefined && !(Number.isInteger(t) && t >= 1 && t <= 86_400)) {
      throw new RangeError(`"udpTimeout" expected an integer 1..86400, got ${t}`);
    }
  }
  const v6 = so.ipv6 === undefined || so.ipv6 === false ? null : so.ipv6;
  if (v6 !== null && !V6_PROFILES.includes(v6))
    throw new RangeError(`"ipv6" expected one of ${V6_PROFILES.join(', ')} or false, got ${String(v6)}`);
  const ipv4 = so.ipv4 ?? true;
  if (!ipv4 && v6 === null)
    throw new RangeError('"ipv4": false needs "ipv6" on the same side (hosts need a family)');
  const h1: HostName = side === 'A' ? 'hostA' : 'hostB';
  const h2: HostName = side === 'A' ? 'hostA2' : 'hostB2';
  return {
    side,
    profile,
    home,
    cgn,
    hairpin: so.hairpin ?? false,
    hosts: so.secondHost ? [h1, h2] : [h1],
    udpTimeout: so.udpTimeout,
    udpTimeoutStream: so.udpTimeoutStream,
    v6,
    ipv4,
  };
}

let pythonPath: string | undefined;
function python(): string {
  if (pythonPath) return pythonPath;
  // Resolve through the pyenv shim once, so namespaces run the real interpreter.
  const r = runSync(['python3', '-c', 'import sys; print(sys.executable)']);
  if (r.code !== 0)
    throw new LabError('LAB_UNSUPPORTED', 'python3 not found (needed for the NFQUEUE delayer)');
  pythonPath = r.stdout.trim();
  return pythonPath;
}

/**
 * One NAT lab: a small internet of network namespaces (see README for the diagram). Create with
 * {@link createLab}, then `await lab.up()`; always `await lab.down()` (also registered on exit).
 */
export class Lab {
  readonly prefix: string;
  readonly A: SidePlan;
  readonly B: SidePlan;
  /** Profile of the third home's router natC (option `C`); null: no third home. */
  readonly C: RouterProfile | null;
  private readonly opts: LabOptions;
  private readonly routers = new Map<RouterName, RouterState>();
  private readonly impairments = new Map<LinkName, Impairment>();
  private readonly delayers = new Map<LinkName, LabProcess>();
  private readonly procs = new Set<LabProcess>();
  private state: 'down' | 'up' | 'starting' = 'down';
  private upPromise: Promise<this> | undefined;
  private owned = false;
  private backend: 'netem' | 'fallback' | undefined;

  constructor(opts: LabOptions = {}) {
    const prefix = opts.prefix ?? freePrefix();
    if (!/^[a-z0-9]{1,8}$/.test(prefix))
      throw new RangeError(`"prefix" expected [a-z0-9]{1,8}, got ${prefix}`);
    this.prefix = prefix;
    this.opts = opts;
    this.A = sidePlan('A', opts.A);
    this.B = sidePlan('B', opts.B);
    this.C = opts.C ?? null;
    if (this.C !== null) {
      if (!NAT_PROFILES.includes(this.C) || (this.C as NatProfile) === 'cgnat')
        throw new RangeError(`"C" expected a router profile (not cgnat), got ${String(this.C)}`);
      this.routers.set('natC', {
        name: 'natC',
        profile: this.C,
        lanNet: '192.168.1.0/24',
        wanIp: ADDR.publicC,
        hairpin: false,
        portRange: undefined,
        mapTimeout: 60,
        v6: null,
        lanNet6: '',
      });
    }
    for (const [link, imp] of Object.entries(opts.impair ?? {}) as [LinkName, Impairment][]) {
      if (!(link in LINK_IF)) throw new RangeError(`"impair" expected keys natA, natB, rdv, got ${link}`);
      validateImpairment(imp);
      this.impairments.set(link, imp);
    }
    for (const s of [this.A, this.B]) {
      const home: RouterName = s.side === 'A' ? 'natA' : 'natB';
      const cgn: RouterName = s.side === 'A' ? 'cgnA' : 'cgnB';
      const pub = s.side === 'A' ? ADDR.publicA : ADDR.publicB;
      const behind = s.side === 'A' ? ADDR.natAWanBehindCgn : ADDR.natBWanBehindCgn;
      const mapTimeout = Math.max(s.udpTimeoutStream ?? 60, s.udpTimeout ?? 0, 1);
      this.routers.set(home, {
        name: home,
        profile: s.home,
        lanNet: '192.168.1.0/24',
        wanIp: s.cgn ? behind : pub,
        hairpin: s.hairpin,
        portRange: undefined,
        mapTimeout,
        v6: s.v6,
        lanNet6: s.side === 'A' ? ADDR6.lanA : ADDR6.lanB,
      });
      if (s.cgn) {
        this.routers.set(cgn, {
          name: cgn,
          profile: s.cgn,
          lanNet: '100.64.0.0/24',
          wanIp: pub,
          hairpin: false,
          portRange: undefined,
          mapTimeout,
          v6: null,
          lanNet6: '',
        });
      }
    }
  }

  /** Real namespace name of a lab node (`<prefix>-<node>`). */
  ns(node: NodeName): string {
    return `${this.prefix}-${node}`;
  }

  /** Nodes present in this lab's topology. */
  nodes(): NodeName[] {
    const n: NodeName[] = ['inet', 'rdv'];
    for (const s of [this.A, this.B]) {
      n.push(s.side === 'A' ? 'natA' : 'natB');
      if (s.cgn) n.push(s.side === 'A' ? 'cgnA' : 'cgnB');
      n.push(...s.hosts);
    }
    if (this.C !== null) n.push('natC', 'hostC');
    return n;
  }

  /** Hosts behind the NATs in this lab. */
  hosts(): HostName[] {
    return [...this.A.hosts, ...this.B.hosts];
  }

  /** NAT routers in this lab. */
  routerNames(): RouterName[] {
    return [...this.routers.keys()];
  }

  /** The public address of a side (what peers and the reflector see). */
  publicIp(side: Side): string {
    return side === 'A' ? ADDR.publicA : ADDR.publicB;
  }

  /** The LAN address of a host. */
  hostIp(host: HostName): string {
    return ADDR[host];
  }

  /** The global IPv6 address of a host (also its public address: IPv6 homes do not NAT). */
  hostIp6(host: HostName): string {
    return ADDR6[host];
  }

  /** The lab has IPv6 on its public segment (a side has `ipv6`, or the lab option). */
  get hasIpv6(): boolean {
    return this.opts.ipv6 === true || this.A.v6 !== null || this.B.v6 !== null;
  }

  /** IPv6 is enabled in a node's namespace: public nodes when the lab has IPv6, a side's when it has. */
  private v6In(n: NodeName): boolean {
    if (n === 'inet' || n === 'rdv') return this.hasIpv6;
    if (n === 'natC' || n === 'hostC') return false;
    return this.sideOfNode(n).v6 !== null;
  }

  private sideOfNode(n: NodeName): SidePlan {
    return n.endsWith('A') || n === 'hostA2' ? this.A : this.B;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** Builds the lab. Idempotent: a second call returns the same (pending or finished) result. */
  up(): Promise<this> {
    if (this.state === 'up' && this.upPromise) return this.upPromise;
    if (!this.upPromise) {
      this.state = 'starting';
      this.upPromise = this.build().then(
        () => {
          this.state = 'up';
          return this;
        },
        (err: unknown) => {
          this.downSync();
          throw err instanceof LabError ? err : new LabError('LAB_SETUP_FAILED', String(err), { cause: err });
        },
      );
    }
    return this.upPromise;
  }

  private async build(): Promise<void> {
    cleanStale();
    // Never adopt a prefix another live lab owns (its namespaces would be deleted below).
    const owner = readStates().find((st) => st.prefix === this.prefix);
    if (
      (owner && owner.pid !== process.pid && pidAlive(owner.pid)) ||
      (prefixesUp.has(this.prefix) && !this.owned)
    ) {
      throw new LabError('LAB_SETUP_FAILED', `prefix ${this.prefix} belongs to another running lab`);
    }
    prefixesUp.add(this.prefix);
    this.owned = true;
    const names = this.nodes();
    writeState({
      prefix: this.prefix,
      pid: process.pid,
      namespaces: names.map((n) => this.ns(n)),
      created: new Date().toISOString(),
      ...(this.opts.keepOnExit ? { keep: true } : {}),
    });
    if (!this.opts.keepOnExit) registerLive(this);
    // Leftovers of an earlier run with the same prefix are ours: remove before rebuilding.
    const existing = listNamespaces();
    for (const n of names) if (existing.includes(this.ns(n))) deleteNamespaceSync(this.ns(n));

    await Promise.all(names.map((n) => run(['ip', 'netns', 'add', this.ns(n)])));
    await Promise.all(names.map((n) => this.prepareNamespace(n)));

    // Public side: every public subnet hangs directly off inet (NATLAB-NOTES §2). veth pairs are
    // created with both ends inside namespaces, so the host never sees an interface.
    await this.veth('inet', 'i-rdv', 'rdv', 'wan0');
    await this.addr('inet', 'i-rdv', `${ADDR.inetRdv}/25`);
    for (const a of [ADDR.rdv, ADDR.rdvAlt, ADDR.rdvFilter]) await this.addr('rdv', 'wan0', `${a}/25`);
    await this.ip('rdv', ['route', 'add', 'default', 'via', ADDR.inetRdv]);
    if (this.hasIpv6) {
      await this.addr6('inet', 'i-rdv', `${ADDR6.inetRdv}/64`);
      for (const a of [ADDR6.rdv, ADDR6.rdvAlt, ADDR6.rdvFilter]) await this.addr6('rdv', 'wan0', `${a}/64`);
      await this.ip('rdv', ['-6', 'route', 'add', 'default', 'via', ADDR6.inetRdv]);
    }
    await Promise.all([this.A, this.B].map((s) => this.buildSide(s)));
    if (this.C !== null) await this.buildThirdHome();
    for (const r of this.routers.values()) await this.loadNat(r);
    await this.applyImpairments();
    if (this.hasIpv6) await this.waitUsable6();
  }

  /**
   * Waits (bounded) until no IPv6 address in the lab is tentative: a tentative address cannot be
   * bound (EADDRNOTAVAIL) and does not answer neighbour solicitations. With DAD off this is
   * immediate; the check catches a kernel or setup that still runs DAD.
   */
  private async waitUsable6(): Promise<void> {
    const nodes = this.nodes().filter((n) => this.v6In(n));
    const deadline = Date.now() + 5000;
    for (;;) {
      const busy: string[] = [];
      await Promise.all(
        nodes.map(async (n) => {
          const r = await this.ip(n, ['-6', '-o', 'addr', 'show', 'tentative']);
          if (r.stdout.trim()) busy.push(`${n}: ${r.stdout.trim()}`);
          const f = await this.ip(n, ['-6', '-o', 'addr', 'show', 'dadfailed']);
          if (f.stdout.trim())
            throw new LabError('LAB_SETUP_FAILED', `duplicate IPv6 address in ${n}: ${f.stdout.trim()}`);
        }),
      );
      if (busy.length === 0) return;
      if (Date.now() > deadline)
        throw new LabError('LAB_TIMEOUT', `IPv6 addresses still tentative after 5 s: ${busy.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async prepareNamespace(n: NodeName): Promise<void> {
    await this.ip(n, ['link', 'set', 'lo', 'up']);
    const sys: string[] = [];
    const router = n === 'inet' || n.startsWith('nat') || n.startsWith('cgn');
    if (!this.v6In(n)) {
      sys.push('net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    } else {
      // Static addresses only, usable at once: no duplicate address detection (a tentative
      // address cannot be bound), no router advertisements, no SLAAC. Set before any interface
      // exists, so every interface (and its link-local address) inherits it.
      for (const c of ['all', 'default'])
        sys.push(
          `net.ipv6.conf.${c}.accept_dad=0`,
          `net.ipv6.conf.${c}.accept_ra=0`,
          `net.ipv6.conf.${c}.autoconf=0`,
        );
      if (router) sys.push('net.ipv6.conf.all.forwarding=1');
    }
    if (router) sys.push('net.ipv4.ip_forward=1');
    if (sys.length) await this.exec(n, ['sysctl', '-q', '-w', ...sys]);
    if (n.startsWith('nat')) {
      // br_netfilter is on by default per namespace: bridged LAN frames would hit the router's
      // IP hooks and its policy-drop forward chain (NATLAB-NOTES pitfall 8). Both families.
      await this.exec(
        n,
        [
          'sysctl',
          '-q',
          '-w',
          'net.bridge.bridge-nf-call-iptables=0',
          'net.bridge.bridge-nf-call-ip6tables=0',
        ],
        { check: false },
      );
    }
  }

  private async buildSide(s: SidePlan): Promise<void> {
    const home: NodeName = s.side === 'A' ? 'natA' : 'natB';
    const cgn: NodeName = s.side === 'A' ? 'cgnA' : 'cgnB';
    const outer: NodeName = s.cgn ? cgn : home;
    const inetIf = s.side === 'A' ? 'i-natA' : 'i-natB';
    const inetAddr = s.side === 'A' ? `${ADDR.inetA}/25` : `${ADDR.inetB}/24`;
    const pubAddr = s.side === 'A' ? `${ADDR.publicA}/25` : `${ADDR.publicB}/24`;
    const gw = s.side === 'A' ? ADDR.inetA : ADDR.inetB;
    await this.veth('inet', inetIf, outer, 'wan0');
    await this.addr('inet', inetIf, inetAddr);
    await this.addr(outer, 'wan0', pubAddr);
    await this.ip(outer, ['route', 'add', 'default', 'via', gw]);
    if (s.cgn) {
      const behind = s.side === 'A' ? ADDR.natAWanBehindCgn : ADDR.natBWanBehindCgn;
      await this.veth(cgn, 'lan0', home, 'wan0');
      await this.addr(cgn, 'lan0', `${ADDR.cgnGateway}/24`);
      await this.addr(home, 'wan0', `${behind}/24`);
      await this.ip(home, ['route', 'add', 'default', 'via', ADDR.cgnGateway]);
    }
    await this.ip(home, ['link', 'add', 'lan0', 'type', 'bridge']);
    await this.addr(home, 'lan0', `${ADDR.lanGateway}/24`);
    const gw6 = s.side === 'A' ? ADDR6.lanGatewayA : ADDR6.lanGatewayB;
    for (const h of s.hosts) {
      const port = `p-${h}`;
      await this.veth(home, port, h, 'eth0');
      await this.ip(home, ['link', 'set', port, 'master', 'lan0']);
      if (s.ipv4) {
        await this.addr(h, 'eth0', `${ADDR[h]}/24`);
        await this.ip(h, ['route', 'add', 'default', 'via', ADDR.lanGateway]);
      }
    }
    if (s.v6 !== null) {
      // A routed prefix per home (prefix delegation), no NAT66: inet routes the home's /64 to the
      // side's outer router, a carrier router (when stacked) routes it on to the home router.
      const a = s.side === 'A';
      const inet6 = a ? ADDR6.inetA : ADDR6.inetB;
      const wan6 = a ? ADDR6.wanA : ADDR6.wanB;
      const lan6 = a ? ADDR6.lanA : ADDR6.lanB;
      await this.addr6('inet', inetIf, `${inet6}/64`);
      await this.addr6(outer, 'wan0', `${wan6}/64`);
      await this.ip(outer, ['-6', 'route', 'add', 'default', 'via', inet6]);
      await this.ip('inet', ['-6', 'route', 'add', lan6, 'via', wan6]);
      if (s.cgn) {
        const cgw6 = a ? ADDR6.cgnGatewayA : ADDR6.cgnGatewayB;
        const behind6 = a ? ADDR6.natAWanBehindCgn : ADDR6.natBWanBehindCgn;
        await this.addr6(cgn, 'lan0', `${cgw6}/64`);
        await this.addr6(home, 'wan0', `${behind6}/64`);
        await this.ip(home, ['-6', 'route', 'add', 'default', 'via', cgw6]);
        await this.ip(cgn, ['-6', 'route', 'add', lan6, 'via', behind6]);
      }
      await this.addr6(home, 'lan0', `${gw6}/64`);
      for (const h of s.hosts) {
        await this.addr6(h, 'eth0', `${ADDR6[h]}/64`);
        await this.ip(h, ['-6', 'route', 'add', 'default', 'via', gw6]);
      }
    }
    for (const r of s.cgn ? [home, cgn] : [home]) {
      const t = { udpTimeout: s.udpTimeout, udpTimeoutStream: s.udpTimeoutStream };
      if (t.udpTimeout !== undefined || t.udpTimeoutStream !== undefined) await this.sysctlTimeouts(r, t);
    }
  }

  /** The third home: inet i-natC <-> natC wan0 (198.18.0.0/24), natC lan0 bridge <-> hostC. */
  private async buildThirdHome(): Promise<void> {
    await this.veth('inet', 'i-natC', 'natC', 'wan0');
    await this.addr('inet', 'i-natC', `${ADDR.inetC}/24`);
    await this.addr('natC', 'wan0', `${ADDR.publicC}/24`);
    await this.ip('natC', ['route', 'add', 'default', 'via', ADDR.inetC]);
    await this.ip('natC', ['link', 'add', 'lan0', 'type', 'bridge']);
    await this.addr('natC', 'lan0', `${ADDR.lanGateway}/24`);
    await this.veth('natC', 'p-hostC', 'hostC', 'eth0');
    await this.ip('natC', ['link', 'set', 'p-hostC', 'master', 'lan0']);
    await this.addr('hostC', 'eth0', `${ADDR.hostC}/24`);
    await this.ip('hostC', ['route', 'add', 'default', 'via', ADDR.lanGateway]);
  }

  private async veth(nsA: NodeName, ifA: string, nsB: NodeName, ifB: string): Promise<void> {
    await this.ip(nsA, ['link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', this.ns(nsB)]);
    await this.ip(nsA, ['link', 'set', ifA, 'up']);
    await this.ip(nsB, ['link', 'set', ifB, 'up']);
  }

  private async addr(n: NodeName, dev: string, cidr: string): Promise<void> {
    await this.ip(n, ['addr', 'add', cidr, 'dev', dev]);
    await this.ip(n, ['link', 'set', dev, 'up']);
  }

  /** An IPv6 address without duplicate address detection (usable at once, never tentative). */
  private async addr6(n: NodeName, dev: string, cidr: string): Promise<void> {
    await this.ip(n, ['-6', 'addr', 'add', cidr, 'dev', dev, 'nodad']);
    await this.ip(n, ['link', 'set', dev, 'up']);
  }

  private ip(n: NodeName, args: readonly string[]): Promise<RunResult> {
    return run(['ip', '-n', this.ns(n), ...args]);
  }

  private async loadNat(r: RouterState): Promise<void> {
    const text = natRuleset({
      profile: r.profile,
      lanNet: r.lanNet,
      wanIp: r.wanIp,
      hairpin: r.hairpin,
      portRange: r.portRange,
      mapTimeout: r.mapTimeout,
    });
    await this.exec(r.name, ['nft', '-f', '-'], { input: REPLACE_TABLE + text });
    if (r.v6 !== null) {
      const fw = firewall6Ruleset({ profile: r.v6, lanNet: r.lanNet6 });
      await this.exec(r.name, ['nft', '-f', '-'], { input: REPLACE_TABLE6 + fw });
    }
  }

  private assertUp(): void {
    if (this.state === 'down') throw new LabError('LAB_NOT_UP', `lab ${this.prefix} is not up`);
  }

  private assertNode(n: NodeName): void {
    if (!this.nodes().includes(n))
      throw new RangeError(`"node" expected one of ${this.nodes().join(', ')}, got ${n}`);
  }

  /** Runs argv inside a node's namespace and waits for it (bounded, default 10 s). */
  async exec(node: NodeName, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.assertUp();
    this.assertNode(node);
    return run(['ip', 'netns', 'exec', this.ns(node), ...argv], opts);
  }

  /** Starts argv in the background inside a namespace; stopped by `down()` at the latest. */
  spawn(node: NodeName, argv: readonly string[], env: NodeJS.ProcessEnv = {}): LabProcess {
    this.assertUp();
    this.assertNode(node);
    const p = new LabProcess(this.ns(node), argv, { ...process.env, ...env });
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  /**
   * Runs a Node program inside a namespace with the JSON-lines channel (see LabProcess).
   * `.ts` scripts run from source: a loader strips types (TypeScript's transpileModule) and
   * workspace packages resolve through their "source" export condition.
   */
  spawnNode(
    node: NodeName,
    script: string,
    args: readonly string[] = [],
    opts: SpawnOptions = {},
  ): LabProcess {
    const flags = [...(opts.nodeArgs ?? [])];
    if (isTs(script)) flags.push('--conditions=source', '--import', `${PROGRAMS}ts-loader.mjs`);
    return this.spawn(node, [process.execPath, ...flags, script, ...args], opts.env ?? {});
  }

  /** Sets (replaces) or clears (null) the impairment of one public link. */
  async impair(link: LinkName, imp: Impairment | null): Promise<void> {
    this.assertUp();
    if (!(link in LINK_IF)) throw new RangeError(`"link" expected natA, natB or rdv, got ${link}`);
    if (imp) validateImpairment(imp);
    const old = this.impairments.get(link);
    if (imp) this.impairments.set(link, imp);
    else this.impairments.delete(link);
    await this.applyImpairments(link, old);
  }

  /** Current impairments. */
  impairmentsNow(): Partial<Record<LinkName, Impairment>> {
    return Object.fromEntries(this.impairments);
  }

  private farEnd(link: LinkName): NodeName {
    if (link === 'rdv') return 'rdv';
    const s = link === 'natA' ? this.A : this.B;
    return s.cgn ? (link === 'natA' ? 'cgnA' : 'cgnB') : link;
  }

  /**
   * The impairment backend in use: netem when asked for or (auto) when the kernel has it, else
   * the fallback (NATLAB-NOTES §4: this project's kernels have no netem).
   */
  async impairBackend(): Promise<'netem' | 'fallback'> {
    this.assertUp();
    if (this.backend) return this.backend;
    const want = this.opts.impairBackend ?? 'auto';
    let netem = false;
    if (want !== 'fallback') {
      const probe = await this.exec(
        'inet',
        ['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'],
        {
          check: false,
        },
      );
      netem = probe.code === 0;
      if (netem) await this.exec('inet', ['tc', 'qdisc', 'del', 'dev', 'lo', 'root'], { check: false });
      if (!netem && want === 'netem') {
        throw new LabError(
          'LAB_UNSUPPORTED',
          `tc netem is not available in this kernel: ${probe.stderr.trim()}`,
        );
      }
    }
    this.backend = netem ? 'netem' : 'fallback';
    return this.backend;
  }

  private async applyImpairments(changed?: LinkName, old?: Impairment): Promise<void> {
    const links: LinkName[] = changed ? [changed] : [...this.impairments.keys()];
    if (links.length === 0) return;
    if ((await this.impairBackend()) === 'netem') {
      for (const link of links) {
        const imp = this.impairments.get(link);
        for (const [n, d] of [
          ['inet', LINK_IF[link]],
          [this.farEnd(link), 'wan0'],
        ] as const) {
          const shaped = imp && (imp.delayMs || imp.jitterMs || imp.lossPct || imp.dupPct || imp.rateKbit);
          if (imp && shaped)
            await this.exec(n, ['tc', 'qdisc', 'replace', 'dev', d, 'root', ...netemArgs(imp)]);
          else await this.exec(n, ['tc', 'qdisc', 'del', 'dev', d, 'root'], { check: false });
          const mtu = imp?.mtu ?? (old?.mtu ? 1500 : undefined);
          if (mtu !== undefined) await this.ip(n, ['link', 'set', d, 'mtu', String(mtu)]);
        }
      }
      return;
    }
    const all = Object.fromEntries(this.impairments) as Partial<Record<LinkName, Impairment>>;
    await this.exec('inet', ['nft', '-f', '-'], { input: impairRuleset(all, this.hasIpv6) });
    // IPv6 packets are delayed by the same delayer (a queue takes both families): ip6tables rules.
    const tables = this.hasIpv6 ? ['iptables', 'ip6tables'] : ['iptables'];
    for (const link of links) {
      const imp = this.impairments.get(link);
      const dev = LINK_IF[link];
      const far = this.farEnd(link);
      // Delay: NFQUEUE rules (iptables; nft has no `queue` here) + a userspace delayer.
      const q = String(LINK_QUEUE[link]);
      const rules = [
        ['PREROUTING', '-i'],
        ['POSTROUTING', '-o'],
      ] as const;
      const prev = this.delayers.get(link);
      const same =
        prev &&
        imp &&
        old &&
        old.delayMs === imp.delayMs &&
        old.jitterMs === imp.jitterMs &&
        old.reorderPct === imp.reorderPct &&
        prev.exit === undefined;
      if (!same) {
        for (const [chain, flag] of rules) {
          const spec = [
            '-t',
            'mangle',
            '-D',
            chain,
            flag,
            dev,
            '-j',
            'NFQUEUE',
            '--queue-num',
            q,
            '--queue-bypass',
          ];
          for (const t of tables) await this.exec('inet', [t, '-w', '5', ...spec], { check: false });
        }
        if (prev) {
          this.delayers.delete(link);
          await prev.kill(1500);
        }
        if (needsDelayer(imp) && imp) {
          const d = this.spawn('inet', [
            python(),
            `${PROGRAMS}delayer.py`,
            '--queue',
            q,
            '--delay',
            String(imp.delayMs ?? 0),
            '--jitter',
            String(imp.jitterMs ?? 0),
            '--reorder',
            String(imp.reorderPct ?? 0),
          ]);
          await d.next((m) => m.t === 'ready', 5000);
          this.delayers.set(link, d);
          for (const [chain, flag] of rules) {
            const spec = [
              '-t',
              'mangle',
              '-A',
              chain,
              flag,
              dev,
              '-j',
              'NFQUEUE',
              '--queue-num',
              q,
              '--queue-bypass',
            ];
            for (const t of tables) await this.exec('inet', [t, '-w', '5', ...spec]);
          }
        }
      }
      // Rate: tbf on both ends' egress (no netem here; NATLAB-NOTES §4).
      for (const [n, d] of [
        ['inet', dev],
        [far, 'wan0'],
      ] as const) {
        if (imp?.rateKbit) {
          const burst = Math.max(4000, Math.ceil((imp.rateKbit * 1000) / 8 / 100));
          await this.exec(n, [
            'tc',
            'qdisc',
            'replace',
            'dev',
            d,
            'root',
            'tbf',
            'rate',
            `${imp.rateKbit}kbit`,
            'burst',
            String(burst),
            'latency',
            '200ms',
          ]);
        } else if (old?.rateKbit) {
          await this.exec(n, ['tc', 'qdisc', 'del', 'dev', d, 'root'], { check: false });
        }
        const mtu = imp?.mtu ?? (old?.mtu ? 1500 : undefined);
        if (mtu !== undefined) await this.ip(n, ['link', 'set', d, 'mtu', String(mtu)]);
      }
    }
  }

  private async sysctlTimeouts(
    r: NodeName,
    t: { udpTimeout?: number | undefined; udpTimeoutStream?: number | undefined },
  ): Promise<void> {
    const sys: string[] = [];
    if (t.udpTimeout !== undefined) sys.push(`net.netfilter.nf_conntrack_udp_timeout=${t.udpTimeout}`);
    if (t.udpTimeoutStream !== undefined)
      sys.push(`net.netfilter.nf_conntrack_udp_timeout_stream=${t.udpTimeoutStream}`);
    if (sys.length) await run(['ip', 'netns', 'exec', this.ns(r), 'sysctl', '-q', '-w', ...sys]);
  }

  /**
   * Sets a router's conntrack UDP timeouts, seconds. Both matter: `udpTimeout` until a flow has
   * seen replies and is 2 s old, `udpTimeoutStream` after (NATLAB-NOTES §7).
   */
  async setUdpTimeouts(
    router: RouterName,
    t: { udpTimeout?: number; udpTimeoutStream?: number },
  ): Promise<void> {
    this.assertUp();
    const r = this.routers.get(router);
    if (!r) throw new RangeError(`"router" expected one of ${this.routerNames().join(', ')}, got ${router}`);
    for (const v of [t.udpTimeout, t.udpTimeoutStream]) {
      if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= 86_400)) {
        throw new RangeError(`"udpTimeout" expected an integer 1..86400, got ${v}`);
      }
    }
    await this.sysctlTimeouts(router, t);
    const mt = Math.max(t.udpTimeoutStream ?? t.udpTimeout ?? r.mapTimeout, 1);
    if (mt !== r.mapTimeout && (r.profile === 'restricted' || r.profile === 'fullcone' || r.hairpin)) {
      r.mapTimeout = mt;
      await this.loadNat(r);
    } else r.mapTimeout = mt;
  }

  /** A router's current conntrack UDP timeouts, seconds. */
  async udpTimeouts(router: RouterName): Promise<{ udpTimeout: number; udpTimeoutStream: number }> {
    this.assertUp();
    const r = await this.exec(router, [
      'sysctl',
      '-n',
      'net.netfilter.nf_conntrack_udp_timeout',
      'net.netfilter.nf_conntrack_udp_timeout_stream',
    ]);
    const [a, b] = r.stdout.trim().split(/\s+/).map(Number);
    return { udpTimeout: a ?? Number.NaN, udpTimeoutStream: b ?? Number.NaN };
  }

  /** Public UDP ports a router currently maps (from its conntrack table). */
  async mappedPorts(router: RouterName): Promise<number[]> {
    this.assertUp();
    const r = this.routers.get(router);
    if (!r) throw new RangeError(`"router" expected one of ${this.routerNames().join(', ')}, got ${router}`);
    const out = await this.exec(router, ['conntrack', '-L', '-p', 'udp'], { check: false });
    const ports = new Set<number>();
    for (const line of out.stdout.split('\n')) {
      // reply tuple: src=<remote> dst=<public ip> sport=<remote port> dport=<public port>
      const m = /src=\S+ dst=(\S+) sport=\d+ dport=(\d+)(?!.*dst=)/.exec(line);
      if (m && m[1] === r.wanIp) ports.add(Number(m[2]));
    }
    return [...ports].sort((a, b) => a - b);
  }

  /**
   * Simulates a NAT reboot: learned state is forgotten (conntrack flushed, nft maps reloaded)
   * and, unless `newPorts: false`, new mappings come from a port window that contains none of
   * the ports mapped before, so every flow gets a new public port. The profile's mapping and
   * filtering stay as they were; port preservation is lost until the lab is rebuilt.
   */
  async natReboot(router: RouterName, opts: { newPorts?: boolean } = {}): Promise<NatRebootResult> {
    this.assertUp();
    const r = this.routers.get(router);
    if (!r) throw new RangeError(`"router" expected one of ${this.routerNames().join(', ')}, got ${router}`);
    if (!hasTool('conntrack'))
      throw new LabError('LAB_UNSUPPORTED', 'natReboot needs the conntrack tool (apt-get install conntrack)');
    if (opts.newPorts !== false) {
      const used = await this.mappedPorts(router);
      const size = 4096;
      const windows: [number, number][] = [];
      for (let lo = 1024; lo + size - 1 <= 65_535; lo += size) {
        const hi = lo + size - 1;
        const prev = r.portRange && r.portRange[0] === lo;
        if (!prev && !used.some((p) => p >= lo && p <= hi)) windows.push([lo, hi]);
      }
      const pick = windows[randomInt(windows.length)];
      if (!pick) throw new LabError('LAB_SETUP_FAILED', `no free port window on ${router}`);
      r.portRange = pick;
    }
    await this.loadNat(r);
    await this.exec(router, ['conntrack', '-F'], { check: false });
    return { portRange: r.portRange };
  }

  /**
   * Changes a router's profile in place (e.g. 'udp-blocked' → 'eim': the network lets UDP out
   * again): its nft table is reloaded, conntrack is kept, so flows under way (a TCP connection
   * through it) and their mappings go on. The self-check's classification is not run again.
   */
  async setProfile(router: RouterName, profile: RouterProfile): Promise<void> {
    this.assertUp();
    const r = this.routers.get(router);
    if (!r) throw new RangeError(`"router" expected one of ${this.routerNames().join(', ')}, got ${router}`);
    if (!NAT_PROFILES.includes(profile) || profile === ('cgnat' as NatProfile))
      throw new RangeError(`"profile" expected a router profile, got ${String(profile)}`);
    r.profile = profile;
    await this.loadNat(r);
  }

  /** Flushes a router's conntrack table (keeps its rules and port allocation). */
  async flushConntrack(router: RouterName): Promise<void> {
    this.assertUp();
    if (!this.routers.has(router))
      throw new RangeError(`"router" expected one of ${this.routerNames().join(', ')}, got ${router}`);
    await this.exec(router, ['conntrack', '-F'], { check: false });
  }

  /**
   * Measures every host's NAT behaviour (RFC 5780-style: mapping via two reflector addresses,
   * filtering via replies from another port and from an uncontacted address) and compares it
   * with the profile. Throws LabError LAB_PROFILE_MISMATCH (with the report in `details`).
   * The reflector runs in rdv only during the check (ports 3478/3479 on .200/.201/.202, and on
   * 2001:db8:0:100::200/201/202 when the lab has IPv6). Hosts with IPv6 are checked against their
   * side's IPv6 profile too (programs/probe6.mjs): untranslated address, unsolicited inbound
   * dropped, replies pass, filtering, and a pinhole opened by outbound traffic.
   */
  async selfCheck(opts: { timeoutMs?: number; flush?: boolean } = {}): Promise<SelfCheckReport> {
    this.assertUp();
    const t0 = Date.now();
    const timeoutMs = opts.timeoutMs ?? 8000;
    const refl = this.spawnNode('rdv', `${PROGRAMS}reflector.mjs`, [
      ADDR.rdv,
      ADDR.rdvAlt,
      ADDR.rdvFilter,
      String(REFLECTOR_PORTS.primary),
      String(REFLECTOR_PORTS.alt),
      ...(this.hasIpv6 ? [ADDR6.rdv, ADDR6.rdvAlt, ADDR6.rdvFilter] : []),
    ]);
    let checks: HostCheck[];
    let checks6: Host6Check[];
    let sides: SideCheck[];
    try {
      await refl.next((m) => m.t === 'ready', 5000);
      const v6 = Promise.all(
        this.hosts()
          .filter((h) => this.sideOf(h).v6 !== null)
          .map((host) => this.check6(host, timeoutMs)),
      );
      checks = await Promise.all(
        this.hosts()
          .filter((h) => this.sideOf(h).ipv4)
          .map(async (host): Promise<HostCheck> => {
            const localPort = 20_000 + randomInt(40_000);
            const p = this.spawnNode(host, `${PROGRAMS}probe.mjs`, [
              ADDR.rdv,
              ADDR.rdvAlt,
              String(REFLECTOR_PORTS.primary),
              String(localPort),
              String(timeoutMs),
            ]);
            // the probe's UDP phases end by timeoutMs, then TCP takes at most 12 s (probe-lib's TCP_OBSERVE_MS)
            const out = (await p.next((m) => m.t === 'probe', timeoutMs + 16_000)) as unknown as ProbeOutput;
            await p.kill(500);
            const measured = classify(out);
            const expected = expectedBehaviour(
              this.chain(host),
              host.startsWith('hostA') ? ADDR.publicA : ADDR.publicB,
            );
            const problems = compare(expected, measured);
            return out.tcp === null && out.tcpLog !== undefined && out.tcpLog.length > 0
              ? { host, expected, measured, problems, tcpLog: out.tcpLog }
              : { host, expected, measured, problems };
          }),
      );
      checks6 = await v6;
      sides = await Promise.all([this.A, this.B].map((s) => this.checkSide(s)));
    } finally {
      await refl.kill(1000);
    }
    if (opts.flush !== false && hasTool('conntrack')) {
      await Promise.all(this.routerNames().map((r) => this.exec(r, ['conntrack', '-F'], { check: false })));
    }
    const report: SelfCheckReport = {
      ok:
        checks.every((c) => c.problems.length === 0) &&
        checks6.every((c) => c.problems.length === 0) &&
        sides.every((c) => c.problems.length === 0),
      hosts: checks,
      ipv6: checks6,
      sides,
      ms: Date.now() - t0,
    };
    if (!report.ok) {
      const text = [
        ...checks
          .filter((c) => c.problems.length)
          .map(
            (c) =>
              `${c.host} (${this.sideOf(c.host).profile}): ${c.problems.join('; ')}` +
              (c.tcpLog !== undefined && c.problems.some((p) => p.startsWith('tcp'))
                ? ` [TCP attempts: ${c.tcpLog.join(', ')}]`
                : ''),
          ),
        ...checks6
          .filter((c) => c.problems.length)
          .map((c) => `${c.host} (ipv6 ${c.profile}): ${c.problems.join('; ')}`),
        ...sides.filter((c) => c.problems.length).map((c) => `side ${c.side}: ${c.problems.join('; ')}`),
      ].join(' | ');
      throw new LabError('LAB_PROFILE_MISMATCH', `lab ${this.prefix} self-check failed: ${text}`, {
        cause: report,
      });
    }
    return report;
  }

  /** One host's IPv6 check against its side's IPv6 profile (reflector must be running). */
  private async check6(host: HostName, timeoutMs: number): Promise<Host6Check> {
    const profile = this.sideOf(host).v6;
    if (profile === null) throw new LabError('LAB_SETUP_FAILED', `${host} has no IPv6`);
    // Two local ports: the probe's own and the next one (never sends: the unsolicited target).
    const localPort = 20_000 + randomInt(40_000);
    const p = this.spawnNode(host, `${PROGRAMS}probe6.mjs`, [
      ADDR6.rdv,
      ADDR6.rdvAlt,
      ADDR6.rdvFilter,
      String(REFLECTOR_PORTS.primary),
      String(REFLECTOR_PORTS.alt),
      String(localPort),
      String(timeoutMs),
    ]);
    const out = (await p.next((m) => m.t === 'probe6', timeoutMs + 16_000)) as unknown as Probe6Output;
    await p.kill(500);
    const measured = classify6(out, ADDR6[host]);
    const expected = expectedBehaviour6(profile, ADDR6[host]);
    return { host, profile, expected, measured, problems: compare6(expected, measured) };
  }

  /**
   * Side-level checks, run while the probes' conntrack entries still exist: a stacked side's
   * carrier NAT must have seen the home router's flows (two NATs crossed), and with a second
   * host the home router must hairpin exactly when configured to.
   */
  private async checkSide(s: SidePlan): Promise<SideCheck> {
    const problems: string[] = [];
    let natsCrossed: number | null = null;
    if (s.cgn && s.ipv4 && hasTool('conntrack') && s.home !== 'udp-blocked' && s.cgn !== 'udp-blocked') {
      const cgn: RouterName = s.side === 'A' ? 'cgnA' : 'cgnB';
      const from = s.side === 'A' ? ADDR.natAWanBehindCgn : ADDR.natBWanBehindCgn;
      const ct = await this.exec(cgn, ['conntrack', '-L', '-p', 'udp', '-s', from], { check: false });
      natsCrossed = ct.stdout.split('\n').some((l) => l.includes(`src=${from}`)) ? 2 : 1;
      if (natsCrossed !== 2) problems.push(`carrier NAT ${cgn} saw no flow from the home router ${from}`);
    }
    let hairpin: { expected: boolean; measured: boolean } | null = null;
    const [h1, h2] = s.hosts;
    if (h1 && h2 && !s.cgn && s.home !== 'udp-blocked' && s.ipv4) {
      const port = 20_000 + randomInt(40_000);
      const pub = s.side === 'A' ? ADDR.publicA : ADDR.publicB;
      const echo = this.spawnNode(h1, `${PROGRAMS}udp-tool.mjs`, ['echo', '0.0.0.0', String(port)]);
      const cli = this.spawnNode(h2, `${PROGRAMS}udp-tool.mjs`, ['client']);
      try {
        await echo.next((m) => m.t === 'ready', 5000);
        await cli.next((m) => m.t === 'ready', 5000);
        // Open h1's public mapping (to the discard port: nothing answers, nothing loops).
        echo.send({ t: 'sendto', ip: ADDR.rdv, port: 9, data: 'open' });
        await echo.next((m) => m.t === 'sent', 5000);
        let measured = false;
        for (let i = 0; i < 3 && !measured; i++) {
          cli.send({ t: 'udp', ip: pub, port, data: 'hairpin', waitMs: 400 });
          const r = await cli.next((m) => m.t === 'udp', 5000);
          measured = r.reply === 'hairpin';
        }
        hairpin = { expected: s.hairpin, measured };
        if (measured !== s.hairpin) {
          problems.push(`hairpin: expected ${s.hairpin ? 'on' : 'off'}, measured ${measured ? 'on' : 'off'}`);
        }
      } finally {
        await Promise.all([echo.kill(500), cli.kill(500)]);
      }
    }
    return { side: s.side, profile: s.profile, natsCrossed, hairpin, problems };
  }

  private sideOf(host: HostName): SidePlan {
    return host.startsWith('hostA') ? this.A : this.B;
  }

  private chain(host: HostName): { profile: RouterProfile; portRange: boolean }[] {
    const s = this.sideOf(host);
    const names: RouterName[] = s.side === 'A' ? ['natA', 'cgnA'] : ['natB', 'cgnB'];
    const out: { profile: RouterProfile; portRange: boolean }[] = [];
    for (const n of names) {
      const r = this.routers.get(n);
      if (r) out.push({ profile: r.profile, portRange: r.portRange !== undefined });
    }
    return out;
  }

  /**
   * Starts coturn (Debian `turnserver`) in rdv, default 203.0.113.200:3480; `rfc5780: true` makes
   * it a one-server RFC 5780 fixture (checked before it returns); see {@link startCoturn}.
   */
  startCoturn(opts: CoturnOptions = {}): Promise<Coturn> {
    this.assertUp();
    return startCoturn(this, opts);
  }

  /**
   * Starts Debian's miniupnpd (UPnP-IGD v2, NAT-PMP, PCP) in the home router of `side`, mapping on
   * {@link UPNP_EXTERNAL_IP}; see {@link startMiniupnpd}.
   */
  startMiniupnpd(side: Side, opts: MiniupnpdOptions = {}): Promise<Miniupnpd> {
    this.assertUp();
    return startMiniupnpd(this, side, opts);
  }

  /** Tears the lab down: stops its processes, kills whatever else runs in its namespaces, deletes them. */
  async down(): Promise<void> {
    if (this.upPromise) await this.upPromise.catch(() => {});
    await Promise.all([...this.procs].map((p) => p.kill(500)));
    this.downSync();
  }

  /** Synchronous teardown (exit handlers); safe to call twice. */
  downSync(): void {
    for (const p of this.procs) p.killNow();
    this.procs.clear();
    this.delayers.clear();
    if (this.owned) {
      const existing = listNamespaces();
      for (const n of this.nodes()) if (existing.includes(this.ns(n))) deleteNamespaceSync(this.ns(n));
      removeState(this.prefix);
      prefixesUp.delete(this.prefix);
      this.owned = false;
    }
    unregisterLive(this);
    this.state = 'down';
    this.upPromise = undefined;
  }
}

/** Prefixes of labs up (or starting) in this process. */
const prefixesUp = new Set<string>();

/** A default prefix (`nl` + 4 hex digits) that no lab on this machine uses. */
function freePrefix(): string {
  const taken = new Set([...readStates().map((s) => s.prefix), ...prefixesUp]);
  for (const ns of listNamespaces()) taken.add(ns.split('-')[0] ?? '');
  for (let i = 0; i < 100; i++) {
    const p = `nl${randomBytes(2).toString('hex')}`;
    if (!taken.has(p)) return p;
  }
  throw new LabError('LAB_SETUP_FAILED', 'no free lab prefix');
}

/** Creates a lab (not yet up): `const lab = await createLab(opts).up()`. */
export function createLab(opts: LabOptions = {}): Lab {
  return new Lab(opts);
}

const toolCache = new Map<string, boolean>();
export function hasTool(name: string): boolean {
  let v = toolCache.get(name);
  if (v === undefined) {
    v = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'].some((d) =>
      existsSync(`${d}/${name}`),
    );
    toolCache.set(name, v);
  }
  return v;
}

/** Names of all network namespaces on the machine. */
export function listNamespaces(): string[] {
  const r = runSync(['ip', 'netns', 'list']);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

/** Kills every process in a namespace (they keep it alive, pitfall 3), then deletes it. */
export function deleteNamespaceSync(ns: string): void {
  for (let i = 0; i < 3; i++) {
    const pids = runSync(['ip', 'netns', 'pids', ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  runSync(['ip', 'netns', 'del', ns]);
}

const NODE_SUFFIX = /^([a-z0-9]{1,8})-(inet|rdv|natA|natB|cgnA|cgnB|hostA|hostA2|hostB|hostB2|natC|hostC)$/;

/** Removes one lab's namespaces by prefix (CLI `down --prefix`). Returns the names deleted. */
export function downPrefix(prefix: string): string[] {
  const gone: string[] = [];
  for (const ns of listNamespaces()) {
    const m = NODE_SUFFIX.exec(ns);
    if (m && m[1] === prefix) {
      deleteNamespaceSync(ns);
      gone.push(ns);
    }
  }
  removeState(prefix);
  return gone;
}

/**
 * Removes leftovers of labs whose owner process is gone: labs with a state file naming a dead
 * pid (unless kept on purpose with `keepOnExit`), and namespaces with the default prefix shape
 * (`nl` + 4 hex digits) that have no state file at all.
 */
export function cleanStale(): string[] {
  // Namespaces first, states second: a lab writes its state before creating namespaces, so
  // every namespace listed here has its state visible below (no race with a lab starting now).
  const namespaces = listNamespaces();
  const states = readStates();
  const gone: string[] = [];
  const known = new Set(states.map((s) => s.prefix));
  for (const s of states) if (!s.keep && !pidAlive(s.pid)) gone.push(...downPrefix(s.prefix));
  for (const ns of namespaces) {
    const m = NODE_SUFFIX.exec(ns);
    if (m?.[1] && /^nl[0-9a-f]{4}$/.test(m[1]) && !known.has(m[1])) gone.push(...downPrefix(m[1]));
  }
  return gone;
}
