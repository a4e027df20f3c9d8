"""The asyncio driver and the multi-peer API: the only code here that touches a socket or a
timer. Datagrams go into the sans-IO :class:`~srmudp.endpoint.Endpoint` as they arrive; its
output is drained once per event-loop turn (at most ``_BATCH`` datagrams, then the loop runs
again so receives are processed) and one timer is re-armed at ``poll_timeout()``."""

from __future__ import annotations

import asyncio
from collections import deque
import os
import socket
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

from . import reliability as rel
from .cards import ContactCard, PeerRecord, encode_card, next_sequence, parse_card, sign_record
from .cards.record import Candidate, candidates_to_addresses, verify_record
from .endpoint import Connected, ConnectFailed, Connection, ConnectionClosed, ConnectionEvent, Endpoint, PathChanged, lost_peer_code
from .errors import SrmudpError
from .identity import Identity, parse_peer_id, peer_id_to_string
from .keyfile import load_or_create_identity
from .reliability import Limits
from .relay import CircuitBound, CircuitClosed, CircuitRejected, IncomingCircuit, RelayClient, RelayNotice, RelayReady, is_channel_data
from .streams import SrmudpStream

_BATCH = 256
_RECV_BATCH = 64
_MAX_RECONNECT_MS = 30_000
#: how long node.close() keeps the socket for the closing period of its connections (3 PTO, a
#: few ms to a few hundred on real paths), to answer late packets with CLOSE again
_CLOSING_WAIT_S = 0.5
#: unread messages the node holds at most (receive(), messages()), in count and in bytes (four of
#: the largest, 16 MiB): past either the oldest are dropped and counted (stats()
#: ``messages_dropped``), so a peer that sends faster than the program reads cannot make the node
#: hold what it sends. As the TypeScript node (wire's MAX_UNREAD_MESSAGES, MAX_UNREAD_MESSAGE_BYTES).
MAX_UNREAD_MESSAGES = 65_536
MAX_UNREAD_MESSAGE_BYTES = 64 * 1024 * 1024

Address = tuple[str, int]
PeerTarget = Union[str, Mapping[str, Any]]


@dataclass(frozen=True)
class ReceivedMessage:
    """A whole message from ``peer`` (its name, or its peer id text for an unnamed peer)."""

    peer: str
    data: bytes
    timestamp: float  # time.time() when it arrived


@dataclass(frozen=True)
class _Resolved:
    addresses: list[Address]
    key: bytes | None
    #: no address: reach the peer through a relay
    relay: bool = False


#: the synthetic address of a peer reached through a relay (the channel is looked up at send
#: time, so a circuit re-established after a relay restart carries the same session on)
_VIA = "via~"


def via_address(key: bytes) -> Address:
    return (_VIA + key.hex(), 1)


RelaySpec = Union[str, Mapping[str, Any]]


class _Hop:
    """One relay: its hop session (an ordinary connection of the endpoint), its RelayClient and
    its carrier (the node's UDP socket, or a WebSocket)."""

    def __init__(self, node: Node, index: int, spec: RelaySpec) -> None:
        url: str | None = None
        token: str | None = None
        host: str | None = None
        port: int | None = None
        pid: Any = None
        if isinstance(spec, str):
            url, sep, frag = spec.partition("#")
            if not sep or not url.startswith(("ws://", "wss://")):
                raise TypeError('a relay is "ws[s]://host/path#<peer id>" or {"url"|"host","port", "peer_id", "token"?}')
            pid = frag
        elif isinstance(spec, Mapping):
            url = spec.get("url")
            token = spec.get("token")
            host, port = spec.get("host"), spec.get("port")
            pid = spec.get("peer_id", spec.get("peerId"))
            if url is None and (not isinstance(host, str) or not isinstance(port, int) or not 0 < port < 65536):
                raise TypeError('a relay mapping needs "url" (WebSocket) or "host" and "port" (UDP), and "peer_id"')
        else:
            raise TypeError('a relay is "ws[s]://host/path#<peer id>" or {"url"|"host","port", "peer_id", "token"?}')
        self.key = parse_peer_id(pid) if isinstance(pid, str) else bytes(pid) if pid is not None else b""
        if len(self.key) != 32:
            raise SrmudpError("INVALID_PEER_ID", "a relay needs its peer id")
        self.node = node
        self.name = url or f"udp://{host}:{port}"
        self.client = RelayClient(self.key, node.identity.public_key)
        self.conn_id: int | None = None
        self.last_error: SrmudpError | None = None
        self.ws: Any = None
        self.udp_host, self.udp_port = host, port
        if url is not None:
            try:
                from .ws import WsCarrier, check_websockets

                check_websockets()
            except ImportError:
                raise SrmudpError(
                    "MISSING_DEPENDENCY", "a WebSocket relay needs the websockets library (pip install websockets)"
                ) from None

            self.address: Address = (f"ws~relay{index}", 1)
            self.ws = WsCarrier(url, self._on_ws_datagram, self._on_ws_state, token=token)
        else:
            self.address = ("", 0)  # resolved at start
        self._redial: asyncio.TimerHandle | None = None
        #: control messages the hop session had no room for yet (sent in order when it has)
        self.pending: deque[bytes] = deque()
        #: peers we reach through this relay as the requester: their circuit is asked for again
        #: when it closes (relay restart, hop reset) while the connection lives
        self.wanted: set[bytes] = set()

    async def start(self) -> None:
        if self.ws is not None:
            self.ws.start()
            return
        r = resolve_target({"host": self.udp_host, "port": self.udp_port})
        self.address = r.addresses[0]
        self.dial()

    def dial(self) -> None:
        n = self.node
        if n._closed or self.conn_id is not None or (self.ws is not None and not self.ws.is_open):
            return
        conn = n.endpoint.connect(n._now(), [self.address], self.key)
        self.conn_id = conn.id
        n._hops_by_conn[conn.id] = self
        n._kick()

    def send(self, data: bytes) -> None:
        if self.ws is not None:
            self.ws.send(data)
        else:
            self.node._sendto(data, self.address)

    def receive(self, now: float, data: bytes) -> None:
        """A datagram from the relay: channel data is unwrapped to its end-to-end packet."""
        if is_channel_data(data):
            got = self.client.unwrap(data)
            if got is not None:
                self.node.endpoint.handle(now, via_address(got[0]), got[1])
        else:
            self.node.endpoint.handle(now, self.address, data)

    def lost(self, error: SrmudpError | None) -> None:
        """The hop session ended (closed, failed, or its WebSocket went away): re-dial later."""
        n = self.node
        if self.conn_id is not None:
            n._hops_by_conn.pop(self.conn_id, None)
            c = n.endpoint.connection(self.conn_id)
            if c is not None and not c.finished:
                c.close_immediately(n._now(), 0, "hop lost")
        self.conn_id = None
        if error is not None:
            self.last_error = error
        self.client.hop_down(n._now())
        self.pending.clear()
        n._relay_changed.set()
        if not n._closed and self._redial is None and (self.ws is None or self.ws.is_open):
            self._redial = n._loop.call_later(n._opts.get("reconnect_delay_ms", 500) / 1000, self._redial_now)

    def _redial_now(self) -> None:
        self._redial = None
        self.dial()

    def _on_ws_datagram(self, data: bytes) -> None:
        n = self.node
        if n._closed:
            return
        self.receive(n._now(), data)
        n._kick()

    def _on_ws_state(self, up: bool) -> None:
        if up:
            self.dial()
        else:
            self.lost(SrmudpError("RELAY_UNREACHABLE", f"WebSocket to {self.name} closed ({self.ws.last_error})"))

    def status(self) -> dict[str, object]:
        a = self.client.announced
        return {
            "relay": self.name,
            "peer_id": peer_id_to_string(self.key),
            "carrier": "ws" if self.ws is not None else "udp",
            "ready": self.client.ready,
            "channels": len(self.client.channels()),
            "limits": None if a is None else {"rate": a.rate, "burst": a.burst, "max_circuits": a.max_circuits, "max_message_size": a.max_message_size},
            "last_error": None if self.last_error is None else repr(self.last_error),
            "stats": {**vars(self.client.stats), **({"ws": dict(self.ws.stats)} if self.ws is not None else {})},
        }


def resolve_target(target: PeerTarget) -> _Resolved:
    """A contact card (its embedded signed record gives the addresses; signature, peer id and
    expiry checked), or ``{"host", "port", "peer_id"?}`` (without a peer id: Noise XX)."""
    if isinstance(target, str):
        card = parse_card(target)
        if card.record is None:
            raise SrmudpError(
                "RESOLVE_FAILED", "the card carries no address record (rendezvous backends are not supported here)"
            )
        record = verify_record(card.record, expected_peer_id=card.peer_id)
        if not record.candidates:
            raise SrmudpError("RESOLVE_FAILED", f"no current address for {peer_id_to_string(card.peer_id)}")
        return _Resolved(candidates_to_addresses(record.candidates), card.peer_id)
    if isinstance(target, Mapping):
        host, port = target.get("host"), target.get("port")
        pid0 = target.get("peer_id", target.get("peerId"))
        if host is None and port is None and pid0 is not None:  # a peer id alone: through a relay
            return _Resolved([], parse_peer_id(pid0) if isinstance(pid0, str) else bytes(pid0), True)
        if not isinstance(host, str) or not isinstance(port, int) or not 0 < port < 65536:
            raise TypeError('a target is a contact card or {"host": str, "port": int, "peer_id"?: str}')
        pid = target.get("peer_id", target.get("peerId"))
        key = parse_peer_id(pid) if isinstance(pid, str) else (bytes(pid) if pid is not None else None)
        try:
            addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4][0]
        except OSError as e:
            raise SrmudpError("RESOLVE_FAILED", f'cannot resolve host name "{host}": {e}') from None
        return _Resolved([(str(addr), port)], key)
    raise TypeError('a target is a contact card or {"host": str, "port": int, "peer_id"?: str}')


class PeerConnection:
    """An established connection to one peer: streams, messages, datagrams, stats, close."""

    def __init__(self, node: Node, core: Connection, name: str | None) -> None:
        self._node = node
        self._core = core
        self.name = name
        self.remote_key: bytes = core.remote_key  # type: ignore[assignment]
        self.peer_id = peer_id_to_string(self.remote_key)
        self._streams: dict[int, SrmudpStream] = {}
        self._incoming: asyncio.Queue[SrmudpStream | None] = asyncio.Queue()
        self._message_waiters: list[asyncio.Future[None]] = []
        self._stream_waiters: list[asyncio.Future[None]] = []
        self.closed: asyncio.Future[tuple[int, str, bool]] = asyncio.get_running_loop().create_future()
        self.datagrams: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1024)

    @property
    def label(self) -> str:
        return self.name or self.peer_id

    @property
    def path(self) -> Address | None:
        return self._core.path

    @property
    def is_closed(self) -> bool:
        return self.closed.done()

    async def open_stream(self) -> SrmudpStream:
        """Opens a bidirectional stream (waits while the peer's stream limit is used up)."""
        while True:
            if self.is_closed:
                raise SrmudpError("CONNECTION_CLOSED", f"connection to {self.label} is closed")
            r = self._core.rel
            if r is not None and r.can_open_stream():
                break
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._stream_waiters.append(fut)
            await self._wait(fut, 0.25)
        sid = self._core.open_stream()
        s = SrmudpStream(self, sid)
        self._streams[sid] = s
        return s

    async def accept_stream(self) -> SrmudpStream:
        """The next stream the peer opened."""
        s = await self._incoming.get()
        if s is None:
            self._incoming.put_nowait(None)
            raise SrmudpError("CONNECTION_CLOSED", f"connection to {self.label} is closed")
        return s

    async def streams(self) -> AsyncIterator[SrmudpStream]:
        while True:
            try:
                yield await self.accept_stream()
            except SrmudpError:
                return

    async def send(self, data: bytes | str, unordered: bool = False) -> None:
        """Sends a whole-or-nothing message; waits while the send buffer is full."""
        b = data.encode() if isinstance(data, str) else bytes(data)
        while not self._core.send_message(b, unordered):
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._message_waiters.append(fut)
            await self._wait(fut, 0.25)
            if self.is_closed:
                raise SrmudpError("CONNECTION_CLOSED", f"connection to {self.label} is closed")
        self._node._kick()

    def send_datagram(self, data: bytes) -> bool:
        """Unreliable: False when dropped (too big for one packet, or the queue is full)."""
        ok = self._core.send_datagram(bytes(data))
        self._node._kick()
        return ok

    def stats(self) -> dict[str, object]:
        return self._core.stats()

    async def close(self, code: int = 0, reason: str = "", timeout: float = 15.0) -> None:
        """Graceful: queued data is delivered first (at most max(3 PTO, 2 s) and 10 s when the
        peer does not acknowledge), then CLOSE."""
        self._node._closing_on_purpose.add(self._core.id)
        self._core.close(self._node._now(), code, reason)
        self._node._kick()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except asyncio.TimeoutError:
            pass

    async def _wait(self, fut: asyncio.Future[None], timeout: float) -> None:
        try:
            await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            pass

    # ------------------------------------------------------------------ driver side

    def _on_event(self, ev: rel.Event) -> None:
        if isinstance(ev, rel.StreamOpened):
            s = SrmudpStream(self, ev.stream_id)
            self._streams[ev.stream_id] = s
            self._incoming.put_nowait(s)
            s._pull()
        elif isinstance(ev, rel.Readable):
            s2 = self._streams.get(ev.stream_id)
            if s2 is not None:
                s2._pull()
        elif isinstance(ev, rel.Writable):
            s3 = self._streams.get(ev.stream_id)
            if s3 is not None:
                s3._push()
        elif isinstance(ev, rel.StreamFinished):
            s4 = self._streams.get(ev.stream_id)
            if s4 is not None:
                s4._on_finished()
        elif isinstance(ev, rel.StreamReset):
            s5 = self._streams.get(ev.stream_id)
            if s5 is not None:
                s5._fail(SrmudpError("STREAM_RESET", f"stream {ev.stream_id} reset by the peer (code {ev.code})"))
        elif isinstance(ev, rel.StreamStopped):
            s6 = self._streams.get(ev.stream_id)
            if s6 is not None:
                s6._fail(SrmudpError("STREAM_STOPPED", f"the peer stopped reading stream {ev.stream_id}"))
        elif isinstance(ev, rel.MessageReceived):
            self._node._deliver(self, ev.data)
        elif isinstance(ev, rel.MessageWritable):
            self._wake(self._message_waiters)
        elif isinstance(ev, rel.DatagramReceived):
            if not self.datagrams.full():
                self.datagrams.put_nowait(ev.data)

    def _on_closed(self, code: int, reason: str, remote: bool) -> None:
        if self.closed.done():
            return
        self.closed.set_result((code, reason, remote))
        lost = lost_peer_code(code, remote)
        if lost == "IDLE_TIMEOUT":
            # our own idle timer (like ETIMEDOUT): the peer said nothing
            err = SrmudpError("IDLE_TIMEOUT", f"connection to {self.label} timed out ({reason})")
        elif lost == "SESSION_EXPIRED":
            # our keys were lost with no answer from the peer to renew them
            err = SrmudpError("SESSION_EXPIRED", f"connection to {self.label} lost its session ({reason})")
        else:
            err = SrmudpError("CONNECTION_CLOSED", f"connection to {self.label} closed (code {code}: {reason})")
        for s in self._streams.values():
            s._fail(err)
        self._incoming.put_nowait(None)
        self._wake(self._message_waiters)
        self._wake(self._stream_waiters)

    def _after_io(self) -> None:
        if self._stream_waiters and self._core.rel is not None and self._core.rel.can_open_stream():
            self._wake(self._stream_waiters)

    @staticmethod
    def _wake(ws: list[asyncio.Future[None]]) -> None:
        for w in ws:
            if not w.done():
                w.set_result(None)
        ws.clear()


class _NamedPeer:
    def __init__(self, name: str, target: PeerTarget) -> None:
        self.name = name
        self.target = target
        self.key: bytes | None = None
        self.conn: PeerConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.state = "connecting"
        self.last_error: SrmudpError | None = None


class Peers:
    """Named peers: dialled, and re-dialled after a loss, until removed."""

    def __init__(self, node: Node) -> None:
        self._node = node

    def add(self, peers: Mapping[str, PeerTarget]) -> None:
        if not isinstance(peers, Mapping):
            raise TypeError('"peers" expected a mapping of names to contact cards or {host, port, peer_id}')
        for name, target in peers.items():
            self._node._add_peer(str(name), target)

    def remove(self, names: list[str]) -> None:
        for name in names:
            self._node._remove_peer(name)

    def list(self) -> list[str]:
        return list(self._node._named)


class Node:
    """One UDP socket, many named peers. Create with :func:`create_node`."""

    def __init__(self, identity: Identity, options: dict[str, Any]) -> None:
        self.identity = identity
        self.peer_id = identity.peer_id
        self._opts = options
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        allow = options.get("allow")
        self._allow = None if allow is None else {parse_peer_id(p) if isinstance(p, str) else bytes(p) for p in allow}
        self.endpoint = Endpoint(
            identity,
            self._now(),
            accept=self._accept,
            limits=options.get("limits"),
            keepalive_ms=options.get("keepalive_ms", 15_000),
            idle_timeout_ms=options.get("idle_timeout_ms", 30_000),
            handshake_timeout_ms=options.get("handshake_timeout_ms", 10_000),
            max_pending_handshakes=options.get("max_pending_handshakes", 1024),
            cookie_threshold=options.get("cookie_threshold", 64),
            # our IK initiations are stamped with now + this offset = the wall clock, so they
            # keep growing across restarts of this program (replay protection at responders)
            wall_clock_offset_ms=time.time() * 1000.0 - self._now(),
        )
        self.peers = Peers(self)
        self._named: dict[str, _NamedPeer] = {}
        self._by_core: dict[int, PeerConnection] = {}
        self._dials: dict[int, asyncio.Future[PeerConnection]] = {}
        self._messages: asyncio.Queue[ReceivedMessage] = asyncio.Queue()
        self._unread_bytes = 0
        self._messages_dropped = 0
        self._incoming: asyncio.Queue[PeerConnection] = asyncio.Queue()
        self._closing_on_purpose: set[int] = set()
        self._dial_names: dict[int, str | None] = {}
        self._sock: socket.socket | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._flush_scheduled = False
        self._socket_errors = 0
        self._send_blocked = 0
        self._closed = False
        self._hops: list[_Hop] = [_Hop(self, i, spec) for i, spec in enumerate(options.get("relays") or [])]
        self._hops_by_conn: dict[int, _Hop] = {}
        self._hop_by_address: dict[Address, _Hop] = {}
        self._circuits: dict[tuple[int, int], asyncio.Future[int]] = {}
        self._rerequest_ids: dict[tuple[int, int], bytes] = {}
        self._relay_drops: dict[str, int] = {}
        self._relay_changed = asyncio.Event()

    # ------------------------------------------------------------------------------ API

    def address(self) -> Address:
        assert self._sock is not None
        a = self._sock.getsockname()
        return (a[0], a[1])

    def candidates(self) -> list[Candidate]:
        host, port = self.address()
        fam = 6 if ":" in host else 4
        if host in ("0.0.0.0", "::"):
            hosts = ["127.0.0.1"] if fam == 4 else ["::1"]
            try:
                for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET if fam == 4 else socket.AF_INET6):
                    h = str(info[4][0])
                    if h not in hosts and not h.startswith("127."):
                        hosts.insert(0, h)
            except OSError:
                pass
            return [Candidate("host", fam, h, port) for h in hosts[:8]]  # type: ignore[arg-type]
        return [Candidate("host", fam, host, port)]  # type: ignore[arg-type]

    def contact_card(
        self, *, name: str | None = None, ttl_ms: int = 24 * 3600_000, addresses: list[Address] | None = None
    ) -> str:
        """This node's contact card: its peer id and a signed record of its current addresses
        (or of ``addresses``, e.g. a port forward or a proxy in front of this node)."""
        now = int(time.time() * 1000)
        cands = self.candidates() if addresses is None else [
            Candidate("host", 6 if ":" in h else 4, h, p) for h, p in addresses
        ]
        record = PeerRecord(self.identity.public_key, next_sequence(now), now, now + ttl_ms, tuple(cands))
        return encode_card(ContactCard(self.identity.public_key, (), sign_record(record, self.identity), name))

    async def connect(
        self, target: PeerTarget, *, timeout: float | None = None, name: str | None = None, via: str | None = None
    ) -> PeerConnection:
        """Opens (or returns the existing) connection to a contact card or ``{host, port,
        peer_id?}``; ``{"peer_id"}`` alone, or ``via="relay"``, goes through the node's relays (a
        circuit, then Noise IK end to end). Raises SrmudpError: HANDSHAKE_TIMEOUT (no answer:
        unreachable, wrong key or refused), REFUSED, RESOLVE_FAILED, INVALID_CARD, RELAY_REJECTED
        (``.reason``: the relay's or target's REJECT reason, e.g. ``target_unavailable``),
        RELAY_UNREACHABLE (no relay's hop session came up), NO_RELAY..."""
        self._check_open()
        r = resolve_target(target)
        if r.key is not None:
            for pc in self._by_core.values():
                if pc.remote_key == r.key and not pc.is_closed:
                    return pc
        if r.relay or via == "relay":
            if r.key is None:
                raise SrmudpError("INVALID_PEER_ID", "a peer reached through a relay needs its peer id (Noise IK)")
            t0 = self._loop.time()
            (await self._circuit_to(r.key, timeout)).wanted.add(r.key)
            if timeout is not None:
                timeout = max(0.1, timeout - (self._loop.time() - t0))
            core = self.endpoint.connect(self._now(), [via_address(r.key)], r.key)
        else:
            core = self.endpoint.connect(self._now(), r.addresses, r.key)
        existing = self._by_core.get(core.id)
        if existing is not None:
            return existing
        fut = self._dials.get(core.id)
        if fut is None:
            fut = self._loop.create_future()
            self._dials[core.id] = fut
            self._dial_names[core.id] = name
        self._kick()
        return await asyncio.wait_for(asyncio.shield(fut), timeout) if timeout is not None else await asyncio.shield(fut)

    def connection(self, name: str) -> PeerConnection | None:
        """The established connection to a named peer, or to a peer id text."""
        p = self._named.get(name)
        if p is not None:
            return p.conn if p.conn is not None and not p.conn.is_closed else None
        for pc in self._by_core.values():
            if (pc.name == name or pc.peer_id == name) and not pc.is_closed:
                return pc
        return None

    async def accept(self) -> PeerConnection:
        """The next incoming connection."""
        return await self._incoming.get()

    async def connections(self) -> AsyncIterator[PeerConnection]:
        while not self._closed:
            yield await self._incoming.get()

    async def send(self, data: bytes | str, *, to: list[str] | None = None, unordered: bool = False) -> list[str]:
        """Sends a message to every connected peer, or to the named ones; returns the names it
        went to (a peer that is not connected is skipped)."""
        self._check_open()
        targets: list[PeerConnection] = []
        if to is None:
            targets = [pc for pc in self._by_core.values() if not pc.is_closed]
        else:
            for n in to:
                pc = self.connection(n)
                if pc is not None:
                    targets.append(pc)
        sent: list[str] = []
        for pc in targets:
            try:
                await pc.send(data, unordered)
                sent.append(pc.label)
            except SrmudpError:
                pass
        return sent

    async def receive(self, timeout: float | None = None) -> ReceivedMessage | None:
        """The next message from any peer, or None after ``timeout`` seconds."""
        try:
            return self._taken(await asyncio.wait_for(self._messages.get(), timeout))
        except asyncio.TimeoutError:
            return None

    async def messages(self) -> AsyncIterator[ReceivedMessage]:
        while not self._closed:
            yield self._taken(await self._messages.get())

    def _taken(self, m: ReceivedMessage) -> ReceivedMessage:
        self._unread_bytes -= len(m.data)
        return m

    def status(self) -> dict[str, dict[str, object]]:
        """Per named peer (and per unnamed connected peer): state, path, RTT, loss, bytes."""
        out: dict[str, dict[str, object]] = {}
        for p in self._named.values():
            s = p.conn.stats() if p.conn is not None and not p.conn.is_closed else None
            out[p.name] = self._status(p.name, p.key, p.state if s is None else "established", s)
        for pc in self._by_core.values():
            if pc.name is None and not pc.is_closed:
                out[pc.peer_id] = self._status(pc.peer_id, pc.remote_key, "established", pc.stats())
        return out

    def stats(self) -> dict[str, object]:
        s = dict(self.endpoint.stats())
        s["socket_errors"] = self._socket_errors
        s["send_blocked"] = self._send_blocked
        s["messages_dropped"] = self._messages_dropped
        if self._hops:
            s["relay_drops"] = dict(self._relay_drops)
        return s

    def relays(self) -> list[dict[str, object]]:
        """Per relay: carrier, whether its hop session is up and greeted (``ready``), bound
        channels, the limits it announced, the last error, counters."""
        return [h.status() for h in self._hops]

    async def _circuit_to(self, key: bytes, timeout: float | None) -> _Hop:
        """A bound circuit to ``key`` on one of our relays (the first ready one that binds)."""
        if not self._hops:
            raise SrmudpError("NO_RELAY", "this node has no relays: create_node(relays=[...])")
        for h in self._hops:
            if h.client.channel_of(key) >= 0:
                return h
        wait = timeout if timeout is not None else self._opts.get("handshake_timeout_ms", 10_000) / 1000 * 1.5 + 5
        deadline = self._loop.time() + wait
        while not any(h.client.ready for h in self._hops):
            left = deadline - self._loop.time()
            if left <= 0 or self._closed:
                errs = "; ".join(f"{h.name}: {h.last_error!r}" for h in self._hops)
                raise SrmudpError("RELAY_UNREACHABLE", f"no relay is reachable within {wait:.1f} s ({errs or 'no error yet'})")
            self._relay_changed.clear()
            try:
                await asyncio.wait_for(self._relay_changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        last: SrmudpError | None = None
        for hop in [h for h in self._hops if h.client.ready]:
            rid = hop.client.connect(self._now(), key)
            fut: asyncio.Future[int] = self._loop.create_future()
            self._circuits[(id(hop), rid)] = fut
            self._kick()
            try:
                await asyncio.wait_for(asyncio.shield(fut), max(0.1, deadline - self._loop.time()))
                return hop
            except asyncio.TimeoutError:
                self._circuits.pop((id(hop), rid), None)
                last = SrmudpError("RELAY_REJECTED", f"{hop.name}: no answer to the circuit request")
                last.reason = "timeout"  # type: ignore[attr-defined]
            except SrmudpError as e:
                last = e
        assert last is not None
        raise last

    async def close(self) -> None:
        """Closes every connection at once, then the socket: each connection's CLOSE goes out
        ahead of data still queued (abandoned, as QUIC's CONNECTION_CLOSE), so each peer sees a
        remote close within a round trip; the socket stays for the connections' closing period
        (3 PTO, at most 0.5 s) to repeat CLOSE to late packets. To deliver queued data first,
        ``await conn.close()`` before this."""
        if self._closed:
            return
        for p in self._named.values():
            if p.task is not None:
                p.task.cancel()
        for pc in self._by_core.values():
            self._closing_on_purpose.add(pc._core.id)
        self.endpoint.close(self._now(), 0, "node closed")
        self._kick()  # the CLOSE packets go out on this turn
        deadline = self._loop.time() + _CLOSING_WAIT_S
        while self._loop.time() < deadline and any(not c.finished for c in self.endpoint.connections()):
            await asyncio.sleep(0.01)
        self._flush()
        for pc in list(self._by_core.values()):
            pc._on_closed(0, "node closed", False)
        self._closed = True
        for fut in self._dials.values():
            if not fut.done():
                fut.set_exception(SrmudpError("CLOSED", "node closed"))
                fut.exception()
        if self._timer is not None:
            self._timer.cancel()
        for hop in self._hops:
            if hop._redial is not None:
                hop._redial.cancel()
            if hop.ws is not None:
                await hop.ws.close()
        self.endpoint.destroy()
        if self._sock is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()

    async def __aenter__(self) -> Node:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------------ internals

    def _now(self) -> float:
        return (self._loop.time() - self._t0) * 1000.0

    def _touch(self) -> None:
        """Brings the endpoint's clock to now before an API call acts on it (no stale clocks)."""
        self.endpoint._tick(self._now())

    def _check_open(self) -> None:
        if self._closed:
            raise SrmudpError("NODE_CLOSED", "node is closed")

    def _status(self, name: str, key: bytes | None, state: str, s: dict[str, object] | None) -> dict[str, object]:
        return {
            "name": name,
            "peer_id": peer_id_to_string(key) if key else None,
            "state": state,
            "path": s.get("path") if s else None,
            "rtt_ms": s.get("rtt_ms") if s else None,
            "loss_rate": s.get("loss_rate") if s else None,
            "bytes_sent": s.get("bytes_sent") if s else 0,
            "bytes_received": s.get("bytes_received") if s else 0,
        }

    def _accept(self, key: bytes, frm: Address) -> bool:
        if self._allow is not None and key not in self._allow:
            return False
        if self._opts.get("accept_unknown", True):
            return True
        return any(p.key == key for p in self._named.values())

    def _add_peer(self, name: str, target: PeerTarget) -> None:
        self._check_open()
        resolved = resolve_target(target)  # errors (bad card) surface at add time
        old = self._named.get(name)
        if old is not None and old.task is not None:
            old.task.cancel()
        p = _NamedPeer(name, target)
        p.key = resolved.key
        self._named[name] = p
        for pc in self._by_core.values():  # already connected (e.g. it dialled us first)
            if pc.remote_key == p.key and not pc.is_closed:
                pc.name = name
                p.conn = pc
                p.state = "established"
        p.task = self._loop.create_task(self._keep_connected(p))

    def _remove_peer(self, name: str) -> None:
        p = self._named.pop(name, None)
        if p is None:
            return
        if p.task is not None:
            p.task.cancel()
        if p.conn is not None and not p.conn.is_closed:
            self._closing_on_purpose.add(p.conn._core.id)
            p.conn._core.close(self._now())
            self._kick()

    async def _keep_connected(self, p: _NamedPeer) -> None:
        delay = self._opts.get("reconnect_delay_ms", 500) / 1000
        while self._named.get(p.name) is p and not self._closed:
            if p.conn is None or p.conn.is_closed:
                p.state = "connecting"
                try:
                    pc = await self.connect(p.target, name=p.name)
                    pc.name = p.name
                    p.conn = pc
                    p.key = pc.remote_key
                    p.state = "established"
                    delay = self._opts.get("reconnect_delay_ms", 500) / 1000
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # noqa: BLE001 - any failure: retry later
                    p.last_error = e if isinstance(e, SrmudpError) else SrmudpError("CONNECT_FAILED", str(e))
                    p.state = "reconnecting"
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _MAX_RECONNECT_MS / 1000)
                    continue
            await asyncio.shield(p.conn.closed)
            if self._named.get(p.name) is p:
                p.state = "reconnecting"
                await asyncio.sleep(delay)

    def _deliver(self, pc: PeerConnection, data: bytes) -> None:
        q = self._messages
        q.put_nowait(ReceivedMessage(pc.label, data, time.time()))
        self._unread_bytes += len(data)
        # bounded (MAX_UNREAD_MESSAGES): the oldest go first, never the one just delivered
        while q.qsize() > 1 and (q.qsize() > MAX_UNREAD_MESSAGES or self._unread_bytes > MAX_UNREAD_MESSAGE_BYTES):
            self._unread_bytes -= len(q.get_nowait().data)
            self._messages_dropped += 1

    # -------------------------------------------------------------------------- driver

    def _on_readable(self) -> None:
        """Reads a batch of datagrams (one ACK per batch instead of one per datagram pair), then
        drains the endpoint's output at once."""
        sock = self._sock
        if self._closed or sock is None:
            return
        now = self._now()
        handle = self.endpoint.handle
        for _ in range(_RECV_BATCH):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. an ICMP error reported on the socket
                self._socket_errors += 1
                break
            a = (addr[0], addr[1])
            if data and data[0] & 0xF0 == 0x40 and self._hop_by_address:
                hop = self._hop_by_address.get(a)
                if hop is not None:
                    hop.receive(now, data)
                    continue
            handle(now, a, data)
        self._flush()

    def _kick(self) -> None:
        """Schedules one drain of the endpoint's output for this event-loop turn."""
        self._touch()
        if not self._flush_scheduled and not self._closed:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        self._handle_timeouts(self._now())
        self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._closed or self._sock is None:
            return
        now = self._now()
        self._handle_timeouts(now)
        sent = 0
        for _ in range(8):  # events (a close, a new stream) may produce more to send: another round
            before = sent
            while sent < _BATCH:
                out = self.endpoint.poll_transmit(now)
                if out is None:
                    break
                self._transmit(out[0], out[1])
                sent += 1
            if not self._dispatch() and sent == before or sent >= _BATCH:
                break
        if sent >= _BATCH:
            self._kick()  # more to send: yield to the loop first so receives are processed
        self._arm()

    def _arm(self) -> None:
        t = self._poll_timeout()
        if t is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                self._timer_at = float("inf")
            return
        if self._timer is not None and self._timer_at == t:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = t
        self._timer = self._loop.call_at(self._t0 + max(t, self._now()) / 1000.0, self._on_timer)

    def _dispatch(self) -> bool:
        """Hands the endpoint's events to connections and streams; True when there were any."""
        any_event = False
        while (ev := self.endpoint.poll_event()) is not None:
            any_event = True
            try:
                self._handle_event(ev)
            except Exception:  # a bug in a handler must not stop the driver
                self.endpoint._drop("dispatch_error")
        if self._hops and self._pump_relays():
            any_event = True
        for pc in list(self._by_core.values()):
            pc._after_io()
        return any_event

    def _handle_event(self, ev: object) -> None:
        conn = getattr(ev, "conn", None)
        if conn is not None and self._hops_by_conn:
            hop = self._hops_by_conn.get(conn.id)
            if hop is not None:
                self._on_hop_event(hop, ev)
                return
        if isinstance(ev, ConnectionEvent):
            pc = self._by_core.get(ev.conn.id)
            if pc is not None:
                pc._on_event(ev.event)
        elif isinstance(ev, Connected):
            name = self._dial_names.pop(ev.conn.id, None)
            if name is None:
                name = next((p.name for p in self._named.values() if p.key == ev.remote_key), None)
            pc = PeerConnection(self, ev.conn, name)
            self._by_core[ev.conn.id] = pc
            if name is not None and name in self._named:
                np = self._named[name]
                np.conn, np.key, np.state = pc, ev.remote_key, "established"
            fut = self._dials.pop(ev.conn.id, None)
            if fut is not None and not fut.done():
                fut.set_result(pc)
            if not ev.outgoing:
                self._incoming.put_nowait(pc)
        elif isinstance(ev, ConnectFailed):
            self._dial_names.pop(ev.conn.id, None)
            fut = self._dials.pop(ev.conn.id, None)
            if fut is not None and not fut.done():
                fut.set_exception(ev.error)
        elif isinstance(ev, ConnectionClosed):
            pc = self._by_core.pop(ev.conn.id, None)
            self._closing_on_purpose.discard(ev.conn.id)
            if pc is not None:
                pc._on_closed(ev.code, ev.reason, ev.remote)
            if self._hops and ev.conn.remote_key is not None:
                self._release_circuits(ev.conn.remote_key)
        elif isinstance(ev, PathChanged):
            pass

    # -------------------------------------------------------------------------- relays

    def _on_hop_event(self, hop: _Hop, ev: object) -> None:
        """The hop session's events: its messages are control messages, never the
        application's (what srmudp-relay does today, wire-format.md §9.6)."""
        now = self._now()
        if isinstance(ev, Connected):
            hop.client.hop_up(now)
        elif isinstance(ev, ConnectionEvent):
            e = ev.event
            if isinstance(e, rel.MessageReceived):
                hop.client.handle_control(now, e.data)
            elif isinstance(e, rel.MessageWritable):
                self._kick()  # pending control messages go out on this turn
            elif isinstance(e, rel.StreamOpened):  # a relay serves no streams (code 1: not served)
                try:
                    ev.conn.reset(e.stream_id, 1)
                except SrmudpError:
                    pass
        elif isinstance(ev, ConnectFailed):
            hop.lost(ev.error)
        elif isinstance(ev, ConnectionClosed):
            hop.lost(SrmudpError("RELAY_HOP_CLOSED", f"hop session to {hop.name} closed (code {ev.code}: {ev.reason})"))

    def _pump_relays(self) -> bool:
        """Relay clients' events and control messages (into their hop sessions)."""
        progressed = False
        now = self._now()
        for hop in self._hops:
            c = hop.client
            while (ev := c.poll_event()) is not None:
                progressed = True
                try:
                    self._on_relay_event(hop, now, ev)
                except Exception:  # e.g. too many requests waiting: never out of the driver
                    self._relay_drop("relay_event_error")
            while (m := c.poll_transmit()) is not None:
                progressed = True
                if len(hop.pending) >= 1024:
                    self._relay_drop("control_queue_full")
                else:
                    hop.pending.append(m)
            conn = self.endpoint.connection(hop.conn_id) if hop.conn_id is not None else None
            while hop.pending and conn is not None and conn.state == "established":
                try:
                    if not conn.send_message(hop.pending[0]):
                        break  # no room: MessageWritable brings us back
                except SrmudpError:
                    self._relay_drop("control_unsent")
                hop.pending.popleft()
                progressed = True
        return progressed

    def _release_circuits(self, key: bytes, attempt: int = 0) -> None:
        """A connection to ``key`` ended: give its circuits back (a relay allows few per client,
        8 by default, and an idle binding would otherwise hold one for its whole lifetime). Not
        before the connection's closing period is over (its CLOSE still travels on the circuit),
        and never while another connection to the peer lives or dials."""
        if self._closed:
            return
        live = [c for c in self.endpoint.connections() if c.remote_key == key and not c.finished]
        if live:
            if attempt < 40 and all(c.state == "closing" for c in live):
                self._loop.call_later(0.25, self._release_circuits, key, attempt + 1)
            return
        now = self._now()
        for hop in self._hops:
            hop.wanted.discard(key)
            ch = hop.client.channel_of(key)
            if ch >= 0:
                hop.client.close(now, ch)
        self._kick()

    def _rerequest_later(self, hop: _Hop) -> None:
        if not self._closed:
            self._rerequest(hop, self._now())
            self._kick()

    def _rerequest(self, hop: _Hop, now: float) -> None:
        """Asks again for the circuits of live relayed connections that lost theirs (a relay
        restart or hop reset closes every channel; the end-to-end session carries on over the
        new circuit, since the peer's address is the same ``via~`` one)."""
        if not hop.client.ready:
            return
        inflight = {k for (h, _), k in self._rerequest_ids.items() if h == id(hop)}
        for key in list(hop.wanted):
            pc = next((p for p in self._by_core.values() if p.remote_key == key and not p.is_closed), None)
            if pc is None or pc.path != via_address(key):
                hop.wanted.discard(key)
            elif hop.client.channel_of(key) < 0 and key not in inflight:
                try:
                    rid = hop.client.connect(now, key)
                except SrmudpError:
                    continue
                self._rerequest_ids[(id(hop), rid)] = key

    def _on_relay_event(self, hop: _Hop, now: float, ev: object) -> None:
        c = hop.client
        if isinstance(ev, RelayReady):
            hop.last_error = None
            self._relay_changed.set()
            self._rerequest(hop, now)
        elif isinstance(ev, IncomingCircuit):
            # the same policy as a direct connection (allow, accept_unknown)
            if self._accept(ev.requester, via_address(ev.requester)):
                c.accept(now, ev.incoming_id)
            else:
                c.reject(now, ev.incoming_id, "refused")
        elif isinstance(ev, CircuitBound):
            self._rerequest_ids.pop((id(hop), ev.request_id), None)
            fut = self._circuits.pop((id(hop), ev.request_id), None)
            if fut is not None and not fut.done():
                fut.set_result(ev.channel)
        elif isinstance(ev, CircuitRejected):
            if self._rerequest_ids.pop((id(hop), ev.request_id), None) is not None:
                # e.g. target_unavailable: the peer's own hop is not back yet after a relay
                # restart. Ask again in a second while the connection lives.
                self._loop.call_later(1.0, self._rerequest_later, hop)
            fut = self._circuits.pop((id(hop), ev.request_id), None)
            if fut is not None and not fut.done():
                err = SrmudpError("RELAY_REJECTED", f"{hop.name} refused the circuit to {peer_id_to_string(ev.peer)}: {ev.reason}")
                err.reason = ev.reason  # type: ignore[attr-defined]
                fut.set_exception(err)
                fut.exception()
        elif isinstance(ev, CircuitClosed):
            self._relay_drop(f"circuit_closed_{ev.reason}")
            self._rerequest(hop, now)
        elif isinstance(ev, RelayNotice):
            if ev.status.code == "denied":
                hop.last_error = SrmudpError("RELAY_DENIED", f"{hop.name} denied us: {ev.status.reason}")
                self._relay_changed.set()

    def _relay_drop(self, reason: str) -> None:
        self._relay_drops[reason] = self._relay_drops.get(reason, 0) + 1

    def _transmit(self, to: Address, data: bytes) -> None:
        host = to[0]
        if host.startswith(_VIA):
            key = bytes.fromhex(host[len(_VIA) :])
            for hop in self._hops:
                ch = hop.client.channel_of(key)
                if ch >= 0:
                    w = hop.client.wrap(ch, data)
                    if w is not None:
                        hop.send(w)
                        return
            self._relay_drop("no_channel")
            return
        ws_hop = self._hop_by_address.get(to) if self._hops else None
        if ws_hop is not None and ws_hop.ws is not None:
            ws_hop.ws.send(data)
            return
        self._sendto(data, to)

    def _sendto(self, data: bytes, to: Address) -> None:
        assert self._sock is not None
        try:
            self._sock.sendto(data, to)
        except BlockingIOError:  # socket buffer full: the datagram is lost, reliability recovers
            self._send_blocked += 1
        except OSError:
            self._socket_errors += 1

    def _poll_timeout(self) -> float | None:
        t = self.endpoint.poll_timeout()
        for hop in self._hops:
            h = hop.client.poll_timeout()
            if h is not None and (t is None or h < t):
                t = h
        return t

    def _handle_timeouts(self, now: float) -> None:
        t = self.endpoint.poll_timeout()
        if t is not None and t <= now:
            self.endpoint.handle_timeout(now)
        for hop in self._hops:
            h = hop.client.poll_timeout()
            if h is not None and h <= now:
                hop.client.handle_timeout(now)


async def create_node(
    identity: Identity | str | os.PathLike[str] | bytes | Mapping[str, Any] | None = None,
    *,
    host: str = "0.0.0.0",
    port: int = 0,
    peers: Mapping[str, PeerTarget] | None = None,
    allow: list[str] | None = None,
    accept_unknown: bool = True,
    keepalive_ms: float = 15_000,
    idle_timeout_ms: float = 30_000,
    handshake_timeout_ms: float = 10_000,
    reconnect_delay_ms: float = 500,
    limits: Limits | None = None,
    cookie_threshold: int = 64,
    max_pending_handshakes: int = 1024,
    relays: list[RelaySpec] | None = None,
) -> Node:
    """Creates a node bound to ``host:port`` (port 0: any free port).

    ``identity``: an :class:`Identity`, a 32-byte Ed25519 seed (or ``{"secret": seed}``), a key
    file path (created with mode 0600 when missing; a file with wider permissions is refused), or
    None for an ephemeral identity. ``cookie_threshold``: initiations per second above which
    initiations need a cookie (0: always); ``max_pending_handshakes``: half-finished incoming
    handshakes kept (the oldest evicted beyond). ``relays``: relay servers this node keeps a hop
    session with, to reach and be reached by peers through them: ``"ws[s]://host/relay#<peer
    id>"`` (what ``srmudp-relay`` prints), ``{"url", "peer_id", "token"?}`` or ``{"host", "port",
    "peer_id"}`` (UDP)."""
    if identity is None:
        ident = Identity.generate()
    elif isinstance(identity, Identity):
        ident = identity
    elif isinstance(identity, (bytes, bytearray)):
        ident = Identity.from_secret(bytes(identity))
    elif isinstance(identity, Mapping):
        ident = Identity.from_secret(bytes(identity["secret"]))
    else:
        ident = load_or_create_identity(identity)
    if not isinstance(port, int) or not 0 <= port < 65536:
        raise ValueError(f'"port" expected an integer in [0, 65535], got {port!r}')
    node = Node(
        ident,
        {
            "allow": allow,
            "accept_unknown": accept_unknown,
            "keepalive_ms": keepalive_ms,
            "idle_timeout_ms": idle_timeout_ms,
            "handshake_timeout_ms": handshake_timeout_ms,
            "reconnect_delay_ms": reconnect_delay_ms,
            "limits": limits,
            "cookie_threshold": cookie_threshold,
            "max_pending_handshakes": max_pending_handshakes,
            "relays": list(relays or []),
        },
    )
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            try:
                sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
            except OSError:
                pass
        sock.bind(sockaddr)
    except OSError as e:
        sock.close()
        raise SrmudpError("BIND_FAILED", f"cannot bind {host}:{port}: {e}") from None
    node._sock = sock
    loop.add_reader(sock.fileno(), node._on_readable)
    for hop in node._hops:
        try:
            await hop.start()
        except BaseException:
            await node.close()
            raise
        node._hop_by_address[hop.address] = hop
    if peers:
        node.peers.add(peers)
    return node
