#!/usr/bin/env python3
"""vnet_host.py: host end of the test guest's net and net-bench workloads.

Listens on the host side of a TAP (AF_PACKET, needs CAP_NET_RAW; the tests
run it inside a network namespace) and serves two protocols:

  ethertype 0x88B5 (net): every frame the guest sends is echoed back with
      destination = the guest's MAC (the frame's source) and source =
      02:00:00:00:00:01; the rest of the frame is unchanged.
  ethertype 0x88B6 (net-bench), first payload byte = operation:
      'T' guest->host data: counted (frames, bytes);
      'Q' query: answered with 'R' + u32 T frames + u32 T bytes (big endian);
      'S' + u32 ms + u32 size: blast 'D' frames of `size` bytes at the guest
          for ms milliseconds, then send three 'E' + u32 D frames sent.

Runs until SIGTERM/SIGINT or --timeout seconds; prints a summary line.
"""
import argparse
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ECHO_TYPE = 0x88B5
BENCH_TYPE = 0x88B6
HOST_MAC = bytes.fromhex("020000000001")


class Host:
    def __init__(self, ifname):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                  socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, 0))
        self.sock.settimeout(0.2)
        self.echoed = 0
        self.t_frames = 0
        self.t_bytes = 0
        self.blasted = 0

    def reply(self, guest_mac, ethertype, payload):
        frame = guest_mac + HOST_MAC + struct.pack("!H", ethertype) + payload
        if len(frame) < 60:
            frame += bytes(60 - len(frame))
        self.sock.send(frame)

    def blast(self, guest_mac, ms, size):
        size = max(60, min(size, 1514))
        frame = bytearray(guest_mac + HOST_MAC + struct.pack("!HB", BENCH_TYPE,
                                                              ord("D")))
        frame += bytes(size - len(frame))
        frame = bytes(frame)
        end = time.monotonic() + ms / 1000.0
        sent = 0
        send = self.sock.send
        while time.monotonic() < end:
            for _ in range(64):
                try:
                    send(frame)
                    sent += 1
                except (BlockingIOError, OSError):
                    pass
        self.blasted += sent
        for _ in range(3):
            self.reply(guest_mac, BENCH_TYPE, b"E" + struct.pack("!I", sent & 0xffffffff))
            time.sleep(0.01)

    def bench(self, src, payload, size):
        op = payload[:1]
        if op == b"T":
            self.t_frames += 1
            self.t_bytes += size
        elif op == b"Q":
            self.reply(src, BENCH_TYPE, b"R" + struct.pack(
                "!II", self.t_frames & 0xffffffff, self.t_bytes & 0xffffffff))
        elif op == b"S" and len(payload) >= 9:
            ms, fsize = struct.unpack("!II", payload[1:9])
            self.blast(src, min(ms, 600000), fsize)

    def handle(self, frame):
        if len(frame) < 15:
            return
        src = frame[6:12]
        ethertype = struct.unpack("!H", frame[12:14])[0]
        if ethertype == ECHO_TYPE:
            self.sock.send(src + HOST_MAC + frame[12:])
            self.echoed += 1
        elif ethertype == BENCH_TYPE:
            self.bench(src, frame[14:], len(frame))

    def run(self, deadline):
        while deadline is None or time.monotonic() < deadline:
            try:
                frame, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            if addr[2] == PACKET_OUTGOING:
                continue
            self.handle(frame)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ifname")
    ap.add_argument("--timeout", type=float, default=None)
    args = ap.parse_args()
    host = Host(args.ifname)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        host.run(deadline)
    except KeyboardInterrupt:
        pass
    print("vnet_host: echoed %d, bench rx %d frames %d bytes, blasted %d"
          % (host.echoed, host.t_frames, host.t_bytes, host.blasted), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
