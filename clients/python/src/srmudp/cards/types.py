"""The decoded form of a contact card, whatever its text format version."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContactCard:
    peer_id: bytes
    locators: tuple[dict[str, str | int | float | bool], ...] = field(default=())
    record: bytes | None = None  # a signed peer record (the manual case: it carries the addresses)
    name: str | None = None
