"""corpus_ring: what the seed corpus generators of fuzz/ share: the split
ring's descriptor encoding (16 bytes: le64 addr, le32 len, le16 flags,
le16 next), RingImage (a guest RAM image that grows as it is written, with
the device harnesses' rings at 0x1000 * q: desc +0x0, avail +0x400,
used +0x800, a bump allocator and chains published in the avail ring, and
the seed layout [b0, b1, le16 image length, extra header, image, tail]),
and writing a corpus directory next to this file. Imported by
gen_vnet_corpus.py, gen_vvsock_corpus.py, gen_vballoon_corpus.py,
gen_vblk_corpus.py and gen_virtqueue_corpus.py."""
import os
import struct

NEXT, WRITE, INDIRECT = 1, 2, 4


def desc(addr, length, flags=0, nxt=0):
    """One descriptor's 16 bytes."""
    return struct.pack('<QIHH', addr, length, flags, nxt)


def ring_addrs(q):
    """Where the device harnesses put ring q: (desc, avail, used)."""
    return 0x1000 * q, 0x1000 * q + 0x400, 0x1000 * q + 0x800


class RingImage:
    """Guest RAM from address 0, as long as what was written, with nrings
    rings of 1 << qlog2 entries and buffers allocated from `data` on."""

    def __init__(self, qlog2, nrings, data):
        self.size = 1 << qlog2
        self.mem = bytearray(data)
        self.idx = [0] * nrings
        self.next = [0] * nrings
        self.data = data

    def put(self, gpa, blob):
        if gpa + len(blob) > len(self.mem):
            self.mem.extend(bytes(gpa + len(blob) - len(self.mem)))
        self.mem[gpa:gpa + len(blob)] = blob

    def alloc(self, n, blob=None):
        """n bytes at the next 16-byte boundary, holding blob if given."""
        gpa = self.data
        self.data = (self.data + n + 15) & ~15
        if blob is not None:
            self.put(gpa, blob)
        return gpa

    def d(self, table, i, addr, length, flags=0, nxt=0):
        """Descriptor i of the table at guest address table."""
        self.put(table + 16 * i, desc(addr, length, flags, nxt))

    def post(self, q, head):
        """Make head available on ring q."""
        avail = ring_addrs(q)[1]
        self.put(avail + 4 + 2 * (self.idx[q] % self.size), struct.pack('<H', head))
        self.idx[q] += 1
        self.put(avail + 2, struct.pack('<H', self.idx[q]))

    def chain(self, q, segs, link_last=False):
        """segs: (addr, len, write), linked from ring q's next free slot and
        posted. The last descriptor's next is 0, or the following slot with
        link_last."""
        table, first = ring_addrs(q)[0], self.next[q]
        for k, (addr, length, write) in enumerate(segs):
            i = (first + k) % self.size
            last = k + 1 == len(segs)
            nxt = 0 if last and not link_last else (i + 1) % self.size
            self.d(table, i, addr, length, (0 if last else NEXT) | (WRITE if write else 0), nxt)
        self.next[q] = (first + len(segs)) % self.size
        self.post(q, first)

    def image(self):
        return bytes(self.mem[:0xffff])

    def seed(self, b0, b1, tail=b'', extra=b''):
        """[b0, b1, le16 image length] + extra + image + tail."""
        img = self.image()
        return bytes([b0, b1]) + struct.pack('<H', len(img)) + extra + img + tail


def write_seeds(kind, seeds):
    """Write {name: bytes} to fuzz/corpus/<kind>/, replacing what is there."""
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', kind)
    os.makedirs(d, exist_ok=True)
    for name, blob in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(blob)
