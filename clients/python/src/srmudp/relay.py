"""The relay protocol, client side (wire-format.md §9), sans-IO: the state of one hop (one
relay). The host (node.py) owns the hop session, an ordinary srmudp session with the relay, and
tells :class:`RelayClient` when it is up or down; control messages travel in that session as
ordered MESSAGEs (what ``srmudp-relay`` does today, §9.6), channel data beside it on the same
carrier (UDP socket or WebSocket). The messages and their codec are relay_codec.py (re-exported
here: ``srmudp.relay`` is the module users and tests import).

Vouchers (connect via, §9.3) are not written here: an INCOMING carrying one is refused
``unsupported``, since this client cannot check it (a relay server needs none).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Union

from .errors import SrmudpError, WireDecodeError
from .relay_codec import (
    CHANNEL_HEADER_LENGTH,
    CHANNEL_MAX,
    CHANNEL_MIN,
    CLOSE_REASONS,
    CONTROL_VERSION,
    INSTANCE_ID_LENGTH,
    MAX_CHANNEL_PAYLOAD,
    MAX_VOUCHER_BYTES,
    REJECT_REASONS,
    STATUS_CODES,
    Accept,
    Bound,
    Close,
    Connect,
    ControlMessage,
    Incoming,
    Limits,
    Refresh,
    Reject,
    Status,
    check_key,
    decode_channel_data,
    decode_control,
    encode_channel_data,
    encode_control,
    is_channel_data,
)

__all__ = [
    "CHANNEL_HEADER_LENGTH",
    "CHANNEL_MAX",
    "CHANNEL_MIN",
    "CLOSE_REASONS",
    "CONTROL_VERSION",
    "INSTANCE_ID_LENGTH",
    "MAX_CHANNEL_PAYLOAD",
    "MAX_VOUCHER_BYTES",
    "REJECT_REASONS",
    "STATUS_CODES",
    "Accept",
    "Bound",
    "CircuitBound",
    "CircuitClosed",
    "CircuitRejected",
    "Close",
    "Connect",
    "ControlMessage",
    "Incoming",
    "IncomingCircuit",
    "Limits",
    "Refresh",
    "Reject",
    "RelayClient",
    "RelayClientStats",
    "RelayEvent",
    "RelayNotice",
    "RelayReady",
    "Status",
    "decode_channel_data",
    "decode_control",
    "encode_channel_data",
    "encode_control",
    "is_channel_data",
]


@dataclass(frozen=True)
class RelayReady:
    """The relay greeted the hop session; ``restarted``: another relay instance than before."""

    instance: bytes
    restarted: bool
    rate: int
    burst: int
    max_circuits: int
    max_message_size: int


@dataclass(frozen=True)
class IncomingCircuit:
    """``requester`` asks for a circuit to us: answer with accept() or reject()."""

    incoming_id: int
    requester: bytes
    limits: Limits


@dataclass(frozen=True)
class CircuitBound:
    request_id: int
    channel: int
    peer: bytes
    role: str  # "requester" | "target"
    limits: Limits


@dataclass(frozen=True)
class CircuitRejected:
    """A request failed: the relay's or target's REJECT reason, ``timeout``, or what happened to
    the hop meanwhile (``hop_down``, ``hop_reset``, ``relay_restarted``)."""

    request_id: int
    kind: str  # "connect" | "accept"
    peer: bytes
    reason: str


@dataclass(frozen=True)
class CircuitClosed:
    channel: int
    peer: bytes
    reason: str


@dataclass(frozen=True)
class RelayNotice:
    """STATUS other than healthy: rate_limited, same_key_elsewhere, restarting, denied."""

    status: Status


RelayEvent = Union[RelayReady, IncomingCircuit, CircuitBound, CircuitRejected, CircuitClosed, RelayNotice]


@dataclass
class _Request:
    id: int
    kind: str  # connect | accept | refresh
    peer: bytes
    channel: int
    deadline: float
    data: bytes
    sent: bool


@dataclass
class _Channel:
    channel: int
    peer: bytes
    role: str
    limits: Limits
    bound_at: float
    expires_at: float
    used: bool = False
    refreshing: bool = False


#: a binding the relay did not close by its expiry is given up this much later (the relay's
#: CLOSE with the typed reason normally arrives first)
_EXPIRY_GRACE_MS = 2_000


@dataclass
class RelayClientStats:
    requests: int = 0
    bound: int = 0
    rejected: int = 0
    closed: int = 0
    packets_in: int = 0
    packets_out: int = 0
    control_received: int = 0
    control_sent: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


class RelayClient:
    """The client side of one hop, with the rules of ``@srmudp/relay``'s RelayClient: request ids
    strictly increasing per client; requests made before the relay's greeting wait for it; a
    greeting with a new (instance, epoch) closes every channel (``relay_restarted`` /
    ``hop_reset``); bindings that carried traffic are refreshed at 2/3 of their lifetime, idle ones
    left to expire; requests time out after ``request_timeout_ms``; INCOMINGs the host does not
    answer within ``incoming_timeout_ms`` are rejected ``timeout``."""

    def __init__(
        self,
        relay_id: bytes,
        self_id: bytes,
        *,
        request_timeout_ms: float = 15_000,
        incoming_timeout_ms: float = 10_000,
        max_pending_requests: int = 64,
        max_pending_incoming: int = 16,
    ) -> None:
        if check_key("relay_id", relay_id) == check_key("self_id", self_id):
            raise ValueError('"relay_id" and "self_id" are the same key')
        self.relay_id = bytes(relay_id)
        self.self_id = bytes(self_id)
        self._request_timeout = request_timeout_ms
        self._incoming_timeout = incoming_timeout_ms
        self._max_requests = max_pending_requests
        self._max_incoming = max_pending_incoming
        self.up = False
        self.ready = False
        self._instance: bytes | None = None
        self._epoch = -1
        self.announced: Status | None = None
        self._next_request = 1
        self._last_incoming = 0
        self._requests: dict[int, _Request] = {}
        self._incoming: dict[int, tuple[bytes, float]] = {}
        self._channels: dict[int, _Channel] = {}
        self._out: deque[bytes] = deque()
        self._events: deque[RelayEvent] = deque()
        self.stats = RelayClientStats()

    # ------------------------------------------------------------------------------ hop

    def hop_up(self, now: float) -> None:
        self.up = True

    def hop_down(self, now: float) -> None:
        """The hop session ended: every channel closes and every request fails ``hop_down``."""
        self.up = False
        self.ready = False
        self._out.clear()
        self._forget("hop_down", every=True)

    # ------------------------------------------------------------------------- requests

    def connect(self, now: float, target: bytes, limits: Limits = Limits(), first_packet: bytes | None = None) -> int:
        """Asks for a circuit to ``target``; the answer is a CircuitBound or CircuitRejected with
        the returned request id. SrmudpError RELAY_HOP_DOWN while the hop is down."""
        if check_key("target", target) == self.self_id:
            raise ValueError("cannot open a circuit to our own key")
        rid = self._new_request_id()
        data = encode_control(Connect(rid, bytes(target), limits, None, first_packet))
        self._request(now, rid, "connect", bytes(target), 0, data)
        return rid

    def accept(self, now: float, incoming_id: int, limits: Limits = Limits()) -> int:
        inc = self._incoming.pop(incoming_id, None)
        if inc is None:
            raise SrmudpError("RELAY_UNKNOWN_INCOMING", f"no incoming request {incoming_id} is waiting")
        rid = self._new_request_id()
        self._request(now, rid, "accept", inc[0], 0, encode_control(Accept(rid, incoming_id, limits)))
        return rid

    def reject(self, now: float, incoming_id: int, reason: str = "refused") -> None:
        if self._incoming.pop(incoming_id, None) is None:
            raise SrmudpError("RELAY_UNKNOWN_INCOMING", f"no incoming request {incoming_id} is waiting")
        self._send(encode_control(Reject(incoming_id, reason)))

    def close(self, now: float, channel: int) -> None:
        if self._channels.pop(channel, None) is not None and self.ready:
            self._send(encode_control(Close(0, channel, "normal")))

    def channel_of(self, peer: bytes) -> int:
        for c in self._channels.values():
            if c.peer == peer:
                return c.channel
        return -1

    def channels(self) -> list[tuple[int, bytes, str]]:
        return [(c.channel, c.peer, c.role) for c in self._channels.values()]

    # ----------------------------------------------------------------------------- data

    def wrap(self, channel: int, packet: bytes) -> bytes | None:
        """The datagram carrying ``packet`` on ``channel``, or None when it is not bound."""
        ch = self._channels.get(channel)
        if ch is None:
            return None
        ch.used = True
        self.stats.packets_out += 1
        return encode_channel_data(channel, packet)

    def unwrap(self, data: bytes) -> tuple[bytes, bytes] | None:
        """``(peer, end-to-end packet)`` of a channel datagram, or None (dropped and counted)."""
        try:
            channel, packet = decode_channel_data(data)
        except WireDecodeError:
            self._drop("malformed")
            return None
        ch = self._channels.get(channel)
        if ch is None:
            self._drop("unknown_channel")
            return None
        ch.used = True
        self.stats.packets_in += 1
        return ch.peer, packet

    # -------------------------------------------------------------------------- control

    def handle_control(self, now: float, data: bytes) -> None:
        """A control message from the relay (a MESSAGE of the hop session). Never raises."""
        self.stats.control_received += 1
        try:
            m = decode_control(data)
        except WireDecodeError:
            self._drop("control_malformed")
            return
        why: str | None
        if isinstance(m, Status):
            why = self._on_status(m)
        elif isinstance(m, Bound):
            why = self._on_bound(now, m)
        elif isinstance(m, Reject):
            req = self._requests.get(m.request_id)
            if req is None or not req.sent:
                why = "control_unexpected"
            else:
                del self._requests[m.request_id]
                if req.kind == "refresh":  # the relay no longer knows the channel
                    self._close_channel(req.channel, "unknown_channel")
                else:
                    self._fail(req, m.reason)
                why = None
        elif isinstance(m, Incoming):
            why = self._on_incoming(now, m)
        elif isinstance(m, Close):
            why = None if self._close_channel(m.channel, m.reason) else "control_duplicate"
        else:
            why = "control_unexpected"
        if why is not None:
            self._drop(why)

    def _on_status(self, s: Status) -> str | None:
        if s.code != "healthy":
            if s.code == "denied":
                self.ready = False
            self._events.append(RelayNotice(s))
            return None
        same = self._instance == s.instance and self._epoch == s.epoch
        if same and self.ready:
            return "control_duplicate"
        restarted = self._instance is not None and self._instance != s.instance
        if not same:
            self._forget("relay_restarted" if restarted else "hop_reset", every=False)
        self._instance, self._epoch, self.announced = s.instance, s.epoch, s
        self.up = self.ready = True
        self._events.append(RelayReady(s.instance, restarted, s.rate, s.burst, s.max_circuits, s.max_message_size))
        for req in self._requests.values():
            if not req.sent:
                req.sent = True
                self._send(req.data)
        return None

    def _on_bound(self, now: float, m: Bound) -> str | None:
        req = self._requests.get(m.request_id)
        if req is None or not req.sent:
            return "control_unexpected"
        del self._requests[req.id]
        if req.kind == "refresh":
            ch = self._channels.get(req.channel)
            if ch is None or m.channel != req.channel:
                return "control_unexpected"
            ch.bound_at, ch.expires_at, ch.used, ch.refreshing = now, now + m.expires_in_ms, False, False
            return None
        if m.peer != req.peer or m.channel in self._channels:
            # a relay binding us to someone else (or reusing a live channel): give it back
            self._send(encode_control(Close(0, m.channel, "normal")))
            self._fail(req, "malformed")
            return "control_unexpected"
        role = "requester" if req.kind == "connect" else "target"
        self._channels[m.channel] = _Channel(m.channel, req.peer, role, m.limits, now, now + m.expires_in_ms)
        self.stats.bound += 1
        self._events.append(CircuitBound(req.id, m.channel, req.peer, role, m.limits))
        return None

    def _on_incoming(self, now: float, m: Incoming) -> str | None:
        if m.request_id <= self._last_incoming:
            return "control_duplicate"
        self._last_incoming = m.request_id
        if m.voucher is not None:
            self._send(encode_control(Reject(m.request_id, "unsupported")))
            return "incoming_voucher"
        if len(self._incoming) >= self._max_incoming:
            self._send(encode_control(Reject(m.request_id, "resource_limit")))
            return "incoming_full"
        self._incoming[m.request_id] = (m.requester, now + self._incoming_timeout)
        self._events.append(IncomingCircuit(m.request_id, m.requester, m.limits))
        return None

    # ------------------------------------------------------------------ timers, outputs

    def poll_timeout(self) -> float | None:
        t = float("inf")
        for r in self._requests.values():
            t = min(t, r.deadline)
        for _, deadline in self._incoming.values():
            t = min(t, deadline)
        for c in self._channels.values():
            t = min(t, c.expires_at + _EXPIRY_GRACE_MS)
            if c.used and not c.refreshing and self.ready:
                t = min(t, _refresh_at(c))
        return None if t == float("inf") else t

    def handle_timeout(self, now: float) -> None:
        for r in list(self._requests.values()):
            if r.deadline > now:
                continue
            del self._requests[r.id]
            if r.kind == "refresh":
                ch = self._channels.get(r.channel)
                if ch is not None:
                    ch.refreshing = False
            else:
                self._fail(r, "timeout")
        for iid, (_, deadline) in list(self._incoming.items()):
            if deadline <= now:
                del self._incoming[iid]
                if self.ready:
                    self._send(encode_control(Reject(iid, "timeout")))
        for c in list(self._channels.values()):
            if c.expires_at + _EXPIRY_GRACE_MS <= now:
                self._close_channel(c.channel, "expired")
            elif c.used and not c.refreshing and self.ready and _refresh_at(c) <= now:
                if len(self._requests) < self._max_requests:
                    c.refreshing = True
                    rid = self._next_request
                    self._next_request += 1
                    self._request(now, rid, "refresh", c.peer, c.channel, encode_control(Refresh(rid, c.channel)))

    def poll_transmit(self) -> bytes | None:
        """The next control message to send in the hop session (reliable, ordered, whole)."""
        return self._out.popleft() if self._out else None

    def poll_event(self) -> RelayEvent | None:
        return self._events.popleft() if self._events else None

    # ------------------------------------------------------------------------ internals

    def _new_request_id(self) -> int:
        if not self.up:
            raise SrmudpError("RELAY_HOP_DOWN", "the hop session to the relay is down")
        if len(self._requests) >= self._max_requests:
            raise SrmudpError("RELAY_TOO_MANY_REQUESTS", f"{self._max_requests} requests are waiting for an answer")
        rid = self._next_request
        self._next_request += 1
        return rid

    def _request(self, now: float, rid: int, kind: str, peer: bytes, channel: int, data: bytes) -> None:
        self._requests[rid] = _Request(rid, kind, peer, channel, now + self._request_timeout, data, self.ready)
        self.stats.requests += 1
        if self.ready:
            self._send(data)

    def _send(self, data: bytes) -> None:
        self._out.append(data)
        self.stats.control_sent += 1

    def _fail(self, req: _Request, reason: str) -> None:
        if req.kind == "refresh":
            return
        self.stats.rejected += 1
        self._events.append(CircuitRejected(req.id, req.kind, req.peer, reason))

    def _close_channel(self, channel: int, reason: str) -> bool:
        ch = self._channels.pop(channel, None)
        if ch is None:
            return False
        self.stats.closed += 1
        self._events.append(CircuitClosed(channel, ch.peer, reason))
        return True

    def _forget(self, reason: str, every: bool) -> None:
        for ch in list(self._channels):
            self._close_channel(ch, reason)
        for r in list(self._requests.values()):
            if every or r.sent:
                del self._requests[r.id]
                self._fail(r, reason)
        self._incoming.clear()
        self._last_incoming = 0

    def _drop(self, reason: str) -> None:
        self.stats.dropped[reason] = self.stats.dropped.get(reason, 0) + 1


def _refresh_at(c: _Channel) -> float:
    return c.bound_at + (c.expires_at - c.bound_at) * 2 / 3
