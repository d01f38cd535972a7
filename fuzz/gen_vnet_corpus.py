#!/usr/bin/env python3
"""gen_vnet_corpus: writes the seed corpora fuzz/corpus/vnet/ (fuzz_vnet) and
fuzz/corpus/vconsole/ (fuzz_vconsole); see the input layouts at the top of
fuzz/fuzz_vnet.c and fuzz/fuzz_vconsole.c. A few healthy rings (transmit
frames, receive buffers with packets to place: mergeable, direct, single
buffers; console output and input) and a few malformed ones. Run it from
anywhere; it rewrites the seeds in place (they are committed; rerun only to
change them). The ring image and the seed layout: corpus_ring.py."""
import struct

from corpus_ring import INDIRECT, NEXT, RingImage, ring_addrs, write_seeds

RX, TX = 0, 1
HDR = 12

# fuzz_vnet byte 0
MRG, GCSUM, CSUM, HTSO, HECN, HUFO, F_IND, F_EVT = (1 << i for i in range(8))
# fuzz_vnet byte 1 (above the queue-size bits)
LINK_DOWN, RESET = 8, 16


def new_image(qlog2):
    """Guest RAM image with the harnesses' two rings."""
    return RingImage(qlog2, 2, 0x2000)


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


def vnet_seeds():
    seeds = {}
    base = MRG | CSUM | HTSO | F_EVT
    m = new_image(4)  # transmit: one frame, header and frame split in three
    buf = m.alloc(HDR + 100, bytes(HDR) + frame(100))
    m.chain(TX, [(buf, 5, False), (buf + 5, 50, False), (buf + 55, HDR + 45, False)])
    for i in range(4):
        m.chain(RX, [(m.alloc(512), 512, True)])
    seeds['tx-split-rx-mergeable'] = m.seed(base, 4, pkts(HDR + 60, HDR + 1000))

    m = new_image(4)  # one receive buffer that takes any packet: direct reads
    m.chain(RX, [(0x3000, 0x1c000, True)])
    seeds['rx-direct'] = m.seed(base | GCSUM, 4, pkts(HDR + 1500, HDR + 65000, 0xfff1))

    m = new_image(3)  # no mergeable buffers: one fits, one does not
    for i in range(2):
        m.chain(RX, [(m.alloc(HDR + 1514), HDR + 1514, True)])
    seeds['rx-single'] = m.seed(CSUM | F_EVT, 3, pkts(HDR + 1514, HDR + 2000, HDR + 60))

    m = new_image(4)  # transmit through an indirect table, offload header
    hdr = struct.pack('<BBHHHHH', 1, 0x81, 54, 1448, 34, 16, 0)
    buf = m.alloc(HDR + 200, hdr + frame(200))
    table = m.alloc(32)
    m.d(table, 0, buf, HDR, NEXT, 1)
    m.d(table, 1, buf + HDR, 200, 0, 0)
    m.d(ring_addrs(TX)[0], 0, table, 32, INDIRECT, 0)
    m.post(TX, 0)
    seeds['tx-indirect-tso'] = m.seed(base | HECN | F_IND, 4)

    m = new_image(4)  # malformed: transmit chain loops, receive chain device-readable
    m.d(ring_addrs(TX)[0], 0, m.alloc(72), 72, NEXT, 0)
    m.post(TX, 0)
    m.chain(RX, [(m.alloc(64), 64, False), (m.alloc(512), 512, True)])
    seeds['bad-loop-and-rx-dir'] = m.seed(base, 4, pkts(HDR + 60))

    m = new_image(2)  # link down then up, reset half-way, tiny buffers, bad header
    m.chain(TX, [(m.alloc(HDR + 60, bytes([0x80]) + bytes(HDR - 1) + frame(60)),
                     HDR + 60, False)])
    for i in range(4):
        m.chain(RX, [(m.alloc(16), 16, True)])
    seeds['link-reset-small'] = m.seed(base, 2 | LINK_DOWN | RESET, pkts(HDR + 60, HDR + 30))
    return seeds


def vcon_seeds():
    seeds = {}

    m = new_image(4)
    m.chain(TX, [(m.alloc(6, b'hello '), 6, False), (m.alloc(6, b'world\n'), 6, False)])
    for i in range(3):
        m.chain(RX, [(m.alloc(8), 8, True)])
    seeds['out-and-in'] = m.seed(1, 4, b'0123456789abcdefghij')

    m = new_image(3)  # input but no receive buffers; emergency writes
    seeds['no-buffers'] = m.seed(1 | 8, 3, b'waiting input')

    m = new_image(4)  # indirect transmit, reset half-way
    table = m.alloc(32)
    m.d(table, 0, m.alloc(4, b'abc\n'), 4, NEXT, 1)
    m.d(table, 1, m.alloc(4, b'def\n'), 4, 0, 0)
    m.d(ring_addrs(TX)[0], 0, table, 32, INDIRECT, 0)
    m.post(TX, 0)
    m.chain(RX, [(m.alloc(4096), 4096, True)])
    seeds['indirect-reset'] = m.seed(2 | 4, 4, b'x' * 100)

    m = new_image(4)  # malformed: writable transmit buffer, readable receive buffer
    m.chain(TX, [(m.alloc(16), 16, True)])
    m.chain(RX, [(m.alloc(16), 16, False)])
    seeds['bad-directions'] = m.seed(1, 4, b'in')
    return seeds


def main():
    write_seeds('vnet', vnet_seeds())
    write_seeds('vconsole', vcon_seeds())


if __name__ == '__main__':
    main()
