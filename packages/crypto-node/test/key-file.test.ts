import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateIdentity, peerIdToString } from '@srmudp/crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decodeKeyFile,
  encodeKeyFile,
  KeyFileError,
  loadIdentity,
  loadOrCreateIdentity,
  randomBytes,
  saveIdentity,
} from '../src/index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'srmudp-keyfile-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KeyFileError);
    return (e as KeyFileError).code;
  }
  return 'no error';
}

describe('key files', () => {
  it('saves with mode 0600 and loads the same identity', async () => {
    const id = generateIdentity(randomBytes);
    const path = join(dir, 'id.key');
    await saveIdentity(path, id);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const back = await loadIdentity(path);
    expect(back.publicKey).toEqual(id.publicKey);
    expect(back.secret).toEqual(id.secret);
    const text = await readFile(path, 'utf8');
    expect(JSON.parse(text)).toEqual({
      format: 'srmudp-identity',
      version: 1,
      peerId: peerIdToString(id.publicKey),
      secret: Buffer.from(id.secret).toString('hex'),
    });
  });

  it('never overwrites an existing file unless asked', async () => {
    const path = join(dir, 'id.key');
    const a = generateIdentity(randomBytes);
    const b = generateIdentity(randomBytes);
    await saveIdentity(path, a);
    expect(await code(saveIdentity(path, b))).toBe('KEYFILE_EXISTS');
    expect((await loadIdentity(path)).publicKey).toEqual(a.publicKey);
    await saveIdentity(path, b, { overwrite: true });
    expect((await loadIdentity(path)).publicKey).toEqual(b.publicKey);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it.runIf(process.platform !== 'win32')('refuses a key file readable by group or others', async () => {
    const path = join(dir, 'id.key');
    await saveIdentity(path, generateIdentity(randomBytes));
    for (const mode of [0o640, 0o604, 0o660, 0o644, 0o700]) {
      await chmod(path, mode);
      expect(await code(loadIdentity(path))).toBe(mode === 0o700 ? 'no error' : 'KEYFILE_PERMISSIONS');
    }
  });

  it.runIf(process.platform !== 'win32')(
    'a read-only key (0444) is refused for being readable by others, in those words; 0400 loads (issue 21 item 4)',
    async () => {
      const path = join(dir, 'ro.key');
      const id = generateIdentity(randomBytes);
      await saveIdentity(path, id);
      await chmod(path, 0o444);
      const err = await loadIdentity(path).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err).toMatchObject({ code: 'KEYFILE_PERMISSIONS' });
      expect(err?.message).toBe(
        `${path}: mode 0444: its group can read it and everyone else can read it, but a secret key must be private to its owner; run chmod 600 on it (or chmod 400 to keep it read-only)`,
      );
      expect(err?.message).not.toContain('too open');
      await chmod(path, 0o400);
      expect((await loadIdentity(path)).publicKey).toEqual(id.publicKey);
    },
  );

  it('gives KEYFILE_FORMAT for wrong contents and KEYFILE_NOT_FOUND for a missing file', async () => {
    const id = generateIdentity(randomBytes);
    const good = JSON.parse(encodeKeyFile(id)) as Record<string, unknown>;
    const other = JSON.parse(encodeKeyFile(generateIdentity(randomBytes))) as Record<string, unknown>;
    const bad = [
      'not json',
      '[]',
      '{}',
      JSON.stringify({ ...good, version: 2 }),
      JSON.stringify({ ...good, format: 'x' }),
      JSON.stringify({ ...good, secret: 'zz' }),
      JSON.stringify({ ...good, secret: (good.secret as string).toUpperCase() }),
      JSON.stringify({ ...good, peerId: other.peerId }),
      JSON.stringify({ ...good, extra: 1 }),
      '',
    ];
    for (const [i, text] of bad.entries()) {
      const path = join(dir, `bad${i}.key`);
      await writeFile(path, text, { mode: 0o600 });
      expect(await code(loadIdentity(path))).toBe('KEYFILE_FORMAT');
    }
    expect(await code(loadIdentity(join(dir, 'missing.key')))).toBe('KEYFILE_NOT_FOUND');
    expect(decodeKeyFile(encodeKeyFile(id)).publicKey).toEqual(id.publicKey);
  });

  it('loadOrCreateIdentity creates once, then loads; it never replaces a bad file', async () => {
    const path = join(dir, 'id.key');
    const created: unknown[] = [];
    const first = await loadOrCreateIdentity(path, randomBytes, (id) => created.push(id));
    expect(created).toEqual([first]);
    const second = await loadOrCreateIdentity(path, randomBytes, (id) => created.push(id));
    expect(created).toHaveLength(1);
    expect(second.publicKey).toEqual(first.publicKey);
    await writeFile(path, 'garbage', { mode: 0o600 });
    expect(await code(loadOrCreateIdentity(path))).toBe('KEYFILE_FORMAT');
    expect(await readFile(path, 'utf8')).toBe('garbage');
  });
});
