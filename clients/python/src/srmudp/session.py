"""Transport keys of one handshake: ChaCha20-Poly1305 with the packet number as nonce (Noise
layout: 4 zero bytes + 64-bit little-endian counter), the 13-byte data header as associated
data, and an anti-replay window (RFC 6479 semantics, 4064 packets)."""

from __future__ import annotations

from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .noise import noise_nonce
from .wire import DATA_HEADER_LENGTH, MAX_VARINT, data_header

# 128 blocks of 32 bits with one block of slack (RFC 6479 §2), as the TypeScript implementation
REPLAY_WINDOW_SIZE = (128 - 1) * 32
_WINDOW_MASK = (1 << REPLAY_WINDOW_SIZE) - 1

ReplayVerdict = Literal["ok", "duplicate", "too_old"]


class ReplayWindow:
    """Sliding window of received packet numbers; bit i of ``mask`` is packet ``top - i``."""

    __slots__ = ("top", "mask")

    def __init__(self) -> None:
        self.top = -1
        self.mask = 0

    def check(self, pn: int) -> ReplayVerdict:
        """Checks without recording: :meth:`update` only after the packet authenticated."""
        if pn > self.top:
            return "ok"
        d = self.top - pn
        if d >= REPLAY_WINDOW_SIZE:
            return "too_old"
        return "duplicate" if (self.mask >> d) & 1 else "ok"

    def update(self, pn: int) -> bool:
        if pn > self.top:
            shift = pn - self.top
            self.mask = ((self.mask << shift) | 1) & _WINDOW_MASK if shift < REPLAY_WINDOW_SIZE else 1
            self.top = pn
            return True
        d = self.top - pn
        if d >= REPLAY_WINDOW_SIZE or (self.mask >> d) & 1:
            return False
        self.mask |= 1 << d
        return True


class TransportSession:
    """One set of transport keys. Packet numbers come from the reliability layer and strictly
    increase per session, so a nonce is never reused under one key."""

    def __init__(
        self,
        local_index: int,
        remote_index: int,
        key_phase: int,
        send_key: bytes,
        recv_key: bytes,
        created_at: float,
        initiator: bool,
        handshake_hash: bytes,
        confirmed: bool,
    ) -> None:
        self.local_index = local_index
        self.remote_index = remote_index
        self.key_phase = key_phase
        self._send: ChaCha20Poly1305 | None = ChaCha20Poly1305(send_key)
        self._recv: ChaCha20Poly1305 | None = ChaCha20Poly1305(recv_key)
        self.created_at = created_at
        self.initiator = initiator
        self.handshake_hash = handshake_hash
        self.confirmed = confirmed
        self.replay = ReplayWindow()
        self.last_sealed = -1
        self.sealed_count = 0
        self.opened_count = 0
        #: responder: how many times our response went out (an RTT sample only when once)
        self.answers = 1

    @property
    def alive(self) -> bool:
        return self._send is not None

    def seal(self, packet_number: int, plaintext: bytes) -> bytes:
        aead = self._send
        if aead is None:
            raise ValueError("session keys were erased")
        if packet_number <= self.last_sealed or packet_number > MAX_VARINT:
            raise ValueError(f"packet number must be above {self.last_sealed} and at most 2^53-1, got {packet_number}")
        header = data_header(self.key_phase, self.remote_index, packet_number)
        out = header + aead.encrypt(noise_nonce(packet_number), plaintext, header)
        self.last_sealed = packet_number
        self.sealed_count += 1
        return out

    def open(self, datagram: bytes, packet_number: int) -> bytes | ReplayVerdict | None:
        """Plaintext, 'duplicate'/'too_old', or None when authentication fails. The window moves
        only after authentication, so forged packets cannot advance it."""
        aead = self._recv
        if aead is None:
            return None
        verdict = self.replay.check(packet_number)
        if verdict != "ok":
            return verdict
        try:
            plaintext = aead.decrypt(
                noise_nonce(packet_number), datagram[DATA_HEADER_LENGTH:], datagram[:DATA_HEADER_LENGTH]
            )
        except InvalidTag:
            return None
        self.replay.update(packet_number)
        self.opened_count += 1
        self.confirmed = True
        return plaintext

    def destroy(self) -> None:
        """Forgets both keys (Python cannot zero immutable bytes; the AEAD objects are dropped)."""
        self._send = None
        self._recv = None
