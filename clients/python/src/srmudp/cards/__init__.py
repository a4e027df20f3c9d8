"""Contact cards: what users pass around instead of ``IP:PORT``.

One module per text format version (``v1``: the JSON card of the first release, ``v2``: the
compact binary card, written by default). ``parse_card`` reads the prefix and version and hands the
body to that module; both versions end in the same field checks (``fields.py``). Parsing is linear
in the input, and input longer than :data:`MAX_CARD_INPUT` characters is refused before any other
work (issue 22).
"""

from __future__ import annotations

import re
from types import ModuleType

from ..text import JS_WHITESPACE, utf16_length
from . import v1, v2
from .fields import invalid
from .locator import MAX_CARD_LOCATORS, Locator, LocatorError, normalize_locator
from .name import MAX_NAME_BYTES, clean_name, name_problem
from .origin import OriginError, http_origin
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
"""Longest card text once whitespace is removed (JavaScript string length: UTF-16 code units)."""
MAX_CARD_INPUT = 2 * MAX_CARD_LENGTH
"""Longest input parse_card looks at, whitespace included: refused before anything else."""
_FORMATS: dict[int, ModuleType] = {1: v1, 2: v2}
DEFAULT_VERSION = 2
_VERSION = re.compile(r"[0-9]{1,10}")


def _split_prefix(t: str) -> tuple[str, str]:
    """``srmudp2:...`` into version and body, in linear time (the TypeScript parser's rules)."""
    colon = t.find(":")
    head = "" if colon < 0 else t[:colon].lower()
    must = f'must start with "{CARD_PREFIX}{DEFAULT_VERSION}:"'
    if colon < 0 or colon > 16 or not head.startswith(CARD_PREFIX):
        raise invalid(must)
    version = head[len(CARD_PREFIX) :]
    if version == "":
        raise invalid(f'missing version after "{CARD_PREFIX}" (expected "{CARD_PREFIX}{DEFAULT_VERSION}:")')
    if not _VERSION.fullmatch(version):
        raise invalid(must)
    return version, t[colon + 1 :]


def parse_card(text: str) -> ContactCard:
    """Parses a contact card of any known version; RendezvousError('INVALID_CARD') says what is
    wrong: length, prefix, version, encoding, checksum, a named field, the peer id, a locator, the
    name, or the embedded record (signature and peer id; its expiry is checked when it is used)."""
    if not isinstance(text, str):
        raise invalid("expected a string")
    if len(text) > MAX_CARD_INPUT or utf16_length(text) > MAX_CARD_INPUT:
        raise invalid(f"longer than {MAX_CARD_INPUT} characters")
    t = JS_WHITESPACE.sub("", text)
    if not t:
        raise invalid("empty")
    if utf16_length(t) > MAX_CARD_LENGTH:
        raise invalid(f"longer than {MAX_CARD_LENGTH} characters")
    version, body = _split_prefix(t)
    fmt = _FORMATS.get(int(version)) if version == str(int(version)) else None
    if fmt is None:
        raise invalid(
            f"unknown version {version} (this library reads versions {', '.join(map(str, _FORMATS))};"
            " upgrade srmudp?)"
        )
    card: ContactCard = fmt.parse(body)
    return card


def encode_card(card: ContactCard, version: int = DEFAULT_VERSION) -> str:
    """The text of a card: version 2 (binary) by default; version 1 for peers of the first
    release. TypeError or ValueError on a malformed peer id, locator, name or record."""
    fmt = _FORMATS.get(version)
    if fmt is None:
        raise ValueError(f'"version" must be one of {sorted(_FORMATS)}')
    return str(fmt.encode(card))


__all__ = [
    "MAX_CARD_INPUT",
    "MAX_CARD_LENGTH",
    "MAX_CARD_LOCATORS",
    "MAX_NAME_BYTES",
    "Candidate",
    "ContactCard",
    "Locator",
    "LocatorError",
    "OriginError",
    "PeerRecord",
    "RendezvousError",
    "candidates_to_addresses",
    "clean_name",
    "decode_record",
    "encode_card",
    "http_origin",
    "name_problem",
    "next_sequence",
    "normalize_locator",
    "parse_card",
    "sign_record",
    "verify_record",
]
