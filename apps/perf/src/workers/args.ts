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

export const PROTOS = ['srmudp', 'hyperswarm', 'udx', 'tcp', 'sealed-udp', 'raw-udp'] as const;
export type Proto = (typeof PROTOS)[number];

export function protoOf(v: string | undefined): Proto {
  if ((PROTOS as readonly (string | undefined)[]).includes(v)) return v as Proto;
  throw new RangeError(`"--proto" expected ${PROTOS.join(', ')}, got ${v}`);
}

/** srmudp's crypto backend: the façade's automatic choice, or one forced for comparison. */
export type CryptoChoice = 'auto' | 'sodium' | 'node' | 'noble';

export function cryptoOf(v: string | undefined): CryptoChoice {
  if (v === undefined) return 'auto';
  if (v === 'auto' || v === 'sodium' || v === 'node' || v === 'noble') return v;
  throw new RangeError(`"--crypto" expected auto, sodium, node or noble, got ${v}`);
}

export type Congestion = 'bbr' | 'cubic' | 'newreno';

export function congestionOf(v: string | undefined): Congestion | undefined {
  if (v === undefined || v === 'default') return undefined;
  if (v === 'bbr' || v === 'cubic' || v === 'newreno') return v;
  throw new RangeError(`"--congestion" expected bbr, cubic, newreno or default, got ${v}`);
}
