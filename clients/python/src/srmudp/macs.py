"""WireGuard's DoS protection as srmudp uses it (WireGuard paper §5.4.4 and §5.4.7):

- ``mac1 = MAC(HASH("mac1----" || S_receiver), packet[0 : len-32])`` on every handshake packet,
  keyed by the receiver's X25519 static public key (32 zero bytes when the sender does not know
  it, as in a Noise XX dial), so a responder drops junk before any Diffie-Hellman;
- ``mac2 = MAC(cookie, packet[0 : len-16])`` where ``cookie = MAC(R, address)``, R a responder
  secret rotated every 120 s and ``address = utf8(host + "|" + port)`` of the initiator as the
  responder sees it: proof that the initiator receives at its source address;
- cookie reply = XChaCha20-Poly1305(key = HASH("cookie--" || S_responder), random 24-byte nonce,
  cookie, AD = mac1 of the initiation being answered).

MAC is keyed BLAKE2s with a 16-byte digest, HASH is BLAKE2s-256.

XChaCha20-Poly1305 is not in ``cryptography``; it is built from two primitives that are:
HChaCha20 is recovered from one raw ChaCha20 block (a ChaCha20 block is the 20-round state plus
the input state, and HChaCha20 outputs words 0-3 and 12-15 of the 20-round state before that
addition, so subtracting the known input words gives it), then ChaCha20-Poly1305 runs under the
derived subkey with nonce ``0x00000000 || nonce[16:24]`` (draft-irtf-cfrg-xchacha §2.3).
"""

from __future__ import annotations

import hashlib
import hmac as _hmac
import os
import struct
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .wire import MAC_LENGTH

LABEL_MAC1 = b"mac1----"
LABEL_COOKIE = b"cookie--"
COOKIE_SECRET_LIFETIME_MS = 120_000
COOKIE_USE_LIFETIME_MS = 115_000  # an initiator uses a cookie a little less than the secret lives
COOKIE_LENGTH = 16
COOKIE_NONCE_LENGTH = 24
_ZERO_KEY = bytes(32)
_SIGMA = struct.unpack("<4I", b"expand 32-byte k")
_WORDS16 = struct.Struct("<16I")
_WORDS4 = struct.Struct("<4I")


def mac(key: bytes, data: bytes) -> bytes:
    return hashlib.blake2s(data, key=key, digest_size=MAC_LENGTH).digest()


def mac1_key(receiver_static: bytes | None) -> bytes:
    return hashlib.blake2s(LABEL_MAC1 + (receiver_static or _ZERO_KEY)).digest()


def cookie_key(responder_static: bytes | None) -> bytes:
    return hashlib.blake2s(LABEL_COOKIE + (responder_static or _ZERO_KEY)).digest()


def with_mac1(packet: bytes, key: bytes) -> tuple[bytes, bytes]:
    """The packet with mac1 written (mac2 zeroed), and mac1."""
    end = len(packet) - 2 * MAC_LENGTH
    m1 = mac(key, packet[:end])
    return packet[:end] + m1 + bytes(MAC_LENGTH), m1


def with_mac2(packet: bytes, cookie: bytes | None) -> bytes:
    end = len(packet) - MAC_LENGTH
    return packet[:end] + (mac(cookie, packet[:end]) if cookie else bytes(MAC_LENGTH))


def verify_mac1(packet: bytes, key: bytes) -> bool:
    if len(packet) < 2 * MAC_LENGTH:
        return False
    end = len(packet) - 2 * MAC_LENGTH
    return _hmac.compare_digest(mac(key, packet[:end]), packet[end : end + MAC_LENGTH])


def mac1_of(packet: bytes) -> bytes:
    end = len(packet) - 2 * MAC_LENGTH
    return bytes(packet[end : end + MAC_LENGTH])


def address_bytes(host: str, port: int) -> bytes:
    """What a cookie is bound to: ``host|port`` as the responder sees the source address."""
    return f"{host}|{port}".encode()


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    # cryptography's ChaCha20 takes a 16-byte "nonce" = state words 12-15 (counter || nonce),
    # which is exactly HChaCha20's input layout.
    block = Cipher(algorithms.ChaCha20(key, nonce16), mode=None).encryptor().update(bytes(64))
    out = _WORDS16.unpack(block)
    n = _WORDS4.unpack(nonce16)
    words = [(out[i] - _SIGMA[i]) & 0xFFFFFFFF for i in range(4)]
    words += [(out[12 + i] - n[i]) & 0xFFFFFFFF for i in range(4)]
    return struct.pack("<8I", *words)


def xchacha20poly1305_encrypt(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    sub = hchacha20(key, nonce[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\x00\x00\x00\x00" + nonce[16:24], plaintext, ad)


def xchacha20poly1305_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes | None:
    if len(nonce) != 24 or len(ciphertext) < 16:
        return None
    sub = hchacha20(key, nonce[:16])
    try:
        return ChaCha20Poly1305(sub).decrypt(b"\x00\x00\x00\x00" + nonce[16:24], ciphertext, ad)
    except InvalidTag:
        return None


class CookieChecker:
    """Responder side: rotating secret, cookie computation, mac2 check, cookie reply sealing."""

    def __init__(self, random: Callable[[int], bytes] = os.urandom) -> None:
        self._random = random
        self._current: bytes | None = None
        self._previous: bytes | None = None
        self._rotated_at = 0.0

    def _rotate(self, now: float) -> None:
        if self._current is None or now - self._rotated_at >= COOKIE_SECRET_LIFETIME_MS:
            # one previous secret stays valid so a cookie handed out just before a rotation works
            keep = self._current is not None and now - self._rotated_at < 2 * COOKIE_SECRET_LIFETIME_MS
            self._previous = self._current if keep else None
            self._current = self._random(32)
            self._rotated_at = now

    def verify_mac2(self, now: float, packet: bytes, address: bytes) -> bool:
        self._rotate(now)
        end = len(packet) - MAC_LENGTH
        for secret in (self._current, self._previous):
            if secret is not None and _hmac.compare_digest(mac(mac(secret, address), packet[:end]), packet[end:]):
                return True
        return False

    def seal_cookie(self, now: float, address: bytes, key: bytes, init_mac1: bytes) -> tuple[bytes, bytes]:
        self._rotate(now)
        assert self._current is not None
        cookie = mac(self._current, address)
        nonce = self._random(COOKIE_NONCE_LENGTH)
        return nonce, xchacha20poly1305_encrypt(key, nonce, cookie, init_mac1)
