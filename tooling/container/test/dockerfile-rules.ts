// The container pattern of srmudp's Node servers (tooling/container/README.md), as checks on the
// text of a Dockerfile. Run on every Dockerfile in packages/* and apps/* by dockerfile-rules.test.ts.

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions with continuation lines joined; comments and blank lines dropped. */
export function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (pending === '' && (trimmed === '' || trimmed.startsWith('#'))) continue;
    if (pending !== '' && trimmed.startsWith('#')) continue;
    if (trimmed.endsWith('\\')) {
      pending += `${trimmed.slice(0, -1).trimEnd()} `;
      continue;
    }
    const whole = pending + trimmed;
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(whole);
    if (m) out.push({ keyword: (m[1] as string).toUpperCase(), args: (m[2] as string).trim() });
  }
  return out;
}

const isJsonArray = (args: string): boolean => {
  try {
    return Array.isArray(JSON.parse(args));
  } catch {
    return false;
  }
};

/** What the Dockerfile gets wrong against the pattern; empty when it follows it. */
export function dockerfileProblems(text: string): string[] {
  const all = instructions(text);
  const problems: string[] = [];
  const firstFrom = all.findIndex((i) => i.keyword === 'FROM');
  const baseArg = all
    .slice(0, Math.max(firstFrom, 0))
    .find((i) => i.keyword === 'ARG' && /^BASE=/.test(i.args));
  if (baseArg?.args !== 'BASE=node:20-bookworm-slim')
    problems.push(
      '`ARG BASE=node:20-bookworm-slim` before the first FROM (the official image stays the default)',
    );
  const stages: Instruction[][] = [];
  for (const i of all) {
    if (i.keyword === 'FROM') stages.push([]);
    stages[stages.length - 1]?.push(i);
  }
  if (stages.length < 2) problems.push('multi-stage: a build stage and a runtime stage');
  for (const stage of stages) {
    const from = stage[0]?.args ?? '';
    if (
      !/^\$\{?BASE\}?(\s|$)/.test(from) &&
      !stages.some((s) => new RegExp(`\\sAS\\s+${from}$`, 'i').test(s[0]?.args ?? ''))
    )
      problems.push(`FROM ${from}: every stage starts from \${BASE} (or an earlier stage)`);
  }
  const build = stages.slice(0, -1).flat();
  if (!build.some((i) => i.keyword === 'RUN' && /\bpnpm\b.*\bdeploy\b.*--prod\b/.test(i.args)))
    problems.push('the build stage makes a production folder with `pnpm … deploy --prod`');
  const runtime = stages[stages.length - 1] ?? [];
  const last = (keyword: string) => runtime.filter((i) => i.keyword === keyword).at(-1);
  if (runtime.some((i) => i.keyword === 'RUN' && /\b(pnpm|npm|yarn)\b/.test(i.args)))
    problems.push('the runtime stage installs nothing: it copies the deployed folder from the build stage');
  if (!runtime.some((i) => i.keyword === 'COPY' && /--from=/.test(i.args)))
    problems.push('the runtime stage copies the deployed folder with COPY --from=<build stage>');
  const user = last('USER')?.args;
  if (user === undefined || /^(root|0)(:|$)/.test(user))
    problems.push('USER: a non-root user in the runtime stage');
  const health = last('HEALTHCHECK')?.args;
  if (health === undefined || /^NONE$/i.test(health)) problems.push('HEALTHCHECK in the runtime stage');
  if (!last('EXPOSE')) problems.push('EXPOSE the ports');
  if (last('STOPSIGNAL')?.args !== 'SIGTERM')
    problems.push('STOPSIGNAL SIGTERM (the servers shut down on it)');
  const entry = last('ENTRYPOINT')?.args;
  if (entry === undefined || !isJsonArray(entry) || JSON.parse(entry)[0] !== 'node')
    problems.push('ENTRYPOINT ["node", …] in exec form, so node is PID 1 and receives SIGTERM itself');
  const cmd = last('CMD')?.args;
  if (cmd !== undefined && !isJsonArray(cmd)) problems.push('CMD in exec form (a JSON array)');
  if (!runtime.some((i) => i.keyword === 'LABEL' && /org\.opencontainers\.image\.title=/.test(i.args)))
    problems.push('LABEL org.opencontainers.image.title (and description, licenses, version)');
  return problems;
}
