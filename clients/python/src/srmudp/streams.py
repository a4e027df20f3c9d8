"""Byte streams as asyncio objects: a real :class:`asyncio.StreamReader` fed from the stream's
reliable receive buffer (flow-control credit returns as the application reads, because the
reader pauses its "transport" when its buffer is full), and a ``StreamWriter``-like writer with
``write``/``drain``/``write_eof``/``close``/``wait_closed``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .errors import SrmudpError

if TYPE_CHECKING:
    from .node import PeerConnection

READER_LIMIT = 256 * 1024


class _ReaderTransport(asyncio.Transport):
    """What StreamReader calls when its buffer fills (pause) and empties (resume)."""

    def __init__(self, stream: SrmudpStream) -> None:
        super().__init__()
        self._stream = stream
        self.paused = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        if self.paused:
            self.paused = False
            self._stream._pull()

    def is_reading(self) -> bool:
        return not self.paused

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


class SrmudpStreamWriter:
    """StreamWriter-like: ``write`` buffers without blocking, ``await drain()`` waits until the
    connection accepted the data (backpressure from the peer's flow control and our send
    buffer)."""

    def __init__(self, stream: SrmudpStream) -> None:
        self._s = stream

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._s._write(bytes(data))

    def writelines(self, data: list[bytes]) -> None:
        for d in data:
            self.write(d)

    async def drain(self) -> None:
        await self._s._drain()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self._s._finish()

    def close(self) -> None:
        self._s._finish()

    def is_closing(self) -> bool:
        return self._s._eof_requested

    async def wait_closed(self) -> None:
        await self._s._drain()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        info = {"peername": self._s.conn.path, "stream_id": self._s.id, "peer_id": self._s.conn.peer_id}
        return info.get(name, default)


class SrmudpStream:
    """One bidirectional, reliable, ordered byte stream. ``reader`` is an
    :class:`asyncio.StreamReader`; ``writer`` a StreamWriter-like object."""

    def __init__(self, conn: PeerConnection, sid: int) -> None:
        self.conn = conn
        self.id = sid
        self._loop = asyncio.get_running_loop()
        self.reader = asyncio.StreamReader(limit=READER_LIMIT, loop=self._loop)
        self._transport = _ReaderTransport(self)
        self.reader.set_transport(self._transport)
        self.writer = SrmudpStreamWriter(self)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._eof_requested = False
        self._eof_sent = False
        self._waiters: list[asyncio.Future[None]] = []
        self._error: Exception | None = None
        self._recv_done = False
        self._eof_fed = False

    # convenience: the common StreamReader/StreamWriter calls on the stream itself
    async def read(self, n: int = -1) -> bytes:
        return await self.reader.read(n)

    async def readexactly(self, n: int) -> bytes:
        return await self.reader.readexactly(n)

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def write_eof(self) -> None:
        self.writer.write_eof()

    def reset(self, code: int = 0x100) -> None:
        """Abandons our sending side (RESET_STREAM); unsent data is dropped."""
        self._pending.clear()
        self._pending_bytes = 0
        self.conn._core.reset(self.id, code)
        self.conn._node._kick()
        self._wake()

    # ------------------------------------------------------------------- driver side

    def _write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        if self._eof_requested:
            raise SrmudpError("STREAM_FINISHED", f"stream {self.id} is finished")
        if data:
            self._pending.append(data)
            self._pending_bytes += len(data)
            self._push()

    def _finish(self) -> None:
        if self._eof_requested:
            return
        self._eof_requested = True
        self._push()

    async def _drain(self) -> None:
        while self._pending_bytes > 0 or (self._eof_requested and not self._eof_sent):
            if self._error is not None:
                raise self._error
            fut: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append(fut)
            await fut
        if self._error is not None:
            raise self._error

    def _push(self) -> None:
        """Moves pending bytes into the connection as far as it accepts them."""
        core = self.conn._core
        while self._pending:
            d = self._pending[0]
            try:
                n = core.write(self.id, d)
            except (SrmudpError, ValueError) as e:
                self._fail(e)
                return
            if n == 0:
                break
            self._pending_bytes -= n
            if n < len(d):
                self._pending[0] = d[n:]
                break
            self._pending.pop(0)
        if not self._pending and self._eof_requested and not self._eof_sent:
            try:
                core.finish(self.id)
            except (SrmudpError, ValueError) as e:
                self._fail(e)
                return
            self._eof_sent = True
        self.conn._node._kick()
        if self._pending_bytes == 0:
            self._wake()

    def _pull(self) -> None:
        """Feeds the reader from the receive buffer while it is not paused; end of stream once
        the peer's FIN arrived and every byte before it was handed over."""
        core = self.conn._core
        self.conn._node._touch()
        while not self._transport.paused:
            d = core.read(self.id, READER_LIMIT)
            if not d:
                if self._recv_done and not self.reader.at_eof() and self._error is None:
                    self._eof_fed = True
                    self.reader.feed_eof()
                break
            self.reader.feed_data(d)
        self.conn._node._kick()

    def _on_finished(self) -> None:
        self._recv_done = True
        self._pull()

    def _fail(self, e: Exception) -> None:
        """The stream broke (reset by the peer, connection closed): readers and writers see ``e``
        (a reader that already reached the end of the stream keeps its data)."""
        if self._error is None:
            self._error = e
        if not self._eof_fed:
            self.reader.set_exception(e)
        self._wake()

    def _wake(self) -> None:
        ws, self._waiters = self._waiters, []
        for w in ws:
            if not w.done():
                w.set_result(None)
