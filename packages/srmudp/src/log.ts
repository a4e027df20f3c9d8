/**
 * Component loggers in the manner of the `debug` package (STYLE.md): `logger('srmudp:node')` is
 * silent unless the `DEBUG` environment variable names it (`DEBUG=srmudp:*`, `DEBUG=srmudp:node,srmudp:cli`,
 * `-srmudp:cli` excludes). Lines go to stderr as `<ISO time> srmudp:node <message>`. A dozen lines
 * instead of a dependency: we need namespaces, wildcards and exclusions, not colours or `%o`.
 *
 * Callers never pass keys, secrets or payload bytes; peer ids appear as their 12-character prefix.
 */
export interface Logger {
  (message: string): void;
  readonly namespace: string;
  /** whether DEBUG enabled this namespace (cheap check before building an expensive message) */
  readonly enabled: boolean;
}

type Pattern = { re: RegExp; negate: boolean };

let patterns: Pattern[] = parse(typeof process !== 'undefined' ? (process.env.DEBUG ?? '') : '');
let sink: (line: string) => void = (line) => process.stderr.write(`${line}\n`);
const loggers = new Set<WeakRef<MutableLogger>>();

interface MutableLogger extends Logger {
  enabled: boolean;
}

function parse(spec: string): Pattern[] {
  return spec
    .split(/[\s,]+/)
    .filter((s) => s !== '')
    .map((s) => {
      const negate = s.startsWith('-');
      const body = (negate ? s.slice(1) : s).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*');
      return { re: new RegExp(`^${body}$`), negate };
    });
}

function enabledFor(namespace: string): boolean {
  if (patterns.some((p) => p.negate && p.re.test(namespace))) return false;
  return patterns.some((p) => !p.negate && p.re.test(namespace));
}

/** A logger for one component; see the module comment. */
export function logger(namespace: string): Logger {
  const log = ((message: string) => {
    if (log.enabled) sink(`${new Date().toISOString()} ${namespace} ${message}`);
  }) as MutableLogger;
  Object.defineProperty(log, 'namespace', { value: namespace });
  log.enabled = enabledFor(namespace);
  loggers.add(new WeakRef(log));
  return log;
}

/**
 * Re-reads the pattern (as `DEBUG` would give it) and, optionally, where lines go. For tests and
 * for programs that take a `--debug` option; returns the previous sink.
 */
export function configureLogs(spec: string, to?: (line: string) => void): (line: string) => void {
  const previous = sink;
  patterns = parse(spec);
  if (to) sink = to;
  for (const ref of loggers) {
    const l = ref.deref();
    if (l) l.enabled = enabledFor(l.namespace);
    else loggers.delete(ref);
  }
  return previous;
}

/** The first 12 characters of a peer id text: enough to tell peers apart in logs, never a key. */
export const short = (peerId: string): string => peerId.slice(0, 12);
