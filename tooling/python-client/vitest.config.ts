import { project } from '../../vitest.shared.ts';

// pytest runs once in beforeAll (about a minute, most of it Python <-> TypeScript transfers).
export default project('python-client', { hookTimeout: 900_000 });
