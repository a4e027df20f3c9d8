"""The sans-IO reliability state machine of one connection, interoperable with
``@srmudp/reliability``: bidirectional streams, whole messages (ordered and unordered),
unreliable datagrams, SACK acknowledgements and loss recovery (RFC 9002: packet and time
thresholds, probe timeouts), NewReno with pacing, flow control (RFC 9000 §4, the srmudp initial
limits and the message charge), a one-step path-MTU probe, keepalive, idle timeout and close.

Inputs carry ``now`` (monotonic ms). Outputs are drained with :meth:`poll_transmit`,
:meth:`poll_timeout` and :meth:`poll_event`. Nothing here raises on peer input: a protocol
violation closes the connection with a transport error code.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal, Union

from ..errors import SrmudpError, WireDecodeError
from ..wire import (
    DATA_OVERHEAD,
    MAX_VARINT,
    Ack,
    Close,
    Datagram,
    Frame,
    MaxData,
    MaxStreamData,
    MaxStreams,
    Message,
    Padding,
    PathChallenge,
    PathResponse,
    Ping,
    Relay,
    ResetStream,
    StopSending,
    Stream,
    decode_frames,
    encode_frame,
    frame_size,
    message_frame_overhead,
    stream_frame_overhead,
    varint_size,
)
from .buffers import RecvBuffer, SendBuffer
from .recovery import BASE_PLPMTU, AckTracker, MtuProber, NewReno, Pacer, RttEstimator
from .ranges import RangeSet

# Flow-control values both ends assume before any MAX_* frame (there is no transport-parameter
# exchange): each end announces its real limits in its first packets.
PROTOCOL_INITIAL_MAX_DATA = 64 * 1024
PROTOCOL_INITIAL_MAX_STREAM_DATA = 64 * 1024
PROTOCOL_INITIAL_MAX_STREAMS = 16
# A receiver charges each message its highest fragment end plus this much book-keeping to the
# connection window (so many tiny messages cannot exhaust memory); the sender charges the same.
MESSAGE_CHARGE = 64

PACKET_THRESHOLD = 3  # RFC 9002 §6.1.1
MAX_PTO_BACKOFF = 16


class ErrorCode:
    """CLOSE codes; transport codes mirror QUIC's (RFC 9000 §20.1)."""

    NO_ERROR = 0x0
    INTERNAL_ERROR = 0x1
    FLOW_CONTROL_ERROR = 0x3
    STREAM_LIMIT_ERROR = 0x4
    STREAM_STATE_ERROR = 0x5
    FINAL_SIZE_ERROR = 0x6
    FRAME_ENCODING_ERROR = 0x7
    PROTOCOL_VIOLATION = 0xA
    MESSAGE_TOO_LARGE = 0x11
    IDLE_TIMEOUT = 0x12  # local only, never sent


APPLICATION_ERROR_BASE = 0x100
_ERROR_NAMES = {v: k for k, v in vars(ErrorCode).items() if isinstance(v, int)}


@dataclass
class Limits:
    max_streams: int = 100
    stream_receive_window: int = 256 * 1024
    max_stream_receive_window: int = 8 * 1024 * 1024
    connection_receive_window: int = 1024 * 1024
    max_connection_receive_window: int = 8 * 1024 * 1024
    stream_send_buffer: int = 4 * 1024 * 1024
    send_buffer: int = 8 * 1024 * 1024
    max_message_size: int = 8 * 1024 * 1024 - 4096
    datagram_send_queue: int = 256 * 1024
    datagram_receive_queue: int = 1024 * 1024


# ------------------------------------------------------------------------------------- events


@dataclass
class StreamOpened:
    stream_id: int


@dataclass
class Readable:
    stream_id: int


@dataclass
class Writable:
    stream_id: int


@dataclass
class StreamFinished:
    stream_id: int


@dataclass
class StreamReset:
    stream_id: int
    code: int


@dataclass
class StreamStopped:
    stream_id: int
    code: int


@dataclass
class MessageReceived:
    data: bytes
    unordered: bool


@dataclass
class MessageWritable:
    pass


@dataclass
class DatagramReceived:
    data: bytes


@dataclass
class CoreFrame:
    frame: Frame


@dataclass
class Closed:
    code: int
    reason: str
    remote: bool
    error: str | None


Event = Union[
    StreamOpened,
    Readable,
    Writable,
    StreamFinished,
    StreamReset,
    StreamStopped,
    MessageReceived,
    MessageWritable,
    DatagramReceived,
    CoreFrame,
    Closed,
]

State = Literal["open", "closing", "draining", "closed"]


class _ConnError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class RecvWindow:
    """Our limit on what the peer may send (RFC 9000 §4). Credit returns as the application
    consumes; the window doubles when a window's worth is consumed within four RTTs (bounded)."""

    __slots__ = ("limit", "received", "consumed", "window", "max_window", "last_update", "pending")

    def __init__(self, window: int, max_window: int) -> None:
        self.window = window
        self.limit = window
        self.max_window = max_window
        self.received = 0
        self.consumed = 0
        self.last_update = float("-inf")
        self.pending = False

    def on_receive(self, end: int) -> bool:
        if end > self.limit:
            return False
        self.received = max(self.received, end)
        return True

    def on_consume(self, n: int, now: float, srtt: float) -> None:
        self.consumed += n
        if self.limit - self.consumed < self.window / 2:
            self._grant(now, srtt)

    def ensure_window(self, size: int, now: float, srtt: float) -> None:
        if size <= self.window:
            return
        self.window = min(self.max_window, size)
        self._grant(now, srtt)

    def _grant(self, now: float, srtt: float) -> None:
        if now - self.last_update < 4 * srtt and self.window < self.max_window:
            self.window = min(self.window * 2, self.max_window)
        self.last_update = now
        nxt = self.consumed + self.window
        if nxt > self.limit:
            self.limit = nxt
            self.pending = True


class _Stream:
    __slots__ = (
        "id", "peer_initiated", "send", "send_limit", "send_used", "reset_code", "reset_pending", "reset_acked",
        "want_writable", "queued", "recv", "recv_window", "recv_highest", "final_size", "recv_reset", "stop_code",
        "stop_pending", "recv_closed_notified", "readable_notified", "max_data_pending",
    )  # fmt: skip

    def __init__(self, sid: int, peer: bool, limits: Limits) -> None:
        self.id = sid
        self.peer_initiated = peer
        self.send = SendBuffer()
        self.send_limit = PROTOCOL_INITIAL_MAX_STREAM_DATA
        self.send_used = 0
        self.reset_code = -1
        self.reset_pending = False
        self.reset_acked = False
        self.want_writable = False
        self.queued = False
        self.recv = RecvBuffer()
        self.recv_window = RecvWindow(PROTOCOL_INITIAL_MAX_STREAM_DATA, limits.max_stream_receive_window)
        self.max_data_pending = False
        if limits.stream_receive_window > PROTOCOL_INITIAL_MAX_STREAM_DATA:
            self.recv_window.window = self.recv_window.limit = limits.stream_receive_window
            self.max_data_pending = True
        self.recv_highest = 0
        self.final_size = -1
        self.recv_reset = False
        self.stop_code = -1
        self.stop_pending = False
        self.recv_closed_notified = False
        self.readable_notified = False

    def send_done(self) -> bool:
        if self.reset_code >= 0:
            return self.reset_acked
        return self.send.fin and self.send.all_acked()

    def recv_done(self) -> bool:
        if self.recv_reset:
            return self.recv_closed_notified
        if self.final_size < 0:
            return False
        if self.stop_code >= 0:
            return True
        return self.recv.read_offset >= self.final_size and self.recv_closed_notified

    def has_send_work(self, conn_credit: int) -> bool:
        if self.reset_code >= 0:
            return False
        s = self.send
        if s.lost or s.fin_lost:
            return True
        if s.fin and not s.fin_sent and s.sent_end == s.end:
            return True
        if s.sent_end < s.end:
            return self.send_limit > self.send_used and conn_credit > 0
        return False


class _OutMessage:
    __slots__ = ("id", "unordered", "buf", "charged")

    def __init__(self, mid: int, unordered: bool, data: bytes) -> None:
        self.id = mid
        self.unordered = unordered
        self.buf = SendBuffer()
        self.buf.write(data)
        self.buf.fin = True
        self.charged = 0  # credit charged so far; -1 once fully acknowledged

    @property
    def total(self) -> int:
        return self.buf.end


class _InMessage:
    __slots__ = ("total", "buf", "highest", "complete", "data")

    def __init__(self, total: int) -> None:
        self.total = total
        self.buf = RecvBuffer()
        self.highest = 0
        self.complete = False
        self.data: bytes | None = None

    def add(self, offset: int, data: bytes) -> bool:
        if self.complete:
            return False
        self.buf.insert(offset, data)
        self.highest = max(self.highest, offset + len(data))
        if self.buf.contig >= self.total:
            self.complete = True
            self.data = self.buf.read(self.total) or b""
            self.buf.clear()
            return True
        return False


# sent-frame records: (kind, stream or message or None, offset, length, fin)
_K_STREAM, _K_MESSAGE, _K_MAX_DATA, _K_MAX_STREAM_DATA, _K_MAX_STREAMS, _K_RESET, _K_STOP = range(7)
_SentFrame = tuple[int, Any, int, int, bool]


class _Sent:
    __slots__ = ("pn", "time", "size", "eliciting", "frames", "mtu_probe", "ack_largest")

    def __init__(self, pn: int, time: float, size: int, eliciting: bool, frames: list[_SentFrame] | None, probe: bool) -> None:
        self.pn = pn
        self.time = time
        self.size = size
        self.eliciting = eliciting
        self.frames = frames
        self.mtu_probe = probe
        self.ack_largest = -1


@dataclass
class Transmit:
    packet_number: int
    payload: bytes
    datagram_size: int


class Reliable:
    """One connection's reliability. ``role`` decides stream-id parity: ``initiator`` opens even
    ids, ``responder`` odd ids (srmudp decides the role by comparing the two peer ids)."""

    def __init__(
        self,
        role: Literal["initiator", "responder"],
        now: float,
        *,
        limits: Limits | None = None,
        overhead: int = DATA_OVERHEAD,
        max_udp_payload: int = 1472,
        keepalive_ms: float = 15_000,
        idle_timeout_ms: float = 30_000,
        max_ack_delay_ms: float = 25,
        initial_rtt_ms: float = 333,
    ) -> None:
        if role not in ("initiator", "responder"):
            raise ValueError(f'"role" expected initiator or responder, got {role!r}')
        self.role = role
        self.limits = limits or Limits()
        lim = self.limits
        if lim.max_connection_receive_window < lim.max_message_size + MESSAGE_CHARGE:
            raise ValueError('"max_connection_receive_window" must exceed max_message_size')
        self.overhead = overhead
        self.max_ack_delay = max_ack_delay_ms
        self.keepalive_ms = keepalive_ms
        self.idle_timeout_ms = idle_timeout_ms
        self.state: State = "open"
        self.rtt = RttEstimator(initial_rtt_ms)
        self._initial_rtt = initial_rtt_ms
        self.mtu = MtuProber(max_udp_payload)
        self.cc = NewReno(BASE_PLPMTU)
        self.pacer = Pacer(now, BASE_PLPMTU)
        self.acks = AckTracker(max_ack_delay_ms)
        # sending
        self._next_pn = 0
        self._sent: dict[int, _Sent] = {}
        self._sent_low = 0
        self._largest_acked = -1
        self.bytes_in_flight = 0
        self._eliciting_in_flight = 0
        self._last_eliciting_sent = 0.0
        self._loss_time = float("inf")
        self.pto_count = 0
        self._probes = 0
        self._app_limited = False
        # streams
        self._streams: dict[int, _Stream] = {}
        self._next_local = 0
        self._peer_max_streams = PROTOCOL_INITIAL_MAX_STREAMS
        self._next_peer = 0
        self._local_max_streams = PROTOCOL_INITIAL_MAX_STREAMS
        self._closed_peer_streams = 0
        self._max_streams_pending = False
        self._send_queue: deque[_Stream] = deque()
        self._conn_send_limit = PROTOCOL_INITIAL_MAX_DATA
        self._conn_send_used = 0
        self._conn_recv = RecvWindow(PROTOCOL_INITIAL_MAX_DATA, lim.max_connection_receive_window)
        self._max_data_pending = False
        self._total_buffered = 0
        self._writable_waiters: set[_Stream] = set()
        # messages
        self._out_messages: deque[_OutMessage] = deque()
        self._next_ordered_out = 0
        self._next_unordered_out = 0
        self._message_want_writable = False
        self._in_ordered: dict[int, _InMessage] = {}
        self._in_unordered: dict[int, _InMessage] = {}
        self._next_ordered_in = 0
        self._unordered_done = RangeSet()
        self._retransmit_messages: dict[_OutMessage, None] = {}
        # datagrams, core frames
        self._datagrams: deque[bytes] = deque()
        self._datagram_bytes = 0
        self._datagram_recv_bytes = 0
        self._core_frames: deque[Frame] = deque()
        self._ping_pending = False
        self._last_sent = now
        self._idle_start = now
        self._close_frame: Close | None = None
        self._close_to_send = False
        self._close_until = float("inf")
        self._last_close_sent = float("-inf")
        self._now = now
        self._eliciting_since_receive = False
        self._events: deque[Event] = deque()
        self.stats: dict[str, int] = {
            "bytes_sent": 0, "bytes_received": 0, "packets_sent": 0, "packets_received": 0, "packets_lost": 0,
            "retransmitted_bytes": 0, "duplicate_packets": 0, "undecodable_packets": 0, "after_close": 0,
            "datagram_too_big": 0, "datagram_no_room": 0, "datagram_receive_overflow": 0, "ack_only_packets": 0,
        }  # fmt: skip
        # announce our real windows and stream limit in the first packet
        if lim.connection_receive_window > PROTOCOL_INITIAL_MAX_DATA:
            self._conn_recv.window = self._conn_recv.limit = lim.connection_receive_window
            self._max_data_pending = True
        if lim.max_streams > PROTOCOL_INITIAL_MAX_STREAMS:
            self._local_max_streams = lim.max_streams
            self._max_streams_pending = True

    # ------------------------------------------------------------------------------ streams

    def can_open_stream(self) -> bool:
        return self.state == "open" and self._next_local < self._peer_max_streams

    def open_stream(self) -> int:
        self._check_open()
        if self._next_local >= self._peer_max_streams:
            raise SrmudpError("STREAM_LIMIT", f"peer allows {self._peer_max_streams} streams")
        sid = self._next_local * 2 + (0 if self.role == "initiator" else 1)
        self._next_local += 1
        self._streams[sid] = _Stream(sid, False, self.limits)
        return sid

    def write(self, sid: int, data: bytes) -> int:
        """Queues bytes; returns how many were accepted (short: a Writable event follows)."""
        self._check_open()
        st = self._stream_for_api(sid)
        if st.send.fin:
            raise ValueError(f"stream {sid} is finished")
        if st.reset_code >= 0:
            return 0
        room = min(self.limits.stream_send_buffer - st.send.buffered(), self.limits.send_buffer - self._total_buffered)
        n = max(0, min(room, len(data)))
        if n < len(data):
            st.want_writable = True
            self._writable_waiters.add(st)
        if n == 0:
            return 0
        st.send.write(data[:n] if n < len(data) else data)
        self._total_buffered += n
        self._enqueue(st)
        return n

    def writable(self, sid: int) -> int:
        st = self._stream_for_api(sid)
        if st.send.fin or st.reset_code >= 0:
            return 0
        return max(0, min(self.limits.stream_send_buffer - st.send.buffered(), self.limits.send_buffer - self._total_buffered))

    def finish(self, sid: int) -> None:
        st = self._stream_for_api(sid)
        if st.reset_code >= 0 or st.send.fin:
            return
        st.send.fin = True
        self._enqueue(st)

    def read(self, sid: int, max_bytes: int = 2**62, now: float | None = None) -> bytes | None:
        """Up to ``max_bytes`` in order; None when nothing is buffered. ``now`` times the window
        auto-tuning (credit returns as the application reads)."""
        if now is not None:
            self._now = max(self._now, now)
        st = self._streams.get(sid)
        if st is None:
            if self._is_known_closed(sid):
                return None
            raise ValueError(f"unknown stream {sid}")
        st.readable_notified = False
        if st.recv_reset or st.stop_code >= 0:
            return None
        out = st.recv.read(max_bytes)
        if out is not None:
            st.recv_window.on_consume(len(out), self._now, self.rtt.smoothed)
            if st.recv_window.pending:
                st.max_data_pending = True
            self._conn_recv.on_consume(len(out), self._now, self.rtt.smoothed)
            if self._conn_recv.pending:
                self._max_data_pending = True
        self._check_recv_finished(st)
        self._maybe_forget(st)
        return out

    def reset(self, sid: int, code: int) -> None:
        self._reset_send(self._stream_for_api(sid), code)

    def stop_sending(self, sid: int, code: int) -> None:
        st = self._stream_for_api(sid)
        if st.stop_code >= 0 or st.recv_reset:
            return
        st.stop_code = code
        st.stop_pending = True
        self._discard_recv(st)

    def recv_complete(self, sid: int) -> bool:
        """The peer's FIN and every byte before it arrived (readable, maybe not yet read)."""
        st = self._streams.get(sid)
        if st is None or st.final_size < 0 or st.recv_reset or st.stop_code >= 0:
            return False
        return st.recv.contig >= st.final_size

    def stream_ids(self) -> list[int]:
        return list(self._streams)

    def send_backlog(self) -> int:
        """Bytes and control frames not yet sent or acknowledged (0 with nothing in flight: a
        graceful close may proceed)."""
        n = self._total_buffered + self._datagram_bytes + len(self._core_frames)
        if self._max_data_pending or self._max_streams_pending or self._ping_pending:
            n += 1
        for st in self._streams.values():
            if (not st.reset_acked) if st.reset_code >= 0 else (st.send.fin and not st.send.fin_acked):
                n += 1
            if st.max_data_pending or st.stop_pending:
                n += 1
        return n

    def seed_rtt(self, sample_ms: float) -> None:
        """A round trip measured outside reliability (the handshake) as the first RTT sample."""
        if not self.rtt.has_sample and 0 <= sample_ms < float("inf"):
            self.rtt.update(sample_ms, 0)

    # ------------------------------------------------------------------ messages, datagrams

    def send_message(self, data: bytes, unordered: bool = False) -> bool:
        """Queues a whole-or-nothing message; False when the send buffer is full (a
        MessageWritable event follows); ValueError above ``max_message_size``."""
        if len(data) > self.limits.max_message_size:
            raise ValueError(f"message of {len(data)} bytes exceeds max_message_size {self.limits.max_message_size}")
        self._check_open()
        if self._total_buffered > 0 and self._total_buffered + len(data) > self.limits.send_buffer:
            self._message_want_writable = True
            return False
        if unordered:
            mid = self._next_unordered_out
            self._next_unordered_out += 1
        else:
            mid = self._next_ordered_out
            self._next_ordered_out += 1
        self._out_messages.append(_OutMessage(mid, unordered, bytes(data)))
        self._total_buffered += len(data)
        return True

    def max_payload(self) -> int:
        return self.mtu.current - self.overhead

    def send_datagram(self, data: bytes) -> bool:
        if self.state != "open":
            return False
        if 1 + varint_size(len(data)) + len(data) > self.max_payload():
            self.stats["datagram_too_big"] += 1
            return False
        if self._datagram_bytes + len(data) > self.limits.datagram_send_queue:
            self.stats["datagram_no_room"] += 1
            return False
        self._datagrams.append(bytes(data))
        self._datagram_bytes += len(data)
        return True

    def queue_frame(self, frame: Frame) -> bool:
        """A frame owned by the layer above (PATH_CHALLENGE, PATH_RESPONSE, PING): sent once,
        with priority, not retransmitted."""
        if self.state != "open":
            return False
        if not isinstance(frame, (PathChallenge, PathResponse, Ping)):
            raise TypeError("queue_frame accepts PathChallenge, PathResponse or Ping")
        self._core_frames.append(frame)
        return True

    def close(self, now: float, code: int = 0, reason: str = "") -> None:
        """Sends CLOSE and keeps answering with it for 3 PTO from ``now`` (a cached clock here
        would end the closing period before the CLOSE frame left after an idle gap)."""
        if self.state != "open":
            return
        self._now = max(self._now, now)
        self._enter_closing(code, reason, None, now)

    def reset_path(self, now: float) -> None:
        """After a migration (RFC 9000 §9.4): RTT, congestion state and PMTU restart."""
        self._now = max(self._now, now)
        self.rtt.reset()
        self.cc = NewReno(BASE_PLPMTU)
        self.mtu = MtuProber(self.mtu.ceiling)
        self.pacer = Pacer(now, BASE_PLPMTU)
        self.pto_count = 0

    # ------------------------------------------------------------------------------ sans-IO

    def handle_packet(self, now: float, pn: int, payload: bytes) -> None:
        self._now = max(self._now, now)
        if self.state in ("closed", "draining"):
            self.stats["after_close"] += 1
            return
        try:
            frames = decode_frames(payload)
        except WireDecodeError:
            self.stats["undecodable_packets"] += 1
            if self.state == "open":
                self._enter_closing(ErrorCode.FRAME_ENCODING_ERROR, "undecodable frames", "FRAME_ENCODING_ERROR", now)
            return
        if self.state == "closing":
            self.stats["after_close"] += 1
            if any(isinstance(f, Close) for f in frames):
                self.state = "draining"
                return
            # RFC 9000 §10.2.1: answer with CLOSE again, rate-limited
            if now - self._last_close_sent >= self.rtt.smoothed:
                self._close_to_send = True
            return
        eliciting = any(not isinstance(f, (Ack, Padding, Close)) for f in frames)
        if not self.acks.on_packet(now, pn, eliciting):
            self.stats["duplicate_packets"] += 1
            return
        self.stats["packets_received"] += 1
        self.stats["bytes_received"] += len(payload) + self.overhead
        self._idle_start = now
        self._eliciting_since_receive = False
        try:
            for f in frames:
                self._on_frame(now, f)
                if self.state != "open":
                    return
        except _ConnError as e:
            self._enter_closing(e.code, e.reason, _ERROR_NAMES.get(e.code), now)
        except Exception as e:  # a bug must not take the process down on peer input
            self._enter_closing(ErrorCode.INTERNAL_ERROR, repr(e)[:200], "INTERNAL_ERROR", now)

    def poll_transmit(self, now: float, max_datagram_size: float = float("inf")) -> Transmit | None:
        self._now = max(self._now, now)
        if max_datagram_size < self.mtu.current:
            return None
        if self.state in ("closed", "draining"):
            return None
        if self.state == "closing":
            if not self._close_to_send or self._close_frame is None:
                return None
            self._close_to_send = False
            self._last_close_sent = now
            return self._finish(now, [self._close_frame], False, None, False, -1)
        return self._build(now, max_datagram_size)

    def poll_timeout(self) -> float | None:
        if self.state == "closed":
            return None
        if self.state in ("closing", "draining"):
            return self._close_until
        t = float("inf")
        if self.acks.pending:
            t = min(t, self.acks.deadline)
        t = min(t, self._loss_timer())
        if self.idle_timeout_ms > 0:
            t = min(t, self._idle_deadline())
        if self.keepalive_ms > 0:
            t = min(t, self._last_sent + self.keepalive_ms)
        if self._has_eliciting_work() and self.bytes_in_flight + self.mtu.current <= self.cc.cwnd:
            ns = self.pacer.next_send_time(self._now, self.mtu.current)
            if ns > self._now:
                t = min(t, ns)
        return None if t == float("inf") else t

    def handle_timeout(self, now: float) -> None:
        self._now = max(self._now, now)
        if self.state == "closed":
            return
        if self.state in ("closing", "draining"):
            if now >= self._close_until:
                self.state = "closed"
            return
        if self.idle_timeout_ms > 0 and now >= self._idle_deadline():
            # RFC 9000 §10.1: silently closed
            self.state = "closed"
            self._release_all()
            self._events.append(Closed(ErrorCode.IDLE_TIMEOUT, "idle timeout", False, "IDLE_TIMEOUT"))
            return
        if self._loss_timer() <= now:
            self._on_loss_timeout(now)
        if self.keepalive_ms > 0 and now >= self._last_sent + self.keepalive_ms:
            self._ping_pending = True

    def poll_event(self, now: float | None = None) -> Event | None:
        if now is not None:
            self._now = max(self._now, now)
        if not self._events:
            return None
        ev = self._events.popleft()
        if isinstance(ev, MessageReceived):
            # the application took the message: its bytes and book-keeping charge are free again
            self._conn_recv.on_consume(len(ev.data) + MESSAGE_CHARGE, self._now, self.rtt.smoothed)
            if self._conn_recv.pending:
                self._max_data_pending = True
        elif isinstance(ev, DatagramReceived):
            self._datagram_recv_bytes -= len(ev.data)
        return ev

    def summary(self) -> dict[str, float | int | str | bool]:
        s = self.stats
        return {
            "state": self.state,
            "rtt_ms": self.rtt.smoothed,
            "rtt_measured": self.rtt.has_sample,
            "min_rtt_ms": self.rtt.min if self.rtt.has_sample else 0.0,
            "cwnd": self.cc.cwnd,
            "bytes_in_flight": self.bytes_in_flight,
            "pmtu": self.mtu.current,
            "loss_rate": s["packets_lost"] / s["packets_sent"] if s["packets_sent"] else 0.0,
            **s,
        }

    # ------------------------------------------------------------------------ receiving

    def _on_frame(self, now: float, f: Frame) -> None:
        if isinstance(f, Stream):
            self._on_stream_frame(f)
        elif isinstance(f, Ack):
            self._on_ack(now, f)
        elif isinstance(f, (Padding, Ping)):
            return
        elif isinstance(f, Message):
            # CONTROL frames carry the session's own protocols (relay control between a TS node
            # and its relay); this client speaks none of them over a session it dialled: ignored
            if not f.control:
                self._on_message_frame(now, f)
        elif isinstance(f, MaxData):
            if f.maximum > self._conn_send_limit:
                self._conn_send_limit = f.maximum
                for st in self._streams.values():
                    if st.send.sent_end < st.send.end:
                        self._enqueue(st)
        elif isinstance(f, MaxStreamData):
            target = self._stream_for_peer(f.stream_id)
            if target is not None and f.maximum > target.send_limit:
                target.send_limit = f.maximum
                self._enqueue(target)
        elif isinstance(f, MaxStreams):
            if f.maximum > self._peer_max_streams:
                self._peer_max_streams = min(f.maximum, 2**50)
        elif isinstance(f, ResetStream):
            self._on_reset_stream(f)
        elif isinstance(f, StopSending):
            stopped = self._stream_for_peer(f.stream_id)
            if stopped is not None and stopped.reset_code < 0 and not stopped.send_done():
                self._reset_send(stopped, f.code)
                self._events.append(StreamStopped(stopped.id, f.code))
        elif isinstance(f, Datagram):
            if self._datagram_recv_bytes + len(f.data) > self.limits.datagram_receive_queue:
                self.stats["datagram_receive_overflow"] += 1
                return
            self._datagram_recv_bytes += len(f.data)
            self._events.append(DatagramReceived(f.data))
        elif isinstance(f, Close):
            self.state = "draining"
            self._close_until = now + 3 * self._pto()
            self._release_all()
            self._events.append(Closed(f.code, f.reason, True, None))
        elif isinstance(f, (PathChallenge, PathResponse, Relay)):
            self._events.append(CoreFrame(f))

    def _on_ack(self, now: float, f: Ack) -> None:
        prev_start = float("inf")
        for start, end in f.ranges:
            if start > end or end + 1 >= prev_start:
                raise _ConnError(ErrorCode.FRAME_ENCODING_ERROR, "ACK ranges not descending and disjoint")
            prev_start = start
        largest = f.ranges[0][1]
        if largest >= self._next_pn:
            raise _ConnError(ErrorCode.PROTOCOL_VIOLATION, "ACK of a packet never sent")
        ack_delay = min(f.delay / 1000, self.max_ack_delay)
        sent = self._sent
        acked_bytes = 0
        newest: _Sent | None = None
        low = self._sent_low
        for start, end in f.ranges:
            if end < low:
                break
            for pn in range(max(start, low), end + 1):
                p = sent.pop(pn, None)
                if p is None:
                    continue
                if newest is None or p.pn > newest.pn:
                    newest = p
                if p.eliciting:
                    self.bytes_in_flight -= p.size
                    acked_bytes += p.size
                    self._eliciting_in_flight -= 1
                if p.ack_largest >= 0:
                    self.acks.on_ack_acked(p.ack_largest)
                if p.mtu_probe:
                    if p.pn == self.mtu.probe_pn:
                        self.mtu.on_probe_acked()
                        self.cc.on_mtu_change(self.mtu.current)
                elif p.frames:
                    self._on_frames_acked(p.frames)
        if newest is None:
            return
        self._advance_sent_low()
        self._largest_acked = max(self._largest_acked, largest)
        # RFC 9002 §5.1: a sample when the largest acknowledged is newly acked and ack-eliciting
        if newest.pn == largest and newest.eliciting:
            self.rtt.update(now - newest.time, ack_delay)
        self._detect_lost(now)
        self.pto_count = 0
        if acked_bytes > 0:
            self.cc.on_ack(acked_bytes, newest.time, self._app_limited)
        self._notify_writable()

    def _on_frames_acked(self, frames: list[_SentFrame]) -> None:
        for kind, obj, offset, length, fin in frames:
            if kind == _K_STREAM:
                st: _Stream = obj
                if st.reset_code >= 0:
                    continue
                self._total_buffered -= st.send.on_ack(offset, length, fin)
                self._maybe_forget(st)
            elif kind == _K_MESSAGE:
                m: _OutMessage = obj
                m.buf.on_ack(offset, length, fin)
                if m.charged >= 0 and m.buf.all_acked():
                    self._total_buffered -= m.total
                    m.charged = -1
                    self._retransmit_messages.pop(m, None)
            elif kind == _K_RESET:
                obj.reset_acked = True
                self._maybe_forget(obj)

    def _on_stream_frame(self, f: Stream) -> None:
        st = self._stream_for_peer(f.stream_id)
        end = f.offset + len(f.data)
        if st is None:
            return
        self._charge_stream(st, end)
        if st.final_size >= 0 and end > st.final_size:
            raise _ConnError(ErrorCode.FINAL_SIZE_ERROR, "data beyond the final size")
        if f.fin:
            if st.final_size >= 0 and st.final_size != end:
                raise _ConnError(ErrorCode.FINAL_SIZE_ERROR, "final size changed")
            if end < st.recv_highest:
                raise _ConnError(ErrorCode.FINAL_SIZE_ERROR, "final size below received data")
            st.final_size = end
        if st.recv_reset or st.stop_code >= 0:
            self._discard_recv(st)
            self._maybe_forget(st)
            return
        if f.data:
            st.recv.insert(f.offset, f.data)
        if st.recv.ready and not st.readable_notified:
            st.readable_notified = True
            self._events.append(Readable(st.id))
        self._check_recv_finished(st)

    def _charge_stream(self, st: _Stream, end: int) -> None:
        if end <= st.recv_highest:
            return
        if not st.recv_window.on_receive(end):
            raise _ConnError(ErrorCode.FLOW_CONTROL_ERROR, f"stream {st.id} data beyond the advertised limit")
        delta = end - st.recv_highest
        st.recv_highest = end
        if not self._conn_recv.on_receive(self._conn_recv.received + delta):
            raise _ConnError(ErrorCode.FLOW_CONTROL_ERROR, "connection data beyond the advertised limit")

    def _on_reset_stream(self, f: ResetStream) -> None:
        st = self._stream_for_peer(f.stream_id)
        if st is None:
            return
        if st.final_size >= 0 and st.final_size != f.final_size:
            raise _ConnError(ErrorCode.FINAL_SIZE_ERROR, "final size changed by RESET_STREAM")
        if f.final_size < st.recv_highest:
            raise _ConnError(ErrorCode.FINAL_SIZE_ERROR, "final size below received data")
        self._charge_stream(st, f.final_size)
        st.final_size = f.final_size
        if st.recv_reset:
            return
        st.recv_reset = True
        self._discard_recv(st)
        if not st.recv_closed_notified and st.stop_code < 0:
            self._events.append(StreamReset(st.id, f.code))
        st.recv_closed_notified = True
        self._maybe_forget(st)

    def _discard_recv(self, st: _Stream) -> None:
        unread = st.recv_highest - st.recv.read_offset
        st.recv.clear()
        st.recv.read_offset = st.recv_highest
        if unread > 0:
            self._conn_recv.on_consume(unread, self._now, self.rtt.smoothed)
            if self._conn_recv.pending:
                self._max_data_pending = True

    def _check_recv_finished(self, st: _Stream) -> None:
        if st.recv_closed_notified or st.recv_reset or st.stop_code >= 0:
            return
        if st.final_size >= 0 and st.recv.read_offset >= st.final_size:
            st.recv_closed_notified = True
            self._events.append(StreamFinished(st.id))

    def _on_message_frame(self, now: float, f: Message) -> None:
        if f.total > self.limits.max_message_size:
            raise _ConnError(ErrorCode.MESSAGE_TOO_LARGE, f"message of {f.total} bytes")
        delivered = self._unordered_done.has(f.id) if f.unordered else f.id < self._next_ordered_in
        if delivered:
            return  # a duplicate fragment of a message already delivered
        table = self._in_unordered if f.unordered else self._in_ordered
        m = table.get(f.id)
        if m is None:
            if not self._conn_recv.on_receive(self._conn_recv.received + MESSAGE_CHARGE):
                raise _ConnError(ErrorCode.FLOW_CONTROL_ERROR, "message beyond the advertised limit")
            m = _InMessage(f.total)
            table[f.id] = m
            # a message larger than the window can only arrive if the window grows (bounded)
            self._conn_recv.ensure_window(2 * (f.total + MESSAGE_CHARGE), now, self.rtt.smoothed)
            if self._conn_recv.pending:
                self._max_data_pending = True
        elif m.total != f.total:
            raise _ConnError(ErrorCode.PROTOCOL_VIOLATION, "message total changed")
        if m.complete:
            return
        end = f.offset + len(f.data)
        if end > m.highest and not self._conn_recv.on_receive(self._conn_recv.received + end - m.highest):
            raise _ConnError(ErrorCode.FLOW_CONTROL_ERROR, "message beyond the advertised limit")
        if not m.add(f.offset, f.data):
            return
        if f.unordered:
            del table[f.id]
            self._unordered_done.add(f.id, f.id + 1)
            self._events.append(MessageReceived(m.data or b"", True))
            return
        while True:
            head = self._in_ordered.get(self._next_ordered_in)
            if head is None or not head.complete:
                break
            del self._in_ordered[self._next_ordered_in]
            self._next_ordered_in += 1
            self._events.append(MessageReceived(head.data or b"", False))

    # ----------------------------------------------------------------- stream bookkeeping

    def _stream_for_peer(self, sid: int) -> _Stream | None:
        """The stream a peer frame refers to, opening peer streams implicitly; None = closed."""
        st = self._streams.get(sid)
        if st is not None:
            return st
        local = (sid & 1) == (0 if self.role == "initiator" else 1)
        index = sid // 2
        if local:
            if index >= self._next_local:
                raise _ConnError(ErrorCode.STREAM_STATE_ERROR, f"stream {sid} was never opened")
            return None
        if index < self._next_peer:
            return None
        if index >= self._local_max_streams:
            raise _ConnError(ErrorCode.STREAM_LIMIT_ERROR, f"stream {sid} beyond MAX_STREAMS")
        opened = None
        while self._next_peer <= index:
            s = self._next_peer * 2 + (1 if self.role == "initiator" else 0)
            self._next_peer += 1
            opened = self._streams[s] = _Stream(s, True, self.limits)
            self._events.append(StreamOpened(s))
        return opened

    def _is_known_closed(self, sid: int) -> bool:
        if sid < 0:
            return False
        local = (sid & 1) == (0 if self.role == "initiator" else 1)
        return sid // 2 < (self._next_local if local else self._next_peer)

    def _stream_for_api(self, sid: int) -> _Stream:
        st = self._streams.get(sid)
        if st is None:
            raise ValueError(f"unknown stream {sid}")
        return st

    def _reset_send(self, st: _Stream, code: int) -> None:
        if st.reset_code >= 0 or st.send_done():
            return
        st.reset_code = code
        st.reset_pending = True
        self._total_buffered -= st.send.buffered()
        st.send.clear()
        st.want_writable = False
        self._writable_waiters.discard(st)
        self._notify_writable()

    def _enqueue(self, st: _Stream) -> None:
        if not st.queued:
            st.queued = True
            self._send_queue.append(st)

    def _maybe_forget(self, st: _Stream) -> None:
        if st.id not in self._streams or not st.send_done() or not st.recv_done():
            return
        if st.final_size >= 0 or st.recv_reset:
            st.max_data_pending = False  # no window update for a stream whose size is known
        if st.max_data_pending or st.stop_pending or st.reset_pending:
            return
        del self._streams[st.id]
        self._writable_waiters.discard(st)
        if st.peer_initiated:
            # a closed peer stream returns its MAX_STREAMS credit
            self._closed_peer_streams += 1
            nxt = self._closed_peer_streams + self.limits.max_streams
            if nxt > self._local_max_streams:
                self._local_max_streams = nxt
                self._max_streams_pending = True

    def _notify_writable(self) -> None:
        lim = self.limits
        for st in list(self._writable_waiters):
            if st.reset_code >= 0:
                self._writable_waiters.discard(st)
                continue
            room = min(lim.stream_send_buffer - st.send.buffered(), lim.send_buffer - self._total_buffered)
            if room >= min(lim.stream_send_buffer / 2, lim.send_buffer / 4):
                st.want_writable = False
                self._writable_waiters.discard(st)
                self._events.append(Writable(st.id))
        if self._message_want_writable and self._total_buffered <= lim.send_buffer / 2:
            self._message_want_writable = False
            self._events.append(MessageWritable())

    def _release_all(self) -> None:
        self._send_queue.clear()
        self._datagrams.clear()
        self._core_frames.clear()

    # ------------------------------------------------------------------- loss detection

    def _advance_sent_low(self) -> None:
        sent = self._sent
        low = self._sent_low
        while low < self._next_pn and low not in sent:
            low += 1
        self._sent_low = low

    def _detect_lost(self, now: float) -> None:
        """RFC 9002 §6.1: packet threshold (3) and time threshold (9/8 RTT)."""
        self._loss_time = float("inf")
        if self._largest_acked < 0:
            return
        loss_delay = self.rtt.loss_delay()
        lost: list[_Sent] = []
        for pn, p in self._sent.items():
            if pn > self._largest_acked:
                break
            if p.time + loss_delay <= now or self._largest_acked >= pn + PACKET_THRESHOLD:
                lost.append(p)
            else:
                self._loss_time = min(self._loss_time, p.time + loss_delay)
        if not lost:
            return
        lost_bytes = 0
        largest_lost_time = float("-inf")
        first = last = None
        count = 0
        for p in lost:
            del self._sent[p.pn]
            self._on_lost(p)
            if p.eliciting and not p.mtu_probe:
                lost_bytes += p.size
                largest_lost_time = max(largest_lost_time, p.time)
                first = first or p
                last = p
                count += 1
        self._advance_sent_low()
        if lost_bytes > 0 and first is not None and last is not None:
            persistent = False
            if self.rtt.has_sample:  # RFC 9002 §7.6
                span = (self.rtt.smoothed + max(4 * self.rtt.variance, 1) + self.max_ack_delay) * 3
                persistent = last.time - first.time > span and last.pn - first.pn + 1 == count
            self.cc.on_loss(now, largest_lost_time, persistent)

    def _on_lost(self, p: _Sent) -> None:
        if p.eliciting:
            self.bytes_in_flight -= p.size
            self._eliciting_in_flight -= 1
        if p.mtu_probe:
            if p.pn == self.mtu.probe_pn:
                self.mtu.on_probe_lost()
            return
        self.stats["packets_lost"] += 1
        if p.frames:
            self._requeue(p.frames)

    def _requeue(self, frames: list[_SentFrame]) -> None:
        for kind, obj, offset, length, fin in frames:
            if kind == _K_STREAM:
                if obj.reset_code >= 0 or obj.id not in self._streams:
                    continue
                obj.send.on_lost(offset, length, fin)
                self._enqueue(obj)
            elif kind == _K_MESSAGE:
                if not obj.buf.all_acked():
                    obj.buf.on_lost(offset, length, fin)
                    self._retransmit_messages[obj] = None
            elif kind == _K_MAX_DATA:
                self._max_data_pending = True
            elif kind == _K_MAX_STREAM_DATA:
                if obj.id in self._streams and obj.final_size < 0 and not obj.recv_reset and obj.stop_code < 0:
                    obj.max_data_pending = True
            elif kind == _K_MAX_STREAMS:
                self._max_streams_pending = True
            elif kind == _K_RESET:
                if not obj.reset_acked:
                    obj.reset_pending = True
            elif kind == _K_STOP:
                if obj.id in self._streams and not obj.recv_reset:
                    obj.stop_pending = True

    def _pto(self) -> float:
        return self.rtt.pto(self.max_ack_delay)

    def _loss_timer(self) -> float:
        if self._loss_time != float("inf"):
            return self._loss_time
        if self._eliciting_in_flight <= 0:
            return float("inf")
        return self._last_eliciting_sent + self._pto() * (1 << min(self.pto_count, MAX_PTO_BACKOFF))

    def _idle_deadline(self) -> float:
        return self._idle_start + max(self.idle_timeout_ms, 3 * self._pto())

    def _on_loss_timeout(self, now: float) -> None:
        if self._loss_time != float("inf"):
            self._detect_lost(now)
            return
        # RFC 9002 §6.2 probe timeout: two probes, the oldest outstanding data (a PING if none)
        self.pto_count += 1
        self._probes = 2
        for p in self._sent.values():
            if p.eliciting and p.frames:
                self._requeue(p.frames)
                break
        else:
            self._ping_pending = True
        if self.pto_count >= 3 and self.mtu.current > BASE_PLPMTU:
            self.mtu.on_black_hole()
            self.cc.on_mtu_change(self.mtu.current)

    # ------------------------------------------------------------------------ sending

    def _pacing_rate(self) -> float:
        if not self.rtt.has_sample:
            return float("inf")
        gain = 2.0 if self.cc.in_slow_start() else 1.25
        return gain * self.cc.cwnd / max(self.rtt.smoothed, 0.001)

    def _has_control_work(self) -> bool:
        if self._max_data_pending or self._max_streams_pending or self._ping_pending:
            return True
        if self._core_frames or self._datagrams:
            return True
        return any(st.max_data_pending or st.stop_pending or st.reset_pending for st in self._streams.values())

    def _conn_credit(self) -> int:
        return max(0, self._conn_send_limit - self._conn_send_used)

    def _has_eliciting_work(self) -> bool:
        if self._has_control_work() or self._retransmit_messages:
            return True
        credit = self._conn_credit()
        m = self._head_message()
        if m is not None and (credit > 0 or m.charged > 0):
            return True
        return any(st.has_send_work(credit) for st in self._send_queue)

    def _head_message(self) -> _OutMessage | None:
        q = self._out_messages
        while q:
            m = q[0]
            if m.charged < 0 or (m.buf.sent_end >= m.total and (m.total > 0 or m.buf.fin_sent)):
                q.popleft()  # fully sent (maybe not yet acknowledged): the next one may start
                continue
            return m
        return None

    def _build(self, now: float, size_cap: float) -> Transmit | None:
        # fast path: nothing to send and no ACK due (the common poll on a receiving connection)
        if not self._probes and not self.acks.should_send(now) and not self._has_eliciting_work():
            if self.mtu.done or self.mtu.probe_pn >= 0 or not self.rtt.has_sample:
                return None
        mtu = self.mtu.current
        probe = self._probes > 0
        cwnd = self.cc.cwnd
        cwnd_ok = probe or self.bytes_in_flight + mtu <= cwnd
        self.pacer.update(now, self._pacing_rate(), mtu)
        pace_ok = probe or self.pacer.next_send_time(now, mtu) <= now
        ack_due = self.acks.should_send(now)
        # RFC 8899 probe: PING + PADDING of the probe size, alone in its packet
        if cwnd_ok and pace_ok and not probe and self.rtt.has_sample:
            size = self.mtu.want_probe()
            if 0 < size <= size_cap and self.bytes_in_flight + size <= cwnd:
                t = self._finish(now, [Ping(), Padding(size - self.overhead - 1)], True, None, True, -1)
                self.mtu.probe_pn = t.packet_number
                return t
        frames: list[Frame] = []
        sent: list[_SentFrame] = []
        room = mtu - self.overhead
        ack = self.acks.build(now) if self.acks.pending else None
        if ack is not None:
            sz = frame_size(ack)
            if sz <= room:
                frames.append(ack)
                room -= sz
            else:
                ack = None
        eliciting = False
        if cwnd_ok and pace_ok:
            room = self._fill_control(frames, sent, room)
            room = self._fill_retransmit_messages(frames, sent, room)
            room = self._fill_streams(frames, sent, room, True)
            room = self._fill_messages(frames, sent, room)
            room = self._fill_streams(frames, sent, room, False)
            eliciting = any(not isinstance(f, (Ack, Padding, Close)) for f in frames)
            if not eliciting and (self._probes > 0 or self._ping_pending):
                frames.append(Ping())
                eliciting = True
            self._app_limited = not eliciting and self.bytes_in_flight + mtu <= cwnd
        if not eliciting:
            if ack is None or not ack_due:
                return None
            self.stats["ack_only_packets"] += 1
            return self._finish(now, frames, False, None, False, ack.ranges[0][1])
        if self._probes > 0:
            self._probes -= 1
        return self._finish(now, frames, True, sent or None, False, ack.ranges[0][1] if ack else -1)

    def _finish(self, now: float, frames: list[Frame], eliciting: bool, sent: list[_SentFrame] | None, probe: bool, ack_largest: int) -> Transmit:
        out = bytearray()
        for f in frames:
            encode_frame(f, out)
        pn = self._next_pn
        self._next_pn += 1
        size = len(out) + self.overhead
        if frames and isinstance(frames[0], Ack):
            self.acks.on_ack_sent()
        if eliciting:
            p = _Sent(pn, now, size, True, sent, probe)
            p.ack_largest = ack_largest
            self._sent[pn] = p
            self.bytes_in_flight += size
            self._eliciting_in_flight += 1
            if not self._eliciting_since_receive:
                # RFC 9000 §10.1: the first ack-eliciting packet after a receipt restarts the idle timer
                self._eliciting_since_receive = True
                self._idle_start = now
            self._last_eliciting_sent = now
            self.pacer.on_send(size)
            self._ping_pending = False
        else:
            self._advance_sent_low()
        self._last_sent = now
        self.stats["packets_sent"] += 1
        self.stats["bytes_sent"] += size
        return Transmit(pn, bytes(out), size)

    def _fill_control(self, frames: list[Frame], sent: list[_SentFrame], room: int) -> int:
        if self._max_data_pending:
            f: Frame = MaxData(self._conn_recv.limit)
            sz = frame_size(f)
            if sz <= room:
                frames.append(f)
                sent.append((_K_MAX_DATA, None, 0, 0, False))
                room -= sz
                self._max_data_pending = False
                self._conn_recv.pending = False
        if self._max_streams_pending:
            f = MaxStreams(self._local_max_streams)
            sz = frame_size(f)
            if sz <= room:
                frames.append(f)
                sent.append((_K_MAX_STREAMS, None, 0, 0, False))
                room -= sz
                self._max_streams_pending = False
        for st in self._streams.values():
            if room < 24:
                break
            if st.max_data_pending:
                st.max_data_pending = False
                st.recv_window.pending = False
                if st.final_size < 0 and not st.recv_reset and st.stop_code < 0:
                    f = MaxStreamData(st.id, st.recv_window.limit)
                    room -= frame_size(f)
                    frames.append(f)
                    sent.append((_K_MAX_STREAM_DATA, st, 0, 0, False))
            if st.reset_pending:
                st.reset_pending = False
                f = ResetStream(st.id, st.reset_code, st.send.end)
                room -= frame_size(f)
                frames.append(f)
                sent.append((_K_RESET, st, 0, 0, False))
            if st.stop_pending:
                st.stop_pending = False
                f = StopSending(st.id, st.stop_code)
                room -= frame_size(f)
                frames.append(f)
                sent.append((_K_STOP, st, 0, 0, False))
        while self._core_frames:
            f = self._core_frames[0]
            sz = frame_size(f)
            if sz > room:
                break
            self._core_frames.popleft()
            frames.append(f)
            room -= sz
        while self._datagrams:
            d = self._datagrams[0]
            sz = 1 + varint_size(len(d)) + len(d)
            if sz > room:
                if sz > self.max_payload():  # does not fit even an empty packet any more
                    self._datagrams.popleft()
                    self._datagram_bytes -= len(d)
                    self.stats["datagram_too_big"] += 1
                    continue
                break
            self._datagrams.popleft()
            self._datagram_bytes -= len(d)
            frames.append(Datagram(d))
            room -= sz
        return room

    def _fill_retransmit_messages(self, frames: list[Frame], sent: list[_SentFrame], room: int) -> int:
        for m in list(self._retransmit_messages):
            if room < 16:
                break
            b = m.buf
            while room >= 16 and (b.lost or b.fin_lost):
                if m.total == 0:
                    f = Message(m.id, 0, 0, m.unordered, b"")
                    room -= frame_size(f)
                    frames.append(f)
                    sent.append((_K_MESSAGE, m, 0, 0, True))
                    b.fin_lost = False
                    continue
                if not b.lost:
                    b.fin_lost = False
                    break
                s, e = b.lost.first()
                oh = message_frame_overhead(m.id, s, m.total, min(e - s, room))
                n = min(e - s, room - oh)
                if n <= 0:
                    break
                b.lost.remove(s, s + n)
                fin = s + n == m.total
                if fin:
                    b.fin_lost = False
                frames.append(Message(m.id, s, m.total, m.unordered, b.read(s, n)))
                sent.append((_K_MESSAGE, m, s, n, fin))
                self.stats["retransmitted_bytes"] += n
                room -= oh + n
            if not b.lost and not b.fin_lost:
                del self._retransmit_messages[m]
        return room

    def _fill_messages(self, frames: list[Frame], sent: list[_SentFrame], room: int) -> int:
        while room >= 16:
            m = self._head_message()
            if m is None:
                break
            before = room
            room = self._send_new_message_data(m, frames, sent, room)
            if room == before:
                break  # blocked by flow control
        return room

    def _send_new_message_data(self, m: _OutMessage, frames: list[Frame], sent: list[_SentFrame], room: int) -> int:
        b = m.buf
        credit = self._conn_credit()
        if m.charged == 0:
            # charged MESSAGE_CHARGE when the first fragment goes out, as the receiver does
            if credit < MESSAGE_CHARGE + min(m.total, 1):
                return room
            self._conn_send_used += MESSAGE_CHARGE
            m.charged = MESSAGE_CHARGE
            credit -= MESSAGE_CHARGE
        if m.total == 0:
            f = Message(m.id, 0, 0, m.unordered, b"")
            frames.append(f)
            sent.append((_K_MESSAGE, m, 0, 0, True))
            b.fin_sent = True
            return room - frame_size(f)
        s = b.sent_end
        avail = min(m.total - s, credit)
        if avail <= 0:
            return room
        oh = message_frame_overhead(m.id, s, m.total, min(avail, room))
        n = min(avail, room - oh)
        if n <= 0:
            return room
        b.sent_end = s + n
        self._conn_send_used += n
        m.charged += n
        fin = s + n == m.total
        if fin:
            b.fin_sent = True
        frames.append(Message(m.id, s, m.total, m.unordered, b.read(s, n)))
        sent.append((_K_MESSAGE, m, s, n, fin))
        return room - oh - n

    def _fill_streams(self, frames: list[Frame], sent: list[_SentFrame], room: int, retransmit: bool) -> int:
        q = self._send_queue
        n = len(q)
        while n > 0 and room >= 16 and q:
            n -= 1
            st = q.popleft()
            room = self._send_stream_data(st, frames, sent, room, retransmit)
            if st.id in self._streams and st.has_send_work(self._conn_credit()):
                q.append(st)
            else:
                st.queued = False
        return room

    def _send_stream_data(self, st: _Stream, frames: list[Frame], sent: list[_SentFrame], room: int, retransmit: bool) -> int:
        if st.reset_code >= 0:
            return room
        b = st.send
        if retransmit:
            while room >= 16 and b.lost:
                s, e = b.lost.first()
                oh = stream_frame_overhead(st.id, s, min(e - s, room))
                n = min(e - s, room - oh)
                if n <= 0:
                    break
                b.lost.remove(s, s + n)
                fin = b.fin and s + n == b.end
                if fin:
                    b.fin_lost = False
                frames.append(Stream(st.id, s, fin, b.read(s, n)))
                sent.append((_K_STREAM, st, s, n, fin))
                self.stats["retransmitted_bytes"] += n
                room -= oh + n
            if b.fin_lost and not b.lost and b.sent_end == b.end and room >= 16:
                f = Stream(st.id, b.end, True, b"")  # the FIN alone was lost
                room -= frame_size(f)
                frames.append(f)
                sent.append((_K_STREAM, st, b.end, 0, True))
                b.fin_lost = False
            return room
        avail = min(b.end - b.sent_end, st.send_limit - st.send_used, self._conn_credit())
        if avail > 0:
            s = b.sent_end
            oh = stream_frame_overhead(st.id, s, min(avail, room))
            n = min(avail, room - oh)
            if n <= 0:
                return room
            b.sent_end = s + n
            st.send_used += n
            self._conn_send_used += n
            fin = b.fin and b.sent_end == b.end
            if fin:
                b.fin_sent = True
            frames.append(Stream(st.id, s, fin, b.read(s, n)))
            sent.append((_K_STREAM, st, s, n, fin))
            return room - oh - n
        if b.fin and not b.fin_sent and b.sent_end == b.end:
            f = Stream(st.id, b.end, True, b"")
            room -= frame_size(f)
            frames.append(f)
            sent.append((_K_STREAM, st, b.end, 0, True))
            b.fin_sent = True
        return room

    # ---------------------------------------------------------------------------- close

    def _enter_closing(self, code: int, reason: str, error: str | None, now: float) -> None:
        self.state = "closing"
        r = reason[:256]
        self._close_frame = Close(code, r)
        self._close_to_send = True
        self._close_until = now + 3 * self._pto()
        self._release_all()
        self._events.append(Closed(code, r, False, error))

    def _check_open(self) -> None:
        if self.state != "open":
            raise SrmudpError("CONNECTION_CLOSED", "connection is closed")


__all__ = ["Reliable", "Limits", "ErrorCode", "Transmit", "MAX_VARINT"]
