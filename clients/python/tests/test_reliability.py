"""Reliability and the endpoint on a seeded virtual network: every byte exactly once and in order
under loss, duplication and reordering; whole messages; flow control; close, idle timeout and
keepalive; hostile frames close with the right transport error."""

from __future__ import annotations

import hashlib
import random

import pytest
from sim import Link, Network, SimPeer, drain, seeded_random

from srmudp import reliability as rel
from srmudp.endpoint import Connected, ConnectionClosed, ConnectionEvent, Endpoint
from srmudp.identity import Identity
from srmudp.reliability import ErrorCode, Reliable
from srmudp.reliability.buffers import RecvBuffer, SendBuffer
from srmudp.reliability.ranges import RangeSet
from srmudp.wire import Ack, Close, MaxStreams, Message, ResetStream, Stream, decode_frames, encode_frames

A = ("10.0.0.1", 1000)
B = ("10.0.0.2", 2000)


class Peer(SimPeer):
    def __init__(self, net: Network, addr: tuple[str, int], seed: int, **kw: object) -> None:
        rnd = seeded_random(seed)
        self.identity = Identity.from_secret(rnd(32))
        self.ep = Endpoint(self.identity, 0.0, random=rnd, **kw)  # type: ignore[arg-type]
        self.events: list[object] = []
        self.streams: dict[int, bytearray] = {}
        self.finished: set[int] = set()
        self.messages: list[bytes] = []
        net.add(addr, self, drain(self.ep.poll_transmit))

    def on_event(self, e: object) -> None:
        if not isinstance(e, ConnectionEvent):
            return
        ev = e.event
        if isinstance(ev, (rel.Readable, rel.StreamOpened, rel.StreamFinished)):
            buf = self.streams.setdefault(ev.stream_id, bytearray())
            while (d := e.conn.read(ev.stream_id)) is not None:
                buf += d
            if isinstance(ev, rel.StreamFinished):
                self.finished.add(ev.stream_id)
        elif isinstance(ev, rel.MessageReceived):
            self.messages.append(ev.data)

    def conn(self):  # noqa: ANN201
        return next(e.conn for e in self.events if isinstance(e, Connected))

    def closed(self) -> list[ConnectionClosed]:
        return [e for e in self.events if isinstance(e, ConnectionClosed)]


def connected_pair(seed: int, link: Link, **kw: object) -> tuple[Network, Peer, Peer]:
    net = Network(seed, link)
    a, b = Peer(net, A, seed * 2 + 1, **kw), Peer(net, B, seed * 2 + 2, **kw)
    a.ep.connect(0, [B], b.identity.public_key)
    assert net.run(lambda: any(isinstance(e, Connected) for e in a.events + b.events), max_ms=20_000)
    net.run(lambda: sum(isinstance(e, Connected) for e in a.events + b.events) == 2, max_ms=60_000)
    return net, a, b


@pytest.mark.parametrize("seed", range(8))
def test_streams_and_messages_survive_loss_duplication_and_reordering(seed: int) -> None:
    rng = random.Random(seed)
    link = Link(latency_ms=rng.choice([2, 20, 60]), jitter_ms=rng.choice([0, 5, 30]), loss=rng.choice([0, 0.02, 0.1]), duplicate=rng.choice([0, 0.05]))
    net, a, b = connected_pair(seed, link)
    ca, cb = a.conn(), b.conn()
    payloads = {}
    for _ in range(3):
        sid = ca.open_stream()
        payloads[sid] = rng.randbytes(rng.randrange(1, 120_000))
    sid_b = cb.open_stream()
    payloads_b = {sid_b: rng.randbytes(50_000)}
    msgs = [rng.randbytes(rng.randrange(0, 5000)) for _ in range(20)]
    pending = {s: memoryview(p) for s, p in payloads.items()}
    pending_b = {s: memoryview(p) for s, p in payloads_b.items()}
    for m in msgs:
        assert ca.send_message(m)
    unordered = [rng.randbytes(100) for _ in range(5)]
    for m in unordered:
        assert ca.send_message(m, unordered=True)

    def push(conn, pend) -> None:  # noqa: ANN001
        for s, mv in list(pend.items()):
            n = conn.write(s, bytes(mv[:65536]))
            pend[s] = mv[n:]
            if not len(pend[s]):
                conn.finish(s)
                del pend[s]

    def done() -> bool:
        push(ca, pending)
        push(cb, pending_b)
        return (
            set(payloads) <= b.finished
            and set(payloads_b) <= a.finished
            and len(b.messages) == len(msgs) + len(unordered)
        )

    assert net.run(done, max_ms=600_000), f"seed {seed}: {link}"
    for s, p in payloads.items():
        assert hashlib.sha256(b.streams[s]).digest() == hashlib.sha256(p).digest()
    assert bytes(a.streams[sid_b]) == payloads_b[sid_b]
    ordered = [m for m in b.messages if m not in unordered]
    assert ordered == msgs  # whole and in order
    assert sorted(m for m in b.messages if m in unordered) == sorted(unordered)
    # both sides keep their receive windows: no flow-control error ever closed the connection
    assert not a.closed() and not b.closed()


def test_stream_ids_follow_the_key_order_and_streams_are_bidirectional() -> None:
    net, a, b = connected_pair(1, Link())
    ca, cb = a.conn(), b.conn()
    even = ca if a.identity.public_key < b.identity.public_key else cb
    odd = cb if even is ca else ca
    assert even.open_stream() % 2 == 0 and odd.open_stream() % 2 == 1


def test_graceful_close_delivers_everything_first() -> None:
    # (the drain is bounded: max(3 PTO, 2 s), at most 10 s, then CLOSE regardless)
    net, a, b = connected_pair(2, Link(latency_ms=30, loss=0.05))
    ca = a.conn()
    sid = ca.open_stream()
    data = random.Random(2).randbytes(100_000)
    sent = 0
    while sent < len(data):
        n = ca.write(sid, data[sent:])
        sent += n
        if n == 0:
            net.run(lambda: False, max_ms=net.now + 50)
    ca.finish(sid)
    ca.send_message(b"last words")
    # a lost CLOSE leaves the peer to its idle timeout (RFC 9000 §10.2): keep this one
    net.tap = lambda frm, to, d: d
    net.link.loss = 0.0
    ca.close(net.now, 0x100, "bye")
    assert net.run(lambda: bool(b.closed()) and ca.finished, max_ms=120_000)
    assert bytes(b.streams[sid]) == data and b.messages == [b"last words"]
    c = b.closed()[0]
    assert (c.code, c.reason, c.remote) == (0x100, "bye", True)
    assert a.closed()[0].remote is False


def test_idle_timeout_when_the_peer_vanishes() -> None:
    net, a, b = connected_pair(3, Link(), idle_timeout_ms=2000, keepalive_ms=500)
    net.run(lambda: False, max_ms=10_000)
    assert not a.closed()  # keepalives hold the connection
    del net.nodes[B]  # b disappears without a word
    assert net.run(lambda: bool(a.closed()), max_ms=20_000)
    # our own idle timer, not something the peer said: remote False, and the reason says so
    c = a.closed()[0]
    assert (c.code, c.reason, c.remote) == (0x12, "idle timeout: nothing received from the peer for 2 s", False)


def test_reset_stream_reaches_the_peer() -> None:
    net, a, b = connected_pair(4, Link())
    ca = a.conn()
    sid = ca.open_stream()
    ca.write(sid, b"x" * 1000)
    ca.reset(sid, 0x123)
    net.run(lambda: any(isinstance(e, ConnectionEvent) and isinstance(e.event, rel.StreamReset) for e in b.events), max_ms=5000)
    ev = next(e.event for e in b.events if isinstance(e, ConnectionEvent) and isinstance(e.event, rel.StreamReset))
    assert ev.code == 0x123


def _hostile(frames: list) -> rel.Closed:  # noqa: ANN001
    r = Reliable("initiator", 0.0)
    r.handle_packet(1, 0, encode_frames(frames))
    ev = None
    while (e := r.poll_event()) is not None:
        ev = e if isinstance(e, rel.Closed) else ev
    assert isinstance(ev, rel.Closed), frames
    t = r.poll_transmit(2)
    assert t is not None  # the CLOSE frame
    return ev


@pytest.mark.parametrize(
    "frames,code",
    [
        ([Ack(0, [(5, 5)])], ErrorCode.PROTOCOL_VIOLATION),  # ACK of a packet never sent
        ([Stream(1, 256 * 1024, False, b"x")], ErrorCode.FLOW_CONTROL_ERROR),  # beyond our stream window
        ([Stream(1 + 2 * 100, 0, False, b"x")], ErrorCode.STREAM_LIMIT_ERROR),  # beyond our MAX_STREAMS
        ([Stream(0, 0, False, b"x")], ErrorCode.STREAM_STATE_ERROR),  # our own stream, never opened
        ([Stream(1, 0, True, b"ab"), Stream(1, 0, True, b"abc")], ErrorCode.FINAL_SIZE_ERROR),
        ([Message(0, 0, 2**40, False, b"x")], ErrorCode.MESSAGE_TOO_LARGE),
        ([Message(0, 0, 10, False, b"x"), Message(0, 1, 11, False, b"y")], ErrorCode.PROTOCOL_VIOLATION),
        ([Stream(1, 0, False, b"xy"), ResetStream(1, 0, 1)], ErrorCode.FINAL_SIZE_ERROR),
    ],
)
def test_hostile_frames_close_with_the_right_code(frames: list, code: int) -> None:
    assert _hostile(frames).code == code


def test_close_after_an_idle_gap_still_sends_close() -> None:
    """The closing period runs 3 PTO from the close, not from the last packet: after a long
    silence the CLOSE frame must still go out (a cached clock would end closing at once)."""
    r = Reliable("initiator", 0.0)
    r.handle_packet(1.0, 0, encode_frames([Stream(1, 0, False, b"hi")]))
    while r.poll_transmit(2.0) is not None:
        pass
    r.close(60_000.0, 0x100, "bye")
    assert r.poll_timeout() is not None and r.poll_timeout() > 60_000  # type: ignore[operator]
    r.handle_timeout(60_000.0)
    t = r.poll_transmit(60_000.0)
    assert t is not None and Close(0x100, "bye") in decode_frames(t.payload)


def test_undecodable_payload_closes_with_frame_encoding_error() -> None:
    r = Reliable("initiator", 0.0)
    r.handle_packet(1, 0, b"\x3f")
    assert r.poll_event() == rel.Closed(ErrorCode.FRAME_ENCODING_ERROR, "undecodable frames", False, "FRAME_ENCODING_ERROR")


def test_peer_limits_are_respected_by_the_sender() -> None:
    """We never send beyond the peer's MAX_STREAMS or flow-control credit."""
    r = Reliable("initiator", 0.0)
    for _ in range(16):
        r.open_stream()
    assert not r.can_open_stream()
    r.handle_packet(1, 0, encode_frames([MaxStreams(17)]))
    assert r.can_open_stream()
    sid = r.open_stream()
    r.write(sid, b"z" * 200_000)
    sent = 0
    now = 1.0
    for _ in range(1000):
        t = r.poll_transmit(now)
        if t is None:
            break
        for f in decode_frames(t.payload):
            if isinstance(f, Stream):
                sent = max(sent, f.offset + len(f.data))
        now += 0.01
    assert sent <= 64 * 1024  # the protocol's initial MAX_STREAM_DATA


def test_range_set_against_a_plain_set() -> None:
    rng = random.Random(7)
    rs, ref = RangeSet(), set()
    for _ in range(3000):
        s = rng.randrange(200)
        e = s + rng.randrange(1, 20)
        if rng.random() < 0.6:
            rs.add(s, e)
            ref |= set(range(s, e))
        else:
            rs.remove(s, e)
            ref -= set(range(s, e))
        got = {x for a, b in rs for x in range(a, b)}
        assert got == ref
        assert all(rs.starts[i] < rs.ends[i] < rs.starts[i + 1] for i in range(len(rs) - 1))


def test_buffers() -> None:
    rb = RecvBuffer()
    rb.insert(5, b"fgh")
    rb.insert(0, b"abc")
    rb.insert(2, b"cdefg")
    rb.insert(0, b"abcdefghij")
    assert rb.read(100) == b"abcdefghij"
    sb = SendBuffer()
    sb.write(b"0123456789")
    sb.sent_end = 10
    sb.on_lost(0, 10, False)
    assert sb.on_ack(3, 4, False) == 0
    assert list(sb.lost) == [(0, 3), (7, 10)]
    assert sb.on_ack(0, 3, False) == 7 and sb.read(7, 3) == b"789"
