import { project } from '../../vitest.shared.ts';

export default project('web-chat', { testTimeout: 120_000, hookTimeout: 60_000 });
