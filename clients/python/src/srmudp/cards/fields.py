"""The checks every card version shares (``checkFields`` of ``@srmudp/rendezvous`` ``card.ts``):
at most 8 locators, each in canonical form and once; the name rule; an embedded record whose
signature verifies for the card's peer id."""

from __future__ import annotations

from collections.abc import Sequence

from .locator import MAX_CARD_LOCATORS, Locator, LocatorError, locator_key, normalize_locator
from .name import clean_name, name_problem
from .record import RendezvousError, verify_record
from .types import ContactCard


def invalid(message: str) -> RendezvousError:
    return RendezvousError("INVALID_CARD", f"invalid contact card: {message}")


def check_fields(
    peer_id: bytes, locators: Sequence[object], record: bytes | None, name: str | None, version: int
) -> ContactCard:
    if len(locators) > MAX_CARD_LOCATORS:
        raise invalid(f"field locators: more than {MAX_CARD_LOCATORS} locators")
    out: list[Locator] = []
    seen: set[object] = set()
    for i, raw in enumerate(locators):
        try:
            loc = normalize_locator(raw)
        except LocatorError as e:
            raise invalid(f"field locators[{i}]: {e}") from None
        key = locator_key(loc)
        if key not in seen:
            seen.add(key)
            out.append(loc)
    if name is not None:
        # Version 2 refuses a name outside the rule; a version 1 card (written before the rule)
        # has its name cleaned instead, so saved cards keep working.
        if version == 1:
            name = clean_name(name)
        problem = name_problem(name)
        if problem is not None and version != 1:
            raise invalid(f"field name: {problem}")
        if problem is not None:
            name = None
    if record is not None:
        try:
            # signature and peer id now; expiry is the business of whoever dials (cards live long)
            verify_record(record, expected_peer_id=peer_id, now_ms=0, clock_skew_ms=2**53 - 1)
        except RendezvousError as e:
            raise invalid(f"field record: {e} ({e.code})") from None
    return ContactCard(peer_id, tuple(out), record, name, version)
