// Identity in the browser: a fresh Ed25519 seed from crypto.getRandomValues, kept in IndexedDB,
// exported and imported in the key-file format of @srmudp/crypto-node (one JSON line).
import { generateIdentity, type Identity, identityFromSecret, peerIdToString } from '@srmudp/crypto';
import { SrmudpError } from '@srmudp/wire';

/** Cryptographically secure random bytes from WebCrypto (getRandomValues takes ≤ 65,536 a call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65_536)
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65_536)));
  return out;
}

export const KEY_FILE_FORMAT = 'srmudp-identity';
export const KEY_FILE_VERSION = 1;

const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const fromHex = (s: string) => {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
};

/** The Node key-file text of an identity (`srmudp keygen` / crypto-node's saveIdentity read it). */
export function exportKeyFile(identity: Identity): string {
  return `${JSON.stringify({ format: KEY_FILE_FORMAT, version: KEY_FILE_VERSION, peerId: peerIdToString(identity.publicKey), secret: toHex(identity.secret) })}\n`;
}

/** Parses key-file text (same checks as crypto-node): SrmudpError 'KEYFILE_FORMAT' saying why. */
export function importKeyFile(text: string): Identity {
  const bad = (why: string) => new SrmudpError('KEYFILE_FORMAT', `not an srmudp key file: ${why}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('invalid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('expected a JSON object');
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'format,peerId,secret,version')
    throw bad(`expected fields format, version, peerId, secret; got ${keys}`);
  if (o.format !== KEY_FILE_FORMAT) throw bad(`"format" must be "${KEY_FILE_FORMAT}"`);
  if (o.version !== KEY_FILE_VERSION) throw bad(`unsupported version ${JSON.stringify(o.version)}`);
  if (typeof o.secret !== 'string' || !/^[0-9a-f]{64}$/.test(o.secret))
    throw bad('"secret" must be 64 lower-case hex digits');
  const identity = identityFromSecret(fromHex(o.secret));
  if (o.peerId !== peerIdToString(identity.publicKey))
    throw bad('"peerId" does not match the secret (corrupted file?)');
  return identity;
}

const DB = 'srmudp';
const STORE = 'identity';

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') {
      reject(new SrmudpError('NO_INDEXEDDB', 'no IndexedDB in this context: pass an identity to createNode'));
      return;
    }
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () =>
      reject(new SrmudpError('IDENTITY_STORE', `IndexedDB: ${req.error?.message ?? 'open failed'}`));
  });
}

function tx<T>(
  db: IDBDatabase,
  mode: IDBTransactionMode,
  run: (s: IDBObjectStore) => IDBRequest<T>,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const req = run(t.objectStore(STORE));
    t.oncomplete = () => resolve(req.result);
    t.onerror = t.onabort = () =>
      reject(new SrmudpError('IDENTITY_STORE', `IndexedDB: ${t.error?.message ?? 'transaction failed'}`));
  });
}

/**
 * The identity stored under `name` in this origin's IndexedDB, created (and stored) on first use.
 * The 32-byte seed is stored as raw bytes: Noise and Ed25519 run in @noble/curves, synchronously,
 * so the key cannot be a non-extractable WebCrypto CryptoKey (see the README's security notes).
 */
export async function loadOrCreateIdentity(name = 'default'): Promise<Identity> {
  const db = await openDb();
  try {
    const stored = await tx<unknown>(db, 'readonly', (s) => s.get(name));
    if (stored instanceof Uint8Array && stored.length === 32) return identityFromSecret(stored);
    if (stored !== undefined)
      throw new SrmudpError('IDENTITY_STORE', `IndexedDB entry "${name}" is not a 32-byte seed`);
    const identity = generateIdentity(randomBytes);
    // add (not put): two tabs racing to create it keep the first one's key
    try {
      await tx(db, 'readwrite', (s) => s.add(identity.secret.slice(), name));
      return identity;
    } catch {
      const again = await tx<unknown>(db, 'readonly', (s) => s.get(name));
      if (again instanceof Uint8Array && again.length === 32) return identityFromSecret(again);
      throw new SrmudpError('IDENTITY_STORE', `cannot store identity "${name}" in IndexedDB`);
    }
  } finally {
    db.close();
  }
}

/** Replaces (or sets) the stored identity `name`, e.g. with one imported from a key file. */
export async function storeIdentity(identity: Identity, name = 'default'): Promise<void> {
  const db = await openDb();
  try {
    await tx(db, 'readwrite', (s) => s.put(identity.secret.slice(), name));
  } finally {
    db.close();
  }
}

/** Deletes the stored identity `name` (the next loadOrCreateIdentity makes a new one). */
export async function forgetIdentity(name = 'default'): Promise<void> {
  const db = await openDb();
  try {
    await tx(db, 'readwrite', (s) => s.delete(name));
  } finally {
    db.close();
  }
}
