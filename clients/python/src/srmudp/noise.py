"""The Noise Protocol Framework (revision 34) for the ``25519_ChaChaPoly_{BLAKE2s,SHA256}``
suites: CipherState, SymmetricState, HandshakeState for the patterns srmudp uses (IK, XX) and NN
(tested against the cacophony vectors). Primitives come from ``cryptography`` (X25519,
ChaCha20-Poly1305) and ``hashlib``/``hmac``; nothing cryptographic is implemented here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Callable, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HASHLEN = 32
DHLEN = 32
MAX_NONCE = 2**64 - 1

HashName = Literal["BLAKE2s", "SHA256"]

# message patterns (rev 34 §7): (pre-messages initiator, pre-messages responder, messages)
PATTERNS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    "NN": ((), (), (("e",), ("e", "ee"))),
    "IK": ((), ("s",), (("e", "es", "s", "ss"), ("e", "ee", "se"))),
    "XX": ((), (), (("e",), ("e", "ee", "s", "es"), ("s", "se"))),
}


def _hash_fn(name: HashName) -> Callable[[bytes], bytes]:
    if name == "BLAKE2s":
        return lambda data: hashlib.blake2s(data).digest()
    return lambda data: hashlib.sha256(data).digest()


def _hmac(name: HashName, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.blake2s if name == "BLAKE2s" else hashlib.sha256).digest()


def hkdf(name: HashName, chaining_key: bytes, ikm: bytes, outputs: int) -> list[bytes]:
    """HKDF as Noise defines it (rev 34 §4.3), two or three 32-byte outputs."""
    temp = _hmac(name, chaining_key, ikm)
    out1 = _hmac(name, temp, b"\x01")
    out2 = _hmac(name, temp, out1 + b"\x02")
    if outputs == 2:
        return [out1, out2]
    return [out1, out2, _hmac(name, temp, out2 + b"\x03")]


def noise_nonce(counter: int) -> bytes:
    """ChaChaPoly nonce (rev 34 §12.3): 32 zero bits then the 64-bit counter little-endian."""
    return b"\x00\x00\x00\x00" + counter.to_bytes(8, "little")


def x25519_public(private: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class DhError(Exception):
    """X25519 with a low-order point (an all-zero shared secret)."""


def x25519(private: bytes, public: bytes) -> bytes:
    """X25519 shared secret; DhError on an all-zero result (RFC 7748 §6.1)."""
    try:
        out = X25519PrivateKey.from_private_bytes(private).exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError as e:  # OpenSSL refuses an all-zero result
        raise DhError(str(e)) from None
    if out == bytes(32):
        raise DhError("all-zero shared secret")
    return out


class CipherState:
    """Noise CipherState (rev 34 §5.1) for ChaChaPoly."""

    __slots__ = ("k", "n", "_aead")

    def __init__(self, key: bytes | None = None) -> None:
        self.k: bytes | None = None
        self.n = 0
        self._aead: ChaCha20Poly1305 | None = None
        self.initialize_key(key)

    def initialize_key(self, key: bytes | None) -> None:
        self.k = key
        self._aead = ChaCha20Poly1305(key) if key is not None else None
        self.n = 0

    def has_key(self) -> bool:
        return self.k is not None

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes) -> bytes:
        if self._aead is None:
            return bytes(plaintext)
        if self.n >= MAX_NONCE:
            raise ValueError("nonce exhausted")
        out = self._aead.encrypt(noise_nonce(self.n), bytes(plaintext), bytes(ad))
        self.n += 1
        return out

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes | None:
        """None when authentication fails; the nonce then does not advance (§5.1)."""
        if self._aead is None:
            return bytes(ciphertext)
        if self.n >= MAX_NONCE or len(ciphertext) < 16:
            return None
        try:
            out = self._aead.decrypt(noise_nonce(self.n), bytes(ciphertext), bytes(ad))
        except InvalidTag:
            return None
        self.n += 1
        return out

    def clone(self) -> CipherState:
        c = CipherState(self.k)
        c.n = self.n
        return c


class SymmetricState:
    """Noise SymmetricState (rev 34 §5.2)."""

    def __init__(self, hash_name: HashName, protocol_name: str) -> None:
        self.hash_name: HashName = hash_name
        self._hash = _hash_fn(hash_name)
        name = protocol_name.encode()
        self.h = name.ljust(HASHLEN, b"\x00") if len(name) <= HASHLEN else self._hash(name)
        self.ck = self.h
        self.cipher = CipherState()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, temp = hkdf(self.hash_name, self.ck, ikm, 2)
        self.cipher.initialize_key(temp)  # HASHLEN 32 = the ChaChaPoly key length

    def mix_hash(self, data: bytes) -> None:
        self.h = self._hash(self.h + bytes(data))

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        c = self.cipher.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(c)
        return c

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes | None:
        p = self.cipher.decrypt_with_ad(self.h, ciphertext)
        if p is not None:
            self.mix_hash(ciphertext)
        return p

    def split(self) -> tuple[bytes, bytes]:
        k1, k2 = hkdf(self.hash_name, self.ck, b"", 2)
        return k1, k2

    def clone(self) -> SymmetricState:
        c = SymmetricState.__new__(SymmetricState)
        c.hash_name = self.hash_name
        c._hash = self._hash
        c.h = self.h
        c.ck = self.ck
        c.cipher = self.cipher.clone()
        return c


class KeyPair:
    __slots__ = ("private", "public")

    def __init__(self, private: bytes, public: bytes | None = None) -> None:
        self.private = private
        self.public = public if public is not None else x25519_public(private)


class HandshakeState:
    """Noise HandshakeState (rev 34 §5.3). ``write_message``/``read_message`` follow the pattern;
    ``read_message`` returns None (and poisons the state) when a message does not authenticate
    or a DH hits a low-order point. ``split()`` gives ``(send, recv, handshake_hash)``."""

    def __init__(
        self,
        pattern: str,
        initiator: bool,
        *,
        hash_name: HashName = "BLAKE2s",
        prologue: bytes = b"",
        s: KeyPair | None = None,
        e: KeyPair | None = None,
        rs: bytes | None = None,
        re: bytes | None = None,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if pattern not in PATTERNS:
            raise ValueError(f"unsupported Noise pattern {pattern!r}")
        pre_i, pre_r, messages = PATTERNS[pattern]
        self.pattern = pattern
        self.initiator = initiator
        self.ss = SymmetricState(hash_name, f"Noise_{pattern}_25519_ChaChaPoly_{hash_name}")
        self.ss.mix_hash(prologue)
        self.s, self.e, self.rs, self.re = s, e, rs, re
        self._random = random
        if pre_i or pre_r not in ((), ("s",)):
            raise ValueError(f"pre-messages of {pattern} are not supported")
        if pre_r:
            key = rs if initiator else (s.public if s else None)
            if key is None:
                raise ValueError(f"pattern {pattern} needs the responder's static key")
            self.ss.mix_hash(key)
        self._messages = messages
        self._index = 0
        self.failed = False

    def is_complete(self) -> bool:
        return self._index >= len(self._messages)

    def remote_static(self) -> bytes | None:
        return self.rs

    def handshake_hash(self) -> bytes:
        return self.ss.h

    def _my_turn(self) -> bool:
        return (self._index % 2 == 0) == self.initiator

    def _dh(self, token: str) -> bytes:
        i = self.initiator
        if token == "ee":
            a, b = self.e, self.re
        elif token == "ss":
            a, b = self.s, self.rs
        elif token == "es":
            a, b = (self.e, self.rs) if i else (self.s, self.re)
        else:  # se
            a, b = (self.s, self.re) if i else (self.e, self.rs)
        if a is None or b is None:
            raise DhError(f"missing key for {token}")
        return x25519(a.private, b)

    def write_message(self, payload: bytes) -> bytes:
        if self.failed or self.is_complete() or not self._my_turn():
            raise ValueError("write_message out of turn")
        out = bytearray()
        for token in self._messages[self._index]:
            if token == "e":
                if self.e is None:
                    self.e = KeyPair(self._random(32))
                out += self.e.public
                self.ss.mix_hash(self.e.public)
            elif token == "s":
                if self.s is None:
                    raise ValueError("no static key to send")
                out += self.ss.encrypt_and_hash(self.s.public)
            else:
                self.ss.mix_key(self._dh(token))
        out += self.ss.encrypt_and_hash(payload)
        self._index += 1
        return bytes(out)

    def read_message(self, message: bytes) -> bytes | None:
        if self.failed or self.is_complete() or self._my_turn():
            return None
        m = bytes(message)
        pos = 0
        try:
            for token in self._messages[self._index]:
                if token == "e":
                    if len(m) - pos < DHLEN:
                        return self._fail()
                    self.re = m[pos : pos + DHLEN]
                    pos += DHLEN
                    self.ss.mix_hash(self.re)
                elif token == "s":
                    n = DHLEN + (16 if self.ss.cipher.has_key() else 0)
                    if len(m) - pos < n:
                        return self._fail()
                    rs = self.ss.decrypt_and_hash(m[pos : pos + n])
                    if rs is None:
                        return self._fail()
                    self.rs = rs
                    pos += n
                else:
                    self.ss.mix_key(self._dh(token))
        except DhError:
            return self._fail()
        payload = self.ss.decrypt_and_hash(m[pos:])
        if payload is None:
            return self._fail()
        self._index += 1
        return payload

    def _fail(self) -> bytes | None:
        """Poisons the state (a failed message cannot be retried on it); returns None."""
        self.failed = True
        return None

    def split(self) -> tuple[CipherState, CipherState, bytes]:
        """(send, recv, handshake hash) for this side."""
        if not self.is_complete() or self.failed:
            raise ValueError("handshake not complete")
        k1, k2 = self.ss.split()
        c1, c2 = CipherState(k1), CipherState(k2)
        h = self.ss.h
        return (c1, c2, h) if self.initiator else (c2, c1, h)

    def clone(self) -> HandshakeState:
        c = HandshakeState.__new__(HandshakeState)
        c.__dict__.update(self.__dict__)
        c.ss = self.ss.clone()
        return c
