#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_virtio_pci (fuzz/corpus/virtio_pci/): guest
operation lists in the harness's format (see fuzz/fuzz_virtio_pci.c) that
bring virtio-rng up and hand it good and malformed chains, so the fuzzer
starts past feature negotiation and queue set-up."""
import os
import struct
import sys

DESC, AVAIL, USED, BUF, TABLE = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000
WRITE, NEXT, INDIRECT = 2, 1, 4


def bringup(features=0, qsize=16):
    return bytes([4]) + struct.pack("<QB3H", features, qsize, DESC, AVAIL, USED)


def ram(off, data):
    out = b""
    for i in range(0, len(data), 255):
        chunk = data[i:i + 255]
        out += bytes([2]) + struct.pack("<HB", off + i, len(chunk)) + chunk
    return out


def desc(addr, length, flags, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def avail(*heads):
    return struct.pack("<HH", 0, len(heads)) + b"".join(struct.pack("<H", h) for h in heads)


def doorbell(q=0):
    return bytes([5, q])


def bar(off, size_idx, write, value):
    return bytes([0]) + struct.pack("<HQB", off, value, size_idx | (4 if write else 0))


def cfg(reg, size_idx, write, value):
    return bytes([1, reg, size_idx | (4 if write else 0)]) + struct.pack("<I", value)


# virtio-rng's capabilities: MSI-X at 0x40, then common, notify, ISR and the
# PCI configuration access capability at 0x80 (bar 0x84, offset 0x88,
# length 0x8C, data 0x90).
PCICFG = 0x80

SEEDS = {
    "good-chain": bringup() + ram(DESC, desc(BUF, 64, WRITE)) + ram(AVAIL, avail(0)) +
    doorbell(),
    "two-segments": bringup() + ram(DESC, desc(BUF, 32, WRITE | NEXT, 1) +
                                    desc(BUF + 0x100, 4096, WRITE)) +
    ram(AVAIL, avail(0)) + doorbell(),
    "indirect-event-idx": bringup((1 << 28) | (1 << 29)) +
    ram(DESC, desc(TABLE, 32, INDIRECT)) +
    ram(TABLE, desc(BUF, 16, WRITE | NEXT, 1) + desc(BUF + 16, 16, WRITE)) +
    ram(AVAIL, avail(0)) + doorbell(),
    "readable-chain": bringup() + ram(DESC, desc(BUF, 64, 0)) + ram(AVAIL, avail(0)) +
    doorbell(),
    "loop": bringup() + ram(DESC, desc(BUF, 8, WRITE | NEXT, 0)) + ram(AVAIL, avail(0)) +
    doorbell(),
    "reset-and-again": bringup() + ram(DESC, desc(BUF, 64, WRITE)) + ram(AVAIL, avail(0)) +
    doorbell() + bytes([7]) + bringup(qsize=8) + doorbell(),
    "pci-cfg-window": cfg(PCICFG + 8, 2, True, 0x12) + cfg(PCICFG + 12, 2, True, 2) +
    cfg(PCICFG + 16, 2, False, 0) + cfg(PCICFG + 8, 2, True, 0x14) +
    cfg(PCICFG + 12, 2, True, 1) + cfg(PCICFG + 16, 2, True, 1) +
    cfg(PCICFG + 8, 2, True, 0x1000) + cfg(PCICFG + 16, 0, False, 0),
    "registers": bar(0x14, 0, True, 0) + bar(0x14, 0, True, 3) + bar(0x00, 2, True, 1) +
    bar(0x04, 2, False, 0) + bar(0x16, 1, True, 0) + bar(0x18, 1, True, 7) +
    bar(0x20, 3, True, 0x1000) + bar(0x1000, 0, False, 0) + bar(0x2000, 2, False, 0),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "virtio_pci")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
