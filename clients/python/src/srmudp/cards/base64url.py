"""RFC 4648 §5 base64url without padding, strict: a character outside the alphabet, a length of
4k+1, or non-zero leftover bits (a non-canonical encoding) is refused, so every value has exactly
one text form (as ``@srmudp/rendezvous`` ``bytes.ts``; trailing ``=`` is tolerated there too).
Linear in the input."""

from __future__ import annotations

import base64
import re

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALID = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes | None:
    t = text.rstrip("=")
    if len(t) % 4 == 1 or not _VALID.fullmatch(t):
        return None
    # the bits of the last character that fall outside the last byte must be zero
    unused = {0: 0, 2: 0x0F, 3: 0x03}[len(t) % 4]
    if t and _ALPHABET.index(t[-1]) & unused:
        return None
    return base64.urlsafe_b64decode(t + "=" * (-len(t) % 4))
