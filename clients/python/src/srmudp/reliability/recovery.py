"""Loss recovery building blocks (RFC 9002): RTT estimation, the receiver's ACK tracker, the
NewReno congestion controller, a token-bucket pacer and a small path-MTU prober (RFC 8899)."""

from __future__ import annotations

from ..wire import Ack
from .ranges import RangeSet

INITIAL_RTT_MS = 333.0  # RFC 9002 §6.2.2
GRANULARITY_MS = 1.0  # RFC 9002 §6.1.2
ACK_ELICITING_THRESHOLD = 2  # RFC 9000 §13.2.2
MAX_ACK_RANGES = 32
MAX_TRACKED_RANGES = 256
BASE_PLPMTU = 1200


class RttEstimator:
    """RFC 9002 §5: min RTT, smoothed RTT (1/8) and variance (1/4), ack delay removed when that
    leaves at least min RTT."""

    __slots__ = ("latest", "smoothed", "variance", "min", "has_sample", "_initial")

    def __init__(self, initial: float = INITIAL_RTT_MS) -> None:
        self._initial = initial
        self.reset()

    def reset(self) -> None:
        self.latest = 0.0
        self.smoothed = self._initial
        self.variance = self._initial / 2
        self.min = float("inf")
        self.has_sample = False

    def update(self, sample: float, ack_delay: float) -> None:
        if not sample >= 0:
            return
        self.latest = sample
        self.min = min(self.min, sample)
        if not self.has_sample:
            self.has_sample = True
            self.smoothed = sample
            self.variance = sample / 2
            return
        adjusted = sample - ack_delay if sample >= self.min + ack_delay else sample
        self.variance = 0.75 * self.variance + 0.25 * abs(self.smoothed - adjusted)
        self.smoothed = 0.875 * self.smoothed + 0.125 * adjusted

    def pto(self, max_ack_delay: float) -> float:
        return self.smoothed + max(4 * self.variance, GRANULARITY_MS) + max_ack_delay

    def loss_delay(self) -> float:
        return max(9 / 8 * max(self.smoothed, self.latest), GRANULARITY_MS)


class AckTracker:
    """Received packet numbers and when to acknowledge them (RFC 9000 §13.2): at once after
    every second ack-eliciting packet or a reordered one, otherwise within max_ack_delay; ranges
    below an ACK the peer acknowledged are no longer reported (§13.2.4)."""

    def __init__(self, max_ack_delay: float) -> None:
        self.max_ack_delay = max_ack_delay
        self.received = RangeSet()
        self.floor = 0
        self.largest = -1
        self._largest_time = 0.0
        self._eliciting = 0
        self.pending = False
        self.immediate = False
        self.deadline = float("inf")

    def on_packet(self, now: float, pn: int, eliciting: bool) -> bool:
        """Records ``pn``; False for a duplicate."""
        if pn < self.floor or self.received.has(pn):
            return False
        out_of_order = pn < self.largest or (self.largest >= 0 and pn > self.largest + 1)
        self.received.add(pn, pn + 1)
        if len(self.received) > MAX_TRACKED_RANGES:
            self.floor = self.received.starts[len(self.received) - MAX_TRACKED_RANGES]
            self.received.remove_below(self.floor)
        if pn > self.largest:
            self.largest = pn
            self._largest_time = now
        self.pending = True
        if eliciting:
            self._eliciting += 1
            if self._eliciting >= ACK_ELICITING_THRESHOLD or out_of_order:
                self.immediate = True
            elif self.deadline == float("inf"):
                self.deadline = now + self.max_ack_delay
        return True

    def should_send(self, now: float) -> bool:
        return self.pending and (self.immediate or now >= self.deadline)

    def build(self, now: float) -> Ack | None:
        if not self.pending or not self.received:
            return None
        s, e = self.received.starts, self.received.ends
        n = len(s)
        ranges = [(s[i], e[i] - 1) for i in range(n - 1, max(n - 1 - MAX_ACK_RANGES, -1), -1)]
        return Ack(max(0, round((now - self._largest_time) * 1000)), ranges)

    def on_ack_sent(self) -> None:
        self.pending = False
        self.immediate = False
        self._eliciting = 0
        self.deadline = float("inf")

    def on_ack_acked(self, largest: int) -> None:
        f = largest + 1
        if f > self.floor and self.received:
            # keep the newest range: reordering near the top still reports correctly
            self.floor = min(f, self.received.starts[-1])
            self.received.remove_below(self.floor)


class NewReno:
    """RFC 9002 §7 / Appendix B: slow start, congestion avoidance by one datagram per window, one
    reduction (factor 0.5) per recovery period, persistent congestion to the minimum window, no
    growth while application limited."""

    name = "newreno"

    def __init__(self, mss: int) -> None:
        self.mss = mss
        self.cwnd = min(10 * mss, max(14720, 2 * mss))
        self.ssthresh = float("inf")
        self._recovery_start = float("-inf")
        self._acked_in_ca = 0

    def in_slow_start(self) -> bool:
        return self.cwnd < self.ssthresh

    def on_ack(self, acked_bytes: int, largest_acked_sent_time: float, app_limited: bool) -> None:
        if largest_acked_sent_time <= self._recovery_start or app_limited:
            return
        if self.cwnd < self.ssthresh:
            self.cwnd += acked_bytes
            return
        self._acked_in_ca += acked_bytes
        if self._acked_in_ca >= self.cwnd:
            self._acked_in_ca -= self.cwnd
            self.cwnd += self.mss

    def on_loss(self, now: float, largest_lost_sent_time: float, persistent: bool) -> None:
        if largest_lost_sent_time > self._recovery_start:
            self._recovery_start = now
            self.ssthresh = max(self.cwnd * 0.5, 2 * self.mss)
            self.cwnd = int(self.ssthresh)
            self._acked_in_ca = 0
        if persistent:
            self.cwnd = 2 * self.mss
            self._recovery_start = now

    def on_mtu_change(self, mss: int) -> None:
        self.mss = mss
        self.cwnd = max(self.cwnd, 2 * mss)


class Pacer:
    """Token bucket (RFC 9002 §7.7) refilled at ``rate`` bytes/ms, holding 2 ms of sending
    (between 2 and 32 datagrams)."""

    def __init__(self, now: float, mss: int) -> None:
        self.capacity = 10.0 * mss
        self.tokens = self.capacity
        self.last = now
        self.rate = 0.0

    def update(self, now: float, rate: float, mss: int) -> None:
        self.rate = rate
        finite = rate != float("inf")
        self.capacity = max(2 * mss, min(rate * 2, 32 * mss)) if finite else 32.0 * mss
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + (now - self.last) * rate) if finite else self.capacity
            self.last = now
        self.tokens = min(self.tokens, self.capacity)

    def next_send_time(self, now: float, size: int) -> float:
        if self.tokens >= size - 1e-6 * self.rate or self.rate <= 0 or self.rate == float("inf"):
            return now
        return max(now, self.last + (size - self.tokens) / self.rate)

    def on_send(self, size: int) -> None:
        self.tokens = max(self.tokens - size, -self.capacity)


class MtuProber:
    """A minimal DPLPMTUD (RFC 8899): start at BASE_PLPMTU (1200 bytes of UDP payload), probe
    the path's ceiling once with PING + PADDING; acknowledged: use it; lost three times: stay at
    the base. (No binary search: loopback and LANs carry the ceiling or 1200.)"""

    MAX_PROBES = 3

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.current = BASE_PLPMTU
        self.probe_pn = -1
        self._losses = 0
        self.done = ceiling <= BASE_PLPMTU

    def want_probe(self) -> int:
        if self.done or self.probe_pn >= 0:
            return 0
        return self.ceiling

    def on_probe_acked(self) -> None:
        self.current = self.ceiling
        self.done = True
        self.probe_pn = -1

    def on_probe_lost(self) -> None:
        self.probe_pn = -1
        self._losses += 1
        if self._losses >= self.MAX_PROBES:
            self.done = True

    def on_black_hole(self) -> None:
        self.current = BASE_PLPMTU
        self.done = True
