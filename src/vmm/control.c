/* control: owns the VMM's control socket server: the listening unix socket
 * and its file, every connected client (input line buffer, bounded output
 * buffer, epoll registration), command dispatch to the VM's table and the
 * broadcast of events.
 *
 * Threading: everything runs on the event-loop thread except control_event(),
 * which any thread may call. ctl->lock guards the client list and each
 * client's output state (buffer, registered events, dead flag); input state
 * belongs to the loop thread alone. Clients are unlinked and freed only on
 * the loop thread. control_event() queues output and sends it with
 * non-blocking sends under the lock; a client it has to drop is marked dead
 * and shut down, which makes epoll report EPOLLHUP so the loop thread reaps
 * it. Lock order: ctl->lock, then the evloop's internal lock (evloop_mod);
 * the evloop calls us without holding its lock, so there is no cycle.
 * Command handlers run with ctl->lock released (they may emit events).
 * control_close() must run on the loop thread or after evloop_run() has
 * returned (the evloop's rule for freeing a registration's opaque). */
#include "control.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "ctlproto.h"
#include "vmkit-config.h"

#define CONTROL_MAX_CLIENTS 64
/* Output a client may have pending before it is dropped. */
#define CONTROL_OUT_MAX (1024 * 1024)
/* An idle client's output buffer larger than this is released. */
#define CONTROL_OUT_KEEP (64 * 1024)
/* One request line plus its newline. */
#define CONTROL_IN_SIZE (CTLPROTO_MAX_LINE + 1)
#define CONTROL_BACKLOG 16
/* Connections accepted per wake-up, so a flood cannot starve the loop. */
#define CONTROL_ACCEPT_BATCH 16

struct control_client {
	struct control *ctl;
	struct control_client *next;
	int fd;
	unsigned id; /* for log messages */
	/* Loop thread only. */
	char *in;
	size_t in_len;
	/* Guarded by ctl->lock. */
	char *out;
	size_t out_off, out_len, out_cap; /* pending bytes: out[out_off, +out_len) */
	uint32_t events;                  /* registered with the evloop */
	bool dead;
};

struct control {
	struct evloop *loop;
	const struct control_cmd *cmds;
	void *vm;
	char *path;
	dev_t sock_dev; /* identity of the socket file we created */
	ino_t sock_ino;
	int listen_fd;
	char *greeting;
	unsigned next_id; /* loop thread only */
	pthread_mutex_t lock;
	struct control_client *clients; /* guarded by lock */
	unsigned nclients;              /* guarded by lock */
};

/* ---- output (all with ctl->lock held) ---- */

/* Mark c dead and shut its socket down; the loop thread reaps it when epoll
 * reports the hang-up (which the shutdown guarantees). */
static void client_kill_locked(struct control_client *c)
{
	if (c->dead)
		return;
	c->dead = true;
	shutdown(c->fd, SHUT_RDWR);
	free(c->out);
	c->out = NULL;
	c->out_off = c->out_len = c->out_cap = 0;
}

static void client_drop_locked(struct control_client *c, const char *why)
{
	if (c->dead)
		return;
	log_warn("control: client %u: %s, disconnecting", c->id, why);
	client_kill_locked(c);
}

/* A send failed: a peer that hung up is routine, anything else is worth a
 * warning. Either way the client is done. */
static void client_send_failed_locked(struct control_client *c, ssize_t err)
{
	if (err == -EPIPE || err == -ECONNRESET) {
		log_debug("control: client %u hung up", c->id);
		client_kill_locked(c);
		return;
	}
	client_drop_locked(c, "send failed");
}

/* Send what the socket takes now; returns bytes sent or -errno (-EAGAIN
 * included when nothing could be sent). */
static ssize_t client_send_some(struct control_client *c, const char *data, size_t len)
{
	ssize_t n;

	do {
		n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void client_set_events_locked(struct control_client *c, uint32_t events)
{
	if (c->events == events || c->dead)
		return;
	c->events = events;
	if (evloop_mod(c->ctl->loop, c->fd, events) < 0)
		client_drop_locked(c, "cannot update its event registration");
}

static void client_flush_locked(struct control_client *c)
{
	while (!c->dead && c->out_len > 0) {
		ssize_t n = client_send_some(c, c->out + c->out_off, c->out_len);

		if (n == -EAGAIN || n == -EWOULDBLOCK)
			return;
		if (n < 0) {
			client_send_failed_locked(c, n);
			return;
		}
		c->out_off += (size_t)n;
		c->out_len -= (size_t)n;
	}
	if (c->dead)
		return;
	c->out_off = 0;
	if (c->out_cap > CONTROL_OUT_KEEP) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	client_set_events_locked(c, EPOLLIN);
}

/* Room for len more pending bytes (len + out_len <= CONTROL_OUT_MAX). */
static int client_reserve_locked(struct control_client *c, size_t len)
{
	size_t need = c->out_len + len, cap;
	char *buf;

	if (c->out_off + need <= c->out_cap)
		return 0;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len);
		c->out_off = 0;
		if (need <= c->out_cap)
			return 0;
	}
	cap = c->out_cap ? c->out_cap : 4096;
	while (cap < need)
		cap *= 2;
	cap = cap > CONTROL_OUT_MAX ? CONTROL_OUT_MAX : cap;
	buf = realloc(c->out, cap);
	if (!buf)
		return -ENOMEM;
	c->out = buf;
	c->out_cap = cap;
	return 0;
}

/* Queue data for c: sent at once when possible, otherwise buffered (bounded)
 * with EPOLLOUT armed until it drains. */
static void client_send_locked(struct control_client *c, const char *data, size_t len)
{
	if (c->dead)
		return;
	if (c->out_len == 0) {
		ssize_t n = client_send_some(c, data, len);

		if (n < 0 && n != -EAGAIN && n != -EWOULDBLOCK) {
			client_send_failed_locked(c, n);
			return;
		}
		if (n >= 0) {
			data += n;
			len -= (size_t)n;
		}
		if (len == 0)
			return;
	}
	if (len > CONTROL_OUT_MAX - c->out_len) {
		client_drop_locked(c, "not reading its output (backlog over 1 MiB)");
		return;
	}
	if (client_reserve_locked(c, len) < 0) {
		client_drop_locked(c, "out of memory for its output");
		return;
	}
	memcpy(c->out + c->out_off + c->out_len, data, len);
	c->out_len += len;
	client_set_events_locked(c, EPOLLIN | EPOLLOUT);
}

/* ---- client lifetime (loop thread) ---- */

static void client_free(struct control_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Unlink c from the list, deregister and free it. */
static void client_reap(struct control_client *c)
{
	struct control *ctl = c->ctl;
	struct control_client **pp;

	pthread_mutex_lock(&ctl->lock);
	for (pp = &ctl->clients; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			ctl->nclients--;
			break;
		}
	}
	pthread_mutex_unlock(&ctl->lock);
	evloop_del(ctl->loop, c->fd);
	log_debug("control: client %u disconnected", c->id);
	client_free(c);
}

static bool client_is_dead(struct control_client *c)
{
	bool dead;

	pthread_mutex_lock(&c->ctl->lock);
	dead = c->dead;
	pthread_mutex_unlock(&c->ctl->lock);
	return dead;
}

/* ---- commands ---- */

static const struct control_cmd *control_find(const struct control *ctl, const char *name)
{
	for (const struct control_cmd *cmd = ctl->cmds; cmd && cmd->name; cmd++) {
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	}
	return NULL;
}

/* Run one request; returns the reply line (NULL only when out of memory). */
static char *control_execute(struct control *ctl, struct ctl_request *req)
{
	const struct control_cmd *cmd;
	json_t *ret = NULL;
	char *err = NULL, *line;
	char desc[128];
	int rc;

	if (strcmp(req->name, "qmp_capabilities") == 0)
		return ctlproto_reply_ok(NULL, req->id);
	cmd = control_find(ctl, req->name);
	if (!cmd) {
		snprintf(desc, sizeof(desc), "The command %s has not been found", req->name);
		return ctlproto_reply_error("CommandNotFound", desc, req->id);
	}
	rc = cmd->fn(ctl->vm, req->args, &ret, &err);
	if (rc < 0) {
		json_decref(ret);
		line = ctlproto_reply_error("GenericError", err ? err : strerror(-rc), req->id);
		free(err);
		return line;
	}
	free(err);
	line = ctlproto_reply_ok(ret, req->id);
	if (!line) {
		snprintf(desc, sizeof(desc), "cannot encode the reply of %s", req->name);
		line = ctlproto_reply_error("GenericError", desc, req->id);
	}
	return line;
}

static bool control_line_is_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	}
	return true;
}

/* Parse and run one line from c, then queue the reply. */
static void client_handle_line(struct control_client *c, const char *line, size_t len)
{
	struct control *ctl = c->ctl;
	struct ctl_request req;
	char err[256];
	char *reply;

	if (control_line_is_blank(line, len))
		return;
	if (ctlproto_parse(line, len, &req, err, sizeof(err)) < 0) {
		log_info("control: client %u: bad request: %s", c->id, err);
		reply = ctlproto_reply_error("GenericError", err, NULL);
	} else {
		reply = control_execute(ctl, &req);
		ctlproto_request_free(&req);
	}
	pthread_mutex_lock(&ctl->lock);
	if (reply)
		client_send_locked(c, reply, strlen(reply));
	else
		client_drop_locked(c, "out of memory for a reply");
	pthread_mutex_unlock(&ctl->lock);
	free(reply);
}

/* A line that fills the whole input buffer: tell the client, then drop it. */
static void client_line_too_long(struct control_client *c)
{
	char desc[96];
	char *reply;

	snprintf(desc, sizeof(desc), "request line longer than %d bytes", CTLPROTO_MAX_LINE);
	reply = ctlproto_reply_error("GenericError", desc, NULL);
	pthread_mutex_lock(&c->ctl->lock);
	if (reply)
		client_send_locked(c, reply, strlen(reply));
	client_drop_locked(c, desc);
	pthread_mutex_unlock(&c->ctl->lock);
	free(reply);
}

/* Run every complete line in c->in (new bytes start at scanned). */
static void client_process_input(struct control_client *c, size_t scanned)
{
	size_t start = 0;
	char *nl;

	while (!client_is_dead(c) &&
	       (nl = memchr(c->in + scanned, '\n', c->in_len - scanned)) != NULL) {
		size_t end = (size_t)(nl - c->in);

		client_handle_line(c, c->in + start, end - start);
		start = end + 1;
		scanned = start;
	}
	c->in_len -= start;
	memmove(c->in, c->in + start, c->in_len);
	if (c->in_len == CONTROL_IN_SIZE)
		client_line_too_long(c);
}

static void client_read(struct control_client *c)
{
	size_t scanned = c->in_len;
	ssize_t n;

	do {
		n = recv(c->fd, c->in + c->in_len, CONTROL_IN_SIZE - c->in_len, MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		/* End of input: flush what we still can, then let go. A partial
		 * last line without its newline is discarded. */
		pthread_mutex_lock(&c->ctl->lock);
		client_flush_locked(c);
		c->dead = true;
		pthread_mutex_unlock(&c->ctl->lock);
		return;
	}
	c->in_len += (size_t)n;
	client_process_input(c, scanned);
}

static void client_on_event(void *opaque, uint32_t events)
{
	struct control_client *c = opaque;
	bool dead;

	pthread_mutex_lock(&c->ctl->lock);
	if (events & (EPOLLHUP | EPOLLERR))
		c->dead = true; /* gone: unread input is discarded */
	if (events & EPOLLOUT)
		client_flush_locked(c);
	dead = c->dead;
	pthread_mutex_unlock(&c->ctl->lock);
	if (!dead && (events & EPOLLIN))
		client_read(c);
	if (client_is_dead(c))
		client_reap(c);
}

/* ---- accepting ---- */

static void control_refuse(int fd)
{
	char desc[64];
	char *line;

	snprintf(desc, sizeof(desc), "too many clients (limit %d)", CONTROL_MAX_CLIENTS);
	line = ctlproto_reply_error("GenericError", desc, NULL);
	if (line && send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("control: cannot tell a refused client why: %s", strerror(errno));
	free(line);
	close(fd);
}

static struct control_client *client_new(struct control *ctl, int fd)
{
	struct control_client *c = calloc(1, sizeof(*c));

	if (c)
		c->in = malloc(CONTROL_IN_SIZE);
	if (!c || !c->in) {
		free(c);
		log_error("control: out of memory for a new client");
		return NULL;
	}
	c->ctl = ctl;
	c->fd = fd;
	c->id = ++ctl->next_id;
	c->events = EPOLLIN;
	return c;
}

static void control_add_client(struct control *ctl, int fd)
{
	struct control_client *c;
	unsigned n;

	pthread_mutex_lock(&ctl->lock);
	n = ctl->nclients;
	pthread_mutex_unlock(&ctl->lock);
	if (n >= CONTROL_MAX_CLIENTS) {
		log_warn("control: refusing a connection: already %u clients", n);
		control_refuse(fd);
		return;
	}
	c = client_new(ctl, fd);
	if (!c || evloop_add(ctl->loop, fd, EPOLLIN, client_on_event, c) < 0) {
		client_free(c); /* closes fd */
		if (!c)
			close(fd);
		return;
	}
	pthread_mutex_lock(&ctl->lock);
	c->next = ctl->clients;
	ctl->clients = c;
	ctl->nclients++;
	/* Nothing can be broadcast to c before its greeting. */
	client_send_locked(c, ctl->greeting, strlen(ctl->greeting));
	pthread_mutex_unlock(&ctl->lock);
	log_debug("control: client %u connected", c->id);
}

static void control_on_accept(void *opaque, uint32_t events)
{
	struct control *ctl = opaque;

	for (int i = 0; i < CONTROL_ACCEPT_BATCH; i++) {
		int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_error("control: accept on %s: %s", ctl->path, strerror(errno));
			return;
		}
		control_add_client(ctl, fd);
	}
}

/* ---- the listening socket ---- */

/* An existing file at path: a stale socket is removed; a socket somebody
 * still serves, or anything that is not a socket, is left alone. */
static int control_clear_path(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		log_error("control: cannot check %s: %s", path, strerror(errno));
		return ret;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("control: %s exists and is not a socket", path);
		return -EEXIST;
	}
	/* Non-blocking: a live server with a full backlog gives EAGAIN. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		log_error("control: socket: %s", strerror(errno));
		return ret;
	}
	ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0 ? 0 : -errno;
	close(fd);
	if (ret == 0 || ret == -EAGAIN) {
		log_error("control: %s is in use by a running server", path);
		return -EADDRINUSE;
	}
	if (ret != -ECONNREFUSED && ret != -ENOENT) {
		log_error("control: cannot probe existing socket %s: %s", path, strerror(-ret));
		return ret;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		ret = -errno;
		log_error("control: cannot remove stale socket %s: %s", path, strerror(errno));
		return ret;
	}
	return 0;
}

/* Bind and listen on path (mode 0600, set before anyone can connect). */
static int control_listen(struct control *ctl, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("control: socket path too long (%zu bytes, limit %zu): %s",
			  strlen(path), sizeof(addr.sun_path) - 1, path);
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	ret = control_clear_path(path, &addr);
	if (ret < 0)
		return ret;
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->listen_fd < 0 ||
	    bind(ctl->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno;
		log_error("control: cannot bind %s: %s", path, strerror(errno));
		return ret;
	}
	ctl->path = strdup(path);
	if (!ctl->path) {
		log_error("control: out of memory");
		return -ENOMEM;
	}
	if (stat(path, &st) == 0) {
		ctl->sock_dev = st.st_dev; /* from now on control_close() unlinks it */
		ctl->sock_ino = st.st_ino;
	}
	if (ctl->sock_ino == 0 || chmod(path, 0600) < 0 ||
	    listen(ctl->listen_fd, CONTROL_BACKLOG) < 0) {
		ret = -errno;
		log_error("control: cannot set up %s: %s", path, strerror(errno));
		return ret ? ret : -EIO;
	}
	return 0;
}

int control_open(const char *path, struct evloop *loop, const struct control_cmd *cmds,
		 void *vm, struct control **out)
{
	struct control *ctl;
	int ret;

	if (!path || !loop || !out)
		return -EINVAL;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->loop = loop;
	ctl->cmds = cmds;
	ctl->vm = vm;
	ctl->listen_fd = -1;
	pthread_mutex_init(&ctl->lock, NULL);
	ctl->greeting = ctlproto_greeting(VMKIT_VERSION);
	if (!ctl->greeting) {
		log_error("control: out of memory");
		ret = -ENOMEM;
		goto out;
	}
	ret = control_listen(ctl, path);
	if (ret < 0)
		goto out;
	ret = evloop_add(loop, ctl->listen_fd, EPOLLIN, control_on_accept, ctl);
	if (ret < 0)
		goto out;
	*out = ctl;
	return 0;
out:
	control_close(ctl);
	return ret;
}

/* Remove the socket file, but only if it is still the one we created. */
static void control_unlink(struct control *ctl)
{
	struct stat st;

	if (!ctl->path || ctl->sock_ino == 0)
		return;
	if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->sock_dev &&
	    st.st_ino == ctl->sock_ino && unlink(ctl->path) < 0)
		log_warn("control: cannot remove %s: %s", ctl->path, strerror(errno));
}

void control_close(struct control *ctl)
{
	struct control_client *c, *next;

	if (!ctl)
		return;
	if (ctl->listen_fd >= 0) {
		evloop_del(ctl->loop, ctl->listen_fd);
		close(ctl->listen_fd);
	}
	control_unlink(ctl);
	pthread_mutex_lock(&ctl->lock);
	c = ctl->clients;
	ctl->clients = NULL;
	ctl->nclients = 0;
	pthread_mutex_unlock(&ctl->lock);
	for (; c; c = next) {
		next = c->next;
		evloop_del(ctl->loop, c->fd);
		client_free(c);
	}
	pthread_mutex_destroy(&ctl->lock);
	free(ctl->greeting);
	free(ctl->path);
	free(ctl);
}

void control_event(struct control *ctl, const char *name, json_t *data)
{
	struct timespec ts;
	char *line;
	size_t len;

	if (!ctl) {
		json_decref(data);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	line = ctlproto_event(name, data,
			      (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
	if (!line) {
		log_error("control: cannot encode event %s", name ? name : "(null)");
		return;
	}
	len = strlen(line);
	pthread_mutex_lock(&ctl->lock);
	for (struct control_client *c = ctl->clients; c; c = c->next)
		client_send_locked(c, line, len);
	pthread_mutex_unlock(&ctl->lock);
	free(line);
}
