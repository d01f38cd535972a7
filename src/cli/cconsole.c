/* cconsole: `vmkit console DOM`: the HTTP Upgrade to vmkitd's console
 * stream and the byte relay between it and the terminal. libcurl 7.88 has no
 * Upgrade support, so the connection is opened with CURLOPT_CONNECT_ONLY and
 * the request and bytes go through curl_easy_send/recv, polled on
 * CURLINFO_ACTIVESOCKET. Ctrl-] (or EOF on stdin, or SIGINT/SIGTERM/SIGHUP
 * through a signalfd) detaches; a terminal is put in raw mode and restored
 * on every exit path. */
#include "cli/dom.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/util.h"

#define CCONSOLE_ESCAPE 0x1d          /* Ctrl-] */
#define CCONSOLE_HEAD_MAX 16384       /* an answer's header block */
#define CCONSOLE_WAIT_MS 30000        /* for the daemon's answer */

struct cconsole {
	CURL *curl;
	int fd;                  /* the connection's socket */
	int sigfd;
	sigset_t oldmask;
	bool raw;                /* stdin's terminal is in raw mode */
	struct termios saved;
	char head[CCONSOLE_HEAD_MAX + 1];
	size_t headlen;
};

/* Wait until the socket is ready for events; -ETIMEDOUT after ms. */
static int cconsole_wait(struct cconsole *d, short events, int ms)
{
	struct pollfd p = { .fd = d->fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

static int cconsole_send(struct cconsole *d, const char *buf, size_t len)
{
	while (len > 0) {
		size_t sent = 0;
		CURLcode cc = curl_easy_send(d->curl, buf, len, &sent);

		if (cc == CURLE_AGAIN) {
			int rc = cconsole_wait(d, POLLOUT, CCONSOLE_WAIT_MS);

			if (rc < 0)
				return rc;
			continue;
		}
		if (cc != CURLE_OK)
			return -EPIPE;
		buf += sent;
		len -= sent;
	}
	return 0;
}

/* Receive what is there: bytes, 0 = closed, -EAGAIN = nothing yet. */
static ssize_t cconsole_recv(struct cconsole *d, char *buf, size_t len)
{
	size_t got = 0;
	CURLcode cc = curl_easy_recv(d->curl, buf, len, &got);

	if (cc == CURLE_AGAIN)
		return -EAGAIN;
	if (cc != CURLE_OK)
		return -ECONNRESET;
	return (ssize_t)got;
}

static int cconsole_connect(struct cconsole *d, struct dclient *c)
{
	d->curl = dclient_curl(c);
	return dclient_connect_only(c, &d->fd);
}

/* Read until the end of the answer's header block (head/headlen). */
static int cconsole_read_head(struct cconsole *d)
{
	while (!memmem(d->head, d->headlen, "\r\n\r\n", 4)) {
		ssize_t n;

		if (d->headlen >= CCONSOLE_HEAD_MAX)
			return -EPROTO;
		n = cconsole_recv(d, d->head + d->headlen, CCONSOLE_HEAD_MAX - d->headlen);
		if (n == -EAGAIN) {
			int rc = cconsole_wait(d, POLLIN, CCONSOLE_WAIT_MS);

			if (rc < 0)
				return rc;
			continue;
		}
		if (n <= 0)
			return -ECONNRESET;
		d->headlen += (size_t)n;
	}
	d->head[d->headlen] = '\0';
	return 0;
}

/* A refusal: read the body (Content-Length of it) and print its error. */
static void cconsole_refused(struct cconsole *d, long status, char *body)
{
	const char *cl = strcasestr(d->head, "\r\ncontent-length:");
	size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0, have;

	have = d->headlen - (size_t)(body - d->head);
	if (want > CCONSOLE_HEAD_MAX - (size_t)(body - d->head))
		want = CCONSOLE_HEAD_MAX - (size_t)(body - d->head);
	while (have < want) {
		ssize_t n = cconsole_recv(d, body + have, want - have);

		if (n == -EAGAIN && cconsole_wait(d, POLLIN, CCONSOLE_WAIT_MS) == 0)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	dclient_api_error(status, body, have);
}

/* Send the Upgrade request and check for 101. Leftover bytes after the
 * header block are console output: written to stdout. */
static int cconsole_upgrade(struct cconsole *d, struct dclient *c, const char *dom, bool force)
{
	char *path = dclient_dom_path(c, dom, force ? "/console?force=1" : "/console");
	char *req = NULL, *body;
	long status = 0;
	int rc = -ENOMEM;

	if (!path || asprintf(&req, "GET %s HTTP/1.1\r\nHost: localhost\r\n"
			      "Connection: Upgrade\r\nUpgrade: vmkit-console\r\n\r\n", path) < 0)
		goto out;
	rc = cconsole_send(d, req, strlen(req));
	if (rc == 0)
		rc = cconsole_read_head(d);
	if (rc < 0) {
		dclient_error("vmkitd did not answer the console request: %s", strerror(-rc));
		rc = -EIO;
		goto out;
	}
	body = strstr(d->head, "\r\n\r\n") + 4;
	if (sscanf(d->head, "HTTP/1.%*d %ld", &status) != 1 || status != 101) {
		cconsole_refused(d, status, body);
		rc = -EPROTO;
		goto out;
	}
	rc = util_write_all(STDOUT_FILENO, body, d->headlen - (size_t)(body - d->head));
out:
	free(req);
	free(path);
	return rc;
}

/* ---- terminal and signals ---------------------------------------------- */

static int cconsole_term_setup(struct cconsole *d)
{
	struct termios raw;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &mask, &d->oldmask) < 0)
		return -errno;
	d->sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -errno;
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &d->saved) < 0)
		return 0;
	raw = d->saved;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0)
		d->raw = true;
	return 0;
}

static void cconsole_term_restore(struct cconsole *d)
{
	if (d->raw)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &d->saved);
	d->raw = false;
	if (d->sigfd >= 0) {
		close(d->sigfd);
		sigprocmask(SIG_SETMASK, &d->oldmask, NULL);
	}
	d->sigfd = -1;
}

/* ---- relay --------------------------------------------------------------- */

enum cconsole_end { DCON_GOING, DCON_DETACHED, DCON_CLOSED, DCON_FAILED };

/* stdin → daemon; Ctrl-] or EOF detaches. */
static enum cconsole_end cconsole_from_stdin(struct cconsole *d)
{
	char buf[4096], *esc;
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? DCON_GOING : DCON_DETACHED;
	if (n == 0)
		return DCON_DETACHED;
	esc = memchr(buf, CCONSOLE_ESCAPE, (size_t)n);
	if (cconsole_send(d, buf, esc ? (size_t)(esc - buf) : (size_t)n) < 0)
		return DCON_CLOSED;
	return esc ? DCON_DETACHED : DCON_GOING;
}

/* daemon → stdout. */
static enum cconsole_end cconsole_to_stdout(struct cconsole *d)
{
	char buf[4096];
	ssize_t n = cconsole_recv(d, buf, sizeof(buf));

	if (n == -EAGAIN)
		return DCON_GOING;
	if (n <= 0)
		return DCON_CLOSED;
	return util_write_all(STDOUT_FILENO, buf, (size_t)n) < 0 ? DCON_FAILED : DCON_GOING;
}

static enum cconsole_end cconsole_relay(struct cconsole *d)
{
	struct pollfd p[3] = {
		{ .fd = d->fd, .events = POLLIN },
		{ .fd = d->sigfd, .events = POLLIN },
		{ .fd = STDIN_FILENO, .events = POLLIN },
	};
	enum cconsole_end end = DCON_GOING;

	while (end == DCON_GOING) {
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return DCON_FAILED;
		}
		if (p[1].revents) {
			struct signalfd_siginfo si;

			/* Consume it: unblocked later, a pending one would kill us. */
			if (read(d->sigfd, &si, sizeof(si)) < 0 && errno == EINTR)
				continue;
			return DCON_DETACHED;
		}
		if (p[0].revents)
			end = cconsole_to_stdout(d);
		if (end == DCON_GOING && p[2].revents)
			end = cconsole_from_stdin(d);
	}
	return end;
}

int cconsole_attach(struct dom_ctx *ctx, const char *dom, bool force)
{
	struct cconsole d = { .fd = -1, .sigfd = -1 };
	enum cconsole_end end;
	int rc = dom_connect(ctx);

	if (rc == 0)
		rc = cconsole_connect(&d, ctx->client);
	if (rc == 0)
		rc = cconsole_upgrade(&d, ctx->client, dom, force);
	if (rc < 0)
		return dclient_exit_code(rc);
	fprintf(stderr, "Connected to domain '%s'\nEscape character is ^] (Ctrl + ])\n", dom);
	rc = cconsole_term_setup(&d);
	end = rc < 0 ? DCON_FAILED : cconsole_relay(&d);
	cconsole_term_restore(&d);
	switch (end) {
	case DCON_GOING:
	case DCON_DETACHED:
		fprintf(stderr, "\nDetached from domain '%s'\n", dom);
		return DOM_EXIT_OK;
	case DCON_CLOSED:
		fprintf(stderr, "\nvmkitd closed the console of '%s' (the domain stopped, or "
			"another client took the console with --force)\n", dom);
		return DOM_EXIT_OK;
	case DCON_FAILED:
		dclient_error("the console relay failed: %s", strerror(errno));
		return DOM_EXIT_FAILED;
	}
	return DOM_EXIT_FAILED;
}

int dom_cmd_console(struct dom_ctx *ctx, const struct dargs *a)
{
	return cconsole_attach(ctx, a->pos[0], a->set & DOPT_BIT(DOPT_FORCE));
}
