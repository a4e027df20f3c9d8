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
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE.parent / "tests"), str(HERE)]

import srmudp  # noqa: E402
from goodput import MIB, py_to_ts, ts_to_py, ts_to_ts  # noqa: E402
from interop import TsPeer, keystream  # noqa: E402


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
        data = keystream("bench", n)
        times: dict[str, list[float]] = {"TS -> TS": [], "Python -> TS": [], "TS -> Python": []}
        for i in range(args.rounds):
            times["TS -> TS"].append(await ts_to_ts(a, b, n, f"tt{i}"))
            times["Python -> TS"].append(await py_to_ts(node, conn, b, data))
            times["TS -> Python"].append(await ts_to_py(node, conn, b, n, f"tp{i}"))
        ref = statistics.median([n / t / 1e6 for t in times["TS -> TS"]])
        print(f"through the relay over {args.carrier}: {args.mib} MiB per stream, {args.rounds} interleaved rounds, median (min-max) MB/s:")
        for k, v in times.items():
            rates = [n / t / 1e6 for t in v]
            med = statistics.median(rates)
            print(f"  {k:13s} {med:6.1f} ({min(rates):.1f}-{max(rates):.1f})  {med / ref:.2f}x TS -> TS")
    finally:
        await node.close()
        await a.close()
        await b.close()
        await relay.close()


if __name__ == "__main__":
    asyncio.run(main())
