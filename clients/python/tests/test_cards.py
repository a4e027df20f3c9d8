"""Contact cards: version 2 (binary, written by default) and version 1 (JSON, still read). Vectors
printed by @srmudp/rendezvous (TS_CARDS below), round trips, malformed and hostile input, and the
TypeScript card code as an oracle (ts_card.mjs): on the same inputs both implementations give the
same card, the same re-encoding and the same origin, or both refuse."""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import struct
import subprocess
import time
from typing import Any

import pytest
from conftest import TESTS
from hypothesis import assume, given
from hypothesis import strategies as st
from test_identity import SEED, TS

from srmudp import Identity
from srmudp.cards import (
    MAX_CARD_INPUT,
    ContactCard,
    LocatorError,
    OriginError,
    PeerRecord,
    RendezvousError,
    clean_name,
    encode_card,
    http_origin,
    name_problem,
    normalize_locator,
    parse_card,
    sign_record,
)
from srmudp.cards.base64url import b64url_decode, b64url_encode
from srmudp.cards.record import Candidate
from srmudp.cards.v2 import js_number_text

PUB = bytes.fromhex(TS["pub"])
RECORD = bytes.fromhex(TS["record"])
# printed by @srmudp/rendezvous encodeCard (packages/rendezvous, built) for the peer and record of
# test_identity.TS: node -e "...encodeCard({ peerId, locators, record?, name? })"
TS_CARDS = {
    # { locators: [{ backend: 'dht' }], name: 'alice' }: the README's 68 characters
    "dht_alice": "srmudp2:5AMJmM_VrRcjwWn5VqoLnrhhm1mSvWEsKvQo68efjfACAQEFYWxpY2Xjc6ju",
    # { locators: EVERY_KIND, record, name: 'alice 🦊' }
    "every_kind": "srmudp2:5AMJmM_VrRcjwWn5VqoLnrhhm1mSvWEsKvQo68efjfADBwECC2Fub3RoZXItYXBwAxdodHRwczovL3J2LmV4YW1wbGU6"
    "ODQ0MwQFATCrq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6sABm1lbW9yeQAACHgtY3VzdG9tBgE3AQkt"
    "MC4wMDAwMDEBbgEDMy41Am9uAwNvZmYCAXMABHRleHQDYmlnAQUxZSsyMQB1AQAGCiQYHkAAAAABi8_laAAAAAO7LMPYAAIAfwAAARFRESAB"
    "DbgAAAAAAAAAAAAAAAETiABVfOFzI9Sdya0Dk_RSbVhA-9Q_OSg1CmQK8TdUF_azwEyOTCMYxwxakrdKJdFjof6UhW6xciy7QnAKoS_hMHAO"
    "CmFsaWNlIPCfpoqGr5VP",
    # { locators: [], record }: what a node without a rendezvous hands out
    "record_only": "srmudp2:5AMJmM_VrRcjwWn5VqoLnrhhm1mSvWEsKvQo68efjfABAAB1AQAGCiQYHkAAAAABi8_laAAAAAO7LMPYAAIAf"
    "wAAARFRESABDbgAAAAAAAAAAAAAAAETiABVfOFzI9Sdya0Dk_RSbVhA-9Q_OSg1CmQK8TdUF_azwEyOTCMYxwxakrdKJdFjof6UhW6xciy7Q"
    "nAKoS_hMHAOiidocg",
    # encodeCard(parseCard(test_identity.TS["card"])): a version 1 card re-encoded as version 2
    "v1_reencoded": "srmudp2:5AMJmM_VrRcjwWn5VqoLnrhhm1mSvWEsKvQo68efjfADAQADZGh0AwRzYWx0AAF4AW4BATMCb2sDAHUBAAYK"
    "JBgeQAAAAAGL"
    "z-VoAAAAA7ssw9gAAgB_AAABEVERIAENuAAAAAAAAAAAAAAAAROIAFV84XMj1J3JrQOT9FJtWED71D85KDUKZArxN1QX9rPATI5MIxjHDFqS"
    "t0ol0WOh_pSFbrFyLLtCcAqhL-EwcA4FYWxpY2XmMnnW",
}
EVERY_KIND: list[dict[str, Any]] = [
    {"backend": "dht"},
    {"backend": "dht", "salt": "another-app"},
    {"backend": "http", "url": "https://rv.example:8443"},
    {"backend": "manual"},
    {"backend": "autonomi", "type": "pointer", "address": "ab" * 48},
    {"backend": "memory"},
    # JavaScript orders the index key "7" first: the binary card writes it first
    {"backend": "x-custom", "n": 3.5, "on": True, "off": False, "s": "text", "big": 1e21, "7": -0.000001},
]


def typed(locators: Any) -> list[list[tuple[str, str, Any]]]:
    """Locators compared with their JavaScript types (True == 1 in Python, not in a card); the
    order of parameters is compared by the byte-exact encodings."""

    def t(v: Any) -> tuple[str, Any]:
        return ("b", v) if isinstance(v, bool) else ("s", v) if isinstance(v, str) else ("n", float(v))

    return [sorted((k, *t(v)) for k, v in loc.items()) for loc in locators]


def v2_card(body: bytes) -> str:
    """A version 2 card around a raw body, with a correct checksum."""
    return "srmudp2:" + b64url_encode(body + hashlib.blake2s(b"srmudp/card/v2\x00" + body).digest()[:4])


def v1_card(payload: Any, raw: bytes | None = None) -> str:
    """A version 1 card around a JSON payload (as JSON.stringify writes it: UTF-8, lone
    surrogates escaped) or raw bytes, with a correct checksum."""
    if raw is None:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        raw = re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text).encode()
    js = raw
    return "srmudp1:" + b64url_encode(js + hashlib.blake2s(b"srmudp/card/v1\x00" + js).digest()[:4])


def short(b: bytes | str) -> bytes:
    b = b.encode("utf-8", "surrogatepass") if isinstance(b, str) else b
    return bytes([len(b) & 0xFF]) + b


def body(locators: list[bytes], name: bytes | None = None, peer: bytes = PUB) -> bytes:
    head = bytes([2 if name is not None else 0, len(locators)])
    return peer + head + b"".join(locators) + (short(name) if name is not None else b"")


def problem(text: str) -> str:
    try:
        parse_card(text)
    except RendezvousError as e:
        assert e.code == "INVALID_CARD"
        return str(e)
    return "parsed"


# --- vectors --------------------------------------------------------------------------------------


def test_typescript_vectors_parse_and_python_writes_the_same_bytes() -> None:
    card = parse_card(TS_CARDS["dht_alice"])
    assert (card.peer_id, card.locators, card.record, card.name) == (PUB, ({"backend": "dht"},), None, "alice")
    assert card.version == 2
    assert len(TS_CARDS["dht_alice"]) == 68
    assert encode_card(ContactCard(PUB, ({"backend": "dht"},), name="alice")) == TS_CARDS["dht_alice"]

    card = parse_card(TS_CARDS["every_kind"])
    assert typed(card.locators) == typed(normalize_locator(loc) for loc in EVERY_KIND)
    assert card.locators[6]["big"] == 1e21 and card.locators[6]["7"] == -0.000001
    assert (card.record, card.name) == (RECORD, "alice 🦊")
    assert encode_card(ContactCard(PUB, tuple(EVERY_KIND), RECORD, "alice 🦊")) == TS_CARDS["every_kind"]
    assert encode_card(card) == TS_CARDS["every_kind"]

    card = parse_card(TS_CARDS["record_only"])
    assert (card.locators, card.record, card.name) == ((), RECORD, None)
    assert encode_card(ContactCard(PUB, (), RECORD)) == TS_CARDS["record_only"]

    old = parse_card(TS["card"])
    assert old.version == 1
    assert encode_card(old) == TS_CARDS["v1_reencoded"]
    assert parse_card(TS_CARDS["v1_reencoded"]) == old


def test_a_node_hands_out_version_2_cards() -> None:
    ident = Identity.from_secret(SEED)
    rec = sign_record(PeerRecord(ident.public_key, 5, 0, 10**13, (Candidate("host", 4, "10.0.0.1", 9),)), ident)
    text = encode_card(ContactCard(ident.public_key, (), rec, "node"))
    assert text.startswith("srmudp2:")
    assert len(text) < len(encode_card(ContactCard(ident.public_key, (), rec, "node"), version=1)) * 2 / 3
    assert parse_card(encode_card(ContactCard(ident.public_key, (), rec, "node"), version=1)).version == 1


# --- round trips ------------------------------------------------------------------------------------

KEYS = st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True).filter(lambda k: k != "backend")
TEXT = st.text(max_size=24).filter(lambda s: not s.startswith("\ufeff"))  # TextDecoder drops a leading U+FEFF
VALUES = st.one_of(
    TEXT,
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
LOCATORS = st.one_of(
    st.just({"backend": "dht"}),
    st.builds(lambda s: {"backend": "dht", "salt": s}, TEXT.filter(lambda s: 1 <= len(s.encode()) <= 64)),
    st.builds(
        lambda h, p: {"backend": "http", "url": f"https://{h}" + (f":{p}" if p != 443 else "")},
        st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9]{1,20}){0,3}", fullmatch=True).filter(
            lambda h: not h.split(".")[-1].isdigit() and not h.split(".")[-1].startswith("0x")
        ),
        st.integers(1, 65535),
    ),
    st.just({"backend": "manual"}),
    st.builds(
        lambda t, a: {"backend": "autonomi", "address": a.hex(), **({"type": t} if t else {})},
        st.sampled_from([None, "pointer", "scratchpad"]),
        st.binary(min_size=1, max_size=64),
    ),
    st.builds(
        lambda b, params: {"backend": b, **params},
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True),
        st.dictionaries(KEYS, VALUES, max_size=8),
    ),
)
NAMES = st.one_of(st.none(), st.text(min_size=1, max_size=20))


@given(st.binary(min_size=32, max_size=32), st.lists(LOCATORS, max_size=8), NAMES)
def test_round_trip(peer: bytes, locators: list[dict[str, Any]], name: str | None) -> None:
    card = ContactCard(peer, tuple(locators), None, name)
    try:
        normalized = [normalize_locator(loc) for loc in locators]
    except LocatorError:
        normalized = None
    if normalized is None or name is not None and name_problem(name) is not None:
        with pytest.raises(ValueError):
            encode_card(card)
        return
    text = encode_card(card)
    back = parse_card(text)
    expected: list[dict[str, Any]] = []
    for loc in normalized:  # duplicates (whatever the parameter order) are dropped
        if typed([loc]) not in [typed([e]) for e in expected]:
            expected.append(loc)
    assert (back.peer_id, typed(back.locators), back.name, back.version) == (peer, typed(expected), name, 2)
    if len(expected) == len(locators):
        assert encode_card(back) == text
    old = parse_card(encode_card(card, version=1))  # a version 1 name is cleaned (trimmed)
    cleaned = clean_name(name) if name is not None else ""
    assert (old.peer_id, typed(old.locators), old.name, old.version) == (peer, typed(expected), cleaned or None, 1)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_are_written_as_javascript_writes_them(x: float) -> None:
    text = js_number_text(x)
    assert float(text) == x
    assert "e" not in text or abs(x) >= 1e21 or abs(x) < 1e-6


@pytest.mark.parametrize(
    "x,text",
    [(0.0, "0"), (-0.0, "0"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-7"), (1e-6, "0.000001"),
     (123.456, "123.456"), (-1.5e-10, "-1.5e-10"), (2**53, "9007199254740992"), (5e-324, "5e-324")],
)
def test_javascript_number_text(x: float, text: str) -> None:
    assert js_number_text(x) == text


# --- malformed and hostile input ------------------------------------------------------------------

GOOD = encode_card(ContactCard(PUB, ({"backend": "memory"},)))
_TAMPERED = bytearray(RECORD)
_TAMPERED[60] ^= 1
_STRIPPED = bytes(_TAMPERED[:1] + _TAMPERED[33:])


@pytest.mark.parametrize(
    "text,why",
    [
        ("", "empty"),
        (" \n\t\u3000\ufeff", "empty"),
        ("hello", 'must start with "srmudp2:"'),
        ("pk123:abc", 'must start with "srmudp2:"'),
        (GOOD.replace("srmudp2:", "srmudp:"), "missing version"),
        (GOOD.replace("srmudp2:", "srmudp3:"), "unknown version 3"),
        (GOOD.replace("srmudp2:", "srmudp02:"), "unknown version 02"),
        (GOOD.replace("srmudp2:", "srmudp\u0662:"), "must start"),  # Arabic-Indic 2 is no version
        (GOOD.replace("srmudp2:", "SRMUDP2:"), "parsed"),
        (GOOD[:20] + "*" + GOOD[21:], "not base64url"),
        (GOOD[:-1], "not base64url"),  # 4k+1 characters
        ("srmudp2:" + b64url_encode(b64url_decode(GOOD[8:])[:-1]), "checksum mismatch"),  # type: ignore[index]
        (GOOD[:15] + ("B" if GOOD[15] == "A" else "A") + GOOD[16:], "checksum mismatch"),
        ("srmudp2:AAAA", "too short"),
        ("srmudp2:" + "A" * 9000, "longer than 8192"),
        (v2_card(PUB + bytes([0x80, 0])), "unknown flags 0x80"),
        (v2_card(body([b"\x7f"])), "locators[0]: unknown locator tag 127"),
        (v2_card(body([]) + b"\x01\x02"), "2 unexpected bytes at the end"),
        (v2_card(body([b"\x03\xc8"])), "truncated inside locators[0]"),
        (v2_card(body([b"\x00" + short("Bad") + b"\x00"])), "field locators[0]: backend: must be 1-32 lower-case"),
        (v2_card(body([b"\x00" + short("x") + b"\x02" + (short("k") + b"\x03") * 2])), "duplicate parameter"),
        (v2_card(body([b"\x00" + short("x") + b"\x01" + short("k") + b"\x04"])), "unknown value type 4"),
        (v2_card(body([b"\x00" + short("x") + b"\x01" + short("k") + b"\x01" + short("1.0")])), "k: not a number"),
        (v2_card(body([b"\x00" + short("x") + b"\x01" + short("k") + b"\x01" + short("1e999")])), "k: not a number"),
        (v2_card(body([b"\x00" + short("x") + b"\x01" + short("k") + b"\x01" + short("0x10")])), "k: not a number"),
        (v2_card(body([b"\x00" + short("x") + b"\x01" + short("k") + b"\x00" + short(b"\xc0\x80")])), "not UTF-8"),
        (v2_card(body([b"\x00" + short("x") + b"\x01" + short("k") + b"\x00" + short(b"\xed\xa0\x80")])), "not UTF-8"),
        (v2_card(body([b"\x05\x03" + short(b"\x01")])), "unknown autonomi slot type"),
        (v2_card(body([b"\x02" + short("")])), "salt: expected 1 to 64 bytes"),
        (v2_card(body([b"\x02" + short("s" * 65)])), "salt: expected 1 to 64 bytes"),
        (v2_card(body([b"\x02\x02s1"] * 9)), "more than 8 locators"),
        (v2_card(PUB + b"\x01\x00\x00\x00"), "record: length 0 is out of range"),
        (v2_card(PUB + b"\x01\x00\x03\xc8" + bytes(968)), "record: length 968 is out of range"),
        (v2_card(PUB + b"\x01\x00" + len(_STRIPPED).to_bytes(2, "big") + _STRIPPED), "RECORD_FORGED"),
        (v2_card(bytes(32) + b"\x01\x00" + len(RECORD[32:]).to_bytes(2, "big") + RECORD[:1] + RECORD[33:]), "FORGED"),
        (v1_card({"peer": TS["peer_id"]}), "field locators: expected an array of at most 16 locators (a version 1"),
        (v1_card({"peer": "pkaaaa", "locators": []}), "field peer: peer id must be 58 characters"),
        (v1_card({"peer": TS["peer_id"], "locators": [], "extra": 1}), "unrecognized key"),
        (v1_card({"peer": TS["peer_id"], "locators": [], "name": None}), "field name"),
        (v1_card({"peer": TS["peer_id"], "locators": [{"backend": "dht"}] * 12}), "more than 8 locators"),
        (v1_card(None, b'{"peer":"x","locators":NaN}'), "not valid JSON"),
        (v1_card(None, b'\xff{"peer":"x"}'), "not valid JSON"),
        ("srmudp1:AAAA", "too short"),
    ],
)
def test_malformed_cards_say_what_is_wrong(text: str, why: str) -> None:
    assert why in problem(text)


def test_javascript_text_rules() -> None:
    # a leading U+FEFF of a text field is dropped, as TextDecoder does; an empty name is refused
    assert parse_card(v2_card(body([], b"\xef\xbb\xbfa"))).name == "a"
    assert "field name: empty" in problem(v2_card(body([], b"\xef\xbb\xbf")))
    # a version 1 payload with a byte order mark is JSON to TextDecoder + JSON.parse
    payload = json.dumps({"peer": TS["peer_id"], "locators": []}).encode()
    assert parse_card(v1_card(None, b"\xef\xbb\xbf" + payload)).peer_id == PUB
    # JavaScript's trim(): U+FEFF is whitespace around a peer id, U+001C is not
    assert parse_card(v1_card({"peer": "\ufeff" + TS["peer_id"], "locators": []})).peer_id == PUB
    assert "field peer" in problem(v1_card({"peer": "\x1c" + TS["peer_id"], "locators": []}))
    # a generic locator's "__proto__" parameter vanishes, as `object[key] = value` in JavaScript
    generic = b"\x00" + short("x") + b"\x02" + short("__proto__") + b"\x00" + short("v")
    generic += short("__proto__") + b"\x00" + short("w")
    assert parse_card(v2_card(body([generic]))).locators == ({"backend": "x"},)
    # array-index keys come first, in numeric order
    generic = b"\x00" + short("x") + b"\x03" + short("b") + b"\x03" + short("10") + b"\x02" + short("2") + b"\x03"
    card = parse_card(v2_card(body([generic])))
    assert list(card.locators[0]) == ["backend", "2", "10", "b"]
    assert b64url_decode(encode_card(card)[8:])[34:-4] == (
        b"\x00" + short("x") + b"\x03" + short("2") + b"\x03" + short("10") + b"\x02" + short("b") + b"\x03"
    )


def test_http_locators_keep_only_the_origin() -> None:
    url = "http://10.0.0.1:8080/some/internal/path?x=1#f"
    card = parse_card(encode_card(ContactCard(PUB, ({"backend": "http", "url": url},))))
    assert card.locators == ({"backend": "http", "url": "http://10.0.0.1:8080"},)

    def raw(url: str) -> str:
        return v2_card(body([b"\x03" + short(url)]))

    for url, origin in [
        ("https://rv.example/admin?delete=1", "https://rv.example"),
        ("HTTP://RV.Example:80/x", "http://rv.example"),
        ("http://0x7f.1:0443", "http://127.0.0.1:443"),
        ("http://[::FFFF:127.0.0.1]:8", "http://[::ffff:7f00:1]:8"),
        (" http:\\\\:@h%41:/?#", "http://ha"),
    ]:
        assert parse_card(raw(url)).locators == ({"backend": "http", "url": origin},)
    assert "must be http: or https:" in problem(raw("file:///etc/passwd"))
    assert "user name or password" in problem(raw("http://user:pw@rv.example"))
    assert "not a URL" in problem(raw("http://1.2.3.09"))
    assert "not a URL" in problem(raw("http://h:65536"))
    assert "outside ASCII" in problem(raw("http://münchen.example"))  # the documented departure
    gopher = {"peer": TS["peer_id"], "locators": [{"backend": "http", "url": "gopher://x"}]}
    assert "must be http: or https:" in problem(v1_card(gopher))
    with pytest.raises(OriginError):
        http_origin("http://" + "a" * 1020)
    with pytest.raises(ValueError, match="locators\\[0\\]"):
        encode_card(ContactCard(PUB, ({"backend": "http", "url": "ftp://x"},)))


def test_at_most_8_locators_and_duplicates_dropped() -> None:
    nine = tuple({"backend": "dht", "salt": f"s{i}"} for i in range(9))
    with pytest.raises(ValueError, match="at most 8"):
        encode_card(ContactCard(PUB, nine))
    assert parse_card(v2_card(body([b"\x01", b"\x01"]))).locators == ({"backend": "dht"},)
    same = ({"backend": "x", "a": 1, "b": True}, {"b": True, "a": 1.0, "backend": "x"}, {"backend": "x", "a": True})
    assert len(parse_card(encode_card(ContactCard(PUB, same))).locators) == 2


@pytest.mark.parametrize(
    "bad", ["\x1b[31mred", "evil\u202egnp.exe", "a\u2066b", "line\nbreak", "x\ud800", "€" * 22, "", "\x85", "\ufeffa"]
)
def test_names_follow_one_rule(bad: str) -> None:
    assert name_problem(bad) is not None
    with pytest.raises(ValueError):
        encode_card(ContactCard(PUB, (), name=bad))
    if bad not in ("x\ud800", "\ufeffa"):  # no UTF-8 form; a leading U+FEFF is dropped when read
        assert "field name: " in problem(v2_card(body([], bad.encode())))
    assert name_problem("€" * 21) is None  # 63 bytes
    assert name_problem("👩‍👩‍👧 family") is None
    # a version 1 card (written before the rule) has its name cleaned, not refused
    assert parse_card(v1_card({"peer": TS["peer_id"], "locators": [], "name": "\x1b[2Jbob\u202e"})).name == "[2Jbob"
    assert parse_card(v1_card({"peer": TS["peer_id"], "locators": [], "name": " \x07 "})).name is None


def test_parsing_is_linear_and_bounded() -> None:
    """The former prefix regex took ~300 ms per 8,192-digit card (a chat hello carries 65 cards)
    and raised ValueError (int() of 8,180 digits) instead of INVALID_CARD; both are gone."""
    hostile = ["srmudp" + "1" * 8186, "1" * 8192, "srmudp1" * 1170, "srmudp" + "9" * 8180 + ":AA"]
    hostile.append("srmudp2:" + "=" * 8184)
    t0 = time.perf_counter()
    for _ in range(65):
        for h in hostile:
            assert problem(h).startswith("invalid contact card")
    assert time.perf_counter() - t0 < 10  # ~0.2 s here; the former parser needed ~40 s
    t1 = time.perf_counter()
    assert f"longer than {MAX_CARD_INPUT}" in problem("A" * 10_000_000)
    assert f"longer than {MAX_CARD_INPUT}" in problem("😀" * 8193)  # 16,386 UTF-16 code units
    assert time.perf_counter() - t1 < 2


GOOD_FULL = encode_card(ContactCard(PUB, ({"backend": "dht", "salt": "x"},), RECORD, "n"))
GOOD_BODY = b64url_decode(GOOD_FULL[8:])[:-4]  # type: ignore[index]


@given(
    st.one_of(
        st.text(),
        st.text().map(lambda s: "srmudp2:" + s),
        st.text().map(lambda s: "srmudp1:" + s),
        st.tuples(st.integers(0, len(GOOD_FULL) - 1), st.characters()).map(
            lambda t: GOOD_FULL[: t[0]] + t[1] + GOOD_FULL[t[0] + 1 :]
        ),
        # past the checksum: random damage to the binary body, checksum recomputed
        st.lists(st.tuples(st.integers(0, len(GOOD_BODY) - 1), st.integers(0, 255)), min_size=1, max_size=4).map(
            lambda edits: v2_card(bytes(b if i not in dict(edits) else dict(edits)[i] for i, b in enumerate(GOOD_BODY)))
        ),
        st.binary(max_size=300).map(lambda b: v2_card(PUB + b)),
        st.binary(max_size=300).map(lambda b: v1_card(None, b)),
    )
)
def test_any_text_gives_a_card_or_invalid_card(text: str) -> None:
    try:
        card = parse_card(text)
    except RendezvousError as e:
        assert e.code == "INVALID_CARD"
        return
    assert parse_card(encode_card(card)) == card


def test_encoding_misuse() -> None:
    with pytest.raises(TypeError):
        encode_card(ContactCard(b"\x00" * 3))
    with pytest.raises(ValueError, match='"locators\\[0\\]" is invalid'):
        encode_card(ContactCard(PUB, ({"backend": ""},)))
    with pytest.raises(ValueError, match="another peer id"):
        encode_card(ContactCard(bytes(32), (), RECORD))
    with pytest.raises(ValueError):
        encode_card(ContactCard(PUB), version=3)
    for bad in ({"backend": "x", "n": float("nan")}, {"backend": "x", "n": 10**400}, {"backend": "x", "v": None}):
        with pytest.raises(LocatorError):
            normalize_locator(bad)
    with pytest.raises(LocatorError):
        normalize_locator({"backend": "x", 1: "a"})
    nine: dict[str, Any] = {"backend": "x", **{f"k{i}": 1 for i in range(9)}}
    for bad in ({"backend": "x", "p": "é" * 128}, nine, {"backend": "A"}):
        with pytest.raises(LocatorError):
            normalize_locator(bad)


# --- the TypeScript implementation as an oracle ---------------------------------------------------


def _ts(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    proc = subprocess.run(
        ["node", str(TESTS / "ts_card.mjs")],
        input=json.dumps(inputs).encode(),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    out: list[dict[str, Any]] = json.loads(proc.stdout)
    return out


def _py(op: dict[str, Any]) -> dict[str, Any]:
    try:
        if op["op"] == "origin":
            try:
                return {"ok": http_origin(op["url"])}
            except OriginError:
                return {"error": "problem"}
        if op["op"] == "encode":
            c = op["card"]
            rec = bytes.fromhex(c["record"]) if c.get("record") is not None else None
            return {"ok": encode_card(ContactCard(bytes.fromhex(c["peer"]), tuple(c["locators"]), rec, c.get("name")))}
        card = parse_card(op["text"])
        return {
            "ok": {
                "peer": card.peer_id.hex(),
                "locators": typed(card.locators),
                "record": card.record.hex() if card.record else None,
                "name": card.name,
                "version": card.version,
                "again": encode_card(card),
            }
        }
    except RendezvousError as e:
        return {"error": e.code}
    except (TypeError, ValueError):
        return {"error": "misuse"}


_URL_PIECES = [
    "http", "https", "HTTP", "ftp", ":", "//", "/", "\\", "@", ":@", "u:p@", "[", "]", "::1", "::", "1", "0x7f", "0",
    "00", ".", "..", "a", "B", "xn--", "xn--mnchen-3ya", "xn--ls8h", "xn--a", "%41", "%2e", "%", "%zz", ":80", ":443",
    ":0", ":65536", ":0080", "?", "#", " ", "\t", "\n", "\x00", "255", "256", "4294967295", "0x", "09", "07", "1.2.3",
    ":ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "_", "^", "|", "<", "'", "example.com", "EXAMPLE.COM",
]


def _corpus(seed: int, n: int) -> list[dict[str, Any]]:
    """Encodes of random (often invalid) cards, parses of valid, damaged and hand-built cards of
    both versions, and random URLs with ASCII hosts."""
    rng = random.Random(seed)
    ident = Identity.from_secret(SEED)
    records = [RECORD]
    for i in range(3):
        candidates = tuple(Candidate("host", 4, f"10.0.0.{j}", 1000 + j) for j in range(i))
        records.append(sign_record(PeerRecord(ident.public_key, i + 1, 0, 10**13, candidates), ident))

    def text(k: int = 12) -> str:
        pool = ["a", "Z", "0", "-", "_", " ", "é", "€", "😀", "\u202e", "\x1b", "\ufeff", "\ud800", "\u0301", "/"]
        return "".join(rng.choice(pool) for _ in range(rng.randint(0, k)))

    def url() -> str:
        u = "".join(rng.choice(_URL_PIECES) for _ in range(rng.randint(1, 6)))
        return rng.choice(["http://", "https://", "http:", "HTTP:\\\\", " https:///", ""]) + u

    def value() -> Any:
        return rng.choice([
            lambda: text(), lambda: rng.random() < 0.5, lambda: rng.randint(-(2**60), 2**60),
            lambda: rng.choice([0.5, -0.0, 1e21, 1e-7, 123.456, 2**53 + 2, 1e300]), lambda: None,
            lambda: double(),
        ])()

    def double() -> float:  # any finite double, to exercise JavaScript's number text
        x = struct.unpack("<d", rng.randbytes(8))[0]
        return x if math.isfinite(x) else rng.uniform(-1e6, 1e6)

    def locator() -> dict[str, Any]:
        kind = rng.randrange(8)
        if kind == 0:
            return {"backend": "dht", **({"salt": text(70)} if rng.random() < 0.7 else {})}
        if kind == 1:
            return {"backend": "http", "url": url()}
        if kind == 2:
            return {"backend": rng.choice(["manual", "memory"])}
        if kind == 3:
            address = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))).hex()
            extra = {"type": rng.choice(["pointer", "scratchpad", "other", 1])} if rng.random() < 0.6 else {}
            return {"backend": "autonomi", "address": address.upper() if rng.random() < 0.1 else address, **extra}
        keys = ["a", "b", "n", "0", "7", "10", "4294967295", "__proto__", "salt", "url", "type", "bad key", "k" * 33]
        loc = {"backend": rng.choice(["x", "x-y", "dht", "http", "autonomi", "Bad", "-x", "a" * 33])}
        for _ in range(rng.randint(0, 10)):
            loc[rng.choice(keys)] = value()
        return loc

    ops: list[dict[str, Any]] = []
    for _ in range(n):
        peer = PUB if rng.random() < 0.8 else bytes(rng.randrange(256) for _ in range(rng.choice([32, 32, 31])))
        card = {
            "peer": peer.hex(),
            "locators": [locator() for _ in range(rng.choice([0, 1, 2, 3, 8, 9]))],
            "record": rng.choice(records).hex() if rng.random() < 0.15 else None,
            "name": rng.choice([None, text(), "alice"]),
        }
        idn = "xn--" in json.dumps(card)
        ops.append({"op": "encode", "card": json.loads(json.dumps(card)), "idn": idn})
        choice = _py(ops[-1])
        if "ok" not in choice:
            continue
        t = choice["ok"]
        ops.append({"op": "parse", "text": t, "idn": idn})
        raw = b64url_decode(t[8:])
        assert raw is not None
        b = bytearray(raw[:-4])
        for _ in range(rng.randint(1, 3)):  # damage past the checksum
            i = rng.randrange(len(b))
            b[i] = rng.choice([0, 1, 2, 3, 5, 0x7F, 0xFF, rng.randrange(256)])
        ops.append({"op": "parse", "text": v2_card(bytes(b)), "idn": idn})
        ops.append({"op": "parse", "text": v2_card(bytes(raw[: rng.randrange(len(raw) - 4)])), "idn": idn})
        # a version 1 card of the same fields (the JSON the first release wrote), often damaged
        payload = {"peer": peer_id_text(peer), "locators": card["locators"]}
        if card["record"] is not None:
            payload["record"] = b64url_encode(bytes.fromhex(card["record"]))
        if card["name"] is not None or rng.random() < 0.2:
            payload["name"] = card["name"] if card["name"] is not None else text(300)
        if rng.random() < 0.1:
            payload["extra"] = 1
        ops.append({"op": "parse", "text": v1_card(json.loads(json.dumps(payload))), "idn": idn})
    urls = [url() for _ in range(5 * n)]
    ops += [{"op": "parse", "text": v2_card(body([b"\x03" + short(u)])), "idn": "xn--" in u} for u in urls[:n]]
    ops += [{"op": "origin", "url": u, "idn": "xn--" in u} for u in urls[n:]]
    return ops


def peer_id_text(peer: bytes) -> str:
    from srmudp import peer_id_to_string

    return peer_id_to_string(peer) if len(peer) == 32 else "pk" + peer.hex()


def test_same_outcome_as_the_typescript_cards() -> None:
    """~3,400 inputs through both implementations: the same card (fields and re-encoding), the
    same encoding, the same origin, or both refuse. The documented departures of origin.py are
    left out of the generator (hosts outside ASCII) or allowed in one direction only: an ``xn--``
    label TypeScript refuses may be accepted here (never the other way)."""
    ops = _corpus(20251207, 500)
    theirs = _ts(ops)
    mismatches, lenient = [], 0
    for op, t in zip(ops, theirs):
        if t.get("error") in ("TypeError", "RangeError"):
            t = {"error": "misuse"}
        if "ok" in t and op["op"] == "parse":
            t["ok"]["locators"] = typed(t["ok"]["locators"])
        ours = _py(op)
        if ours != t:
            if op["idn"] and "ok" in ours and "error" in t:
                lenient += 1
            else:
                mismatches.append((op, ours, t))
    assert not mismatches, mismatches[:3]
    assert lenient < len(ops) // 100
    kinds = {(op["op"], "ok" in t) for op, t in zip(ops, theirs)}
    assert kinds == {(op, ok) for op in ("encode", "parse", "origin") for ok in (True, False)}
