"""The relay protocol's messages (wire-format.md §9), pure functions, no I/O: control messages
(CONNECT, INCOMING, ACCEPT, REJECT, BOUND, CLOSE, STATUS, REFRESH) and channel data. The client
state machine that speaks them is relay.py.

Decoders are total: a value or a :class:`~srmudp.errors.WireDecodeError`; byte reads go through
wire.py's ``read_bytes``/``read_u8``/``read_varint``, so TRUNCATED has one rule. Encoders raise
TypeError/ValueError for anything the decoder would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .errors import WireDecodeError
from .wire import read_bytes, read_u8, read_varint, write_varint

CONTROL_VERSION = 1
CHANNEL_MIN, CHANNEL_MAX = 0x4000, 0x4FFF
CHANNEL_HEADER_LENGTH = 4
MAX_CHANNEL_PAYLOAD = 0xFFFF
INSTANCE_ID_LENGTH = 8
MAX_VOUCHER_BYTES = 1024
_FLAG_VOUCHER, _FLAG_FIRST_PACKET = 0x01, 0x02

T_CONNECT, T_INCOMING, T_ACCEPT, T_REJECT, T_BOUND, T_CLOSE, T_STATUS, T_REFRESH = range(1, 9)

REJECT_REASONS = {
    "refused": 1,
    "resource_limit": 2,
    "permission_denied": 3,
    "target_unavailable": 4,
    "malformed": 5,
    "unexpected": 6,
    "voucher_invalid": 7,
    "voucher_expired": 8,
    "voucher_replayed": 9,
    "relay_chain": 10,
    "timeout": 11,
    "unsupported": 12,
}
CLOSE_REASONS = {
    "normal": 0,
    "duration_limit": 1,
    "data_limit": 2,
    "expired": 3,
    "peer_gone": 4,
    "replaced": 5,
    "relay_shutdown": 6,
    "policy": 7,
    "unknown_channel": 8,
}
STATUS_CODES = {"healthy": 0, "rate_limited": 1, "same_key_elsewhere": 2, "restarting": 3, "denied": 4}
_REJECT_BY_CODE = {v: k for k, v in REJECT_REASONS.items()}
_CLOSE_BY_CODE = {v: k for k, v in CLOSE_REASONS.items()}
_STATUS_BY_CODE = {v: k for k, v in STATUS_CODES.items()}


@dataclass(frozen=True)
class Limits:
    """Circuit limits: duration (ms) and bytes, 0 = no limit (in a request: no preference)."""

    duration_ms: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Connect:
    request_id: int
    target: bytes
    limits: Limits = Limits()
    voucher: bytes | None = None
    first_packet: bytes | None = None


@dataclass(frozen=True)
class Incoming:
    request_id: int
    requester: bytes
    limits: Limits = Limits()
    voucher: bytes | None = None
    first_packet: bytes | None = None


@dataclass(frozen=True)
class Accept:
    request_id: int
    incoming_id: int
    limits: Limits = Limits()


@dataclass(frozen=True)
class Reject:
    request_id: int
    reason: str


@dataclass(frozen=True)
class Bound:
    request_id: int
    channel: int
    peer: bytes
    limits: Limits
    expires_in_ms: int


@dataclass(frozen=True)
class Close:
    request_id: int
    channel: int
    reason: str


@dataclass(frozen=True)
class Refresh:
    request_id: int
    channel: int


@dataclass(frozen=True)
class Status:
    """``code`` and its fields: healthy (instance, epoch, rate, burst, max_circuits,
    max_message_size), rate_limited (rate, burst), same_key_elsewhere, restarting
    (reconnect_in_ms, try_for_ms), denied (reason)."""

    request_id: int
    code: str
    instance: bytes = b""
    epoch: int = 0
    rate: int = 0
    burst: int = 0
    max_circuits: int = 0
    max_message_size: int = 0
    reconnect_in_ms: int = 0
    try_for_ms: int = 0
    reason: str = ""


ControlMessage = Union[Connect, Incoming, Accept, Reject, Bound, Close, Refresh, Status]


# ---------------------------------------------------------------------------------------------
# codec


class _Reader:
    __slots__ = ("b", "p")

    def __init__(self, b: bytes) -> None:
        self.b = b
        self.p = 0

    def u8(self, what: str) -> int:
        v, self.p = read_u8(self.b, self.p, what)
        return v

    def take(self, n: int, what: str) -> bytes:
        v, self.p = read_bytes(self.b, self.p, n, what)
        return v

    def vi(self) -> int:
        v, self.p = read_varint(self.b, self.p)
        return v

    def channel(self) -> int:
        ch = int.from_bytes(self.take(2, "channel"), "big")
        if not CHANNEL_MIN <= ch <= CHANNEL_MAX:
            raise WireDecodeError("BAD_VALUE", f"channel 0x{ch:x} outside 0x4000-0x4fff")
        return ch

    def reject_reason(self) -> str:
        code = self.vi()
        r = _REJECT_BY_CODE.get(code)
        if r is None:
            raise WireDecodeError("BAD_VALUE", f"unknown reject reason {code}")
        return r

    def limits(self) -> Limits:
        return Limits(self.vi(), self.vi())

    def optional(self, present: bool, most: int, what: str) -> bytes | None:
        if not present:
            return None
        n = self.vi()
        if n == 0 or n > most:
            raise WireDecodeError("BAD_VALUE", f"{what} length {n} outside [1, {most}]")
        return self.take(n, what)

    def offer(self) -> tuple[bytes, Limits, bytes | None, bytes | None]:
        peer = self.take(32, "peer")
        limits = self.limits()
        flags = self.u8("flags")
        if flags & ~(_FLAG_VOUCHER | _FLAG_FIRST_PACKET):
            raise WireDecodeError("BAD_VALUE", f"unknown flags 0x{flags:x}")
        voucher = self.optional(bool(flags & _FLAG_VOUCHER), MAX_VOUCHER_BYTES, "voucher")
        first = self.optional(bool(flags & _FLAG_FIRST_PACKET), 0xFFFF, "first packet")
        return peer, limits, voucher, first


def decode_control(data: bytes) -> ControlMessage:
    """One control message; WireDecodeError (TRUNCATED, UNKNOWN_TYPE, BAD_VALUE, VARINT_RANGE,
    TRAILING_BYTES, UNSUPPORTED_VERSION) for anything else."""
    r = _Reader(bytes(data))
    version = r.u8("version")
    if version != CONTROL_VERSION:
        raise WireDecodeError("UNSUPPORTED_VERSION", f"relay control version {version}, expected 1")
    t = r.u8("type")
    rid = r.vi()
    msg: ControlMessage
    if t in (T_CONNECT, T_INCOMING):
        peer, limits, voucher, first = r.offer()
        msg = (Connect if t == T_CONNECT else Incoming)(rid, peer, limits, voucher, first)
    elif t == T_ACCEPT:
        msg = Accept(rid, r.vi(), r.limits())
    elif t == T_REJECT:
        msg = Reject(rid, r.reject_reason())
    elif t == T_BOUND:
        msg = Bound(rid, r.channel(), r.take(32, "peer"), r.limits(), r.vi())
    elif t == T_CLOSE:
        ch = r.channel()
        code = r.vi()
        reason = _CLOSE_BY_CODE.get(code)
        if reason is None:
            raise WireDecodeError("BAD_VALUE", f"unknown close reason {code}")
        msg = Close(rid, ch, reason)
    elif t == T_STATUS:
        code = r.vi()
        name = _STATUS_BY_CODE.get(code)
        if name == "healthy":
            msg = Status(rid, name, r.take(INSTANCE_ID_LENGTH, "instance"), r.vi(), r.vi(), r.vi(), r.vi(), r.vi())
        elif name == "rate_limited":
            msg = Status(rid, name, rate=r.vi(), burst=r.vi())
        elif name == "same_key_elsewhere":
            msg = Status(rid, name)
        elif name == "restarting":
            msg = Status(rid, name, reconnect_in_ms=r.vi(), try_for_ms=r.vi())
        elif name == "denied":
            msg = Status(rid, name, reason=r.reject_reason())
        else:
            raise WireDecodeError("BAD_VALUE", f"unknown status code {code}")
    elif t == T_REFRESH:
        msg = Refresh(rid, r.channel())
    else:
        raise WireDecodeError("UNKNOWN_TYPE", f"unknown relay control type 0x{t:x}")
    if r.p != len(r.b):
        raise WireDecodeError("TRAILING_BYTES", f"{len(r.b) - r.p} bytes after {type(msg).__name__.lower()}")
    return msg


def check_key(name: str, k: bytes) -> bytes:
    if not isinstance(k, (bytes, bytearray)) or len(k) != 32:
        raise TypeError(f'"{name}" expected 32 bytes')
    return bytes(k)


def _check_channel(ch: int) -> int:
    if not isinstance(ch, int) or not CHANNEL_MIN <= ch <= CHANNEL_MAX:
        raise ValueError(f'"channel" expected an integer in [0x4000, 0x4fff], got {ch!r}')
    return ch


def encode_control(m: ControlMessage) -> bytes:
    """The bytes of ``m``; TypeError/ValueError for anything the decoder would refuse."""
    out = bytearray([CONTROL_VERSION])

    def lim(x: Limits) -> None:
        write_varint(out, x.duration_ms)
        write_varint(out, x.bytes)

    if isinstance(m, (Connect, Incoming)):
        out.append(T_CONNECT if isinstance(m, Connect) else T_INCOMING)
        write_varint(out, m.request_id)
        out += check_key("peer", m.target if isinstance(m, Connect) else m.requester)
        lim(m.limits)
        for b, most in ((m.voucher, MAX_VOUCHER_BYTES), (m.first_packet, 0xFFFF)):
            if b is not None and not 1 <= len(b) <= most:
                raise ValueError(f"optional field length {len(b)} outside [1, {most}]")
        out.append((_FLAG_VOUCHER if m.voucher else 0) | (_FLAG_FIRST_PACKET if m.first_packet else 0))
        for b in (m.voucher, m.first_packet):
            if b:
                write_varint(out, len(b))
                out += b
    elif isinstance(m, Accept):
        out.append(T_ACCEPT)
        write_varint(out, m.request_id)
        write_varint(out, m.incoming_id)
        lim(m.limits)
    elif isinstance(m, Reject):
        out.append(T_REJECT)
        write_varint(out, m.request_id)
        write_varint(out, REJECT_REASONS[m.reason])
    elif isinstance(m, Bound):
        out.append(T_BOUND)
        write_varint(out, m.request_id)
        out += _check_channel(m.channel).to_bytes(2, "big") + check_key("peer", m.peer)
        lim(m.limits)
        write_varint(out, m.expires_in_ms)
    elif isinstance(m, Close):
        out.append(T_CLOSE)
        write_varint(out, m.request_id)
        out += _check_channel(m.channel).to_bytes(2, "big")
        write_varint(out, CLOSE_REASONS[m.reason])
    elif isinstance(m, Refresh):
        out.append(T_REFRESH)
        write_varint(out, m.request_id)
        out += _check_channel(m.channel).to_bytes(2, "big")
    elif isinstance(m, Status):
        out.append(T_STATUS)
        write_varint(out, m.request_id)
        write_varint(out, STATUS_CODES[m.code])
        if m.code == "healthy":
            if len(m.instance) != INSTANCE_ID_LENGTH:
                raise TypeError('"instance" expected 8 bytes')
            out += m.instance
            for v in (m.epoch, m.rate, m.burst, m.max_circuits, m.max_message_size):
                write_varint(out, v)
        elif m.code == "rate_limited":
            write_varint(out, m.rate)
            write_varint(out, m.burst)
        elif m.code == "restarting":
            write_varint(out, m.reconnect_in_ms)
            write_varint(out, m.try_for_ms)
        elif m.code == "denied":
            write_varint(out, REJECT_REASONS[m.reason])
    else:
        raise TypeError(f"not a control message: {type(m).__name__}")
    return bytes(out)


def is_channel_data(data: bytes) -> bool:
    """First byte 0x40-0x4f: the range the demultiplexer leaves to channel data (§1, §9.2)."""
    return len(data) > 0 and data[0] & 0xF0 == 0x40


def encode_channel_data(channel: int, packet: bytes) -> bytes:
    _check_channel(channel)
    if not 1 <= len(packet) <= MAX_CHANNEL_PAYLOAD:
        raise ValueError(f'"packet" length {len(packet)} outside [1, 65535]')
    return channel.to_bytes(2, "big") + len(packet).to_bytes(2, "big") + packet


def decode_channel_data(data: bytes) -> tuple[int, bytes]:
    """``(channel, end-to-end packet)``; WireDecodeError TRUNCATED, BAD_VALUE, TRAILING_BYTES."""
    if len(data) < CHANNEL_HEADER_LENGTH:
        raise WireDecodeError("TRUNCATED", f"channel data needs 4 header bytes, got {len(data)}")
    if data[0] & 0xF0 != 0x40:
        raise WireDecodeError("BAD_VALUE", f"channel data first byte 0x{data[0]:x} outside 0x40-0x4f")
    n = (data[2] << 8) | data[3]
    have = len(data) - CHANNEL_HEADER_LENGTH
    if n == 0:
        raise WireDecodeError("BAD_VALUE", "channel data with an empty payload")
    if have < n:
        raise WireDecodeError("TRUNCATED", f"channel data length {n}, have {have} bytes")
    if have > n:
        raise WireDecodeError("TRAILING_BYTES", f"channel data length {n}, have {have} bytes")
    return (data[0] << 8) | data[1], bytes(data[4:])
