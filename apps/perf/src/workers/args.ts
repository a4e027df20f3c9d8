/** `--key value` pairs and bare flags of a worker's argv (workers are internal: no validation library). */
export function parseArgs(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[a.slice(2)] = 'true';
    else {
      out[a.slice(2)] = next;
      i++;
    }
  }
  return out;
}

export type Proto = 'srmudp' | 'udx' | 'tcp' | 'sealed-udp' | 'raw-udp';

export function protoOf(v: string | undefined): Proto {
  if (v === 'srmudp' || v === 'udx' || v === 'tcp' || v === 'sealed-udp' || v === 'raw-udp') return v;
  throw new RangeError(`"--proto" expected srmudp, udx, tcp, sealed-udp or raw-udp, got ${v}`);
}

export type Congestion = 'bbr' | 'cubic' | 'newreno';

export function congestionOf(v: string | undefined): Congestion | undefined {
  if (v === undefined || v === 'default') return undefined;
  if (v === 'bbr' || v === 'cubic' || v === 'newreno') return v;
  throw new RangeError(`"--congestion" expected bbr, cubic, newreno or default, got ${v}`);
}
