// Shared vitest settings: workspace packages resolve to their TypeScript sources through the
// "source" export condition, so tests never need a build of their dependencies.
import { defineProject, type UserWorkspaceConfig } from 'vitest/config';

export function project(name: string, test: NonNullable<UserWorkspaceConfig['test']> = {}) {
  return defineProject({
    resolve: { conditions: ['source', 'module', 'node', 'development|production'] },
    ssr: { resolve: { conditions: ['source', 'module', 'node', 'development|production'] } },
    test: { name, include: ['test/**/*.test.ts'], testTimeout: 20_000, ...test },
  });
}
