/* vvsock_conn: the connection side of the virtio-vsock device (see
 * vvsock.h and vvsock.c): the table of connections (fixed slots, a hash on
 * (host port, guest port), a free list), the rx work list, credit
 * bookkeeping towards the guest, and everything on the unix-socket side:
 * the listener on cfg->socket, the "CONNECT <port>\n" line and the
 * "OK <port>\n" answer, connecting to <socket>_<port> for the guest,
 * relaying bytes both ways, half-close, and the deadline timer.
 *
 * Slots are allocated once (VVSOCK_MAX_CONNS) and never move, so a slot is
 * the event-loop opaque of its socket: an event that arrives for a slot
 * that was freed (or reused) meanwhile finds a closed fd or a harmless
 * spurious wake-up, never freed memory.
 *
 * Flow control. Guest to host: the guest may have VVSOCK_BUF_ALLOC bytes
 * not yet written to the socket; what the socket does not take is kept in
 * the connection's buffer (allocated while non-empty, never larger than
 * that), and a packet beyond that credit resets the connection. So the
 * device holds at most VVSOCK_MAX_CONNS * VVSOCK_BUF_ALLOC (64 MiB) of
 * guest data, whatever the guest does. fwd_cnt counts bytes written to the
 * socket; a CREDIT_UPDATE is owed when it moved and the guest's view of
 * the free space fell below half. Host to guest: input is read only into a
 * posted rx buffer and only as far as the guest's credit allows; while the
 * connection waits for credit or buffers its socket is not watched for
 * input (readable stays set), so the kernel's socket buffer is the only
 * queue.
 *
 * Closing. Client EOF: SHUTDOWN(SEND) to the guest. Client gone (HUP, or a
 * write fails): SHUTDOWN(RCV|SEND). Guest SHUTDOWN(RCV): shutdown(SHUT_RD);
 * guest SHUTDOWN(SEND): shutdown(SHUT_WR) once the buffer is written. When
 * both directions are over: if the guest shut both, it waits for our RST,
 * which we send; otherwise we send SHUTDOWN(RCV|SEND) and wait (CLOSING)
 * for the guest's RST or SHUTDOWN, at most timeout_ns, then send RST. */
#include "virtio/vvsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"

#define VVSOCK_ACCEPT_BATCH 16

/* ---- table ---- */

static unsigned vvsock_hash(uint32_t lport, uint32_t pport)
{
	return ((lport * 2654435761u) ^ (pport * 40503u)) & (VVSOCK_HASH_SIZE - 1);
}

struct vvsock_conn *vvsock_conn_find(struct vvsock *vs, uint32_t lport, uint32_t pport)
{
	struct vvsock_conn *c = vs->hash[vvsock_hash(lport, pport)];

	while (c && (c->lport != lport || c->pport != pport))
		c = c->hnext;
	return c;
}

static void vvsock_conn_hash(struct vvsock *vs, struct vvsock_conn *c)
{
	unsigned h = vvsock_hash(c->lport, c->pport);

	c->hnext = vs->hash[h];
	vs->hash[h] = c;
	c->hashed = true;
}

static void vvsock_conn_unhash(struct vvsock *vs, struct vvsock_conn *c)
{
	struct vvsock_conn **pp = &vs->hash[vvsock_hash(c->lport, c->pport)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	c->hnext = NULL;
	c->hashed = false;
}

/* A fresh slot, or NULL at the cap. Its rx-list links are kept: a freed
 * slot may still be on the list, where it is skipped or served anew. */
static struct vvsock_conn *vvsock_conn_alloc(struct vvsock *vs)
{
	struct vvsock_conn *c = vs->free_list;
	struct vvsock_conn *rxnext;
	bool on_rx;

	if (!c || vs->nconns >= vs->max_conns)
		return NULL;
	vs->free_list = c->hnext;
	rxnext = c->rxnext;
	on_rx = c->on_rx;
	memset(c, 0, sizeof(*c));
	c->vs = vs;
	c->fd = -1;
	c->rxnext = rxnext;
	c->on_rx = on_rx;
	vs->nconns++;
	vs->st.conns_total++;
	return c;
}

static void vvsock_conn_close_fd(struct vvsock *vs, struct vvsock_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->registered)
		(void)evloop_del(vs->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->registered = false;
	c->readable = false;
}

static void vvsock_conn_drop_buf(struct vvsock_conn *c)
{
	free(c->buf);
	c->buf = NULL;
	c->buf_len = 0;
}

void vvsock_conn_free(struct vvsock *vs, struct vvsock_conn *c)
{
	if (c->state == VVSOCK_FREE)
		return;
	vvsock_conn_close_fd(vs, c);
	vvsock_conn_drop_buf(c);
	if (c->hashed)
		vvsock_conn_unhash(vs, c);
	c->state = VVSOCK_FREE;
	c->pending = 0;
	c->deadline = 0;
	c->hnext = vs->free_list;
	vs->free_list = c;
	vs->nconns--;
}

void vvsock_conn_abort(struct vvsock *vs, struct vvsock_conn *c)
{
	/* The guest never heard of it: nothing to reset on its side. */
	if (c->state == VVSOCK_LINE || !c->hashed ||
	    (c->state == VVSOCK_CONNECTING && (c->pending & VVSOCK_P_REQUEST))) {
		vvsock_conn_free(vs, c);
		return;
	}
	vvsock_conn_close_fd(vs, c);
	vvsock_conn_drop_buf(c);
	c->state = VVSOCK_DEAD;
	c->pending = VVSOCK_P_RST;
	c->deadline = 0;
	vvsock_conn_want_rx(vs, c);
}

/* ---- rx work list ---- */

bool vvsock_conn_wants_rx(const struct vvsock_conn *c)
{
	if (c->pending)
		return true;
	return c->state == VVSOCK_ESTABLISHED && c->readable && vvsock_h2g_open(c) &&
	       (vvsock_peer_credit(c) > 0 || !c->credit_req_sent);
}

void vvsock_conn_want_rx(struct vvsock *vs, struct vvsock_conn *c)
{
	if (c->on_rx || c->state == VVSOCK_FREE || !vvsock_conn_wants_rx(c))
		return;
	c->on_rx = true;
	c->rxnext = NULL;
	if (vs->rx_tail)
		vs->rx_tail->rxnext = c;
	else
		vs->rx_head = c;
	vs->rx_tail = c;
}

/* ---- event-loop registration ---- */

void vvsock_conn_watch(struct vvsock *vs, struct vvsock_conn *c)
{
	uint32_t ev = 0;
	bool want = true;

	if (c->fd < 0)
		return;
	switch (c->state) {
	case VVSOCK_LINE:
		ev = EPOLLIN;
		break;
	case VVSOCK_CONNECTING:
		break; /* only HUP/ERR: the client gave up */
	case VVSOCK_ESTABLISHED:
		ev = (!c->readable && vvsock_h2g_open(c) ? EPOLLIN : 0) |
		     (c->buf_len ? EPOLLOUT : 0);
		want = ev != 0;
		break;
	case VVSOCK_FREE:
	case VVSOCK_CLOSING:
	case VVSOCK_DEAD:
		want = false;
		break;
	}
	if (!want) {
		if (c->registered)
			(void)evloop_del(vs->loop, c->fd);
		c->registered = false;
	} else if (!c->registered) {
		c->registered = evloop_add(vs->loop, c->fd, ev, vvsock_conn_on_event, c) == 0;
	} else if (ev != c->events) {
		(void)evloop_mod(vs->loop, c->fd, ev);
	}
	c->events = ev;
}

void vvsock_conn_set_deadline(struct vvsock *vs, struct vvsock_conn *c)
{
	struct itimerspec its = {
		.it_interval = { 0, (long)VVSOCK_TICK_NS },
		.it_value = { 0, (long)VVSOCK_TICK_NS },
	};

	c->deadline = util_now_ns() + vs->timeout_ns;
	if (!vs->timer_armed && vs->timer_fd >= 0)
		vs->timer_armed = timerfd_settime(vs->timer_fd, 0, &its, NULL) == 0;
}

/* ---- closing ---- */

/* Both directions over: answer the guest's full shutdown with RST, or
 * shut everything ourselves and wait for the guest's RST. */
static void vvsock_conn_check_done(struct vvsock *vs, struct vvsock_conn *c)
{
	if (c->state != VVSOCK_ESTABLISHED || vvsock_h2g_open(c) || vvsock_g2h_open(c) ||
	    c->buf_len)
		return;
	if (c->peer_shut == VVSOCK_SHUT_BOTH) {
		vvsock_conn_abort(vs, c);
		return;
	}
	vvsock_conn_close_fd(vs, c);
	c->local_shut = VVSOCK_SHUT_BOTH;
	c->pending |= VVSOCK_P_SHUTDOWN;
	c->state = VVSOCK_CLOSING;
	vvsock_conn_set_deadline(vs, c);
	vvsock_conn_want_rx(vs, c);
}

/* The client cannot take more bytes: what is buffered is lost. */
static void vvsock_conn_sink_gone(struct vvsock *vs, struct vvsock_conn *c)
{
	vvsock_conn_drop_buf(c);
	if (!(c->local_shut & VVSOCK_SHUT_RCV)) {
		c->local_shut |= VVSOCK_SHUT_RCV;
		c->pending |= VVSOCK_P_SHUTDOWN;
	}
	vvsock_conn_check_done(vs, c);
}

/* The client will send no more (EOF, or gone when hup). */
static void vvsock_conn_source_done(struct vvsock *vs, struct vvsock_conn *c, bool gone)
{
	c->readable = false;
	if (!(c->local_shut & VVSOCK_SHUT_SEND)) {
		c->local_shut |= VVSOCK_SHUT_SEND;
		c->pending |= VVSOCK_P_SHUTDOWN;
	}
	if (gone)
		vvsock_conn_sink_gone(vs, c);
	else
		vvsock_conn_check_done(vs, c);
}

void vvsock_conn_guest_shutdown(struct vvsock *vs, struct vvsock_conn *c, uint32_t flags)
{
	uint32_t now = flags & VVSOCK_SHUT_BOTH & ~(uint32_t)c->peer_shut;

	c->peer_shut |= (uint8_t)now;
	if ((now & VVSOCK_SHUT_RCV) && c->fd >= 0) {
		(void)shutdown(c->fd, SHUT_RD);
		c->readable = false;
	}
	if ((now & VVSOCK_SHUT_SEND) && c->fd >= 0 && !c->buf_len)
		(void)shutdown(c->fd, SHUT_WR);
	vvsock_conn_watch(vs, c);
	vvsock_conn_check_done(vs, c);
}

/* ---- relaying ---- */

static void vvsock_conn_credit_check(struct vvsock_conn *c)
{
	if (c->fwd_cnt != c->fwd_cnt_sent && vvsock_guest_view(c) < VVSOCK_BUF_ALLOC / 2)
		c->pending |= VVSOCK_P_CREDIT_UPDATE;
}

/* send() without SIGPIPE: bytes written, 0 (would block) or -errno. */
static ssize_t vvsock_conn_send(int fd, const uint8_t *p, size_t len)
{
	ssize_t w;

	do {
		w = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return w;
}

int vvsock_conn_deliver(struct vvsock *vs, struct vvsock_conn *c, uint32_t len)
{
	ssize_t w = 0;

	if (len > vvsock_own_credit(c))
		return -ENOBUFS;
	if (!len)
		return 0;
	c->rx_cnt += len;
	if (!c->buf_len)
		w = vvsock_conn_send(c->fd, vs->bounce, len);
	if (w < 0) {
		c->fwd_cnt += len; /* thrown away: the client is gone */
		vvsock_conn_sink_gone(vs, c);
		return 0;
	}
	c->fwd_cnt += (uint32_t)w;
	if ((uint32_t)w < len) {
		if (!c->buf && !(c->buf = malloc(VVSOCK_BUF_ALLOC)))
			return -ENOMEM;
		memcpy(c->buf + c->buf_len, vs->bounce + w, len - (uint32_t)w);
		c->buf_len += len - (uint32_t)w;
	}
	vvsock_conn_credit_check(c);
	vvsock_conn_watch(vs, c);
	return 0;
}

/* EPOLLOUT: write buffered guest bytes. */
static void vvsock_conn_flush(struct vvsock *vs, struct vvsock_conn *c)
{
	ssize_t w = vvsock_conn_send(c->fd, c->buf, c->buf_len);

	if (w < 0) {
		c->fwd_cnt += c->buf_len;
		vvsock_conn_sink_gone(vs, c);
		return;
	}
	memmove(c->buf, c->buf + w, c->buf_len - (uint32_t)w);
	c->buf_len -= (uint32_t)w;
	c->fwd_cnt += (uint32_t)w;
	vvsock_conn_credit_check(c);
	if (c->buf_len)
		return;
	vvsock_conn_drop_buf(c);
	if (c->peer_shut & VVSOCK_SHUT_SEND)
		(void)shutdown(c->fd, SHUT_WR);
	vvsock_conn_check_done(vs, c);
}

uint32_t vvsock_conn_read(struct vvsock *vs, struct vvsock_conn *c, uint32_t max)
{
	ssize_t r;

	if (c->fd < 0)
		return 0;
	do {
		r = recv(c->fd, vs->bounce, max, MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r > 0)
		return (uint32_t)r;
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->readable = false;
		vvsock_conn_watch(vs, c);
		return 0;
	}
	vvsock_conn_source_done(vs, c, c->hup || r < 0);
	vvsock_conn_watch(vs, c);
	return 0;
}

/* ---- host-initiated connections ---- */

/* A host port no live connection uses. */
static uint32_t vvsock_conn_pick_port(struct vvsock *vs)
{
	for (unsigned tries = 0; tries <= VVSOCK_MAX_CONNS; tries++) {
		uint32_t p = vs->next_port;
		bool used = false;

		vs->next_port = p == UINT32_MAX ? VVSOCK_PORT_FIRST : p + 1;
		for (unsigned i = 0; i < VVSOCK_MAX_CONNS && !used; i++)
			used = vs->conns[i].hashed && vs->conns[i].lport == p;
		if (!used)
			return p;
	}
	return 0;
}

/* "CONNECT <port>" (the newline and an optional '\r' already cut). */
static int vvsock_conn_parse_line(const char *line, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	const char *num = line + sizeof(verb) - 1;
	uint64_t v;
	size_t n;

	if (strncmp(line, verb, sizeof(verb) - 1) != 0)
		return -EINVAL;
	n = strlen(num);
	if (n == 0 || n > 10 || strspn(num, "0123456789") != n)
		return -EINVAL;
	if (util_parse_uint(num, 0, UINT32_MAX, &v) < 0)
		return -EINVAL;
	*port = (uint32_t)v;
	return 0;
}

/* A whole line arrived: send the REQUEST (or drop the client). */
static void vvsock_conn_line_done(struct vvsock *vs, struct vvsock_conn *c)
{
	uint32_t port, lport;

	c->line[c->line_len - 1] = '\0';
	if (c->line_len >= 2 && c->line[c->line_len - 2] == '\r')
		c->line[c->line_len - 2] = '\0';
	lport = vvsock_conn_pick_port(vs);
	if (vvsock_conn_parse_line(c->line, &port) < 0 || !lport) {
		log_debug("%s: host client sent a bad line; closed", vs->id);
		vvsock_conn_free(vs, c);
		return;
	}
	c->lport = lport;
	c->pport = port;
	vvsock_conn_hash(vs, c);
	c->state = VVSOCK_CONNECTING;
	c->pending = VVSOCK_P_REQUEST;
	vvsock_conn_set_deadline(vs, c);
	vvsock_conn_watch(vs, c);
	vvsock_conn_want_rx(vs, c);
}

/* Read the CONNECT line one byte at a time, so no byte after it is taken. */
static void vvsock_conn_line(struct vvsock *vs, struct vvsock_conn *c)
{
	char ch;
	ssize_t r;

	while (c->line_len < VVSOCK_LINE_MAX) {
		r = read(c->fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0)
			break;
		c->line[c->line_len++] = ch;
		if (ch == '\n') {
			vvsock_conn_line_done(vs, c);
			return;
		}
	}
	vvsock_conn_free(vs, c); /* EOF, error, or a line too long */
}

void vvsock_conn_established(struct vvsock *vs, struct vvsock_conn *c)
{
	char ok[24];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", c->lport);

	if (vvsock_conn_send(c->fd, (const uint8_t *)ok, (size_t)n) != n) {
		vvsock_conn_abort(vs, c);
		return;
	}
	c->state = VVSOCK_ESTABLISHED;
	c->deadline = 0;
	vvsock_conn_watch(vs, c);
}

/* ---- guest-initiated connections ---- */

struct vvsock_conn *vvsock_conn_guest_connect(struct vvsock *vs, uint32_t lport, uint32_t pport)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vvsock_conn *c;
	int fd;
	char path[sizeof(vs->path) + VVSOCK_SUFFIX_MAX + 1];

	if (vs->nconns >= vs->max_conns) {
		vs->st.conns_refused++;
		return NULL;
	}
	snprintf(path, sizeof(path), "%s_%u", vs->path, lport);
	memcpy(sa.sun_path, path, MIN(strlen(path) + 1, sizeof(sa.sun_path) - 1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_debug("%s: guest port %u to host port %u: %s: %s", vs->id, pport, lport,
			  sa.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		vs->st.conns_refused++;
		return NULL;
	}
	c = vvsock_conn_alloc(vs);
	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->lport = lport;
	c->pport = pport;
	c->state = VVSOCK_ESTABLISHED;
	c->pending = VVSOCK_P_RESPONSE;
	vvsock_conn_hash(vs, c);
	vvsock_conn_watch(vs, c);
	return c;
}

/* ---- event-loop callbacks ---- */

static void vvsock_conn_io(struct vvsock *vs, struct vvsock_conn *c, uint32_t events)
{
	if (events & EPOLLHUP)
		c->hup = true;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && vvsock_h2g_open(c))
		c->readable = true;
	if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && c->buf_len)
		vvsock_conn_flush(vs, c);
	if (c->state == VVSOCK_ESTABLISHED)
		vvsock_conn_watch(vs, c);
	vvsock_conn_want_rx(vs, c);
}

static void vvsock_conn_event(struct vvsock *vs, struct vvsock_conn *c, uint32_t events)
{
	switch (c->state) {
	case VVSOCK_LINE:
		vvsock_conn_line(vs, c);
		break;
	case VVSOCK_CONNECTING:
		if (events & (EPOLLHUP | EPOLLERR))
			vvsock_conn_abort(vs, c); /* the client gave up */
		break;
	case VVSOCK_ESTABLISHED:
		vvsock_conn_io(vs, c, events);
		break;
	case VVSOCK_FREE:
	case VVSOCK_CLOSING:
	case VVSOCK_DEAD:
		break; /* a stale event */
	}
}

void vvsock_conn_on_event(void *opaque, uint32_t events)
{
	struct vvsock_conn *c = opaque;
	struct vvsock *vs = c->vs;

	if (!vs || !vs->vd)
		return;
	pthread_mutex_lock(virtio_dev_lock(vs->vd));
	if (c->fd >= 0)
		vvsock_conn_event(vs, c, events);
	vvsock_rx_run(vs);
	pthread_mutex_unlock(virtio_dev_lock(vs->vd));
}

static void vvsock_conn_accept_one(struct vvsock *vs, int fd)
{
	struct vvsock_conn *c = vvsock_conn_alloc(vs);

	if (!c) {
		vs->st.conns_refused++;
		close(fd);
		return;
	}
	c->fd = fd;
	c->state = VVSOCK_LINE;
	vvsock_conn_set_deadline(vs, c);
	vvsock_conn_watch(vs, c);
	if (!c->registered)
		vvsock_conn_free(vs, c);
}

void vvsock_conn_on_accept(void *opaque, uint32_t events)
{
	struct vvsock *vs = opaque;

	(void)events;
	if (!vs->vd)
		return;
	pthread_mutex_lock(virtio_dev_lock(vs->vd));
	for (int i = 0; i < VVSOCK_ACCEPT_BATCH; i++) {
		int fd = accept4(vs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0)
			break;
		vvsock_conn_accept_one(vs, fd);
	}
	pthread_mutex_unlock(virtio_dev_lock(vs->vd));
}

void vvsock_conn_expire(struct vvsock *vs, uint64_t now_ns)
{
	struct itimerspec off = { 0 };
	bool any = false;

	for (unsigned i = 0; i < VVSOCK_MAX_CONNS; i++) {
		struct vvsock_conn *c = &vs->conns[i];

		if (!c->deadline || c->state == VVSOCK_FREE)
			continue;
		if (c->deadline > now_ns) {
			any = true;
			continue;
		}
		c->deadline = 0;
		if (c->state == VVSOCK_LINE || c->state == VVSOCK_CONNECTING ||
		    c->state == VVSOCK_CLOSING)
			vvsock_conn_abort(vs, c);
	}
	if (!any && vs->timer_armed && vs->timer_fd >= 0) {
		(void)timerfd_settime(vs->timer_fd, 0, &off, NULL);
		vs->timer_armed = false;
	}
}

void vvsock_conn_on_timer(void *opaque, uint32_t events)
{
	struct vvsock *vs = opaque;
	uint64_t ticks;

	(void)events;
	if (read(vs->timer_fd, &ticks, sizeof(ticks)) < 0) {
		/* spurious wake-up */
	}
	if (!vs->vd)
		return;
	pthread_mutex_lock(virtio_dev_lock(vs->vd));
	vvsock_conn_expire(vs, util_now_ns());
	vvsock_rx_run(vs);
	pthread_mutex_unlock(virtio_dev_lock(vs->vd));
}

/* ---- the listening socket ---- */

/* An existing file at the path: a stale socket is removed; a live one, or
 * anything that is not a socket, is an error. */
static int vvsock_clear_path(const struct vvsock *vs, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, ret;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s: %s exists and is not a socket", vs->id, sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : -errno;
	close(fd);
	if (ret == 0 || ret == -EAGAIN) {
		log_error("%s: %s is in use by a running server", vs->id, sa->sun_path);
		return -EADDRINUSE;
	}
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int vvsock_listen(struct vvsock *vs)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int ret;

	if (!vs->path[0] || strlen(vs->path) + VVSOCK_SUFFIX_MAX >= sizeof(sa.sun_path)) {
		log_error("%s: socket path empty or too long (limit %zu bytes): %s", vs->id,
			  sizeof(sa.sun_path) - 1 - VVSOCK_SUFFIX_MAX, vs->path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, vs->path, strlen(vs->path) + 1);
	ret = vvsock_clear_path(vs, &sa);
	if (ret < 0)
		return ret;
	vs->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (vs->listen_fd < 0 || bind(vs->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (stat(vs->path, &st) == 0) {
		vs->sock_dev = st.st_dev;
		vs->sock_ino = st.st_ino;
	}
	if (chmod(vs->path, 0600) < 0 || listen(vs->listen_fd, 64) < 0)
		return -errno;
	return evloop_add(vs->loop, vs->listen_fd, EPOLLIN, vvsock_conn_on_accept, vs);
}

int vvsock_conn_init(struct vvsock *vs)
{
	int ret;

	vs->conns = calloc(VVSOCK_MAX_CONNS, sizeof(*vs->conns));
	if (!vs->conns)
		return -ENOMEM;
	for (unsigned i = VVSOCK_MAX_CONNS; i-- > 0;) {
		vs->conns[i].vs = vs;
		vs->conns[i].fd = -1;
		vs->conns[i].hnext = vs->free_list;
		vs->free_list = &vs->conns[i];
	}
	vs->next_port = VVSOCK_PORT_FIRST;
	ret = vvsock_listen(vs);
	if (ret < 0) {
		log_error("%s: cannot listen on %s: %s", vs->id, vs->path, strerror(-ret));
		return ret;
	}
	vs->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (vs->timer_fd < 0)
		return -errno;
	return evloop_add(vs->loop, vs->timer_fd, EPOLLIN, vvsock_conn_on_timer, vs);
}

void vvsock_conn_reset_all(struct vvsock *vs)
{
	if (!vs->conns)
		return;
	for (unsigned i = 0; i < VVSOCK_MAX_CONNS; i++) {
		vvsock_conn_free(vs, &vs->conns[i]);
		vs->conns[i].on_rx = false;
		vs->conns[i].rxnext = NULL;
	}
	vs->rx_head = vs->rx_tail = NULL;
	vs->norphans = 0;
	vs->orphan_head = 0;
}

void vvsock_conn_fini(struct vvsock *vs)
{
	struct stat st;

	vvsock_conn_reset_all(vs);
	if (vs->listen_fd >= 0) {
		(void)evloop_del(vs->loop, vs->listen_fd);
		close(vs->listen_fd);
	}
	if (vs->sock_ino && stat(vs->path, &st) == 0 && st.st_dev == vs->sock_dev &&
	    st.st_ino == vs->sock_ino)
		unlink(vs->path);
	if (vs->timer_fd >= 0) {
		(void)evloop_del(vs->loop, vs->timer_fd);
		close(vs->timer_fd);
	}
	free(vs->conns);
	vs->conns = NULL;
}
