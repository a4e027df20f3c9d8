"""Text as the TypeScript implementation reads and writes it, where JavaScript and Python differ.

The wire format and the text forms are specified in bytes, but the TypeScript side decodes and
measures strings with JavaScript's rules; matching them here keeps both sides agreeing on every
input, hostile ones included (docs/architecture/wire-format.md §12.3).
"""

from __future__ import annotations

import re

# JavaScript's \s and String.prototype.trim(): ASCII whitespace (without \x1c-\x1f and \x85,
# which Python's str.strip() also removes), NBSP, the Unicode space separators, the line and
# paragraph separators and U+FEFF (which Python's str.strip() keeps).
JS_WHITESPACE_CHARS = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
JS_WHITESPACE = re.compile(f"[{JS_WHITESPACE_CHARS}]+")


def js_trim(s: str) -> str:
    """``String.prototype.trim()``."""
    return s.strip(JS_WHITESPACE_CHARS)


def utf16_length(s: str) -> int:
    """``string.length`` in JavaScript: UTF-16 code units (a character above U+FFFF counts 2)."""
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)


def decode_utf8(b: bytes) -> str | None:
    """``new TextDecoder('utf-8', { fatal: true }).decode(b)``: None for invalid UTF-8 (overlong
    forms, surrogates, truncated sequences), and one leading U+FEFF dropped (ignoreBOM is false)."""
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return s[1:] if s.startswith("\ufeff") else s


def utf8_encode(s: str) -> bytes:
    """UTF-8 as TextEncoder writes it: a lone surrogate becomes U+FFFD."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
