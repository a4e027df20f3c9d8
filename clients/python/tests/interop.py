"""Helpers of the interoperability tests: a TypeScript srmudp node in a child process
(ts_peer.mjs), a lossy loopback UDP proxy, and the deterministic test data both sides generate."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import random
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import srmudp

TESTS = Path(__file__).parent
TS_DIST = TESTS.parent.parent.parent / "packages" / "srmudp" / "dist" / "index.js"


def keystream(seed: int | str, n: int) -> bytes:
    """The bytes ts_peer.mjs writes for ``seed``: AES-128-CTR keystream, key sha256(seed)[:16]."""
    key = hashlib.sha256(str(seed).encode()).digest()[:16]
    return Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(n))


class TsPeer:
    """A TypeScript node. ``await TsPeer.start(...)``; ``send(cmd)``; ``await expect(type, ...)``."""

    def __init__(self, proc: asyncio.subprocess.Process, ready: dict[str, Any]) -> None:
        self.proc = proc
        self.ready = ready
        self.card: str = ready.get("card", "")
        self.peer_id: str = ready.get("peerId", "")
        self.port: int = ready.get("port", 0)
        self.lines: list[dict[str, Any]] = []
        self._seen = 0
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, script: str = "ts_peer.mjs", **options: Any) -> TsPeer:
        """Starts ``script`` (ts_peer.mjs: a node over UDP; ts_relay_peer.mjs: a client of a
        relay; ts_relay.mjs: a relay server) with ``options`` as its JSON argument."""
        if not TS_DIST.exists():
            raise RuntimeError(f"{TS_DIST} is missing: build the repository first (pnpm run build)")
        proc = await asyncio.create_subprocess_exec(
            "node",
            str(TESTS / script),
            json.dumps({"host": "127.0.0.1", **options} if script == "ts_peer.mjs" else options),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 45)
            ready = json.loads(line)
        except (asyncio.TimeoutError, ValueError) as e:
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"{script} did not start: {e!r}") from None
        if ready.get("type") != "ready":
            proc.kill()
            await proc.wait()
            raise RuntimeError(f"{script} did not start: {ready}")
        return cls(proc, ready)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            self.lines.append(json.loads(line))
            self._changed.set()

    def send(self, **cmd: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())

    async def expect(self, type_: str, timeout: float = 30.0, **match: Any) -> dict[str, Any]:
        """The next line of ``type_`` (matching ``match``) not returned before."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ln in enumerate(self.lines):
                if i >= self._seen and ln.get("type") == type_ and all(ln.get(k) == v for k, v in match.items()):
                    self.lines.pop(i)
                    return ln
                if ln.get("type") in ("command_error", "error", "fatal") and type_ not in ("command_error", "error"):
                    raise AssertionError(f"ts peer reported {ln}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {type_} {match} from the ts peer within {timeout} s; lines: {self.lines[-5:]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def send_message(self, data: bytes, to: str | None = None) -> None:
        self.send(cmd="send", data=base64.b64encode(data).decode(), **({"to": to} if to else {}))
        assert (await self.expect("sent"))["ok"]

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                self.send(cmd="close")
                await asyncio.wait_for(self.proc.wait(), 10)
            except (asyncio.TimeoutError, ConnectionError, BrokenPipeError):
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()

    async def kill(self) -> None:
        self.proc.kill()
        await self.proc.wait()
        self._reader.cancel()


class LossProxy:
    """A loopback UDP proxy that drops ``loss`` of the datagrams in each direction (seeded). The
    first address that sends to ``port`` is the client; everything else goes to ``target``.
    ``initiations`` records the client's handshake initiations (type 0x81), as an attacker on
    the path would."""

    def __init__(self, target: tuple[str, int], loss: float, seed: int = 1) -> None:
        self.target = target
        self.loss = loss
        self.rng = random.Random(seed)
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        for s in (self.front, self.back):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            s.settimeout(0.1)
        self.port = self.front.getsockname()[1]
        self.client: tuple[str, int] | None = None
        self.forwarded = [0, 0]
        self.dropped = [0, 0]
        self.initiations: list[bytes] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(0,), daemon=True), threading.Thread(target=self._run, args=(1,), daemon=True)]
        self._lock = threading.Lock()
        for t in self._threads:
            t.start()

    def _run(self, direction: int) -> None:
        src = self.front if direction == 0 else self.back
        while not self._stop.is_set():
            try:
                data, addr = src.recvfrom(65536)
            except (socket.timeout, OSError):
                continue
            with self._lock:
                if direction == 0:
                    self.client = self.client or addr
                    if data[:1] == b"\x81":
                        self.initiations.append(data)
                drop = self.rng.random() < self.loss
            if drop:
                self.dropped[direction] += 1
                continue
            self.forwarded[direction] += 1
            try:
                if direction == 0:
                    self.back.sendto(data, self.target)
                elif self.client is not None:
                    self.front.sendto(data, self.client)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2)
        self.front.close()
        self.back.close()


@contextlib.asynccontextmanager
async def ts_and_python(ts_options: dict[str, Any] | None = None, **node_options: Any) -> AsyncIterator[tuple[TsPeer, srmudp.Node]]:
    """A TypeScript node and a Python node on loopback, both closed afterwards."""
    ts = await TsPeer.start(**(ts_options or {}))
    try:
        node = await srmudp.create_node(host="127.0.0.1", **node_options)
    except BaseException:
        await ts.close()
        raise
    try:
        yield ts, node
    finally:
        await node.close()
        await ts.close()
