#!/usr/bin/env python3
"""gen_vvsock_corpus: writes the seed corpus fuzz/corpus/vvsock/ (fuzz_vvsock;
see the input layout at the top of fuzz/fuzz_vvsock.c): healthy rings with
guest packets (REQUEST to host port 1, which has a listener, data, credit,
shutdown, RST, packets for unknown connections), a host client's CONNECT
answered by the guest, and a few malformed packets and chains. Run it from
anywhere; it rewrites the seeds in place (they are committed; rerun only to
change them). The ring image and the seed layout: corpus_ring.py."""
import struct

from corpus_ring import RingImage, write_seeds

RX, TX, EV = 0, 1, 2
REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = range(1, 8)
GUEST, HOST = 3, 2
F_EVT, F_IND, F_RESET, F_CLIENT, F_CLIENT_DATA = 1, 2, 4, 8, 16


def hdr(op, sport, dport, payload=b'', typ=1, flags=0, buf_alloc=65536, fwd=0,
        src=GUEST, dst=HOST, length=None):
    n = len(payload) if length is None else length
    return struct.pack('<QQIIIHHIII', src, dst, sport, dport, n, typ, op, flags,
                       buf_alloc, fwd) + payload


class Mem(RingImage):
    """Guest RAM image with the harness's three rings."""

    def __init__(self, qlog2=4):
        super().__init__(qlog2, 3, 0x3000)

    def chain(self, q, segs, link_last=True):
        """segs: (bytes or length, write), each in a buffer of its own."""
        bufs = []
        for blob, write in segs:
            if isinstance(blob, int):
                blob = bytes(blob)
            bufs.append((self.alloc(len(blob), blob), len(blob), write))
        super().chain(q, bufs, link_last)

    def tx(self, pkt, split=True):
        if split and len(pkt) > 44:
            self.chain(TX, [(pkt[:44], False), (pkt[44:], False)])
        else:
            self.chain(TX, [(pkt, False)])

    def rx(self, n, length=4096 + 44):
        for _ in range(n):
            self.chain(RX, [(length, True)])

    def blob(self, flags=0, qlog2=4, port=9, tail=b''):
        return self.seed(flags, qlog2, tail, extra=bytes([port]))


def seeds():
    out = {}
    m = Mem()
    m.rx(8)
    m.tx(hdr(REQUEST, 1000, 1))
    m.tx(hdr(RW, 1000, 1, b'hello host'))
    m.tx(hdr(CREDIT_REQUEST, 1000, 1))
    m.tx(hdr(SHUTDOWN, 1000, 1, flags=3))
    out['guest_connect'] = m.blob(F_EVT)

    m = Mem()
    m.rx(8)
    m.tx(hdr(REQUEST, 1001, 2))            # no listener: RST
    m.tx(hdr(RW, 1002, 1, b'x'))           # unknown connection: RST
    m.tx(hdr(RST, 1003, 1))                # never answered
    m.tx(hdr(REQUEST, 1004, 1, typ=2))     # seqpacket: RST
    m.tx(hdr(RW, 1005, 1, b'y', src=9))    # wrong CID: dropped
    out['refusals'] = m.blob()

    m = Mem()
    m.rx(4)
    m.tx(hdr(RESPONSE, 9, 1 << 30))        # answers the host client's REQUEST
    m.tx(hdr(RW, 9, 1 << 30, b'from guest'))
    m.tx(hdr(CREDIT_UPDATE, 9, 1 << 30, buf_alloc=4096, fwd=0))
    out['host_connect'] = m.blob(F_CLIENT | F_CLIENT_DATA, port=9, tail=b'data from host' * 20)

    m = Mem(5)
    m.rx(8, 512)
    m.tx(hdr(REQUEST, 1000, 1))
    for _ in range(12):
        m.tx(hdr(RW, 1000, 1, bytes(3000)), split=False)
    out['flood'] = m.blob(F_RESET, qlog2=5)

    m = Mem()
    m.rx(2)
    m.tx(hdr(RW, 1, 1, length=500) + b'short')  # len beyond the chain
    out['bad_len'] = m.blob()

    m = Mem()
    m.rx(2)
    m.chain(TX, [(hdr(REQUEST, 1, 1), True)])    # writable header
    out['bad_writable'] = m.blob(F_IND)

    m = Mem()
    m.chain(RX, [(100, False)])                  # readable rx buffer
    m.tx(hdr(REQUEST, 1, 77))
    out['bad_rx'] = m.blob()
    return out


def main():
    write_seeds('vvsock', seeds())


if __name__ == '__main__':
    main()
