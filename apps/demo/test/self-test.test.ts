import { expect, it } from 'vitest';
import { selfTest } from '../src/self-test.js';

it('reports every package self-test as passing', () => {
  const r = selfTest();
  expect(r.ok).toBe(true);
  expect(r.lines.join('\n')).toContain('peer id round trip ok');
});
