"""Contact card text format version 2 (binary, ``@srmudp/rendezvous`` ``card.ts``; the layout is
in docs/architecture/wire-format.md §12.3)::

    "srmudp2:" + base64url( body || checksum[4] )
    checksum = BLAKE2s-256("srmudp/card/v2" || 0x00 || body)[0:4]
    body     = peer id[32] || flags u8 || locator count u8 (<= 8) || locators
               || (flags & 1: record length u16 || the signed record without its bytes 1..33)
               || (flags & 2: name length u8 || UTF-8 name)

Locators: tag u8, then 0x01 dht (default salt); 0x02 dht with a salt (u8 length, UTF-8); 0x03 http
(u8 length, the origin); 0x04 manual; 0x05 autonomi (u8 slot type 0 none / 1 pointer / 2
scratchpad, u8 length, the address bytes, lower-case hex in the locator); 0x00 any other: u8
length + backend name, u8 parameter count, per parameter u8 length + key, a type byte (0 string,
1 number as JavaScript's shortest decimal text, 2 false, 3 true), for strings and numbers u8
length + UTF-8. Unknown tags, flags, value types or trailing bytes are INVALID_CARD.
"""

from __future__ import annotations

import hashlib
import math
import re

from ..identity import peer_id_to_string
from ..text import decode_utf8, utf8_encode
from .base64url import b64url_decode, b64url_encode
from .fields import check_fields, invalid
from .locator import MAX_CARD_LOCATORS, Locator, LocatorError, js_number, normalize_locator
from .name import name_problem
from .record import MAX_RECORD_SIZE, decode_record
from .types import ContactCard

VERSION = 2
_DOMAIN = b"srmudp/card/v2\x00"
FLAG_RECORD = 0x01
FLAG_NAME = 0x02
TAG_GENERIC, TAG_DHT, TAG_DHT_SALT, TAG_HTTP, TAG_MANUAL, TAG_AUTONOMI = range(6)
AUTONOMI_TYPES = (None, "pointer", "scratchpad")
VALUE_STRING, VALUE_NUMBER, VALUE_FALSE, VALUE_TRUE = range(4)
# the form of every text JavaScript's Number.prototype.toString() writes for a finite number
_JS_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:e[+-][0-9]+)?")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


def _checksum(body: bytes) -> bytes:
    return hashlib.blake2s(_DOMAIN + body).digest()[:4]


def js_number_text(v: int | float) -> str:
    """``String(v)`` for a finite JavaScript number (ECMAScript Number::toString, radix 10): the
    shortest digits that round-trip (Python's repr finds the same), placed as JavaScript does."""
    x = float(v)
    if not math.isfinite(x):
        raise ValueError("not a finite number")
    if x == 0:
        return "0"
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    n = len(whole) + (int(exp) if exp else 0)  # the decimal point sits after n digits
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    s = stripped.rstrip("0")
    k = len(s)
    if k <= n <= 21:
        out = s + "0" * (n - k)
    elif 0 < n <= 21:
        out = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * -n + s
    else:
        e = f"e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
        out = (s if k == 1 else s[0] + "." + s[1:]) + e
    return ("-" if x < 0 else "") + out


def _parse_js_number(text: str) -> int | float | None:
    """The number whose ``String()`` is exactly ``text``, or None."""
    if not _JS_NUMBER.fullmatch(text):
        return None
    x = float(text)
    if not math.isfinite(x) or js_number_text(x) != text:
        return None
    return js_number(x)


# --- writing ------------------------------------------------------------------------------------


def _short(b: bytes) -> bytes:
    """u8 length then the bytes (the caller keeps them under 256: normalize_locator's bounds)."""
    return bytes([len(b)]) + b


def _compact_locator(loc: Locator, keys: list[str]) -> bytes | None:
    """The tag and payload of a well-known locator, or None for the generic form."""
    backend = loc["backend"]
    if backend == "dht" and not keys:
        return bytes([TAG_DHT])
    if backend == "dht" and keys == ["salt"] and isinstance(loc["salt"], str):
        return bytes([TAG_DHT_SALT]) + _short(utf8_encode(loc["salt"]))
    if backend == "http":
        return bytes([TAG_HTTP]) + _short(utf8_encode(str(loc["url"])))
    if backend == "manual" and not keys:
        return bytes([TAG_MANUAL])
    if backend == "autonomi":
        kind = loc.get("type")
        address = loc.get("address")
        if (
            (kind is None or isinstance(kind, str) and kind in AUTONOMI_TYPES)
            and isinstance(address, str)
            and address
            and _HEX.fullmatch(address)
            and address == address.lower()
            and not [k for k in keys if k not in ("type", "address")]
        ):
            return bytes([TAG_AUTONOMI, AUTONOMI_TYPES.index(kind)]) + _short(bytes.fromhex(address))
    return None


def _encode_locator(loc: Locator) -> bytes:
    keys = [k for k in loc if k != "backend"]
    compact = _compact_locator(loc, keys)
    if compact is not None:
        return compact
    out = bytearray([TAG_GENERIC]) + _short(utf8_encode(str(loc["backend"]))) + bytes([len(keys)])
    for k in keys:
        out += _short(utf8_encode(k))
        v = loc[k]
        if isinstance(v, bool):
            out.append(VALUE_TRUE if v else VALUE_FALSE)
        elif isinstance(v, str):
            out += bytes([VALUE_STRING]) + _short(utf8_encode(v))
        else:
            out += bytes([VALUE_NUMBER]) + _short(js_number_text(v).encode("ascii"))
    return bytes(out)


def encode(card: ContactCard) -> str:
    """The version 2 text of a card. TypeError or ValueError on misuse: a peer id that is not 32
    bytes, a malformed locator, more than 8 locators, a name outside the name rule, a record of
    another peer (RendezvousError for a record that does not decode)."""
    peer_id_to_string(card.peer_id)  # TypeError unless 32 bytes
    if isinstance(card.locators, (str, bytes)) or not hasattr(card.locators, "__len__"):
        raise TypeError('"locators" expected a sequence of locators')
    if len(card.locators) > MAX_CARD_LOCATORS:
        raise ValueError(f'"locators" holds at most {MAX_CARD_LOCATORS} entries')
    flags = (FLAG_RECORD if card.record is not None else 0) | (FLAG_NAME if card.name is not None else 0)
    body = bytearray(bytes(card.peer_id)) + bytes([flags, len(card.locators)])
    for i, raw in enumerate(card.locators):
        try:
            body += _encode_locator(normalize_locator(raw))
        except LocatorError as e:
            raise ValueError(f'"locators[{i}]" is invalid: {e}') from None
    if card.record is not None:
        record, _, _ = decode_record(card.record)
        if record.peer_id != card.peer_id:
            raise ValueError('"record" belongs to another peer id')
        # the peer id is already at the start of the card: store the record without it
        stripped = card.record[:1] + card.record[33:]
        body += len(stripped).to_bytes(2, "big") + stripped
    if card.name is not None:
        problem = name_problem(card.name)
        if problem is not None:
            raise ValueError(f'"name" is not a valid name: {problem}')
        body += _short(utf8_encode(card.name))
    return f"srmudp{VERSION}:" + b64url_encode(bytes(body) + _checksum(bytes(body)))


# --- reading ------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, b: bytes) -> None:
        self.b = b
        self.pos = 0

    def u8(self, what: str) -> int:
        if self.pos >= len(self.b):
            raise invalid(f"truncated inside {what}")
        self.pos += 1
        return self.b[self.pos - 1]

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.b):
            raise invalid(f"truncated inside {what}")
        self.pos += n
        return self.b[self.pos - n : self.pos]

    def short(self, what: str) -> bytes:
        return self.take(self.u8(what), what)

    def text(self, what: str) -> str:
        s = decode_utf8(self.short(what))
        if s is None:
            raise invalid(f"{what} is not UTF-8")
        return s


def _decode_locator(r: _Reader, i: int) -> dict[str, object]:
    where = f"locators[{i}]"
    tag = r.u8(where)
    if tag == TAG_DHT:
        return {"backend": "dht"}
    if tag == TAG_DHT_SALT:
        return {"backend": "dht", "salt": r.text(where)}
    if tag == TAG_HTTP:
        return {"backend": "http", "url": r.text(where)}
    if tag == TAG_MANUAL:
        return {"backend": "manual"}
    if tag == TAG_AUTONOMI:
        kind = r.u8(where)
        if kind >= len(AUTONOMI_TYPES):
            raise invalid(f"field {where}: unknown autonomi slot type")
        address = r.short(where).hex()
        if AUTONOMI_TYPES[kind] is None:
            return {"backend": "autonomi", "address": address}
        return {"backend": "autonomi", "type": AUTONOMI_TYPES[kind], "address": address}
    if tag == TAG_GENERIC:
        loc: dict[str, object] = {"backend": r.text(where)}
        for _ in range(r.u8(where)):
            key = r.text(where)
            if key == "backend" or key in loc:
                raise invalid(f"field {where}: duplicate parameter")
            kind = r.u8(where)
            value: object
            if kind in (VALUE_TRUE, VALUE_FALSE):
                value = kind == VALUE_TRUE
            elif kind == VALUE_STRING:
                value = r.text(where)
            elif kind == VALUE_NUMBER:
                value = _parse_js_number(r.text(where))
                if value is None:
                    raise invalid(f"field {where}.{key}: not a number")
            else:
                raise invalid(f"field {where}: unknown value type {kind}")
            if key != "__proto__":  # JavaScript's `loc[key] = value` drops it (the prototype setter)
                loc[key] = value
        return loc
    raise invalid(f"field {where}: unknown locator tag {tag} (a newer srmudp wrote this card?)")


def parse(body: str) -> ContactCard:
    """Parses the part after ``srmudp2:``. RendezvousError('INVALID_CARD') says what is wrong."""
    raw = b64url_decode(body)
    if raw is None:
        raise invalid("body is not base64url (damaged while copying?)")
    if len(raw) < 32 + 2 + 4:
        raise invalid("body too short (truncated?)")
    content = raw[:-4]
    if _checksum(content) != raw[-4:]:
        raise invalid("checksum mismatch (card damaged or truncated while copying)")
    r = _Reader(content)
    peer_id = r.take(32, "peer id")
    flags = r.u8("flags")
    if flags & ~(FLAG_RECORD | FLAG_NAME):
        raise invalid(f"unknown flags 0x{flags:x} (a newer srmudp wrote this card?)")
    count = r.u8("locator count")
    if count > MAX_CARD_LOCATORS:
        raise invalid(f"field locators: more than {MAX_CARD_LOCATORS} locators")
    locators = [_decode_locator(r, i) for i in range(count)]
    record = None
    if flags & FLAG_RECORD:
        n = (r.u8("record length") << 8) | r.u8("record length")
        if n < 1 or n + 32 > MAX_RECORD_SIZE:
            raise invalid(f"field record: length {n} is out of range")
        stripped = r.take(n, "record")
        record = stripped[:1] + peer_id + stripped[1:]
    name = r.text("name") if flags & FLAG_NAME else None
    if r.pos != len(content):
        raise invalid(f"{len(content) - r.pos} unexpected bytes at the end")
    return check_fields(peer_id, locators, record, name, VERSION)
