"""Noise IK, XX and NN against the cacophony vectors: the same file the TypeScript crypto package
tests with (packages/crypto/test/vectors, from haskell-cryptography/cacophony, public domain)."""

from __future__ import annotations

import json
import pytest
from conftest import REPO

from srmudp.noise import HandshakeState, KeyPair

VECTORS = json.loads((REPO / "packages/crypto/test/vectors/noise-cacophony-25519-chachapoly.json").read_text())
WANTED = [
    v
    for v in VECTORS["vectors"]
    if v["protocol_name"].split("_")[1] in ("NN", "IK", "XX")
]


def _kp(hex_private: str | None) -> KeyPair | None:
    return KeyPair(bytes.fromhex(hex_private)) if hex_private else None


def test_the_subset_is_complete() -> None:
    names = sorted(v["protocol_name"] for v in WANTED)
    assert names == sorted(
        f"Noise_{p}_25519_ChaChaPoly_{h}" for p in ("NN", "IK", "XX") for h in ("BLAKE2s", "SHA256")
    )


@pytest.mark.parametrize("v", WANTED, ids=[v["protocol_name"] for v in WANTED])
def test_vector(v: dict) -> None:
    pattern, hash_name = v["protocol_name"].split("_")[1], v["protocol_name"].split("_")[4]
    rs_i = bytes.fromhex(v["init_remote_static"]) if "init_remote_static" in v else None
    init = HandshakeState(
        pattern,
        True,
        hash_name=hash_name,
        prologue=bytes.fromhex(v["init_prologue"]),
        s=_kp(v.get("init_static")),
        e=_kp(v["init_ephemeral"]),
        rs=rs_i,
    )
    resp = HandshakeState(
        pattern,
        False,
        hash_name=hash_name,
        prologue=bytes.fromhex(v["resp_prologue"]),
        s=_kp(v.get("resp_static")),
        e=_kp(v["resp_ephemeral"]),
    )
    send = recv = None
    i_send = i_recv = r_send = r_recv = None
    for n, m in enumerate(v["messages"]):
        payload = bytes.fromhex(m["payload"])
        expected = bytes.fromhex(m["ciphertext"])
        if not init.is_complete():
            send, recv = (init, resp) if n % 2 == 0 else (resp, init)
            ct = send.write_message(payload)
            assert ct == expected, f"message {n}"
            assert recv.read_message(ct) == payload
            if init.is_complete():
                assert resp.is_complete()
                assert init.handshake_hash() == resp.handshake_hash() == bytes.fromhex(v["handshake_hash"])
                i_send, i_recv, _ = init.split()
                r_send, r_recv, _ = resp.split()
        else:
            # transport messages alternate, starting with the initiator after the handshake
            a, b = (i_send, r_recv) if n % 2 == 0 else (r_send, i_recv)
            ct = a.encrypt_with_ad(b"", payload)
            assert ct == expected, f"transport message {n}"
            assert b.decrypt_with_ad(b"", ct) == payload


def test_tampered_message_fails_and_poisons() -> None:
    v = next(x for x in WANTED if x["protocol_name"] == "Noise_IK_25519_ChaChaPoly_BLAKE2s")
    init = HandshakeState("IK", True, s=_kp(v["init_static"]), rs=bytes.fromhex(v["init_remote_static"]))
    resp = HandshakeState("IK", False, s=_kp(v["resp_static"]))
    msg = bytearray(init.write_message(b"hello"))
    msg[40] ^= 1
    assert resp.read_message(bytes(msg)) is None
    assert resp.failed
    assert resp.read_message(bytes(msg)) is None
