"""ClosedPeers: the peers that may continue a connection we ended (as core's closed-peers.test.ts)."""

from __future__ import annotations

from srmudp.closed_peers import CLOSED_PEER_MS, ClosedPeers


def key(n: int) -> bytes:
    return bytes([n]) * 32


def boot(n: int) -> bytes:
    return bytes([n]) * 8


def test_numbered_above_the_old_connection_continues_it() -> None:
    c = ClosedPeers()
    c.remember(0, key(1), boot(7), 41)
    assert c.continues(1000, key(1), boot(7), 42)
    assert not c.continues(1000, key(1), boot(7), 41)
    assert not c.continues(1000, key(1), boot(7), 0)
    assert not c.continues(1000, key(1), boot(8), 500)  # new boot id: restarted
    assert not c.continues(1000, key(1), None, 500)
    assert not c.continues(1000, key(2), boot(7), 500)


def test_lifetime_and_what_is_not_remembered() -> None:
    c = ClosedPeers()
    c.remember(0, key(1), boot(1), 10)
    c.remember(0, key(2), None, 10)
    c.remember(0, key(3), boot(3), -1)
    assert not c.continues(1, key(2), boot(2), 11)
    assert not c.continues(1, key(3), boot(3), 11)
    assert c.continues(CLOSED_PEER_MS - 1, key(1), boot(1), 11)
    assert not c.continues(CLOSED_PEER_MS, key(1), boot(1), 11)
    assert len(c) == 0
    c.remember(0, key(1), boot(1), 10)
    c.forget(key(1))
    assert not c.continues(1, key(1), boot(1), 11)


def test_bounded_oldest_first_and_renewed_when_remembered_again() -> None:
    c = ClosedPeers(1000, 3)
    for i in range(1, 4):
        c.remember(i, key(i), boot(i), 5)
    c.remember(4, key(1), boot(1), 6)  # renewed: now the newest
    c.remember(5, key(4), boot(4), 5)  # evicts key 2
    assert len(c) == 3
    assert not c.continues(6, key(2), boot(2), 9)
    assert c.continues(6, key(1), boot(1), 7) and not c.continues(6, key(1), boot(1), 6)
    assert c.continues(6, key(3), boot(3), 9)
    assert not c.continues(1003, key(3), boot(3), 9)  # expired (remembered at 3)
    assert c.continues(1003, key(4), boot(4), 9)
