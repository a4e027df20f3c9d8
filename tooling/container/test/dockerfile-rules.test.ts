import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerfileProblems, instructions, serverStages } from './dockerfile-rules.js';
import { REPO_ROOT } from './podman.js';

const DOCKERFILE = 'tooling/container/Dockerfile';
const GOOD = readFileSync(join(REPO_ROOT, DOCKERFILE), 'utf8');

/** Every packages/<name>/compose.yaml and apps/<name>/compose.yaml of the workspace. */
function composeFiles(): string[] {
  const out: string[] = [];
  for (const group of ['packages', 'apps']) {
    const dir = join(REPO_ROOT, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const file = join(group, name, 'compose.yaml');
      if (existsSync(join(REPO_ROOT, file))) out.push(file);
    }
  }
  return out;
}

describe('the server Dockerfile follows the pattern', () => {
  it('has no problems, and a stage for the rendezvous server and the relay', () => {
    expect(dockerfileProblems(GOOD)).toEqual([]);
    expect(serverStages(GOOD).map((s) => s.name)).toEqual(['relay-server', 'rendezvous-http']);
  });

  for (const { name } of serverStages(GOOD)) {
    it(`${name}: a workspace package, and a compose.yaml beside it that builds its stage`, () => {
      expect(existsSync(join(REPO_ROOT, 'packages', name, 'package.json'))).toBe(true);
      const compose = readFileSync(join(REPO_ROOT, 'packages', name, 'compose.yaml'), 'utf8');
      expect(compose).toContain(`dockerfile: ${DOCKERFILE}`);
      expect(compose).toContain(`SERVER: ${name}\n`);
      expect(compose).toMatch(/context: \.\.\/\.\.\n/);
    });
  }

  it('no compose.yaml builds anything else (every server has its stage here, no Dockerfile of its own)', () => {
    const names = serverStages(GOOD).map((s) => s.name);
    for (const file of composeFiles()) {
      const dir = file.split(/[\\/]/)[1] as string;
      expect(names, file).toContain(dir);
      expect(existsSync(join(REPO_ROOT, file.replace(/compose\.yaml$/, 'Dockerfile'))), file).toBe(false);
    }
  });

  it('the build context leaves out dependencies and build output', () => {
    const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
  });

  it('joins continuation lines and skips comments', () => {
    expect(instructions('# c\nRUN a \\\n  # inner\n  && b\nUSER x\n')).toEqual([
      { keyword: 'RUN', args: 'a && b' },
      { keyword: 'USER', args: 'x' },
    ]);
  });

  it('names each departure from the pattern', () => {
    const cases: [string, (text: string) => string][] = [
      [
        'ARG BASE=node:20-bookworm-slim',
        (t) => t.replace('ARG BASE=node:20-bookworm-slim', 'ARG BASE=node:22'),
      ],
      [
        'multi-stage',
        (t) => t.slice(0, t.indexOf('# ---- runtime')) + t.slice(t.indexOf('# ---- the image')),
      ],
      ['FROM $SERVER', (t) => t.replace(/FROM \$\{SERVER\}\s*$/, '')],
      [
        'every stage starts from',
        (t) => t.replace(/FROM \$\{BASE\} AS build/, 'FROM debian:bookworm AS build'),
      ],
      ['deploy --prod', (t) => t.replace('deploy --prod', 'deploy')],
      ['installs nothing', (t) => t.replace('USER srmudp:srmudp', 'RUN npm install ws\nUSER srmudp:srmudp')],
      ['non-root', (t) => t.replace('USER srmudp:srmudp', 'USER root')],
      ['HEALTHCHECK', (t) => t.replace(/HEALTHCHECK [^\n]*\\\n[^\n]*\n/, '')],
      ['EXPOSE', (t) => t.replace(/EXPOSE [^\n]*\n/, '')],
      ['STOPSIGNAL', (t) => t.replace('STOPSIGNAL SIGTERM', 'STOPSIGNAL SIGINT')],
      [
        'PID 1',
        (t) => t.replace('ENTRYPOINT ["node", "/app/dist/cli.js"]', 'ENTRYPOINT node /app/dist/cli.js'),
      ],
      ['CMD in exec form', (t) => t.replace('CMD ["--host", "0.0.0.0"]', 'CMD --host 0.0.0.0')],
      ['COPY --from', (t) => t.replace('COPY --from=build /out /app', 'COPY . /app')],
      ['LABEL', (t) => t.replace('org.opencontainers.image.title=', 'title=')],
    ];
    expect(dockerfileProblems(GOOD)).toEqual([]);
    for (const [expected, mutate] of cases) {
      const bad = mutate(GOOD);
      expect(bad, expected).not.toBe(GOOD);
      expect(dockerfileProblems(bad).join('\n'), expected).toContain(expected);
    }
  });
});
