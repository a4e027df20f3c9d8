"""Send and receive buffers of one byte stream (or one message): what was written, sent,
acknowledged and lost on the send side; reassembly on the receive side."""

from __future__ import annotations

from .ranges import RangeSet


class SendBuffer:
    """Bytes ``[base, end)`` are buffered (``base`` = everything below is acknowledged);
    ``[base, sent_end)`` were sent at least once; ``lost`` are ranges to retransmit."""

    __slots__ = ("data", "base", "end", "sent_end", "lost", "acked", "fin", "fin_sent", "fin_acked", "fin_lost")

    def __init__(self) -> None:
        self.data = bytearray()
        self.base = 0
        self.end = 0
        self.sent_end = 0
        self.lost = RangeSet()
        self.acked = RangeSet()
        self.fin = False
        self.fin_sent = False
        self.fin_acked = False
        self.fin_lost = False

    def write(self, b: bytes) -> None:
        self.data += b
        self.end += len(b)

    def buffered(self) -> int:
        return self.end - self.base

    def read(self, offset: int, n: int) -> bytes:
        o = offset - self.base
        return bytes(self.data[o : o + n])

    def on_ack(self, offset: int, n: int, fin: bool) -> int:
        """Records an acknowledged range; returns how many bytes were freed from the front."""
        if fin:
            self.fin_acked = True
            self.fin_lost = False
        if n == 0:
            return 0
        self.acked.add(max(offset, self.base), offset + n)
        self.lost.remove(offset, offset + n)
        freed = 0
        if self.acked and self.acked.starts[0] <= self.base:
            new_base = self.acked.ends[0]
            freed = new_base - self.base
            del self.data[:freed]
            self.base = new_base
            self.acked.remove_below(new_base)
        return freed

    def on_lost(self, offset: int, n: int, fin: bool) -> None:
        if fin and not self.fin_acked:
            self.fin_lost = True
        if n == 0:
            return
        start = max(offset, self.base)
        for s, e in self.acked.missing(start, offset + n) if start < offset + n else ():
            self.lost.add(s, e)

    def all_acked(self) -> bool:
        return self.base == self.end and (not self.fin or self.fin_acked)

    def clear(self) -> None:
        self.data = bytearray()
        self.base = self.end
        self.sent_end = self.end
        self.lost.clear()
        self.acked.clear()
        self.fin_lost = False


class RecvBuffer:
    """Reassembly: ``ready`` holds contiguous bytes from ``read_offset``; out-of-order pieces are
    kept without overlap (only the parts not yet received are stored, so overlapping or
    duplicated frames cannot amplify memory)."""

    __slots__ = ("read_offset", "ready", "have", "pieces", "contig")

    def __init__(self) -> None:
        self.read_offset = 0
        self.ready = bytearray()
        self.have = RangeSet()  # every byte ever received, [0, contig) included
        self.pieces: dict[int, bytes] = {}
        self.contig = 0  # end of the contiguous prefix

    def insert(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        if end <= self.contig or not data:
            return
        for s, e in self.have.missing(max(offset, self.contig), end):
            self.pieces[s] = data[s - offset : e - offset]
        self.have.add(max(offset, self.contig), end)
        while self.contig in self.pieces:
            piece = self.pieces.pop(self.contig)
            self.ready += piece
            self.contig += len(piece)

    def buffered_bytes(self) -> int:
        """Bytes received and not read, contiguous or not."""
        return len(self.ready) + sum(len(p) for p in self.pieces.values())

    def has_readable(self) -> bool:
        return bool(self.ready)

    def read(self, n: int) -> bytes | None:
        if not self.ready:
            return None
        if n >= len(self.ready):
            out = bytes(self.ready)
            self.ready = bytearray()
        else:
            out = bytes(self.ready[:n])
            del self.ready[:n]
        self.read_offset += len(out)
        return out

    def clear(self) -> None:
        self.ready = bytearray()
        self.pieces.clear()
