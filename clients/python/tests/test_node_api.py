"""The asyncio API between two Python nodes on loopback: named peers both ways, messages(),
receive timeouts, reconnection after the peer restarts, stream reset, accept policy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

import srmudp
from srmudp import SrmudpError


def run(fn: Callable[[], Awaitable[None]], timeout: float = 60) -> None:
    async def main() -> None:
        await asyncio.wait_for(fn(), timeout)

    asyncio.run(main())


async def until(cond: Callable[[], object], timeout: float = 10.0) -> None:
    for _ in range(int(timeout * 20)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("condition not met")


def test_named_peers_both_ways_and_message_iteration() -> None:
    async def main() -> None:
        alice = await srmudp.create_node(host="127.0.0.1")
        bob = await srmudp.create_node(host="127.0.0.1")
        try:
            # both add each other: a simultaneous open ends in one connection per side
            alice.peers.add({"bob": bob.contact_card()})
            bob.peers.add({"alice": alice.contact_card()})
            await until(lambda: alice.status()["bob"]["state"] == "established" and bob.connection("alice"))
            assert alice.peers.list() == ["bob"]
            assert await alice.receive(timeout=0.1) is None
            assert await alice.send(b"to nobody", to=["carol"]) == []
            for i in range(5):
                assert await alice.send(f"m{i}", to=["bob"]) == ["bob"]
            got = []
            async for m in bob.messages():
                got.append((m.peer, m.data))
                if len(got) == 5:
                    break
            assert got == [("alice", f"m{i}".encode()) for i in range(5)]
            assert sum(1 for s in bob.status().values() if s["state"] == "established") == 1
        finally:
            await alice.close()
            await bob.close()

    run(main)


def test_a_named_peer_is_redialled_after_it_restarts() -> None:
    async def main() -> None:
        ident = srmudp.Identity.generate()
        bob = await srmudp.create_node(identity=ident, host="127.0.0.1")
        port = bob.address()[1]
        card = bob.contact_card()
        alice = await srmudp.create_node(host="127.0.0.1", reconnect_delay_ms=200, handshake_timeout_ms=1000)
        try:
            alice.peers.add({"bob": card})
            await until(lambda: alice.connection("bob"))
            first = alice.connection("bob")
            await bob.close()
            await until(lambda: alice.status()["bob"]["state"] != "established")
            bob = await srmudp.create_node(identity=ident, host="127.0.0.1", port=port)
            await until(lambda: alice.connection("bob") is not None and alice.connection("bob") is not first, 20)
            await alice.send(b"welcome back", to=["bob"])
            m = await bob.receive(timeout=5)
            assert m is not None and m.data == b"welcome back"
        finally:
            await alice.close()
            await bob.close()

    run(main)


def test_stream_reset_and_accept_policy() -> None:
    async def main() -> None:
        alice = await srmudp.create_node(host="127.0.0.1")
        bob = await srmudp.create_node(host="127.0.0.1", accept_unknown=False, handshake_timeout_ms=1000)
        carol = await srmudp.create_node(host="127.0.0.1", handshake_timeout_ms=1000)
        try:
            # bob only accepts the peers he named
            bob.peers.add({"alice": alice.contact_card()})
            await until(lambda: bob.connection("alice") and alice.connection(bob.peer_id))
            with pytest.raises(SrmudpError) as e:
                await carol.connect(bob.contact_card(), timeout=10)
            assert e.value.code == "HANDSHAKE_TIMEOUT"
            assert bob.stats()["drops"]["refused"] >= 1  # type: ignore[index]
            # a reset reaches the reader as a typed error
            conn = alice.connection(bob.peer_id)
            assert conn is not None
            s = await conn.open_stream()
            s.write(b"partial")
            await s.drain()
            incoming = await bob.connection("alice").accept_stream()  # type: ignore[union-attr]
            assert await incoming.reader.readexactly(7) == b"partial"
            s.reset(0x123)
            with pytest.raises(SrmudpError) as e:
                await incoming.reader.read()
            assert e.value.code == "STREAM_RESET"
        finally:
            await alice.close()
            await bob.close()
            await carol.close()

    run(main)


def test_unread_messages_are_bounded_in_count_and_bytes() -> None:
    """A peer that sends faster than the program reads: the node holds at most 64 MiB of unread
    messages (MAX_UNREAD_MESSAGE_BYTES), the oldest dropped and counted, the rest read in order."""

    class Peer:
        label = "mallory"

    async def main() -> None:
        node = await srmudp.create_node(host="127.0.0.1")
        try:
            mib = 1024 * 1024
            for i in range(80):
                node._deliver(Peer(), bytes([i]) * mib)  # type: ignore[arg-type]
            assert node.stats()["messages_dropped"] == 16
            for i in range(16, 80):
                m = await node.receive(timeout=1)
                assert m is not None and len(m.data) == mib and m.data[0] == i
            assert await node.receive(timeout=0.05) is None
            assert node._unread_bytes == 0
        finally:
            await node.close()

    run(main)
