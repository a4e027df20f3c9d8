"""Sans-IO secure endpoint: one identity, one socket's worth of peers. Noise IK/XX handshakes
with mac1/mac2 cookies, the handshake payload options, transport sessions routed by session
index, rekeying with key confirmation, and the simultaneous-initiation rule; the same protocol as
``@srmudp/crypto`` (its README and docs/architecture/wire-format.md §10 describe it).

Inputs: :meth:`SecureEndpoint.handle`, :meth:`SecureEndpoint.handle_timeout`, ``connect``.
Outputs: :meth:`poll_transmit`, :meth:`poll_event`, :meth:`poll_timeout`. Hostile input never
raises: it is dropped and counted by reason in ``stats``.
"""

from __future__ import annotations

import os
import struct
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Union

from .errors import SrmudpError, WireDecodeError
from .handshake_guard import LOAD_HORIZON_MS, HandshakeLimits, LoadMeter, PendingEntry, PendingTable, Source, SourceKeys, SourceRate
from .identity import Identity, ed25519_to_x25519_public, peer_id_to_x25519
from .macs import (
    COOKIE_USE_LIFETIME_MS,
    CookieChecker,
    address_bytes,
    cookie_key,
    mac1_key,
    mac1_of,
    verify_mac1,
    with_mac1,
    with_mac2,
    xchacha20poly1305_decrypt,
)
from .noise import HandshakeState, KeyPair
from .session import TransportSession
from .timestamp import TIMESTAMP_LENGTH, TimestampClock
from .wire import (
    MAC_LENGTH,
    MAX_VARINT,
    PATTERN_IK,
    PATTERN_XX,
    WIRE_VERSION,
    CookieReply,
    HandshakePacket,
    decode_packet,
    encode_packet,
)

Address = tuple[str, int]
PROLOGUE = b"srmudp v1\x00" + bytes([WIRE_VERSION])

# handshake payload options (TLV: type u8, length u8, value)
OPT_SENDER_INDEX = 0x01
OPT_IDENTITY_KEY = 0x02
OPT_KEY_PHASE = 0x03
#: TAI64N (timestamp.py): required in IK message 1 (replay protection), sent in XX message 3
OPT_TIMESTAMP = 0x04
FIRST_APP_OPTION = 0x10
_FIXED = {OPT_SENDER_INDEX: 4, OPT_IDENTITY_KEY: 32, OPT_KEY_PHASE: 1, OPT_TIMESTAMP: TIMESTAMP_LENGTH}

# what a session index belongs to: ("session", channel, session), ("pending", channel) or
# ("half_open", half-open XX state)
_Owner = tuple[Any, ...]

#: remembered initiations (duplicate detection), per pattern; oldest evicted first
MAX_RECENT = 4096
#: remembered initiation timestamps, one per remote key (least recently used forgotten: key
#: confirmation still stops a replay of a key forgotten here)
MAX_TIMESTAMPS = 16_384
#: source addresses whose last cookie reply is remembered for the load measure
MAX_COOKIED = 4096
#: the smallest datagram that can be a handshake packet: 11-byte header, two 16-byte MACs
MIN_HANDSHAKE = 11 + 2 * MAC_LENGTH
_DATA_HDR = struct.Struct(">BIQ")

DropReason = Literal[
    "malformed",
    "unknown_index",
    "bad_mac1",
    "bad_mac2",
    "under_load",
    "handshake_failed",
    "bad_payload",
    "refused",
    "simultaneous_lost",
    "duplicate_init",
    "replayed_init",
    "rate_limited",
    "unexpected",
    "bad_cookie_reply",
    "decrypt_failed",
    "replay",
    "too_old",
    "key_phase",
    "unsupported_version",
    "internal_error",
]
FailureCode = Literal["HANDSHAKE_TIMEOUT", "PEER_REFUSED", "SESSION_EXPIRED"]


@dataclass
class Timing:
    """Timers of the secure channel (ms), the TypeScript defaults."""

    handshake_retransmit_ms: float = 1000
    handshake_max_retransmit_ms: float = 4000
    handshake_timeout_ms: float = 15_000
    rekey_after_ms: float = 120_000
    rekey_after_packets: int = 2**40
    reject_after_ms: float = 180_000
    grace_period_ms: float = 10_000


# ------------------------------------------------------------------------------------- payload


@dataclass
class Payload:
    sender_index: int | None = None
    identity_key: bytes | None = None
    key_phase: int | None = None
    timestamp: bytes | None = None
    app: dict[int, bytes] = field(default_factory=dict)


def encode_payload(
    sender_index: int | None = None,
    identity_key: bytes | None = None,
    key_phase: int | None = None,
    app: dict[int, bytes] | None = None,
    *,
    timestamp: bytes | None = None,
) -> bytes:
    out = bytearray()
    if sender_index is not None:
        out += bytes([OPT_SENDER_INDEX, 4]) + sender_index.to_bytes(4, "big")
    if identity_key is not None:
        out += bytes([OPT_IDENTITY_KEY, 32]) + identity_key
    if key_phase is not None:
        out += bytes([OPT_KEY_PHASE, 1, key_phase])
    if timestamp is not None:
        out += bytes([OPT_TIMESTAMP, TIMESTAMP_LENGTH]) + timestamp
    for t, v in (app or {}).items():
        out += bytes([t, len(v)]) + v
    return bytes(out)


def decode_payload(b: bytes) -> Payload | None:
    """None when malformed: truncated entry, duplicate type, wrong length of a known type, key
    phase above 1. Unknown types below 0x10 are ignored; 0x10-0xff are application options."""
    out = Payload()
    seen: set[int] = set()
    o = 0
    while o < len(b):
        if len(b) - o < 2:
            return None
        t, n = b[o], b[o + 1]
        o += 2
        if len(b) - o < n or t in seen:
            return None
        seen.add(t)
        v = b[o : o + n]
        o += n
        if t in _FIXED and n != _FIXED[t]:
            return None
        if t == OPT_SENDER_INDEX:
            out.sender_index = int.from_bytes(v, "big")
        elif t == OPT_IDENTITY_KEY:
            out.identity_key = bytes(v)
        elif t == OPT_KEY_PHASE:
            if v[0] > 1:
                return None
            out.key_phase = v[0]
        elif t == OPT_TIMESTAMP:
            out.timestamp = bytes(v)
        elif t >= FIRST_APP_OPTION:
            out.app[t] = bytes(v)
    return out


# -------------------------------------------------------------------------------------- events


@dataclass
class Established:
    """A session is in use: we initiated and the responder answered, or, as responder, the
    initiator completed XX or sent its first packet under new IK keys (key confirmation)."""

    channel: Channel
    remote_key: bytes
    remote_options: dict[int, bytes]
    initiator: bool
    #: the handshake's round trip (initiator: initiation to response; responder: response to the
    #: proof the initiator has the keys), None when a retransmission made it ambiguous (Karn)
    handshake_rtt: float | None = None


@dataclass
class Rekeyed:
    channel: Channel
    remote_options: dict[int, bytes]
    initiator: bool
    handshake_rtt: float | None = None


@dataclass
class Failed:
    channel: Channel
    code: FailureCode


SecureEvent = Union[Established, Rekeyed, Failed]


@dataclass
class DataResult:
    channel: Channel
    packet_number: int
    plaintext: bytes
    #: the first packet opened under its session: a peer that continues a connection numbers on
    #: from its packets under older sessions, so one numbered at or below them starts a new
    #: connection (the endpoint checks)
    first_of_session: bool = False


# ----------------------------------------------------------------------------------- internals


@dataclass
class _Pending:
    hs: HandshakeState
    pattern: Literal["IK", "XX"]
    local_index: int
    key_phase: int
    packet: bytes  # encoded with zero MACs; the MACs are written at each (re)send
    started_at: float
    next_send_at: float
    interval: float
    mac1: bytes | None = None
    cookie_taken: bool = False
    sends: int = 0
    last_sent_at: float = 0.0


@dataclass
class _Final:
    packet: bytes
    session: TransportSession
    next_send_at: float
    interval: float
    deadline: float


@dataclass
class _HalfOpen:
    hs: HandshakeState
    local_index: int
    remote_index: int
    key_phase: int
    address: Address
    expires: float
    #: when message 2 was sent, and how many times (an RTT sample only when once)
    sent_at: float = 0.0
    answers: int = 1


@dataclass
class _Recent:
    noise: bytes
    response: bytes
    local_index: int
    expires: float


ChannelState = Literal["idle", "handshaking", "established", "failed", "closed"]


class Channel:
    """The secure channel to one peer: handshakes as initiator, current keys, the previous keys
    during the grace period after a rekey, and ``next``: a responder session awaiting key
    confirmation (a new connection, a rekey or a restart of the peer). An initiation alone can
    be a replay, so ``next`` is used, and reported, only once the initiator sends under it; it is
    dropped after one handshake timeout."""

    def __init__(self, ep: SecureEndpoint, remote_key: bytes | None, address: Address, remote_static: bytes | None):
        self._ep = ep
        self.remote_key = remote_key
        self.remote_static = remote_static
        self.address = address
        self.state: ChannelState = "idle"
        self.remote_options: dict[int, bytes] = {}
        self.current: TransportSession | None = None
        self.previous: TransportSession | None = None
        self.previous_until = 0.0
        self.next: TransportSession | None = None
        self.next_options: dict[int, bytes] = {}
        self.pending: _Pending | None = None
        self._final: _Final | None = None
        self._cookie: tuple[bytes, float] | None = None
        self._rekey_requested = False
        self._established = False
        # connect() was called: an abandoned unconfirmed session then fails the channel (the
        # caller waits for an outcome) instead of closing it quietly
        self._dialled = False
        #: RTT sample of the last handshake we initiated (None: retransmitted, ambiguous)
        self.handshake_rtt: float | None = None
        #: test hook: corrupt mac2 of the next initiation sent (exercises the cookie path)
        self.corrupt_next_mac2 = False

    @property
    def is_established(self) -> bool:
        return self.current is not None and self.current.alive

    @property
    def is_confirmed(self) -> bool:
        """The peer proved it holds the current keys (it answered us, completed our XX
        handshake, or sent a packet under them)."""
        return self.current is not None and self.current.confirmed

    @property
    def awaiting_confirmation(self) -> bool:
        """A responder session waits for the initiator's first packet under it."""
        return self.next is not None

    @property
    def key_phase(self) -> int | None:
        return self.current.key_phase if self.current else None

    @property
    def handshake_hash(self) -> bytes | None:
        return self.current.handshake_hash if self.current else None

    def connect(self, now: float) -> None:
        if self.state == "closed":
            raise SrmudpError("CHANNEL_CLOSED", "channel is closed")
        self._dialled = True
        if self.pending or self.is_established:
            return
        self._start_handshake(now)

    def seal(self, packet_number: int, plaintext: bytes) -> bytes:
        s = self.current
        if s is None or not s.alive:
            raise SrmudpError("NO_SESSION", "no established session to seal with")
        out = s.seal(packet_number, plaintext)
        if s.sealed_count >= self._ep.timing.rekey_after_packets and not self.pending:
            self._rekey_requested = True
        return out

    def close(self) -> None:
        if self.state == "closed":
            return
        self.drop_pending()
        for s in (self.current, self.previous, self.next):
            self.drop_session(s)
        self.current = self.previous = self.next = None
        self._final = None
        self._cookie = None
        self.state = "closed"
        self._ep._unbind(self)

    def request_rekey(self) -> None:
        """Starts a rekey at the next timeout (tests and applications that want fresh keys now)."""
        self._rekey_requested = True

    # ---------------------------------------------------------------------------- timers

    def poll_timeout(self) -> float | None:
        if self.state == "closed":
            return None
        tm = self._ep.timing
        if self._rekey_requested:
            return 0.0
        t = float("inf")
        if self.pending:
            t = min(t, self.pending.next_send_at, self.pending.started_at + tm.handshake_timeout_ms)
        if self._final:
            t = min(t, self._final.next_send_at)
        if self.previous:
            t = min(t, self.previous_until)
        if self.next:
            # the initiator sends under new keys as soon as it has our response
            t = min(t, self.next.created_at + tm.handshake_timeout_ms)
        if self.current:
            t = min(t, self.current.created_at + tm.reject_after_ms)
            if not self.pending and self.remote_static is not None:
                t = min(t, self._rekey_at(self.current))
                u = self._unanswered_at(self.current)
                if u is not None:
                    t = min(t, u)
        return None if t == float("inf") else t

    def handle_timeout(self, now: float) -> None:
        if self.state == "closed":
            return
        tm = self._ep.timing
        if self.previous and now >= self.previous_until:
            self.drop_session(self.previous)
            self.previous = None
        if self.next and now >= self.next.created_at + tm.handshake_timeout_ms:
            self.abandon_next()
            if self.state in ("closed", "failed"):
                return
        if self.current and now >= self.current.created_at + tm.reject_after_ms:
            self.drop_session(self.current)
            self.current = None
            if not self.pending:
                self._fail("SESSION_EXPIRED")
                return
        f = self._final
        if f:
            if f.session.confirmed or not f.session.alive or now >= f.deadline:
                self._final = None
            elif now >= f.next_send_at:
                self._ep._transmit(self.address, f.packet)
                f.interval = min(f.interval * 2, tm.handshake_max_retransmit_ms)
                f.next_send_at = now + f.interval
        p = self.pending
        if p:
            if now >= p.started_at + tm.handshake_timeout_ms:
                self.drop_pending()
                self._ep.stats["handshakes_failed"] += 1
                if self.is_established:
                    self._start_handshake(now)  # rekey failed: keep trying while keys last
                else:
                    self._fail("SESSION_EXPIRED" if self._established else "HANDSHAKE_TIMEOUT")
                return
            if now >= p.next_send_at:
                p.cookie_taken = False
                self._send_pending(now)
                p.interval = min(p.interval * 2, tm.handshake_max_retransmit_ms)
                p.next_send_at = now + p.interval
        elif self.current and self.remote_static is not None:
            u = self._unanswered_at(self.current)
            if self._rekey_requested or now >= self._rekey_at(self.current) or (u is not None and now >= u):
                self._rekey_requested = False
                self._ep.stats["rekeys"] += 1
                self._start_handshake(now)
        self._rekey_requested = False

    def _unanswered_at(self, s: TransportSession) -> float | None:
        """When keys we made as initiator count as unanswered: we sealed under them and, half a
        handshake timeout after they were made, not one packet came back under them (None: not
        applicable). The responder then lost its unconfirmed state (it restarted, or its
        handshake budget evicted it): a new handshake recovers (WireGuard §6.2)."""
        if not s.initiator or s.opened_count > 0 or s.sealed_count == 0:
            return None
        return s.created_at + self._ep.timing.handshake_timeout_ms / 2
    def _rekey_at(self, s: TransportSession) -> float:
        # The responder waits a grace period longer so both sides rarely start together; while a
        # responder-side rekey awaits confirmation the peer already has newer keys.
        tm = self._ep.timing
        own = s.created_at + tm.rekey_after_ms + (0 if s.initiator else tm.grace_period_ms)
        return max(own, self.next.created_at + tm.handshake_timeout_ms) if self.next else own

    # ---------------------------------------------------------------------------- initiator

    def _start_handshake(self, now: float) -> None:
        ep = self._ep
        ik = self.remote_static is not None
        hs = HandshakeState(
            "IK" if ik else "XX",
            True,
            prologue=PROLOGUE,
            s=ep._static,
            rs=self.remote_static if ik else None,
            random=ep._random,
        )
        local_index = ep._allocate_index(("pending", self))
        key_phase = (self.current.key_phase ^ 1) if self.current else 0
        # IK: message 1 is encrypted and authenticated, so it carries our identity and options.
        # XX: message 1 is in clear, so it carries only the index and the key phase.
        if ik:
            payload = encode_payload(
                local_index, ep.identity.public_key, key_phase, ep.app_options, timestamp=ep._clock.next(now)
            )
        else:
            payload = encode_payload(local_index, key_phase=key_phase)
        noise = hs.write_message(payload)
        packet = encode_packet(
            HandshakePacket(
                "init",
                WIRE_VERSION,
                PATTERN_IK if ik else PATTERN_XX,
                local_index,
                0,
                noise,
                bytes(MAC_LENGTH),
                bytes(MAC_LENGTH),
            )
        )
        tm = ep.timing
        self.pending = _Pending(
            hs, "IK" if ik else "XX", local_index, key_phase, packet, now, now + tm.handshake_retransmit_ms,
            tm.handshake_retransmit_ms,
        )
        if not self.is_established:
            self.state = "handshaking"
        ep.stats["handshakes_started"] += 1
        self._send_pending(now)

    def _send_pending(self, now: float) -> None:
        """(Re)sends the pending initiation: the same Noise message (the responder recognises a
        duplicate and answers from its cache), fresh MACs (a cookie may have arrived)."""
        p = self.pending
        if p is None:
            return
        pkt, p.mac1 = with_mac1(p.packet, mac1_key(self.remote_static))
        c = self._cookie[0] if self._cookie and now - self._cookie[1] < COOKIE_USE_LIFETIME_MS else None
        pkt = with_mac2(pkt, c)
        if self.corrupt_next_mac2:
            self.corrupt_next_mac2 = False
            pkt = pkt[:-MAC_LENGTH] + bytes([0x55] * MAC_LENGTH)
        p.sends += 1
        p.last_sent_at = now
        self._ep._transmit(self.address, pkt, initiation_of=self)

    def resend_pending(self, now: float) -> None:
        self._send_pending(now)

    def drop_pending(self) -> None:
        if self.pending is None:
            return
        self._ep._release_index(self.pending.local_index)
        self.pending = None

    def _handle_cookie_reply(self, now: float, nonce: bytes, sealed: bytes) -> bool:
        p = self.pending
        if p is None or p.mac1 is None or p.cookie_taken:
            return False
        key = cookie_key(self.remote_static if p.pattern == "IK" else None)
        cookie = xchacha20poly1305_decrypt(key, nonce, sealed, p.mac1)
        if cookie is None:
            return False
        self._cookie = (cookie, now)
        p.cookie_taken = True
        self._ep.stats["cookie_replies_accepted"] += 1
        p.sends = 0  # the sends before got this cookie reply, not a response: no ambiguity
        self._send_pending(now)
        return True

    def _handle_response(self, now: float, pkt: HandshakePacket, raw: bytes, frm: Address) -> DropReason | None:
        p = self.pending
        ep = self._ep
        if p is None or pkt.receiver_index != p.local_index:
            return "unexpected"
        if (p.pattern == "IK") != (pkt.pattern == PATTERN_IK):
            return "unexpected"
        # mac1 of a response is keyed by our static key when the responder knows it (IK)
        if not verify_mac1(raw, mac1_key(ep.identity.x25519_public if p.pattern == "IK" else None)):
            return "bad_mac1"
        attempt = p.hs.clone()  # a forged response must not kill our pending handshake
        payload_bytes = attempt.read_message(pkt.noise)
        if payload_bytes is None:
            return "handshake_failed"
        payload = decode_payload(payload_bytes)
        if payload is None or payload.sender_index != pkt.sender_index:
            return "bad_payload"
        remote_key = self.remote_key
        if p.pattern == "XX":
            rs, ident = attempt.remote_static(), payload.identity_key
            x = ed25519_to_x25519_public(ident) if ident else None
            if rs is None or ident is None or x is None or x != rs:
                return "bad_payload"
            if not ep._accept(ident, frm, "XX", payload.app, incoming=False):
                self.drop_pending()
                self._fail("PEER_REFUSED")
                return "refused"
            remote_key = ident
        final_packet = None
        if p.pattern == "XX":
            noise3 = attempt.write_message(
                encode_payload(p.local_index, ep.identity.public_key, None, ep.app_options, timestamp=ep._clock.next(now))
            )
            self.remote_key = remote_key
            self.remote_static = attempt.remote_static()
            final_packet, _ = with_mac1(
                encode_packet(
                    HandshakePacket(
                        "final", WIRE_VERSION, PATTERN_XX, p.local_index, pkt.sender_index, noise3,
                        bytes(MAC_LENGTH), bytes(MAC_LENGTH),
                    )
                ),
                mac1_key(self.remote_static),
            )
            ep._bind_key(self, remote_key)  # type: ignore[arg-type]
        send, recv, h = attempt.split()
        session = TransportSession(
            p.local_index, pkt.sender_index, p.key_phase, send.k, recv.k, now, True, h,  # type: ignore[arg-type]
            p.pattern == "IK",  # IK: the response proves the responder holds the keys
        )
        self.pending = None
        ep._indexes[p.local_index] = ("session", self, session)
        self.address = frm
        if final_packet is not None:
            ep._transmit(frm, final_packet)
            tm = ep.timing
            self._final = _Final(
                final_packet, session, now + tm.handshake_retransmit_ms, tm.handshake_retransmit_ms,
                now + tm.handshake_timeout_ms,
            )
        # a handshake round trip is an RTT sample only when the initiation went out once (Karn)
        self.handshake_rtt = now - p.last_sent_at if p.sends == 1 else None
        self.install(now, session, payload.app, True, self.handshake_rtt)
        return None

    # ---------------------------------------------------------------------------- shared

    def install(
        self,
        now: float,
        session: TransportSession,
        remote_options: dict[int, bytes],
        initiator: bool,
        handshake_rtt: float | None = None,
    ) -> None:
        """Makes ``session`` current; the old current keys stay for the grace period."""
        ep = self._ep
        if self.next is not None and self.next is not session:
            self.drop_session(self.next)
        self.next = None
        if self.current is not None:
            if self.previous is not None:
                self.drop_session(self.previous)
            self.previous = self.current
            self.previous_until = now + ep.timing.grace_period_ms
        self.current = session
        self.remote_options = remote_options
        self.state = "established"
        ep.stats["handshakes_completed"] += 1
        if not self._established:
            self._established = True
            ep._emit(Established(self, self.remote_key, remote_options, initiator, handshake_rtt))  # type: ignore[arg-type]
        else:
            ep._emit(Rekeyed(self, remote_options, initiator, handshake_rtt))

    def abandon_next(self) -> None:
        """The unconfirmed responder session is given up (expired, or evicted by the handshake
        budget). A channel left with nothing fails when the application dialled it (it waits for
        an outcome), else it closes without a word: nobody ever saw it."""
        if self.next is None:
            return
        self.drop_session(self.next)
        self.next = None
        if self.current is not None or self.pending is not None or self.state == "closed":
            return
        if self._dialled:
            self._fail("HANDSHAKE_TIMEOUT")
        else:
            self.close()

    def drop_session(self, s: TransportSession | None) -> None:
        if s is None:
            return
        s.destroy()
        self._ep._release_index(s.local_index)

    def _fail(self, code: FailureCode) -> None:
        self.state = "failed"
        self._established = False
        self._ep._emit(Failed(self, code))

    def wins_simultaneous(self, remote_key: bytes) -> bool:
        """Both sides initiated IK: the initiation of the peer with the smaller Ed25519 key wins."""
        return self.pending is not None and self.pending.pattern == "IK" and self._ep.identity.public_key < remote_key


class SecureEndpoint:
    """One identity, one socket's worth of peers: routes every srmudp datagram by session index,
    answers handshakes (mac1 before any DH, cookies by load, per-source budgets, initiation
    timestamps, key confirmation, the simultaneous-initiation rule) and owns the channels."""

    def __init__(
        self,
        identity: Identity,
        *,
        random: Callable[[int], bytes] = os.urandom,
        accept_peer: Callable[[bytes, Address, str, dict[int, bytes], bool], bool] | None = None,
        accept_xx: bool = True,
        options: dict[int, bytes] | None = None,
        timing: Timing | None = None,
        limits: HandshakeLimits | None = None,
        wall_clock_offset_ms: float = 0.0,
    ) -> None:
        for t, v in (options or {}).items():
            if not FIRST_APP_OPTION <= t <= 0xFF or len(v) > 255:
                raise ValueError(f"option {t}: type must be in [16, 255] and the value at most 255 bytes")
        self.identity = identity
        self._static = KeyPair(identity.x25519_private, identity.x25519_public)
        self._random = random
        self._accept_peer = accept_peer
        self._accept_xx = accept_xx
        self.app_options = dict(options or {})
        self.timing = timing or Timing()
        self.limits = limits or HandshakeLimits()
        # stamps our IK initiations (and XX message 3): wall clock = now + offset
        self._clock = TimestampClock(wall_clock_offset_ms)
        self._indexes: dict[int, _Owner] = {}
        self._by_key: dict[bytes, Channel] = {}
        self._channels: set[Channel] = set()
        self._half_open: dict[int, _HalfOpen] = {}
        # recent initiations by ephemeral key, per pattern (an XX flood cannot evict IK entries)
        self._recent_ik: dict[bytes, _Recent] = {}
        self._recent_xx: dict[bytes, _Recent] = {}
        # the newest initiation timestamp consumed per remote key (least recently used last out)
        self._last_init: OrderedDict[bytes, bytes] = OrderedDict()
        self._cookies = CookieChecker(random)
        self._load = LoadMeter(self.limits.load_threshold)
        # when each source address last got a cookie reply (its initiation then counted in the
        # load measure), oldest first; bounded, and dropped once past the measure's horizon (a
        # dropped entry only stays counted)
        self._cookied: OrderedDict[str, float] = OrderedDict()
        self._pending = PendingTable(self.limits)
        self._sources = SourceKeys()
        lim = self.limits
        self._handshake_rate = SourceRate(lim.handshakes_per_address, lim.handshakes_per_prefix, lim.handshakes_per_second)
        self._cookie_rate = SourceRate(lim.cookie_replies_per_address, lim.cookie_replies_per_prefix)
        self._out: deque[tuple[Address, bytes, Channel | None]] = deque()
        self._events: deque[SecureEvent] = deque()
        self._closed = False
        self.stats: dict[str, int] = {
            "handshakes_started": 0,
            "handshakes_completed": 0,
            "handshakes_failed": 0,
            "cookie_replies_sent": 0,
            "cookie_replies_accepted": 0,
            "initiations_processed": 0,  # initiations answered with Diffie-Hellman work
            "pending_evicted": 0,
            "rekeys": 0,
            "packets_opened": 0,
        }
        self.dropped: dict[str, int] = {}

    # --------------------------------------------------------------------------------- API

    def connect(self, now: float, address: Address, remote_key: bytes | None = None) -> Channel:
        """The channel to a peer, a handshake started: IK with ``remote_key``, XX without. An
        existing channel to the same key is reused."""
        if self._closed:
            raise SrmudpError("ENDPOINT_CLOSED", "endpoint is closed")
        remote_static = None
        if remote_key is not None:
            remote_static = peer_id_to_x25519(remote_key)
            if remote_key == self.identity.public_key:
                raise ValueError("cannot connect to our own key")
            existing = self._by_key.get(remote_key)
            if existing is not None and existing.state != "closed":
                if existing.state in ("failed", "idle"):
                    existing.address = address
                existing.connect(now)
                return existing
        ch = Channel(self, remote_key, address, remote_static)
        self._channels.add(ch)
        if remote_key is not None:
            self._by_key[remote_key] = ch
        ch.connect(now)
        return ch

    def channel(self, remote_key: bytes) -> Channel | None:
        return self._by_key.get(remote_key)

    def pending_handshakes(self) -> int:
        """Responder handshakes awaiting completion: half-open XX and IK sessions awaiting key
        confirmation (what the handshake budget counts)."""
        return len(self._pending)

    def under_load(self, now: float) -> bool:
        """True when initiations without a valid mac2 get cookie replies at ``now``."""
        return self._load.under_load(now)

    def handle(self, now: float, frm: Address, datagram: bytes, under_load: bool = False) -> DataResult | DropReason | None:
        """Processes one srmudp datagram: a :class:`DataResult` for an authentic data packet, None
        for a handshake packet that was consumed, or the drop reason (counted). ``under_load``
        forces load for this datagram (cookies whatever the measured rate says)."""
        if self._closed:
            return self._drop("unknown_index")
        try:
            if datagram and datagram[0] & 0xFE == 0x90:
                return self._open_data(now, datagram, None)
            if datagram and datagram[0] == 0x81:
                return self._on_init_datagram(now, frm, datagram, under_load)
            try:
                pkt = decode_packet(datagram)
            except WireDecodeError as e:
                return self._drop("unsupported_version" if e.code == "UNSUPPORTED_VERSION" else "malformed")
            if isinstance(pkt, CookieReply):
                return self._on_cookie_reply(now, pkt)
            if not isinstance(pkt, HandshakePacket) or pkt.kind == "init":
                return self._drop("malformed")
            if pkt.kind == "response":
                return self._on_response(now, frm, pkt, datagram)
            return self._on_final(now, frm, pkt, datagram)
        except Exception:  # a bug must not turn hostile input into an exception for the driver
            return self._drop("internal_error")

    def poll_transmit(self) -> tuple[Address, bytes, Channel | None] | None:
        """Next ``(to, datagram, channel whose initiation it is or None)``."""
        return self._out.popleft() if self._out else None

    def poll_event(self) -> SecureEvent | None:
        return self._events.popleft() if self._events else None

    def poll_timeout(self) -> float | None:
        t = float("inf")
        for ch in self._channels:
            c = ch.poll_timeout()
            if c is not None and c < t:
                t = c
        h = next(iter(self._half_open.values()), None)  # insertion order is expiry order
        if h is not None:
            t = min(t, h.expires)
        c = next(iter(self._cookied.values()), None)  # the oldest remembered cookie reply
        if c is not None:
            t = min(t, c + LOAD_HORIZON_MS)
        return None if t == float("inf") else t

    def handle_timeout(self, now: float) -> None:
        for ch in list(self._channels):
            c = ch.poll_timeout()
            if c is not None and c <= now:
                ch.handle_timeout(now)
        for idx, h in list(self._half_open.items()):
            if h.expires > now:
                break  # insertion order is expiry order
            self._drop_half_open(idx)
        for recent in (self._recent_ik, self._recent_xx):
            for k, r in list(recent.items()):
                if r.expires > now:
                    break
                del recent[k]
        # a cookie reply this old has left the load estimate: forgetting it would change nothing
        while self._cookied:
            k, at = next(iter(self._cookied.items()))
            if at + LOAD_HORIZON_MS > now:
                break  # insertion order is time order
            del self._cookied[k]

    def close(self) -> None:
        for ch in list(self._channels):
            ch.close()
        self._half_open.clear()
        self._indexes.clear()
        self._recent_ik.clear()
        self._recent_xx.clear()
        self._last_init.clear()
        self._cookied.clear()
        self._pending.clear()
        self._handshake_rate.clear()
        self._cookie_rate.clear()
        self._closed = True

    # ---------------------------------------------------------------------------- internals

    def _drop(self, reason: DropReason) -> DropReason:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        return reason

    def _transmit(self, to: Address, data: bytes, initiation_of: Channel | None = None) -> None:
        self._out.append((to, data, initiation_of))

    def _emit(self, ev: SecureEvent) -> None:
        self._events.append(ev)

    def _allocate_index(self, owner: _Owner) -> int:
        while True:
            idx = int.from_bytes(self._random(4), "big")
            if idx != 0 and idx not in self._indexes:
                self._indexes[idx] = owner
                return idx

    def _release_index(self, idx: int) -> None:
        self._indexes.pop(idx, None)
        self._pending.remove(idx)

    def _drop_half_open(self, idx: int) -> None:
        if self._half_open.pop(idx, None) is not None:
            self._indexes.pop(idx, None)
            self._pending.remove(idx)

    def _bind_key(self, ch: Channel, key: bytes) -> None:
        self._by_key[key] = ch

    def _unbind(self, ch: Channel) -> None:
        self._channels.discard(ch)
        if ch.remote_key is not None and self._by_key.get(ch.remote_key) is ch:
            del self._by_key[ch.remote_key]

    def _accept(self, key: bytes, frm: Address, pattern: str, options: dict[int, bytes], incoming: bool) -> bool:
        if key == self.identity.public_key:
            return False
        if self._accept_peer is None:
            return True
        try:
            return self._accept_peer(key, frm, pattern, options, incoming) is True
        except Exception:
            return False

    def _open_data(self, now: float, datagram: bytes, only: Channel | None) -> DataResult | DropReason:
        if len(datagram) < 29:
            return self._drop("malformed")
        t, idx, pn = _DATA_HDR.unpack_from(datagram, 0)
        if pn > MAX_VARINT:
            return self._drop("malformed")
        owner = self._indexes.get(idx)
        if owner is None or owner[0] != "session" or (only is not None and owner[1] is not only):
            return self._drop("unknown_index")
        _, channel, session = owner
        if session.key_phase != t & 1:
            return self._drop("key_phase")
        r = session.open(datagram, pn)
        if r is None:
            return self._drop("decrypt_failed")
        if r == "duplicate":
            return self._drop("replay")
        if r == "too_old":
            return self._drop("too_old")
        self.stats["packets_opened"] += 1
        if channel.next is session:
            # Key confirmation (WireGuard §5.4.3): the initiator has our response and uses the new
            # keys. Only now is this a session (a new connection, a rekey, a restarted peer): an
            # initiation alone may be a replay.
            self._pending.remove(session.local_index)
            # its initiation, counted when it arrived, leaves the load measure
            self._confirmed(session.created_at, channel.address, now)
            rtt = now - session.created_at if session.answers == 1 else None
            channel.install(now, session, channel.next_options, False, rtt)
        return DataResult(channel, pn, r, session.opened_count == 1)

    def _cookie_reply(
        self, now: float, frm: Address, src: Source | None, pkt: HandshakePacket, raw: bytes, reason: DropReason
    ) -> DropReason:
        """Sends a cookie reply unless the source is over its cookie budget; counts ``reason``.
        ``src``: ``frm``'s source when the caller has looked it up already (under load)."""
        if src is None:
            src = self._sources.of(frm)
        if self._cookie_rate.take(now, src):
            key = cookie_key(self.identity.x25519_public if pkt.pattern == PATTERN_IK else None)
            nonce, sealed = self._cookies.seal_cookie(now, address_bytes(*frm), key, mac1_of(raw))
            self._transmit(frm, encode_packet(CookieReply(pkt.sender_index, nonce, sealed)))
            self.stats["cookie_replies_sent"] += 1
            # this initiation stays in the load measure unless the address confirms a handshake
            self._cookied.pop(src.address, None)
            if len(self._cookied) >= MAX_COOKIED:
                self._cookied.popitem(last=False)
            self._cookied[src.address] = now
        return self._drop(reason)

    def _confirmed(self, at: float, frm: Address, now: float) -> None:
        """The initiator of an initiation counted at ``at`` confirmed, at ``now``, the keys we
        answered from ``frm`` (it received our answer at that address): the initiation leaves
        the load measure, and so does the one that got the address its last cookie reply (the
        first attempt of a real peer under load), each only once."""
        self._load.forget(at, now)
        if not self._cookied:
            return
        c = self._cookied.pop(self._sources.of(frm).address, None)
        if c is not None:
            self._load.forget(c, now)

    def _on_init_datagram(self, now: float, frm: Address, raw: bytes, forced: bool) -> DropReason | None:
        """An initiation. Cheapest checks first (WireGuard §5.4.4, §5.4.7): the load measure and,
        under load, the source's budget (a lookup), then mac1 (one MAC), then mac2 or a cookie
        reply; only then the Noise message and its Diffie-Hellman."""
        under_load = self._load.record(now) or forced
        if len(raw) < MIN_HANDSHAKE:
            return self._drop("malformed")
        has_mac2 = raw[-MAC_LENGTH:] != bytes(MAC_LENGTH)
        src: Source | None = None
        if under_load:
            src = self._sources.of(frm)
            # only a valid mac2 ever takes from the handshake budget, so a spoofer cannot drain
            # another source's; peeking first costs a source over its budget no MAC of ours
            if not (self._handshake_rate if has_mac2 else self._cookie_rate).peek(now, src):
                return self._drop("rate_limited")
        try:
            pkt = decode_packet(raw)
        except WireDecodeError as e:
            return self._drop("unsupported_version" if e.code == "UNSUPPORTED_VERSION" else "malformed")
        if not isinstance(pkt, HandshakePacket) or pkt.kind != "init":
            return self._drop("malformed")
        ik = pkt.pattern == PATTERN_IK
        # 1. mac1 before anything costly (WireGuard §5.4.4)
        if not verify_mac1(raw, mac1_key(self.identity.x25519_public if ik else None)):
            return self._drop("bad_mac1")
        # 2. mac2: when present it must be valid; under load it is required (§5.4.7)
        if has_mac2 and not self._cookies.verify_mac2(now, raw, address_bytes(*frm)):
            return self._cookie_reply(now, frm, src, pkt, raw, "bad_mac2")
        if not has_mac2 and under_load:
            return self._cookie_reply(now, frm, src, pkt, raw, "under_load")
        if src is not None and not self._handshake_rate.take(now, src):
            return self._drop("rate_limited")
        if pkt.sender_index == 0:
            return self._drop("bad_payload")
        # 3. a retransmitted initiation gets the same answer, without new state
        recent = self._recent_ik if ik else self._recent_xx
        rkey = bytes(pkt.noise[:32])
        seen = recent.get(rkey)
        if seen is not None and seen.expires > now and seen.noise == pkt.noise:
            owner = self._indexes.get(seen.local_index)
            if owner is not None:
                if owner[0] == "session":
                    owner[2].answers += 1
                elif owner[0] == "half_open":
                    owner[1].answers += 1
                self._transmit(frm, seen.response)
            return self._drop("duplicate_init")
        self.stats["initiations_processed"] += 1
        source = src if src is not None else self._sources.of(frm)
        if ik:
            return self._on_init_ik(now, frm, pkt, rkey, source, has_mac2)
        return self._on_init_xx(now, frm, pkt, rkey, source, has_mac2)

    def _remember(self, recent: dict[bytes, _Recent], now: float, rkey: bytes, noise: bytes, response: bytes, local_index: int) -> None:
        recent.pop(rkey, None)
        recent[rkey] = _Recent(bytes(noise), response, local_index, now + self.timing.handshake_timeout_ms)
        if len(recent) > MAX_RECENT:
            del recent[next(iter(recent))]

    def _is_replay(self, key: bytes, ts: bytes) -> bool:
        """WireGuard §5.1: an IK initiation's timestamp must be greater than the last consumed
        from its key. (A retransmission is recognised before, by its bytes: the recent cache.)"""
        last = self._last_init.get(key)
        return last is not None and ts <= last

    def _record_timestamp(self, key: bytes, ts: bytes) -> None:
        """Remembers the newest timestamp consumed from a key (least recently used forgotten)."""
        last = self._last_init.get(key)
        if last is not None and ts <= last:
            return
        self._last_init.pop(key, None)
        self._last_init[key] = ts
        if len(self._last_init) > MAX_TIMESTAMPS:
            self._last_init.popitem(last=False)

    def _read_identified(self, hs: HandshakeState, pkt: HandshakePacket) -> tuple[Payload, bytes, bytes] | str:
        """Reads a handshake message that carries the sender's identity (IK init, XX final):
        ``(payload, Ed25519 key, Noise static key)``, or the drop reason. The payload's sender
        index must repeat the header's, and the identity's X25519 image must be the static key
        Noise authenticated."""
        payload_bytes = hs.read_message(pkt.noise)
        if payload_bytes is None:
            return "handshake_failed"
        payload = decode_payload(payload_bytes)
        rs = hs.remote_static()
        ident = payload.identity_key if payload else None
        if payload is None or payload.sender_index != pkt.sender_index or rs is None or ident is None:
            return "bad_payload"
        if ed25519_to_x25519_public(ident) != rs:
            return "bad_payload"
        return payload, ident, rs

    def _live_channel(self, key: bytes) -> Channel | None:
        ch = self._by_key.get(key)
        return None if ch is None or ch.state == "closed" else ch

    def _new_channel(self, key: bytes, frm: Address, rs: bytes) -> Channel:
        ch = Channel(self, key, frm, rs)
        self._channels.add(ch)
        self._by_key[key] = ch
        return ch

    def _response(self, pattern: int, sender: int, receiver: int, noise: bytes, receiver_static: bytes | None) -> bytes:
        pkt = encode_packet(
            HandshakePacket("response", WIRE_VERSION, pattern, sender, receiver, noise, bytes(16), bytes(16))
        )
        return with_mac1(pkt, mac1_key(receiver_static))[0]

    def _on_init_ik(
        self, now: float, frm: Address, pkt: HandshakePacket, rkey: bytes, source: Source, cookie: bool
    ) -> DropReason | None:
        hs = HandshakeState("IK", False, prologue=PROLOGUE, s=self._static, random=self._random)
        r = self._read_identified(hs, pkt)
        if isinstance(r, str):
            return self._drop(r)  # type: ignore[arg-type]
        payload, ident, rs = r
        if payload.timestamp is None:
            return self._drop("bad_payload")  # required in IK message 1
        if self._is_replay(ident, payload.timestamp):
            return self._drop("replayed_init")
        if not self._accept(ident, frm, "IK", payload.app, incoming=True):
            return self._drop("refused")
        # consumed: from now on only a newer initiation from this key is accepted (WireGuard
        # records the timestamp when it consumes the initiation, before the session is confirmed)
        self._record_timestamp(ident, payload.timestamp)
        channel = self._live_channel(ident)
        if channel is not None and channel.pending is not None:
            if channel.wins_simultaneous(ident):
                # both sides initiated and ours wins: the peer drops its own initiation when it
                # sees ours; resend ours now in case it was lost
                channel.address = frm
                channel.resend_pending(now)
                return self._drop("simultaneous_lost")
            channel.drop_pending()
        elif (
            channel is not None
            and channel.current is not None
            and channel.current.initiator
            and now - channel.current.created_at < self.timing.handshake_retransmit_ms
            and self.identity.public_key < ident
        ):
            # a late copy of the losing side's initiation from a simultaneous start we won
            return self._drop("simultaneous_lost")
        if channel is None:
            channel = self._new_channel(ident, frm, rs)
        channel.address = frm
        channel.remote_static = rs
        key_phase = payload.key_phase or 0
        local_index = self._allocate_index(("pending", channel))
        noise2 = hs.write_message(encode_payload(local_index, app=self.app_options))
        send, recv, h = hs.split()
        session = TransportSession(local_index, pkt.sender_index, key_phase, send.k, recv.k, now, False, h, False)  # type: ignore[arg-type]
        self._indexes[local_index] = ("session", channel, session)
        response = self._response(PATTERN_IK, local_index, pkt.sender_index, noise2, rs)
        self._transmit(frm, response)
        self._remember(self._recent_ik, now, rkey, pkt.noise, response, local_index)
        # Key confirmation (WireGuard §5.4.3): the session is used, and reported, only once the
        # initiator sends under it. Until then it is ``next``: a new connection, a rekey or a
        # restart of the peer; a working session is never replaced by an initiation alone.
        if channel.next is not None:
            channel.drop_session(channel.next)
        channel.next = session
        channel.next_options = payload.app
        if not channel.is_established:
            # a would-be new connection: it counts in the handshake budget until confirmed
            channel.state = "handshaking"
            self._pending.add(PendingEntry(local_index, source, cookie, channel.abandon_next))
            self.stats["pending_evicted"] = self._pending.evicted
        return None

    def _on_init_xx(
        self, now: float, frm: Address, pkt: HandshakePacket, rkey: bytes, source: Source, cookie: bool
    ) -> DropReason | None:
        if not self._accept_xx:
            return self._drop("refused")
        hs = HandshakeState("XX", False, prologue=PROLOGUE, s=self._static, random=self._random)
        payload_bytes = hs.read_message(pkt.noise)
        payload = decode_payload(payload_bytes) if payload_bytes is not None else None
        if payload is None or payload.sender_index != pkt.sender_index:
            return self._drop("bad_payload" if payload_bytes is not None else "handshake_failed")
        local_index = self._allocate_index(("half_open", None))
        try:
            noise2 = hs.write_message(encode_payload(local_index, self.identity.public_key, None, self.app_options))
        except Exception:
            # a low-order ephemeral key (an all-zero shared secret): not a real initiator
            self._indexes.pop(local_index, None)
            return self._drop("handshake_failed")
        h = _HalfOpen(
            hs, local_index, pkt.sender_index, payload.key_phase or 0, frm, now + self.timing.handshake_timeout_ms, now
        )
        self._half_open[local_index] = h
        self._indexes[local_index] = ("half_open", h)
        response = self._response(PATTERN_XX, local_index, pkt.sender_index, noise2, None)
        self._transmit(frm, response)
        self._remember(self._recent_xx, now, rkey, pkt.noise, response, local_index)
        self._pending.add(PendingEntry(local_index, source, cookie, lambda: self._drop_half_open(local_index)))
        self.stats["pending_evicted"] = self._pending.evicted
        return None

    def _on_response(self, now: float, frm: Address, pkt: HandshakePacket, raw: bytes) -> DropReason | None:
        owner = self._indexes.get(pkt.receiver_index)
        if owner is None:
            return self._drop("unknown_index")
        if owner[0] != "pending":
            return self._drop("unexpected")
        if pkt.mac2 != bytes(MAC_LENGTH):  # only initiations carry cookies
            return self._drop("bad_mac2")
        r = owner[1]._handle_response(now, pkt, raw, frm)
        return self._drop(r) if r is not None else None

    def _on_final(self, now: float, frm: Address, pkt: HandshakePacket, raw: bytes) -> DropReason | None:
        owner = self._indexes.get(pkt.receiver_index)
        if owner is None:
            return self._drop("unknown_index")
        if owner[0] != "half_open":
            return self._drop("unexpected")
        if pkt.mac2 != bytes(MAC_LENGTH):
            return self._drop("bad_mac2")
        h: _HalfOpen = owner[1]
        if h.remote_index != pkt.sender_index:
            return self._drop("unexpected")
        if not verify_mac1(raw, mac1_key(self.identity.x25519_public)):
            return self._drop("bad_mac1")
        attempt = h.hs.clone()
        r = self._read_identified(attempt, pkt)
        if isinstance(r, str):
            return self._drop(r)  # type: ignore[arg-type]
        payload, ident, rs = r
        del self._half_open[h.local_index]
        self._pending.remove(h.local_index)
        # message 3 answers ours: the initiation leaves the load measure
        self._confirmed(h.sent_at, frm, now)
        if not self._accept(ident, frm, "XX", payload.app, incoming=True):
            self._indexes.pop(h.local_index, None)
            return self._drop("refused")
        # XX cannot be replayed (message 3 answers our fresh ephemeral key), so its timestamp is
        # not checked; recording it makes older IK initiations of this key stale
        if payload.timestamp is not None:
            self._record_timestamp(ident, payload.timestamp)
        channel = self._live_channel(ident) or self._new_channel(ident, frm, rs)
        channel.address = frm
        channel.remote_static = rs
        send, recv, hh = attempt.split()
        # message 3 is authenticated by the initiator's static and ephemeral keys: confirmed
        session = TransportSession(h.local_index, h.remote_index, h.key_phase, send.k, recv.k, now, False, hh, True)  # type: ignore[arg-type]
        self._indexes[h.local_index] = ("session", channel, session)
        channel.install(now, session, payload.app, False, now - h.sent_at if h.answers == 1 else None)
        return None

    def _on_cookie_reply(self, now: float, pkt: CookieReply) -> DropReason | None:
        owner = self._indexes.get(pkt.receiver_index)
        if owner is None:
            return self._drop("unknown_index")
        if owner[0] != "pending":
            return self._drop("unexpected")
        if not owner[1]._handle_cookie_reply(now, pkt.nonce, pkt.sealed_cookie):
            return self._drop("bad_cookie_reply")
        return None
