/* vnet_host: the host end of the test guest's net and net-bench workloads
 * (guest/README.md has the protocol), for the integration tests and
 * bench/virtio-net. Owns one AF_PACKET socket bound to a TAP's host side
 * (needs CAP_NET_RAW; the callers run it in a network namespace) and serves:
 *
 *   ethertype 0x88B5 (net): each frame from the guest goes back with
 *       destination = its source and source = 02:00:00:00:00:01;
 *   ethertype 0x88B6 (net-bench), first payload byte:
 *       'T' guest->host data: counted (frames, bytes);
 *       'Q' answered with 'R' + u32 T frames + u32 T bytes (big endian);
 *       'S' + u32 ms + u32 size: 'D' frames of size bytes sent to the guest
 *           as fast as the TAP takes them for ms milliseconds, then three
 *           'E' + u32 D frames sent, 10 ms apart.
 *
 * Frames are read and blasted in batches (recvmmsg, sendmmsg) so that the
 * helper costs the CPUs it shares with the VM under test little per frame.
 * Runs until SIGTERM/SIGINT (blocked, looked for between batches) or
 * --timeout seconds, then prints one summary line.
 * Usage: vnet_host IFNAME [--timeout SECONDS] */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VH_ECHO_TYPE  0x88b5
#define VH_BENCH_TYPE 0x88b6
#define VH_BATCH      64
#define VH_FRAME_MAX  1514
#define VH_FRAME_MIN  60
#define VH_BUF        2048
#define VH_BLAST_MAX_MS 600000u
#define VH_SEND_TRIES 1000

static const uint8_t vh_host_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };

struct vh {
	int fd;
	uint64_t echoed, t_frames, t_bytes, blasted;
	uint8_t in[VH_BATCH][VH_BUF];
	struct sockaddr_ll from[VH_BATCH];
	struct mmsghdr msgs[VH_BATCH];
	struct iovec iov[VH_BATCH];
	uint8_t out[VH_FRAME_MAX];
};

/* SIGTERM and SIGINT are blocked (main) and looked for between batches. */
static bool vh_stopped(void)
{
	sigset_t pending;

	return !sigpending(&pending) &&
	       (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

static double vh_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void vh_put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static uint32_t vh_get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/* Ethernet header to dst from the host's MAC; returns the header length. */
static size_t vh_header(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	uint16_t t = htons(type);

	memcpy(f, dst, 6);
	memcpy(f + 6, vh_host_mac, 6);
	memcpy(f + 12, &t, 2);
	return 14;
}

/* One frame (padded to the Ethernet minimum) to the guest. While the TAP's
 * queue is full (ENOBUFS: a blast just filled it) the send is retried for
 * up to VH_SEND_TRIES ms, so the end of a blast is not lost behind it. */
static void vh_send(struct vh *h, const uint8_t *dst, uint16_t type, const void *payload,
		    size_t len)
{
	size_t hl = vh_header(h->out, dst, type);
	int tries = 0;

	if (len > sizeof(h->out) - hl)
		len = sizeof(h->out) - hl;
	memcpy(h->out + hl, payload, len);
	if (hl + len < VH_FRAME_MIN) {
		memset(h->out + hl + len, 0, VH_FRAME_MIN - hl - len);
		len = VH_FRAME_MIN - hl;
	}
	while (send(h->fd, h->out, hl + len, 0) < 0) {
		if ((errno != ENOBUFS && errno != EAGAIN) || ++tries == VH_SEND_TRIES) {
			fprintf(stderr, "vnet_host: send: %s\n", strerror(errno));
			return;
		}
		usleep(1000);
	}
}

/* 'D' frames of size bytes for ms milliseconds, in sendmmsg batches of one
 * shared frame; then the three 'E' frames with the count. */
static void vh_blast(struct vh *h, const uint8_t *guest, uint32_t ms, uint32_t size)
{
	struct mmsghdr m[VH_BATCH];
	struct iovec iov = { h->out, 0 };
	double end = vh_now() + (double)ms / 1000.0;
	uint64_t sent = 0;
	uint8_t e[5] = { 'E' };

	size = size < VH_FRAME_MIN ? VH_FRAME_MIN : size > VH_FRAME_MAX ? VH_FRAME_MAX : size;
	memset(h->out, 0, sizeof(h->out));
	h->out[vh_header(h->out, guest, VH_BENCH_TYPE)] = 'D';
	iov.iov_len = size;
	memset(m, 0, sizeof(m));
	for (unsigned i = 0; i < VH_BATCH; i++) {
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	while (!vh_stopped() && vh_now() < end) {
		int n = sendmmsg(h->fd, m, VH_BATCH, 0);

		if (n > 0)
			sent += (uint64_t)n;
	}
	h->blasted += sent;
	vh_put32(e + 1, (uint32_t)sent);
	for (int i = 0; i < 3; i++) {
		vh_send(h, guest, VH_BENCH_TYPE, e, sizeof(e));
		usleep(10000);
	}
}

static void vh_bench(struct vh *h, const uint8_t *src, const uint8_t *p, size_t plen,
		     size_t flen)
{
	uint8_t r[9] = { 'R' };

	if (!plen)
		return;
	switch (p[0]) {
	case 'T':
		h->t_frames++;
		h->t_bytes += flen;
		break;
	case 'Q':
		vh_put32(r + 1, (uint32_t)h->t_frames);
		vh_put32(r + 5, (uint32_t)h->t_bytes);
		vh_send(h, src, VH_BENCH_TYPE, r, sizeof(r));
		break;
	case 'S':
		if (plen >= 9) {
			uint32_t ms = vh_get32(p + 1);

			vh_blast(h, src, ms < VH_BLAST_MAX_MS ? ms : VH_BLAST_MAX_MS,
				 vh_get32(p + 5));
		}
		break;
	default:
		break;
	}
}

static void vh_frame(struct vh *h, const uint8_t *f, size_t len)
{
	uint16_t type;

	if (len < 15)
		return;
	memcpy(&type, f + 12, 2);
	type = ntohs(type);
	if (type == VH_ECHO_TYPE) {
		vh_send(h, f + 6, VH_ECHO_TYPE, f + 14, len - 14);
		h->echoed++;
	} else if (type == VH_BENCH_TYPE) {
		vh_bench(h, f + 6, f + 14, len - 14, len);
	}
}

/* Read batches until the deadline or a signal (reads time out every 200 ms
 * to look). */
static void vh_run(struct vh *h, double deadline)
{
	for (unsigned i = 0; i < VH_BATCH; i++) {
		h->iov[i] = (struct iovec){ h->in[i], VH_BUF };
		h->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &h->from[i],
						      .msg_namelen = sizeof(h->from[i]),
						      .msg_iov = &h->iov[i], .msg_iovlen = 1 };
	}
	while (!vh_stopped() && (deadline <= 0 || vh_now() < deadline)) {
		int n = recvmmsg(h->fd, h->msgs, VH_BATCH, MSG_WAITFORONE, NULL);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			fprintf(stderr, "vnet_host: receive: %s\n", strerror(errno));
		for (int i = 0; i < n; i++) {
			if (h->from[i].sll_pkttype != PACKET_OUTGOING)
				vh_frame(h, h->in[i], h->msgs[i].msg_len);
			h->msgs[i].msg_hdr.msg_namelen = sizeof(h->from[i]);
		}
	}
}

static int vh_open(struct vh *h, const char *ifname)
{
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct timeval tv = { 0, 200000 };
	int one = 1, ret;

	a.sll_ifindex = (int)if_nametoindex(ifname);
	if (!a.sll_ifindex)
		return -errno;
	h->fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (h->fd < 0)
		return -errno;
	/* Straight to the TAP: no qdisc between the blast and the device. */
	(void)setsockopt(h->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	if (setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    bind(h->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	return 0;
fail:
	ret = -errno;
	close(h->fd);
	h->fd = -1;
	return ret;
}

/* --timeout: seconds from now (0: none) as an absolute deadline. */
static int vh_seconds(const char *arg, double *deadline)
{
	char *end;
	double secs = strtod(arg, &end);

	if (end == arg || *end || secs < 0)
		return -EINVAL;
	*deadline = secs > 0 ? vh_now() + secs : 0;
	return 0;
}

int main(int argc, char **argv)
{
	double deadline = 0;
	sigset_t stop;
	struct vh *h;
	int ret;

	if ((argc != 2 && argc != 4) || (argc == 4 && strcmp(argv[2], "--timeout"))) {
		fprintf(stderr, "usage: vnet_host IFNAME [--timeout SECONDS]\n");
		return 2;
	}
	if (argc == 4 && vh_seconds(argv[3], &deadline)) {
		fprintf(stderr, "vnet_host: bad --timeout %s (seconds, 0 = none)\n", argv[3]);
		return 2;
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	h = calloc(1, sizeof(*h));
	ret = h ? vh_open(h, argv[1]) : -ENOMEM;
	if (ret) {
		fprintf(stderr, "vnet_host: %s: %s\n", argv[1], strerror(-ret));
		free(h);
		return 1;
	}
	vh_run(h, deadline);
	printf("vnet_host: echoed %llu, bench rx %llu frames %llu bytes, blasted %llu\n",
	       (unsigned long long)h->echoed, (unsigned long long)h->t_frames,
	       (unsigned long long)h->t_bytes, (unsigned long long)h->blasted);
	close(h->fd);
	free(h);
	return 0;
}
