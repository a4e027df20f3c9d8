import { project } from '../../vitest.shared.ts';

// Building a base image from scratch (debootstrap) and a server image takes minutes on a loaded
// 2-core machine: generous hook and test bounds (each podman call has its own timeout too).
export default project('container', { testTimeout: 180_000, hookTimeout: 40 * 60_000 });
