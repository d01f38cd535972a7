/* guest/linux/vmhelper.c: the Linux test guest's helper program, /bin/vmhelper
 * in the initramfs (busybox has no vsock-capable socat and no way to touch
 * anonymous memory). Built static by guest/linux/mkinitramfs.py; /init's
 * `vsock` and `balloon` directives run it.
 *
 *   vmhelper vsock-cid                 print the guest's own CID (/dev/vsock)
 *   vmhelper vsock-listen PORT         accept one vsock connection on PORT and
 *                                      answer it as the receiver (below)
 *   vmhelper vsock-connect CID PORT N  connect to CID:PORT, send N pattern
 *                                      bytes as the sender, check the answer
 *   vmhelper memfill MIB               map MIB MiB of anonymous memory, write
 *                                      a pattern to all of it, verify it
 *
 * The exchange, the same in both directions: the sender writes "LEN\n" and
 * LEN bytes; the receiver answers "LEN CRC\n" (CRC-32 as zlib computes it,
 * 8 lowercase hex digits) and closes. vsock-listen prints
 * "vmhelper: listening on vsock port PORT" once it can accept, so the host
 * knows when to connect. Every socket has a 120 s send/receive timeout, so
 * a silent peer ends the program instead of hanging the boot.
 * Exit status 0 on success, 1 on any failure (with a message on stderr). */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <fcntl.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define HELPER_TIMEOUT_S 120
#define HELPER_MAX_LEN (64u << 20)  /* largest transfer either side accepts */
#define HELPER_CHUNK 65536

static int helper_err(const char *what)
{
	fprintf(stderr, "vmhelper: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Parse a decimal number in [0, max]; 0 or -EINVAL. */
static int helper_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* CRC-32 (reflected, polynomial 0xedb88320), continued from crc. */
static uint32_t helper_crc32(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

static void helper_set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = HELPER_TIMEOUT_S };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int helper_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return helper_err("write");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read one '\n'-terminated line (without the '\n') byte by byte, so nothing
 * after it is consumed. */
static int helper_read_line(int fd, char *line, size_t size)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return helper_err("read");
		if (r == 0 || n + 1 >= size) {
			fprintf(stderr, "vmhelper: %s before the end of a line\n",
				r == 0 ? "end of stream" : "line too long");
			return 1;
		}
		if (c == '\n')
			break;
		line[n++] = c;
	}
	line[n] = '\0';
	return 0;
}

/* The receiver: read "LEN\n" and LEN bytes, answer "LEN CRC\n". */
static int helper_receive(int fd)
{
	static uint8_t buf[HELPER_CHUNK];
	char line[64];
	uint64_t len, got = 0;
	uint32_t crc = 0;

	if (helper_read_line(fd, line, sizeof(line)))
		return 1;
	if (helper_parse_u64(line, HELPER_MAX_LEN, &len)) {
		fprintf(stderr, "vmhelper: bad length line '%s'\n", line);
		return 1;
	}
	while (got < len) {
		size_t want = len - got < sizeof(buf) ? (size_t)(len - got) : sizeof(buf);
		ssize_t r = read(fd, buf, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return helper_err("read");
		if (r == 0) {
			fprintf(stderr, "vmhelper: end of stream after %" PRIu64 " of %" PRIu64
				" bytes\n", got, len);
			return 1;
		}
		crc = helper_crc32(crc, buf, (size_t)r);
		got += (uint64_t)r;
	}
	int n = snprintf(line, sizeof(line), "%" PRIu64 " %08" PRIx32 "\n", len, crc);
	if (helper_write_all(fd, line, (size_t)n))
		return 1;
	printf("vmhelper: received %" PRIu64 " bytes, crc %08" PRIx32 "\n", len, crc);
	return 0;
}

/* Byte i of the sender's pattern: not periodic at any power of two. */
static uint8_t helper_pattern(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 8) * 7 + (i >> 16));
}

/* The sender: write "LEN\n" and the pattern, check the receiver's answer. */
static int helper_send(int fd, uint64_t len)
{
	static uint8_t buf[HELPER_CHUNK];
	char line[64], want[64];
	uint32_t crc = 0;
	int n = snprintf(line, sizeof(line), "%" PRIu64 "\n", len);

	if (helper_write_all(fd, line, (size_t)n))
		return 1;
	for (uint64_t off = 0; off < len; off += sizeof(buf)) {
		size_t chunk = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);
		for (size_t i = 0; i < chunk; i++)
			buf[i] = helper_pattern(off + i);
		crc = helper_crc32(crc, buf, chunk);
		if (helper_write_all(fd, buf, chunk))
			return 1;
	}
	if (helper_read_line(fd, line, sizeof(line)))
		return 1;
	snprintf(want, sizeof(want), "%" PRIu64 " %08" PRIx32, len, crc);
	if (strcmp(line, want) != 0) {
		fprintf(stderr, "vmhelper: the receiver answered '%s', expected '%s'\n", line, want);
		return 1;
	}
	printf("vmhelper: sent %" PRIu64 " bytes, crc %08" PRIx32 " confirmed\n", len, crc);
	return 0;
}

static int helper_vsock_cid(char **argv)
{
	(void)argv;
	unsigned int cid = 0;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return helper_err("/dev/vsock");
	int rc = ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid);
	close(fd);
	if (rc < 0)
		return helper_err("IOCTL_VM_SOCKETS_GET_LOCAL_CID");
	printf("%u\n", cid);
	return 0;
}

static int helper_vsock_listen(char **argv)
{
	uint64_t port;
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY };
	int rc = 1, conn = -1;

	if (helper_parse_u64(argv[0], UINT32_MAX - 1, &port)) {
		fprintf(stderr, "vmhelper: bad port '%s'\n", argv[0]);
		return 1;
	}
	addr.svm_port = (unsigned int)port;
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return helper_err("socket(AF_VSOCK)");
	helper_set_timeouts(fd);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0) {
		rc = helper_err("bind/listen");
		goto out;
	}
	printf("vmhelper: listening on vsock port %" PRIu64 "\n", port);
	fflush(stdout);
	struct sockaddr_vm peer;
	socklen_t plen = sizeof(peer);
	conn = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (conn < 0) {
		rc = helper_err("accept");
		goto out;
	}
	printf("vmhelper: connection from cid %u port %u\n", peer.svm_cid, peer.svm_port);
	helper_set_timeouts(conn);
	rc = helper_receive(conn);
out:
	if (conn >= 0)
		close(conn);
	close(fd);
	return rc;
}

static int helper_vsock_connect(char **argv)
{
	uint64_t cid, port, len;
	struct timeval ctv = { .tv_sec = HELPER_TIMEOUT_S };

	if (helper_parse_u64(argv[0], UINT32_MAX, &cid) ||
	    helper_parse_u64(argv[1], UINT32_MAX - 1, &port) ||
	    helper_parse_u64(argv[2], HELPER_MAX_LEN, &len)) {
		fprintf(stderr, "vmhelper: bad CID, port or length\n");
		return 1;
	}
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = (unsigned int)cid,
				    .svm_port = (unsigned int)port };
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return helper_err("socket(AF_VSOCK)");
	helper_set_timeouts(fd);
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &ctv, sizeof(ctv));
	int rc;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		rc = helper_err("connect");
	else
		rc = helper_send(fd, len);
	close(fd);
	return rc;
}

/* Word w of memfill's pattern. */
static uint64_t helper_word(uint64_t w)
{
	return w * 0x9e3779b97f4a7c15ull ^ 0x766d6b6974ull;
}

static int helper_memfill(char **argv)
{
	uint64_t mib;

	if (helper_parse_u64(argv[0], 1u << 20, &mib) || mib == 0) {
		fprintf(stderr, "vmhelper: bad size '%s'\n", argv[0]);
		return 1;
	}
	size_t words = (size_t)(mib << 20) / sizeof(uint64_t);
	uint64_t *p = mmap(NULL, (size_t)(mib << 20), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return helper_err("mmap");
	for (size_t i = 0; i < words; i++)
		p[i] = helper_word(i);
	size_t bad = 0;
	for (size_t i = 0; i < words; i++)
		bad += p[i] != helper_word(i);
	munmap(p, (size_t)(mib << 20));
	if (bad) {
		fprintf(stderr, "vmhelper: %zu of %zu words read back wrong\n", bad, words);
		return 1;
	}
	printf("vmhelper: wrote and verified %" PRIu64 " MiB\n", mib);
	return 0;
}

struct helper_cmd {
	const char *name;
	int nargs;
	int (*run)(char **argv);
	const char *usage;
};

static const struct helper_cmd helper_cmds[] = {
	{ "vsock-cid", 0, helper_vsock_cid, "vsock-cid" },
	{ "vsock-listen", 1, helper_vsock_listen, "vsock-listen PORT" },
	{ "vsock-connect", 3, helper_vsock_connect, "vsock-connect CID PORT LEN" },
	{ "memfill", 1, helper_memfill, "memfill MIB" },
};

int main(int argc, char **argv)
{
	for (size_t i = 0; argc >= 2 && i < sizeof(helper_cmds) / sizeof(helper_cmds[0]); i++) {
		const struct helper_cmd *c = &helper_cmds[i];
		if (strcmp(argv[1], c->name) != 0)
			continue;
		if (argc != c->nargs + 2) {
			fprintf(stderr, "usage: vmhelper %s\n", c->usage);
			return 2;
		}
		int rc = c->run(argv + 2);
		fflush(stdout);
		return rc;
	}
	fprintf(stderr, "usage: vmhelper vsock-cid | vsock-listen PORT | "
		"vsock-connect CID PORT LEN | memfill MIB\n");
	return 2;
}
