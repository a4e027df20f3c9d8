/**
 * The bytes [start, end) of `data` to hold: a view when they are most of the array underneath
 * (a stream frame filling its packet's plaintext: no allocation and copy per packet), a copy when
 * they are a small part of it (a view would pin the whole packet for a few bytes of credit).
 */
const EMPTY = new Uint8Array(0);

function keep(data: Uint8Array, start: number, end: number): Uint8Array {
  return viewWorthKeeping(data, end - start) ? data.subarray(start, end) : data.slice(start, end);
}

function viewWorthKeeping(data: Uint8Array, length: number): boolean {
  return 2 * length >= data.buffer.byteLength;
}

/**
 * In-order chunks that would be copied (a frame in a packet opened into a shared slab, the
 * usual case) are copied into blocks of this size instead of an ArrayBuffer each (~1 µs per
 * allocation in V8), and consecutive ones merge into one chunk: reads return large views.
 */
const BLOCK = 16 * 1024;

/** the slab's size: four blocks */
const SLAB = 64 * 1024;

/**
 * The slab a connection's receive buffers carve their blocks from. A block is a region of BLOCK
 * bytes of a 64 KiB slab that every RecvBuffer of ONE connection shares (its streams and
 * messages), not an array of its own: a buffer that empties gives back the unused end of its
 * block when it is the slab's last carve, so a reader that keeps up (the buffer empties after
 * every packet) costs one 64 KiB allocation per ~35 full packets, not a 16 KiB one per packet
 * (issue 19). Each buffer's block is its own region, so its chunks merge exactly as with an
 * array of its own.
 *
 * One slab per connection, never per process: reads are views into the slab, and an application
 * may use a view's whole `.buffer` (transfer it, forward it), so bytes of two peers must never
 * share an ArrayBuffer. A connection holds its slab only while it receives: `onTimers` (the
 * connection's timers ran) forgets a slab no buffer uses once the connection is quiet, so an
 * idle connection holds none (by its keepalive at the latest). A region handed out is never
 * written again: forgetting the slab only drops the reference, views read from it keep it alive.
 * The price: a few unread (or still referenced) bytes pin their connection's 64 KiB slab where
 * they pinned their buffer's own 16 KiB block.
 */
export class RecvSlab {
  /** the slab blocks are carved from; null until the first carve and when forgotten */
  slab: Uint8Array | null = null;
  /** bytes of `slab` carved (regions below are handed out or given to a buffer) */
  used = 0;
  /** buffers whose current block lies in `slab` */
  holders = 0;
  /** a block was carved since the previous `onTimers` */
  private carved = false;

  /** A region of BLOCK bytes for a buffer: its start (the slab is `slab` after the call). */
  carve(): number {
    let at = this.used;
    if (this.slab === null || at + BLOCK > SLAB) {
      this.slab = new Uint8Array(SLAB);
      this.holders = 0; // buffers in the previous slab stay there; they no longer count here
      at = 0;
    }
    this.used = at + BLOCK;
    this.holders++;
    this.carved = true;
    return at;
  }

  /** A buffer leaves its block [start, start + BLOCK) of `block`, having used `used` bytes of it. */
  giveBack(block: Uint8Array, start: number, used: number): void {
    if (block !== this.slab) return; // a slab already replaced or forgotten
    this.holders--;
    if (this.used === start + BLOCK) this.used = start + used;
  }

  /**
   * The connection's timers ran: a slab no buffer uses is forgotten when nothing was carved from
   * it since the previous run, or when `quiet` (the keepalive timer expired: nothing was sent,
   * not even an ACK, for the keepalive period). Not per packet for a reader that keeps up at any
   * rate, even with a timer per packet (pacing a transfer the other way): each packet carves.
   */
  onTimers(quiet: boolean): void {
    if (this.holders === 0 && (quiet || !this.carved)) this.forget();
    this.carved = false;
  }

  /** Forgets the slab (buffers still in it keep their blocks; nothing in it is rewritten). */
  forget(): void {
    this.slab = null;
    this.used = 0;
    this.holders = 0;
  }
}

/**
 * Reassembly buffer of a stream (or message): out-of-order chunks, trimmed so no byte is held
 * twice (a peer cannot amplify memory with overlapping frames), read back in order. Memory is
 * bounded by the flow-control limit the caller enforces before inserting.
 */
export class RecvBuffer {
  // chunks [head, length) are held; a head index instead of shift(), which copies the array
  // once it is long (a reader that lags behind a large window leaves hundreds of chunks)
  private offs: number[] = [];
  private datas: Uint8Array[] = [];
  private head = 0;
  /** the slab of the block in-order copies go to (null: none), where the block starts in it, its
   * bytes used, and the chunk that ends at blockUsed (the last chunk, while nothing else
   * replaced it) */
  private block: Uint8Array | null = null;
  private blockStart = 0;
  private blockUsed = 0;
  private tail: Uint8Array | null = null;
  /** bytes below this were read */
  readOffset = 0;
  /** bytes held */
  bufferedBytes = 0;

  /** `slabs`: where blocks come from, the connection's (every buffer of one connection shares
   * it; never one of another connection); a standalone buffer has its own */
  constructor(private readonly slabs: RecvSlab = new RecvSlab()) {}

  /** Inserts `data` at `offset`; returns the number of new bytes stored. */
  insert(offset: number, data: Uint8Array): number {
    let s = offset;
    const e = offset + data.length;
    if (s < this.readOffset) s = this.readOffset;
    if (s >= e) return 0;
    const offs = this.offs;
    const n = offs.length;
    // fast path: in-order append
    if (n === this.head || s >= offs[n - 1]! + this.datas[n - 1]!.length) {
      this.append(s, data, s - offset);
      this.bufferedBytes += e - s;
      return e - s;
    }
    this.tail = null;
    // general path: fill the gaps between existing chunks
    let lo = this.head;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (offs[mid]! + this.datas[mid]!.length <= s) lo = mid + 1;
      else hi = mid;
    }
    let added = 0;
    let i = lo;
    let pos = s;
    while (pos < e) {
      const cs = i < offs.length ? offs[i]! : Number.POSITIVE_INFINITY;
      if (pos < cs) {
        const gapEnd = Math.min(e, cs);
        offs.splice(i, 0, pos);
        this.datas.splice(i, 0, keep(data, pos - offset, gapEnd - offset));
        added += gapEnd - pos;
        pos = gapEnd;
        i++;
      } else {
        pos = Math.max(pos, cs + this.datas[i]!.length);
        i++;
      }
    }
    this.bufferedBytes += added;
    return added;
  }

  /**
   * Appends `data[from..]` at stream offset `s` (at or beyond the end of every held chunk): as a
   * view when that is worth it, else copied into the current block, extending the last chunk
   * when it is the block's previous copy and the bytes follow on.
   */
  private append(s: number, data: Uint8Array, from: number): void {
    const len = data.length - from;
    const datas = this.datas;
    if (len > BLOCK >>> 2 || viewWorthKeeping(data, len)) {
      this.offs.push(s);
      datas.push(from === 0 ? data : data.subarray(from));
      this.tail = null;
      return;
    }
    let block = this.block;
    if (block === null || this.blockUsed + len > BLOCK) {
      this.releaseBlock();
      const slabs = this.slabs;
      this.blockStart = slabs.carve();
      block = this.block = slabs.slab!;
      this.blockUsed = 0;
      this.tail = null;
    }
    const used = this.blockUsed;
    const at = this.blockStart + used;
    block.set(from === 0 ? data : data.subarray(from), at);
    this.blockUsed = used + len;
    const last = datas.length - 1;
    const tail = this.tail;
    if (tail !== null && last >= this.head && datas[last] === tail && this.offs[last]! + tail.length === s) {
      this.tail = datas[last] = block.subarray(at - tail.length, at + len);
    } else {
      this.offs.push(s);
      this.tail = block.subarray(at, at + len);
      datas.push(this.tail);
    }
  }

  /** Bytes readable in order now. */
  contiguous(): number {
    let n = 0;
    let at = this.readOffset;
    for (let i = this.head; i < this.offs.length && this.offs[i] === at; i++) {
      const len = this.datas[i]!.length;
      n += len;
      at += len;
    }
    return n;
  }

  hasReadable(): boolean {
    return this.offs.length > this.head && this.offs[this.head] === this.readOffset;
  }

  /** Reads up to `max` in-order bytes, or null when none are available. */
  read(max: number): Uint8Array | null {
    return this.readUpTo(max, false);
  }

  /**
   * Like {@link read}, but a first chunk of at least half a block comes back alone, as a view
   * (fewer bytes than are readable): a stream reader loops anyway, and concatenating blocks
   * would copy every byte once more.
   */
  readView(max: number): Uint8Array | null {
    return this.readUpTo(max, true);
  }

  private readUpTo(max: number, view: boolean): Uint8Array | null {
    if (!this.hasReadable() || max <= 0) return null;
    const h = this.head;
    const first = this.datas[h]!;
    if (
      first.length >= max ||
      (view && first.length >= BLOCK >>> 1) ||
      this.offs.length === h + 1 ||
      this.offs[h + 1] !== this.readOffset + first.length
    ) {
      const n = Math.min(max, first.length);
      const out = first.subarray(0, n);
      if (n === first.length) this.drop();
      else {
        this.datas[h] = first.subarray(n);
        this.offs[h] = this.readOffset + n;
      }
      this.readOffset += n;
      this.bufferedBytes -= n;
      return out;
    }
    const total = Math.min(max, this.contiguous());
    const out = new Uint8Array(total);
    let filled = 0;
    while (filled < total) {
      const i = this.head;
      const d = this.datas[i]!;
      const n = Math.min(d.length, total - filled);
      out.set(n === d.length ? d : d.subarray(0, n), filled);
      filled += n;
      if (n === d.length) this.drop();
      else {
        this.datas[i] = d.subarray(n);
        this.offs[i] = this.readOffset + filled;
      }
    }
    this.readOffset += total;
    this.bufferedBytes -= total;
    return out;
  }

  /** Forgets the first held chunk; compacts the arrays once half of them are read. */
  private drop(): void {
    this.datas[this.head] = EMPTY;
    this.head++;
    if (this.head === this.offs.length) {
      this.offs.length = 0;
      this.datas.length = 0;
      this.head = 0;
      // nothing held: the block goes too (an idle stream holds no memory; views read from it
      // keep it alive for as long as the reader keeps them)
      this.releaseBlock();
      this.tail = null;
    } else if (this.head >= 64 && this.head * 2 >= this.offs.length) {
      this.offs.splice(0, this.head);
      this.datas.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Leaves the block; its unused end goes back to the slab when it is the slab's last carve. */
  private releaseBlock(): void {
    const block = this.block;
    if (block === null) return;
    this.slabs.giveBack(block, this.blockStart, this.blockUsed);
    this.block = null;
  }

  clear(): void {
    this.offs = [];
    this.datas = [];
    this.head = 0;
    this.releaseBlock();
    this.tail = null;
    this.bufferedBytes = 0;
  }
}
