#!/usr/bin/env python3
"""gen_vballoon_corpus: writes the seed corpus fuzz/corpus/vballoon/
(fuzz_vballoon; input layout at the top of fuzz/fuzz_vballoon.c): inflate
and deflate buffers of PFNs (in and out of RAM, across the two regions,
split over segments, odd lengths), statistics buffers (whole, short, with
unknown tags) held and replaced, free page reporting chains, balloon_set and
configuration writes, and a few malformed chains. Run it from anywhere; it
rewrites the seeds in place (they are committed; rerun only to change them).
The ring image and the seed layout: corpus_ring.py."""
import struct

from corpus_ring import RingImage, write_seeds

INFLATE, DEFLATE, STATS, REPORT = 0, 1, 2, 3
EVT, IND, F_STATS, F_REPORT, RESET = 1, 2, 4, 8, 16


class Mem(RingImage):
    """Guest RAM image with the harness's four rings."""

    def __init__(self, qlog2):
        super().__init__(qlog2, 4, 0x4000)

    def pfns(self, q, pfns, split=0):
        blob = b''.join(struct.pack('<I', p) for p in pfns)
        gpa = self.alloc(len(blob), blob)
        if split:
            self.chain(q, [(gpa, split, False), (gpa + split, len(blob) - split, False)])
        else:
            self.chain(q, [(gpa, len(blob), False)])

    def stats(self, entries, extra=b''):
        blob = b''.join(struct.pack('<HQ', t, v) for t, v in entries) + extra
        self.chain(STATS, [(self.alloc(len(blob), blob), len(blob), False)])

    def script(self, flags, qlog2, steps):
        return self.seed(flags, qlog2, bytes(steps))


def seeds():
    out = {}
    m = Mem(4)
    m.pfns(INFLATE, [5, 6, 7, 4, 5, 15, 16, 17, 20, 0xffffffff, 0x100000], split=6)
    m.pfns(DEFLATE, [5, 6, 7, 99])
    out['inflate-deflate'] = m.script(EVT, 4, [4 | (16 << 3), 0, 1, 6, 5 | (4 << 3), 6])
    m = Mem(3)
    m.stats([(0, 1), (4, 1 << 30), (5, 1 << 31), (77, 3)], b'\x01\x02\x03')
    m.stats([(6, 5)])
    m.stats([(1, 2)], b'')
    out['stats'] = m.script(EVT | F_STATS, 3, [2, 6, 2, 6, 7])
    m = Mem(3)
    m.chain(REPORT, [(0x8000, 0x3000, True), (0xe800, 0x1800, True)])
    m.chain(REPORT, [(0x4100, 0x100, False)])
    out['report'] = m.script(F_STATS | F_REPORT, 3, [3, 6, 7])
    m = Mem(2)
    m.pfns(INFLATE, [1, 2])
    m.chain(INFLATE, [(0x4000, 8, False), (0x4010, 8, True)])
    out['bad-direction'] = m.script(IND, 2, [0, 0, 6])
    m = Mem(4)
    for i in range(8):
        m.pfns(INFLATE if i % 2 == 0 else DEFLATE, list(range(i, i + 12)))
    out['reset'] = m.script(EVT | F_STATS | RESET, 4, [0, 1, 4 | (31 << 3), 7, 0, 1, 7, 6])
    return out


def main():
    write_seeds('vballoon', seeds())


if __name__ == '__main__':
    main()
