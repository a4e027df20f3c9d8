"""A deterministic network for sans-IO endpoints (the Python counterpart of @srmudp/sim): a
virtual clock, seeded loss, duplication and per-datagram jitter (which reorders), no sockets."""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

Address = tuple[str, int]


class Node(Protocol):
    def handle(self, now: float, frm: Address, data: bytes) -> Any: ...
    def handle_timeout(self, now: float) -> None: ...
    def poll_timeout(self) -> float | None: ...


@dataclass
class Link:
    latency_ms: float = 10.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0


@dataclass(order=True)
class _Delivery:
    at: float
    seq: int
    to: Address = field(compare=False)
    frm: Address = field(compare=False)
    data: bytes = field(compare=False)


class Network:
    """``add(address, node, poll)`` where ``poll(now)`` yields ``(to, data)`` datagrams; ``run``
    advances the virtual clock event by event until ``until()`` or a bound is reached."""

    def __init__(self, seed: int, link: Link | None = None) -> None:
        self.rng = random.Random(seed)
        self.link = link or Link()
        self.now = 0.0
        self.nodes: dict[Address, tuple[Node, Callable[[float], list[tuple[Address, bytes]]]]] = {}
        self._queue: list[_Delivery] = []
        self._seq = 0
        self.sent = 0
        self.dropped = 0
        self.tap: Callable[[Address, Address, bytes], bytes | None] | None = None

    def add(self, address: Address, node: Node, poll: Callable[[float], list[tuple[Address, bytes]]]) -> None:
        self.nodes[address] = (node, poll)

    def inject(self, to: Address, frm: Address, data: bytes, delay: float = 0.0) -> None:
        self._seq += 1
        heapq.heappush(self._queue, _Delivery(self.now + delay, self._seq, to, frm, data))

    def _pump(self) -> None:
        for addr, (_, poll) in self.nodes.items():
            for to, data in poll(self.now):
                self.sent += 1
                if self.tap is not None:
                    d = self.tap(addr, to, data)
                    if d is None:
                        continue
                    data = d
                if self.rng.random() < self.link.loss:
                    self.dropped += 1
                    continue
                copies = 2 if self.rng.random() < self.link.duplicate else 1
                for _ in range(copies):
                    delay = self.link.latency_ms + self.rng.random() * self.link.jitter_ms
                    self.inject(to, addr, data, delay)

    def run(self, until: Callable[[], bool], max_ms: float = 60_000, max_steps: int = 1_000_000) -> bool:
        for _ in range(max_steps):
            self._pump()
            if until():
                return True
            t = min(
                [d.at for d in self._queue[:1]]
                + [x for n, _ in self.nodes.values() if (x := n.poll_timeout()) is not None]
                or [float("inf")]
            )
            if t == float("inf") or t > max_ms:
                if max_ms != float("inf"):
                    self.now = max(self.now, max_ms)  # nothing happens before the bound
                return until()
            self.now = max(self.now, t)
            while self._queue and self._queue[0].at <= self.now:
                d = heapq.heappop(self._queue)
                if d.to in self.nodes:
                    self.nodes[d.to][0].handle(self.now, d.frm, d.data)
            for n, _ in self.nodes.values():
                pt = n.poll_timeout()
                if pt is not None and pt <= self.now:
                    n.handle_timeout(self.now)
        return until()


def drain(poll_one: Callable[[float], Any]) -> Callable[[float], list[tuple[Address, bytes]]]:
    def poll(now: float) -> list[tuple[Address, bytes]]:
        out = []
        while (t := poll_one(now)) is not None:
            out.append((t[0], t[1]))
        return out

    return poll


def seeded_random(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return lambda n: bytes(rng.getrandbits(8) for _ in range(n))


class SimPeer:
    """A sans-IO endpoint (``self.ep``: handle / handle_timeout / poll_timeout / poll_event) on
    the network; every event is kept in ``events`` and passed to :meth:`on_event`."""

    ep: Any
    events: list[Any]

    def handle(self, now: float, frm: Address, data: bytes) -> None:
        self.on_datagram(now, frm, data)
        self._drain()

    def handle_timeout(self, now: float) -> None:
        self.ep.handle_timeout(now)
        self._drain()

    def poll_timeout(self) -> float | None:
        t: float | None = self.ep.poll_timeout()
        return t

    def on_datagram(self, now: float, frm: Address, data: bytes) -> None:
        self.ep.handle(now, frm, data)

    def on_event(self, event: Any) -> None:
        pass

    def _drain(self) -> None:
        while (e := self.ep.poll_event()) is not None:
            self.events.append(e)
            self.on_event(e)
