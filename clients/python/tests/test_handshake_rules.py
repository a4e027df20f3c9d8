"""The handshake rules of issue 11 on a virtual clock: initiation timestamps (TAI64N, checked
against the TypeScript clock), replayed initiations refused, key confirmation before a responder
has a connection (and its expiry), the initiator's new handshake when its keys go unanswered,
cookies by load, per-source budgets of half-open handshakes, and CLOSE ahead of queued data."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import types

import pytest
from sim import Link, Network, SimPeer, drain, seeded_random

from srmudp import reliability as rel
from srmudp.endpoint import (
    CloseCode,
    Connected,
    Connection,
    ConnectionClosed,
    ConnectionEvent,
    Endpoint,
    handshake_failure,
    keys_lost,
    lost_peer_code,
)
from srmudp.handshake_guard import (
    LOAD_HORIZON_MS,
    HandshakeLimits,
    LoadMeter,
    PendingEntry,
    PendingTable,
    Source,
    prefix_of,
)
from srmudp.identity import Identity, peer_identity_hex, same_peer
from srmudp.macs import mac1_key, with_mac1
from srmudp.secure import Established, SecureEndpoint, Timing
from srmudp.timestamp import TimestampClock, encode_timestamp
from srmudp.wire import MAC_LENGTH, PATTERN_IK, WIRE_VERSION, HandshakePacket, encode_packet

A = ("10.0.0.1", 1000)
B = ("10.0.0.2", 2000)
REPO = os.path.join(os.path.dirname(__file__), "..", "..", "..")
TS_TIMESTAMP = os.path.join(REPO, "packages", "crypto", "dist", "timestamp.js")


# ------------------------------------------------------------------------------- timestamps


def test_timestamps_are_byte_identical_to_typescript() -> None:
    """The same offsets and clock readings give the same 12 bytes as @srmudp/crypto's
    TimestampClock: the wall-clock split, two stamps in one millisecond, a clock that goes back,
    seconds beyond 2^32."""
    if not os.path.exists(TS_TIMESTAMP):
        pytest.fail(f"{TS_TIMESTAMP} is missing: build the repository first (pnpm run build)")
    rng = random.Random(11)
    cases = [
        (0.0, [0.0, 0.0, 1.0, 0.5, 999.999, 1000.0]),
        (1_733_000_000_123.456, [0.0, 0.0, 0.0, 17.25, 3.0, 1e6 + 0.001]),
        (5e15 + 0.75, [1.5, 1.5, 2.0]),  # seconds above 2^32: the label's high word
        (-10_000.0, [0.0, 5_000.0, 20_000.5]),  # before 1970: clamped to 0, still increasing
    ]
    cases += [(rng.uniform(1.6e12, 1.8e12), sorted(rng.uniform(0, 1e7) for _ in range(6))) for _ in range(20)]
    script = (
        f"const m = await import({json.dumps('file://' + os.path.abspath(TS_TIMESTAMP))});"
        "const cases = JSON.parse(process.argv[1]);"
        "console.log(JSON.stringify(cases.map(([o, ns]) => { const c = new m.TimestampClock(o);"
        " return ns.map((n) => Buffer.from(c.next(n)).toString('hex')); })));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script, json.dumps(cases)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    ts = json.loads(out.stdout)
    for (offset, nows), expected in zip(cases, ts):
        clock = TimestampClock(offset)
        got = [clock.next(n).hex() for n in nows]
        assert got == expected, (offset, nows)
        assert all(a < b for a, b in zip(got, got[1:]))  # strictly increasing, as bytes


def test_timestamp_layout() -> None:
    assert encode_timestamp(0, 0) == bytes.fromhex("4000000000000000") + bytes(4)
    assert encode_timestamp(1, 999_999_999) < encode_timestamp(2, 0)  # byte order is time order
    with pytest.raises(ValueError):
        TimestampClock(float("nan"))


# --------------------------------------------------------------------- secure-level helpers


class SecPeer(SimPeer):
    def __init__(self, net: Network, addr: tuple[str, int], identity: Identity, seed: int, **kw: object) -> None:
        self.ep = SecureEndpoint(identity, random=seeded_random(seed), **kw)  # type: ignore[arg-type]
        self.identity = identity
        self.events: list[object] = []
        net.add(addr, self, drain(lambda now: self.ep.poll_transmit()))

    def established(self) -> bool:
        return any(isinstance(e, Established) for e in self.events)


def forged_ik_init(responder: Identity, rng: random.Random) -> bytes:
    """An IK initiation with a valid mac1 (anyone who has the responder's card can compute it)
    and junk inside: it costs the responder a Diffie-Hellman unless cookies stop it first."""
    noise = rng.randbytes(32 + 48 + 70)
    pkt = encode_packet(
        HandshakePacket("init", WIRE_VERSION, PATTERN_IK, rng.randrange(1, 2**32), 0, noise, bytes(16), bytes(16))
    )
    return with_mac1(pkt, mac1_key(responder.x25519_public))[0]


def test_ik_initiation_without_a_timestamp_is_refused() -> None:
    net = Network(1)
    ia, ib = Identity.from_secret(bytes([1] * 32)), Identity.from_secret(bytes([2] * 32))
    a, b = SecPeer(net, A, ia, 1), SecPeer(net, B, ib, 2)
    a.ep._clock = types.SimpleNamespace(next=lambda now: None)  # an initiator of the old release
    a.ep.connect(0, B, ib.public_key)
    net.run(lambda: False, max_ms=3000)
    assert b.ep.dropped["bad_payload"] >= 1 and not b.ep._channels and not a.established()


def test_replayed_initiation_is_refused_by_its_timestamp() -> None:
    net = Network(2)
    ia, ib = Identity.from_secret(bytes([3] * 32)), Identity.from_secret(bytes([4] * 32))
    timing = Timing(handshake_timeout_ms=3000)
    a, b = SecPeer(net, A, ia, 3, timing=timing), SecPeer(net, B, ib, 4, timing=timing)
    inits: list[bytes] = []
    net.tap = lambda frm, to, d: (inits.append(d) if d[0] == 0x81 else None) or d
    ch = a.ep.connect(0, B, ib.public_key)
    assert net.run(lambda: a.established(), max_ms=5000)
    net.inject(B, A, ch.seal(0, b"confirm"))
    assert net.run(lambda: b.established(), max_ms=5000)
    # within the duplicate cache: answered from it, nothing new
    b.handle(net.now, A, inits[0])
    assert b.ep.dropped["duplicate_init"] == 1
    # later (the cache expired): refused before any state, not answered
    net.run(lambda: False, max_ms=net.now + 4000)
    sent = net.sent
    processed = b.ep.stats["initiations_processed"]
    b.handle(net.now, ("10.9.9.9", 9), inits[0])
    net.run(lambda: False, max_ms=net.now + 100)
    assert b.ep.dropped["replayed_init"] == 1 and net.sent == sent
    assert b.ep.stats["initiations_processed"] == processed + 1  # one DH to read the timestamp
    assert sum(isinstance(e, Established) for e in b.events) == 1
    # a newer initiation from the same key (a rekey) is accepted
    ch.request_rekey()
    assert net.run(lambda: a.ep.stats["rekeys"] == 1 and b.ep.channel(ia.public_key).next is not None, max_ms=net.now + 3000)  # type: ignore[union-attr]


# ------------------------------------------------------------------- endpoint-level helpers


class EpPeer(SimPeer):
    def __init__(self, net: Network, addr: tuple[str, int], identity: Identity, seed: int, **kw: object) -> None:
        self.identity = identity
        self.ep = Endpoint(identity, net.now, random=seeded_random(seed), **kw)  # type: ignore[arg-type]
        self.events: list[object] = []
        self.received: dict[int, bytearray] = {}
        net.add(addr, self, drain(self.ep.poll_transmit))

    def on_event(self, e: object) -> None:
        if isinstance(e, ConnectionEvent) and isinstance(e.event, (rel.Readable, rel.StreamOpened, rel.StreamFinished)):
            buf = self.received.setdefault(e.event.stream_id, bytearray())
            while (d := e.conn.read(e.event.stream_id)) is not None:
                buf += d

    def connected(self) -> list[Connected]:
        return [e for e in self.events if isinstance(e, Connected)]

    def closed(self) -> list[ConnectionClosed]:
        return [e for e in self.events if isinstance(e, ConnectionClosed)]


IA, IB = Identity.from_secret(bytes([5] * 32)), Identity.from_secret(bytes([6] * 32))


def recorded_session(net: Network, hs_ms: float = 2000) -> tuple[EpPeer, EpPeer, list[bytes]]:
    """A dials B (IK) while the network records A's initiations; both connected."""
    a = EpPeer(net, A, IA, 7, handshake_timeout_ms=hs_ms)
    b = EpPeer(net, B, IB, 8, handshake_timeout_ms=hs_ms)
    inits: list[bytes] = []
    net.tap = lambda frm, to, d: (inits.append(d) if frm == A and d[0] == 0x81 else None) or d
    a.ep.connect(net.now, [B], IB.public_key)
    assert net.run(lambda: bool(a.connected() and b.connected()), max_ms=5000)
    return a, b, inits


def test_a_replayed_initiation_recorded_earlier_creates_no_connection() -> None:
    """Issue 11, defect 1: after A has gone, an IK initiation of A recorded earlier makes B
    neither report a connection nor hold state for it."""
    net = Network(3)
    a, b, inits = recorded_session(net)
    assert len(inits) == 1
    a.ep.connections()[0].close(net.now, 0x100, "bye")
    assert net.run(lambda: bool(b.closed()), max_ms=net.now + 5000)
    del net.nodes[A]  # A is gone
    net.run(lambda: False, max_ms=net.now + 10_000)
    assert not b.ep.connections()
    for frm in (A, ("10.6.6.6", 6666)):  # from A's address, and spoofed from elsewhere
        sent = net.sent
        b.handle(net.now, frm, inits[0])
        net.run(lambda: False, max_ms=net.now + 5000)
        assert net.sent == sent  # not answered
    assert len(b.connected()) == 1  # only the genuine connection, ever
    assert not b.ep.connections() and b.ep.secure.pending_handshakes() == 0
    assert b.ep.stats()["drops"]["replayed_init"] == 2  # type: ignore[index]


def test_a_deny_list_by_peer_identity_hex_refuses_the_other_form_of_an_id() -> None:
    """A key holder may present either form of its peer id (the sign bit flipped): a handshake
    proves only the id's X25519 image, which both forms share. A deny-list compared byte for byte
    lets the other form in; one keyed by peer_identity_hex refuses it."""
    other = dataclasses.replace(IA, public_key=IA.public_key[:31] + bytes([IA.public_key[31] ^ 0x80]))
    for key_of, refused in ((peer_identity_hex, True), (bytes.hex, False)):
        net = Network(50)
        denied = {key_of(IA.public_key)}
        a = EpPeer(net, A, other, 51, handshake_timeout_ms=2000)
        b = EpPeer(net, B, IB, 52, accept=lambda k, _f, key_of=key_of, denied=denied: key_of(k) not in denied)
        a.ep.connect(net.now, [B], IB.public_key)
        net.run(lambda a=a, b=b: bool(a.connected() and b.connected()), max_ms=5000)
        assert bool(b.connected()) is not refused and bool(a.connected()) is not refused
        if not refused:
            presented = b.connected()[0].remote_key
            assert presented == other.public_key and presented != IA.public_key
            assert same_peer(presented, IA.public_key)


def test_an_unconfirmed_responder_session_expires() -> None:
    """A responder that forgot the timestamps (it restarted) answers the replay, but the keys are
    never confirmed: no connection, and the session is gone after one handshake timeout."""
    net = Network(4)
    a, b, inits = recorded_session(net, hs_ms=2000)
    del net.nodes[A], net.nodes[B]  # both gone; B restarts with the same key and address
    b2 = EpPeer(net, B, IB, 9, handshake_timeout_ms=2000)
    b2.handle(net.now, A, inits[0])
    t0 = net.now
    ch = b2.ep.secure.channel(IA.public_key)
    assert ch is not None and ch.awaiting_confirmation and not ch.is_established
    assert b2.ep.secure.pending_handshakes() == 1
    net.run(lambda: False, max_ms=t0 + 1900)
    assert not b2.connected() and not b2.ep.connections()  # never a connection while unconfirmed
    assert b2.ep.stats()["connections"] == 0 and b2.ep.stats()["handshaking"] == 0
    net.run(lambda: False, max_ms=t0 + 2100)
    assert b2.ep.secure.pending_handshakes() == 0 and b2.ep.secure.channel(IA.public_key) is None
    assert not b2.connected() and b2.ep.poll_timeout() is None  # nothing left to time out


def test_the_initiator_handshakes_again_when_its_keys_go_unanswered() -> None:
    """The responder lost its unconfirmed state (evicted by its budget, or restarted): the
    initiator, whose packets under the new keys get no answer for half a handshake timeout,
    handshakes again, and the responder then gets its connection."""
    net = Network(5, Link(latency_ms=10))
    a = EpPeer(net, A, IA, 10, handshake_timeout_ms=4000)
    b = EpPeer(net, B, IB, 11, handshake_timeout_ms=4000)
    hold = [True]
    net.tap = lambda frm, to, d: None if frm == A and d[0] & 0xFE == 0x90 and hold[0] else d
    a.ep.connect(0, [B], IB.public_key)
    assert net.run(lambda: bool(a.connected()), max_ms=1000)
    b.ep.secure.channel(IA.public_key).abandon_next()  # type: ignore[union-attr]  # B forgets
    hold[0] = False
    assert net.run(lambda: bool(b.connected()), max_ms=3500)
    assert 2000 <= net.now < 3500  # half of the 4 s handshake timeout, then one round trip
    assert a.ep.secure.stats["rekeys"] == 1 and len(a.connected()) == 1 and not a.closed()
    assert a.ep.connections()[0].channel.key_phase == 1  # type: ignore[union-attr]


# -------------------------------------------------------------------------- load and budgets


def test_cookies_by_load_and_a_real_peer_gets_through_a_flood() -> None:
    """Forged IK initiations with a valid mac1 from 50 addresses at 2,000/s: past 64/s every
    initiation without a valid mac2 gets a (rate-limited) cookie reply and no Diffie-Hellman; a
    real peer answers its cookie and connects during the flood."""
    net = Network(6, Link(latency_ms=5))
    ia = Identity.from_secret(bytes([12] * 32))
    ib = Identity.from_secret(bytes([13] * 32))
    a, b = SecPeer(net, A, ia, 12), SecPeer(net, B, ib, 13)
    rng = random.Random(6)
    forged = 0
    replies_to_flood = [0]
    sources = [(f"198.51.{i}.7", 4000 + i) for i in range(50)]
    net.tap = lambda frm, to, d: (replies_to_flood.__setitem__(0, replies_to_flood[0] + 1) if to in sources else None) or d
    for src in sources:  # the flood's addresses exist on the network (and drop what they get)
        net.add(src, types.SimpleNamespace(handle=lambda *x: None, handle_timeout=lambda n: None, poll_timeout=lambda: None), lambda now: [])
    start_real = 500.0
    for step in range(1500):  # 1.5 s, 2 forged initiations per ms
        for _ in range(2):
            b.handle(net.now, sources[forged % 50], forged_ik_init(ib, rng))
            forged += 1
        if net.now >= start_real and not a.ep._channels:
            a.ep.connect(net.now, B, ib.public_key)
        net.run(lambda: False, max_ms=step + 1.0)
    assert a.established(), "the real peer did not connect during the flood"
    assert b.ep.under_load(net.now)
    # a few DH before the rate crossed 64/s, then none for forged initiations
    assert b.ep.stats["initiations_processed"] < 80, b.ep.stats
    assert b.ep.dropped["under_load"] + b.ep.dropped["rate_limited"] > forged - 80
    # cookie replies are limited per source: ~10/s each, not one per forged datagram
    assert replies_to_flood[0] <= 50 * (3 + 10 * 1.5) + 50, replies_to_flood[0]
    assert a.ep.stats["cookie_replies_accepted"] == 1


def test_a_confirmed_initiation_leaves_the_load_count() -> None:
    """The load meter, as ``LoadMeter.forget`` in @srmudp/crypto: a confirmation takes its
    initiation back from the window that counted it; a verdict already given stays."""
    assert LoadMeter(0).record(0) and LoadMeter(0).under_load(0)
    m = LoadMeter(10)
    # 100/s for 1 s, each confirmed 5 ms later: never more than one in flight
    for i in range(100):
        assert not m.record(i * 10)
        m.forget(i * 10, i * 10 + 5)
    assert m.rate(1000) == 0
    # 10 counted late in one window, confirmed early in the next: taken from the previous window
    for i in range(10):
        m.record(1900 + i)
    assert m.rate(2000) == 10
    m.forget(1900, 2000)
    assert m.rate(2000) == 9
    # one more unconfirmed is at the threshold, not over it; then two over
    assert not m.record(2001)
    assert m.record(2002)
    # a confirmation does not lift a verdict already given
    m.forget(2002, 2003)
    m.forget(2001, 2003)
    assert m.under_load(2003)
    # a confirmation of an initiation counted two windows ago changes nothing
    before = m.rate(4100)
    m.forget(1950, 4100)
    assert m.rate(4100) == before


class ConfirmingPeer(SecPeer):
    """As the connection layer does, an IK initiator sends a packet under new keys at once (its
    key confirmation)."""

    def __init__(self, net: Network, addr: tuple[str, int], identity: Identity, seed: int, **kw: object) -> None:
        super().__init__(net, addr, identity, seed, **kw)
        self.net = net
        self.addr = addr

    def on_event(self, e: object) -> None:
        if isinstance(e, Established) and e.initiator:
            ch = e.channel
            assert ch.current is not None
            self.net.inject(ch.address, self.addr, ch.seal(ch.current.last_sealed + 1, b""), self.net.link.latency_ms)


def _responder_established(p: SecPeer) -> int:
    return sum(1 for e in p.events if isinstance(e, Established) and not e.initiator)


def test_real_peers_at_200_per_second_never_load_the_responder_but_forgeries_do() -> None:
    """60 real peers (IK and XX) at 200 initiations per second against a threshold of 20: each
    confirms, so the responder is never under load and sends no cookie reply. Then forged IK
    initiations (valid mac1, they cannot confirm): under load past the threshold, no DH after."""
    net = Network(21, Link(latency_ms=1))
    ib = Identity.from_secret(bytes([40] * 32))
    b = SecPeer(net, B, ib, 40, limits=HandshakeLimits(load_threshold=20))
    t = 0.0
    for i in range(60):
        addr = (f"10.0.{1 + i % 3}.{1 + i}", 3000 + i)
        a = ConfirmingPeer(net, addr, Identity.from_secret(bytes([41 + i] * 32)), 100 + i)
        ik = i % 3 != 0  # every third peer dials without b's key: XX
        a.ep.connect(net.now, B, ib.public_key if ik else None)
        # b's Established: XX message 3, or IK's first packet under the new keys
        assert net.run(lambda: _responder_established(b) > i, max_ms=t + 100)
        assert not b.ep.under_load(net.now)
        t += 5  # 200 initiations per second
        net.run(lambda: False, max_ms=t)
    assert b.ep.stats["initiations_processed"] == 60
    assert b.ep.stats["cookie_replies_sent"] == 0
    rng = random.Random(22)
    for i in range(200):
        b.ep.handle(t + i, (f"198.51.{i % 10}.1", 1000 + i), forged_ik_init(ib, rng))
    assert b.ep.under_load(t + 200)
    forged = b.ep.stats["initiations_processed"] - 60
    assert 15 < forged <= 21, forged
    assert b.ep.stats["cookie_replies_sent"] > 0


def test_under_load_a_real_peer_confirming_after_its_cookie_takes_both_initiations_back() -> None:
    """After 30 forged initiations, real peers at 40/s for 3 s: each first gets a cookie reply
    while the responder is under load; counted at arrival, both of its initiations leave the
    measure at confirmation, so the load lapses once the forgeries have left the window (had
    the peers' initiations stayed counted, 80 per second would keep it under load)."""
    net = Network(23, Link(latency_ms=1))
    ib = Identity.from_secret(bytes([42] * 32))
    b = SecPeer(net, B, ib, 42, limits=HandshakeLimits(load_threshold=20))
    rng = random.Random(24)
    for i in range(30):
        b.ep.handle(float(i), (f"198.51.{i % 10}.1", 1000 + i), forged_ik_init(ib, rng))
    assert b.ep.under_load(30)
    cookied: list[bool] = []
    t = 100.0
    for i in range(120):
        net.run(lambda: False, max_ms=t)
        a = ConfirmingPeer(net, (f"10.1.{i % 200}.1", 5000), Identity.from_secret(bytes([100 + i] * 32)), 200 + i)
        a.ep.connect(net.now, B, ib.public_key)
        assert net.run(lambda: _responder_established(b) > i, max_ms=t + 20)
        cookied.append(a.ep.stats["cookie_replies_accepted"] > 0)
        t += 25
    assert all(cookied[:20])
    # the 30 forgeries leave the weighted window by 1,600 ms or so; the verdict lasts 1 s more
    assert not any(cookied[-20:])
    assert not b.ep.under_load(net.now)
    assert _responder_established(b) == 120
    assert b.ep._cookied == {}  # each remembered cookie reply was used by its confirmation


def test_remembered_cookie_replies_leave_with_the_load_horizon() -> None:
    """A flood from many addresses leaves no remembered cookie reply behind: each is dropped on
    the endpoint's timer once it is past the load measure's two-second horizon."""
    net = Network(25)
    ib = Identity.from_secret(bytes([43] * 32))
    b = SecPeer(net, B, ib, 43, limits=HandshakeLimits(load_threshold=0))
    rng = random.Random(26)
    for i in range(50):
        b.ep.handle(float(i), (f"198.51.{i}.1", 1000 + i), forged_ik_init(ib, rng))
    assert b.ep.stats["cookie_replies_sent"] == 50 and len(b.ep._cookied) == 50
    assert b.ep.poll_timeout() == 0 + LOAD_HORIZON_MS
    net.run(lambda: not b.ep._cookied, max_ms=10_000)
    assert not b.ep._cookied and 49 + LOAD_HORIZON_MS <= net.now < 10_000
    assert b.ep.poll_timeout() is None


def test_half_open_handshakes_are_budgeted_per_source() -> None:
    """Half-open XX handshakes: at most 4 per source address (the oldest evicted), and in total
    the oldest without a cookie goes first; a real peer from elsewhere still completes."""
    net = Network(7)
    ib = Identity.from_secret(bytes([14] * 32))
    b = SecPeer(net, B, ib, 14, limits=HandshakeLimits(max_pending=16, max_pending_per_prefix=16))
    rng = seeded_random(15)
    attacker = ("203.0.113.5", 5555)
    for i in range(10):
        x = SecureEndpoint(Identity.from_secret(rng(32)), random=rng)
        x.connect(net.now, B)
        b.handle(net.now, attacker, x.poll_transmit()[1])  # type: ignore[index]
    assert b.ep.pending_handshakes() == 4 and b.ep.stats["pending_evicted"] == 6
    for i in range(30):  # from 30 /24 prefixes: the total of 16 holds, the oldest evicted
        x = SecureEndpoint(Identity.from_secret(rng(32)), random=rng)
        x.connect(net.now, B)
        b.handle(net.now, (f"192.0.{i}.1", 6000), x.poll_transmit()[1])  # type: ignore[index]
    assert b.ep.pending_handshakes() == 16
    a = SecPeer(net, A, Identity.from_secret(bytes([16] * 32)), 16)
    a.ep.connect(net.now, B, None)  # XX from a fresh address completes while the table is full
    assert net.run(lambda: a.established() and b.established(), max_ms=net.now + 3000)


def test_pending_table_evicts_plain_entries_first() -> None:
    t = PendingTable(HandshakeLimits(max_pending=3, max_pending_per_address=2, max_pending_per_prefix=3))
    evicted: list[int] = []

    def entry(i: int, addr: str, cookie: bool) -> PendingEntry:
        return PendingEntry(i, Source(addr, prefix_of(addr.split("|")[0])), cookie, lambda: evicted.append(i))

    t.add(entry(1, "10.0.0.1|1", True))
    t.add(entry(2, "10.0.1.1|1", False))
    t.add(entry(3, "10.0.2.1|1", True))
    t.add(entry(4, "10.0.3.1|1", True))  # total full: the oldest without a cookie goes (2, not 1)
    assert evicted == [2] and len(t) == 3
    t.add(entry(5, "10.0.3.1|1", False))
    t.add(entry(6, "10.0.3.1|1", False))  # that address is full: its oldest goes (4)
    # 5: the total is full and holds no plain entry, so the oldest with a cookie goes (1);
    # 6: its address holds 2 already, so that address's oldest goes (4)
    assert evicted == [2, 1, 4] and len(t) == 3
    assert t.remove(6) and not t.remove(6)
    assert prefix_of("192.0.2.77") == "192.0.2/24" and prefix_of("::ffff:192.0.2.77") == "192.0.2/24"
    assert prefix_of("2001:db8:1:2:3:4:5:6") == "20010db800010002/64" and prefix_of("localhost") == "localhost"
    with pytest.raises(ValueError):
        HandshakeLimits(max_pending=0)


# ----------------------------------------------------------------------------------- close


def test_endpoint_close_sends_close_ahead_of_queued_data() -> None:
    """Endpoint.close(now) closes every connection at once: the peer sees the remote CLOSE with
    our code and reason while data we had queued is abandoned (a graceful close delivers it)."""
    net = Network(8, Link(latency_ms=20))
    a = EpPeer(net, A, IA, 17)
    b = EpPeer(net, B, IB, 18)
    a.ep.connect(0, [B], IB.public_key)
    assert net.run(lambda: bool(a.connected() and b.connected()), max_ms=5000)
    conn = a.ep.connections()[0]
    sid = conn.open_stream()
    queued = 0
    while (n := conn.write(sid, bytes(64 * 1024))) > 0:
        queued += n
    assert queued >= 1 << 20
    a.ep.close(net.now, 0x105, "going away")
    assert net.run(lambda: bool(b.closed()), max_ms=net.now + 1000)
    c = b.closed()[0]
    assert (c.code, c.reason, c.remote) == (0x105, "going away", True)
    assert net.now < 100  # within about one round trip, not after a drain
    assert len(b.received.get(sid, b"")) < queued


def messages(p: EpPeer) -> list[tuple[int, bytes]]:
    """The whole messages ``p`` received, with their connection ids."""
    return [
        (e.conn.id, e.event.data)
        for e in p.events
        if isinstance(e, ConnectionEvent) and isinstance(e.event, rel.MessageReceived)
    ]


def close_unheard(net: Network, conn: Connection, peer: EpPeer) -> None:
    """A (``conn``'s side) closes ``conn`` while everything it sends is lost, its CLOSE and every
    repeat: when A's connection has finished, ``peer`` still holds its own."""
    lost = [True]
    net.tap = lambda frm, to, d: None if frm == A and lost[0] else d
    conn.close(net.now, 0, "bye")
    assert net.run(lambda: conn.finished, max_ms=net.now + 20_000)
    assert not peer.closed()
    lost[0] = False


def test_keys_lost_with_no_answer_from_the_peer_are_our_close() -> None:
    """The peer goes silent and our idle timeout is longer than the keys live: every rekey goes
    unanswered until the keys are rejected (180 s). The connection closes as ours, remote False,
    code SESSION_EXPIRED (0x14), not as "closed by the peer"."""
    net = Network(9, Link(latency_ms=10))
    a = EpPeer(net, A, IA, 19, idle_timeout_ms=400_000, handshake_timeout_ms=4000)
    b = EpPeer(net, B, IB, 20)
    a.ep.connect(0, [B], IB.public_key)
    assert net.run(lambda: bool(a.connected() and b.connected()), max_ms=1000)
    net.tap = lambda frm, to, d: None if frm == B else d  # b says nothing more
    assert net.run(lambda: bool(a.closed()), max_ms=200_000)
    c = a.closed()[0]
    assert (c.code, c.remote) == (0x14, False)
    assert c.reason == "session keys expired and no rekey was answered"
    assert 180_000 <= net.now < 181_000  # reject-after, not earlier
    assert a.ep.secure.stats["rekeys"] >= 1


def test_a_peer_that_missed_our_close_and_renews_its_keys_gets_no_new_connection() -> None:
    """b dialled, so b renews the keys 120 s after the handshake; a closes at 105 s and its CLOSE
    (and every repeat) is lost, so b holds the connection and keeps sending. b's rekey is, to a, a
    new incoming session whose packets number on from the old connection's: a takes it for no
    connection of its own (closed_peers.py), and b times out as it would have without the rekey
    (before: a reported a phantom incoming connection and b closed as 'peer reconnected')."""
    net = Network(11, Link(latency_ms=10))
    a = EpPeer(net, A, IA, 23)
    b = EpPeer(net, B, IB, 24)
    cb = b.ep.connect(0, [A], IA.public_key)
    assert net.run(lambda: bool(a.connected() and b.connected()), max_ms=1000)
    net.run(lambda: False, max_ms=105_000)
    ca = a.connected()[0].conn
    close_unheard(net, ca, b)
    for i in range(40):
        if b.closed():
            break
        cb.send_message(f"late {i}".encode())
        net.run(lambda: False, max_ms=net.now + 1000)
    assert net.run(lambda: bool(b.closed()), max_ms=net.now + 60_000)
    # b times out: not 'peer reconnected', not 'closed by the peer'
    assert [(c.conn.id, c.code, c.remote) for c in b.closed()] == [(cb.id, 0x12, False)]
    assert len(b.connected()) == 1
    # the rekey reached a, which refused it as no connection of its own
    assert len(a.connected()) == 1
    assert [(c.code, c.reason, c.remote) for c in a.closed()] == [(0, "bye", False)]
    assert net.now > 120_000
    assert a.ep.stats()["drops"].get("no_connection", 0) > 0  # type: ignore[attr-defined]
    # b dials again (numbered from 0): a new connection, both ways
    c2 = b.ep.connect(net.now, [A], IA.public_key)
    assert net.run(lambda: len(a.connected()) == 2 and len(b.connected()) == 2, max_ms=net.now + 5000)
    assert c2.send_message(b"again")
    fresh = a.connected()[1].conn
    assert net.run(lambda: messages(a) == [(fresh.id, b"again")], max_ms=net.now + 5000)
    assert fresh.send_message(b"welcome")
    assert net.run(lambda: messages(b) == [(c2.id, b"welcome")], max_ms=net.now + 5000)


def test_a_peer_that_renews_its_keys_while_our_connection_is_closing_hears_our_close() -> None:
    """b dialled, so b renews the keys 120 s after the handshake; a closes at 119.5 s with a message
    unacknowledged (its data packets are lost until 121 s), so a is still closing, draining (at
    least 2 s), when b's rekey arrives. b's packets under the new keys number on from the
    connection's: a keeps it closing under the new keys and its CLOSE reaches b (before: a made a
    new connection of the rekey, and b's closed as 'peer reconnected')."""
    net = Network(12, Link(latency_ms=10))
    a = EpPeer(net, A, IA, 25)
    b = EpPeer(net, B, IB, 26)
    cb = b.ep.connect(0, [A], IA.public_key)
    assert net.run(lambda: bool(a.connected() and b.connected()), max_ms=1000)
    t0 = net.now
    net.tap = lambda frm, to, d: None if frm == A and t0 + 119_500 <= net.now < t0 + 121_000 and d[0] & 0xFE == 0x90 else d
    net.run(lambda: False, max_ms=t0 + 119_500)
    ca = a.connected()[0].conn
    assert ca.send_message(b"last words")
    ca.close(net.now, 0, "bye")
    for i in range(20):
        if cb.state != "established":
            break
        cb.send_message(f"late {i}".encode())
        net.run(lambda: False, max_ms=net.now + 200)
    assert net.run(lambda: bool(b.closed()) and ca.finished, max_ms=net.now + 30_000)
    assert [(c.conn.id, c.code, c.reason, c.remote) for c in b.closed()] == [(cb.id, 0, "bye", True)]
    assert len(a.connected()) == 1
    assert [(c.code, c.reason, c.remote) for c in a.closed()] == [(0, "bye", False)]
    assert net.now - t0 > 120_000


def test_the_close_codes_that_name_a_lost_peer_and_the_reasons_for_lost_keys() -> None:
    """lost_peer_code names our closes that say the peer is unreachable (as core's lostPeerCode);
    the same codes from the peer, and other closes, are no lost peer. keys_lost words each failure
    code after establishment, handshake_failure types each before it."""
    assert lost_peer_code(CloseCode.IDLE_TIMEOUT, False) == "IDLE_TIMEOUT"
    assert lost_peer_code(CloseCode.SESSION_EXPIRED, False) == "SESSION_EXPIRED"
    for code in (CloseCode.IDLE_TIMEOUT, CloseCode.SESSION_EXPIRED, CloseCode.PEER_RESTARTED, 0, 0x105):
        assert lost_peer_code(code, True) is None
    for code in (CloseCode.PEER_RESTARTED, 0, 0x105):
        assert lost_peer_code(code, False) is None
    assert keys_lost("SESSION_EXPIRED") == "session keys expired and no rekey was answered"
    assert keys_lost("HANDSHAKE_TIMEOUT").startswith("the peer never used the new session")
    assert keys_lost("PEER_REFUSED").startswith("the peer's key was refused on a rekey")
    assert [handshake_failure(c).code for c in ("HANDSHAKE_TIMEOUT", "PEER_REFUSED", "SESSION_EXPIRED")] == [
        "HANDSHAKE_TIMEOUT",
        "REFUSED",
        "SESSION_EXPIRED",
    ]


def test_a_peer_whose_close_was_lost_and_that_dials_again_gets_a_new_connection() -> None:
    """a closes and its CLOSE never arrives, so b still holds the connection; a dials again (same
    boot id): a rekey for b's channel, but a new connection for a, numbered from 0. b takes it as
    a new connection (the old one closes as PEER_RESTARTED) instead of acknowledging a's packets
    as duplicates of the old connection's and never delivering them."""
    net = Network(10, Link(latency_ms=10))
    a = EpPeer(net, A, IA, 21)
    b = EpPeer(net, B, IB, 22)
    c1 = a.ep.connect(0, [B], IB.public_key)
    assert net.run(lambda: bool(a.connected() and b.connected()), max_ms=1000)
    assert c1.send_message(b"first")
    assert net.run(lambda: len(messages(b)) == 1, max_ms=net.now + 1000)
    old_id = b.connected()[0].conn.id
    close_unheard(net, c1, b)
    c2 = a.ep.connect(net.now, [B], IB.public_key)
    assert net.run(lambda: len(a.connected()) == 2, max_ms=net.now + 5000)
    assert c2.send_message(b"second")
    assert net.run(lambda: len(messages(b)) == 2, max_ms=net.now + 5000)
    fresh = b.connected()[1].conn
    assert [m for _, m in messages(b)] == [b"first", b"second"] and messages(b)[1][0] == fresh.id != old_id
    closed = b.closed()
    assert [(c.conn.id, c.code, c.reason, c.remote) for c in closed] == [
        (old_id, 0x13, "peer reconnected: its packet numbers started again", True)
    ]
    assert fresh.send_message(b"welcome back")
    assert net.run(lambda: len(messages(a)) == 1, max_ms=net.now + 5000)
    assert messages(a)[0] == (c2.id, b"welcome back")
