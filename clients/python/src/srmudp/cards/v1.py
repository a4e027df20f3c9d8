"""Contact card text format version 1 (today's format of ``@srmudp/rendezvous`` ``card.ts``)::

    "srmudp1:" + base64url( utf8(JSON payload) || checksum[4] )
    checksum = BLAKE2s-256("srmudp/card/v1" || 0x00 || utf8(JSON payload))[0:4]
    payload  = {"peer": "<peer id text>", "locators": [{"backend": "...", ...}],
                "record"?: "<base64url signed record>", "name"?: "<label>"}

Whitespace anywhere in the text is ignored. The checksum catches copy-paste damage; it is not a
signature (the embedded record is signed, and the handshake authenticates the peer id).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ..identity import parse_peer_id
from ..errors import SrmudpError
from .base64url import b64url_decode, b64url_encode
from .record import RendezvousError, decode_record, verify_record
from .types import ContactCard

VERSION = 1
_DOMAIN = b"srmudp/card/v1\x00"
_BACKEND = re.compile(r"[a-z0-9][a-z0-9-]*")


def _invalid(msg: str) -> RendezvousError:
    return RendezvousError("INVALID_CARD", f"invalid contact card: {msg}")


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2s(_DOMAIN + payload).digest()[:4]


def _js_length(s: str) -> int:
    """String length as JavaScript (and zod's max()) counts it: UTF-16 code units."""
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def _check_locator(loc: Any, where: str) -> dict[str, str | int | float | bool]:
    if not isinstance(loc, dict):
        raise _invalid(f"field {where}: expected an object")
    backend = loc.get("backend")
    if not isinstance(backend, str) or not 1 <= _js_length(backend) <= 32 or not _BACKEND.fullmatch(backend):
        raise _invalid(f"field {where}.backend: backend name must be lower-case letters, digits and dashes")
    for k, v in loc.items():
        if isinstance(v, str):
            if _js_length(v) > 1024:
                raise _invalid(f"field {where}.{k}: string longer than 1024")
        elif not isinstance(v, (int, float)):  # bool is an int
            raise _invalid(f"field {where}.{k}: expected a string, number or boolean")
    return dict(loc)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(body: str) -> ContactCard:
    """Parses the part after ``srmudp1:``. RendezvousError('INVALID_CARD') says what is wrong."""
    raw = b64url_decode(body)
    if raw is None:
        raise _invalid("body is not base64url (damaged while copying?)")
    if len(raw) < 5:
        raise _invalid("body too short (truncated?)")
    payload, check = raw[:-4], raw[-4:]
    if _checksum(payload) != check:
        raise _invalid("checksum mismatch (card damaged or truncated while copying)")
    try:
        value = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise _invalid("payload is not valid JSON") from None
    if not isinstance(value, dict):
        raise _invalid("field card: expected an object")
    extra = set(value) - {"peer", "locators", "record", "name"}
    if extra:
        raise _invalid(f"field card: unrecognized key(s) {sorted(extra)}")
    peer = value.get("peer")
    if not isinstance(peer, str) or not 1 <= _js_length(peer) <= 64:
        raise _invalid("field peer: expected a string of 1 to 64 characters")
    locs = value.get("locators")
    if not isinstance(locs, list) or len(locs) > 16:
        raise _invalid("field locators: expected an array of at most 16 locators")
    locators = tuple(_check_locator(loc, f"locators[{i}]") for i, loc in enumerate(locs))
    name = value.get("name")
    if name is not None and (not isinstance(name, str) or _js_length(name) > 64):
        raise _invalid("field name: expected a string of at most 64 characters")
    try:
        peer_id = parse_peer_id(peer)
    except SrmudpError as e:
        raise _invalid(f"field peer: {e}") from None
    record = None
    if "record" in value:
        rec_text = value["record"]
        if not isinstance(rec_text, str) or _js_length(rec_text) > 1400:
            raise _invalid("field record: expected a string of at most 1400 characters")
        rec = b64url_decode(rec_text)
        if rec is None:
            raise _invalid("field record: not base64url")
        try:
            # signature and peer id now; expiry is the business of whoever dials (cards live long)
            verify_record(rec, expected_peer_id=peer_id, now_ms=0, clock_skew_ms=2**53 - 1)
        except RendezvousError as e:
            raise _invalid(f"field record: {e} ({e.code})") from None
        record = rec
    return ContactCard(peer_id, locators, record, name)


def encode(card: ContactCard) -> str:
    from ..identity import peer_id_to_string

    payload: dict[str, Any] = {
        "peer": peer_id_to_string(card.peer_id),
        "locators": [_check_locator(loc, f"locators[{i}]") for i, loc in enumerate(card.locators)],
    }
    if len(card.locators) > 16:
        raise ValueError('"locators" holds at most 16 entries')
    if card.record is not None:
        record, _, _ = decode_record(card.record)
        if record.peer_id != card.peer_id:
            raise ValueError('"record" belongs to another peer id')
        payload["record"] = b64url_encode(card.record)
    if card.name is not None:
        if _js_length(card.name) > 64:
            raise ValueError('"name" holds at most 64 characters')
        payload["name"] = card.name
    js = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    return f"srmudp{VERSION}:" + b64url_encode(js + _checksum(js))
