"""Sans-IO endpoint: one UDP socket, many authenticated connections (the rules of
``@srmudp/core``). Demultiplexes datagrams (STUN / srmudp), runs the secure endpoint, one
reliability state machine per peer, the boot-id restart rule, anti-amplification towards
unvalidated addresses, path validation and migration, graceful and immediate close, and counts
every dropped datagram by reason. No I/O, no clock: ``now`` is monotonic milliseconds.

A connection exists only once the peer proved it holds the session keys (crypto reports it
then): the initiator got an authenticated response, an XX responder message 3, an IK responder
the initiator's first packet under the new keys (key confirmation: an initiation alone may be a
replay). So every connection's path is validated from its start.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable, Literal, Union

from . import reliability as rel
from .closed_peers import ClosedPeers, numbers_on
from .errors import SrmudpError, WireDecodeError
from .handshake_guard import HandshakeLimits
from .identity import Identity
from .reliability import Limits, Reliable
from .secure import Address, Channel, DataResult, Established, Failed, FailureCode, Rekeyed, SecureEndpoint, Timing
from .wire import PathChallenge, PathResponse, Ping, classify_datagram, decode_frames

BOOT_ID_OPTION = 0x10
BOOT_ID_LENGTH = 8
AMPLIFICATION_FACTOR = 3
MAX_AMP_ADDRESSES = 16_384
MIN_DRAIN_MS = 2_000
MAX_DRAIN_MS = 10_000
PATH_CHALLENGE_TRIES = 5


class CloseCode:
    IDLE_TIMEOUT = 0x12
    PEER_RESTARTED = 0x13
    SESSION_EXPIRED = 0x14


def lost_peer_code(code: int, remote: bool) -> str | None:
    """The error code of a close the peer did not send but that says it is unreachable: our idle
    timeout (``IDLE_TIMEOUT``, like ETIMEDOUT) or keys lost because the peer never answered a
    handshake (``SESSION_EXPIRED``); None for the others (a close by the peer, or our own). The
    node names a closed connection's error by it, as core's ``lostPeerCode`` does for Node."""
    if remote:
        return None
    if code == CloseCode.IDLE_TIMEOUT:
        return "IDLE_TIMEOUT"
    if code == CloseCode.SESSION_EXPIRED:
        return "SESSION_EXPIRED"
    return None


def handshake_failure(code: FailureCode) -> SrmudpError:
    """A dial's failed handshake (the secure layer's failure code) as its typed error."""
    if code == "HANDSHAKE_TIMEOUT":
        return SrmudpError("HANDSHAKE_TIMEOUT", "no answer to the handshake (peer unreachable, or it refused us)")
    if code == "PEER_REFUSED":
        return SrmudpError("REFUSED", "the peer's key was refused")
    return SrmudpError("SESSION_EXPIRED", "session keys expired")


def keys_lost(code: FailureCode) -> str:
    """Why an established connection lost its keys (the secure layer's failure code after
    establishment), as the reason of its SESSION_EXPIRED close (core's ``keysLost``)."""
    if code == "SESSION_EXPIRED":
        return "session keys expired and no rekey was answered"
    if code == "HANDSHAKE_TIMEOUT":
        # the early session of a simultaneous open, or a new session of ours the peer never confirmed
        return "the peer never used the new session (no packet under its keys within the handshake timeout)"
    return "the peer's key was refused on a rekey (the accept policy)"


ConnState = Literal["handshaking", "established", "closing", "closed"]


# -------------------------------------------------------------------------------------- events


@dataclass
class Connected:
    conn: Connection
    remote_key: bytes
    outgoing: bool


@dataclass
class ConnectFailed:
    conn: Connection
    error: SrmudpError


@dataclass
class ConnectionClosed:
    conn: Connection
    code: int
    reason: str
    remote: bool


@dataclass
class PathChanged:
    conn: Connection
    path: Address


@dataclass
class ConnectionEvent:
    """A reliability event of one connection (stream opened, readable, message...)."""

    conn: Connection
    event: rel.Event


EndpointEvent = Union[Connected, ConnectFailed, ConnectionClosed, PathChanged, ConnectionEvent]


class AmplificationGuard:
    """RFC 9000 §8: before an address is validated we send it at most 3x what it sent us. The
    table is bounded (oldest forgotten), which can only make us send less."""

    def __init__(self) -> None:
        self._t: OrderedDict[Address, list[int]] = OrderedDict()

    def received(self, a: Address, n: int) -> None:
        e = self._t.get(a)
        if e is None:
            e = self._t[a] = [0, 0]
            if len(self._t) > MAX_AMP_ADDRESSES:
                self._t.popitem(last=False)
        e[0] += n

    def remaining(self, a: Address) -> int:
        e = self._t.get(a)
        return 0 if e is None else AMPLIFICATION_FACTOR * e[0] - e[1]

    def try_send(self, a: Address, n: int) -> bool:
        e = self._t.get(a)
        if e is None or AMPLIFICATION_FACTOR * e[0] - e[1] < n:
            return False
        e[1] += n
        return True

    def forget(self, a: Address) -> None:
        self._t.pop(a, None)


class Connection:
    """One connection to one peer: its secure channel(s), the reliability state (from
    establishment on), the path and the path being validated, graceful close."""

    def __init__(self, ep: Endpoint, cid: int, outgoing: bool, remote_key: bytes | None) -> None:
        self._ep = ep
        self.id = cid
        self.outgoing = outgoing
        self.remote_key = remote_key
        self.state: ConnState = "handshaking"
        self.candidates: list[Address] = []
        self.channel: Channel | None = None
        self.channels: list[Channel] = []
        self.rel: Reliable | None = None
        self.path: Address | None = None
        self.remote_boot: bytes | None = None
        self.drops: dict[str, int] = {}
        self._largest_pn = -1
        #: the 'closed' it emitted was the peer's (its CLOSE, or a restart we inferred)
        self.closed_remotely = False
        self._probe: tuple[Address, bytes, int, float] | None = None  # address, data, tries, next_at
        self._core_out: deque[tuple[PathChallenge | PathResponse, Address]] = deque()
        self._routed: tuple[PathChallenge | PathResponse, Address] | None = None
        self._draining = False
        self._drain_until = float("inf")
        self._close_code = 0
        self._close_reason = ""
        self.finished = False
        self._connected_emitted = False
        self._closed_emitted = False
        self._current_from: Address | None = None
        self._recv_open: set[int] = set()
        self._finished_emitted: set[int] = set()
        #: a new connection to the same peer, started when this one has finished closing
        self.deferred: Connection | None = None

    # ------------------------------------------------------------------------------ API

    def _open(self) -> Reliable:
        if self.rel is None or self.state == "handshaking":
            raise SrmudpError("NOT_CONNECTED", f"connection {self.id} is not established yet")
        if self.state != "established" or self.rel.state != "open":
            raise SrmudpError("CONNECTION_CLOSED", f"connection {self.id} is closed")
        return self.rel

    def open_stream(self) -> int:
        sid = self._open().open_stream()
        self._recv_open.add(sid)
        return sid

    def write(self, sid: int, data: bytes) -> int:
        if self.rel is None or self._draining or self.state != "established":
            return 0
        return self.rel.write(sid, data)

    def finish(self, sid: int) -> None:
        if self.rel is not None and self.rel.state == "open":
            self.rel.finish(sid)

    def read(self, sid: int, max_bytes: int = 2**62) -> bytes | None:
        if self.rel is None:
            return None
        out = self.rel.read(sid, max_bytes, self._ep.last_now)
        self._drain_reliable()
        return out

    def reset(self, sid: int, code: int) -> None:
        if self.rel is not None and self.rel.state == "open":
            self.rel.reset(sid, code)

    def stop_sending(self, sid: int, code: int) -> None:
        if self.rel is not None and self.rel.state == "open":
            self.rel.stop_sending(sid, code)

    def send_message(self, data: bytes, unordered: bool = False) -> bool:
        return self._open().send_message(data, unordered)

    def send_datagram(self, data: bytes) -> bool:
        if self.rel is None or self.state != "established" or self._draining:
            self._drop("datagram_not_open")
            return False
        return self.rel.send_datagram(data)

    def close(self, now: float, code: int = 0, reason: str = "") -> None:
        """Graceful: keeps sending until every byte written is acknowledged (at most max(3 PTO,
        2 s) and 10 s), then CLOSE. Before establishment: the dial fails with CLOSED. ``now`` is
        the driver's clock: the drain deadline and the closing period start from it."""
        self._ep._tick(now)
        if self.state == "closed" or self._draining:
            return
        if self.state == "handshaking" or self.rel is None:
            self.fail(SrmudpError("CLOSED", f"connection {self.id} closed before it was established"))
            return
        if self.state == "closing":
            return
        self._draining = True
        self._close_code = code
        self._close_reason = reason
        self.state = "closing"
        self._drain_until = now + min(MAX_DRAIN_MS, max(3 * self._pto(), MIN_DRAIN_MS))
        self._maybe_finish_drain(now)

    def close_immediately(self, now: float, code: int = 0, reason: str = "") -> None:
        """Closes at once (QUIC's CONNECTION_CLOSE, RFC 9000 §10.2): CLOSE is the next packet,
        ahead of queued data, which is abandoned; a graceful close still draining is cut short."""
        self._ep._tick(now)
        if self.state == "closed":
            return
        r = self.rel
        if self.state == "handshaking" or r is None:
            self.fail(SrmudpError("CLOSED", f"connection {self.id} closed before it was established"))
            return
        self._draining = False
        self.state = "closing"
        r.close(now, code, reason)
        self._drain_reliable()

    def stats(self) -> dict[str, object]:
        s: dict[str, object] = dict(self.rel.summary()) if self.rel else {}
        s["state"] = self.state
        s["path"] = self.path
        s["drops"] = dict(self.drops)
        return s

    # --------------------------------------------------------------------- endpoint side

    def establish(self, now: float, channel: Channel, handshake_rtt: float | None) -> None:
        self.channel = channel
        if channel not in self.channels:
            self.channels.append(channel)
        if self.rel is not None:
            return
        remote_key = channel.remote_key
        assert remote_key is not None
        self.remote_key = remote_key
        # stream-id parity must differ on the two sides even when both dialled: decide it by the
        # keys (the smaller peer id opens even ids), not by who initiated
        role: Literal["initiator", "responder"] = "initiator" if self._ep.identity.public_key < remote_key else "responder"
        host = channel.address[0]
        self.rel = Reliable(
            role,
            now,
            limits=self._ep.limits,
            # through a relay (wire-format.md §9.2): the hop's ceiling minus the 4-byte channel header
            max_udp_payload=1468 if host.startswith("via~") else 1452 if ":" in host else 1472,
            keepalive_ms=self._ep.keepalive_ms,
            idle_timeout_ms=self._ep.idle_timeout_ms,
        )
        if handshake_rtt is not None:
            self.rel.seed_rtt(handshake_rtt)
        self.path = channel.address
        self.state = "established"
        self._ep.amp.forget(self.path)
        # an authenticated packet from us at once: it confirms the new keys to an IK responder
        # (which does not use them before), and measures the RTT
        self.rel.queue_frame(Ping())
        self._connected_emitted = True
        self._ep._emit(Connected(self, remote_key, self.outgoing))

    @property
    def largest_received(self) -> int:
        """The largest packet number we had from the peer, -1 before the first."""
        return self._largest_pn

    @property
    def was_connected(self) -> bool:
        """Its Connected event was emitted (only such a connection emits ConnectionClosed)."""
        return self._connected_emitted

    def continued_by(self, pn: int) -> bool:
        """Whether the peer's first packet under a new session, numbered ``pn``, numbers on from
        this connection's packets (``closed_peers.numbers_on``): the peer renewed this connection's
        keys, whatever our state."""
        return numbers_on(pn, self._largest_pn)

    def numbering_restarted(self, pn: int) -> bool:
        """Whether the peer's first packet under a new session, numbered ``pn``, is numbered at or
        below one we already had from it: a peer that continues this connection numbers on, so its
        numbering started again in a new connection (it closed this one and its CLOSE was lost)."""
        return self.state == "established" and not numbers_on(pn, self._largest_pn)

    def on_packet(self, now: float, frm: Address, pn: int, plaintext: bytes) -> None:
        r = self.rel
        if r is None:
            return
        if frm != self.path:
            self._on_other_address(now, frm, pn)
        self._largest_pn = max(self._largest_pn, pn)
        self._current_from = frm
        r.handle_packet(now, pn, plaintext)
        self._drain_reliable()
        if self._recv_open:
            for sid in list(self._recv_open):
                if r.recv_complete(sid):
                    self._emit_finished(sid)
        self._current_from = None

    def poll_transmit(self, now: float) -> tuple[Address, bytes] | None:
        r = self.rel
        ch = self.channel
        if r is None or self.finished or ch is None or not ch.is_established or self.path is None:
            return None
        amp = self._ep.amp
        if self._routed is None and self._core_out:
            frame, to = self._core_out[0]
            if to == self.path or amp.remaining(to) >= r.mtu.current:
                self._core_out.popleft()
                if r.queue_frame(frame):
                    self._routed = (frame, to)
        t = r.poll_transmit(now)
        if t is None and self._draining:
            self._maybe_finish_drain(now)
            if not self._draining:
                t = r.poll_transmit(now)  # the CLOSE frame, now rather than at the next timer
        if t is None:
            return None
        to = self.path
        if self._routed is not None and _carries(t.payload, self._routed[0]):
            to = self._routed[1]
            self._routed = None
        try:
            data = ch.seal(t.packet_number, t.payload)
        except (SrmudpError, ValueError):
            self._drop("seal_failed")
            return None
        if to != self.path and not amp.try_send(to, len(data)):
            self._drop("amplification_limit")
            return None
        return to, data

    def poll_timeout(self) -> float | None:
        r = self.rel
        if r is None or self.finished:
            return None
        t = r.poll_timeout()
        t = float("inf") if t is None else t
        if self._probe is not None:
            t = min(t, self._probe[3])
        if self._draining:
            t = min(t, self._drain_until)
        return None if t == float("inf") else t

    def handle_timeout(self, now: float) -> None:
        r = self.rel
        if r is None or self.finished:
            return
        rt = r.poll_timeout()
        if rt is not None and rt <= now:
            r.handle_timeout(now)
        p = self._probe
        if p is not None and now >= p[3]:
            if p[2] >= PATH_CHALLENGE_TRIES:
                self._probe = None
                self._drop("path_validation_failed")
            else:
                self._send_challenge(now, p[0], p[1], p[2])
        if self._draining:
            self._maybe_finish_drain(now)
        self._drain_reliable()
        if r.state == "closed":
            self._finalize()

    def fail(self, error: SrmudpError) -> None:
        if self.state == "closed":
            return
        if self._connected_emitted:
            # the keys were lost here (the peer sent nothing): a close of ours, remote False
            self.close_now(CloseCode.SESSION_EXPIRED, str(error), False)
            return
        self.state = "closed"
        self._ep._emit(ConnectFailed(self, error))
        self._finalize()

    def close_now(self, code: int, reason: str, remote: bool) -> None:
        """Abrupt close (peer restarted, session expired): no CLOSE can be sent."""
        if self.state == "closed":
            return
        self.state = "closed"
        self._emit_closed(code, reason, remote)
        self._finalize()

    # ----------------------------------------------------------------------- internals

    def _drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def _pto(self) -> float:
        if self.rel is None:
            return 1000.0
        return self.rel.rtt.pto(25)

    def _on_other_address(self, now: float, frm: Address, pn: int) -> None:
        """RFC 9000 §9.3: authenticated packets from a new address (NAT rebinding). Only the
        highest packet number so far counts; the new address is validated before we move."""
        if pn <= self._largest_pn:
            return
        if self._probe is not None and self._probe[0] == frm:
            return
        self._send_challenge(now, frm, self._ep.random(8), 0)

    def _send_challenge(self, now: float, address: Address, data: bytes, tries: int) -> None:
        tries += 1
        self._probe = (address, data, tries, now + max(200, 2 * self._pto()) * 2 ** (tries - 1))
        self._core_out = deque(x for x in self._core_out if not isinstance(x[0], PathChallenge))
        self._core_out.append((PathChallenge(data), address))

    def _on_path_response(self, data: bytes) -> None:
        p = self._probe
        if p is None or p[1] != data:
            self._drop("path_response_unexpected")
            return
        self._probe = None
        moved = self.path != p[0]
        self.path = p[0]
        if moved and self.rel is not None:
            self.rel.reset_path(self._ep.last_now)
        for ch in self.channels:
            ch.address = p[0]  # rekeys go to the new address too
        self._ep.amp.forget(p[0])
        self._ep._emit(PathChanged(self, p[0]))

    def _maybe_finish_drain(self, now: float) -> None:
        r = self.rel
        if r is None or not self._draining:
            return
        if r.state != "open":
            self._draining = False
            return
        if now < self._drain_until and not (r.send_backlog() == 0 and r.bytes_in_flight == 0):
            return
        self._draining = False
        r.close(now, self._close_code, self._close_reason)
        self._drain_reliable()

    def _drain_reliable(self) -> None:
        r = self.rel
        if r is None:
            return
        while (ev := r.poll_event(self._ep.last_now)) is not None:
            if isinstance(ev, rel.StreamOpened):
                self._recv_open.add(ev.stream_id)
                self._ep._emit(ConnectionEvent(self, ev))
            elif isinstance(ev, rel.StreamFinished):
                self._emit_finished(ev.stream_id)
            elif isinstance(ev, rel.StreamReset):
                self._recv_open.discard(ev.stream_id)
                self._ep._emit(ConnectionEvent(self, ev))
            elif isinstance(ev, rel.CoreFrame):
                f = ev.frame
                if isinstance(f, PathChallenge):
                    # RFC 9000 §8.2.2: answer on the path the challenge arrived on
                    self._core_out.append((PathResponse(bytes(f.data)), self._current_from or self.path))  # type: ignore[arg-type]
                    while len(self._core_out) > 8:
                        self._core_out.popleft()
                elif isinstance(f, PathResponse):
                    self._on_path_response(bytes(f.data))
                else:
                    self._drop("relay_unsupported")
            elif isinstance(ev, rel.Closed):
                self.state = "closing"
                self._draining = False
                if ev.error == "IDLE_TIMEOUT":
                    # our own timer: nothing authenticated arrived for that long (the peer may be
                    # gone, or the path broken); not something the peer said
                    s = math.floor(self._ep.idle_timeout_ms / 1000 + 0.5)
                    self._emit_closed(CloseCode.IDLE_TIMEOUT, f"idle timeout: nothing received from the peer for {s} s", False)
                else:
                    self._emit_closed(ev.code, ev.reason, ev.remote)
                if r.state == "closed":
                    self._finalize()
            elif isinstance(ev, rel.StreamStopped):
                self._ep._emit(ConnectionEvent(self, ev))
            else:
                self._ep._emit(ConnectionEvent(self, ev))

    def _emit_finished(self, sid: int) -> None:
        self._recv_open.discard(sid)
        if sid in self._finished_emitted:
            return
        self._finished_emitted.add(sid)
        self._ep._emit(ConnectionEvent(self, rel.StreamFinished(sid)))

    def _emit_closed(self, code: int, reason: str, remote: bool) -> None:
        if self._closed_emitted or not self._connected_emitted:
            return
        self._closed_emitted = True
        self.closed_remotely = remote
        self._ep._emit(ConnectionClosed(self, code, reason, remote))

    def _finalize(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.state = "closed"
        self._probe = None
        self._core_out.clear()
        self._routed = None
        self._ep._on_finished(self)


def _carries(payload: bytes, frame: PathChallenge | PathResponse) -> bool:
    """True when ``payload`` holds ``frame`` (a routed path challenge/response)."""
    try:
        return any(
            isinstance(f, (PathChallenge, PathResponse)) and type(f) is type(frame) and f.data == frame.data
            for f in decode_frames(payload)
        )
    except WireDecodeError:
        return False


class Endpoint:
    def __init__(
        self,
        identity: Identity,
        now: float,
        *,
        random: Callable[[int], bytes] = os.urandom,
        accept: Callable[[bytes, Address], bool] | None = None,
        limits: Limits | None = None,
        keepalive_ms: float = 15_000,
        idle_timeout_ms: float = 30_000,
        handshake_timeout_ms: float = 10_000,
        max_connections: int = 4096,
        max_pending_handshakes: int = 1024,
        cookie_threshold: int = 64,
        wall_clock_offset_ms: float = 0.0,
    ) -> None:
        """``max_pending_handshakes``: half-open XX and IK handshakes awaiting key confirmation
        (when full the oldest is evicted; at most 4 per source address and max(4, min(64,
        this / 4)) per /24 or /64). ``cookie_threshold``: initiations per second above which
        initiations need a cookie (0: always). ``wall_clock_offset_ms``: wall clock minus ``now``
        (ms), which stamps our IK initiations (replay protection that survives our restarts)."""
        self.identity = identity
        self.random = random
        self.limits = limits or Limits()
        self.keepalive_ms = keepalive_ms
        self.idle_timeout_ms = idle_timeout_ms
        self.max_connections = max_connections
        self.last_now = now
        self.amp = AmplificationGuard()
        self.boot_id = random(BOOT_ID_LENGTH)
        self._accept = accept
        self.secure = SecureEndpoint(
            identity,
            random=random,
            accept_peer=self._accept_peer,
            options={BOOT_ID_OPTION: self.boot_id},
            # the responder's DoS policy (cookies by rate, per-source budgets) lives in crypto
            limits=HandshakeLimits(
                max_pending=max_pending_handshakes,
                load_threshold=cookie_threshold,
                max_pending_per_prefix=max(4, min(64, math.ceil(max_pending_handshakes / 4))),
            ),
            wall_clock_offset_ms=wall_clock_offset_ms,
            timing=Timing(
                handshake_timeout_ms=handshake_timeout_ms,
                handshake_retransmit_ms=min(1000, max(50, handshake_timeout_ms // 8)),
            ),
        )
        self._next_id = 1
        self._by_id: dict[int, Connection] = {}
        self._by_key: dict[bytes, Connection] = {}
        self._by_channel: dict[Channel, Connection] = {}
        #: the peers whose connection we ended, while they may still continue it (closed_peers.py)
        self.closed_peers = ClosedPeers()
        #: the channel and packet number of the data packet being handled when it is the first
        #: under its session: the packet that confirms an IK responder's session
        self._confirming: tuple[Channel, int] | None = None
        self._out: deque[tuple[Address, bytes]] = deque()
        self._events: deque[EndpointEvent] = deque()
        self._rr: deque[Connection] = deque()
        self.drops: dict[str, int] = {}
        self.received = {"datagrams": 0, "delivered": 0, "handshake": 0}
        self.closed = False

    # ------------------------------------------------------------------------------ API

    def connect(self, now: float, addresses: list[Address], remote_key: bytes | None = None) -> Connection:
        """Starts a connection; progress and result arrive as events. IK with ``remote_key``
        (the peer id), XX (trust on first use) without. The initiation goes to every address."""
        if self.closed:
            raise SrmudpError("ENDPOINT_CLOSED", "endpoint is closed")
        if not addresses:
            raise ValueError('"addresses" must not be empty')
        self._tick(now)
        if remote_key is not None:
            existing = self._by_key.get(remote_key)
            if existing is not None and existing.state in ("handshaking", "established"):
                return existing
        if len(self._by_id) >= self.max_connections:
            raise SrmudpError("LIMIT", "too many connections")
        conn = Connection(self, self._next_id, True, remote_key)
        self._next_id += 1
        conn.candidates = list(addresses)
        self._by_id[conn.id] = conn
        old = self._by_key.get(remote_key) if remote_key is not None else None
        if remote_key is not None:
            self._by_key[remote_key] = conn
        if old is not None and old.state == "closing" and not old.finished:
            # the previous connection to this peer is still in its closing period on the same
            # Noise channel: start the new handshake once it is gone, so the two never share a
            # session (the peer ended its side; @srmudp/core defers the same way)
            old.deferred = conn
            return conn
        self._start(now, conn)
        return conn

    def _start(self, now: float, conn: Connection) -> None:
        ch = self.secure.connect(now, conn.candidates[0], conn.remote_key)
        if ch in self._by_channel and self._by_channel[ch] is not conn:
            old = self._by_channel[ch]
            if old.state == "closing" or old.finished:
                self._by_channel[ch] = conn
        else:
            self._by_channel[ch] = conn
        conn.channels.append(ch)
        conn.channel = ch
        self._pump_secure(now)

    def connection(self, cid: int) -> Connection | None:
        return self._by_id.get(cid)

    def connections(self) -> list[Connection]:
        return list(self._by_id.values())

    def handle(self, now: float, frm: Address, data: bytes) -> None:
        """One received datagram. Never raises: anything invalid is dropped and counted, so
        ``datagrams == delivered + handshake + sum(drops)`` always holds (see :meth:`stats`)."""
        self._tick(now)
        self.received["datagrams"] += 1
        if self.closed:
            self._drop("endpoint_closed")
            return
        try:
            kind = classify_datagram(data)
            if kind != "srmudp":
                self._drop("stun_unanswered" if kind == "stun" else "not_srmudp")
                return
            t = data[0]
            if t & 0xFE != 0x90:
                self.amp.received(frm, len(data))
            r = self.secure.handle(now, frm, data)
            if isinstance(r, DataResult):
                # a key confirmation (a new connection), a rekey completion or a restarted peer
                # must be seen before its data; the first packet of a session may confirm it (an
                # IK responder's), and its number says whose it is
                if r.first_of_session:
                    self._confirming = (r.channel, r.packet_number)
                    try:
                        self._pump_secure(now)
                    finally:
                        self._confirming = None
                else:
                    self._pump_secure(now)
                conn = self._by_channel.get(r.channel)
                if conn is None or conn.finished:
                    self._drop("no_connection")
                else:
                    if r.first_of_session and conn.numbering_restarted(r.packet_number):
                        conn = self._reconnected(now, conn, r.channel)
                    # a datagram from another address than the path: a migration candidate (its
                    # 3x budget for path challenges)
                    if frm != conn.path:
                        self.amp.received(frm, len(data))
                    self.received["delivered"] += 1
                    conn.on_packet(now, frm, r.packet_number, r.plaintext)
            elif r is None:
                self.received["handshake"] += 1
            # (a drop reason string was counted by the secure layer)
            self._pump_secure(now)
        except Exception:  # a bug must not reach the event loop
            self._drop("internal_error")

    def poll_transmit(self, now: float) -> tuple[Address, bytes] | None:
        self._tick(now)
        if self._out:
            return self._out.popleft()
        # round-robin over connections so one bulk transfer does not starve the others
        n = len(self._rr)
        while n > 0:
            n -= 1
            conn = self._rr[0]
            self._rr.rotate(-1)
            if conn.finished:
                continue
            t = conn.poll_transmit(now)
            if t is not None:
                return t
        return None

    def poll_timeout(self) -> float | None:
        t = self.secure.poll_timeout()
        best = float("inf") if t is None else t
        for conn in self._by_id.values():
            c = conn.poll_timeout()
            if c is not None and c < best:
                best = c
        return None if best == float("inf") else best

    def handle_timeout(self, now: float) -> None:
        self._tick(now)
        try:
            st = self.secure.poll_timeout()
            if st is not None and st <= now:
                self.secure.handle_timeout(now)
            self._pump_secure(now)
            for conn in list(self._by_id.values()):
                c = conn.poll_timeout()
                if c is not None and c <= now:
                    conn.handle_timeout(now)
        except Exception:
            self._drop("internal_error")

    def poll_event(self) -> EndpointEvent | None:
        return self._events.popleft() if self._events else None

    def close(self, now: float, code: int = 0, reason: str = "") -> None:
        """Closes every connection at once (QUIC's CONNECTION_CLOSE, RFC 9000 §10.2): each sends
        CLOSE as its next packet, ahead of data still queued (abandoned), then stays closing for
        3 PTO to answer late packets with CLOSE again; dials fail with CLOSED. Use each
        connection's graceful ``close`` first to deliver queued data."""
        self._tick(now)
        for conn in list(self._by_id.values()):
            conn.close_immediately(now, code, reason)

    def destroy(self) -> None:
        self.secure.close()
        self.closed = True
        self._by_id.clear()
        self._by_key.clear()
        self._by_channel.clear()
        self._rr.clear()

    def stats(self) -> dict[str, object]:
        drops = dict(self.drops)
        for k, v in self.secure.dropped.items():
            drops[k] = drops.get(k, 0) + v
        return {
            "connections": sum(1 for c in self._by_id.values() if c.state != "handshaking"),
            "handshaking": sum(1 for c in self._by_id.values() if c.state == "handshaking"),
            "pending_handshakes": self.secure.pending_handshakes(),
            "drops": drops,
            **self.received,
            **self.secure.stats,
        }

    # ----------------------------------------------------------------------- internals

    def _tick(self, now: float) -> None:
        if now > self.last_now:
            self.last_now = now

    def _drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def _emit(self, ev: EndpointEvent) -> None:
        self._events.append(ev)

    def _accept_peer(self, key: bytes, frm: Address, pattern: str, options: dict[int, bytes], incoming: bool) -> bool:
        if not incoming:
            return True  # the application chose to dial; it sees the learnt key in Connected
        existing = self._by_key.get(key)
        if existing is None and len(self._by_id) >= self.max_connections:
            self._drop("connection_limit")
            return False
        if self._accept is not None:
            try:
                if self._accept(key, frm) is not True:
                    self._drop("policy_refused")
                    return False
            except Exception:
                self._drop("policy_refused")
                return False
        return True

    def _is_dialled(self, a: Address) -> bool:
        return any(c.state == "handshaking" and a in c.candidates for c in self._by_id.values())

    def _pump_secure(self, now: float) -> None:
        while (t := self.secure.poll_transmit()) is not None:
            to, data, initiation_of = t
            t0 = data[0]
            if initiation_of is not None and t0 == 0x81:
                conn = self._by_channel.get(initiation_of)
                self._out.append((to, data))
                if conn is not None and conn.state == "handshaking":
                    for a in conn.candidates:
                        if a != to:
                            self._out.append((a, data))
                continue
            if t0 == 0x81 or t0 == 0x83:
                self._out.append((to, data))  # we initiated (a rekey, XX message 3)
                continue
            # handshake responses and cookie replies answer whoever sent an initiation: 3x
            # limit, unless we are dialling that address ourselves (simultaneous open)
            if self._is_dialled(to) or self.amp.try_send(to, len(data)):
                self._out.append((to, data))
            else:
                self._drop("amplification_limit")
        while (ev := self.secure.poll_event()) is not None:
            self._on_secure_event(now, ev)

    def _on_secure_event(self, now: float, ev: Established | Rekeyed | Failed) -> None:
        if isinstance(ev, Established):
            self._on_established(now, ev)
        elif isinstance(ev, Rekeyed):
            self._on_rekeyed(now, ev)
        else:
            self._on_failed(ev)

    def _on_established(self, now: float, ev: Established) -> None:
        ch = ev.channel
        boot = ev.remote_options.get(BOOT_ID_OPTION)
        existing = self._by_channel.get(ch)
        by_key = self._by_key.get(ev.remote_key)
        if (
            existing is not None
            and existing.state == "handshaking"
            and by_key is not None
            and by_key is not existing
            and by_key.state == "established"
        ):
            # an XX dial reached a peer we already have a connection to: one connection per
            # peer; the dial fails with ALREADY_CONNECTED
            self._by_channel[ch] = by_key
            if ch in existing.channels:
                existing.channels.remove(ch)
            by_key.channels.append(ch)
            by_key.channel = ch
            existing.fail(SrmudpError("ALREADY_CONNECTED", f"already connected to this peer (connection {by_key.id})"))
            return
        if existing is not None and not existing.finished:
            existing.remote_boot = boot
            if existing.state == "handshaking":
                self._establish(now, existing, ch, ev.handshake_rtt)
            return
        if by_key is not None and not by_key.finished and by_key.state != "closing":
            self._by_channel[ch] = by_key
            by_key.remote_boot = boot
            if by_key.state == "handshaking":
                by_key.channels.append(ch)
                self._establish(now, by_key, ch, ev.handshake_rtt)
            else:
                by_key.channels.append(ch)
                by_key.channel = ch
            return
        c = self._confirming
        if c is not None and c[0] is ch and self.closed_peers.continues(now, ev.remote_key, boot, c[1]):
            # a session the peer started, confirmed by a packet numbered above every packet it sent
            # in the connection we ended (closed_peers.py): it renewed the keys of that connection,
            # which it still holds since our CLOSE was lost. No connection of ours: the peer,
            # answered no more, times out as it would have without the rekey.
            ch.close()
            return
        conn = Connection(self, self._next_id, False, ev.remote_key)
        self._next_id += 1
        conn.remote_boot = boot
        self._by_id[conn.id] = conn
        self._by_key[ev.remote_key] = conn
        self._by_channel[ch] = conn
        conn.channels.append(ch)
        self._establish(now, conn, ch, ev.handshake_rtt)

    def _on_rekeyed(self, now: float, ev: Rekeyed) -> None:
        ch = ev.channel
        conn = self._by_channel.get(ch)
        boot = ev.remote_options.get(BOOT_ID_OPTION)
        if conn is None:
            return
        restarted = conn.remote_boot is not None and boot is not None and conn.remote_boot != boot
        c = self._confirming
        if not restarted and conn.state == "closing" and c is not None and c[0] is ch and conn.continued_by(c[1]):
            # its packets number on from this connection's: the peer renewed its keys, not having
            # heard our CLOSE yet; the connection goes on closing under the new keys (its CLOSE
            # then reaches the peer), no new connection began
            return
        if restarted or conn.state == "closing" or conn.finished:
            # the peer restarted and handshook again on the same channel: its reliability
            # state is new, ours is stale. Close the old connection, start a fresh one.
            self._replace(now, conn, ch, boot, ev.handshake_rtt, "peer restarted" if restarted else None)
        elif ev.initiator and conn.rel is not None and conn.rel.state == "open":
            # the responder keeps the old keys until we send under the new ones (key
            # confirmation): give it a packet now rather than at the next write or keepalive
            conn.rel.queue_frame(Ping())

    def _reconnected(self, now: float, old: Connection, ch: Channel) -> Connection:
        """The peer's first packet under a new session is numbered as an old one
        (:meth:`Connection.numbering_restarted`): the session began a new connection of the peer's
        (it closed ``old``, its CLOSE never reached us, and it dialled again with the same boot id),
        not a rekey. Without this its packets would be taken as duplicates, acknowledged and never
        delivered."""
        return self._replace(
            now, old, ch, ch.remote_options.get(BOOT_ID_OPTION), None, "peer reconnected: its packet numbers started again"
        )

    def _replace(
        self, now: float, conn: Connection, ch: Channel, boot: bytes | None, rtt: float | None, reason: str | None
    ) -> Connection:
        """A fresh incoming connection takes ``ch`` from ``conn``, which closes as the peer's doing
        (PEER_RESTARTED) when ``reason`` is given."""
        del self._by_channel[ch]
        if not conn.finished:
            if ch in conn.channels:
                conn.channels.remove(ch)
            if conn.channel is ch:
                conn.channel = conn.channels[-1] if conn.channels else None
            if reason is not None:
                conn.close_now(CloseCode.PEER_RESTARTED, reason, True)
        fresh = Connection(self, self._next_id, False, ch.remote_key)
        self._next_id += 1
        fresh.remote_boot = boot
        self._by_id[fresh.id] = fresh
        self._by_key[ch.remote_key] = fresh  # type: ignore[index]
        self._by_channel[ch] = fresh
        fresh.channels.append(ch)
        self._establish(now, fresh, ch, rtt)
        return fresh

    def _on_failed(self, ev: Failed) -> None:
        ch = ev.channel
        conn = self._by_channel.get(ch)
        if conn is None or conn.finished:
            ch.close()
            return
        if conn.state == "handshaking":
            conn.fail(handshake_failure(ev.code))
            return
        conn.fail(SrmudpError("SESSION_EXPIRED", keys_lost(ev.code)))

    def _establish(self, now: float, conn: Connection, ch: Channel, handshake_rtt: float | None) -> None:
        """A connection begins. Crypto reports a session only once the peer proved it holds the
        keys, so the path is validated from here on."""
        if self._by_key.get(ch.remote_key) is not conn:  # type: ignore[arg-type]
            self._by_key[ch.remote_key] = conn  # type: ignore[index]
        self.closed_peers.forget(ch.remote_key)  # type: ignore[arg-type]
        conn.establish(now, ch, handshake_rtt)
        self._rr.append(conn)

    def _on_finished(self, conn: Connection) -> None:
        if conn.remote_key is not None and conn.was_connected and not conn.closed_remotely:
            # our connection ended here, not by the peer's CLOSE: it may still continue it
            self.closed_peers.remember(self.last_now, conn.remote_key, conn.remote_boot, conn.largest_received)
        deferred = conn.deferred
        conn.deferred = None
        self._by_id.pop(conn.id, None)
        if conn.remote_key is not None and self._by_key.get(conn.remote_key) is conn:
            del self._by_key[conn.remote_key]
        for ch in conn.channels:
            if self._by_channel.get(ch) is conn:
                del self._by_channel[ch]
                ch.close()
        try:
            self._rr.remove(conn)
        except ValueError:
            pass
        if deferred is not None and not deferred.finished and deferred.id in self._by_id and not self.closed:
            self._start(self.last_now, deferred)
