"""Goodput through an srmudp-relay on loopback: Python -> TypeScript and TypeScript -> Python,
with TypeScript -> TypeScript through the same relay as the same-run reference, rounds
interleaved so machine load hits all three alike.

    python3 bench/relay_goodput.py [--mib 8] [--rounds 3] [--carrier ws|udp]

The relay (tests/ts_relay.mjs: the built @srmudp/relay-server, per-client rate limit lifted),
two TypeScript clients of it (tests/ts_relay_peer.mjs: @srmudp/relay-server/testing's RelayPeer)
and the Python node each run in their own process; every hop uses ``--carrier``. Each figure is
one stream of N MiB, timed from the request to the receiver's last byte (SHA-256 checked)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE.parent / "tests"), str(HERE)]

import srmudp  # noqa: E402
from goodput import MIB, interleaved  # noqa: E402
from interop import TsPeer  # noqa: E402


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--carrier", choices=["ws", "udp"], default="ws")
    args = ap.parse_args()
    n = args.mib * MIB
    relay = await TsPeer.start("ts_relay.mjs", limits={"rateBytesPerSec": 1 << 30, "burstBytes": 64 << 20})
    r = relay.ready
    if args.carrier == "ws":
        carrier, spec = {"kind": "ws", "url": r["url"]}, r["relay"]
    else:
        carrier = {"kind": "udp", "host": r["udp"]["host"], "port": r["udp"]["port"]}
        spec = {"host": r["udp"]["host"], "port": r["udp"]["port"], "peer_id": r["peerId"]}
    a = await TsPeer.start("ts_relay_peer.mjs", relayKey=r["peerId"], carrier=carrier)
    b = await TsPeer.start("ts_relay_peer.mjs", relayKey=r["peerId"], carrier=carrier)
    node = await srmudp.create_node(host="127.0.0.1", relays=[spec])
    try:
        a.send(cmd="connect", peer=b.peer_id)
        await a.expect("connected")
        conn = await node.connect({"peer_id": b.peer_id}, timeout=30)
        await interleaved(node, conn, a, b, n, args.rounds, f"through the relay over {args.carrier}: ")
    finally:
        await node.close()
        await a.close()
        await b.close()
        await relay.close()


if __name__ == "__main__":
    asyncio.run(main())
