// The relay's configuration: one zod schema, filled from (lowest first) defaults, a JSON file,
// environment variables (SRMUDP_RELAY_*) and command-line flags. Every problem is reported at
// once, each with where the value came from.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parsePeerId } from '@srmudp/crypto';
import { z } from 'zod';
import { RelayServerError } from './errors.js';

const peerIdText = z.string().refine(
  (s) => {
    try {
      parsePeerId(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a peer id (the text form `srmudp id` prints)' },
);
const port = z.number().int().min(0).max(65_535);
const positiveInt = z.number().int().positive();

/** Defaults are documented in the README's tables; keep them in sync. */
export const relayConfigSchema = z
  .object({
    /** HTTP(S) + WebSocket listener */
    host: z.string().min(1).default('0.0.0.0'),
    port: port.default(8080),
    /** UDP hop sessions; null disables UDP (WebSocket only) */
    udpHost: z.string().min(1).default('0.0.0.0'),
    udpPort: port.nullable().default(7000),
    /** WebSocket path */
    path: z.string().startsWith('/').default('/relay'),
    /** identity key file, created on first start (mode 0600) */
    keyFile: z.string().min(1).default('relay.key'),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    /** believe X-Forwarded-For (only behind your own reverse proxy) */
    trustProxy: z.boolean().default(false),
    admission: z.enum(['open', 'allow-list', 'group', 'token']).default('open'),
    /** peer ids for allow-list and group (the roster); token: keys also admitted over UDP */
    allow: z.array(peerIdText).default([]),
    /** group id (hex, up to 32 bytes): vouchers naming another group are refused */
    group: z
      .string()
      .regex(/^([0-9a-f]{2}){1,32}$/i, 'hex, 1 to 32 bytes')
      .optional(),
    /** bearer tokens (admission 'token'): `Authorization: Bearer` or `?token=` */
    tokens: z.array(z.string().min(16, 'at least 16 characters')).default([]),
    /** UDP addresses put in the card ("host:port"); default: this machine's interfaces */
    announce: z
      .array(z.string().regex(/^(\[[0-9a-f:.]+\]|[0-9.]+):\d{1,5}$/i, '"ip:port" or "[ipv6]:port"'))
      .default([]),
    /** the URL clients use, printed with the card (default from host, port and TLS) */
    publicUrl: z
      .string()
      .regex(/^wss?:\/\//, 'a ws:// or wss:// URL')
      .optional(),
    /** a folder of static files served at / (the web chat's dist/web: `--web`) */
    web: z.string().min(1).optional(),
    limits: z
      .object({
        rateBytesPerSec: positiveInt.default(1 << 20),
        burstBytes: positiveInt.default(256 * 1024),
        maxCircuitsPerClient: positiveInt.default(8),
        maxMessageSize: z
          .number()
          .int()
          .min(1300)
          .max(1 << 20)
          .default(65_536),
        sendQueuePackets: positiveInt.default(256),
        sendQueueBytes: positiveInt.default(1 << 20),
        maxClients: positiveInt.default(10_000),
        maxCircuits: positiveInt.default(20_000),
        newConnectionsPerIpPerSec: z.number().positive().default(10),
        newConnectionsBurst: positiveInt.default(20),
        maxConnectionsPerIp: positiveInt.default(1_024),
        maxWsConnections: positiveInt.default(10_000),
        /** core: responder handshakes awaiting completion, and the cookie threshold (per second) */
        maxPendingHandshakes: positiveInt.default(1_024),
        cookieThreshold: z.number().int().min(0).default(64),
      })
      .prefault({}),
    /** graceful shutdown: how long STATUS restarting may take to reach clients */
    drainMs: z.number().int().min(0).max(60_000).default(1_000),
    /** the reconnect hint in STATUS restarting (ms) */
    reconnectInMs: z.number().int().min(0).max(3_600_000).default(1_000),
    logLevel: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.tlsCert === undefined) !== (c.tlsKey === undefined))
      ctx.addIssue({ code: 'custom', path: ['tlsCert'], message: 'tlsCert and tlsKey go together' });
    if ((c.admission === 'allow-list' || c.admission === 'group') && c.allow.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['allow'],
        message: `admission '${c.admission}' needs at least one peer id`,
      });
    if (c.admission === 'token' && c.tokens.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['tokens'],
        message: "admission 'token' needs at least one token",
      });
  });

export type RelayConfigInput = z.input<typeof relayConfigSchema>;
export type RelayConfig = z.output<typeof relayConfigSchema>;

/** Validates a config object; throws RelayServerError CONFIG_INVALID listing every problem. */
export function parseRelayConfig(input: unknown, source = 'config'): RelayConfig {
  const r = relayConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new RelayServerError('CONFIG_INVALID', `invalid relay ${source}:\n${lines.join('\n')}`);
}

// ---- flags and environment ------------------------------------------------------------------

type Kind = 'string' | 'int' | 'number' | 'bool' | 'list' | 'int-or-off';
/** flag name → [config path, kind]. Environment: SRMUDP_RELAY_ + the flag in UPPER_SNAKE. */
const FIELDS: Record<string, [string, Kind]> = {
  host: ['host', 'string'],
  port: ['port', 'int'],
  'udp-host': ['udpHost', 'string'],
  'udp-port': ['udpPort', 'int-or-off'],
  path: ['path', 'string'],
  'key-file': ['keyFile', 'string'],
  'tls-cert': ['tlsCert', 'string'],
  'tls-key': ['tlsKey', 'string'],
  'trust-proxy': ['trustProxy', 'bool'],
  admission: ['admission', 'string'],
  allow: ['allow', 'list'],
  group: ['group', 'string'],
  token: ['tokens', 'list'],
  announce: ['announce', 'list'],
  'public-url': ['publicUrl', 'string'],
  web: ['web', 'string'],
  rate: ['limits.rateBytesPerSec', 'int'],
  burst: ['limits.burstBytes', 'int'],
  'max-circuits': ['limits.maxCircuitsPerClient', 'int'],
  'max-message-size': ['limits.maxMessageSize', 'int'],
  'queue-packets': ['limits.sendQueuePackets', 'int'],
  'queue-bytes': ['limits.sendQueueBytes', 'int'],
  'max-clients': ['limits.maxClients', 'int'],
  'max-total-circuits': ['limits.maxCircuits', 'int'],
  'new-connections-per-ip': ['limits.newConnectionsPerIpPerSec', 'number'],
  'new-connections-burst': ['limits.newConnectionsBurst', 'int'],
  'max-connections-per-ip': ['limits.maxConnectionsPerIp', 'int'],
  'max-ws-connections': ['limits.maxWsConnections', 'int'],
  'drain-ms': ['drainMs', 'int'],
  'reconnect-in-ms': ['reconnectInMs', 'int'],
  'log-level': ['logLevel', 'string'],
};

export const USAGE = `usage: srmudp-relay [options]     (every option also as SRMUDP_RELAY_<NAME>, e.g. SRMUDP_RELAY_PORT)
  --config <file.json>         config file (same names as the README's table)
  --host 0.0.0.0 --port 8080   HTTP(S) + WebSocket listener (/relay, /healthz, /metrics, /card)
  --udp-host 0.0.0.0 --udp-port 7000|off
  --key-file relay.key         identity, created on first start
  --tls-cert <pem> --tls-key <pem>   serve HTTPS/WSS (or terminate TLS at a reverse proxy: --trust-proxy)
  --admission open|allow-list|group|token   --allow <peer id>[,…]  --group <hex>  --token <secret>[,…]
  --rate <B/s> --burst <B> --max-circuits <n> --max-message-size <B> --max-clients <n>
  --new-connections-per-ip <per s> --max-connections-per-ip <n> --max-ws-connections <n>
  --announce <ip:port>[,…] --public-url <wss://…>  --drain-ms <ms> --log-level info
  --web <folder>               serve a static site at / (the web chat: apps/web-chat/dist/web)`;

function convert(raw: string, kind: Kind, where: string): unknown {
  switch (kind) {
    case 'string':
      return raw;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new RelayServerError(
        'CONFIG_INVALID',
        `invalid relay ${where}: expected true or false, got ${JSON.stringify(raw)}`,
      );
    case 'int-or-off':
      if (/^(off|none|no)$/i.test(raw)) return null;
      return convert(raw, 'int', where);
    default: {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n))
        throw new RelayServerError(
          'CONFIG_INVALID',
          `invalid relay ${where}: expected a number, got ${JSON.stringify(raw)}`,
        );
      return n;
    }
  }
}

function setPath(target: Record<string, unknown>, path: string, value: unknown, append: boolean): void {
  const parts = path.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null) o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  const last = parts.at(-1) as string;
  if (append && Array.isArray(o[last]) && Array.isArray(value))
    o[last] = [...(o[last] as unknown[]), ...value];
  else o[last] = value;
}

const envName = (flag: string) => `SRMUDP_RELAY_${flag.toUpperCase().replace(/-/g, '_')}`;

/**
 * The config from argv, the environment and the file named by `--config` / SRMUDP_RELAY_CONFIG.
 * Returns `{ help: true }` for --help. Throws RelayServerError CONFIG_INVALID / CONFIG_FILE.
 */
export async function loadRelayConfig(
  argv: readonly string[],
  env: Record<string, string | undefined> = process.env,
): Promise<{ help: true } | { help: false; config: RelayConfig }> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {
    config: { type: 'string' },
    help: { type: 'boolean' },
  };
  for (const [flag, [, kind]] of Object.entries(FIELDS))
    options[flag] = kind === 'bool' ? { type: 'boolean' } : { type: 'string', multiple: kind === 'list' };
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new RelayServerError(
      'CONFIG_INVALID',
      `invalid relay flags: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (values.help === true) return { help: true };
  const merged: Record<string, unknown> = {};
  const file = (values.config as string | undefined) ?? env.SRMUDP_RELAY_CONFIG;
  if (file !== undefined) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new RelayServerError(
        'CONFIG_FILE',
        `cannot read relay config file ${file}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('expected a JSON object');
      Object.assign(merged, parsed);
    } catch (e) {
      throw new RelayServerError(
        'CONFIG_FILE',
        `relay config file ${file} is not a JSON object: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
  }
  for (const [flag, [path, kind]] of Object.entries(FIELDS)) {
    const raw = env[envName(flag)];
    if (raw !== undefined) setPath(merged, path, convert(raw, kind, `${envName(flag)}`), false);
  }
  for (const [flag, [path, kind]] of Object.entries(FIELDS)) {
    const v = values[flag];
    if (v === undefined) continue;
    if (kind === 'bool') setPath(merged, path, v, false);
    else if (kind === 'list')
      setPath(
        merged,
        path,
        (v as string[]).flatMap((s) => convert(s, 'list', `--${flag}`) as string[]),
        false,
      );
    else setPath(merged, path, convert(v as string, kind, `--${flag}`), false);
  }
  return {
    help: false,
    config: parseRelayConfig(
      merged,
      file !== undefined ? `config (file ${file}, environment, flags)` : 'config (environment, flags)',
    ),
  };
}
