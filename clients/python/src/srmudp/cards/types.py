"""The decoded form of a contact card, whatever its text format version."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContactCard:
    peer_id: bytes
    locators: tuple[dict[str, str | int | float | bool], ...] = field(default=())
    record: bytes | None = None  # a signed peer record (the manual case: it carries the addresses)
    name: str | None = None  # a label for people (the name rule of name.py); not authenticated
    # the text format a parsed card was written in (1: JSON, 2: binary); None for a card built in
    # code. Not part of equality: the same card reads the same from either format.
    version: int | None = field(default=None, compare=False)
