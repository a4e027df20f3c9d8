"""Identities and peer ids.

An identity is an Ed25519 key pair (RFC 8032) made from a 32-byte seed; its public key is the
**peer id**. The Noise static key is the X25519 image of the same key (birational map, RFC 7748
§4.1): private = clamp(SHA-512(seed)[0:32]), public = (1 + y) / (1 - y) mod p of the Edwards
point, as libsodium's ``crypto_sign_ed25519_*_to_curve25519``. Text form of a peer id:
``"pk" + base32(key || checksum)`` (RFC 4648 alphabet, lower case, no padding, 58 characters),
``checksum = BLAKE2s-256("srmudp-peer-id-v1" || key)[0:3]``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import SrmudpError
from .noise import x25519_public
from .text import js_trim

PEER_ID_PREFIX = "pk"
PEER_ID_TEXT_LENGTH = 58
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_DOMAIN = b"srmudp-peer-id-v1"

# Curve25519 field and the Edwards curve constant d (RFC 8032 §5.1)
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P


def _checksum(key: bytes) -> bytes:
    return hashlib.blake2s(_DOMAIN + key).digest()[:3]


def _b32encode(data: bytes) -> str:
    bits = int.from_bytes(data, "big")
    n = len(data) * 8
    pad = (5 - n % 5) % 5
    bits <<= pad
    n += pad
    return "".join(_ALPHABET[(bits >> (n - 5 * (i + 1))) & 31] for i in range(n // 5))


def peer_id_to_string(key: bytes) -> str:
    """Text form of a 32-byte Ed25519 public key."""
    if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
        raise TypeError(f'"key" expected 32 bytes, got {len(key) if isinstance(key, (bytes, bytearray)) else key!r}')
    return PEER_ID_PREFIX + _b32encode(bytes(key) + _checksum(bytes(key)))


def parse_peer_id(text: str) -> bytes:
    """Parses a peer id (case-insensitive, surrounding whitespace ignored);
    ``SrmudpError('INVALID_PEER_ID')`` says what is wrong."""
    if not isinstance(text, str):
        raise SrmudpError("INVALID_PEER_ID", "peer id must be a string")
    t = js_trim(text).lower()  # the whitespace JavaScript's trim() removes, as the TypeScript parser
    if not t.startswith(PEER_ID_PREFIX):
        raise SrmudpError("INVALID_PEER_ID", f'peer id must start with "{PEER_ID_PREFIX}"')
    if len(t) != PEER_ID_TEXT_LENGTH:
        raise SrmudpError("INVALID_PEER_ID", f"peer id must be {PEER_ID_TEXT_LENGTH} characters long, got {len(t)}")
    bits = 0
    for ch in t[2:]:
        v = _ALPHABET.find(ch)
        if v < 0:
            raise SrmudpError("INVALID_PEER_ID", "peer id contains a character outside a-z, 2-7")
        bits = (bits << 5) | v
    # 56 characters = 280 bits = exactly 35 bytes
    raw = bits.to_bytes(35, "big")
    key = raw[:32]
    if _checksum(key) != raw[32:]:
        raise SrmudpError("INVALID_PEER_ID", "peer id checksum does not match (typo?)")
    return key


def same_peer(a: bytes, b: bytes) -> bool:
    """Whether two peer ids name the same key holder. A handshake proves that the peer holds the
    secret of its id's X25519 image, which a key and its negation share: their encodings differ
    only in the sign bit (the top bit of the last byte), and whoever holds one holds the other. So
    a peer may present either form of its id; compare ids with this (or key tables by
    :func:`peer_identity_hex`) wherever a comparison decides something, such as a deny-list in an
    accept policy. As the TypeScript ``samePeer``."""
    if not isinstance(a, (bytes, bytearray)) or not isinstance(b, (bytes, bytearray)) or len(a) != 32 or len(b) != 32:
        return False
    return a[:31] == b[:31] and (a[31] ^ b[31]) & 0x7F == 0


def peer_identity_hex(key: bytes) -> str:
    """A text key that is the same for both forms of a peer id (:func:`same_peer`) and differs for
    any two key holders: lower-case hex with the sign bit cleared. As the TypeScript
    ``peerIdentityHex``."""
    if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
        raise TypeError(f'"key" expected 32 bytes, got {len(key) if isinstance(key, (bytes, bytearray)) else key!r}')
    return (bytes(key[:31]) + bytes([key[31] & 0x7F])).hex()


def ed25519_to_x25519_public(key: bytes) -> bytes | None:
    """X25519 image of an Ed25519 public key, or None when the bytes are not a valid point
    encoding (RFC 8032 §5.1.3 decoding: y < p, x recoverable, no x = 0 with the sign bit set) or
    the point has y = 1 (the identity, which has no Montgomery image)."""
    if len(key) != 32:
        return None
    y = int.from_bytes(key, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    y2 = y * y % _P
    u = (y2 - 1) % _P
    v = (_D * y2 + 1) % _P
    x2 = u * pow(v, _P - 2, _P) % _P
    if x2 == 0:
        if sign:
            return None
    elif pow(x2, (_P - 1) // 2, _P) != 1:  # not a square: no point with this y
        return None
    if y == 1:
        return None
    mont = (1 + y) * pow((1 - y) % _P, _P - 2, _P) % _P
    return mont.to_bytes(32, "little")


def peer_id_to_x25519(key: bytes) -> bytes:
    x = ed25519_to_x25519_public(bytes(key))
    if x is None:
        raise SrmudpError("INVALID_PEER_ID", "not a valid Ed25519 public key")
    return x


@dataclass(frozen=True)
class Identity:
    """A node's key pair. ``secret`` is the Ed25519 seed (keep it secret)."""

    secret: bytes = field(repr=False)
    public_key: bytes
    x25519_private: bytes = field(repr=False)
    x25519_public: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> Identity:
        if not isinstance(secret, (bytes, bytearray)) or len(secret) != 32:
            raise TypeError('"secret" expected 32 bytes')
        seed = bytes(secret)
        pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        h = bytearray(hashlib.sha512(seed).digest()[:32])
        h[0] &= 248
        h[31] &= 127
        h[31] |= 64
        xpriv = bytes(h)
        xpub = x25519_public(xpriv)
        return cls(seed, pub, xpriv, xpub)

    @classmethod
    def generate(cls) -> Identity:
        return cls.from_secret(os.urandom(32))

    @property
    def peer_id(self) -> str:
        return peer_id_to_string(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.secret).sign(bytes(message))


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519 verification; False (never an exception) for any malformed input."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(bytes(signature), bytes(message))
        return True
    except (InvalidSignature, ValueError):
        return False
