"""Signed peer records, binary layout version 1 (``@srmudp/rendezvous`` ``record.ts``), all
integers big-endian::

    off  size  field
      0     1  version = 0x01
      1    32  peer id (Ed25519 public key)
     33     8  seq        u64, strictly increasing per peer (µs since the epoch, see next_sequence)
     41     8  issuedAt   u64, ms since the Unix epoch
     49     8  expiresAt  u64, ms since the Unix epoch, >= issuedAt
     57     1  n = number of candidates
               n x { tag u8 = kind << 4 | (family == 6), kind 0 host, 1 srflx, 2 relay;
                     address 4 or 16 bytes, port u16 (1..65535) }
      .     1  m = number of gates
               m x { peer id 32, family u8 (4 or 6), address 4 or 16, port u16 }
      .    64  Ed25519 signature over "srmudp/rendezvous/record/v1" || 0x00 || bytes[0 .. sig)

At most 999 bytes (a BEP 44 item). Values above 2^53-1 are refused (JS numbers).
"""

from __future__ import annotations

import ipaddress
import struct
import time
from dataclasses import dataclass, field
from typing import Literal

from ..errors import SrmudpError
from ..identity import Identity, verify_signature

RECORD_VERSION = 1
MAX_RECORD_SIZE = 999
SIGNATURE_SIZE = 64
RECORD_SIGNATURE_DOMAIN = b"srmudp/rendezvous/record/v1\x00"
DEFAULT_CLOCK_SKEW_MS = 120_000
_MAX_SAFE = 2**53 - 1
_KINDS = ("host", "srflx", "relay")
_HEAD = struct.Struct(">B32sQQQB")

CandidateKind = Literal["host", "srflx", "relay"]


class RendezvousError(SrmudpError):
    """RECORD_MALFORMED, RECORD_TOO_LARGE, RECORD_FORGED, RECORD_EXPIRED, RECORD_NOT_YET_VALID,
    INVALID_CARD (the codes of ``@srmudp/rendezvous``)."""


@dataclass(frozen=True)
class Candidate:
    kind: CandidateKind
    family: Literal[4, 6]
    host: str
    port: int


@dataclass(frozen=True)
class Gate:
    peer_id: bytes
    family: Literal[4, 6]
    host: str
    port: int


@dataclass(frozen=True)
class PeerRecord:
    peer_id: bytes
    seq: int
    issued_at: int
    expires_at: int
    candidates: tuple[Candidate, ...]
    gates: tuple[Gate, ...] = field(default=())


def format_ip(b: bytes) -> str:
    """IPv4 dotted quad, or IPv6 as RFC 5952 text (lower case, the first longest run of two or
    more zero groups compressed, no embedded IPv4 form): the same text as the TypeScript side."""
    if len(b) == 4:
        return ".".join(str(x) for x in b)
    if len(b) != 16:
        raise TypeError("address must be 4 or 16 bytes")
    groups = [int.from_bytes(b[i : i + 2], "big") for i in range(0, 16, 2)]
    best, best_len, i = -1, 1, 0
    while i < 8:
        if groups[i] != 0:
            i += 1
            continue
        j = i
        while j < 8 and groups[j] == 0:
            j += 1
        if j - i > best_len:
            best, best_len = i, j - i
        i = j
    def hx(g: list[int]) -> str:
        return ":".join(f"{x:x}" for x in g)

    if best < 0:
        return hx(groups)
    return f"{hx(groups[:best])}::{hx(groups[best + best_len:])}"


def _address_bytes(family: int, host: str) -> bytes:
    try:
        if family == 4:
            return ipaddress.IPv4Address(host).packed
        if family == 6 and "%" not in host:
            return ipaddress.IPv6Address(host).packed
    except ValueError:
        pass
    raise ValueError(f"not an IPv{family} literal: {host!r}")


def encode_record_body(r: PeerRecord) -> bytes:
    if len(r.peer_id) != 32:
        raise TypeError('"peer_id" expected 32 bytes')
    for name in ("seq", "issued_at", "expires_at"):
        v = getattr(r, name)
        if type(v) is not int or not 0 <= v <= _MAX_SAFE:
            raise ValueError(f'"{name}" expected an integer in [0, 2^53-1], got {v!r}')
    if r.expires_at < r.issued_at:
        raise ValueError('"expires_at" must not be before "issued_at"')
    if len(r.candidates) > 255 or len(r.gates) > 255:
        raise ValueError("at most 255 candidates and 255 gates")
    out = bytearray(_HEAD.pack(RECORD_VERSION, r.peer_id, r.seq, r.issued_at, r.expires_at, len(r.candidates)))
    for c in r.candidates:
        if c.kind not in _KINDS:
            raise ValueError(f"candidate kind must be host, srflx or relay, got {c.kind!r}")
        if type(c.port) is not int or not 1 <= c.port <= 65535:
            raise ValueError(f"candidate port must be 1..65535, got {c.port!r}")
        out.append((_KINDS.index(c.kind) << 4) | (1 if c.family == 6 else 0))
        out += _address_bytes(c.family, c.host) + c.port.to_bytes(2, "big")
    out.append(len(r.gates))
    for g in r.gates:
        if len(g.peer_id) != 32 or type(g.port) is not int or not 1 <= g.port <= 65535:
            raise ValueError("invalid gate")
        out += g.peer_id + bytes([g.family]) + _address_bytes(g.family, g.host) + g.port.to_bytes(2, "big")
    if len(out) + SIGNATURE_SIZE > MAX_RECORD_SIZE:
        raise RendezvousError("RECORD_TOO_LARGE", f"record encodes to {len(out) + SIGNATURE_SIZE} bytes")
    return bytes(out)


def sign_record(r: PeerRecord, identity: Identity) -> bytes:
    if r.peer_id != identity.public_key:
        raise ValueError("the identity does not own record.peer_id")
    body = encode_record_body(r)
    return body + identity.sign(RECORD_SIGNATURE_DOMAIN + body)


def _malformed(msg: str) -> RendezvousError:
    return RendezvousError("RECORD_MALFORMED", msg)


def decode_record(b: bytes) -> tuple[PeerRecord, bytes, bytes]:
    """``(record, body, signature)`` without verifying. Total: RECORD_TOO_LARGE or
    RECORD_MALFORMED, never another exception."""
    if len(b) > MAX_RECORD_SIZE:
        raise RendezvousError("RECORD_TOO_LARGE", f"record is {len(b)} bytes, more than {MAX_RECORD_SIZE}")
    if len(b) < 1:
        raise _malformed("record is empty")
    if b[0] != RECORD_VERSION:
        raise _malformed(f"unknown record version {b[0]} (this library reads {RECORD_VERSION})")
    if len(b) < 58 + 1 + SIGNATURE_SIZE:
        raise _malformed(f"record truncated: {len(b)} bytes")
    end = len(b) - SIGNATURE_SIZE
    _, peer, seq, issued, expires, n = _HEAD.unpack_from(b, 0)
    for name, v in (("seq", seq), ("issuedAt", issued), ("expiresAt", expires)):
        if v > _MAX_SAFE:
            raise _malformed(f"{name} {v} is above 2^53 - 1")
    if expires < issued:
        raise _malformed("expiresAt is before issuedAt")
    off = 58
    cands: list[Candidate] = []
    for i in range(n):
        if off + 1 > end:
            raise _malformed(f"record truncated inside candidate {i}")
        tag = b[off]
        off += 1
        if tag >> 4 >= len(_KINDS) or tag & 0x0E:
            raise _malformed(f"candidate {i} has an unknown tag 0x{tag:x}")
        fam: Literal[4, 6] = 6 if tag & 1 else 4
        ln = 4 if fam == 4 else 16
        if off + ln + 2 > end:
            raise _malformed(f"record truncated inside candidate {i}")
        host = format_ip(b[off : off + ln])
        port = int.from_bytes(b[off + ln : off + ln + 2], "big")
        off += ln + 2
        if port == 0:
            raise _malformed(f"candidate {i} has port 0")
        cands.append(Candidate(_KINDS[tag >> 4], fam, host, port))  # type: ignore[arg-type]
    if off + 1 > end:
        raise _malformed("record truncated inside gate count")
    m = b[off]
    off += 1
    gates: list[Gate] = []
    for i in range(m):
        if off + 33 > end:
            raise _malformed(f"record truncated inside gate {i}")
        gpeer, gfam = b[off : off + 32], b[off + 32]
        off += 33
        if gfam not in (4, 6):
            raise _malformed(f"gate {i} has an unknown address family {gfam}")
        ln = 4 if gfam == 4 else 16
        if off + ln + 2 > end:
            raise _malformed(f"record truncated inside gate {i}")
        host = format_ip(b[off : off + ln])
        port = int.from_bytes(b[off + ln : off + ln + 2], "big")
        off += ln + 2
        if port == 0:
            raise _malformed(f"gate {i} has port 0")
        gates.append(Gate(gpeer, gfam, host, port))  # type: ignore[arg-type]
    if off != end:
        raise _malformed(f"record has {end - off} unexpected bytes before the signature")
    return PeerRecord(peer, seq, issued, expires, tuple(cands), tuple(gates)), b[:end], b[end:]


def verify_record(
    b: bytes,
    *,
    expected_peer_id: bytes | None = None,
    now_ms: int | None = None,
    clock_skew_ms: int = DEFAULT_CLOCK_SKEW_MS,
) -> PeerRecord:
    """Decodes and checks format, signature, expected peer id, expiry and issue time."""
    record, body, sig = decode_record(b)
    if expected_peer_id is not None and record.peer_id != expected_peer_id:
        raise RendezvousError("RECORD_FORGED", "record is for another peer id than the one expected")
    if not verify_signature(record.peer_id, RECORD_SIGNATURE_DOMAIN + body, sig):
        raise RendezvousError("RECORD_FORGED", "record signature does not verify")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if now > record.expires_at + clock_skew_ms:
        raise RendezvousError("RECORD_EXPIRED", f"record expired at {record.expires_at} ms")
    if record.issued_at > now + clock_skew_ms:
        raise RendezvousError("RECORD_NOT_YET_VALID", f"record issued at {record.issued_at} ms, in the future")
    return record


_last_seq = 0


def next_sequence(now_ms: int | None = None) -> int:
    """Microseconds since the epoch, at least one above the last number this process used: a
    restarted peer publishes a number above everything it published before."""
    global _last_seq
    now = int(time.time() * 1000) if now_ms is None else now_ms
    _last_seq = max(_last_seq + 1, now * 1000)
    return _last_seq


def candidates_to_addresses(cands: tuple[Candidate, ...] | list[Candidate]) -> list[tuple[str, int]]:
    """Host candidates first (same LAN / machine), then reflexive, then relayed."""
    rank = {"host": 0, "srflx": 1, "relay": 2}
    return [(c.host, c.port) for c in sorted(cands, key=lambda c: rank[c.kind])]
