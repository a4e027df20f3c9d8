"""Goodput over UDP on loopback: Python -> TypeScript, TypeScript -> Python, and TypeScript ->
TypeScript as the same-run reference, rounds interleaved so machine load hits all three alike.

    python3 bench/goodput.py [--mib 32] [--rounds 3]

Each figure is one stream of N MiB, timed from the request to the receiver's last byte (SHA-256
checked). Needs the repository built (pnpm run build)."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE.parent / "tests")]

import srmudp  # noqa: E402
from interop import TsPeer, keystream  # noqa: E402

MIB = 1024 * 1024


async def py_to_ts(node: srmudp.Node, conn: srmudp.PeerConnection, ts: TsPeer, data: bytes) -> float:
    t0 = time.perf_counter()
    s = await conn.open_stream()
    for i in range(0, len(data), 64 * 1024):
        s.write(data[i : i + 64 * 1024])
        await s.drain()
    s.write_eof()
    got = await ts.expect("stream", timeout=600)
    assert got["sha256"] == hashlib.sha256(data).hexdigest()
    return time.perf_counter() - t0


async def ts_to_py(node: srmudp.Node, conn: srmudp.PeerConnection, ts: TsPeer, n: int, seed: str) -> float:
    t0 = time.perf_counter()
    ts.send(cmd="stream", peer=node.peer_id, bytes=n, seed=seed)
    s = await conn.accept_stream()
    h = hashlib.sha256()
    while d := await s.read(1 << 20):
        h.update(d)
    dt = time.perf_counter() - t0
    assert h.hexdigest() == hashlib.sha256(keystream(seed, n)).hexdigest()
    await ts.expect("stream_sent", timeout=600)
    return dt


async def ts_to_ts(a: TsPeer, b: TsPeer, n: int, seed: str) -> float:
    t0 = time.perf_counter()
    a.send(cmd="stream", peer=b.peer_id, bytes=n, seed=seed)
    got = await b.expect("stream", timeout=600)
    dt = time.perf_counter() - t0
    assert got["sha256"] == hashlib.sha256(keystream(seed, n)).hexdigest()
    await a.expect("stream_sent", timeout=600)
    return dt


async def interleaved(
    node: srmudp.Node, conn: srmudp.PeerConnection, a: TsPeer, b: TsPeer, n: int, rounds: int, heading: str
) -> None:
    """Times the three directions ``rounds`` times, interleaved, and prints medians against TS -> TS."""
    data = keystream("bench", n)
    times: dict[str, list[float]] = {"TS -> TS": [], "Python -> TS": [], "TS -> Python": []}
    for r in range(rounds):
        times["TS -> TS"].append(await ts_to_ts(a, b, n, f"tt{r}"))
        times["Python -> TS"].append(await py_to_ts(node, conn, b, data))
        times["TS -> Python"].append(await ts_to_py(node, conn, b, n, f"tp{r}"))
    ref = statistics.median([n / t / 1e6 for t in times["TS -> TS"]])
    print(f"{heading}{n // MIB} MiB per stream, {rounds} interleaved rounds, median (min-max) MB/s:")
    for k, v in times.items():
        rates = [n / t / 1e6 for t in v]
        med = statistics.median(rates)
        print(f"  {k:13s} {med:6.1f} ({min(rates):.1f}-{max(rates):.1f})  {med / ref:.2f}x TS -> TS")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    n = args.mib * MIB
    a, b = await TsPeer.start(), await TsPeer.start()
    node = await srmudp.create_node(host="127.0.0.1")
    try:
        a.send(cmd="connect", card=b.card)
        await a.expect("connected")
        conn = await node.connect(b.card, timeout=15)
        await interleaved(node, conn, a, b, n, args.rounds, "")
    finally:
        await node.close()
        await a.close()
        await b.close()


if __name__ == "__main__":
    asyncio.run(main())
