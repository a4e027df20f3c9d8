"""The origin of an http(s) URL, as ``new URL(url).origin`` computes it in JavaScript (the WHATWG
URL Standard, https://url.spec.whatwg.org/), for ``@srmudp/rendezvous`` ``httpOrigin``.

An HTTP locator in a card is reduced to its origin, so a card can only point a resolver at
``<origin>/v1/records/<peer id>``, never at a path or query of the card author's choice (issue 22,
item 8). Both implementations must agree on which text is a valid origin and what it reduces to,
so this follows the standard's basic URL parser for the two special schemes it accepts, as far as
the origin depends on it:

- leading and trailing C0 controls and spaces are removed, tabs and newlines anywhere;
- the scheme is case-insensitive; any run of ``/`` and ``\\`` may follow it;
- the authority ends at the first ``/``, ``\\``, ``?`` or ``#``; credentials are what precedes
  its last ``@`` (an empty user name and password is no credential);
- the port is decimal digits (leading zeros allowed, at most 65535); the scheme's default port
  (80, 443) and an empty port are dropped;
- the host is an IPv6 address in brackets (§3.5, embedded IPv4 allowed, printed compressed), or
  a domain: percent-decoded, ASCII upper case mapped to lower case, no forbidden domain code
  point (§3.2), and a domain that ends in a number is an IPv4 address (§3.5: 1 to 4 parts,
  decimal, octal with a leading 0 or hexadecimal with 0x, the last part filling the rest),
  printed dotted-decimal.

Departure: a host with a character outside ASCII after percent-decoding needs UTS #46 (IDNA
mapping and its Unicode tables), which Python's standard library does not carry: it is refused
here (TypeScript maps it to its ``xn--`` form). Labels already in ``xn--`` form, which is what
TypeScript writes, are accepted when they decode as RFC 3492 Punycode to a label in NFC that does
not start with a mark and holds no control, format, separator, private-use or case-mapped code
point: an approximation of UTS #46's validity criteria that errs on the side of accepting (no
Bidi or ContextJ rule; Node.js 20's own URL parser applies the Bidi rule only in part). A card
TypeScript accepts is accepted here; a few hostile labels TypeScript refuses are accepted here,
which is harmless: this client never fetches an HTTP locator.
"""

from __future__ import annotations

import re
import unicodedata

from ..text import utf8_encode
from .record import format_ip

MAX_URL_BYTES = 1024
MAX_ORIGIN_LENGTH = 255
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_AUTHORITY_END = re.compile(r"[/\\?#]")
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")
# §3.2 forbidden domain code points: the forbidden host code points, the C0 controls, % and DEL
_FORBIDDEN_DOMAIN = re.compile(r"[\x00-\x20#/:<>?@\[\\\]^|%\x7f]")
_HEX = frozenset("0123456789abcdefABCDEF")


class OriginError(ValueError):
    """The text is not an http(s) URL whose origin a card may carry; the message says why."""


def http_origin(url: object) -> str:
    """The origin (scheme, host, port) of an http(s) URL; OriginError says what is wrong."""
    if not isinstance(url, str):
        raise OriginError("url: expected a string")
    if len(utf8_encode(url)) > MAX_URL_BYTES:
        raise OriginError(f"url: longer than {MAX_URL_BYTES} bytes")
    s = "".join(c for c in url.strip("".join(map(chr, range(0x21)))) if c not in "\t\n\r")
    m = _SCHEME.match(s)
    if m is None:
        raise OriginError("url: not a URL")
    scheme = m.group()[:-1].lower()
    if scheme not in _DEFAULT_PORTS:
        raise OriginError("url: must be http: or https:")
    rest = s[m.end() :].lstrip("/\\")
    end = _AUTHORITY_END.search(rest)
    authority = rest[: end.start()] if end else rest
    at = authority.rfind("@")
    credentials, hostport = (authority[:at], authority[at + 1 :]) if at >= 0 else ("", authority)
    host_text, port_text = _split_port(hostport)
    host = _parse_host(host_text)
    port = _parse_port(port_text)
    user, _, password = credentials.partition(":")
    if user or password:
        raise OriginError("url: must not carry a user name or password")
    origin = f"{scheme}://{host}" + ("" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}")
    if len(origin) > MAX_ORIGIN_LENGTH:
        raise OriginError(f"url: origin longer than {MAX_ORIGIN_LENGTH} bytes")
    return origin


def _split_port(hostport: str) -> tuple[str, str | None]:
    """The host state: the first ':' outside brackets starts the port."""
    inside = False
    for i, c in enumerate(hostport):
        if c == "[":
            inside = True
        elif c == "]":
            inside = False
        elif c == ":" and not inside:
            return hostport[:i], hostport[i + 1 :]
    return hostport, None


def _parse_port(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not text.isascii() or not text.isdigit():
        raise OriginError("url: not a URL")
    digits = text.lstrip("0") or "0"
    if len(digits) > 5 or int(digits) > 65535:
        raise OriginError("url: not a URL")
    return int(digits)


def _parse_host(text: str) -> str:
    if text == "":
        raise OriginError("url: not a URL")
    if text.startswith("["):
        if not text.endswith("]"):
            raise OriginError("url: not a URL")
        return f"[{format_ip(_parse_ipv6(text[1:-1]))}]"
    raw = _PERCENT.sub(lambda m: bytes([int(m.group(1), 16)]), utf8_encode(text))
    if not raw.isascii():
        raise OriginError("url: host names outside ASCII are not supported here (use the xn-- form)")
    domain = raw.decode("ascii").lower()
    if _FORBIDDEN_DOMAIN.search(domain):
        raise OriginError("url: not a URL")
    for label in domain.split("."):
        if label.startswith("xn--"):
            _check_punycode_label(label)
    if _ends_in_a_number(domain):
        return _parse_ipv4(domain)
    return domain


def _check_punycode_label(label: str) -> None:
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError, IndexError, OverflowError):
        raise OriginError("url: not a URL") from None
    if (
        decoded == ""
        or not unicodedata.is_normalized("NFC", decoded)
        or unicodedata.category(decoded[0]).startswith("M")
        or any(not _valid_code_point(c) for c in decoded)
    ):
        raise OriginError("url: not a URL")


def _valid_code_point(c: str) -> bool:
    """Approximately UTS #46 status 'valid', erring on the side of accepting (the Unicode
    database of this Python may be older than the JavaScript engine's: unassigned code points
    pass): not mapped by case folding or compatibility normalization, not a control, format
    (but ZWNJ and ZWJ), separator, private-use or surrogate code point, not U+FFFC or U+FFFD."""
    if c.isascii():
        return True  # the label shows it, and it passed the forbidden code point check
    if c in "\u200c\u200d":
        return True
    if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp") or c in "\ufffc\ufffd":
        return False
    return unicodedata.normalize("NFKC", c.casefold()) == c


def _ipv4_number(part: str) -> int | None:
    """§3.5 IPv4 number parser: None for failure."""
    if part == "":
        return None
    radix = 10
    if part[:2] in ("0x", "0X"):
        part, radix = part[2:], 16
    elif len(part) >= 2 and part[0] == "0":
        part, radix = part[1:], 8
    if part == "":
        return 0
    allowed = "01234567" if radix == 8 else "0123456789" if radix == 10 else _HEX
    if any(c not in allowed for c in part):
        return None
    return int(part, radix)


def _ends_in_a_number(domain: str) -> bool:
    parts = domain.split(".")
    if parts[-1] == "":
        if len(parts) == 1:
            return False
        parts.pop()
    last = parts[-1]
    if last != "" and last.isascii() and last.isdigit():
        return True
    return _ipv4_number(last) is not None


def _parse_ipv4(domain: str) -> str:
    parts = domain.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        raise OriginError("url: not a URL")
    numbers: list[int] = []
    for part in parts:
        n = _ipv4_number(part)
        if n is None:
            raise OriginError("url: not a URL")
        numbers.append(n)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise OriginError("url: not a URL")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n * 256 ** (3 - i)
    return format_ip(value.to_bytes(4, "big"))


def _parse_ipv6(s: str) -> bytes:
    """§3.5 IPv6 parser (compression, embedded IPv4); the 16 bytes or OriginError."""
    fail = OriginError("url: not a URL")
    address = [0] * 8
    piece, compress, i, n = 0, -1, 0, len(s)

    def at(k: int) -> str:
        return s[k] if k < n else ""

    if at(0) == ":":
        if at(1) != ":":
            raise fail
        i, piece = 2, 1
        compress = piece
    while i < n:
        if piece == 8:
            raise fail
        if s[i] == ":":
            if compress >= 0:
                raise fail
            i += 1
            piece += 1
            compress = piece
            continue
        value = length = 0
        while length < 4 and at(i) != "" and at(i) in _HEX:
            value = value * 16 + int(s[i], 16)
            i += 1
            length += 1
        if at(i) == ".":
            if length == 0:
                raise fail
            i -= length
            if piece > 6:
                raise fail
            seen = 0
            while i < n:
                if seen > 0:
                    if s[i] == "." and seen < 4:
                        i += 1
                    else:
                        raise fail
                if not ("0" <= at(i) <= "9" and at(i) != ""):
                    raise fail
                v4: int | None = None
                while at(i) != "" and "0" <= s[i] <= "9":
                    if v4 is None:
                        v4 = int(s[i])
                    elif v4 == 0:
                        raise fail
                    else:
                        v4 = v4 * 10 + int(s[i])
                    if v4 > 255:
                        raise fail
                    i += 1
                address[piece] = address[piece] * 0x100 + (v4 or 0)
                seen += 1
                if seen in (2, 4):
                    piece += 1
            if seen != 4:
                raise fail
            break
        if at(i) == ":":
            i += 1
            if i >= n:
                raise fail
        elif i < n:
            raise fail
        address[piece] = value
        piece += 1
    if compress >= 0:
        swaps = piece - compress
        piece = 7
        while piece != 0 and swaps > 0:
            j = compress + swaps - 1
            address[piece], address[j] = address[j], address[piece]
            piece -= 1
            swaps -= 1
    elif piece != 8:
        raise fail
    return b"".join(x.to_bytes(2, "big") for x in address)
