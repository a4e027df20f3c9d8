"""The srmudp wire format, version 1 (docs/architecture/wire-format.md): QUIC varints, packets
(handshake, cookie reply, data) and frames. Pure functions, no I/O.

Decoders are total: any byte string gives a value or a :class:`WireDecodeError` (never another
exception). Encoders validate their input (``ValueError``/``TypeError``) so nothing a decoder
would reject is ever sent. Integers are limited to 2^53-1, the ceiling the format sets so that the
TypeScript implementation can hold them in JS numbers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal, Union

from .errors import WireDecodeError
from .text import decode_utf8, utf8_encode

WIRE_VERSION = 1
MAX_VARINT = 2**53 - 1

# ---------------------------------------------------------------------------------------------
# packet types and sizes (§3)
PACKET_HANDSHAKE_INIT = 0x81
PACKET_HANDSHAKE_RESPONSE = 0x82
PACKET_HANDSHAKE_FINAL = 0x83
PACKET_COOKIE_REPLY = 0x84
PACKET_DATA = 0x90  # | key phase

PATTERN_IK = 0
PATTERN_XX = 1

MAC_LENGTH = 16
HANDSHAKE_HEADER_LENGTH = 11
HANDSHAKE_TRAILER_LENGTH = 2 * MAC_LENGTH
COOKIE_NONCE_LENGTH = 24
SEALED_COOKIE_LENGTH = 32
COOKIE_REPLY_LENGTH = 1 + 4 + COOKIE_NONCE_LENGTH + SEALED_COOKIE_LENGTH
DATA_HEADER_LENGTH = 13
AEAD_TAG_LENGTH = 16
DATA_OVERHEAD = DATA_HEADER_LENGTH + AEAD_TAG_LENGTH

# frame type bytes (§5)
FT_PADDING = 0x00
FT_PING = 0x01
FT_ACK = 0x02
FT_RESET_STREAM = 0x04
FT_STOP_SENDING = 0x05
FT_STREAM = 0x08  # | OFF 0x04 | LEN 0x02 | FIN 0x01
FT_MAX_DATA = 0x10
FT_MAX_STREAM_DATA = 0x11
FT_MAX_STREAMS = 0x12
FT_MESSAGE = 0x18  # | unordered 0x01
FT_CONTROL = 0x1D  # MESSAGE's layout, the session's own protocols (relay control), §5
FT_PATH_CHALLENGE = 0x1A
FT_PATH_RESPONSE = 0x1B
FT_CLOSE = 0x1C
FT_DATAGRAM = 0x30  # | LEN 0x01
FT_RELAY = 0x38

STREAM_FLAG_OFF = 0x04
STREAM_FLAG_LEN = 0x02
STREAM_FLAG_FIN = 0x01
PATH_DATA_LENGTH = 8
PEER_ID_LENGTH = 32

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_HS_HEADER = struct.Struct(">BBBII")
_DATA_HEADER = struct.Struct(">BIQ")


# ---------------------------------------------------------------------------------------------
# varints (§4, RFC 9000 §16)


def varint_size(n: int) -> int:
    """Bytes of the minimal encoding of ``n``; ValueError unless 0 <= n <= 2^53-1."""
    if n < 0x40 and n >= 0:
        return 1
    if n < 0x4000 and n >= 0:
        return 2
    if n < 0x40000000 and n >= 0:
        return 4
    check_varint("n", n)
    return 8


def check_varint(name: str, n: object) -> None:
    if type(n) is not int or n < 0 or n > MAX_VARINT:  # bool is not an int here
        raise ValueError(f'"{name}" expected integer in [0, 2^53-1], got {n!r}')


def write_varint(out: bytearray, n: int) -> None:
    """Appends the minimal encoding of ``n``."""
    size = varint_size(n)
    if size == 1:
        out.append(n)
    elif size == 2:
        out += (0x4000 | n).to_bytes(2, "big")
    elif size == 4:
        out += (0x80000000 | n).to_bytes(4, "big")
    else:
        out += (0xC000000000000000 | n).to_bytes(8, "big")


def encode_varint(n: int) -> bytes:
    out = bytearray()
    write_varint(out, n)
    return bytes(out)


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Reads the varint at ``pos``; returns ``(value, next position)``. Longer-than-minimal
    encodings are accepted (RFC 9000 §16); values above 2^53-1 are ``VARINT_RANGE``."""
    if pos >= len(buf):
        raise WireDecodeError("TRUNCATED", f"varint expected at offset {pos}, input has {len(buf)} bytes")
    first = buf[pos]
    size = 1 << (first >> 6)
    if size == 1:
        return first, pos + 1
    end = pos + size
    if end > len(buf):
        raise WireDecodeError("TRUNCATED", f"varint of {size} bytes at offset {pos} exceeds input")
    v = int.from_bytes(buf[pos:end], "big") & ((1 << (8 * size - 2)) - 1)
    if v > MAX_VARINT:
        raise WireDecodeError("VARINT_RANGE", f"varint at offset {pos} exceeds 2^53-1")
    return v, end


# ---------------------------------------------------------------------------------------------
# frames (§5)


@dataclass(slots=True)
class Padding:
    length: int


@dataclass(slots=True)
class Ping:
    pass


@dataclass(slots=True)
class Ack:
    """``delay`` in microseconds; ``ranges`` inclusive ``(start, end)``, descending, disjoint and
    non-adjacent; ``ranges[0][1]`` is the largest acknowledged packet number."""

    delay: int
    ranges: list[tuple[int, int]]


@dataclass(slots=True)
class Stream:
    stream_id: int
    offset: int
    fin: bool
    data: bytes


@dataclass(slots=True)
class ResetStream:
    stream_id: int
    code: int
    final_size: int


@dataclass(slots=True)
class StopSending:
    stream_id: int
    code: int


@dataclass(slots=True)
class MaxData:
    maximum: int


@dataclass(slots=True)
class MaxStreamData:
    stream_id: int
    maximum: int


@dataclass(slots=True)
class MaxStreams:
    maximum: int


@dataclass(slots=True)
class Message:
    """Fragment ``[offset, offset + len(data))`` of message ``id`` of ``total`` bytes."""

    id: int
    offset: int
    total: int
    unordered: bool
    data: bytes
    #: a CONTROL frame (0x1d): a message of the session's own protocols, in its own ordered id
    #: space, never delivered to the application
    control: bool = False


@dataclass(slots=True)
class PathChallenge:
    data: bytes


@dataclass(slots=True)
class PathResponse:
    data: bytes


@dataclass(slots=True)
class Close:
    code: int
    reason: str


@dataclass(slots=True)
class Datagram:
    data: bytes


@dataclass(slots=True)
class Relay:
    peer: bytes
    payload: bytes


Frame = Union[
    Padding,
    Ping,
    Ack,
    Stream,
    ResetStream,
    StopSending,
    MaxData,
    MaxStreamData,
    MaxStreams,
    Message,
    PathChallenge,
    PathResponse,
    Close,
    Datagram,
    Relay,
]


def is_ack_eliciting(frame: Frame) -> bool:
    """RFC 9002 §2: every frame but ACK, PADDING and CLOSE makes the receiver acknowledge."""
    return not isinstance(frame, (Ack, Padding, Close))


def _utf8_decode(b: bytes, what: str) -> str:
    s = decode_utf8(b)  # as the TypeScript decoder: one leading U+FEFF dropped
    if s is None:
        raise WireDecodeError("BAD_VALUE", f"{what} is not valid UTF-8")
    return s


def read_bytes(buf: bytes, pos: int, n: int, what: str) -> tuple[bytes, int]:
    """The ``n`` bytes at ``pos`` and the next position; TRUNCATED when the input is shorter.
    The one bounds check of every decoder here and in relay.py."""
    end = pos + n
    if end > len(buf):
        raise WireDecodeError("TRUNCATED", f"{what}: {n} bytes at offset {pos} exceed the input")
    return buf[pos:end], end


def read_u8(buf: bytes, pos: int, what: str) -> tuple[int, int]:
    """The byte at ``pos`` and the next position; TRUNCATED at the end of the input."""
    if pos >= len(buf):
        raise WireDecodeError("TRUNCATED", f"{what}: 1 byte expected at offset {pos}")
    return buf[pos], pos + 1


def read_frame(buf: bytes, pos: int) -> tuple[Frame, int]:
    """Decodes the frame at ``pos``; returns ``(frame, next position)``."""
    if pos >= len(buf):
        raise WireDecodeError("TRUNCATED", f"frame type expected at offset {pos}")
    t = buf[pos]
    p = pos + 1
    if t == FT_PADDING:
        # A run of zero bytes is one PADDING frame (RFC 9000 §19.1 pads with 0x00 bytes).
        end = len(buf)
        while p < end and buf[p] == 0:
            p += 1
        return Padding(p - pos), p
    if t == FT_PING:
        return Ping(), p
    if t == FT_ACK:
        return _read_ack(buf, p)
    if t & 0xF8 == FT_STREAM:
        sid, p = read_varint(buf, p)
        offset = 0
        if t & STREAM_FLAG_OFF:
            offset, p = read_varint(buf, p)
        if t & STREAM_FLAG_LEN:
            n, p = read_varint(buf, p)
            data, p = read_bytes(buf, p, n, "stream data")
        else:
            data, p = buf[p:], len(buf)
        if offset + len(data) > MAX_VARINT:
            raise WireDecodeError("BAD_VALUE", "stream offset + length exceeds 2^53-1")
        return Stream(sid, offset, bool(t & STREAM_FLAG_FIN), data), p
    if t == FT_MESSAGE or t == FT_MESSAGE | 1 or t == FT_CONTROL:
        mid, p = read_varint(buf, p)
        offset, p = read_varint(buf, p)
        total, p = read_varint(buf, p)
        n, p = read_varint(buf, p)
        if offset + n > total:
            raise WireDecodeError("BAD_VALUE", f"message fragment {offset}+{n} exceeds total {total}")
        data, p = read_bytes(buf, p, n, "message data")
        if t == FT_CONTROL:
            return Message(mid, offset, total, False, data, control=True), p
        return Message(mid, offset, total, bool(t & 1), data), p
    if t == FT_MAX_DATA:
        v, p = read_varint(buf, p)
        return MaxData(v), p
    if t == FT_MAX_STREAM_DATA:
        sid, p = read_varint(buf, p)
        v, p = read_varint(buf, p)
        return MaxStreamData(sid, v), p
    if t == FT_MAX_STREAMS:
        v, p = read_varint(buf, p)
        return MaxStreams(v), p
    if t == FT_RESET_STREAM:
        sid, p = read_varint(buf, p)
        code, p = read_varint(buf, p)
        size, p = read_varint(buf, p)
        return ResetStream(sid, code, size), p
    if t == FT_STOP_SENDING:
        sid, p = read_varint(buf, p)
        code, p = read_varint(buf, p)
        return StopSending(sid, code), p
    if t == FT_PATH_CHALLENGE or t == FT_PATH_RESPONSE:
        data, p = read_bytes(buf, p, PATH_DATA_LENGTH, "path data")
        return (PathChallenge(data) if t == FT_PATH_CHALLENGE else PathResponse(data)), p
    if t == FT_CLOSE:
        code, p = read_varint(buf, p)
        n, p = read_varint(buf, p)
        raw, p = read_bytes(buf, p, n, "close reason")
        return Close(code, _utf8_decode(raw, "close reason")), p
    if t == FT_DATAGRAM:
        return Datagram(buf[p:]), len(buf)
    if t == FT_DATAGRAM | 1:
        n, p = read_varint(buf, p)
        data, p = read_bytes(buf, p, n, "datagram data")
        return Datagram(data), p
    if t == FT_RELAY:
        peer, p = read_bytes(buf, p, PEER_ID_LENGTH, "relay peer")
        n, p = read_varint(buf, p)
        payload, p = read_bytes(buf, p, n, "relay payload")
        return Relay(peer, payload), p
    raise WireDecodeError("UNKNOWN_TYPE", f"unknown frame type 0x{t:x} at offset {pos}")


def _read_ack(buf: bytes, p: int) -> tuple[Ack, int]:
    largest, p = read_varint(buf, p)
    delay, p = read_varint(buf, p)
    count, p = read_varint(buf, p)
    # each further range needs at least two bytes: refuse impossible counts before allocating
    if count * 2 > len(buf) - p:
        raise WireDecodeError("TRUNCATED", f"ack range count {count} exceeds the remaining input")
    first, p = read_varint(buf, p)
    if first > largest:
        raise WireDecodeError("BAD_VALUE", f"ack first range {first} exceeds largest {largest}")
    smallest = largest - first
    ranges = [(smallest, largest)]
    for _ in range(count):
        gap, p = read_varint(buf, p)
        n, p = read_varint(buf, p)
        # RFC 9000 §19.3.1: the next range ends gap + 2 below the previous smallest
        if gap + 2 > smallest:
            raise WireDecodeError("BAD_VALUE", f"ack gap {gap} underflows at {smallest}")
        end = smallest - gap - 2
        if n > end:
            raise WireDecodeError("BAD_VALUE", f"ack range length {n} underflows at {end}")
        smallest = end - n
        ranges.append((smallest, end))
    return Ack(delay, ranges), p


def decode_frames(buf: bytes) -> list[Frame]:
    """Decodes the plaintext of a data packet into its frames."""
    frames: list[Frame] = []
    pos = 0
    end = len(buf)
    while pos < end:
        f, pos = read_frame(buf, pos)
        frames.append(f)
    return frames


def _check_bytes(name: str, v: object, length: int | None = None) -> None:
    if not isinstance(v, (bytes, bytearray, memoryview)):
        raise TypeError(f'"{name}" expected bytes')
    if length is not None and len(v) != length:
        raise ValueError(f'"{name}" expected {length} bytes, got {len(v)}')


def _check_ack_ranges(ranges: list[tuple[int, int]]) -> None:
    if not ranges:
        raise ValueError('"ranges" must not be empty')
    prev_start = None
    for start, end in ranges:
        check_varint("ack range start", start)
        check_varint("ack range end", end)
        if start > end:
            raise ValueError(f"ack range {start}..{end} has start > end")
        if prev_start is not None and end + 1 >= prev_start:
            raise ValueError("ack ranges must be descending, disjoint and non-adjacent (merge them)")
        prev_start = start


def encode_frame(f: Frame, out: bytearray) -> None:
    """Appends the encoding of ``f`` to ``out``; ValueError/TypeError on invalid fields."""
    if isinstance(f, Stream):
        check_varint("stream_id", f.stream_id)
        check_varint("offset", f.offset)
        _check_bytes("data", f.data)
        if f.offset + len(f.data) > MAX_VARINT:
            raise ValueError("stream offset + length exceeds 2^53-1")
        t = FT_STREAM | STREAM_FLAG_LEN | (STREAM_FLAG_OFF if f.offset else 0) | (1 if f.fin else 0)
        out.append(t)
        write_varint(out, f.stream_id)
        if f.offset:
            write_varint(out, f.offset)
        write_varint(out, len(f.data))
        out += f.data
    elif isinstance(f, Ack):
        _check_ack_ranges(f.ranges)
        check_varint("delay", f.delay)
        out.append(FT_ACK)
        largest = f.ranges[0][1]
        write_varint(out, largest)
        write_varint(out, f.delay)
        write_varint(out, len(f.ranges) - 1)
        write_varint(out, largest - f.ranges[0][0])
        smallest = f.ranges[0][0]
        for start, end in f.ranges[1:]:
            write_varint(out, smallest - end - 2)
            write_varint(out, end - start)
            smallest = start
    elif isinstance(f, Message):
        for name in ("id", "offset", "total"):
            check_varint(name, getattr(f, name))
        _check_bytes("data", f.data)
        if f.offset + len(f.data) > f.total:
            raise ValueError(f"message fragment {f.offset}+{len(f.data)} exceeds total {f.total}")
        if f.control and f.unordered:
            raise ValueError("a CONTROL frame is ordered")
        out.append(FT_CONTROL if f.control else FT_MESSAGE | (1 if f.unordered else 0))
        write_varint(out, f.id)
        write_varint(out, f.offset)
        write_varint(out, f.total)
        write_varint(out, len(f.data))
        out += f.data
    elif isinstance(f, Padding):
        if type(f.length) is not int or f.length < 1:
            raise ValueError(f'"length" expected integer >= 1, got {f.length!r}')
        out += bytes(f.length)
    elif isinstance(f, Ping):
        out.append(FT_PING)
    elif isinstance(f, MaxData):
        check_varint("maximum", f.maximum)
        out.append(FT_MAX_DATA)
        write_varint(out, f.maximum)
    elif isinstance(f, MaxStreamData):
        check_varint("stream_id", f.stream_id)
        check_varint("maximum", f.maximum)
        out.append(FT_MAX_STREAM_DATA)
        write_varint(out, f.stream_id)
        write_varint(out, f.maximum)
    elif isinstance(f, MaxStreams):
        check_varint("maximum", f.maximum)
        out.append(FT_MAX_STREAMS)
        write_varint(out, f.maximum)
    elif isinstance(f, ResetStream):
        for name in ("stream_id", "code", "final_size"):
            check_varint(name, getattr(f, name))
        out.append(FT_RESET_STREAM)
        write_varint(out, f.stream_id)
        write_varint(out, f.code)
        write_varint(out, f.final_size)
    elif isinstance(f, StopSending):
        check_varint("stream_id", f.stream_id)
        check_varint("code", f.code)
        out.append(FT_STOP_SENDING)
        write_varint(out, f.stream_id)
        write_varint(out, f.code)
    elif isinstance(f, (PathChallenge, PathResponse)):
        _check_bytes("data", f.data, PATH_DATA_LENGTH)
        out.append(FT_PATH_CHALLENGE if isinstance(f, PathChallenge) else FT_PATH_RESPONSE)
        out += f.data
    elif isinstance(f, Close):
        check_varint("code", f.code)
        if not isinstance(f.reason, str):
            raise TypeError('"reason" expected str')
        raw = utf8_encode(f.reason)
        out.append(FT_CLOSE)
        write_varint(out, f.code)
        write_varint(out, len(raw))
        out += raw
    elif isinstance(f, Datagram):
        _check_bytes("data", f.data)
        out.append(FT_DATAGRAM | 1)
        write_varint(out, len(f.data))
        out += f.data
    elif isinstance(f, Relay):
        _check_bytes("peer", f.peer, PEER_ID_LENGTH)
        _check_bytes("payload", f.payload)
        out.append(FT_RELAY)
        out += f.peer
        write_varint(out, len(f.payload))
        out += f.payload
    else:
        raise TypeError(f"not a frame: {f!r}")


def encode_frames(frames: list[Frame]) -> bytes:
    out = bytearray()
    for f in frames:
        encode_frame(f, out)
    return bytes(out)


def frame_size(f: Frame) -> int:
    """Exact encoded size of ``f``."""
    out = bytearray()
    encode_frame(f, out)
    return len(out)


def stream_frame_overhead(stream_id: int, offset: int, n: int) -> int:
    """Bytes before the data of a STREAM frame carrying ``n`` bytes at ``offset``."""
    return 1 + varint_size(stream_id) + (varint_size(offset) if offset else 0) + varint_size(n)


def message_frame_overhead(mid: int, offset: int, total: int, n: int) -> int:
    return 1 + varint_size(mid) + varint_size(offset) + varint_size(total) + varint_size(n)


# ---------------------------------------------------------------------------------------------
# packets (§3)

HandshakeKind = Literal["init", "response", "final"]
_HS_TYPES: dict[str, int] = {
    "init": PACKET_HANDSHAKE_INIT,
    "response": PACKET_HANDSHAKE_RESPONSE,
    "final": PACKET_HANDSHAKE_FINAL,
}
_HS_KINDS = {v: k for k, v in _HS_TYPES.items()}


@dataclass(slots=True)
class HandshakePacket:
    kind: HandshakeKind
    version: int
    pattern: int
    sender_index: int
    receiver_index: int
    noise: bytes
    mac1: bytes
    mac2: bytes


@dataclass(slots=True)
class CookieReply:
    receiver_index: int
    nonce: bytes
    sealed_cookie: bytes


@dataclass(slots=True)
class DataPacket:
    key_phase: int
    receiver_index: int
    packet_number: int
    sealed: bytes  # ciphertext || tag


Packet = Union[HandshakePacket, CookieReply, DataPacket]


def _check_u32(name: str, v: object) -> None:
    if type(v) is not int or not 0 <= v <= 0xFFFFFFFF:
        raise ValueError(f'"{name}" expected integer in [0, 2^32-1], got {v!r}')


def encode_packet(p: Packet) -> bytes:
    if isinstance(p, HandshakePacket):
        if p.kind not in _HS_TYPES:
            raise ValueError(f'"kind" expected init, response or final, got {p.kind!r}')
        if type(p.version) is not int or not 0 <= p.version <= 0xFF:
            raise ValueError(f'"version" expected integer in [0, 255], got {p.version!r}')
        if p.pattern not in (PATTERN_IK, PATTERN_XX):
            raise ValueError(f'"pattern" expected 0 (IK) or 1 (XX), got {p.pattern!r}')
        _check_u32("sender_index", p.sender_index)
        _check_u32("receiver_index", p.receiver_index)
        if p.kind == "final" and p.pattern != PATTERN_XX:
            raise ValueError('"pattern" expected 1 (XX) in a handshake final')
        if p.kind == "init" and p.receiver_index != 0:
            raise ValueError('"receiver_index" expected 0 in a handshake init')
        _check_bytes("noise", p.noise)
        _check_bytes("mac1", p.mac1, MAC_LENGTH)
        _check_bytes("mac2", p.mac2, MAC_LENGTH)
        head = _HS_HEADER.pack(_HS_TYPES[p.kind], p.version, p.pattern, p.sender_index, p.receiver_index)
        return head + bytes(p.noise) + bytes(p.mac1) + bytes(p.mac2)
    if isinstance(p, CookieReply):
        _check_u32("receiver_index", p.receiver_index)
        _check_bytes("nonce", p.nonce, COOKIE_NONCE_LENGTH)
        _check_bytes("sealed_cookie", p.sealed_cookie, SEALED_COOKIE_LENGTH)
        return bytes([PACKET_COOKIE_REPLY]) + _U32.pack(p.receiver_index) + bytes(p.nonce) + bytes(p.sealed_cookie)
    if isinstance(p, DataPacket):
        _check_bytes("sealed", p.sealed)
        if len(p.sealed) < AEAD_TAG_LENGTH:
            raise ValueError(f'"sealed" expected at least {AEAD_TAG_LENGTH} bytes')
        return data_header(p.key_phase, p.receiver_index, p.packet_number) + bytes(p.sealed)
    raise TypeError(f"not a packet: {p!r}")


def data_header(key_phase: int, receiver_index: int, packet_number: int) -> bytes:
    """The 13-byte data packet header (the AEAD associated data)."""
    if key_phase not in (0, 1):
        raise ValueError(f'"key_phase" expected 0 or 1, got {key_phase!r}')
    _check_u32("receiver_index", receiver_index)
    check_varint("packet_number", packet_number)
    return _DATA_HEADER.pack(PACKET_DATA | key_phase, receiver_index, packet_number)


def read_data_header(buf: bytes) -> DataPacket:
    t = buf[0] if buf else -1
    if t & 0xFE != PACKET_DATA or t < 0:
        raise WireDecodeError("UNKNOWN_TYPE", f"not a data packet (first byte {t})")
    if len(buf) < DATA_HEADER_LENGTH + AEAD_TAG_LENGTH:
        raise WireDecodeError("TRUNCATED", f"data packet of {len(buf)} bytes is shorter than header + tag")
    _, idx, pn = _DATA_HEADER.unpack_from(buf, 0)
    if pn > MAX_VARINT:
        raise WireDecodeError("BAD_VALUE", "packet number exceeds 2^53-1")
    return DataPacket(t & 1, idx, pn, buf[DATA_HEADER_LENGTH:])


def decode_packet(buf: bytes) -> Packet:
    t = buf[0] if buf else -1
    if t in _HS_KINDS:
        if len(buf) < HANDSHAKE_HEADER_LENGTH + HANDSHAKE_TRAILER_LENGTH:
            raise WireDecodeError("TRUNCATED", f"handshake packet of {len(buf)} bytes is too short")
        _, version, pattern, sender, receiver = _HS_HEADER.unpack_from(buf, 0)
        # the layout past the version byte belongs to that version; we only speak ours
        if version != WIRE_VERSION:
            raise WireDecodeError("UNSUPPORTED_VERSION", f"handshake version {version}, we speak {WIRE_VERSION}")
        if pattern not in (PATTERN_IK, PATTERN_XX):
            raise WireDecodeError("BAD_VALUE", f"unknown handshake pattern {pattern}")
        if t == PACKET_HANDSHAKE_FINAL and pattern != PATTERN_XX:
            raise WireDecodeError("BAD_VALUE", "handshake final outside Noise XX")
        if t == PACKET_HANDSHAKE_INIT and receiver != 0:
            raise WireDecodeError("BAD_VALUE", "handshake init with a non-zero receiver index")
        m1 = len(buf) - 2 * MAC_LENGTH
        return HandshakePacket(
            _HS_KINDS[t],  # type: ignore[arg-type]
            version,
            pattern,
            sender,
            receiver,
            buf[HANDSHAKE_HEADER_LENGTH:m1],
            buf[m1 : m1 + MAC_LENGTH],
            buf[m1 + MAC_LENGTH :],
        )
    if t == PACKET_COOKIE_REPLY:
        if len(buf) < COOKIE_REPLY_LENGTH:
            raise WireDecodeError("TRUNCATED", f"cookie reply of {len(buf)} bytes, expected {COOKIE_REPLY_LENGTH}")
        if len(buf) > COOKIE_REPLY_LENGTH:
            raise WireDecodeError(
                "TRAILING_BYTES", f"cookie reply of {len(buf)} bytes, expected {COOKIE_REPLY_LENGTH}"
            )
        return CookieReply(_U32.unpack_from(buf, 1)[0], buf[5:29], buf[29:61])
    if t >= 0 and t & 0xFE == PACKET_DATA:
        return read_data_header(buf)
    raise WireDecodeError("UNKNOWN_TYPE", "unknown packet type " + ("(empty)" if t < 0 else f"0x{t:x}"))


# ---------------------------------------------------------------------------------------------
# demultiplexing (§1)

STUN_MAGIC_COOKIE = 0x2112A442


def classify_datagram(buf: bytes) -> Literal["stun", "srmudp", "unknown"]:
    """RFC 7983 §7 first-byte rule: STUN (0b00 + header checks), srmudp (known 0x8x/0x9x types)."""
    if not buf:
        return "unknown"
    t = buf[0]
    if t < 0x40:
        if (
            len(buf) >= 20
            and _U32.unpack_from(buf, 4)[0] == STUN_MAGIC_COOKIE
            and int.from_bytes(buf[2:4], "big") == len(buf) - 20
            and (len(buf) - 20) % 4 == 0
        ):
            return "stun"
        return "unknown"
    if t in _HS_KINDS or t == PACKET_COOKIE_REPLY or t & 0xFE == PACKET_DATA:
        return "srmudp"
    return "unknown"
