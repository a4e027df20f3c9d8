"""A set of integers as sorted, disjoint, non-adjacent half-open ranges ``[start, end)``."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator


class RangeSet:
    __slots__ = ("starts", "ends")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def __len__(self) -> int:
        return len(self.starts)

    def __bool__(self) -> bool:
        return bool(self.starts)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self.starts, self.ends)

    def add(self, start: int, end: int) -> None:
        if start >= end:
            return
        s, e = self.starts, self.ends
        # ranges that overlap or touch [start, end)
        i = bisect_left(e, start)
        j = bisect_right(s, end)
        if i < j:
            start = min(start, s[i])
            end = max(end, e[j - 1])
        s[i:j] = [start]
        e[i:j] = [end]

    def remove(self, start: int, end: int) -> None:
        if start >= end:
            return
        s, e = self.starts, self.ends
        i = bisect_right(e, start)
        j = bisect_left(s, end)
        if i >= j:
            return
        new_s: list[int] = []
        new_e: list[int] = []
        if s[i] < start:
            new_s.append(s[i])
            new_e.append(start)
        if e[j - 1] > end:
            new_s.append(end)
            new_e.append(e[j - 1])
        s[i:j] = new_s
        e[i:j] = new_e

    def has(self, x: int) -> bool:
        i = bisect_right(self.starts, x) - 1
        return i >= 0 and x < self.ends[i]

    def covers(self, start: int, end: int) -> bool:
        i = bisect_right(self.starts, start) - 1
        return i >= 0 and end <= self.ends[i]

    def missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``[start, end)`` not in the set."""
        out: list[tuple[int, int]] = []
        s, e = self.starts, self.ends
        i = bisect_right(e, start)
        pos = start
        while pos < end and i < len(s) and s[i] < end:
            if s[i] > pos:
                out.append((pos, s[i]))
            pos = max(pos, e[i])
            i += 1
        if pos < end:
            out.append((pos, end))
        return out

    def first(self) -> tuple[int, int]:
        return self.starts[0], self.ends[0]

    def remove_below(self, x: int) -> None:
        self.remove(self.starts[0] if self.starts else x, x)

    def clear(self) -> None:
        self.starts.clear()
        self.ends.clear()
