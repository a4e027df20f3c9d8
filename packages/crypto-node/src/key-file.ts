import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeKeyFileText, encodeKeyFileText, generateIdentity, type Identity } from '@srmudp/crypto';
import { SrmudpError } from '@srmudp/wire';

/** Key files: the text format of @srmudp/crypto (`encodeKeyFileText`), stored with mode 0600. */
export { KEY_FILE_FORMAT, KEY_FILE_VERSION } from '@srmudp/crypto';

export type KeyFileErrorCode =
  | 'KEYFILE_NOT_FOUND'
  | 'KEYFILE_EXISTS'
  | 'KEYFILE_PERMISSIONS'
  | 'KEYFILE_FORMAT'
  | 'KEYFILE_IO';

export class KeyFileError extends SrmudpError {
  declare readonly code: KeyFileErrorCode;
  readonly path: string;
  constructor(code: KeyFileErrorCode, path: string, message: string, options?: { cause?: unknown }) {
    super(code, `${path}: ${message}`, options);
    this.name = 'KeyFileError';
    this.path = path;
  }
}

/** Cryptographically secure random bytes from node:crypto, in the `random(n)` shape the pure
 * packages take. */
export function randomBytes(n: number): Uint8Array {
  const b = nodeRandomBytes(n);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function encodeKeyFile(identity: Identity): string {
  return encodeKeyFileText(identity);
}

export function decodeKeyFile(text: string, path = '<key file>'): Identity {
  return decodeKeyFileText(
    text,
    (why, cause) =>
      new KeyFileError(
        'KEYFILE_FORMAT',
        path,
        `not an srmudp key file: ${why}`,
        cause === undefined ? undefined : { cause },
      ),
  );
}

/**
 * Writes a new key file with mode 0600. Refuses to replace an existing file
 * (KeyFileError 'KEYFILE_EXISTS') unless `overwrite` is true; an overwrite goes through a
 * temporary file and a rename, so a crash never leaves a half-written key.
 */
export async function saveIdentity(
  path: string,
  identity: Identity,
  opts: { overwrite?: boolean } = {},
): Promise<void> {
  const text = encodeKeyFile(identity);
  const target = opts.overwrite
    ? join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`)
    : path;
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(target, 'wx', 0o600);
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    if (code === 'EEXIST')
      throw new KeyFileError('KEYFILE_EXISTS', path, 'file exists; refusing to overwrite a key', { cause });
    throw new KeyFileError('KEYFILE_IO', path, `cannot create: ${(cause as Error).message}`, { cause });
  }
  try {
    await fh.chmod(0o600); // the umask may have narrowed it further; never wider
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } catch (cause) {
    await fh.close().catch(() => {});
    await unlink(target).catch(() => {});
    throw new KeyFileError('KEYFILE_IO', path, `cannot write: ${(cause as Error).message}`, { cause });
  }
  await fh.close();
  if (target !== path) {
    try {
      await rename(target, path);
    } catch (cause) {
      await unlink(target).catch(() => {});
      throw new KeyFileError('KEYFILE_IO', path, `cannot replace: ${(cause as Error).message}`, { cause });
    }
  }
}

/**
 * Says exactly who else may do what with the key (mode 0444: "group and others can read it"),
 * rather than "too open": a read-only file is safe from writes, not from being read. A key only
 * its owner can read is accepted whether writable (0600) or not (0400).
 */
function permissionProblem(mode: number): string {
  const who = (shift: number, name: string) => {
    const bits = (mode >> shift) & 0o7;
    const can = [bits & 4 ? 'read' : '', bits & 2 ? 'write' : '', bits & 1 ? 'execute' : ''].filter(Boolean);
    return can.length > 0 ? `${name} can ${can.join('/')} it` : '';
  };
  const parts = [who(3, 'its group'), who(0, 'everyone else')].filter(Boolean);
  const octal = (mode & 0o777).toString(8).padStart(4, '0');
  return `mode ${octal}: ${parts.join(' and ')}, but a secret key must be private to its owner; run chmod 600 on it (or chmod 400 to keep it read-only)`;
}

/**
 * Reads a key file. KeyFileError codes: 'KEYFILE_NOT_FOUND'; 'KEYFILE_PERMISSIONS' when group
 * or others have any access (POSIX; like ssh, a readable key is treated as compromised and not
 * used); 'KEYFILE_FORMAT'; 'KEYFILE_IO'.
 */
export async function loadIdentity(path: string): Promise<Identity> {
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    st = await stat(path);
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    if (code === 'ENOENT') throw new KeyFileError('KEYFILE_NOT_FOUND', path, 'no such key file', { cause });
    throw new KeyFileError('KEYFILE_IO', path, `cannot stat: ${(cause as Error).message}`, { cause });
  }
  if (!st.isFile()) throw new KeyFileError('KEYFILE_FORMAT', path, 'not a regular file');
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new KeyFileError('KEYFILE_PERMISSIONS', path, permissionProblem(st.mode));
  }
  if (st.size > 4096) throw new KeyFileError('KEYFILE_FORMAT', path, `file of ${st.size} bytes is too large`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new KeyFileError('KEYFILE_IO', path, `cannot read: ${(cause as Error).message}`, { cause });
  }
  return decodeKeyFile(text, path);
}

/** Loads the key file, or creates it with a fresh identity when it does not exist. Any other
 * problem (permissions, format) is thrown, never papered over by a new key. `onCreate` is called
 * when a new identity was generated (e.g. to print the new peer id). */
export async function loadOrCreateIdentity(
  path: string,
  random: (n: number) => Uint8Array = randomBytes,
  onCreate?: (identity: Identity) => void,
): Promise<Identity> {
  try {
    return await loadIdentity(path);
  } catch (e) {
    if (!(e instanceof KeyFileError) || e.code !== 'KEYFILE_NOT_FOUND') throw e;
  }
  const identity = generateIdentity(random);
  try {
    await saveIdentity(path, identity);
  } catch (e) {
    // Another process created it between our stat and our open: use theirs.
    if (e instanceof KeyFileError && e.code === 'KEYFILE_EXISTS') return loadIdentity(path);
    throw e;
  }
  onCreate?.(identity);
  return identity;
}
