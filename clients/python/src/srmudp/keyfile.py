"""Key files, compatible with ``@srmudp/crypto-node``: one JSON object on one line, UTF-8,
mode 0600::

    {"format":"srmudp-identity","version":1,"peerId":"pk…","secret":"<64 hex digits>"}

``secret`` is the 32-byte Ed25519 seed; ``peerId`` is checked on load so a corrupted file is
caught instead of silently becoming another identity. Unknown extra fields are rejected.
"""

from __future__ import annotations

import json
import os
import re
import stat

from .errors import KeyFileError
from .identity import Identity, peer_id_to_string

KEY_FILE_FORMAT = "srmudp-identity"
KEY_FILE_VERSION = 1
_HEX64 = re.compile(r"[0-9a-f]{64}")


def encode_key_file(identity: Identity) -> str:
    obj = {
        "format": KEY_FILE_FORMAT,
        "version": KEY_FILE_VERSION,
        "peerId": peer_id_to_string(identity.public_key),
        "secret": identity.secret.hex(),
    }
    # the same bytes as JSON.stringify: no spaces, keys in this order
    return json.dumps(obj, separators=(",", ":")) + "\n"


def decode_key_file(text: str, path: str = "<key file>") -> Identity:
    def bad(why: str) -> KeyFileError:
        return KeyFileError("KEYFILE_FORMAT", path, f"not an srmudp key file: {why}")

    try:
        v = json.loads(text)
    except (ValueError, RecursionError):
        raise bad("invalid JSON") from None
    if not isinstance(v, dict):
        raise bad("expected a JSON object")
    keys = ",".join(sorted(v))
    if keys != "format,peerId,secret,version":
        raise bad(f"expected fields format, version, peerId, secret; got {keys}")
    if v["format"] != KEY_FILE_FORMAT:
        raise bad(f'"format" must be "{KEY_FILE_FORMAT}"')
    if type(v["version"]) not in (int, float) or v["version"] != KEY_FILE_VERSION:
        raise bad(f"unsupported version {json.dumps(v['version'])}")
    secret = v["secret"]
    if not isinstance(secret, str) or not _HEX64.fullmatch(secret):
        raise bad('"secret" must be 64 lower-case hex digits')
    identity = Identity.from_secret(bytes.fromhex(secret))
    if v["peerId"] != peer_id_to_string(identity.public_key):
        raise bad('"peerId" does not match the secret (corrupted file?)')
    return identity


def save_identity(path: str | os.PathLike[str], identity: Identity, *, overwrite: bool = False) -> None:
    """Writes a new key file with mode 0600; KEYFILE_EXISTS unless ``overwrite`` (which goes
    through a temporary file and a rename, so a crash never leaves a half-written key)."""
    p = os.fspath(path)
    text = encode_key_file(identity).encode()
    target = os.path.join(os.path.dirname(p) or ".", f".{os.path.basename(p)}.{os.getpid()}.tmp") if overwrite else p
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError("KEYFILE_EXISTS", p, "file exists; refusing to overwrite a key") from None
    except OSError as e:
        raise KeyFileError("KEYFILE_IO", p, f"cannot create: {e}") from None
    try:
        os.fchmod(fd, 0o600)  # the umask may have narrowed it; never wider
        os.write(fd, text)
        os.fsync(fd)
    except OSError as e:
        os.close(fd)
        os.unlink(target)
        raise KeyFileError("KEYFILE_IO", p, f"cannot write: {e}") from None
    os.close(fd)
    if target != p:
        try:
            os.replace(target, p)
        except OSError as e:
            os.unlink(target)
            raise KeyFileError("KEYFILE_IO", p, f"cannot replace: {e}") from None


def load_identity(path: str | os.PathLike[str]) -> Identity:
    """Reads a key file. KEYFILE_NOT_FOUND; KEYFILE_PERMISSIONS when group or others have any
    access (like ssh, a readable key is treated as compromised); KEYFILE_FORMAT; KEYFILE_IO."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise KeyFileError("KEYFILE_NOT_FOUND", p, "no such key file") from None
    except OSError as e:
        raise KeyFileError("KEYFILE_IO", p, f"cannot stat: {e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError("KEYFILE_FORMAT", p, "not a regular file")
    if os.name != "nt" and st.st_mode & 0o077:
        raise KeyFileError(
            "KEYFILE_PERMISSIONS", p, f"permissions {st.st_mode & 0o777:04o} are too open; run chmod 600 on it"
        )
    if st.st_size > 4096:
        raise KeyFileError("KEYFILE_FORMAT", p, f"file of {st.st_size} bytes is too large")
    try:
        with open(p, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise KeyFileError("KEYFILE_IO", p, f"cannot read: {e}") from None
    return decode_key_file(text, p)


def load_or_create_identity(path: str | os.PathLike[str]) -> Identity:
    """Loads the key file, or creates it with a fresh identity when it does not exist. Any other
    problem (permissions, format) is raised, never papered over by a new key."""
    try:
        return load_identity(path)
    except KeyFileError as e:
        if e.code != "KEYFILE_NOT_FOUND":
            raise
    identity = Identity.generate()
    try:
        save_identity(path, identity)
    except KeyFileError as e:
        if e.code == "KEYFILE_EXISTS":  # another process created it meanwhile: use theirs
            return load_identity(path)
        raise
    return identity
