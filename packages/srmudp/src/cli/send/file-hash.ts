import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Feeds bytes [0, length) of a file (the whole file without length) into a SHA-256 and returns it. */
export async function hashFile(path: string, length?: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (length === 0) return hash;
  const rs = createReadStream(path, length === undefined ? {} : { start: 0, end: length - 1 });
  for await (const chunk of rs) hash.update(chunk as Buffer);
  return hash;
}

export async function sha256File(path: string, length?: number): Promise<string> {
  return (await hashFile(path, length)).digest('hex');
}
