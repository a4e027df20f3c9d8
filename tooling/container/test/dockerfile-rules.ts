// The container pattern of srmudp's Node servers (tooling/container/README.md), as checks on the
// text of the one Dockerfile they share (tooling/container/Dockerfile): a build stage, a runtime
// stage, a stage per server on it, and `FROM ${SERVER}` last. Run by dockerfile-rules.test.ts.

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

interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

function stagesOf(all: readonly Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const i of all) {
    if (i.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      stages.push({ from: m?.[1] ?? i.args, name: m?.[2], instructions: [] });
    }
    stages[stages.length - 1]?.instructions.push(i);
  }
  return stages;
}

const fromBase = (from: string) => /^\$\{?BASE\}?$/.test(from);
const fromServer = (from: string) => /^\$\{?SERVER\}?$/.test(from);

/**
 * The stages SERVER can name: each starts from an earlier stage (the shared runtime) and, with
 * its ancestors, is what that server's image holds. Returned with those ancestors' instructions.
 */
export function serverStages(text: string): { name: string; instructions: Instruction[] }[] {
  const stages = stagesOf(instructions(text));
  const byName = new Map(stages.filter((s) => s.name !== undefined).map((s) => [s.name as string, s]));
  const out: { name: string; instructions: Instruction[] }[] = [];
  for (const s of stages) {
    if (s.name === undefined || fromBase(s.from) || fromServer(s.from)) continue;
    const chain: Instruction[][] = [s.instructions];
    let parent = byName.get(s.from);
    for (let depth = 0; parent !== undefined && depth < stages.length; depth++) {
      chain.unshift(parent.instructions);
      parent = fromBase(parent.from) ? undefined : byName.get(parent.from);
    }
    const all = chain.flat();
    if (all.some((i) => i.keyword === 'COPY' && /--from=/.test(i.args)))
      out.push({ name: s.name, instructions: all });
  }
  return out;
}

/** What the shared Dockerfile gets wrong against the pattern; empty when it follows it. */
export function dockerfileProblems(text: string): string[] {
  const all = instructions(text);
  const problems: string[] = [];
  const firstFrom = all.findIndex((i) => i.keyword === 'FROM');
  const globalArgs = all.slice(0, Math.max(firstFrom, 0)).filter((i) => i.keyword === 'ARG');
  if (globalArgs.find((i) => /^BASE=/.test(i.args))?.args !== 'BASE=node:20-bookworm-slim')
    problems.push(
      '`ARG BASE=node:20-bookworm-slim` before the first FROM (the official image stays the default)',
    );
  const stages = stagesOf(all);
  const last = stages[stages.length - 1];
  if (!globalArgs.some((i) => i.args === 'SERVER') || last === undefined || !fromServer(last.from))
    problems.push(
      '`ARG SERVER` (no default) before the first FROM, and the last stage is the one it names (`FROM $SERVER`)',
    );
  for (const stage of stages) {
    const from = stage.from;
    if (
      !fromBase(from) &&
      !(stage === last && fromServer(from)) &&
      !stages.some((s) => s !== stage && s.name !== undefined && s.name.toLowerCase() === from.toLowerCase())
    )
      problems.push(`FROM ${from}: every stage starts from \${BASE} (or an earlier stage)`);
  }
  const servers = serverStages(text);
  if (servers.length === 0)
    problems.push(
      'multi-stage: a build stage, a runtime stage that copies the deployed folder with COPY --from=<build stage>, and a stage per server built on it',
    );
  const build = stages.filter(
    (s) => fromBase(s.from) && !s.instructions.some((i) => i.keyword === 'COPY' && /--from=/.test(i.args)),
  );
  if (
    !build.some((s) =>
      s.instructions.some((i) => i.keyword === 'RUN' && /\bpnpm\b.*\bdeploy\b.*--prod\b/.test(i.args)),
    )
  )
    problems.push('the build stage makes a production folder with `pnpm … deploy --prod`');
  for (const { name, instructions: runtime } of servers) {
    const say = (p: string) => problems.push(`${name}: ${p}`);
    const lastOf = (keyword: string) => runtime.filter((i) => i.keyword === keyword).at(-1);
    if (runtime.some((i) => i.keyword === 'RUN' && /\b(pnpm|npm|yarn)\b/.test(i.args)))
      say('the runtime stage installs nothing: it copies the deployed folder from the build stage');
    const user = lastOf('USER')?.args;
    if (user === undefined || /^(root|0)(:|$)/.test(user)) say('USER: a non-root user in the runtime stage');
    const health = lastOf('HEALTHCHECK')?.args;
    if (health === undefined || /^NONE$/i.test(health)) say('HEALTHCHECK in the runtime stage');
    if (!lastOf('EXPOSE')) say('EXPOSE the ports');
    if (lastOf('STOPSIGNAL')?.args !== 'SIGTERM') say('STOPSIGNAL SIGTERM (the servers shut down on it)');
    const entry = lastOf('ENTRYPOINT')?.args;
    if (entry === undefined || !isJsonArray(entry) || JSON.parse(entry)[0] !== 'node')
      say('ENTRYPOINT ["node", …] in exec form, so node is PID 1 and receives SIGTERM itself');
    const cmd = lastOf('CMD')?.args;
    if (cmd !== undefined && !isJsonArray(cmd)) say('CMD in exec form (a JSON array)');
    if (!runtime.some((i) => i.keyword === 'LABEL' && /org\.opencontainers\.image\.title=/.test(i.args)))
      say('LABEL org.opencontainers.image.title (and description, licenses, version)');
  }
  return problems;
}
