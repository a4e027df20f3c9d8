"""The WebSocket carrier (wire-format.md §9.7): one binary message = one datagram, subprotocol
``srmudp.relay.v1``, permessage-deflate off, text messages dropped. Built on the ``websockets``
library (imported only when a WebSocket relay is used); works with its asyncio API (13 and
later) and with the legacy one (Debian bookworm's 10.4).

Sends never block the driver: :meth:`WsCarrier.send` queues the datagram and one writer task
hands the queue to the socket; a queue above ``max_queue`` datagrams drops the newest (as a full
UDP socket buffer does: the reliability layer recovers)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

SUBPROTOCOL = "srmudp.relay.v1"
#: close codes the relay refuses with (wire-format.md §9.7)
CLOSE_CODES = {
    4001: "unauthorized",
    4002: "too_many_connections",
    4003: "server_full",
    4004: "slow_consumer",
    4005: "subprotocol_missing",
    1001: "going_away",
    1009: "message_too_big",
}


def check_websockets() -> None:
    """ImportError when the websockets library is missing."""
    import websockets  # noqa: F401


def _connect_fn() -> tuple[Callable[..., Any], str]:
    try:
        from websockets.asyncio.client import connect  # websockets >= 13

        return connect, "additional_headers"
    except ImportError:  # pragma: no cover - exercised with Debian's 10.x
        from websockets.client import connect  # type: ignore[no-redef,attr-defined,unused-ignore]

        return connect, "extra_headers"


class WsCarrier:
    """One WebSocket to a relay, re-opened with backoff while the owner wants it (``start`` /
    ``close``). ``on_datagram(data)`` gets every binary message; ``on_state(open: bool)`` the
    transitions."""

    def __init__(
        self,
        url: str,
        on_datagram: Callable[[bytes], None],
        on_state: Callable[[bool], None],
        *,
        token: str | None = None,
        max_message_size: int = 65_536,
        max_queue: int = 4096,
        reconnect_initial_s: float = 0.1,
        reconnect_max_s: float = 5.0,
    ) -> None:
        self.url = url
        self._on_datagram = on_datagram
        self._on_state = on_state
        self._token = token
        self._max_size = max_message_size
        self._max_queue = max_queue
        self._backoff = (reconnect_initial_s, reconnect_max_s)
        self._ws: Any = None
        self._queue: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.is_open = False
        self.last_error: str | None = None
        self.last_close_code: int | None = None
        self.stats = {"opened": 0, "sent": 0, "received": 0, "dropped_text": 0, "dropped_queue_full": 0, "dropped_closed": 0}

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def send(self, data: bytes) -> None:
        if not self.is_open:
            self.stats["dropped_closed"] += 1
            return
        if len(self._queue) >= self._max_queue:
            self.stats["dropped_queue_full"] += 1
            return
        self._queue.append(data)
        self._wake.set()

    async def close(self) -> None:
        self._closed = True
        ws = self._ws
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 2)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    async def _run(self) -> None:
        connect, headers_arg = _connect_fn()
        delay = self._backoff[0]
        while not self._closed:
            kwargs: dict[str, Any] = {
                "subprotocols": [SUBPROTOCOL],
                "compression": None,
                "max_size": self._max_size,
                "open_timeout": 10,
            }
            if self._token is not None:
                kwargs[headers_arg] = {"Authorization": f"Bearer {self._token}"}
            try:
                ws = await connect(self.url, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - refused, unreachable, bad handshake: retry
                self.last_error = f"{type(e).__name__}: {e}"
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            if getattr(ws, "subprotocol", None) != SUBPROTOCOL:
                self.last_error = "the server did not agree to subprotocol srmudp.relay.v1"
                await ws.close()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            self._ws = ws
            self.is_open = True
            self.stats["opened"] += 1
            delay = self._backoff[0]
            self._on_state(True)
            writer = asyncio.get_running_loop().create_task(self._write(ws))
            try:
                async for msg in ws:
                    if isinstance(msg, str):
                        self.stats["dropped_text"] += 1
                        continue
                    self.stats["received"] += 1
                    self._on_datagram(bytes(msg))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - connection lost
                self.last_error = f"{type(e).__name__}: {e}"
            finally:
                writer.cancel()
                self.is_open = False
                self._ws = None
                self._queue.clear()
                code = getattr(ws, "close_code", None)
                self.last_close_code = code
                if code is not None and code in CLOSE_CODES:
                    self.last_error = f"closed {code} {CLOSE_CODES[code]}"
                if not self._closed:
                    self._on_state(False)
            if not self._closed:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])

    async def _write(self, ws: Any) -> None:
        q = self._queue
        try:
            while True:
                while q:
                    await ws.send(q.popleft())
                    self.stats["sent"] += 1
                self._wake.clear()
                await self._wake.wait()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the reader sees the close
            return
