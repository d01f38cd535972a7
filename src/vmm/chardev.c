/* chardev: character backends behind the serial port: stdio, file:PATH, pty,
 * unix:PATH and none.
 *
 * Owns: the backend fds, the output ring buffer, input flow control and the
 * event-loop registrations of those fds.
 *
 * Threads. chardev_write() and chardev_accept_input() may be called from any
 * thread (vCPU threads); everything they touch is under cd->lock. Input is
 * read and output flushed on the event-loop thread; the front end's
 * can_recv/recv and the quit hook are called without the lock, so they may
 * call chardev_write()/chardev_accept_input() themselves. chardev_open() and
 * chardev_close() must not run while the loop may dispatch this chardev's
 * fds (call them before evloop_run() or after it returned, or on the loop
 * thread).
 *
 * Output. With nothing queued, chardev_write() tries one non-blocking
 * write(); what does not fit goes to a CHARDEV_OUTBUF ring flushed on
 * EPOLLOUT; what does not fit there is dropped and counted. An output fd
 * epoll cannot watch (a regular file, /dev/null) never returns EAGAIN, so it
 * is written synchronously. After a hard write error (EPIPE, EIO...) output
 * is dropped and counted until the backend gets a new peer (unix).
 *
 * Input. On EPOLLIN we read at most can_recv() bytes. When can_recv() is 0
 * the fd stops being watched for input until chardev_accept_input(). On EOF
 * (or a read error) input stops for good, except on unix where the client is
 * dropped and the socket goes back to accepting. An fd is removed from the
 * epoll set whenever no event is wanted on it, so EPOLLHUP cannot spin.
 *
 * Backends:
 *  - stdio: output to fd 1, input from fd 0. Both are set O_NONBLOCK and get
 *    their original file status flags back on close (they are shared with
 *    the parent shell). If fd 0 is a tty it is put in raw mode (term_raw)
 *    and restored on close. Input always goes through the Ctrl-a escape
 *    filter (term.c), tty or not, so "\x01x" through a pipe quits too.
 *    A stdin epoll cannot watch (a regular file, /dev/null) gives no input.
 *  - file:PATH: created/truncated, mode 0644; output only.
 *  - pty: a new pseudo-terminal in raw mode; chardev_filename() is the slave.
 *    We keep one fd of the slave open ourselves, so the master never sees
 *    EIO/EPOLLHUP when no user has the slave open: output then fills the
 *    pty's queue, then our ring, then is dropped and counted; a user who
 *    opens the slave later first reads what was queued.
 *  - unix:PATH: a listening stream socket, mode 0600. A stale socket file is
 *    replaced, but not a live one (someone accepts connections on it:
 *    -EADDRINUSE) nor a file that is not a socket (-EEXIST). One client at a
 *    time: another connection while one is attached is closed at once.
 *    Output while no client is attached is dropped and counted. When the
 *    client disconnects we accept the next one. The file is unlinked on close.
 *  - none: no input; output is discarded and counted in chardev_dropped()
 *    (chardev_write returns 0), so "nothing was delivered" reads the same
 *    for every backend.
 */
#include "chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "term.h"

#define CHARDEV_INBUF 4096
#define CHARDEV_UNIX_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))

/* One event-loop registration: which fd, whether it is in the epoll set and
 * with which events. */
struct chardev_watch {
	int fd;
	bool registered;
	uint32_t mask;
};

struct chardev {
	enum chardev_kind kind;
	struct evloop *loop;
	struct chardev_hooks hooks;
	pthread_mutex_t lock; /* guards the fields below up to `esc` */
	struct chardev_frontend fe;
	bool has_fe;
	int in_fd, out_fd; /* -1: none; equal for pty and unix client */
	bool in_pollable, out_pollable;
	bool out_is_socket;
	bool owns_io_fds; /* close in_fd/out_fd on close */
	struct chardev_watch w_in; /* in_fd, or the shared fd */
	struct chardev_watch w_out; /* out_fd when distinct from in_fd */
	bool in_paused, in_eof, out_dead, out_err_logged;
	uint64_t accept_seq; /* bumped by chardev_accept_input() */
	uint8_t *ring;
	size_t ring_head, ring_len;
	/* stdio */
	bool restore_fl;
	int saved_fl_in, saved_fl_out;
	bool tty_raw;
	bool esc_enabled;
	struct term_esc esc; /* loop thread only */
	int log_fd;        /* spec->log, or -1 */
	bool log_failed;   /* one message per chardev */
	/* pty */
	int pty_slave_fd;
	/* unix */
	int listen_fd;
	bool listen_registered;
	atomic_uint_fast64_t dropped;
	char filename[CHARDEV_PATH_MAX];
};

static void chardev_on_in(void *opaque, uint32_t events);
static void chardev_on_out(void *opaque, uint32_t events);
static void chardev_on_io(void *opaque, uint32_t events);

/* ---- parsing ---- */

static int chardev_parse_path(const char *s, const char *path, size_t max,
			      struct chardev_spec *out)
{
	size_t len = strlen(path);

	if (len == 0) {
		log_error("invalid chardev '%s': the path is empty", s);
		return -EINVAL;
	}
	if (len >= max) {
		log_error("invalid chardev '%s': path longer than %zu bytes", s, max - 1);
		return -ENAMETOOLONG;
	}
	memcpy(out->path, path, len + 1);
	return 0;
}

int chardev_parse(const char *s, struct chardev_spec *out)
{
	out->kind = CHARDEV_NONE;
	memset(out->path, 0, sizeof(out->path));
	if (!s)
		s = "";
	if (strcmp(s, "stdio") == 0) {
		out->kind = CHARDEV_STDIO;
		return 0;
	}
	if (strcmp(s, "none") == 0) {
		out->kind = CHARDEV_NONE;
		return 0;
	}
	if (strcmp(s, "pty") == 0) {
		out->kind = CHARDEV_PTY;
		return 0;
	}
	if (strncmp(s, "file:", 5) == 0) {
		out->kind = CHARDEV_FILE;
		return chardev_parse_path(s, s + 5, CHARDEV_PATH_MAX, out);
	}
	if (strncmp(s, "unix:", 5) == 0) {
		out->kind = CHARDEV_UNIX;
		return chardev_parse_path(s, s + 5, CHARDEV_UNIX_PATH_MAX, out);
	}
	log_error("invalid chardev '%s': expected stdio, none, pty, file:PATH or unix:PATH", s);
	return -EINVAL;
}

const char *chardev_kind_name(enum chardev_kind kind)
{
	switch (kind) {
	case CHARDEV_NONE:
		return "none";
	case CHARDEV_STDIO:
		return "stdio";
	case CHARDEV_FILE:
		return "file";
	case CHARDEV_PTY:
		return "pty";
	case CHARDEV_UNIX:
		return "unix";
	}
	return "?";
}

/* ---- registrations (called with cd->lock held) ---- */

static int chardev_watch_set(struct chardev *cd, struct chardev_watch *w, int fd,
			     uint32_t mask, evloop_fn fn)
{
	int ret = 0;

	if (fd < 0)
		return 0;
	if (mask == 0) {
		if (w->registered)
			(void)evloop_del(cd->loop, fd);
		*w = (struct chardev_watch){ .fd = fd };
		return 0;
	}
	if (!w->registered)
		ret = evloop_add(cd->loop, fd, mask, fn, cd);
	else if (w->mask != mask)
		ret = evloop_mod(cd->loop, fd, mask);
	if (ret < 0)
		return ret;
	*w = (struct chardev_watch){ .fd = fd, .registered = true, .mask = mask };
	return 0;
}

static void chardev_drop_ring(struct chardev *cd)
{
	atomic_fetch_add(&cd->dropped, cd->ring_len);
	cd->ring_len = 0;
	cd->ring_head = 0;
}

static bool chardev_want_in(const struct chardev *cd)
{
	return cd->has_fe && cd->in_fd >= 0 && cd->in_pollable && !cd->in_paused &&
	       !cd->in_eof;
}

/* A registration failed (out of memory...): give up on input and output
 * rather than leave a half-watched fd. */
static void chardev_watch_failed(struct chardev *cd, int err)
{
	log_error("chardev %s: cannot watch its fds: %s; input and output stop",
		  chardev_kind_name(cd->kind), strerror(-err));
	cd->in_eof = true;
	cd->out_dead = true;
	chardev_drop_ring(cd);
}

/* Bring the epoll registrations in line with what is wanted now. */
static void chardev_update(struct chardev *cd)
{
	uint32_t in = chardev_want_in(cd) ? EPOLLIN : 0;
	uint32_t out = cd->ring_len > 0 ? EPOLLOUT : 0;
	int ret;

	if (cd->in_fd >= 0 && cd->in_fd == cd->out_fd) {
		ret = chardev_watch_set(cd, &cd->w_in, cd->in_fd, in | out, chardev_on_io);
	} else {
		ret = chardev_watch_set(cd, &cd->w_in, cd->in_fd, in, chardev_on_in);
		if (ret == 0)
			ret = chardev_watch_set(cd, &cd->w_out, cd->out_fd, out, chardev_on_out);
	}
	if (ret < 0) {
		chardev_watch_failed(cd, ret);
		(void)chardev_watch_set(cd, &cd->w_in, cd->in_fd, 0, NULL);
		(void)chardev_watch_set(cd, &cd->w_out, cd->out_fd, 0, NULL);
	}
}

/* ---- output (cd->lock held) ---- */

/* One non-blocking write: bytes written, 0 for "try later", or -errno. */
static ssize_t chardev_out_raw(struct chardev *cd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	do {
		if (cd->out_is_socket)
			n = send(cd->out_fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = write(cd->out_fd, buf, len);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return n;
}

static void chardev_out_error(struct chardev *cd, int err)
{
	if (!cd->out_err_logged)
		log_warn("chardev %s: output failed: %s; output is dropped from now on",
			 chardev_kind_name(cd->kind), strerror(-err));
	cd->out_err_logged = true;
	cd->out_dead = true;
	chardev_drop_ring(cd);
}

/* Output fd epoll cannot watch (regular file): write it all now. */
static size_t chardev_write_sync(struct chardev *cd, const uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = chardev_out_raw(cd, buf + done, len - done);

		if (n <= 0) {
			chardev_out_error(cd, n < 0 ? (int)n : -EAGAIN);
			break;
		}
		done += (size_t)n;
	}
	return done;
}

static size_t chardev_ring_put(struct chardev *cd, const uint8_t *buf, size_t len)
{
	size_t n = MIN(len, CHARDEV_OUTBUF - cd->ring_len);
	size_t tail = (cd->ring_head + cd->ring_len) % CHARDEV_OUTBUF;
	size_t first = MIN(n, CHARDEV_OUTBUF - tail);

	memcpy(cd->ring + tail, buf, first);
	memcpy(cd->ring, buf + first, n - first);
	cd->ring_len += n;
	return n;
}

static void chardev_flush(struct chardev *cd)
{
	while (cd->ring_len > 0 && !cd->out_dead) {
		size_t seg = MIN(cd->ring_len, CHARDEV_OUTBUF - cd->ring_head);
		ssize_t n = chardev_out_raw(cd, cd->ring + cd->ring_head, seg);

		if (n < 0)
			chardev_out_error(cd, (int)n);
		if (n <= 0)
			break;
		cd->ring_head = (cd->ring_head + (size_t)n) % CHARDEV_OUTBUF;
		cd->ring_len -= (size_t)n;
	}
	if (cd->ring_len == 0)
		cd->ring_head = 0;
}

/* The copy to spec->log: a regular file, appended in full; cd->lock held. */
static void chardev_log_write(struct chardev *cd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(cd->log_fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (!cd->log_failed)
				log_warn("console log: %s: output is no longer copied there",
					 n < 0 ? strerror(errno) : "short write");
			cd->log_failed = true;
			close(cd->log_fd);
			cd->log_fd = -1;
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

size_t chardev_write(struct chardev *cd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0;
	ssize_t n;

	if (!cd || len == 0)
		return 0;
	pthread_mutex_lock(&cd->lock);
	if (cd->log_fd >= 0)
		chardev_log_write(cd, p, len);
	if (cd->out_fd < 0 || cd->out_dead)
		goto out;
	if (!cd->out_pollable) {
		done = chardev_write_sync(cd, p, len);
		goto out;
	}
	if (cd->ring_len == 0) {
		n = chardev_out_raw(cd, p, len);
		if (n < 0) {
			chardev_out_error(cd, (int)n);
			goto out;
		}
		done = (size_t)n;
	}
	done += chardev_ring_put(cd, p + done, len - done);
	if (cd->ring_len > 0)
		chardev_update(cd);
out:
	if (done < len)
		atomic_fetch_add(&cd->dropped, len - done);
	pthread_mutex_unlock(&cd->lock);
	return done;
}

uint64_t chardev_dropped(const struct chardev *cd)
{
	return cd ? atomic_load(&cd->dropped) : 0;
}

/* ---- input (loop thread) ---- */

static void chardev_pause_input(struct chardev *cd, uint64_t seq)
{
	pthread_mutex_lock(&cd->lock);
	/* Unless the front end made room since we asked. */
	if (cd->accept_seq == seq) {
		cd->in_paused = true;
		chardev_update(cd);
	}
	pthread_mutex_unlock(&cd->lock);
}

void chardev_accept_input(struct chardev *cd)
{
	if (!cd)
		return;
	pthread_mutex_lock(&cd->lock);
	cd->accept_seq++;
	if (cd->in_paused) {
		cd->in_paused = false;
		chardev_update(cd);
	}
	pthread_mutex_unlock(&cd->lock);
}

/* Unix: forget the client (the socket goes back to accepting). */
static void chardev_client_drop(struct chardev *cd)
{
	pthread_mutex_lock(&cd->lock);
	if (cd->in_fd >= 0) {
		(void)chardev_watch_set(cd, &cd->w_in, cd->in_fd, 0, NULL);
		close(cd->in_fd);
		log_info("chardev unix:%s: client disconnected", cd->filename);
	}
	cd->in_fd = -1;
	cd->out_fd = -1;
	cd->w_in = (struct chardev_watch){ .fd = -1 };
	chardev_drop_ring(cd);
	pthread_mutex_unlock(&cd->lock);
}

/* EOF (err 0) or a read error on the input fd. */
static void chardev_input_end(struct chardev *cd, int err)
{
	if (cd->kind == CHARDEV_UNIX) {
		chardev_client_drop(cd);
		return;
	}
	if (err)
		log_warn("chardev %s: input failed: %s; input stops",
			 chardev_kind_name(cd->kind), strerror(-err));
	else
		log_debug("chardev %s: end of input", chardev_kind_name(cd->kind));
	pthread_mutex_lock(&cd->lock);
	cd->in_eof = true;
	chardev_update(cd);
	pthread_mutex_unlock(&cd->lock);
}

/* Hand input to the front end, through the escape filter on stdio. */
static void chardev_deliver(struct chardev *cd, const struct chardev_frontend *fe,
			    const uint8_t *buf, size_t len)
{
	uint8_t out[CHARDEV_INBUF];
	enum term_esc_action act;
	size_t off = 0, used, n;

	if (!cd->esc_enabled) {
		fe->recv(fe->opaque, buf, len);
		return;
	}
	while (off < len) {
		n = term_esc_filter(&cd->esc, buf + off, len - off, out, &act, &used);
		off += used;
		if (n > 0)
			fe->recv(fe->opaque, out, n);
		switch (act) {
		case TERM_ESC_NONE:
			break;
		case TERM_ESC_QUIT:
			if (cd->hooks.quit)
				cd->hooks.quit(cd->hooks.opaque);
			return; /* the rest of this read is discarded */
		case TERM_ESC_HELP:
			(void)chardev_write(cd, term_esc_help, strlen(term_esc_help));
			break;
		}
	}
}

static void chardev_on_in(void *opaque, uint32_t events)
{
	struct chardev *cd = opaque;
	uint8_t buf[CHARDEV_INBUF];
	struct chardev_frontend fe;
	uint64_t seq;
	size_t room;
	ssize_t n;
	int fd;

	pthread_mutex_lock(&cd->lock);
	if (!chardev_want_in(cd)) {
		pthread_mutex_unlock(&cd->lock);
		return;
	}
	fe = cd->fe;
	seq = cd->accept_seq;
	fd = cd->in_fd;
	pthread_mutex_unlock(&cd->lock);
	room = fe.can_recv(fe.opaque);
	if (room == 0) {
		chardev_pause_input(cd, seq);
		return;
	}
	n = read(fd, buf, MIN(room, sizeof(buf)));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		chardev_input_end(cd, n < 0 ? -errno : 0);
		return;
	}
	chardev_deliver(cd, &fe, buf, (size_t)n);
}

static void chardev_on_out(void *opaque, uint32_t events)
{
	struct chardev *cd = opaque;

	pthread_mutex_lock(&cd->lock);
	chardev_flush(cd);
	chardev_update(cd);
	pthread_mutex_unlock(&cd->lock);
}

/* The shared fd of pty and unix: flush first (a hang-up makes the write fail
 * and the queued output be dropped), then read. */
static void chardev_on_io(void *opaque, uint32_t events)
{
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		chardev_on_out(opaque, events);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		chardev_on_in(opaque, events);
}

void chardev_set_frontend(struct chardev *cd, const struct chardev_frontend *fe)
{
	if (!cd)
		return;
	pthread_mutex_lock(&cd->lock);
	cd->has_fe = fe && fe->can_recv && fe->recv;
	if (cd->has_fe)
		cd->fe = *fe;
	cd->in_paused = false;
	chardev_update(cd);
	pthread_mutex_unlock(&cd->lock);
}

/* ---- backends ---- */

/* Whether epoll accepts fd (it refuses regular files and /dev/null). */
static bool chardev_fd_pollable(int fd)
{
	struct epoll_event ev = { .events = 0 };
	int ep = epoll_create1(EPOLL_CLOEXEC);
	bool ok;

	if (ep < 0)
		return false;
	ok = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0;
	close(ep);
	return ok;
}

static int chardev_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* Use fd as output (and input if in): non-blocking, pollability known. */
static int chardev_attach_fd(struct chardev *cd, int fd, bool in, bool out)
{
	int ret = chardev_set_nonblock(fd);

	if (ret < 0) {
		log_error("chardev %s: cannot make fd %d non-blocking: %s",
			  chardev_kind_name(cd->kind), fd, strerror(-ret));
		return ret;
	}
	if (in) {
		cd->in_fd = fd;
		cd->in_pollable = chardev_fd_pollable(fd);
	}
	if (out) {
		cd->out_fd = fd;
		cd->out_pollable = chardev_fd_pollable(fd);
	}
	return 0;
}

static int chardev_setup_stdio(struct chardev *cd, int in_fd, int out_fd)
{
	int ret;

	cd->esc_enabled = true;
	cd->saved_fl_in = in_fd >= 0 ? fcntl(in_fd, F_GETFL) : -1;
	cd->saved_fl_out = out_fd >= 0 ? fcntl(out_fd, F_GETFL) : -1;
	cd->restore_fl = true;
	if (cd->saved_fl_in >= 0 && term_raw(in_fd) == 0)
		cd->tty_raw = true;
	if (cd->saved_fl_out >= 0) {
		ret = chardev_attach_fd(cd, out_fd, false, true);
		if (ret < 0)
			return ret;
	}
	if (cd->saved_fl_in >= 0) {
		ret = chardev_attach_fd(cd, in_fd, true, false);
		if (ret < 0)
			return ret;
		if (!cd->in_pollable)
			log_debug("chardev stdio: stdin cannot be polled; no console input");
	}
	return 0;
}

static int chardev_setup_file(struct chardev *cd, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0644);

	if (fd < 0) {
		int err = errno;

		log_error("chardev file:%s: cannot open: %s", path, strerror(err));
		return -err;
	}
	snprintf(cd->filename, sizeof(cd->filename), "%s", path);
	cd->owns_io_fds = true;
	return chardev_attach_fd(cd, fd, false, true);
}

static int chardev_pty_raw(int fd)
{
	struct termios tio;

	if (tcgetattr(fd, &tio) < 0)
		return -errno;
	cfmakeraw(&tio);
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return -errno;
	return 0;
}

static int chardev_setup_pty(struct chardev *cd)
{
	int fd, ret;

	fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_error("chardev pty: cannot open a pseudo-terminal: %s", strerror(-ret));
		return ret;
	}
	cd->owns_io_fds = true;
	cd->in_fd = fd; /* closed by chardev_close() from here on */
	cd->out_fd = fd;
	if (grantpt(fd) < 0 || unlockpt(fd) < 0 ||
	    (errno = ptsname_r(fd, cd->filename, sizeof(cd->filename))) != 0) {
		ret = -errno;
		log_error("chardev pty: cannot set up the slave: %s", strerror(-ret));
		return ret;
	}
	ret = chardev_pty_raw(fd);
	if (ret < 0) {
		log_error("chardev pty: cannot set raw mode: %s", strerror(-ret));
		return ret;
	}
	cd->pty_slave_fd = open(cd->filename, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (cd->pty_slave_fd < 0) {
		ret = -errno;
		log_error("chardev pty: cannot open %s: %s", cd->filename, strerror(-ret));
		return ret;
	}
	return chardev_attach_fd(cd, fd, true, true);
}

static void chardev_on_listen(void *opaque, uint32_t events)
{
	struct chardev *cd = opaque;
	int fd = accept4(cd->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return;
		/* EMFILE & co. leave the socket readable: stop accepting rather
		 * than spin. */
		log_error("chardev unix:%s: accept: %s; no more clients accepted",
			  cd->filename, strerror(errno));
		(void)evloop_del(cd->loop, cd->listen_fd);
		cd->listen_registered = false;
		return;
	}
	pthread_mutex_lock(&cd->lock);
	if (cd->in_fd >= 0) {
		pthread_mutex_unlock(&cd->lock);
		log_info("chardev unix:%s: a client is already attached; refusing another",
			 cd->filename);
		close(fd);
		return;
	}
	cd->in_fd = fd;
	cd->out_fd = fd;
	cd->in_pollable = true;
	cd->out_pollable = true;
	cd->in_eof = false;
	cd->in_paused = false;
	cd->out_dead = false;
	cd->out_err_logged = false;
	chardev_update(cd);
	pthread_mutex_unlock(&cd->lock);
	log_info("chardev unix:%s: client connected", cd->filename);
}

/* Remove a socket file left behind by a dead process. 0 or -errno. */
static int chardev_unix_clear(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, live;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("chardev unix:%s: exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
	close(fd);
	if (live) {
		log_error("chardev unix:%s: another process is listening on it", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int chardev_unix_listen(struct chardev *cd, const struct sockaddr_un *sa)
{
	cd->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (cd->listen_fd < 0)
		return -errno;
	if (bind(cd->listen_fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		return -errno;
	/* Set the mode before listen(): nobody can connect in between. */
	if (chmod(sa->sun_path, 0600) < 0 || listen(cd->listen_fd, 1) < 0) {
		int err = errno;

		unlink(sa->sun_path);
		return -err;
	}
	snprintf(cd->filename, sizeof(cd->filename), "%s", sa->sun_path);
	return 0;
}

static int chardev_setup_unix(struct chardev *cd, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strnlen(path, CHARDEV_PATH_MAX);
	int ret;

	if (len == 0 || len >= sizeof(sa.sun_path)) {
		log_error("chardev unix:%s: path %s", path,
			  len ? "too long for a socket address" : "empty");
		return len ? -ENAMETOOLONG : -EINVAL;
	}
	memcpy(sa.sun_path, path, len);
	cd->out_is_socket = true;
	cd->owns_io_fds = true;
	ret = chardev_unix_clear(path, &sa);
	if (ret == 0)
		ret = chardev_unix_listen(cd, &sa);
	if (ret < 0) {
		if (ret != -EEXIST && ret != -EADDRINUSE)
			log_error("chardev unix:%s: cannot listen: %s", path, strerror(-ret));
		return ret;
	}
	ret = evloop_add(cd->loop, cd->listen_fd, EPOLLIN, chardev_on_listen, cd);
	if (ret < 0)
		return ret;
	cd->listen_registered = true;
	return 0;
}

static int chardev_alloc(enum chardev_kind kind, struct evloop *loop,
			 const struct chardev_hooks *hooks, struct chardev **out)
{
	struct chardev *cd = calloc(1, sizeof(*cd));

	if (!cd)
		return -ENOMEM;
	cd->ring = malloc(CHARDEV_OUTBUF);
	if (!cd->ring) {
		free(cd);
		return -ENOMEM;
	}
	cd->kind = kind;
	cd->loop = loop;
	if (hooks)
		cd->hooks = *hooks;
	pthread_mutex_init(&cd->lock, NULL);
	cd->in_fd = cd->out_fd = cd->pty_slave_fd = cd->listen_fd = cd->log_fd = -1;
	cd->w_in.fd = cd->w_out.fd = -1;
	atomic_init(&cd->dropped, 0);
	*out = cd;
	return 0;
}

static int chardev_setup(struct chardev *cd, const struct chardev_spec *spec)
{
	switch (spec->kind) {
	case CHARDEV_NONE:
		return 0;
	case CHARDEV_STDIO:
		return chardev_setup_stdio(cd, STDIN_FILENO, STDOUT_FILENO);
	case CHARDEV_FILE:
		return chardev_setup_file(cd, spec->path);
	case CHARDEV_PTY:
		return chardev_setup_pty(cd);
	case CHARDEV_UNIX:
		return chardev_setup_unix(cd, spec->path);
	}
	return -EINVAL;
}

static int chardev_open_log(struct chardev *cd, const char *path)
{
	cd->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
	if (cd->log_fd < 0) {
		int ret = -errno;

		log_error("console log %s: %s", path, strerror(errno));
		return ret;
	}
	return 0;
}

int chardev_open(const struct chardev_spec *spec, struct evloop *loop,
		 const struct chardev_hooks *hooks, struct chardev **out)
{
	struct chardev *cd;
	int ret;

	if (!spec || !out || (!loop && spec->kind != CHARDEV_NONE))
		return -EINVAL;
	ret = chardev_alloc(spec->kind, loop, hooks, &cd);
	if (ret < 0)
		return ret;
	ret = chardev_setup(cd, spec);
	if (ret == 0 && spec->log[0])
		ret = chardev_open_log(cd, spec->log);
	if (ret < 0) {
		chardev_close(cd);
		return ret;
	}
	if (spec->kind == CHARDEV_PTY)
		log_info("serial console on %s", cd->filename);
	*out = cd;
	return 0;
}

int chardev_open_fds(int in_fd, int out_fd, struct evloop *loop,
		     const struct chardev_hooks *hooks, struct chardev **out)
{
	struct chardev *cd;
	int ret;

	if (!loop || !out)
		return -EINVAL;
	ret = chardev_alloc(CHARDEV_STDIO, loop, hooks, &cd);
	if (ret < 0)
		return ret;
	ret = chardev_setup_stdio(cd, in_fd, out_fd);
	if (ret < 0) {
		chardev_close(cd);
		return ret;
	}
	*out = cd;
	return 0;
}

/* Unregister and close (or hand back) the fds; cd->lock held. */
static void chardev_release_fds(struct chardev *cd)
{
	(void)chardev_watch_set(cd, &cd->w_in, cd->in_fd, 0, NULL);
	(void)chardev_watch_set(cd, &cd->w_out, cd->out_fd, 0, NULL);
	if (cd->restore_fl) {
		if (cd->saved_fl_out >= 0)
			(void)fcntl(cd->out_fd, F_SETFL, cd->saved_fl_out);
		if (cd->saved_fl_in >= 0)
			(void)fcntl(cd->in_fd, F_SETFL, cd->saved_fl_in);
	}
	if (cd->owns_io_fds) {
		if (cd->in_fd >= 0)
			close(cd->in_fd);
		if (cd->out_fd >= 0 && cd->out_fd != cd->in_fd)
			close(cd->out_fd);
	}
	cd->in_fd = cd->out_fd = -1;
}

void chardev_close(struct chardev *cd)
{
	if (!cd)
		return;
	pthread_mutex_lock(&cd->lock);
	if (cd->out_fd >= 0)
		chardev_flush(cd); /* best effort, never blocks */
	chardev_release_fds(cd);
	pthread_mutex_unlock(&cd->lock);
	if (cd->tty_raw)
		term_restore();
	if (cd->pty_slave_fd >= 0)
		close(cd->pty_slave_fd);
	if (cd->log_fd >= 0)
		close(cd->log_fd);
	if (cd->listen_fd >= 0) {
		if (cd->listen_registered)
			(void)evloop_del(cd->loop, cd->listen_fd);
		close(cd->listen_fd);
		if (cd->filename[0])
			unlink(cd->filename);
	}
	pthread_mutex_destroy(&cd->lock);
	free(cd->ring);
	free(cd);
}

const char *chardev_filename(const struct chardev *cd)
{
	return cd ? cd->filename : "";
}

enum chardev_kind chardev_kind_of(const struct chardev *cd)
{
	return cd ? cd->kind : CHARDEV_NONE;
}
