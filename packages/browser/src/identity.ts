// Identity in the browser: a fresh Ed25519 seed from crypto.getRandomValues, kept in IndexedDB,
// exported and imported in the key-file format of @srmudp/crypto-node (one JSON line).
import {
  decodeKeyFileText,
  encodeKeyFileText,
  generateIdentity,
  type Identity,
  identityFromSecret,
} from '@srmudp/crypto';
import { SrmudpError } from '@srmudp/wire';

/** Cryptographically secure random bytes from WebCrypto (getRandomValues takes ≤ 65,536 a call). */
export function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65_536)
    crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65_536)));
  return out;
}

export { KEY_FILE_FORMAT, KEY_FILE_VERSION } from '@srmudp/crypto';

/** The Node key-file text of an identity (@srmudp/crypto's format; crypto-node's files hold it). */
export function exportKeyFile(identity: Identity): string {
  return encodeKeyFileText(identity);
}

/** Parses key-file text (same checks as crypto-node): SrmudpError 'KEYFILE_FORMAT' saying why. */
export function importKeyFile(text: string): Identity {
  return decodeKeyFileText(
    text,
    (why) => new SrmudpError('KEYFILE_FORMAT', `not an srmudp key file: ${why}`),
  );
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
