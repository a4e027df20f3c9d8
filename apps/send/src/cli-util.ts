import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Parses argv; a usage error prints one line plus the usage text and exits 2. */
export function parseCli<T extends NonNullable<ParseArgsConfig['options']>>(
  prog: string,
  usage: string,
  options: T,
  argv = process.argv.slice(2),
): ReturnType<typeof parseArgs<{ options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    fail(prog, `${e instanceof Error ? e.message : String(e)}\n${usage}`, 2);
  }
}

export function intOption(prog: string, name: string, v: string | undefined, min: number, max: number) {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    fail(prog, `--${name} expects an integer in ${min}..${max}, got "${v}"`, 2);
  return n;
}

/** One line on stderr, no stack, and the exit code. */
export function fail(prog: string, message: string, code: number): never {
  process.stderr.write(`${prog}: ${message}\n`);
  process.exit(code);
}
