"""Initiation timestamps (WireGuard §5.4.2; ``@srmudp/crypto``'s ``timestamp.ts``): TAI64N in the
encrypted payload of an IK initiation. A responder accepts an IK initiation from a key only when
its timestamp is greater than the last one it accepted from that key, so a recorded initiation
replayed later is refused without state.

Encoding: 12 bytes big-endian: an 8-byte label ``2^62 + seconds since 1970`` (leap seconds
ignored, as WireGuard does), then 4 bytes of nanoseconds. Byte order is time order, so two
timestamps compare as byte strings.

The time is the driver's monotonic ``now`` plus a wall-clock offset given once
(``offset_ms``: the node passes ``time.time() * 1000 - now`` at its start), so an initiator
that restarts, whose monotonic clock starts again, still sends greater timestamps. No clock is
read here: the module stays sans-IO.
"""

from __future__ import annotations

import math

TIMESTAMP_LENGTH = 12
_TAI64_BASE = 1 << 62


def encode_timestamp(sec: int, ns: int) -> bytes:
    return (_TAI64_BASE + sec).to_bytes(8, "big") + ns.to_bytes(4, "big")


class TimestampClock:
    """Issues strictly increasing timestamps from ``offset_ms + now``."""

    def __init__(self, offset_ms: float) -> None:
        if not math.isfinite(offset_ms):
            raise ValueError(f'"wall_clock_offset_ms" expected a finite number, got {offset_ms}')
        self._offset = offset_ms
        self._last = (-1, 0)

    def next(self, now: float) -> bytes:
        """A timestamp for ``now``, greater than every one this clock issued before."""
        ms = max(0.0, self._offset + now)
        sec = math.floor(ms / 1000)
        ns = math.floor((ms - sec * 1000) * 1e6)
        if (sec, ns) <= self._last:
            # the same or an earlier instant (two handshakes in one millisecond): 1 ns later
            sec, ns = self._last
            ns += 1
            if ns >= 1_000_000_000:
                sec, ns = sec + 1, 0
        self._last = (sec, ns)
        return encode_timestamp(sec, ns)
