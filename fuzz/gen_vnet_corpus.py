#!/usr/bin/env python3
"""gen_vnet_corpus: writes the seed corpora fuzz/corpus/vnet/ (fuzz_vnet) and
fuzz/corpus/vconsole/ (fuzz_vconsole); see the input layouts at the top of
fuzz/fuzz_vnet.c and fuzz/fuzz_vconsole.c. A few healthy rings (transmit
frames, receive buffers with packets to place: mergeable, direct, single
buffers; console output and input) and a few malformed ones. Run it from
anywhere; it rewrites the seeds in place (they are committed; rerun only to
change them)."""
import os
import struct

NEXT, WRITE, INDIRECT = 1, 2, 4
RX, TX = 0, 1
RINGS = {RX: (0x0, 0x400, 0x800), TX: (0x1000, 0x1400, 0x1800)}
HDR = 12

# fuzz_vnet byte 0
MRG, GCSUM, CSUM, HTSO, HECN, HUFO, F_IND, F_EVT = (1 << i for i in range(8))
# fuzz_vnet byte 1 (above the queue-size bits)
LINK_DOWN, RESET = 8, 16


class Mem:
    """Guest RAM image with the harnesses' two rings."""

    def __init__(self, qlog2):
        self.size = 1 << qlog2
        self.mem = bytearray(0x2000)
        self.idx = {RX: 0, TX: 0}
        self.data = 0x2000

    def put(self, gpa, blob):
        if gpa + len(blob) > len(self.mem):
            self.mem.extend(bytes(gpa + len(blob) - len(self.mem)))
        self.mem[gpa:gpa + len(blob)] = blob

    def alloc(self, n, blob=None):
        gpa = self.data
        self.data = (self.data + n + 15) & ~15
        if blob is not None:
            self.put(gpa, blob)
        return gpa

    def d(self, table, i, addr, length, flags=0, nxt=0):
        self.put(table + 16 * i, struct.pack('<QIHH', addr, length, flags, nxt))

    def post(self, q, head):
        avail = RINGS[q][1]
        self.put(avail + 4 + 2 * (self.idx[q] % self.size), struct.pack('<H', head))
        self.idx[q] += 1
        self.put(avail + 2, struct.pack('<H', self.idx[q]))

    def chain(self, q, first, segs):
        """segs: (addr, len, write) at descriptors first.. linked."""
        desc = RINGS[q][0]
        for k, (addr, length, write) in enumerate(segs):
            last = k + 1 == len(segs)
            self.d(desc, first + k, addr, length, (0 if last else NEXT) | (WRITE if write else 0),
                   0 if last else first + k + 1)
        self.post(q, first)

    def image(self):
        return bytes(self.mem[:0xffff])


def frame(n, seed=1):
    return bytes((i * 7 + seed) & 0xff for i in range(n))


def pkts(*sizes):
    out = b''
    for s in sizes:
        if s >= 0xfff0:
            out += struct.pack('<H', s)
        else:
            body = bytes(HDR) + frame(s - HDR)
            out += struct.pack('<H', len(body)) + body
    return out


def vnet_seed(b0, b1, mem, packets=b''):
    img = mem.image()
    return bytes([b0, b1]) + struct.pack('<H', len(img)) + img + packets


def vnet_seeds():
    seeds = {}
    base = MRG | CSUM | HTSO | F_EVT
    m = Mem(4)  # transmit: one frame, header and frame split in three
    buf = m.alloc(HDR + 100, bytes(HDR) + frame(100))
    m.chain(TX, 0, [(buf, 5, False), (buf + 5, 50, False), (buf + 55, HDR + 45, False)])
    for i in range(4):
        m.chain(RX, i, [(m.alloc(512), 512, True)])
    seeds['tx-split-rx-mergeable'] = vnet_seed(base, 4, m, pkts(HDR + 60, HDR + 1000))

    m = Mem(4)  # one receive buffer that takes any packet: direct reads
    m.chain(RX, 0, [(0x3000, 0x1c000, True)])
    seeds['rx-direct'] = vnet_seed(base | GCSUM, 4, m, pkts(HDR + 1500, HDR + 65000, 0xfff1))

    m = Mem(3)  # no mergeable buffers: one fits, one does not
    for i in range(2):
        m.chain(RX, i, [(m.alloc(HDR + 1514), HDR + 1514, True)])
    seeds['rx-single'] = vnet_seed(CSUM | F_EVT, 3, m, pkts(HDR + 1514, HDR + 2000, HDR + 60))

    m = Mem(4)  # transmit through an indirect table, offload header
    hdr = struct.pack('<BBHHHHH', 1, 0x81, 54, 1448, 34, 16, 0)
    buf = m.alloc(HDR + 200, hdr + frame(200))
    table = m.alloc(32)
    m.d(table, 0, buf, HDR, NEXT, 1)
    m.d(table, 1, buf + HDR, 200, 0, 0)
    m.d(RINGS[TX][0], 0, table, 32, INDIRECT, 0)
    m.post(TX, 0)
    seeds['tx-indirect-tso'] = vnet_seed(base | HECN | F_IND, 4, m)

    m = Mem(4)  # malformed: transmit chain loops, receive chain device-readable
    m.d(RINGS[TX][0], 0, m.alloc(72), 72, NEXT, 0)
    m.post(TX, 0)
    m.chain(RX, 0, [(m.alloc(64), 64, False), (m.alloc(512), 512, True)])
    seeds['bad-loop-and-rx-dir'] = vnet_seed(base, 4, m, pkts(HDR + 60))

    m = Mem(2)  # link down then up, reset half-way, tiny buffers, bad header
    m.chain(TX, 0, [(m.alloc(HDR + 60, bytes([0x80]) + bytes(HDR - 1) + frame(60)),
                     HDR + 60, False)])
    for i in range(4):
        m.chain(RX, i, [(m.alloc(16), 16, True)])
    seeds['link-reset-small'] = vnet_seed(base, 2 | LINK_DOWN | RESET, m,
                                          pkts(HDR + 60, HDR + 30))
    return seeds


def vcon_seeds():
    seeds = {}

    def seed(b0, b1, mem, data=b''):
        img = mem.image()
        return bytes([b0, b1]) + struct.pack('<H', len(img)) + img + data

    m = Mem(4)
    m.chain(TX, 0, [(m.alloc(6, b'hello '), 6, False), (m.alloc(6, b'world\n'), 6, False)])
    for i in range(3):
        m.chain(RX, i, [(m.alloc(8), 8, True)])
    seeds['out-and-in'] = seed(1, 4, m, b'0123456789abcdefghij')

    m = Mem(3)  # input but no receive buffers; emergency writes
    seeds['no-buffers'] = seed(1 | 8, 3, m, b'waiting input')

    m = Mem(4)  # indirect transmit, reset half-way
    table = m.alloc(32)
    m.d(table, 0, m.alloc(4, b'abc\n'), 4, NEXT, 1)
    m.d(table, 1, m.alloc(4, b'def\n'), 4, 0, 0)
    m.d(RINGS[TX][0], 0, table, 32, INDIRECT, 0)
    m.post(TX, 0)
    m.chain(RX, 0, [(m.alloc(4096), 4096, True)])
    seeds['indirect-reset'] = seed(2 | 4, 4, m, b'x' * 100)

    m = Mem(4)  # malformed: writable transmit buffer, readable receive buffer
    m.chain(TX, 0, [(m.alloc(16), 16, True)])
    m.chain(RX, 0, [(m.alloc(16), 16, False)])
    seeds['bad-directions'] = seed(1, 4, m, b'in')
    return seeds


def write(dirname, seeds):
    os.makedirs(dirname, exist_ok=True)
    for name, blob in seeds.items():
        with open(os.path.join(dirname, name), 'wb') as f:
            f.write(blob)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    write(os.path.join(here, 'corpus', 'vnet'), vnet_seeds())
    write(os.path.join(here, 'corpus', 'vconsole'), vcon_seeds())


if __name__ == '__main__':
    main()
