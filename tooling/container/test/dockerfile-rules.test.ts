import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dockerfileProblems, instructions } from './dockerfile-rules.js';
import { REPO_ROOT } from './podman.js';

/** Every server Dockerfile of the workspace: packages/<name>/Dockerfile and apps/<name>/Dockerfile. */
function dockerfiles(): string[] {
  const out: string[] = [];
  for (const group of ['packages', 'apps']) {
    const dir = join(REPO_ROOT, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const file = join(group, name, 'Dockerfile');
      if (existsSync(join(REPO_ROOT, file))) out.push(file);
    }
  }
  return out;
}

const GOOD = readFileSync(join(REPO_ROOT, 'packages/rendezvous-http/Dockerfile'), 'utf8');

describe('server Dockerfiles follow the pattern', () => {
  it('finds the rendezvous server Dockerfile', () => {
    expect(dockerfiles()).toContain(join('packages', 'rendezvous-http', 'Dockerfile'));
  });

  for (const file of dockerfiles()) {
    it(`${file}: no problems, and a compose.yaml beside it that builds it`, () => {
      expect(dockerfileProblems(readFileSync(join(REPO_ROOT, file), 'utf8'))).toEqual([]);
      const compose = readFileSync(join(REPO_ROOT, file.replace(/Dockerfile$/, 'compose.yaml')), 'utf8');
      expect(compose).toContain(`dockerfile: ${file.split('\\').join('/')}`);
      expect(compose).toMatch(/context: \.\.\/\.\.\n/);
    });
  }

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
      ['multi-stage', (t) => t.slice(t.indexOf('# ---- runtime'))],
      [
        'every stage starts from',
        (t) => t.replace(/FROM \$\{BASE\} AS build/, 'FROM debian:bookworm AS build'),
      ],
      ['deploy --prod', (t) => t.replace('deploy --prod', 'deploy')],
      ['installs nothing', (t) => t.replace('USER srmudp:srmudp', 'RUN npm install ws\nUSER srmudp:srmudp')],
      ['non-root', (t) => t.replace('USER srmudp:srmudp', 'USER root')],
      ['HEALTHCHECK', (t) => t.replace(/HEALTHCHECK [^\n]*\\\n[^\n]*\n/, '')],
      ['EXPOSE', (t) => t.replace('EXPOSE 8080/tcp', '')],
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
