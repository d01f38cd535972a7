#!/usr/bin/env python3
"""gen_virtqueue_corpus: writes the seed corpus fuzz/corpus/virtqueue/ for
fuzz_virtqueue (see the input layout in fuzz/fuzz_virtqueue.c): a few healthy
ring layouts and one of each kind of malformed ring. Run it from anywhere;
it rewrites the seeds in place (they are committed; rerun only to change
them). Descriptor encoding and writing the corpus: corpus_ring.py."""
import struct

from corpus_ring import INDIRECT, NEXT, WRITE, desc, write_seeds

HDR = 8
A_SIZE = 0x2000
B_GPA = 0x3000
F_INDIRECT, F_EVENT_IDX, F_ADDRS, F_UNPOP, F_NOKICK = 1, 2, 4, 8, 16


class Ring:
    """Region A of fake guest memory with the fuzzer's default ring layout."""

    def __init__(self, size_log2, flags=0):
        self.size = 1 << size_log2
        self.hdr = bytearray([size_log2, flags, 0, 0, 0, 0, 0, 0])
        self.mem = bytearray(A_SIZE)
        self.desc = 0
        self.avail = 16 * self.size
        self.used = (self.avail + 6 + 2 * self.size + 3) & ~3
        self.data = (self.used + 6 + 8 * self.size + 15) & ~15
        self.idx = 0
        self.end = self.used  # bytes worth keeping in the seed

    def put(self, gpa, blob):
        self.mem[gpa:gpa + len(blob)] = blob
        self.end = max(self.end, gpa + len(blob))

    def d(self, table, i, addr, length, flags=0, nxt=0):
        self.put(table + 16 * i, desc(addr, length, flags, nxt))

    def post(self, head):
        self.put(self.avail + 4 + 2 * (self.idx % self.size), struct.pack('<H', head))
        self.idx += 1
        self.put(self.avail + 2, struct.pack('<H', self.idx & 0xffff))

    def buf(self, k, length=0x20):
        """Address of the k-th data buffer after the rings."""
        return self.data + 0x40 * k

    def blob(self):
        return bytes(self.hdr + self.mem[:self.end])


def direct_out_in():
    r = Ring(4)
    r.d(0, 0, r.buf(0), 16, NEXT, 1)
    r.d(0, 1, r.buf(1), 0x40, NEXT | WRITE, 2)
    r.d(0, 2, r.buf(2), 1, WRITE)
    r.post(0)
    return r


def many_chains():
    r = Ring(3, F_EVENT_IDX)
    for i in range(8):
        r.d(0, i, r.buf(i), 0x10 + i, WRITE if i % 2 else 0)
        r.post(i)
    return r


def indirect():
    r = Ring(4, F_INDIRECT | F_EVENT_IDX | F_UNPOP)
    table = r.buf(8)
    r.d(0, 0, table, 48, INDIRECT)
    r.d(table, 0, r.buf(0), 16, NEXT, 1)
    r.d(table, 1, r.buf(1), 0x200, NEXT | WRITE, 2)
    r.d(table, 2, B_GPA + 0xf00, 0x100, WRITE)
    r.post(0)
    r.d(0, 1, r.buf(2), 8, NEXT, 2)
    r.d(0, 2, table + 32, 16, INDIRECT)  # just the last entry
    r.post(1)
    return r


def indirect_in_b():
    # B starts as a copy of A, so B_GPA + x holds whatever A holds at x:
    # point an indirect table at the copy of descriptors 4..5.
    r = Ring(4, F_INDIRECT)
    r.d(0, 0, B_GPA + 16 * 4, 32, INDIRECT)
    r.d(0, 4, r.buf(0), 16, NEXT, 1)
    r.d(0, 5, r.buf(1), 16, WRITE)
    r.post(0)
    return r


def big_ring():
    r = Ring(8, F_EVENT_IDX | F_NOKICK)
    for i in range(4):
        r.d(0, 200 + i, r.buf(i), 0x40, WRITE)
        r.post(200 + i)
    return r


def tiny_ring():
    r = Ring(0)
    r.d(0, 0, r.buf(0), 0, WRITE)
    r.post(0)
    return r


def custom_addresses():
    r = Ring(2, F_ADDRS)
    r.hdr[2:8] = struct.pack('<HHH', 0x100, 0x200, 0x300)
    r.avail, r.used = 0x200, 0x300
    r.d(0x100, 0, 0x1000, 0x10, WRITE)
    r.post(0)
    return r


def bad_loop():
    r = Ring(4)
    r.d(0, 0, r.buf(0), 16, NEXT, 1)
    r.d(0, 1, r.buf(1), 16, NEXT, 0)
    r.post(0)
    return r


def bad_nested_indirect():
    r = Ring(4, F_INDIRECT)
    t1, t2 = r.buf(8), r.buf(10)
    r.d(0, 0, t1, 32, INDIRECT)
    r.d(t1, 0, r.buf(0), 16, NEXT, 1)
    r.d(t1, 1, t2, 16, INDIRECT)
    r.d(t2, 0, r.buf(1), 16, WRITE)
    r.post(0)
    return r


def bad_address():
    r = Ring(4)
    r.d(0, 0, 0x1f00, 0x200, WRITE)  # across the end of A into the gap
    r.post(0)
    return r


def bad_overflow():
    r = Ring(4)
    r.d(0, 0, 0xfffffffffffff000, 0x2000)
    r.post(0)
    return r


def bad_read_after_write():
    r = Ring(4)
    r.d(0, 0, r.buf(0), 16, WRITE | NEXT, 1)
    r.d(0, 1, r.buf(1), 16)
    r.post(0)
    return r


def bad_avail_idx():
    r = Ring(4)
    r.d(0, 0, r.buf(0), 16)
    r.post(0)
    r.put(r.avail + 2, struct.pack('<H', 40))
    return r


def bad_indirect_len():
    r = Ring(4, F_INDIRECT)
    r.d(0, 0, r.buf(8), 24, INDIRECT)
    r.post(0)
    return r


SEEDS = {
    'direct-out-in': direct_out_in,
    'many-chains': many_chains,
    'indirect': indirect,
    'indirect-in-b': indirect_in_b,
    'big-ring': big_ring,
    'tiny-ring': tiny_ring,
    'custom-addresses': custom_addresses,
    'bad-loop': bad_loop,
    'bad-nested-indirect': bad_nested_indirect,
    'bad-address': bad_address,
    'bad-overflow': bad_overflow,
    'bad-read-after-write': bad_read_after_write,
    'bad-avail-idx': bad_avail_idx,
    'bad-indirect-len': bad_indirect_len,
}


def main():
    write_seeds('virtqueue', {name: build().blob() for name, build in SEEDS.items()})


if __name__ == '__main__':
    main()
