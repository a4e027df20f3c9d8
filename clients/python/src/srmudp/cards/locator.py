"""Locators: where a peer's record can be found (``backend`` names a rendezvous backend, the other
keys are its parameters), as ``@srmudp/rendezvous`` ``locator.ts``. Locators come from cards, i.e.
from strangers, so every locator is brought to a canonical, bounded form
(:func:`normalize_locator`) before it is stored, compared or written.

A locator is a ``dict`` of ``str`` to ``str | int | float | bool``. Numbers are JavaScript numbers
(doubles): an integral value within ±(2^53 - 1) is an ``int``, any other a ``float``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ..text import utf8_encode
from .origin import OriginError, http_origin

LocatorValue = str | int | float | bool
Locator = dict[str, LocatorValue]

MAX_CARD_LOCATORS = 8
"""A node publishes at most this many locators; a card carries no more."""
MAX_LOCATOR_PARAMS = 8
MAX_LOCATOR_STRING_BYTES = 255
MAX_DHT_SALT_BYTES = 64
_MAX_SAFE = 2**53 - 1
_BACKEND = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_PARAM = re.compile(r"[A-Za-z0-9_-]{1,32}")
_INDEX = re.compile(r"0|[1-9][0-9]{0,9}")


class LocatorError(ValueError):
    """A locator a card may not carry; the message says which field and why."""


def js_number(v: int | float) -> int | float:
    """The JavaScript number a Python number is (int when integral and safe); OverflowError or
    ValueError when it is none (too large, NaN, infinite)."""
    x = float(v)
    if not math.isfinite(x):
        raise ValueError("not a finite number")
    return int(x) if x.is_integer() and abs(x) <= _MAX_SAFE else x


def _js_key_order(keys: list[str]) -> list[str]:
    """The order JavaScript keeps an object's keys in: array indices (canonical decimal below
    2^32 - 1) ascending, then the other keys as inserted. It is the order the binary card writes
    a generic locator's parameters in."""
    index = sorted((k for k in keys if _INDEX.fullmatch(k) and int(k) < 2**32 - 1), key=int)
    return index + [k for k in keys if k not in index]


def normalize_locator(value: object) -> Locator:
    """The canonical form of an untrusted locator, or LocatorError: backend name of lower-case
    letters, digits and dashes (at most 32), at most 8 parameters named by letters, digits, ``_``
    or ``-``, with string (at most 255 bytes of UTF-8), finite number or boolean values. Known
    backends get their own rules: ``http`` keeps only the origin of ``url``; ``dht`` needs a salt
    of 1 to 64 bytes if any."""
    if not isinstance(value, Mapping):
        raise LocatorError("expected an object")
    backend = value.get("backend")
    if not isinstance(backend, str) or not _BACKEND.fullmatch(backend):
        raise LocatorError("backend: must be 1-32 lower-case letters, digits and dashes")
    if len(value) - 1 > MAX_LOCATOR_PARAMS:
        raise LocatorError(f"more than {MAX_LOCATOR_PARAMS} parameters")
    for key in value:
        if not isinstance(key, str) or not _PARAM.fullmatch(key) and key != "backend":
            raise LocatorError(f"parameter name {str(key)[:40]!r} is not allowed")
    out: Locator = {"backend": backend}
    for key in _js_key_order([k for k in value if k != "backend"]):
        v = value[key]
        if isinstance(v, bool):
            pass
        elif isinstance(v, str):
            if len(utf8_encode(v)) > MAX_LOCATOR_STRING_BYTES and not (backend == "http" and key == "url"):
                raise LocatorError(f"{key}: longer than {MAX_LOCATOR_STRING_BYTES} bytes")
        elif isinstance(v, (int, float)):
            try:
                v = js_number(v)
            except (OverflowError, ValueError):
                raise LocatorError(f"{key}: not a finite number") from None
        else:
            raise LocatorError(f"{key}: expected a string, number or boolean")
        if key != "__proto__":  # JavaScript's `out[key] = v` drops it (the prototype setter)
            out[key] = v
    if backend == "http":
        try:
            return {"backend": backend, "url": http_origin(out.get("url"))}
        except OriginError as e:
            raise LocatorError(str(e)) from None
    if backend == "dht" and "salt" in out:
        salt = out["salt"]
        n = len(utf8_encode(salt)) if isinstance(salt, str) else 0
        if not 1 <= n <= MAX_DHT_SALT_BYTES:
            raise LocatorError(f"salt: expected 1 to {MAX_DHT_SALT_BYTES} bytes")
    return out


def locator_key(locator: Locator) -> tuple[tuple[str, str, str], ...]:
    """A key of a canonical locator for deduplication (parameter order does not matter; a number
    and a boolean or string of the same text differ)."""

    def typed(v: LocatorValue) -> tuple[str, str]:
        if isinstance(v, bool):
            return ("b", str(v))
        if isinstance(v, str):
            return ("s", v)
        return ("n", repr(float(v)))

    return tuple(sorted((k, *typed(v)) for k, v in locator.items()))
