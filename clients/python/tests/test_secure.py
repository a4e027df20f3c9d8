"""The secure layer on a virtual clock: IK and XX, cookies under load, tampering, replays,
wrong keys, simultaneous initiation, rekeying with grace and key confirmation."""

from __future__ import annotations

import pytest
from sim import Link, Network, SimPeer, drain, seeded_random

from srmudp.identity import Identity
from srmudp.macs import CookieChecker, address_bytes, with_mac1
from srmudp.secure import (
    DataResult,
    Established,
    Failed,
    Rekeyed,
    SecureEndpoint,
    Timing,
    decode_payload,
    encode_payload,
)
from srmudp.session import REPLAY_WINDOW_SIZE, ReplayWindow

A = ("10.0.0.1", 1000)
B = ("10.0.0.2", 2000)


class Peer(SimPeer):
    """A SecureEndpoint on the sim network that records events and data. As the connection layer
    does, an initiator sends a packet under new keys at once (``confirm``): an IK responder uses
    its keys only after that key confirmation."""

    def __init__(self, net: Network, addr: tuple[str, int], seed: int, confirm: bool = True, **kw: object) -> None:
        self.random = seeded_random(seed)
        self.identity = Identity.from_secret(self.random(32))
        self.ep = SecureEndpoint(self.identity, random=self.random, **kw)  # type: ignore[arg-type]
        self.events: list[object] = []
        self.data: list[bytes] = []
        self.under_load = False
        self.confirm = confirm
        self._extra: list[tuple[tuple[str, int], bytes]] = []
        poll = drain(lambda now: self.ep.poll_transmit())
        net.add(addr, self, lambda now: poll(now) + [self._extra.pop(0) for _ in range(len(self._extra))])

    def on_datagram(self, now: float, frm: tuple[str, int], data: bytes) -> None:
        r = self.ep.handle(now, frm, data, self.under_load)
        if isinstance(r, DataResult) and r.plaintext != b"":
            self.data.append(r.plaintext)

    def on_event(self, e: object) -> None:
        if self.confirm and isinstance(e, (Established, Rekeyed)) and e.initiator:
            ch = e.channel
            assert ch.current is not None
            self._extra.append((ch.address, ch.seal(ch.current.last_sealed + 1, b"")))

    def established(self) -> bool:
        return any(isinstance(e, Established) for e in self.events)


def pair(seed: int = 1, link: Link | None = None, **kw: object) -> tuple[Network, Peer, Peer]:
    net = Network(seed, link)
    return net, Peer(net, A, seed * 10 + 1, **kw), Peer(net, B, seed * 10 + 2, **kw)


@pytest.mark.parametrize("ik", [True, False])
def test_handshake_and_data(ik: bool) -> None:
    net, a, b = pair()
    ch = a.ep.connect(0, B, b.identity.public_key if ik else None)
    assert net.run(lambda: a.established() and b.established(), max_ms=5000)
    ea = next(e for e in a.events if isinstance(e, Established))
    eb = next(e for e in b.events if isinstance(e, Established))
    assert ea.remote_key == b.identity.public_key and eb.remote_key == a.identity.public_key
    assert ea.initiator and not eb.initiator
    assert ch.handshake_hash == b.ep.channel(a.identity.public_key).handshake_hash  # type: ignore[union-attr]
    net.inject(B, A, ch.seal(1, b"hello"))  # (packet 0 was the key confirmation)
    net.run(lambda: bool(b.data), max_ms=6000)
    assert b.data == [b"hello"]


def test_payload_options() -> None:
    p = encode_payload(7, bytes(32), 1, {0x10: b"boot-id!"})
    d = decode_payload(p)
    assert d is not None and (d.sender_index, d.key_phase, d.app) == (7, 1, {0x10: b"boot-id!"})
    assert decode_payload(p + bytes([0x01, 4, 0, 0, 0, 1])) is None  # duplicate type
    assert decode_payload(bytes([0x01, 3, 0, 0, 0])) is None  # wrong length of a known type
    assert decode_payload(bytes([0x03, 1, 2])) is None  # key phase above 1
    assert decode_payload(bytes([0x05, 2, 9, 9])) is not None  # unknown crypto type: ignored
    assert decode_payload(bytes([0x10, 5, 1])) is None  # truncated


def test_wrong_key_gets_no_answer_and_times_out() -> None:
    net, a, b = pair(timing=Timing(handshake_timeout_ms=3000))
    stranger = Identity.from_secret(bytes(range(32)))
    a.ep.connect(0, B, stranger.public_key)
    net.run(lambda: any(isinstance(e, Failed) for e in a.events), max_ms=10_000)
    assert [e.code for e in a.events if isinstance(e, Failed)] == ["HANDSHAKE_TIMEOUT"]
    assert b.ep.dropped.get("bad_mac1", 0) >= 2  # mac1 keyed by the wrong key: dropped before any DH
    assert not b.events


def test_refused_peer_sees_a_timeout() -> None:
    net, a, b = pair(timing=Timing(handshake_timeout_ms=2000))
    b.ep._accept_peer = lambda *args: False
    a.ep.connect(0, B, b.identity.public_key)
    net.run(lambda: any(isinstance(e, Failed) for e in a.events), max_ms=10_000)
    assert b.ep.dropped["refused"] >= 1 and not b.established()


@pytest.mark.parametrize("ik", [True, False])
def test_cookie_under_load(ik: bool) -> None:
    net, a, b = pair()
    b.under_load = True
    a.ep.connect(0, B, b.identity.public_key if ik else None)
    assert net.run(lambda: a.established() and b.established(), max_ms=5000)
    assert b.ep.stats["cookie_replies_sent"] == 1 and a.ep.stats["cookie_replies_accepted"] == 1
    assert b.ep.dropped["under_load"] == 1


def test_invalid_mac2_is_answered_with_a_cookie_even_without_load() -> None:
    net, a, b = pair()
    ch = a.ep.connect(0, B, None)
    ch.drop_pending()
    ch.state = "idle"
    ch.corrupt_next_mac2 = True
    ch.connect(0)
    assert net.run(lambda: a.established() and b.established(), max_ms=5000)
    assert b.ep.dropped["bad_mac2"] == 1 and a.ep.stats["cookie_replies_accepted"] == 1


def test_cookie_checker_binds_the_address() -> None:
    c = CookieChecker(seeded_random(3))
    pkt, _ = with_mac1(bytes(80), bytes(32))
    nonce, sealed = c.seal_cookie(0, address_bytes("10.0.0.1", 1), bytes(32), pkt[48:64])
    assert len(nonce) == 24 and len(sealed) == 32
    assert not c.verify_mac2(0, pkt, address_bytes("10.0.0.1", 1))


def test_every_tampered_byte_of_an_initiation_is_dropped() -> None:
    net, a, b = pair()
    a.ep.connect(0, B, b.identity.public_key)
    to, init, _ = a.ep.poll_transmit()  # type: ignore[misc]
    for i in range(len(init)):
        bad = bytearray(init)
        bad[i] ^= 0x40
        b.ep.handle(0, A, bytes(bad))
    assert not b.ep._channels  # no state for any of them
    assert sum(b.ep.dropped.values()) == len(init)
    b.ep.handle(0, A, init)  # the genuine one still works
    assert b.ep.poll_transmit() is not None


def test_replay_and_forgery_of_data_are_dropped() -> None:
    net, a, b = pair()
    ch = a.ep.connect(0, B, b.identity.public_key)
    net.run(lambda: a.established() and b.established(), max_ms=5000)
    pkt = ch.seal(5, b"once")
    assert isinstance(b.ep.handle(1, A, pkt), DataResult)
    assert b.ep.handle(1, A, pkt) == "replay"
    forged = bytearray(ch.seal(6, b"x"))
    forged[-1] ^= 1
    assert b.ep.handle(1, A, bytes(forged)) == "decrypt_failed"
    hdr = bytearray(ch.seal(7, b"y"))
    hdr[0] ^= 1  # key phase bit
    assert b.ep.handle(1, A, bytes(hdr)) == "key_phase"
    for junk in (b"", b"\x90", bytes(29), b"\x81" + bytes(100), b"\x84" + bytes(60), b"\xff" * 50):
        assert isinstance(b.ep.handle(1, A, junk), str)
    with pytest.raises(ValueError):
        ch.seal(7, b"packet numbers must increase")


def test_replay_window() -> None:
    w = ReplayWindow()
    for pn in (0, 2, 1, 100, 50):
        assert w.check(pn) == "ok" and w.update(pn)
        assert w.check(pn) == "duplicate"
    w.update(100 + REPLAY_WINDOW_SIZE)
    assert w.check(100) == "too_old"
    assert w.check(101) == "ok"
    w.update(10**15)
    assert w.check(10**15 - REPLAY_WINDOW_SIZE + 1) == "ok" and w.check(10**15 - REPLAY_WINDOW_SIZE) == "too_old"


def test_simultaneous_initiation_gives_one_session() -> None:
    net, a, b = pair(link=Link(latency_ms=20))
    a.ep.connect(0, B, b.identity.public_key)
    b.ep.connect(0, A, a.identity.public_key)
    assert net.run(lambda: a.established() and b.established(), max_ms=5000)
    net.run(lambda: False, max_ms=3000)
    ha = a.ep.channel(b.identity.public_key).handshake_hash  # type: ignore[union-attr]
    hb = b.ep.channel(a.identity.public_key).handshake_hash  # type: ignore[union-attr]
    assert ha == hb
    assert sum(isinstance(e, Established) for e in a.events) == 1
    assert sum(isinstance(e, Established) for e in b.events) == 1


def test_rekey_by_time_keeps_data_flowing() -> None:
    timing = Timing(
        rekey_after_ms=2000,
        grace_period_ms=500,
        reject_after_ms=6000,
        handshake_retransmit_ms=200,
        handshake_max_retransmit_ms=400,
        handshake_timeout_ms=3000,
    )
    net, a, b = pair(link=Link(latency_ms=5, loss=0.05), timing=timing)
    ch = a.ep.connect(0, B, b.identity.public_key)
    assert net.run(lambda: a.established() and b.established(), max_ms=5000)
    pn = 0
    phases = set()
    for step in range(60):  # 12 s of virtual time, a packet each way every 200 ms
        ch_b = b.ep.channel(a.identity.public_key)
        if ch.is_established:
            net.inject(B, A, ch.seal(max(pn, ch.current.last_sealed + 1), b"a%d" % step))  # type: ignore[union-attr]
            phases.add(ch.key_phase)
        if ch_b is not None and ch_b.is_established:
            net.inject(A, B, ch_b.seal(max(pn, ch_b.current.last_sealed + 1), b"b%d" % step))  # type: ignore[union-attr]
        pn += 1
        end = net.now + 200
        net.run(lambda: net.now >= end, max_ms=end)
    assert a.ep.stats["rekeys"] + b.ep.stats["rekeys"] >= 3
    assert phases == {0, 1}
    assert not any(isinstance(e, Failed) for e in a.events + b.events)
    assert sum(isinstance(e, Rekeyed) for e in a.events) >= 3
    assert len(b.data) >= 50 and len(a.data) >= 50
