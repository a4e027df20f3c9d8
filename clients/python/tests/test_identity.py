"""Identities, peer ids, the Ed25519 -> X25519 map, key files, signed records and contact cards,
checked against values the TypeScript packages produced for the same seed (vectors below were
printed by @srmudp/crypto, @srmudp/crypto-node and @srmudp/rendezvous)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from srmudp import Identity, KeyFileError, SrmudpError, parse_peer_id, peer_id_to_string, peer_identity_hex, same_peer
from srmudp.cards import ContactCard, PeerRecord, RendezvousError, encode_card, parse_card, sign_record, verify_record
from srmudp.cards.base64url import b64url_decode, b64url_encode
from srmudp.cards.record import Candidate, decode_record, format_ip
from srmudp.identity import ed25519_to_x25519_public
from srmudp.keyfile import decode_key_file, encode_key_file, load_identity, load_or_create_identity, save_identity
from srmudp.noise import x25519_public

TS = {
    "seed": "01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da",
    "pub": "e4030998cfd5ad1723c169f956aa0b9eb8619b5992bd612c2af428ebc79f8df0",
    "xpub": "ce145f7279f86e1c1d55d23d50ce327c861c4bd7b76e7895e34d24dc4fa6ab33",
    "xpriv": "70bf4ad35f7569b718b6bb9fbd57d9df4e28a10b53504d455917a0893257c365",
    "peer_id": "pk4qbqtggp2wwroi6bnh4vnkqlt24gdg2zsk6wclbk6quoxr47rxykhtpo",
    "key_file": '{"format":"srmudp-identity","version":1,"peerId":"pk4qbqtggp2wwroi6bnh4vnkqlt24gdg2zsk6wclbk6quoxr47rxykhtpo",'
    '"secret":"01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da"}\n',
    "record": "01e4030998cfd5ad1723c169f956aa0b9eb8619b5992bd612c2af428ebc79f8df000060a24181e40000000018bcfe5680000"
    "0003bb2cc3d80002007f00000111511120010db8000000000000000000000001138800557ce17323d49dc9ad0393f4526d5840fbd43f"
    "3928350a640af1375417f6b3c04c8e4c2318c70c5a92b74a25d163a1fe94856eb1722cbb42700aa12fe130700e",
    "card": "srmudp1:eyJwZWVyIjoicGs0cWJxdGdncDJ3d3JvaTZibmg0dm5rcWx0MjRnZGcyenNrNndjbGJrNnF1b3hyNDdyeHlraHRwbyIsImx"
    "vY2F0b3JzIjpbeyJiYWNrZW5kIjoiZGh0Iiwic2FsdCI6IngiLCJuIjozLCJvayI6dHJ1ZX1dLCJyZWNvcmQiOiJBZVFEQ1pqUDFhMFhJOEZw"
    "LVZhcUM1NjRZWnRaa3IxaExDcjBLT3ZIbjQzd0FBWUtKQmdlUUFBQUFBR0x6LVZvQUFBQUE3c3N3OWdBQWdCX0FBQUJFVkVSSUFFTnVBQUFB"
    "QUFBQUFBQUFBQUFBUk9JQUZWODRYTWoxSjNKclFPVDlGSnRXRUQ3MUQ4NUtEVUtaQXJ4TjFRWDlyUEFUSTVNSXhqSERGcVN0MG9sMFdPaF9w"
    "U0ZickZ5TEx0Q2NBcWhMLUV3Y0E0IiwibmFtZSI6ImFsaWNlIn2hbRoN",
}
SEED = bytes.fromhex(TS["seed"])


def test_identity_matches_typescript() -> None:
    ident = Identity.from_secret(SEED)
    assert ident.public_key.hex() == TS["pub"]
    assert ident.x25519_public.hex() == TS["xpub"]
    assert ident.x25519_private.hex() == TS["xpriv"]
    assert ident.peer_id == TS["peer_id"]
    assert ed25519_to_x25519_public(ident.public_key) == ident.x25519_public


@given(st.binary(min_size=32, max_size=32))
def test_birational_map_agrees_with_the_private_key(seed: bytes) -> None:
    ident = Identity.from_secret(seed)
    assert ed25519_to_x25519_public(ident.public_key) == x25519_public(ident.x25519_private)
    assert parse_peer_id(ident.peer_id) == ident.public_key
    assert parse_peer_id("  " + ident.peer_id.upper() + "\n") == ident.public_key
    assert len(ident.peer_id) == 58


def _other_form(key: bytes) -> bytes:
    return key[:31] + bytes([key[31] ^ 0x80])


@given(st.binary(min_size=32, max_size=32), st.integers(min_value=0, max_value=255), st.binary(min_size=32, max_size=32))
def test_the_two_forms_of_a_peer_id_are_one_holder(key: bytes, bit: int, other: bytes) -> None:
    assert same_peer(key, key) and same_peer(key, _other_form(key))
    flipped = bytearray(key)
    flipped[bit >> 3] ^= 1 << (bit & 7)
    assert same_peer(key, bytes(flipped)) == (bit == 255)  # bit 255: the sign bit
    assert peer_identity_hex(key) == peer_identity_hex(_other_form(key))
    assert (peer_identity_hex(key) == peer_identity_hex(other)) == same_peer(key, other)


@given(st.binary(min_size=32, max_size=32))
def test_both_forms_of_a_real_id_have_its_x25519_image(seed: bytes) -> None:
    # all that a handshake proves is the X25519 image: the holder of a key can present either form
    ident = Identity.from_secret(seed)
    assert ed25519_to_x25519_public(_other_form(ident.public_key)) == ident.x25519_public


def test_peer_identity_hex_matches_typescript() -> None:
    # TypeScript: peerIdentityHex(TS pub) clears the top bit of the last byte (f0 -> 70)
    assert peer_identity_hex(bytes.fromhex(TS["pub"])) == TS["pub"][:62] + "70"
    assert same_peer(b"short", b"short") is False
    with pytest.raises(TypeError):
        peer_identity_hex(b"\x00" * 31)


def test_invalid_points_have_no_x25519_image() -> None:
    p = 2**255 - 19
    assert ed25519_to_x25519_public(p.to_bytes(32, "little")) is None  # y >= p
    assert ed25519_to_x25519_public((1).to_bytes(32, "little")) is None  # identity point
    assert ed25519_to_x25519_public(((1 << 255) | 1).to_bytes(32, "little")) is None  # x = 0 with the sign bit
    # y = 2 gives x^2 = 3 / (4d + 1), which is not a square mod p
    assert ed25519_to_x25519_public((2).to_bytes(32, "little")) is None
    assert ed25519_to_x25519_public(b"short") is None


def test_every_single_character_typo_is_caught() -> None:
    pid = TS["peer_id"]
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    for i in range(2, len(pid)):
        for c in alphabet:
            if c == pid[i]:
                continue
            with pytest.raises(SrmudpError) as e:
                parse_peer_id(pid[:i] + c + pid[i + 1 :])
            assert e.value.code == "INVALID_PEER_ID"


@pytest.mark.parametrize("text", ["", "xx" + "a" * 56, "pk" + "a" * 55, "pk" + "1" * 56, "pk" + "a" * 57])
def test_malformed_peer_ids(text: str) -> None:
    with pytest.raises(SrmudpError) as e:
        parse_peer_id(text)
    assert e.value.code == "INVALID_PEER_ID"


def test_key_file_is_byte_identical_and_checked(tmp_path: Path) -> None:
    ident = Identity.from_secret(SEED)
    assert encode_key_file(ident) == TS["key_file"]
    assert decode_key_file(TS["key_file"]).public_key == ident.public_key
    p = tmp_path / "alice.key"
    save_identity(p, ident)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert p.read_text() == TS["key_file"]
    assert load_identity(p).secret == SEED
    with pytest.raises(KeyFileError) as e:
        save_identity(p, ident)
    assert e.value.code == "KEYFILE_EXISTS"
    os.chmod(p, 0o644)
    with pytest.raises(KeyFileError) as e:
        load_identity(p)
    assert e.value.code == "KEYFILE_PERMISSIONS"
    with pytest.raises(KeyFileError) as e:
        load_identity(tmp_path / "missing.key")
    assert e.value.code == "KEYFILE_NOT_FOUND"
    created = load_or_create_identity(tmp_path / "new.key")
    assert load_identity(tmp_path / "new.key").public_key == created.public_key


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"format":"srmudp-identity","version":1,"peerId":"x","secret":"00"}',
        TS["key_file"].replace('"version":1', '"version":2'),
        TS["key_file"].replace("01080f", "01080e"),  # secret no longer matches the peer id
        TS["key_file"].replace("01080f", "01080F"),  # upper-case hex is refused
        TS["key_file"].replace("}", ',"extra":1}'),
    ],
)
def test_bad_key_files(text: str) -> None:
    with pytest.raises(KeyFileError) as e:
        decode_key_file(text)
    assert e.value.code == "KEYFILE_FORMAT"


def test_typescript_record_and_card() -> None:
    rec = bytes.fromhex(TS["record"])
    r = verify_record(rec, expected_peer_id=bytes.fromhex(TS["pub"]), now_ms=1_700_000_000_000)
    assert r.candidates == (Candidate("host", 4, "127.0.0.1", 4433), Candidate("srflx", 6, "2001:db8::1", 5000))
    assert r.seq == 1_700_000_000_000_000
    # re-encoding and signing gives the same bytes (Ed25519 is deterministic)
    assert sign_record(r, Identity.from_secret(SEED)) == rec
    card = parse_card(TS["card"])
    assert card.peer_id.hex() == TS["pub"]
    assert card.name == "alice"
    assert card.locators == ({"backend": "dht", "salt": "x", "n": 3, "ok": True},)
    assert card.record == rec
    # whitespace anywhere is ignored (a card wrapped by a mail client still parses)
    wrapped = "\n  ".join(TS["card"][i : i + 40] for i in range(0, len(TS["card"]), 40))
    assert parse_card(wrapped) == card
    # and our encoding parses back to the same card
    assert parse_card(encode_card(card)) == card


def test_record_checks() -> None:
    rec = bytes.fromhex(TS["record"])
    other = Identity.from_secret(bytes(32))
    with pytest.raises(RendezvousError) as e:
        verify_record(rec, expected_peer_id=other.public_key, now_ms=0)
    assert e.value.code == "RECORD_FORGED"
    forged = bytearray(rec)
    forged[-70] ^= 1  # the port of the last candidate
    with pytest.raises(RendezvousError) as e:
        verify_record(bytes(forged), now_ms=1_700_000_000_000)
    assert e.value.code == "RECORD_FORGED"
    with pytest.raises(RendezvousError) as e:
        verify_record(rec, now_ms=4_102_444_800_000 + 120_001)
    assert e.value.code == "RECORD_EXPIRED"
    for n in range(len(rec)):
        with pytest.raises(RendezvousError):
            decode_record(rec[:n])


@pytest.mark.parametrize(
    "text,why",
    [
        ("", "empty"),
        ("srmudp3:AAAA", "unknown version"),
        ("srmudp:AAAA", "missing version"),
        ("other1:AAAA", "must start"),
        (TS["card"] + "*", "base64url"),
        (TS["card"][:-1], "checksum"),
        (TS["card"][:-2] + ("M" if TS["card"][-2] != "M" else "N") + TS["card"][-1], "checksum"),
    ],
)
def test_bad_cards(text: str, why: str) -> None:
    with pytest.raises(RendezvousError) as e:
        parse_card(text)
    assert e.value.code == "INVALID_CARD"
    assert why in str(e.value)


def test_card_with_a_record_of_another_peer_is_refused() -> None:
    alice = Identity.from_secret(SEED)
    mallory = Identity.from_secret(bytes(range(32)))
    rec = sign_record(PeerRecord(mallory.public_key, 1, 0, 10**13, (Candidate("host", 4, "10.0.0.1", 9),)), mallory)
    import json

    from srmudp.cards.v1 import _checksum

    payload = json.dumps({"peer": alice.peer_id, "locators": [], "record": b64url_encode(rec)}, separators=(",", ":")).encode()
    with pytest.raises(RendezvousError) as e:
        parse_card("srmudp1:" + b64url_encode(payload + _checksum(payload)))
    assert "RECORD_FORGED" in str(e.value)
    with pytest.raises(ValueError):
        encode_card(ContactCard(alice.public_key, (), rec))


@given(st.binary(max_size=64))
def test_base64url_is_canonical(b: bytes) -> None:
    t = b64url_encode(b)
    assert b64url_decode(t) == b
    if len(t) % 4 in (2, 3):  # a last character with non-zero unused bits is another text form
        last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(t[-1])
        assert b64url_decode(t[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last | 1]) in (
            None,
            b if last & 1 else None,
        )


def test_ipv6_text_is_rfc5952_like_typescript() -> None:
    assert format_ip(bytes(16)) == "::"
    assert format_ip(bytes.fromhex("20010db8000000000001000000000001")) == "2001:db8::1:0:0:1"
    assert format_ip(bytes.fromhex("20010db8000100000001000100010001")) == "2001:db8:1:0:1:1:1:1"  # one zero group
    assert format_ip(bytes.fromhex("00000000000000000000ffff7f000001")) == "::ffff:7f00:1"
