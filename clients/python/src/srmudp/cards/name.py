"""The one rule for names shown to people (a card's ``name``), as ``@srmudp/rendezvous`` ``name.ts``:
1 to :data:`MAX_NAME_BYTES` bytes of UTF-8, and none of the characters that change how a terminal
or a text renderer shows what follows:

- C0 and C1 control characters and DEL (terminal escape sequences start with ESC, U+001B),
- bidirectional formatting characters (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069:
  "Trojan Source", CVE-2021-42574),
- line and paragraph separators (U+2028, U+2029), the byte order mark (U+FEFF),
- surrogates (a Python string holds one only when it is unpaired: it has no UTF-8 form).

Length is counted in UTF-8 bytes, the unit the binary card stores, so every name that passes
encodes, and every name a card decodes to passes again.
"""

from __future__ import annotations

from ..text import js_trim

MAX_NAME_BYTES = 64


def _forbidden(cp: int) -> bool:
    return (
        cp <= 0x1F
        or 0x7F <= cp <= 0x9F
        or cp in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, 0xFEFF)
        or 0x202A <= cp <= 0x202E
        or 0x2066 <= cp <= 0x2069
        or 0xD800 <= cp <= 0xDFFF
    )


def _utf8_length(cp: int) -> int:
    return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4


def name_problem(name: object) -> str | None:
    """What is wrong with ``name`` under the name rule, or None when it is a valid name."""
    if not isinstance(name, str):
        return "expected a string"
    if not name:
        return "empty"
    n = 0
    for ch in name:
        cp = ord(ch)
        if _forbidden(cp):
            return f"contains U+{cp:04X} (control, bidi or invalid character)"
        n += _utf8_length(cp)
        if n > MAX_NAME_BYTES:
            return f"longer than {MAX_NAME_BYTES} bytes of UTF-8"
    return None


def clean_name(text: str) -> str:
    """The nearest valid name to untrusted text: forbidden characters removed, surrounding
    whitespace trimmed, cut to :data:`MAX_NAME_BYTES` bytes on a character boundary. May return
    '' (nothing printable was left): the caller picks a fallback."""
    out: list[str] = []
    n = 0
    for ch in js_trim(str(text)):
        cp = ord(ch)
        if _forbidden(cp):
            continue
        n += _utf8_length(cp)
        if n > MAX_NAME_BYTES:
            break
        out.append(ch)
    return js_trim("".join(out))
