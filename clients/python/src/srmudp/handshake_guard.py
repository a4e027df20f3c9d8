"""The responder's DoS policy (WireGuard §5.3 and §5.4.7; ``@srmudp/crypto``'s
``handshake-guard.ts``, whose rules and defaults this module follows): when the responder is
under load, how much handshake work each source may cause, and how many half-finished
handshakes it keeps. The secure endpoint asks it before any Diffie-Hellman.

- *Load* is the rate of initiations arriving (every datagram of type 0x81 counts when it
  arrives, before any check) less those whose initiator confirmed the keys we answered (IK: it
  sent under them; XX: message 3), not the number of handshakes pending: forged initiations
  hold no state, so a pending count never rises under a flood of them. Only an initiator that
  received our answer at its address can confirm, which is what a cookie would have proved
  first; its initiation then leaves the count, and so does the one that got its address a
  cookie reply (its first attempt under load). A spoofed or failing initiation never leaves it,
  so a flood counts in full; a burst of real peers, however fast, only while its handshakes are
  in flight. Above ``load_threshold`` per second, and for one second after, every initiation
  without a valid mac2 gets a cookie reply and no Diffie-Hellman.
- Under load, initiations with a valid mac2 are rate limited per source address and per /24
  (IPv4) or /64 (IPv6) prefix, and together to ``handshakes_per_second``, shared equally among
  the sources asking; cookie replies are rate limited per source too. A quiet source keeps a
  small burst, so a real peer's handshake goes through at once.
- Pending responder handshakes (half-open XX, IK sessions awaiting key confirmation) are
  budgeted per address, per prefix and in total. A new one is always admitted: a full budget
  evicts its oldest entry (for the total: the oldest that came without a cookie, if any).
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Callable

#: how long the responder stays under load after the rate last exceeded the threshold (ms)
UNDER_LOAD_AFTER_MS = 1000.0
_WINDOW_MS = 1000.0
#: how long a counted initiation stays in the load estimate (its window and the next, ms)
LOAD_HORIZON_MS = 2 * _WINDOW_MS
_MAX_ADDRESSES = 16_384
_MAX_PREFIXES = 4096


@dataclass
class HandshakeLimits:
    """The TypeScript defaults (``DEFAULT_HANDSHAKE_LIMITS``)."""

    #: responder handshakes awaiting completion, in total
    max_pending: int = 1024
    #: ...from one source address (host and port)
    max_pending_per_address: int = 4
    #: ...from one /24 (IPv4) or /64 (IPv6) prefix
    max_pending_per_prefix: int = 64
    #: unconfirmed initiations per second (see above) above which the responder is under
    #: load; 0: always
    load_threshold: float = 64
    #: under load: cookie-validated handshakes answered per second, all sources together
    handshakes_per_second: float = 200
    #: ...at most this many per second for one source address
    handshakes_per_address: float = 20
    #: ...for one prefix
    handshakes_per_prefix: float = 200
    #: cookie replies per second to one source address
    cookie_replies_per_address: float = 10
    #: ...to one prefix
    cookie_replies_per_prefix: float = 200

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            least = 0 if f.name == "load_threshold" else 1
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < least:
                raise ValueError(f'"limits.{f.name}" expected a number >= {least}, got {v!r}')


class LoadMeter:
    """Counted initiations per second over a sliding one-second window (the current window and
    the previous one, weighted); :meth:`forget` takes back one that turned out not to count (it
    was confirmed)."""

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold
        self._window_start = -math.inf
        self._count = 0
        self._previous = 0
        self._over_until = -math.inf

    def record(self, now: float) -> bool:
        """Counts one initiation at ``now``; True when the responder is under load."""
        self._roll(now)
        self._count += 1
        if self.rate(now) > self._threshold:
            self._over_until = now + UNDER_LOAD_AFTER_MS
        return now < self._over_until

    def forget(self, at: float, now: float) -> None:
        """Takes back one initiation counted at ``at`` (<= ``now``), from the window that counted
        it; one counted before the previous window has left the estimate already. Whether the
        responder is under load stays as it is: a verdict, once given, lasts its second."""
        self._roll(now)
        if at >= self._window_start:
            self._count = max(0, self._count - 1)
        elif at >= self._window_start - _WINDOW_MS:
            self._previous = max(0, self._previous - 1)

    def _roll(self, now: float) -> None:
        elapsed = now - self._window_start
        if elapsed < _WINDOW_MS:
            return
        if elapsed < 2 * _WINDOW_MS:
            self._previous = self._count
            self._window_start += _WINDOW_MS
        else:
            self._previous = 0
            self._window_start = now
        self._count = 0

    def rate(self, now: float) -> float:
        into = min(1.0, max(0.0, (now - self._window_start) / _WINDOW_MS))
        return self._previous * (1 - into) + self._count

    def under_load(self, now: float) -> bool:
        """Whether the responder is under load at ``now`` (threshold 0: always)."""
        return self._threshold == 0 or now < self._over_until


class _Bucket:
    __slots__ = ("tokens", "at", "window")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at
        self.window = -1


class RateLimiter:
    """Token buckets by key (bounded, least recently used forgotten: that only restores a
    burst). With ``share``, each key's rate is min(``rate``, ``share`` / keys that took a token
    in this window or the one before): a fair part of a common rate."""

    def __init__(self, rate: float, max_entries: int, share: float = math.inf, burst: float | None = None) -> None:
        self._rate = rate
        self._max = max_entries
        self._share = share
        self._burst = burst if burst is not None else max(1, math.ceil(rate / 4))
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._window = 0
        self._active = 0
        self._active_before = 0

    def peek(self, now: float, key: str) -> bool:
        """True when ``key`` has a token at ``now`` (nothing is taken)."""
        b = self._buckets.get(key)
        return b is None or self._refill(b, now) >= 1

    def take(self, now: float, key: str) -> bool:
        """Takes a token; False (nothing taken) when there is none."""
        self._roll(now)
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= self._max:
                self._buckets.popitem(last=False)
            b = self._buckets[key] = _Bucket(self._burst, now)
        else:
            self._buckets.move_to_end(key)
        if b.window != self._window:
            b.window = self._window
            self._active += 1
        if self._refill(b, now) < 1:
            return False
        b.tokens -= 1
        return True

    def current_rate(self) -> float:
        keys = max(1, self._active, self._active_before)
        return min(self._rate, self._share / keys)

    def _roll(self, now: float) -> None:
        w = math.floor(now / _WINDOW_MS)
        if w == self._window:
            return
        self._active_before = self._active if w == self._window + 1 else 0
        self._active = 0
        self._window = w

    def _refill(self, b: _Bucket, now: float) -> float:
        if now > b.at:
            b.tokens = min(self._burst, b.tokens + (now - b.at) * self.current_rate() / 1000)
            b.at = now
        return b.tokens

    def clear(self) -> None:
        self._buckets.clear()


@dataclass(frozen=True)
class Source:
    """A source address and its prefix, as keys of the budget tables."""

    address: str
    prefix: str


def prefix_of(host: str) -> str:
    """The /24 of an IPv4 (or IPv4-mapped IPv6) address, the /64 of an IPv6 address; a host that
    is not an IP literal is its own prefix."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    b = ip.packed
    if len(b) == 4:
        return f"{b[0]}.{b[1]}.{b[2]}/24"
    return b[:8].hex() + "/64"


class SourceKeys:
    """The budget keys of an address (prefixes cached, bounded)."""

    def __init__(self) -> None:
        self._prefixes: dict[str, str] = {}

    def of(self, frm: tuple[str, int]) -> Source:
        host = frm[0]
        prefix = self._prefixes.get(host)
        if prefix is None:
            prefix = prefix_of(host)
            if len(self._prefixes) >= _MAX_PREFIXES:
                self._prefixes.clear()
            self._prefixes[host] = prefix
        return Source(f"{host}|{frm[1]}", prefix)


class SourceRate:
    """The per-source rate limits of one purpose (handshakes answered, or cookie replies)."""

    def __init__(self, per_address: float, per_prefix: float, total: float = math.inf) -> None:
        self._by_address = RateLimiter(per_address, _MAX_ADDRESSES, total, max(1, math.ceil(per_address / 4)))
        self._by_prefix = RateLimiter(per_prefix, _MAX_PREFIXES, total, max(1, math.ceil(per_prefix / 4)))

    def peek(self, now: float, s: Source) -> bool:
        return self._by_address.peek(now, s.address) and self._by_prefix.peek(now, s.prefix)

    def take(self, now: float, s: Source) -> bool:
        """Takes a token from both; False (nothing taken from the address) when either is empty."""
        if not self._by_prefix.peek(now, s.prefix) or not self._by_address.take(now, s.address):
            return False
        return self._by_prefix.take(now, s.prefix)

    def clear(self) -> None:
        self._by_address.clear()
        self._by_prefix.clear()


@dataclass(eq=False)
class PendingEntry:
    """One pending responder handshake in the budget."""

    local_index: int
    source: Source
    #: came with a valid mac2 (its sender proved it receives at its address)
    cookie: bool
    #: frees the handshake's state (called when the entry is evicted)
    evict: Callable[[], None]


class PendingTable:
    """Pending responder handshakes with per-address, per-prefix and total budgets; adding to a
    full budget evicts the oldest entry in it (for the total: the oldest without a cookie)."""

    def __init__(self, limits: HandshakeLimits) -> None:
        self._limits = limits
        # insertion order is age
        self._plain: dict[int, PendingEntry] = {}
        self._validated: dict[int, PendingEntry] = {}
        self._by_address: dict[str, list[PendingEntry]] = {}
        self._by_prefix: dict[str, list[PendingEntry]] = {}
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._plain) + len(self._validated)

    def add(self, e: PendingEntry) -> None:
        lim = self._limits
        a = self._by_address.get(e.source.address)
        if a is not None and len(a) >= lim.max_pending_per_address:
            self._evict(a[0])
        p = self._by_prefix.get(e.source.prefix)
        if p is not None and len(p) >= lim.max_pending_per_prefix:
            self._evict(p[0])
        if len(self) >= lim.max_pending:
            oldest = next(iter(self._plain.values()), None) or next(iter(self._validated.values()), None)
            if oldest is not None:
                self._evict(oldest)
        (self._validated if e.cookie else self._plain)[e.local_index] = e
        self._by_address.setdefault(e.source.address, []).append(e)
        self._by_prefix.setdefault(e.source.prefix, []).append(e)

    def remove(self, local_index: int) -> bool:
        """Forgets the entry of ``local_index`` (completed or expired); False when none."""
        e = self._plain.pop(local_index, None) or self._validated.pop(local_index, None)
        if e is None:
            return False
        _pull(self._by_address, e.source.address, e)
        _pull(self._by_prefix, e.source.prefix, e)
        return True

    def _evict(self, e: PendingEntry) -> None:
        self.remove(e.local_index)
        self.evicted += 1
        e.evict()

    def clear(self) -> None:
        self._plain.clear()
        self._validated.clear()
        self._by_address.clear()
        self._by_prefix.clear()


def _pull(m: dict[str, list[PendingEntry]], k: str, e: PendingEntry) -> None:
    lst = m.get(k)
    if lst is None:
        return
    try:
        lst.remove(e)
    except ValueError:
        pass
    if not lst:
        del m[k]
