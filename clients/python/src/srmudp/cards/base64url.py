"""RFC 4648 §5 base64url without padding, strict: a character outside the alphabet, a length of
4k+1, or non-zero leftover bits (a non-canonical encoding) is refused, so every value has exactly
one text form (as ``@srmudp/rendezvous`` ``bytes.ts``)."""

from __future__ import annotations

import base64

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes | None:
    t = text.rstrip("=")
    if len(t) % 4 == 1:
        return None
    acc = 0
    for ch in t:
        v = _INDEX.get(ch)
        if v is None:
            return None
        acc = (acc << 6) | v
    leftover = (len(t) * 6) % 8
    if acc & ((1 << leftover) - 1):
        return None
    acc >>= leftover
    return acc.to_bytes(len(t) * 6 // 8, "big")
