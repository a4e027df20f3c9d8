"""The relay hop protocol (wire-format.md §9): the control and channel-data codecs (round trips,
totality, the TypeScript codec of @srmudp/relay as an oracle), the client state machine on a
virtual clock, and Python <-> TypeScript through a real srmudp-relay started by the test on
loopback: over its WebSocket carrier (both roles, messages, 16 MiB each way with SHA-256 equal,
wrong keys refused with typed errors) and over its UDP carrier with 5 % loss."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import random
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from interop import LossProxy, TsPeer, keystream
from test_interop import MIB, read_stream, run, send_stream

import srmudp
from srmudp import SrmudpError, WireDecodeError
from srmudp import relay as R

# ------------------------------------------------------------------------------------- codec

keys = st.binary(min_size=32, max_size=32)
vi = st.integers(0, 2**53 - 1)
small = st.integers(0, 2**20)
channels = st.integers(R.CHANNEL_MIN, R.CHANNEL_MAX)
limits = st.builds(R.Limits, vi, vi)
opt = lambda most: st.one_of(st.none(), st.binary(min_size=1, max_size=most))  # noqa: E731
rejects = st.sampled_from(sorted(R.REJECT_REASONS))
messages = st.one_of(
    st.builds(R.Connect, vi, keys, limits, opt(64), opt(300)),
    st.builds(R.Incoming, vi, keys, limits, opt(64), opt(300)),
    st.builds(R.Accept, vi, vi, limits),
    st.builds(R.Reject, vi, rejects),
    st.builds(R.Bound, vi, channels, keys, limits, vi),
    st.builds(R.Close, small, channels, st.sampled_from(sorted(R.CLOSE_REASONS))),
    st.builds(R.Refresh, vi, channels),
    st.builds(lambda i, inst, e, a, b, c, d: R.Status(i, "healthy", inst, e, a, b, c, d), small, st.binary(min_size=8, max_size=8), vi, vi, vi, vi, vi),
    st.builds(lambda i, a, b: R.Status(i, "rate_limited", rate=a, burst=b), small, vi, vi),
    st.builds(lambda i: R.Status(i, "same_key_elsewhere"), small),
    st.builds(lambda i, a, b: R.Status(i, "restarting", reconnect_in_ms=a, try_for_ms=b), small, vi, vi),
    st.builds(lambda i, r: R.Status(i, "denied", reason=r), small, rejects),
)


@given(messages)
def test_control_round_trip(m: R.ControlMessage) -> None:
    assert R.decode_control(R.encode_control(m)) == m


@given(st.binary(max_size=200))
def test_control_decoder_is_total(b: bytes) -> None:
    try:
        R.decode_control(b)
    except WireDecodeError:
        pass


@given(messages, st.data())
def test_control_damaged_is_a_value_or_a_typed_error(m: R.ControlMessage, data: st.DataObject) -> None:
    b = bytearray(R.encode_control(m))
    cut = data.draw(st.integers(0, len(b)))
    i = data.draw(st.integers(0, len(b) - 1))
    b[i] ^= data.draw(st.integers(1, 255))
    for x in (bytes(b), bytes(b[:cut]), bytes(b) + b"\x00"):
        try:
            R.decode_control(x)
        except WireDecodeError:
            pass


def test_control_errors_are_typed() -> None:
    ok = R.encode_control(R.Refresh(3, 0x4001))
    cases = {
        b"": "TRUNCATED",
        b"\x02\x08\x03\x40\x01": "UNSUPPORTED_VERSION",
        b"\x01\x09\x03": "UNKNOWN_TYPE",
        b"\x01\x08\x03\x3f\xff": "BAD_VALUE",  # channel outside 0x4000-0x4fff
        b"\x01\x04\x01\x0d": "BAD_VALUE",  # reject reason 13
        b"\x01\x06\x00\x40\x00\x09": "BAD_VALUE",  # close reason 9
        b"\x01\x07\x00\x05": "BAD_VALUE",  # status code 5
        b"\x01\x01\x01" + bytes(32) + b"\x00\x00\x04": "BAD_VALUE",  # unknown flag
        b"\x01\x01\x01" + bytes(32) + b"\x00\x00\x02\x00": "BAD_VALUE",  # empty first packet
        ok + b"\x00": "TRAILING_BYTES",
        ok[:-1]: "TRUNCATED",
    }
    for b, code in cases.items():
        with pytest.raises(WireDecodeError) as e:
            R.decode_control(b)
        assert e.value.code == code, (b.hex(), e.value)


def test_channel_data() -> None:
    d = R.encode_channel_data(0x4ABC, b"\x90abc")
    assert d == b"\x4a\xbc\x00\x04\x90abc"
    assert R.decode_channel_data(d) == (0x4ABC, b"\x90abc")
    for b, code in (
        (d[:3], "TRUNCATED"),
        (d[:-1], "TRUNCATED"),
        (d + b"x", "TRAILING_BYTES"),
        (b"\x40\x00\x00\x00", "BAD_VALUE"),
        (b"\x50\x00\x00\x01x", "BAD_VALUE"),
    ):
        with pytest.raises(WireDecodeError) as e:
            R.decode_channel_data(b)
        assert e.value.code == code
    with pytest.raises(ValueError):
        R.encode_channel_data(0x5000, b"x")
    with pytest.raises(ValueError):
        R.encode_channel_data(0x4000, b"")


def test_typescript_codec_agrees() -> None:
    """300 random messages and 150 damaged ones: @srmudp/relay decodes each to the same fields
    as Python (or fails with the same error code) and re-encodes it to the same bytes."""
    rng = random.Random(17)
    inputs: list[bytes] = []
    for i in range(300):
        inputs.append(R.encode_control(_random_message(rng, i)))
    for b in list(inputs[:150]):
        x = bytearray(b)
        x[rng.randrange(len(x))] ^= 1 << rng.randrange(8)
        inputs.append(bytes(x[: rng.randrange(1, len(x) + 1)]))
    out = subprocess.run(
        ["node", "-e", _ORACLE],
        input="\n".join(x.hex() for x in inputs),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(_TESTS),
    )
    assert out.returncode == 0, out.stderr
    verdicts = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(verdicts) == len(inputs)
    for b, v in zip(inputs, verdicts):
        try:
            m = R.decode_control(b)
            mine: dict[str, Any] = {"ok": R.encode_control(m).hex(), "fields": _as_ts(m)}
        except WireDecodeError as e:
            mine = {"error": e.code}
        assert mine == v, b.hex()


_TESTS = __import__("pathlib").Path(__file__).parent
_ORACLE = """
import('./ts_dist.mjs').then(async ({ importDist }) => {
  const { decodeControl, encodeControl } = await importDist('relay');
  const lines = require('fs').readFileSync(0, 'utf8').split('\\n');
  for (const l of lines) {
    try {
      const m = decodeControl(new Uint8Array(Buffer.from(l, 'hex')));
      const hex = (_k, v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v);
      const fields = JSON.parse(JSON.stringify(m, hex));
      console.log(JSON.stringify({ ok: Buffer.from(encodeControl(m)).toString('hex'), fields }));
    } catch (e) {
      console.log(JSON.stringify({ error: e.code ?? String(e) }));
    }
  }
});
"""


def _as_ts(m: R.ControlMessage) -> dict[str, Any]:
    """A decoded message in the shape of @srmudp/relay's ControlMessage (bytes as hex)."""
    h = lambda b: None if b is None else b.hex()  # noqa: E731
    lim = lambda x: {"durationMs": x.duration_ms, "bytes": x.bytes}  # noqa: E731
    if isinstance(m, (R.Connect, R.Incoming)):
        peer = "target" if isinstance(m, R.Connect) else "requester"
        return {"type": type(m).__name__.lower(), "requestId": m.request_id, peer: h(getattr(m, peer)),
                "limits": lim(m.limits), "voucher": h(m.voucher), "firstPacket": h(m.first_packet)}
    if isinstance(m, R.Accept):
        return {"type": "accept", "requestId": m.request_id, "incomingId": m.incoming_id, "limits": lim(m.limits)}
    if isinstance(m, R.Reject):
        return {"type": "reject", "requestId": m.request_id, "reason": m.reason}
    if isinstance(m, R.Bound):
        return {"type": "bound", "requestId": m.request_id, "channel": m.channel, "peer": h(m.peer),
                "limits": lim(m.limits), "expiresInMs": m.expires_in_ms}
    if isinstance(m, R.Close):
        return {"type": "close", "requestId": m.request_id, "channel": m.channel, "reason": m.reason}
    if isinstance(m, R.Refresh):
        return {"type": "refresh", "requestId": m.request_id, "channel": m.channel}
    st_: dict[str, Any] = {"code": m.code}
    if m.code == "healthy":
        st_.update(instance=h(m.instance), epoch=m.epoch, rateBytesPerSec=m.rate, burstBytes=m.burst,
                   maxCircuits=m.max_circuits, maxMessageSize=m.max_message_size)
    elif m.code == "rate_limited":
        st_.update(rateBytesPerSec=m.rate, burstBytes=m.burst)
    elif m.code == "restarting":
        st_.update(reconnectInMs=m.reconnect_in_ms, tryForMs=m.try_for_ms)
    elif m.code == "denied":
        st_.update(reason=m.reason)
    return {"type": "status", "requestId": m.request_id, "status": st_}


def _random_message(rng: random.Random, i: int) -> R.ControlMessage:
    k = bytes(rng.randrange(256) for _ in range(32))
    big = lambda: rng.choice([0, 1, 63, 64, 16383, 16384, 2**30, 2**53 - 1, rng.randrange(2**40)])  # noqa: E731
    lim = R.Limits(big(), big())
    ch = rng.randrange(R.CHANNEL_MIN, R.CHANNEL_MAX + 1)
    blob = lambda n: None if rng.random() < 0.5 else bytes([0x90]) + bytes(rng.randrange(256) for _ in range(rng.randrange(n)))  # noqa: E731
    return [
        lambda: R.Connect(big(), k, lim, blob(40), blob(200)),
        lambda: R.Incoming(big(), k, lim, blob(40), blob(200)),
        lambda: R.Accept(big(), big(), lim),
        lambda: R.Reject(big(), rng.choice(sorted(R.REJECT_REASONS))),
        lambda: R.Bound(big(), ch, k, lim, big()),
        lambda: R.Close(0, ch, rng.choice(sorted(R.CLOSE_REASONS))),
        lambda: R.Refresh(big(), ch),
        lambda: R.Status(0, "healthy", k[:8], big(), big(), big(), big(), big()),
        lambda: R.Status(0, "rate_limited", rate=big(), burst=big()),
        lambda: R.Status(0, "same_key_elsewhere"),
        lambda: R.Status(0, "restarting", reconnect_in_ms=big(), try_for_ms=big()),
        lambda: R.Status(0, "denied", reason=rng.choice(sorted(R.REJECT_REASONS))),
    ][i % 12]()


# ------------------------------------------------------------------------ client machine

RELAY, ME, PEER = bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32
HELLO = R.Status(0, "healthy", b"instance", 1, 1 << 20, 1 << 18, 8, 65536)


def _sent(c: R.RelayClient) -> list[R.ControlMessage]:
    out = []
    while (m := c.poll_transmit()) is not None:
        out.append(R.decode_control(m))
    return out


def _events(c: R.RelayClient) -> list[object]:
    out = []
    while (e := c.poll_event()) is not None:
        out.append(e)
    return out


def test_client_requests_wait_for_the_greeting_and_bind() -> None:
    c = R.RelayClient(RELAY, ME)
    with pytest.raises(SrmudpError) as e:
        c.connect(0, PEER)
    assert e.value.code == "RELAY_HOP_DOWN"
    c.hop_up(0)
    rid = c.connect(0, PEER)
    assert _sent(c) == []  # not before the greeting
    c.handle_control(1, R.encode_control(HELLO))
    assert _sent(c) == [R.Connect(rid, PEER)]
    assert isinstance(_events(c)[0], R.RelayReady)
    c.handle_control(2, R.encode_control(R.Bound(rid, 0x4002, PEER, R.Limits(), 300_000)))
    assert [type(e) for e in _events(c)] == [R.CircuitBound]
    assert c.channel_of(PEER) == 0x4002
    w = c.wrap(0x4002, b"\x90" + bytes(40))
    assert w is not None and c.unwrap(b"\x40\x02" + w[2:]) == (PEER, b"\x90" + bytes(40))
    assert c.unwrap(b"\x40\x03" + w[2:]) is None and c.stats.dropped == {"unknown_channel": 1}
    # a duplicate greeting and an answer to nothing are dropped, never raised
    c.handle_control(3, R.encode_control(HELLO))
    c.handle_control(3, R.encode_control(R.Bound(99, 0x4003, PEER, R.Limits(), 1)))
    c.handle_control(3, b"\x01\xff\x00garbage")
    assert c.stats.dropped == {"unknown_channel": 1, "control_duplicate": 1, "control_unexpected": 1, "control_malformed": 1}
    # a used binding is refreshed at 2/3 of its lifetime; an idle one expires
    assert c.poll_timeout() == pytest.approx(2 + 200_000)
    c.handle_timeout(2 + 200_000)
    (refresh,) = _sent(c)
    assert isinstance(refresh, R.Refresh) and refresh.channel == 0x4002 and refresh.request_id > rid
    c.handle_control(200_010, R.encode_control(R.Bound(refresh.request_id, 0x4002, PEER, R.Limits(), 300_000)))
    c.handle_timeout(200_010 + 302_000)
    assert [(type(e), getattr(e, "reason", None)) for e in _events(c)] == [(R.CircuitClosed, "expired")]


def test_client_incoming_rejects_restarts_and_hop_loss() -> None:
    c = R.RelayClient(RELAY, ME, incoming_timeout_ms=1000)
    c.hop_up(0)
    c.handle_control(0, R.encode_control(HELLO))
    _events(c)
    c.handle_control(1, R.encode_control(R.Incoming(7, PEER)))
    c.handle_control(1, R.encode_control(R.Incoming(7, PEER)))  # duplicate: ignored
    c.handle_control(1, R.encode_control(R.Incoming(8, PEER, voucher=b"v")))  # cannot check it
    (inc,) = _events(c)
    assert isinstance(inc, R.IncomingCircuit) and inc.incoming_id == 7
    assert _sent(c) == [R.Reject(8, "unsupported")]
    rid = c.accept(2, 7)
    assert _sent(c) == [R.Accept(rid, 7)]
    c.handle_control(3, R.encode_control(R.Bound(rid, 0x4005, PEER, R.Limits(), 300_000)))
    c.handle_control(3, R.encode_control(R.Incoming(9, PEER)))
    c.handle_timeout(1004)  # not answered in time
    assert _sent(c) == [R.Reject(9, "timeout")]
    r2 = c.connect(5, bytes([4]) * 32)
    _sent(c)
    c.handle_control(6, R.encode_control(R.Reject(r2, "target_unavailable")))
    # a new relay instance: everything bound before is gone
    c.handle_control(7, R.encode_control(R.Status(0, "healthy", b"another!", 1, 1, 1, 1, 1)))
    evs = [(type(e).__name__, getattr(e, "reason", getattr(e, "restarted", None))) for e in _events(c)]
    assert evs == [
        ("CircuitBound", None),
        ("IncomingCircuit", None),
        ("CircuitRejected", "target_unavailable"),
        ("CircuitClosed", "relay_restarted"),
        ("RelayReady", True),
    ]
    r3 = c.connect(8, PEER)
    c.hop_down(9)
    assert [(type(e).__name__, e.reason) for e in _events(c)] == [("CircuitRejected", "hop_down")]  # type: ignore[attr-defined]
    assert r3 > r2 > rid
    assert c.poll_transmit() is None


# ------------------------------------------------------------- through a real srmudp-relay

#: the relay's per-client rate is 1 MiB/s by default (a bandwidth bill for a public relay);
#: the tests move 16 MiB, so their relay allows more
FAST = {"limits": {"rateBytesPerSec": 1 << 30, "burstBytes": 64 << 20}}


@contextlib.asynccontextmanager
async def relay_setup(
    ts_carrier: str = "ws", relay_options: dict[str, Any] | None = None
) -> AsyncIterator[tuple[TsPeer, TsPeer]]:
    """An srmudp-relay and a TypeScript client of it (over ``ts_carrier``), closed afterwards."""
    relay = await TsPeer.start("ts_relay.mjs", **(relay_options or FAST))
    ts: TsPeer | None = None
    try:
        carrier = (
            {"kind": "ws", "url": relay.ready["url"]}
            if ts_carrier == "ws"
            else {"kind": "udp", "host": relay.ready["udp"]["host"], "port": relay.ready["udp"]["port"]}
        )
        ts = await TsPeer.start("ts_relay_peer.mjs", relayKey=relay.ready["peerId"], carrier=carrier)
        yield relay, ts
    finally:
        if ts is not None:
            await ts.close()
        await relay.close()


async def _messages_both_ways(node: srmudp.Node, pc: srmudp.PeerConnection, ts: TsPeer) -> None:
    for i in range(20):
        await pc.send(f"py->ts {i}".encode())
    got = [base64.b64decode((await ts.expect("message", timeout=30))["data"]) for _ in range(20)]
    assert got == [f"py->ts {i}".encode() for i in range(20)]
    for i in range(20):
        ts.send(cmd="send", to=node.peer_id, data=base64.b64encode(f"ts->py {i}".encode()).decode())
    for i in range(20):
        m = await node.receive(timeout=30)
        assert m is not None and m.data == f"ts->py {i}".encode() and m.peer == ts.peer_id


def test_python_dials_typescript_through_the_websocket_relay_messages_and_16_mib_each_way() -> None:
    async def main() -> None:
        async with relay_setup() as (relay, ts):
            async with await srmudp.create_node(host="127.0.0.1", relays=[relay.ready["relay"]]) as node:
                pc = await node.connect({"peer_id": ts.peer_id}, timeout=30)
                assert pc.path is not None and pc.path[0].startswith("via~")  # through the circuit
                await ts.expect("connection", peerId=node.peer_id, outgoing=False)
                await _messages_both_ways(node, pc, ts)
                data = keystream("relay py->ts", 16 * MIB)
                await send_stream(pc, data)
                got = await ts.expect("stream", timeout=180)
                assert (got["bytes"], got["sha256"]) == (16 * MIB, hashlib.sha256(data).hexdigest())
                ts.send(cmd="stream", peer=node.peer_id, bytes=16 * MIB, seed="relay ts->py")
                n, digest = await asyncio.wait_for(read_stream(await pc.accept_stream()), 180)
                assert (n, digest) == (16 * MIB, hashlib.sha256(keystream("relay ts->py", 16 * MIB)).hexdigest())
                await ts.expect("stream_sent", timeout=30)
                (hop,) = node.relays()
                assert hop["ready"] and hop["carrier"] == "ws" and hop["channels"] == 1
                assert node.stats().get("relay_drops") == {}

    run(main, 420)


def test_typescript_dials_python_through_the_websocket_relay() -> None:
    async def main() -> None:
        async with relay_setup() as (relay, ts):
            async with await srmudp.create_node(host="127.0.0.1", relays=[relay.ready["relay"]]) as node:
                await _wait_ready(node)
                ts.send(cmd="connect", peer=node.peer_id)
                await ts.expect("connected", timeout=30)
                pc = await asyncio.wait_for(node.accept(), 30)
                assert pc.peer_id == ts.peer_id and pc.path is not None and pc.path[0].startswith("via~")
                await _messages_both_ways(node, pc, ts)

    run(main, 180)


def test_wrong_keys_through_the_relay_are_refused_with_typed_errors() -> None:
    async def main() -> None:
        async with relay_setup() as (relay, ts):
            url = relay.ready["url"]
            # a relay key that is not the relay's: its hop session never comes up
            wrong = srmudp.Identity.generate().peer_id
            async with await srmudp.create_node(
                host="127.0.0.1", relays=[f"{url}#{wrong}"], handshake_timeout_ms=1500
            ) as node:
                with pytest.raises(SrmudpError) as e:
                    await node.connect({"peer_id": ts.peer_id}, timeout=4)
                assert e.value.code == "RELAY_UNREACHABLE"
                assert "HANDSHAKE_TIMEOUT" in str(e.value)
            async with await srmudp.create_node(host="127.0.0.1", relays=[relay.ready["relay"]]) as node:
                # a peer id nobody holds on this relay: the relay refuses the circuit
                with pytest.raises(SrmudpError) as e:
                    await node.connect({"peer_id": srmudp.Identity.generate().peer_id}, timeout=20)
                assert e.value.code == "RELAY_REJECTED" and e.value.reason == "target_unavailable"  # type: ignore[attr-defined]
            # a Python node that allows nobody refuses the TypeScript peer's circuit
            async with await srmudp.create_node(host="127.0.0.1", relays=[relay.ready["relay"]], allow=[]) as node:
                await _wait_ready(node)
                ts.send(cmd="connect", peer=node.peer_id)
                err = await ts.expect("command_error", timeout=30)
                assert "refused" in err["message"]
                assert node.connection(ts.peer_id) is None
            # and without relays there is nothing to go through
            async with await srmudp.create_node(host="127.0.0.1") as node:
                with pytest.raises(SrmudpError) as e:
                    await node.connect({"peer_id": ts.peer_id}, timeout=2)
                assert e.value.code == "NO_RELAY"

    run(main, 180)


def test_python_over_the_udp_hop_with_five_percent_loss() -> None:
    """Python's hop is UDP through a proxy dropping 5 % each way (hop session and channel data
    alike), the TypeScript peer's a WebSocket: messages and 2 MiB each way arrive intact."""

    async def main() -> None:
        async with relay_setup() as (relay, ts):
            udp = relay.ready["udp"]
            proxy = LossProxy((udp["host"], udp["port"]), 0.05, seed=5)
            try:
                spec = {"host": "127.0.0.1", "port": proxy.port, "peer_id": relay.ready["peerId"]}
                async with await srmudp.create_node(host="127.0.0.1", relays=[spec]) as node:
                    pc = await node.connect({"peer_id": ts.peer_id}, timeout=60)
                    await _messages_both_ways(node, pc, ts)
                    data = keystream("lossy py->ts", 2 * MIB)
                    await send_stream(pc, data)
                    got = await ts.expect("stream", timeout=120)
                    assert got["sha256"] == hashlib.sha256(data).hexdigest()
                    ts.send(cmd="stream", peer=node.peer_id, bytes=2 * MIB, seed="lossy ts->py")
                    n, digest = await asyncio.wait_for(read_stream(await pc.accept_stream()), 120)
                    assert digest == hashlib.sha256(keystream("lossy ts->py", 2 * MIB)).hexdigest()
                    assert node.relays()[0]["carrier"] == "udp"
                    assert min(proxy.dropped) > 0
            finally:
                proxy.close()

    run(main, 300)


async def _wait_ready(node: srmudp.Node, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not all(h["ready"] for h in node.relays()):
        assert loop.time() < deadline, node.relays()
        await asyncio.sleep(0.05)


def test_relay_restart_the_session_carries_on_over_a_new_circuit(tmp_path: Any) -> None:
    """The relay shuts down (STATUS restarting, WebSockets closed) and comes back with the same
    key and port: both hops reconnect, Python asks for the circuit again, and the same
    end-to-end connection carries messages both ways."""

    async def main() -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        opts = {**FAST, "port": port, "udpPort": None, "keyFile": str(tmp_path / "relay.key")}
        relay = await TsPeer.start("ts_relay.mjs", **opts)
        ts = await TsPeer.start("ts_relay_peer.mjs", relayKey=relay.ready["peerId"], carrier={"kind": "ws", "url": relay.ready["url"]})
        try:
            async with await srmudp.create_node(host="127.0.0.1", relays=[relay.ready["relay"]]) as node:
                pc = await node.connect({"peer_id": ts.peer_id}, timeout=30)
                await _messages_both_ways(node, pc, ts)
                await relay.close()
                relay = await TsPeer.start("ts_relay.mjs", **opts)
                for i in range(3):
                    await pc.send(f"after restart {i}".encode())
                got = [base64.b64decode((await ts.expect("message", timeout=40))["data"]) for _ in range(3)]
                assert got == [f"after restart {i}".encode() for i in range(3)]
                ts.send(cmd="send", to=node.peer_id, data=base64.b64encode(b"back").decode())
                m = await node.receive(timeout=30)
                assert m is not None and m.data == b"back"
                assert not pc.is_closed and node.connection(ts.peer_id) is pc
                assert node.stats()["relay_drops"].get("circuit_closed_relay_shutdown", 0) + node.stats()["relay_drops"].get("circuit_closed_hop_down", 0) >= 1
        finally:
            await ts.close()
            await relay.close()

    run(main, 180)


def test_token_admission_over_the_websocket() -> None:
    """A relay admitting WebSockets by bearer token: Python's hop with the token reaches the
    TypeScript peer; without it the relay closes the WebSocket 4001 and the dial fails typed."""
    token = "py-relay-token-0123456789"

    async def main() -> None:
        relay = await TsPeer.start("ts_relay.mjs", admission="token", tokens=[token], **FAST)
        ts: TsPeer | None = None
        try:
            url = relay.ready["url"]
            ts = await TsPeer.start(
                "ts_relay_peer.mjs", relayKey=relay.ready["peerId"], carrier={"kind": "ws", "url": url, "token": token}
            )
            spec = {"url": url, "peer_id": relay.ready["peerId"], "token": token}
            async with await srmudp.create_node(host="127.0.0.1", relays=[spec]) as node:
                pc = await node.connect({"peer_id": ts.peer_id}, timeout=30)
                await pc.send(b"with a token")
                assert base64.b64decode((await ts.expect("message", timeout=30))["data"]) == b"with a token"
            async with await srmudp.create_node(host="127.0.0.1", relays=[relay.ready["relay"]]) as node:
                with pytest.raises(SrmudpError) as e:
                    await node.connect({"peer_id": ts.peer_id}, timeout=3)
                assert e.value.code == "RELAY_UNREACHABLE" and "4001 unauthorized" in str(e.value)
        finally:
            if ts is not None:
                await ts.close()
            await relay.close()

    run(main, 120)


def test_circuits_are_given_back_when_their_connection_ends() -> None:
    """The relay allows 2 circuits per client here: Python connects to the TypeScript peer,
    closes (TypeScript sees the remote close), and connects again, 4 times; each closed
    connection gave its circuit back."""

    async def main() -> None:
        opts = {"limits": {**FAST["limits"], "maxCircuitsPerClient": 2}}
        async with relay_setup(relay_options=opts) as (relay, ts):
            async with await srmudp.create_node(host="127.0.0.1", relays=[relay.ready["relay"]]) as node:
                for i in range(4):
                    pc = await node.connect({"peer_id": ts.peer_id}, timeout=30)
                    await pc.send(f"round {i}".encode())
                    assert base64.b64decode((await ts.expect("message", timeout=30))["data"]) == f"round {i}".encode()
                    await pc.close()
                    # given back once the closing period is over (the CLOSE travels on it)
                    for _ in range(100):
                        if node.relays()[0]["channels"] == 0:
                            break
                        await asyncio.sleep(0.05)
                    assert node.relays()[0]["channels"] == 0
                    assert (await ts.expect("closed", timeout=30))["remote"] is True
                await asyncio.sleep(0.2)
                assert node.relays()[0]["stats"]["closed"] == 0  # we closed them: no CLOSE came back  # type: ignore[index]

    run(main, 120)
