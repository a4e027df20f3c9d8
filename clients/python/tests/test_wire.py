"""The wire codec: round trips (Hypothesis), totality on any byte string, the examples of
wire-format.md, and the TypeScript codec as an oracle: on the same inputs both implementations
give the same canonical re-encoding or the same error code."""

from __future__ import annotations

import json
import random
import subprocess

import pytest
from conftest import TESTS
from hypothesis import given
from hypothesis import strategies as st

from srmudp import wire
from srmudp.errors import WireDecodeError
from srmudp.wire import (
    Ack,
    Close,
    CookieReply,
    DataPacket,
    Datagram,
    HandshakePacket,
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
    decode_packet,
    encode_frames,
    encode_packet,
    read_varint,
)

V = st.integers(0, wire.MAX_VARINT)
SMALL = st.one_of(st.integers(0, 70), st.integers(0, 20_000), V)
DATA = st.binary(max_size=64)


@st.composite
def ack_frames(draw: st.DrawFn) -> Ack:
    n = draw(st.integers(1, 5))
    ranges = []
    end = draw(st.integers(0, 10_000))
    for i in range(n):
        start = end - draw(st.integers(0, min(end, 50)))
        ranges.append((start, end))
        if start < 2 or i == n - 1:
            break
        end = start - 2 - draw(st.integers(0, start - 2))
    return Ack(draw(SMALL), ranges)


@st.composite
def stream_frames(draw: st.DrawFn) -> Stream:
    data = draw(DATA)
    offset = draw(st.integers(0, wire.MAX_VARINT - len(data)))
    return Stream(draw(SMALL), offset, draw(st.booleans()), data)


@st.composite
def message_frames(draw: st.DrawFn) -> Message:
    data = draw(DATA)
    offset = draw(st.integers(0, 5000))
    total = offset + len(data) + draw(st.integers(0, 5000))
    return Message(draw(SMALL), offset, total, draw(st.booleans()), data)


FRAMES = st.one_of(
    st.builds(Padding, st.integers(1, 40)),
    st.just(Ping()),
    ack_frames(),
    stream_frames(),
    st.builds(ResetStream, SMALL, SMALL, SMALL),
    st.builds(StopSending, SMALL, SMALL),
    st.builds(MaxData, V),
    st.builds(MaxStreamData, SMALL, V),
    st.builds(MaxStreams, V),
    message_frames(),
    st.builds(PathChallenge, st.binary(min_size=8, max_size=8)),
    st.builds(PathResponse, st.binary(min_size=8, max_size=8)),
    st.builds(Close, SMALL, st.text(max_size=20).filter(lambda s: not s.startswith("\ufeff"))),
    st.builds(Datagram, DATA),
    st.builds(Relay, st.binary(min_size=32, max_size=32), DATA),
)


def _merge_padding(frames: list) -> list:
    out: list = []
    for f in frames:
        if isinstance(f, Padding) and out and isinstance(out[-1], Padding):
            out[-1] = Padding(out[-1].length + f.length)
        else:
            out.append(f)
    return out


@given(st.lists(FRAMES, max_size=6))
def test_frames_round_trip(frames: list) -> None:
    b = encode_frames(frames)
    assert decode_frames(b) == _merge_padding(frames)
    assert encode_frames(decode_frames(b)) == b


@given(V)
def test_varint_round_trip_and_minimal(n: int) -> None:
    b = wire.encode_varint(n)
    assert read_varint(b, 0) == (n, len(b))
    assert len(b) == (1 if n < 64 else 2 if n < 16384 else 4 if n < 2**30 else 8)


def test_varint_limits() -> None:
    assert read_varint(bytes([0x40, 0x01]), 0) == (1, 2)  # non-minimal encodings are accepted
    assert read_varint(bytes.fromhex("c01fffffffffffff"), 0) == (2**53 - 1, 8)
    with pytest.raises(WireDecodeError) as e:
        read_varint(bytes.fromhex("c020000000000000"), 0)
    assert e.value.code == "VARINT_RANGE"
    with pytest.raises(WireDecodeError) as e:
        read_varint(bytes([0x80, 0, 0]), 0)
    assert e.value.code == "TRUNCATED"
    with pytest.raises(ValueError):
        wire.encode_varint(2**53)


def test_wire_format_md_ack_example() -> None:
    # ranges 8-10 and 4-5, delay 25 µs (docs/architecture/wire-format.md §5, ACK)
    b = bytes.fromhex("020a190102 0101".replace(" ", ""))
    assert decode_frames(b) == [Ack(25, [(8, 10), (4, 5)])]
    assert encode_frames([Ack(25, [(8, 10), (4, 5)])]) == b


def test_encoders_refuse_what_decoders_reject() -> None:
    for bad in (
        Ack(0, []),
        Ack(0, [(5, 4)]),
        Ack(0, [(4, 5), (8, 10)]),
        Ack(0, [(8, 10), (5, 7)]),  # adjacent ranges cannot be expressed: merge them
        Message(0, 10, 5, False, b"x"),
        PathChallenge(b"1234567"),
        Padding(0),
        Stream(0, wire.MAX_VARINT, False, b"x"),
    ):
        with pytest.raises((ValueError, TypeError)):
            encode_frames([bad])


PACKETS = st.one_of(
    st.builds(
        HandshakePacket,
        st.sampled_from(["init", "response", "final"]),
        st.just(1),
        st.just(wire.PATTERN_XX),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        DATA,
        st.binary(min_size=16, max_size=16),
        st.binary(min_size=16, max_size=16),
    ).map(lambda p: HandshakePacket(p.kind, 1, p.pattern, p.sender_index, 0 if p.kind == "init" else p.receiver_index, p.noise, p.mac1, p.mac2)),
    st.builds(CookieReply, st.integers(0, 2**32 - 1), st.binary(min_size=24, max_size=24), st.binary(min_size=32, max_size=32)),
    st.builds(DataPacket, st.integers(0, 1), st.integers(0, 2**32 - 1), V, st.binary(min_size=16, max_size=64)),
)


@given(PACKETS)
def test_packets_round_trip(p: object) -> None:
    b = encode_packet(p)  # type: ignore[arg-type]
    assert decode_packet(b) == p
    assert wire.classify_datagram(b) == "srmudp"


def _outcome(kind: str, b: bytes) -> dict[str, str]:
    try:
        if kind == "frames":
            return {"ok": encode_frames(decode_frames(b)).hex()}
        if kind == "packet":
            return {"ok": encode_packet(decode_packet(b)).hex()}
        return {"ok": str(read_varint(b, 0)[0])}
    except WireDecodeError as e:
        return {"error": e.code}


@given(st.binary(max_size=200))
def test_any_bytes_decode_to_a_value_or_a_wire_decode_error(b: bytes) -> None:
    for kind in ("frames", "packet", "varint"):
        _outcome(kind, b)  # anything but WireDecodeError propagates and fails the test


def _corpus(seed: int, n: int) -> list[tuple[str, bytes]]:
    """Valid encodings, their mutations and truncations, and random bytes."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.3:
            b = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 60)))
            kind = rng.choice(["frames", "packet", "varint"])
        else:
            kind = "frames" if r < 0.75 else "packet"
            b = bytearray(_random_valid(rng, kind))
            if b and rng.random() < 0.7:
                for _ in range(rng.randrange(1, 4)):
                    b[rng.randrange(len(b))] = rng.getrandbits(8)
            if b and rng.random() < 0.3:
                b = b[: rng.randrange(len(b))]
            b = bytes(b)
        out.append((kind, b))
    return out


def _random_valid(rng: random.Random, kind: str) -> bytes:
    def v() -> int:
        return rng.choice([rng.randrange(64), rng.randrange(16384), rng.randrange(2**30), rng.randrange(2**53)])

    def data() -> bytes:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 20)))

    if kind == "packet":
        c = rng.randrange(3)
        if c == 0:
            k = rng.choice(["init", "response", "final"])
            return encode_packet(
                HandshakePacket(k, 1, 1, rng.getrandbits(32), 0 if k == "init" else rng.getrandbits(32), data(), bytes(16), bytes(16))
            )
        if c == 1:
            return encode_packet(CookieReply(rng.getrandbits(32), bytes(24), bytes(32)))
        return encode_packet(DataPacket(rng.randrange(2), rng.getrandbits(32), v(), bytes(16) + data()))
    frames = []
    for _ in range(rng.randrange(1, 4)):
        c = rng.randrange(12)
        if c == 0:
            end = v()
            frames.append(Ack(v(), [(max(0, end - rng.randrange(10)), end)]))
        elif c == 1:
            d = data()
            frames.append(Stream(v(), rng.randrange(2**40), rng.random() < 0.5, d))
        elif c == 2:
            d = data()
            frames.append(Message(v(), 0, len(d) + rng.randrange(5), rng.random() < 0.5, d))
        elif c == 3:
            frames.append(Close(v(), rng.choice(["", "bye", "ünïcødé", "🙂"])))
        elif c == 4:
            frames.append(Datagram(data()))
        elif c == 5:
            frames.append(MaxStreamData(v(), v()))
        elif c == 6:
            frames.append(ResetStream(v(), v(), v()))
        elif c == 7:
            frames.append(Relay(bytes(32), data()))
        elif c == 8:
            frames.append(PathChallenge(bytes(8)))
        elif c == 9:
            frames.append(Padding(rng.randrange(1, 5)))
        elif c == 10:
            frames.append(Ping())
        else:
            frames.append(MaxStreams(v()))
    return encode_frames(frames)


def test_same_outcome_as_the_typescript_codec() -> None:
    """3000 inputs through both codecs: identical canonical bytes or identical error codes."""
    corpus = _corpus(20251203, 3000)
    # hand-picked edge cases
    corpus += [
        ("frames", bytes.fromhex("1c0004efbbbf41")),  # CLOSE reason with a leading BOM
        ("frames", bytes.fromhex("1c0002c328")),  # invalid UTF-8
        ("frames", bytes.fromhex("30")),  # DATAGRAM to the end, empty
        ("frames", bytes.fromhex("08")),  # STREAM without a stream id
        ("frames", bytes.fromhex("0f00c01fffffffffffff01")),  # offset + length > 2^53-1
        ("packet", bytes.fromhex("8102")),
        ("packet", b""),
        ("varint", b""),
    ]
    proc = subprocess.run(
        ["node", str(TESTS / "ts_codec.mjs")],
        input=json.dumps([{"kind": k, "hex": b.hex()} for k, b in corpus]).encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    ts = json.loads(proc.stdout)
    mismatches = []
    for (kind, b), theirs in zip(corpus, ts):
        ours = _outcome(kind, b)
        theirs.pop("next", None)
        if ours != theirs:
            mismatches.append((kind, b.hex(), ours, theirs))
    assert not mismatches, mismatches[:5]
