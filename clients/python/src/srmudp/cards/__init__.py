"""Contact cards: what users pass around instead of ``IP:PORT``.

One module per text format version (``v1``: today's JSON card). ``parse_card`` reads the prefix
and version and hands the body to that module; ``encode_card`` writes the default version. A new
(e.g. compact) format is added as another module and one line in ``_FORMATS``.
"""

from __future__ import annotations

import re
from types import ModuleType

from . import v1
from .record import (
    Candidate,
    PeerRecord,
    RendezvousError,
    candidates_to_addresses,
    decode_record,
    next_sequence,
    sign_record,
    verify_record,
)
from .types import ContactCard

CARD_PREFIX = "srmudp"
MAX_CARD_LENGTH = 8192
_FORMATS: dict[int, ModuleType] = {1: v1}
DEFAULT_VERSION = 1
# JavaScript's \s (the TypeScript parser strips it): ASCII whitespace, NBSP, the Unicode spaces,
# line/paragraph separators and U+FEFF
_JS_WHITESPACE = re.compile("[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+")
_HEAD = re.compile(r"([a-z0-9]*?)(\d*):(.*)", re.IGNORECASE | re.DOTALL)


def parse_card(text: str) -> ContactCard:
    """Parses a contact card of any known version; RendezvousError('INVALID_CARD') otherwise."""
    if not isinstance(text, str):
        raise RendezvousError("INVALID_CARD", "invalid contact card: expected a string")
    t = _JS_WHITESPACE.sub("", text)
    if not t:
        raise RendezvousError("INVALID_CARD", "invalid contact card: empty")
    if len(t) > MAX_CARD_LENGTH:
        raise RendezvousError("INVALID_CARD", f"invalid contact card: longer than {MAX_CARD_LENGTH} characters")
    m = _HEAD.fullmatch(t)
    if m is None or m.group(1).lower() != CARD_PREFIX:
        raise RendezvousError("INVALID_CARD", f'invalid contact card: must start with "{CARD_PREFIX}{DEFAULT_VERSION}:"')
    if m.group(2) == "":
        raise RendezvousError("INVALID_CARD", f'invalid contact card: missing version after "{CARD_PREFIX}"')
    fmt = _FORMATS.get(int(m.group(2)))
    if fmt is None:
        raise RendezvousError(
            "INVALID_CARD", f"invalid contact card: unknown version {m.group(2)} (this library reads {sorted(_FORMATS)})"
        )
    card: ContactCard = fmt.parse(m.group(3))
    return card


def encode_card(card: ContactCard, version: int = DEFAULT_VERSION) -> str:
    return str(_FORMATS[version].encode(card))


__all__ = [
    "Candidate",
    "ContactCard",
    "PeerRecord",
    "RendezvousError",
    "candidates_to_addresses",
    "decode_record",
    "encode_card",
    "next_sequence",
    "parse_card",
    "sign_record",
    "verify_record",
]
