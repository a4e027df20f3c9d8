"""The peers whose connection we ended (our close, our idle timeout, lost keys), remembered for as
long as such a peer may still continue that connection without knowing it ended: our CLOSE and its
repeats can all be lost, and the peer then keeps the connection and, when its keys grow old, renews
them with a handshake that is, to us, a new incoming one. Its packets under that session go on
numbering from its packets under the old one (packet numbers are the connection's, across
sessions), so its first packet is numbered above every packet we had from it, where a new
connection of the peer's starts again from 0. Such a session is no connection of ours: the endpoint
closes it unannounced and the peer, answered no more, times out, as it would have without the rekey.

The mirror of ``Connection.numbering_restarted``, with the same blind spot: an old connection that
carried fewer packets than the new one lost before its first arrived. As core's closed-peers.ts."""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

#: how long a peer may continue a connection we ended: a session of its started before our close
#: is renewed at most REJECT_AFTER_TIME after it began (WireGuard's timers, the defaults)
CLOSED_PEER_MS = 180_000
#: bound on the peers remembered (the oldest go first)
MAX_CLOSED_PEERS = 4096


def numbers_on(packet_number: int, largest_received: int) -> bool:
    """Whether the first packet of a peer's new session, numbered ``packet_number``, continues a
    connection in which the largest packet number we had from the peer is ``largest_received``: a
    peer that continues a connection numbers on (packet numbers are the connection's, across
    sessions; retransmissions take new ones), a new connection starts again from 0. The one rule
    behind ``Connection.numbering_restarted``, a closing connection's rekey and ClosedPeers."""
    return packet_number > largest_received


class _ClosedPeer(NamedTuple):
    boot: bytes | None
    largest_pn: int
    until: float


class ClosedPeers:
    """Peers whose connection ended here, by peer id, oldest first."""

    def __init__(self, lifetime_ms: float = CLOSED_PEER_MS, max_peers: int = MAX_CLOSED_PEERS) -> None:
        self._lifetime = lifetime_ms
        self._max = max_peers
        self._peers: OrderedDict[bytes, _ClosedPeer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._peers)

    def remember(self, now: float, key: bytes, boot: bytes | None, largest_pn: int) -> None:
        """Our connection with ``key`` ended, not by the peer's close; ``largest_pn``: the largest
        packet number we had from it (none: nothing to compare a continuation with)."""
        self._expire(now)
        self._peers.pop(key, None)
        if largest_pn < 0:
            return
        if len(self._peers) >= self._max:
            self._peers.popitem(last=False)
        self._peers[key] = _ClosedPeer(boot, largest_pn, now + self._lifetime)

    def forget(self, key: bytes) -> None:
        """A new connection with ``key`` began."""
        self._peers.pop(key, None)

    def continues(self, now: float, key: bytes, boot: bytes | None, packet_number: int) -> bool:
        """Whether a new session of ``key``'s (boot id ``boot``), whose first packet is numbered
        ``packet_number``, continues the connection we ended: the same boot id, and numbered above
        every packet we had from the peer in it."""
        if not self._peers:
            return False
        self._expire(now)
        p = self._peers.get(key)
        if p is None or p.boot is None or boot is None:
            return False
        return p.boot == boot and numbers_on(packet_number, p.largest_pn)

    def _expire(self, now: float) -> None:
        while self._peers:
            key, p = next(iter(self._peers.items()))
            if p.until > now:
                return
            del self._peers[key]
