#!/usr/bin/env python3
"""NFQUEUE delayer for the NAT lab (this kernel has no tc netem, NATLAB-NOTES section 4).

Binds one netfilter queue over a raw AF_NETLINK socket (standard library only), receives packet
ids in metadata-only copy mode and issues each packet's NF_ACCEPT verdict after its own delay:
delay +- uniform jitter; with probability `reorder` a packet gets no delay (netem's reorder).
Jitter larger than the packet spacing reorders by itself. Bounded: at most --max-pending packets
are held; beyond that they pass at once. Fail-open: the queue is configured with
NFQA_CFG_F_FAIL_OPEN and the iptables rule uses --queue-bypass, so traffic passes unimpaired if
this process is slow or gone. On SIGTERM/SIGINT every held packet is accepted before exiting.

Prints {"t":"ready"} on stdout once bound; {"t":"stats",...} on exit.
"""
import argparse
import errno
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_CFG_CMD_UNBIND = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQA_CFG_QUEUE_MAXLEN = 3
NFQA_CFG_MASK = 4
NFQA_CFG_FLAGS = 5
NFQA_CFG_F_FAIL_OPEN = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2
NLMSG_DONE = 3
SO_RCVBUFFORCE = 33
AF_INET = 2


def nla(atype, payload):
    ln = 4 + len(payload)
    pad = (4 - ln % 4) % 4
    return struct.pack('=HH', ln, atype) + payload + b'\0' * pad


class Queue:
    def __init__(self, num):
        self.num = num
        self.seq = 0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 16 * 1024 * 1024)
                break
            except OSError:
                pass
        self.sock.bind((0, 0))

    def msg(self, mtype, attrs, flags=NLM_F_REQUEST):
        self.seq += 1
        body = struct.pack('!BBH', AF_INET, 0, self.num) + b''.join(attrs)
        hdr = struct.pack('=IHHII', 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | mtype, flags, self.seq, 0)
        return hdr + body

    def request(self, attrs):
        """A config request with ACK; raises OSError on a netlink error."""
        self.sock.send(self.msg(NFQNL_MSG_CONFIG, attrs, NLM_F_REQUEST | NLM_F_ACK))
        seq = self.seq
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            data = self.sock.recv(65536)
            off = 0
            while off + 16 <= len(data):
                ln, mtype, _flags, mseq, _pid = struct.unpack_from('=IHHII', data, off)
                if mtype == NLMSG_ERROR and mseq == seq:
                    (err,) = struct.unpack_from('=i', data, off + 16)
                    if err != 0:
                        raise OSError(-err, os.strerror(-err))
                    return
                off += (ln + 3) & ~3
        raise OSError(errno.ETIMEDOUT, 'no netlink ack')

    def bind(self):
        self.request([nla(NFQA_CFG_CMD, struct.pack('!BBH', NFQNL_CFG_CMD_BIND, 0, AF_INET))])
        self.request([nla(NFQA_CFG_PARAMS, struct.pack('!IB', 0xFFFF, NFQNL_COPY_META) + b'\0\0\0')])
        self.request([nla(NFQA_CFG_QUEUE_MAXLEN, struct.pack('!I', 20000))])
        self.request([
            nla(NFQA_CFG_MASK, struct.pack('!I', NFQA_CFG_F_FAIL_OPEN)),
            nla(NFQA_CFG_FLAGS, struct.pack('!I', NFQA_CFG_F_FAIL_OPEN)),
        ])

    def unbind(self):
        try:
            self.sock.send(self.msg(NFQNL_MSG_CONFIG, [nla(NFQA_CFG_CMD, struct.pack('!BBH', NFQNL_CFG_CMD_UNBIND, 0, AF_INET))]))
        except OSError:
            pass

    def verdict(self, pid):
        self.sock.send(self.msg(NFQNL_MSG_VERDICT, [nla(NFQA_VERDICT_HDR, struct.pack('!II', NF_ACCEPT, pid))]))

    def packets(self, data):
        """Packet ids in one recv buffer."""
        out = []
        off = 0
        while off + 16 <= len(data):
            ln, mtype, _flags, _seq, _pid = struct.unpack_from('=IHHII', data, off)
            if ln < 16:
                break
            if mtype == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                a = off + 20
                end = off + ln
                while a + 4 <= end:
                    alen, atype = struct.unpack_from('=HH', data, a)
                    if alen < 4:
                        break
                    if (atype & 0x7FFF) == NFQA_PACKET_HDR:
                        (pkt_id,) = struct.unpack_from('!I', data, a + 4)
                        out.append(pkt_id)
                        break
                    a += (alen + 3) & ~3
            off += (ln + 3) & ~3
        return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--queue', type=int, required=True)
    ap.add_argument('--delay', type=float, default=0.0, help='ms')
    ap.add_argument('--jitter', type=float, default=0.0, help='+- ms, uniform')
    ap.add_argument('--reorder', type=float, default=0.0, help='percent sent without delay')
    ap.add_argument('--max-pending', type=int, default=50000)
    ap.add_argument('--seed', type=int, default=None)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    q = Queue(args.queue)
    q.bind()
    q.sock.setblocking(False)
    heap = []  # (due, seq, packet id)
    n = 0
    stats = {'packets': 0, 'immediate': 0, 'overflow': 0, 'enobufs': 0}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    print(json.dumps({'t': 'ready', 'queue': args.queue}), flush=True)
    while not stop:
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, pid = heapq.heappop(heap)
            try:
                q.verdict(pid)
            except BlockingIOError:
                time.sleep(0.0005)
                q.verdict(pid)
        timeout = max(0.0, heap[0][0] - time.monotonic()) if heap else 0.5
        try:
            ready, _, _ = select.select([q.sock], [], [], timeout)
        except InterruptedError:
            continue
        if not ready:
            continue
        for _ in range(256):
            try:
                data = q.sock.recv(262144)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    stats['enobufs'] += 1
                    continue
                raise
            now = time.monotonic()
            for pid in q.packets(data):
                stats['packets'] += 1
                d = args.delay
                if args.jitter:
                    d += rng.uniform(-args.jitter, args.jitter)
                if args.reorder and rng.random() * 100 < args.reorder:
                    d = 0
                if d <= 0 or len(heap) >= args.max_pending:
                    if d > 0:
                        stats['overflow'] += 1
                    stats['immediate'] += 1
                    q.verdict(pid)
                else:
                    n += 1
                    heapq.heappush(heap, (now + d / 1000.0, n, pid))
    # Accept everything still held: unbinding would drop it.
    q.sock.setblocking(True)
    while heap:
        q.verdict(heapq.heappop(heap)[2])
    q.unbind()
    stats['t'] = 'stats'
    print(json.dumps(stats), flush=True)


if __name__ == '__main__':
    try:
        main()
    except BrokenPipeError:
        sys.exit(0)
