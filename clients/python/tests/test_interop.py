"""Python <-> TypeScript over UDP on loopback: TypeScript nodes from this repository's build
(tests/ts_peer.mjs) against the Python client, in both roles, with messages, 16 MiB streams,
wrong keys, cookies, rekeying, 5 % loss, hostile datagrams, idle timeout and graceful close."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import socket
from collections.abc import Awaitable, Callable

import pytest
from interop import LossProxy, TsPeer, keystream, ts_and_python

import srmudp
from srmudp import SrmudpError

MIB = 1024 * 1024


def run(coro_fn: Callable[[], Awaitable[None]], timeout: float = 120) -> None:
    async def main() -> None:
        await asyncio.wait_for(coro_fn(), timeout)

    asyncio.run(main())


async def send_stream(conn: srmudp.PeerConnection, data: bytes) -> None:
    s = await conn.open_stream()
    for i in range(0, len(data), 64 * 1024):
        s.write(data[i : i + 64 * 1024])
        await s.drain()
    s.write_eof()
    await s.drain()


async def read_stream(stream: srmudp.SrmudpStream) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    while d := await stream.read(1 << 20):
        h.update(d)
        n += len(d)
    return n, h.hexdigest()


async def wait_for(cond: Callable[[], object], timeout: float = 10.0) -> None:
    for _ in range(int(timeout * 20)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not met")


def test_python_dials_typescript_messages_and_16_mib_each_way() -> None:
    async def main() -> None:
        async with ts_and_python() as (ts, node):
            node.peers.add({"ts": ts.card})
            await wait_for(lambda: node.connection("ts"))
            conn = node.connection("ts")
            assert conn is not None and conn.peer_id == ts.peer_id
            assert (await ts.expect("connection"))["peerId"] == node.peer_id
            # messages both ways, in order, whole
            assert await node.send("hello from python", to=["ts"]) == ["ts"]
            big = os.urandom(200_000)
            await node.send(big, to=["ts"])
            assert base64.b64decode((await ts.expect("message"))["data"]) == b"hello from python"
            assert base64.b64decode((await ts.expect("message"))["data"]) == big
            await ts.send_message(b"hello from typescript")
            m = await node.receive(timeout=10)
            assert m is not None and (m.peer, m.data) == ("ts", b"hello from typescript")
            # 16 MiB Python -> TypeScript
            data = keystream("py->ts", 16 * MIB)
            await send_stream(conn, data)
            got = await ts.expect("stream")
            assert (got["bytes"], got["sha256"]) == (16 * MIB, hashlib.sha256(data).hexdigest())
            # 16 MiB TypeScript -> Python
            ts.send(cmd="stream", peer=node.peer_id, bytes=16 * MIB, seed="ts->py")
            n, digest = await read_stream(await conn.accept_stream())
            assert (n, digest) == (16 * MIB, hashlib.sha256(keystream("ts->py", 16 * MIB)).hexdigest())
            assert node.status()["ts"]["state"] == "established"
            # graceful close from Python: TypeScript sees our code and reason
            await conn.close(0x100, "done")
            closed = await ts.expect("closed")
            assert (closed["code"], closed["reason"], closed["remote"]) == (0x100, "done", True)

    run(main)


def test_typescript_dials_python_both_streams_at_once() -> None:
    async def main() -> None:
        async with ts_and_python() as (ts, node):
            ts.send(cmd="connect", card=node.contact_card())
            conn = await asyncio.wait_for(node.accept(), 15)
            assert conn.peer_id == ts.peer_id
            await ts.expect("connected")
            await ts.send_message(b"ts first", to=node.peer_id)
            m = await node.receive(timeout=10)
            assert m is not None and m.data == b"ts first" and m.peer == ts.peer_id
            await conn.send(b"python answers")
            assert base64.b64decode((await ts.expect("message"))["data"]) == b"python answers"
            # 16 MiB each way, concurrently, on two streams of one connection
            data = keystream("py-up", 16 * MIB)
            ts.send(cmd="stream", peer=node.peer_id, bytes=16 * MIB, seed="ts-down")

            async def down() -> tuple[int, str]:
                return await read_stream(await conn.accept_stream())

            (n, digest), _ = await asyncio.gather(down(), send_stream(conn, data))
            assert (n, digest) == (16 * MIB, hashlib.sha256(keystream("ts-down", 16 * MIB)).hexdigest())
            got = await ts.expect("stream")
            assert (got["bytes"], got["sha256"]) == (16 * MIB, hashlib.sha256(data).hexdigest())
            # TypeScript closes the connection: Python sees its code and reason (it closes when our
            # message arrives; before issue 11 a close after an idle gap could be lost)
            await conn.send(b"close:ts is done")
            assert await asyncio.wait_for(asyncio.shield(conn.closed), 15) == (0x101, "ts is done", True)

    run(main)


def test_wrong_keys_are_refused_with_typed_errors() -> None:
    async def main() -> None:
        async with ts_and_python(ts_options={"handshakeTimeoutMs": 1500}, handshake_timeout_ms=1500, allow=[]) as (ts, node):
            stranger = srmudp.Identity.generate()
            # Python dials TypeScript's address expecting another key: mac1 fails, no answer
            with pytest.raises(SrmudpError) as e:
                await node.connect({"host": "127.0.0.1", "port": ts.port, "peer_id": stranger.peer_id}, timeout=10)
            assert e.value.code == "HANDSHAKE_TIMEOUT"
            ts.send(cmd="stats")
            assert (await ts.expect("stats"))["node"]["endpoint"]["drops"].get("bad_mac1", 0) >= 1
            # TypeScript dials Python's address with a card of another key
            other = await srmudp.create_node(host="127.0.0.1", identity=stranger)
            wrong_card = other.contact_card(addresses=[node.address()])
            await other.close()
            ts.send(cmd="connect", card=wrong_card)
            err = await ts.expect("command_error", timeout=15)
            assert err["code"] == "HANDSHAKE_TIMEOUT"
            assert node.stats()["drops"]["bad_mac1"] >= 1  # type: ignore[index]
            # TypeScript dials the right key, but Python's allow list refuses it
            ts.send(cmd="connect", card=node.contact_card())
            err = await ts.expect("command_error", timeout=15)
            assert err["code"] == "HANDSHAKE_TIMEOUT"
            assert node.stats()["drops"]["refused"] >= 1  # type: ignore[index]

    run(main)


def test_five_percent_loss_both_ways_without_corruption() -> None:
    async def main() -> None:
        async with ts_and_python() as (ts, node):
            proxy = LossProxy(("127.0.0.1", ts.port), 0.05, seed=5)
            try:
                conn = await node.connect({"host": "127.0.0.1", "port": proxy.port, "peer_id": ts.peer_id}, timeout=20)
                # TypeScript has the connection once our first packet confirmed the keys (a lost
                # one is retransmitted): only then can it open a stream to us
                await ts.expect("connection", peerId=node.peer_id)
                up = keystream("lossy-up", 4 * MIB)
                ts.send(cmd="stream", peer=node.peer_id, bytes=4 * MIB, seed="lossy-down")

                async def down() -> tuple[int, str]:
                    return await read_stream(await conn.accept_stream())

                (n, digest), _ = await asyncio.gather(down(), send_stream(conn, up))
                assert (n, digest) == (4 * MIB, hashlib.sha256(keystream("lossy-down", 4 * MIB)).hexdigest())
                got = await ts.expect("stream", timeout=60)
                assert (got["bytes"], got["sha256"]) == (4 * MIB, hashlib.sha256(up).hexdigest())
                for _ in range(20):  # and whole messages
                    await conn.send(b"m" * 3000)
                for _ in range(20):
                    assert base64.b64decode((await ts.expect("message"))["data"]) == b"m" * 3000
                assert min(proxy.dropped) > 50, proxy.dropped
                st = conn.stats()
                assert st["packets_lost"] > 0 and st["retransmitted_bytes"] > 0  # type: ignore[operator]
            finally:
                proxy.close()

    run(main, timeout=180)


def test_cookie_reply_from_typescript_is_used() -> None:
    async def main() -> None:
        async with ts_and_python() as (ts, node):
            key = srmudp.parse_peer_id(ts.peer_id)
            core = node.endpoint.connect(node._now(), [("127.0.0.1", ts.port)], key)
            # the first initiation carries an invalid mac2: TypeScript answers with a cookie
            ch = core.channel
            assert ch is not None and ch.pending is not None
            ch.drop_pending()
            ch.corrupt_next_mac2 = True
            ch.state = "idle"
            ch.connect(node._now())
            node.endpoint._pump_secure(node._now())
            node._kick()
            await wait_for(lambda: node.connection(ts.peer_id))
            assert node.stats()["cookie_replies_accepted"] == 1
            ts.send(cmd="stats")
            assert (await ts.expect("stats"))["node"]["endpoint"]["drops"]["bad_mac2"] == 1

    run(main)


def test_rekey_initiated_by_python_mid_transfer() -> None:
    async def main() -> None:
        async with ts_and_python() as (ts, node):
            conn = await node.connect(ts.card, timeout=15)
            ch = conn._core.channel
            assert ch is not None and ch.key_phase == 0
            data = keystream("rekey", 8 * MIB)

            async def rekey_halfway() -> None:
                await wait_for(lambda: conn.stats()["bytes_sent"] > 2 * MIB)  # type: ignore[operator]
                ch.request_rekey()
                node._kick()

            await asyncio.gather(send_stream(conn, data), rekey_halfway())
            got = await ts.expect("stream")
            assert got["sha256"] == hashlib.sha256(data).hexdigest()
            await wait_for(lambda: ch.key_phase == 1)
            assert node.stats()["rekeys"] == 1
            await conn.send(b"after the rekey")
            assert base64.b64decode((await ts.expect("message"))["data"]) == b"after the rekey"

    run(main)


def test_xx_dial_without_a_key_learns_it() -> None:
    async def main() -> None:
        async with ts_and_python() as (ts, node):
            conn = await node.connect({"host": "127.0.0.1", "port": ts.port}, timeout=15)
            assert conn.peer_id == ts.peer_id
            await conn.send(b"over XX")
            assert base64.b64decode((await ts.expect("message"))["data"]) == b"over XX"

    run(main)


def test_hostile_datagrams_during_a_transfer_are_dropped_and_counted() -> None:
    async def main() -> None:
        async with ts_and_python() as (ts, node):
            conn = await node.connect(ts.card, timeout=15)
            await ts.expect("connection", peerId=node.peer_id)  # after key confirmation
            ts.send(cmd="stream", peer=node.peer_id, bytes=4 * MIB, seed="under attack")
            target = node.address()
            rng = random.Random(9)
            attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stop = False

            async def attack() -> int:
                n = 0
                while not stop:
                    for _ in range(50):
                        kind = rng.randrange(4)
                        if kind == 0:
                            pkt = rng.randbytes(rng.randrange(0, 1500))
                        elif kind == 1:  # a data packet for a real session index, forged
                            idx = next(iter(node.endpoint.secure._indexes), 0)
                            pn = rng.randrange(2**40).to_bytes(8, "big")
                            pkt = bytes([0x90]) + idx.to_bytes(4, "big") + pn + rng.randbytes(40)
                        elif kind == 2:  # a handshake init with junk (fails mac1)
                            pkt = bytes([0x81, 1, 0]) + rng.randbytes(4) + bytes(4) + rng.randbytes(120)
                        else:  # STUN-looking and unknown first bytes
                            pkt = bytes([rng.choice([0x00, 0x40, 0xC0, 0xFF])]) + rng.randbytes(30)
                        attacker.sendto(pkt, target)
                        n += 1
                    await asyncio.sleep(0.005)
                return n

            task = asyncio.create_task(attack())
            n, digest = await read_stream(await conn.accept_stream())
            stop = True
            sent = await task
            attacker.close()
            assert (n, digest) == (4 * MIB, hashlib.sha256(keystream("under attack", 4 * MIB)).hexdigest())
            st = node.stats()
            drops: dict[str, int] = st["drops"]  # type: ignore[assignment]
            # every datagram that reached the socket was used or dropped and counted (the kernel may
            # drop some of the flood before that, so compare with what arrived, not what was sent)
            assert st["datagrams"] == st["delivered"] + st["handshake"] + sum(drops.values()), st
            assert sent > 500 and sum(drops.values()) > sent / 4, (sent, drops)
            assert {"bad_mac1", "decrypt_failed", "not_srmudp"} <= set(drops), drops
            assert not conn.is_closed

    run(main)


def test_idle_timeout_when_the_typescript_peer_dies() -> None:
    async def main() -> None:
        async with ts_and_python(idle_timeout_ms=3000, keepalive_ms=500) as (ts, node):
            conn = await node.connect(ts.card, timeout=15)
            stream = await conn.open_stream()
            stream.write(b"open")
            await stream.drain()
            await asyncio.sleep(3.5)  # keepalives hold an idle connection open
            assert not conn.is_closed
            await ts.kill()
            # our own timer, not something the peer said (as TypeScript reports it since issue 11)
            closed = await asyncio.wait_for(asyncio.shield(conn.closed), 15)
            assert closed == (0x12, "idle timeout: nothing received from the peer for 3 s", False)
            with pytest.raises(SrmudpError) as e:  # an open stream fails like a timed-out socket
                await stream.read()
            assert e.value.code == "IDLE_TIMEOUT"
            assert ts.peer_id not in node.status()  # an unnamed peer leaves the status table when it is gone

    run(main)


def test_a_replayed_typescript_initiation_makes_no_connection_in_python() -> None:
    """Issue 11's replay rules with Python as the responder: TypeScript dials Python through a
    proxy that records its initiation; replayed after the connection ended, it is refused by its
    timestamp; replayed to a restarted Python node (which forgot the timestamps) it only creates
    an unconfirmed session, which never becomes a connection and expires."""

    async def main() -> None:
        ident = srmudp.Identity.generate()
        async with ts_and_python(identity=ident, handshake_timeout_ms=1500) as (ts, node):
            proxy = LossProxy(node.address(), 0.0)
            attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            attacker.bind(("127.0.0.1", 0))
            attacker.setblocking(False)
            try:
                ts.send(cmd="connect", card=node.contact_card(addresses=[("127.0.0.1", proxy.port)]))
                conn = await asyncio.wait_for(node.accept(), 15)
                await ts.expect("connected")
                recorded = proxy.initiations[0]
                ts.send(cmd="close_conn", peer=node.peer_id, code=0x100, reason="bye")
                await ts.expect("conn_closed")
                assert (await asyncio.wait_for(asyncio.shield(conn.closed), 15))[2] is True
                await asyncio.sleep(1.7)  # past the duplicate cache (one handshake timeout)
                attacker.sendto(recorded, node.address())
                await wait_for(lambda: node.stats()["drops"].get("replayed_init", 0) == 1, 5)  # type: ignore[union-attr]
                await asyncio.sleep(0.3)
                assert node._incoming.empty() and node.status() == {}
                assert node.stats()["connections"] == 0 and node.stats()["pending_handshakes"] == 0
                with pytest.raises(BlockingIOError):
                    attacker.recv(2048)  # not answered
                # Python restarts on the same port and forgets the timestamps it saw
                port = node.address()[1]
                await node.close()
                again = await srmudp.create_node(identity=ident, host="127.0.0.1", port=port, handshake_timeout_ms=1500)
                try:
                    attacker.sendto(recorded, ("127.0.0.1", port))
                    await wait_for(lambda: again.stats()["pending_handshakes"] == 1, 5)
                    await asyncio.sleep(0.5)
                    assert again._incoming.empty() and again.status() == {} and again.stats()["connections"] == 0
                    await wait_for(lambda: again.stats()["pending_handshakes"] == 0, 5)  # expired unconfirmed
                    assert again._incoming.empty() and again.status() == {}
                    assert again.endpoint.secure.channel(srmudp.parse_peer_id(ts.peer_id)) is None
                finally:
                    await again.close()
            finally:
                attacker.close()
                proxy.close()

    run(main)


def test_python_restarts_and_dials_typescript_again_with_the_same_key() -> None:
    """Python's initiation timestamps keep growing across a restart (wall clock + monotonic
    clock, as the TypeScript node), so TypeScript accepts the restarted peer at once; and
    node.close() sends CLOSE first, so TypeScript sees the remote close right away."""

    async def main() -> None:
        ts = await TsPeer.start()
        ident = srmudp.Identity.generate()
        try:
            for round_ in ("before", "after"):
                node = await srmudp.create_node(identity=ident, host="127.0.0.1")
                try:
                    conn = await node.connect(ts.card, timeout=15)
                    await conn.send(f"{round_} the restart")
                    assert base64.b64decode((await ts.expect("message"))["data"]) == f"{round_} the restart".encode()
                finally:
                    await node.close()
                closed = await ts.expect("closed", timeout=5, peerId=ident.peer_id)
                assert (closed["code"], closed["reason"], closed["remote"]) == (0, "node closed", True)
            ts.send(cmd="stats")
            drops = (await ts.expect("stats"))["node"]["endpoint"]["drops"]
            assert drops.get("replayed_init", 0) == 0, drops
        finally:
            await ts.close()

    run(main)


def test_dial_again_right_after_a_graceful_close() -> None:
    """A new connection to the same peer and address while the old one is in its closing period
    gets a handshake of its own (it reused the old keys and never became established before)."""

    async def main() -> None:
        async with ts_and_python() as (ts, node):
            for i in range(3):
                conn = await node.connect(ts.card, timeout=10)
                await ts.expect("connection", peerId=node.peer_id)
                await conn.send(f"round {i}".encode())
                assert base64.b64decode((await ts.expect("message"))["data"]) == f"round {i}".encode()
                await conn.close()
                assert (await ts.expect("closed", peerId=node.peer_id))["remote"] is True

    run(main, 90)
