import { expect, it } from 'vitest';
import { runDemo } from '../src/demo.js';

it('runs the four-peer demo end to end (smaller file)', async () => {
  const lines: string[] = [];
  const r = await runDemo({ fileBytes: 4 * 1024 * 1024, out: (l) => lines.push(l), tty: false });
  expect(r.established).toBe(12);
  expect(r.messages).toEqual({ sent: 6, received: 6, misdelivered: 0 });
  expect(r.file.match).toBe(true);
  expect(r.ok).toBe(true);
  expect(lines.join('\n')).toContain('demo OK');
}, 60_000);
