"""Contact card text format version 1 (the JSON card of the first release of ``@srmudp/rendezvous``;
TypeScript still reads it, and writes version 2)::

    "srmudp1:" + base64url( utf8(JSON payload) || checksum[4] )
    checksum = BLAKE2s-256("srmudp/card/v1" || 0x00 || utf8(JSON payload))[0:4]
    payload  = {"peer": "<peer id text>", "locators": [{"backend": "...", ...}],
                "record"?: "<base64url signed record>", "name"?: "<label>"}

Reading applies the limits of the TypeScript reader's schema (zod 4: string lengths in code points,
as Python counts them: peer 1-64, record 1,400, name 256; at most 16 locators) and then the checks every version shares
(fields.py: at most 8 locators in canonical form, the embedded record's signature); a name outside
the name rule is cleaned rather than refused, so saved cards keep working.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..errors import SrmudpError
from ..identity import parse_peer_id, peer_id_to_string
from ..text import decode_utf8
from .base64url import b64url_decode, b64url_encode
from .fields import check_fields, invalid
from .locator import MAX_CARD_LOCATORS, LocatorError, normalize_locator
from .name import name_problem
from .record import decode_record
from .types import ContactCard

VERSION = 1
_DOMAIN = b"srmudp/card/v1\x00"
_KEYS = {"peer", "locators", "record", "name"}


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2s(_DOMAIN + payload).digest()[:4]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _string(value: dict[str, Any], key: str, lo: int, hi: int) -> str | None:
    if key not in value:
        return None
    v = value[key]
    if not isinstance(v, str) or not lo <= len(v) <= hi:
        raise invalid(f"field {key}: expected a string of {lo} to {hi} characters (a version 1 card, \"srmudp1:\")")
    return v


def parse(body: str) -> ContactCard:
    """Parses the part after ``srmudp1:``. RendezvousError('INVALID_CARD') says what is wrong."""
    v1 = '(a version 1 card, "srmudp1:")'
    raw = b64url_decode(body)
    if raw is None:
        raise invalid(f"body is not base64url (damaged while copying?) {v1}")
    if len(raw) < 5:
        raise invalid(f"body too short (truncated?) {v1}")
    payload, check = raw[:-4], raw[-4:]
    if _checksum(payload) != check:
        raise invalid(f"checksum mismatch (card damaged or truncated while copying) {v1}")
    text = decode_utf8(payload)
    try:
        if text is None:
            raise ValueError("not UTF-8")
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise invalid(f"payload is not valid JSON {v1}") from None
    if not isinstance(value, dict):
        raise invalid(f"field card: expected an object {v1}")
    extra = set(value) - _KEYS
    if extra:
        raise invalid(f"field card: unrecognized key(s) {sorted(extra)} {v1}")
    peer = _string(value, "peer", 1, 64)
    if peer is None:
        raise invalid(f"field peer: expected a string {v1}")
    locs = value.get("locators")
    if not isinstance(locs, list) or len(locs) > 16:
        raise invalid(f"field locators: expected an array of at most 16 locators {v1}")
    rec_text = _string(value, "record", 0, 1400)
    name = _string(value, "name", 0, 256)
    record = None
    if rec_text is not None:
        record = b64url_decode(rec_text)
        if record is None:
            raise invalid("field record: not base64url")
    try:
        peer_id = parse_peer_id(peer)
    except SrmudpError as e:
        raise invalid(f"field peer: {e}") from None
    return check_fields(peer_id, locs, record, name, VERSION)


def encode(card: ContactCard) -> str:
    """A version 1 card, for peers of the first release (they read no other version); the same
    checks as version 2 (canonical locators, the name rule, the record's peer id)."""
    payload: dict[str, Any] = {"peer": peer_id_to_string(card.peer_id)}
    if len(card.locators) > MAX_CARD_LOCATORS:
        raise ValueError(f'"locators" holds at most {MAX_CARD_LOCATORS} entries')
    locators = []
    for i, raw in enumerate(card.locators):
        try:
            locators.append(normalize_locator(raw))
        except LocatorError as e:
            raise ValueError(f'"locators[{i}]" is invalid: {e}') from None
    payload["locators"] = locators
    if card.record is not None:
        record, _, _ = decode_record(card.record)
        if record.peer_id != card.peer_id:
            raise ValueError('"record" belongs to another peer id')
        payload["record"] = b64url_encode(card.record)
    if card.name is not None:
        problem = name_problem(card.name)
        if problem is not None:
            raise ValueError(f'"name" is not a valid name: {problem}')
        payload["name"] = card.name
    js = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    return f"srmudp{VERSION}:" + b64url_encode(js + _checksum(js))
