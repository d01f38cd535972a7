#!/usr/bin/env python3
"""gen_vblk_corpus: writes the seed corpus fuzz/corpus/vblk/ for fuzz_vblk
(see the input layout in fuzz/fuzz_vblk.c): healthy requests of every type
on each device, requests split and shaped in unusual ways, and malformed
ones. Run it from anywhere; it rewrites the seeds in place (they are
committed; rerun only to change them). Descriptor encoding and writing the
corpus: corpus_ring.py."""
import struct

from corpus_ring import INDIRECT, NEXT, WRITE, desc, write_seeds

RAM = 0x10000
DESC, AVAIL, USED, DATA = 0x0, 0x1000, 0x1800, 0x2100
F_INDIRECT, F_EVENT_IDX, F_NOFLUSH, F_NODISCARD, F_RESET = 4, 8, 16, 32, 64
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 4, 8, 11, 13


class Ring:
    """Guest RAM with the harness's fixed ring layout and a bump allocator."""

    def __init__(self, dev=0, flags=0, size_log2=8):
        self.size = 1 << size_log2
        self.hdr = bytes([dev | flags, size_log2])
        self.mem = bytearray(RAM)
        self.next_desc = 0
        self.idx = 0
        self.heap = DATA
        self.end = USED

    def put(self, gpa, blob):
        self.mem[gpa:gpa + len(blob)] = blob
        self.end = max(self.end, gpa + len(blob))

    def alloc(self, length, align=16, skew=0):
        gpa = ((self.heap + align - 1) & ~(align - 1)) + skew
        self.heap = gpa + length
        assert self.heap <= RAM
        return gpa

    def chain(self, segs, table=None):
        """segs: (gpa, len, write). Direct descriptors, or an indirect table."""
        if table is not None:
            t = self.alloc(16 * len(segs), 16)
            for i, (gpa, length, w) in enumerate(segs):
                fl = (WRITE if w else 0) | (NEXT if i + 1 < len(segs) else 0)
                self.put(t + 16 * i, desc(gpa, length, fl, i + 1))
            segs = [(t, 16 * len(segs), None)]
        head = self.next_desc % self.size
        for i, (gpa, length, w) in enumerate(segs):
            idx = (head + i) % self.size
            fl = INDIRECT if w is None else (WRITE if w else 0)
            if i + 1 < len(segs):
                fl |= NEXT
            self.put(DESC + 16 * idx, desc(gpa, length, fl, (idx + 1) % self.size))
        self.next_desc += len(segs)
        self.put(AVAIL + 4 + 2 * (self.idx % self.size), struct.pack('<H', head))
        self.idx += 1
        self.put(AVAIL + 2, struct.pack('<H', self.idx & 0xffff))

    def header(self, rtype, sector):
        h = self.alloc(16)
        self.put(h, struct.pack('<IIQ', rtype, 0, sector))
        return h

    def req(self, rtype, sector, data=(), indirect=False):
        """data: (len, write, skew) segments between header and status."""
        segs = [(self.header(rtype, sector), 16, False)]
        for length, w, skew in data:
            gpa = self.alloc(length, 512, skew)
            if not w:
                self.put(gpa, bytes((gpa + i) & 0xff for i in range(length)))
            segs.append((gpa, length, w))
        segs.append((self.alloc(1, 1), 1, True))
        self.chain(segs, table=True if indirect else None)

    def segs_req(self, rtype, segs):
        body = b''.join(struct.pack('<QII', s, n, f) for s, n, f in segs)
        h = self.header(rtype, 0)
        p = self.alloc(len(body))
        self.put(p, body)
        self.chain([(h, 16, False), (p, len(body), False), (self.alloc(1, 1), 1, True)])

    def blob(self):
        return self.hdr + bytes(self.mem[:self.end])


def rw(dev, flags=0):
    r = Ring(dev, flags)
    r.req(T_OUT, 8, [(4096, False, 0)])
    r.req(T_OUT, 17, [(1000, False, 3), (24, False, 0)])
    r.req(T_IN, 8, [(2048, True, 0), (2048, True, 0)])
    r.req(T_IN, 16, [(512, True, 7)])
    r.req(T_FLUSH, 0)
    return r


def all_types(dev):
    r = Ring(dev, F_INDIRECT | F_EVENT_IDX)
    r.req(T_GET_ID, 0, [(20, True, 0)])
    r.segs_req(T_WZ, [(32, 16, 1), (100, 3, 0)])
    r.segs_req(T_DISCARD, [(64, 64, 0), (200, 8, 0)])
    r.req(T_OUT, 40, [(8192, False, 0)], indirect=True)
    r.req(T_IN, 40, [(8192, True, 0)], indirect=True)
    r.req(T_FLUSH, 0)
    r.req(0x1234, 0)
    return r


def malformed(dev):
    r = Ring(dev, F_INDIRECT)
    r.req(T_OUT, 0, [(100, False, 0)])            # not a multiple of 512
    r.req(T_IN, 511, [(4096, True, 0)])           # past the end
    r.req(T_IN, (1 << 64) - 1, [(512, True, 0)])  # sector overflow
    r.segs_req(T_DISCARD, [(0, 8, 1)])            # unmap on discard
    r.segs_req(T_WZ, [(0, 8, 6)])                 # unknown flag
    h = r.header(T_IN, 0)
    r.chain([(h, 8, False), (r.alloc(1, 1), 1, True)])   # short header
    r.chain([(r.header(T_OUT, 0), 16, False), (r.alloc(512), 512, False)])  # no status
    return r


def split_header(dev):
    r = Ring(dev, 0, 4)
    h = r.header(T_OUT, 3)
    d = r.alloc(1024)
    r.put(d, bytes(range(256)) * 4)
    r.chain([(h, 5, False), (h + 5, 7, False), (h + 12, 4, False), (d, 1024, False),
             (r.alloc(1, 1), 1, True)])
    h = r.header(T_IN, 3)
    r.chain([(h, 16, False), (r.alloc(1025), 1025, True)])   # data + status in one
    return r


def reset_in_flight(dev):
    r = Ring(dev, F_RESET, 6)
    for i in range(16):
        r.req(T_IN if i % 2 else T_OUT, 8 * i, [(2048, bool(i % 2), i % 3)])
    return r


def write_through(dev):
    r = Ring(dev, F_NOFLUSH | F_NODISCARD)
    r.req(T_OUT, 100, [(512, False, 1)])
    r.segs_req(T_DISCARD, [(0, 8, 0)])
    return r


def main():
    seeds = {}
    for dev, name in enumerate(['raw', 'raw-direct', 'qcow2', 'qcow2-direct']):
        seeds['rw-' + name] = rw(dev)
        seeds['types-' + name] = all_types(dev)
        seeds['malformed-' + name] = malformed(dev)
        seeds['split-' + name] = split_header(dev)
        seeds['reset-' + name] = reset_in_flight(dev)
    seeds['write-through'] = write_through(0)
    write_seeds('vblk', {name: ring.blob() for name, ring in seeds.items()})


if __name__ == '__main__':
    main()
