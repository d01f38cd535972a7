/* dvmm: spawning a vmkit-vmm, its identity in /proc, and the control-socket
 * talker (dvmm.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "dvmm.h"

#define DVMM_REPLY_MAX (4u << 20)

extern char **environ;

/* A clean start for the VMM: empty signal mask (vmkitd blocks SIGTERM and
 * SIGINT for its signalfd) and default dispositions for the signals vmkitd
 * changed. SIGPIPE is reset to SIG_DFL on purpose, not left ignored: the
 * VMM ignores it itself (vm.c, before any socket exists), and a child of
 * vmkitd should not depend on what vmkitd happened to inherit or set. */
static int dvmm_spawn_attrs(posix_spawnattr_t *attr)
{
	sigset_t none, def;
	int ret;

	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGHUP);
	ret = posix_spawnattr_init(attr);
	if (ret == 0)
		ret = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
					       POSIX_SPAWN_SETSIGDEF);
	if (ret == 0)
		ret = posix_spawnattr_setsigmask(attr, &none);
	if (ret == 0)
		ret = posix_spawnattr_setsigdefault(attr, &def);
	return -ret;
}

static int dvmm_spawn_files(posix_spawn_file_actions_t *fa, int logfd)
{
	int ret = posix_spawn_file_actions_init(fa);

	if (ret == 0)
		ret = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
	if (ret == 0)
		ret = posix_spawn_file_actions_adddup2(fa, logfd, 1);
	if (ret == 0)
		ret = posix_spawn_file_actions_adddup2(fa, logfd, 2);
	if (ret == 0)
		ret = posix_spawn_file_actions_addclosefrom_np(fa, 3);
	return -ret;
}

int dvmm_spawn(const char *vmm, const char *config_path, const char *log_path,
	       pid_t *pid, char *err, size_t errlen)
{
	char *argv[] = { (char *)vmm, (char *)"--config", (char *)config_path, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int logfd, ret;

	logfd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (logfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the log %s: %s", log_path, strerror(errno));
		return ret;
	}
	ret = dvmm_spawn_attrs(&attr);
	if (ret == 0) {
		ret = dvmm_spawn_files(&fa, logfd);
		if (ret == 0)
			ret = -posix_spawn(pid, vmm, &fa, &attr, argv, environ);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&attr);
	}
	close(logfd);
	if (ret < 0)
		snprintf(err, errlen, "cannot run %s: %s", vmm, strerror(-ret));
	return ret;
}

/* Read one line into *line (malloc'd, without the newline). */
struct dvmm_reader {
	int fd;
	uint64_t deadline;
	char *buf;
	size_t len, cap;
};

static int dvmm_read_line(struct dvmm_reader *r, char **line)
{
	for (;;) {
		char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
		uint64_t now = util_now_ns();
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - r->buf);

			*line = strndup(r->buf, l);
			memmove(r->buf, nl + 1, r->len - l - 1);
			r->len -= l + 1;
			return *line ? 0 : -ENOMEM;
		}
		if (r->len == r->cap) {
			char *p = r->cap >= DVMM_REPLY_MAX ? NULL : realloc(r->buf, r->cap * 2 + 4096);

			if (!p)
				return -E2BIG;
			r->buf = p;
			r->cap = r->cap * 2 + 4096;
		}
		if (now >= r->deadline)
			return -ETIMEDOUT;
		n = poll(&pfd, 1, (int)((r->deadline - now) / 1000000) + 1);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		r->len += n > 0 ? (size_t)n : 0;
	}
}

int dvmm_connect(const char *sock, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s;

	if (strlen(sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, sock);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		close(s);
		return e;
	}
	*fd = s;
	return 0;
}

/* Wait for the reply line (skipping events); 0 and *reply or -errno. */
static int dvmm_reply(struct dvmm_reader *r, json_t **reply)
{
	for (;;) {
		char *line = NULL;
		int ret = dvmm_read_line(r, &line);

		if (ret < 0)
			return ret;
		*reply = json_loads(line, 0, NULL);
		free(line);
		if (*reply && (json_object_get(*reply, "return") ||
			       json_object_get(*reply, "error")))
			return 0;
		json_decref(*reply);
		*reply = NULL;
	}
}

static int dvmm_exchange(struct dvmm_reader *r, const char *cmd, json_t *args, json_t **reply)
{
	json_t *req = json_pack("{s:s}", "execute", cmd);
	char *greeting = NULL, *text;
	int ret;

	if (args)
		json_object_set(req, "arguments", args);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text)
		return -ENOMEM;
	ret = dvmm_read_line(r, &greeting);
	free(greeting);
	if (ret == 0)
		ret = util_write_all(r->fd, text, strlen(text));
	if (ret == 0)
		ret = util_write_all(r->fd, "\n", 1);
	free(text);
	return ret < 0 ? ret : dvmm_reply(r, reply);
}

static int dvmm_result(json_t *reply, json_t **ret, const char *cmd, char *err, size_t errlen)
{
	json_t *e = json_object_get(reply, "error");

	if (e) {
		const char *desc = json_string_value(json_object_get(e, "desc"));

		snprintf(err, errlen, "the VMM refused %s: %s", cmd, desc ? desc : "(no description)");
		return -EREMOTEIO;
	}
	if (ret)
		*ret = json_incref(json_object_get(reply, "return"));
	return 0;
}

int dvmm_call(const char *sock, const char *cmd, json_t *args, unsigned timeout_ms,
	      json_t **ret, char *err, size_t errlen)
{
	struct dvmm_reader r = { .fd = -1, .deadline = util_now_ns() + timeout_ms * 1000000ull };
	json_t *reply = NULL;
	int rc;

	rc = dvmm_connect(sock, &r.fd);
	if (rc == 0)
		rc = dvmm_exchange(&r, cmd, args, &reply);
	if (rc == 0)
		rc = dvmm_result(reply, ret, cmd, err, errlen);
	else
		snprintf(err, errlen, "the VMM's control socket %s: %s: %s", sock, cmd,
			 rc == -ETIMEDOUT ? "no answer in time" : strerror(-rc));
	json_decref(reply);
	free(r.buf);
	if (r.fd >= 0)
		close(r.fd);
	return rc;
}

char *dvmm_log_tail(const char *path, size_t max)
{
	char *out = calloc(1, max + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;
	ssize_t n;

	if (!out || fd < 0) {
		if (fd >= 0)
			close(fd);
		return out;
	}
	end = lseek(fd, 0, SEEK_END);
	n = pread(fd, out, max, end > (off_t)max ? end - (off_t)max : 0);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	return out;
}
