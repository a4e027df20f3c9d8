/**
 * Direct sends through a dgram socket's descriptor (segmentation offload, gso.ts): which queued
 * datagrams form a run, sending it, and what each refusal means for later runs. UdpTransport owns
 * the queue and node:dgram; this owns the descriptor, the runs and their counters.
 */
import type { Socket } from 'node:dgram';
import { errnoName, GSO_MAX_BYTES, GSO_MAX_SEGMENTS, type GsoBinding, socketFd } from './gso.js';

export class DirectSender {
  /** the socket's descriptor, or -1: nothing is sent directly */
  #fd = -1;
  /** datagrams longer than this are not segmented (the kernel refused that size: EINVAL) */
  #maxSegment = GSO_MAX_BYTES;
  /** datagrams and bytes the kernel took directly (part of the transport's sent / bytesSent) */
  sent = 0;
  bytes = 0;
  /** sendmsg calls with more than one datagram, and the datagrams they carried */
  segmentedSends = 0;
  segmentedDatagrams = 0;
  readonly errors: Record<string, number> = Object.create(null) as Record<string, number>;

  constructor(private readonly binding: GsoBinding) {}

  get active(): boolean {
    return this.#fd >= 0;
  }

  /** Uses `socket`'s descriptor from now on, when the kernel accepts UDP_SEGMENT on it. */
  attach(socket: Socket): void {
    this.#fd = -1;
    const fd = socketFd(socket);
    if (fd < 0) return;
    const r = this.binding.supported(fd);
    if (r === 0) this.#fd = fd;
    else this.#count(errnoName(r));
  }

  /** No direct send after this: once dgram closes the socket its descriptor number may be reused. */
  detach(): void {
    this.#fd = -1;
  }

  #count(code: string): void {
    this.errors[code] = (this.errors[code] ?? 0) + 1;
  }

  /**
   * Sends the run starting at data[i] (before `end`): consecutive datagrams for its destination,
   * each as long as the first but the last, at most GSO_MAX_SEGMENTS and GSO_MAX_BYTES. Returns
   * how many the kernel took (> 0), or minus the run's length when it refused them: the caller
   * sends those through node:dgram, which reports per datagram.
   */
  sendRun(data: Uint8Array[], hosts: string[], ports: number[], i: number, end: number): number {
    const host = hosts[i]!;
    const port = ports[i]!;
    const segment = data[i]!.length;
    // (empty datagrams and scoped IPv6 literals, fe80::1%eth0, are left to dgram)
    if (segment === 0 || host.includes('%')) return -1;
    let n = 1;
    if (segment <= this.#maxSegment) {
      let bytes = segment;
      for (let j = i + 1; j < end && n < GSO_MAX_SEGMENTS; j++) {
        const len = data[j]!.length;
        if (ports[j] !== port || hosts[j] !== host || len > segment || bytes + len > GSO_MAX_BYTES) break;
        bytes += len;
        n++;
        if (len < segment) break;
      }
    }
    const r = this.binding.send(this.#fd, host, port, segment, data, i, n);
    if (r >= 0) {
      this.sent += n;
      this.bytes += r;
      if (n > 1) {
        this.segmentedSends++;
        this.segmentedDatagrams += n;
      }
      return n;
    }
    const code = errnoName(r);
    this.#count(code);
    if (n > 1) {
      if (code === 'EIO' || code === 'EOPNOTSUPP' || code === 'ENOTSUP' || code === 'ENOPROTOOPT') {
        // the device or socket cannot segment (no checksum offload on the route's device…)
        this.#fd = -1;
      } else if (code === 'EINVAL') {
        // a segment too large for the route's MTU: keep segmenting smaller ones only
        this.#maxSegment = Math.min(this.#maxSegment, segment - 1);
      }
    }
    return -n;
  }
}
