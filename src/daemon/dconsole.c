/* dconsole: pty <-> API client relay (dconsole.h). The domain log gets the
 * console output from the VMM itself (vmkit-vmm --serial-log), complete even
 * for what nobody read from the pty; while nobody is attached the relay only
 * drains the pty so the guest's serial port never stalls. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "dconsole.h"
#include "ddom.h"

#define DCONSOLE_PENDING_NS (10 * 1000000000ull)  /* a reservation not used by then lapses */
#define DCONSOLE_BUF (64 * 1024)   /* per direction, while a client is attached */

/* Bytes on their way, one direction: consumed from the front. */
struct dconsole_buf {
	size_t len;
	char data[DCONSOLE_BUF];
};

/* What only exists while a client is attached. */
struct dconsole_io {
	struct dconsole_buf out;   /* guest output not yet sent to the client */
	struct dconsole_buf in;    /* client input not yet written to the pty */
};

struct dconsole {
	struct ddom *dom;
	int pty;
	bool pty_gone;                         /* the VMM closed the master: unwatched */
	int client;                            /* -1: nobody attached */
	struct MHD_UpgradeResponseHandle *urh;
	struct dconsole_io *io;                /* with client */
	uint32_t pty_events, client_events;    /* as registered */
	uint64_t reserved_ns;                  /* 0: no reservation */
	uint64_t holder;                       /* the reservation's token */
	int holder_fd;                         /* its connection, still HTTP */
	uint64_t tokens;                       /* the last token given */
	bool closed;
};

static void dconsole_buf_consume(struct dconsole_buf *b, size_t n)
{
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

/* Watch for what can move now: no reading into a full buffer (a full
 * client buffer stops reading the pty: the guest's serial port waits), no
 * waiting for room to write nothing. */
static void dconsole_watch(struct dconsole *c)
{
	struct dconsole_io *io = c->io;
	uint32_t pty = 0, client = 0;

	if (!io || io->out.len < DCONSOLE_BUF)
		pty |= EPOLLIN;
	if (io && io->in.len)
		pty |= EPOLLOUT;
	if (!c->pty_gone && pty != c->pty_events && evloop_mod(c->dom->d->loop, c->pty, pty) == 0)
		c->pty_events = pty;
	if (c->client < 0)
		return;
	if (io->in.len < DCONSOLE_BUF)
		client |= EPOLLIN | EPOLLRDHUP;
	if (io->out.len)
		client |= EPOLLOUT;
	if (client != c->client_events && evloop_mod(c->dom->d->loop, c->client, client) == 0)
		c->client_events = client;
}

/* Send what the client can take; false when it is gone (detached). */
static bool dconsole_flush_out(struct dconsole *c)
{
	struct dconsole_buf *b = &c->io->out;
	ssize_t n = b->len ? send(c->client, b->data, b->len, MSG_NOSIGNAL | MSG_DONTWAIT) : 0;

	if (n > 0)
		dconsole_buf_consume(b, (size_t)n);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		dconsole_detach_locked(c->dom);
		return false;
	}
	return true;
}

/* Write what the pty takes (the VMM reads it into the serial port). */
static void dconsole_flush_in(struct dconsole *c)
{
	struct dconsole_buf *b = &c->io->in;
	ssize_t n = b->len ? write(c->pty, b->data, b->len) : 0;

	if (n > 0)
		dconsole_buf_consume(b, (size_t)n);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		log_warn("domain '%s': console input: %s", c->dom->name, strerror(errno));
		b->len = 0;   /* the VMM is ending */
	}
}

/* Guest output: into the client's buffer, or dropped (the VMM logs it);
 * false at the end. */
static bool dconsole_read_pty(struct dconsole *c)
{
	char tmp[4096], *buf = tmp;
	size_t room = sizeof(tmp);
	ssize_t n;

	if (c->io) {
		buf = c->io->out.data + c->io->out.len;
		room = DCONSOLE_BUF - c->io->out.len;
	}
	n = room ? read(c->pty, buf, room) : -1;
	if (n > 0 && c->io)
		c->io->out.len += (size_t)n;
	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR || !room));
}

/* Loop thread: the pty is readable (guest output) or writable (input). */
static void dconsole_on_pty(void *opaque, uint32_t events)
{
	struct dconsole *c = opaque;

	pthread_mutex_lock(&c->dom->d->lock);
	if (!c->closed && !c->pty_gone) {
		if (c->io && (events & EPOLLOUT))
			dconsole_flush_in(c);
		if (!dconsole_read_pty(c) || ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN))) {
			/* the VMM closed the master (it is ending): stop polling */
			evloop_del(c->dom->d->loop, c->pty);
			c->pty_gone = true;
		}
		if (c->io && dconsole_flush_out(c))
			dconsole_watch(c);
	}
	pthread_mutex_unlock(&c->dom->d->lock);
}

/* Loop thread: input from the client, room to send to it, or its hang-up. */
static void dconsole_on_client(void *opaque, uint32_t events)
{
	struct dconsole *c = opaque;
	struct dconsole_buf *in;
	ssize_t n = 1;

	pthread_mutex_lock(&c->dom->d->lock);
	if (c->closed || c->client < 0 || !dconsole_flush_out(c))
		goto out;
	in = &c->io->in;
	if (in->len < DCONSOLE_BUF) {
		n = recv(c->client, in->data + in->len, DCONSOLE_BUF - in->len, MSG_DONTWAIT);
		if (n > 0)
			in->len += (size_t)n;
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			n = 1;
	}
	if (!c->pty_gone)
		dconsole_flush_in(c);
	if (n <= 0 || ((events & (EPOLLHUP | EPOLLERR)) && in->len == DCONSOLE_BUF))
		dconsole_detach_locked(c->dom);   /* it left */
	else
		dconsole_watch(c);
out:
	pthread_mutex_unlock(&c->dom->d->lock);
}

static int dconsole_open_pty(const char *path)
{
	struct termios t;
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
	return fd;
}

int dconsole_open_locked(struct ddom *dom)
{
	struct dconsole *c;
	int ret;

	if (!dom->pty[0] || dom->console)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->dom = dom;
	c->client = -1;
	c->holder_fd = -1;
	c->pty = dconsole_open_pty(dom->pty);
	c->pty_events = EPOLLIN;
	ret = c->pty < 0 ? c->pty : evloop_add(dom->d->loop, c->pty, EPOLLIN, dconsole_on_pty, c);
	if (ret < 0) {
		log_warn("domain '%s': cannot open its console %s: %s", dom->name, dom->pty,
			 strerror(-ret));
		if (c->pty >= 0)
			close(c->pty);
		free(c);
		return ret;
	}
	dom->console = c;
	return 0;
}

void dconsole_detach_locked(struct ddom *dom)
{
	struct dconsole *c = dom->console;

	if (!c || c->client < 0)
		return;
	evloop_del(dom->d->loop, c->client);
	MHD_upgrade_action(c->urh, MHD_UPGRADE_ACTION_CLOSE);
	c->client = -1;
	c->urh = NULL;
	free(c->io);
	c->io = NULL;
	if (!c->closed)
		dconsole_watch(c);   /* drain the pty again */
	log_info("domain '%s': console client detached", dom->name);
}

void dconsole_close_locked(struct ddom *dom)
{
	struct dconsole *c = dom->console;

	if (!c)
		return;
	c->closed = true;
	dconsole_detach_locked(dom);
	if (!c->pty_gone)
		evloop_del(dom->d->loop, c->pty);
	close(c->pty);
	dom->console = NULL;
	evloop_free_later(dom->d->loop, c);
}

static void dconsole_drop_reservation(struct dconsole *c)
{
	c->reserved_ns = 0;
	c->holder = 0;
	c->holder_fd = -1;
}

int dconsole_reserve_locked(struct ddom *dom, bool force, int fd, uint64_t *token)
{
	struct dconsole *c = dom->console;
	uint64_t now = util_now_ns();

	if (!c)
		return -ENODEV;
	/* a holder that hung up (reset, or closed its end): its own thread or
	 * the loop will notice soon, but the next client is not "busy" meanwhile */
	if (c->reserved_ns && (now - c->reserved_ns > DCONSOLE_PENDING_NS ||
			       util_peer_gone(c->holder_fd)))
		dconsole_drop_reservation(c);
	if (util_peer_gone(c->client))
		dconsole_detach_locked(dom);
	if ((c->client >= 0 || c->reserved_ns) && !force)
		return -EBUSY;
	dconsole_detach_locked(dom);
	c->reserved_ns = now;
	c->holder = *token = ++c->tokens;
	c->holder_fd = fd;
	return 0;
}

void dconsole_unreserve_locked(struct ddom *dom, uint64_t token)
{
	if (dom->console && dom->console->holder == token)
		dconsole_drop_reservation(dom->console);
}

void dconsole_attach(struct ddom *dom, uint64_t token, int sock,
		     struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len)
{
	struct dconsole_io *io;
	struct dconsole *c;

	pthread_mutex_lock(&dom->d->lock);
	c = dom->console;
	if (c && c->holder != token)
		c = NULL;   /* taken over (force) or given up as gone meanwhile */
	io = c ? calloc(1, sizeof(*io)) : NULL;
	if (!io || evloop_add(dom->d->loop, sock, EPOLLIN | EPOLLRDHUP, dconsole_on_client, c) < 0) {
		free(io);
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	} else {
		c->client = sock;
		c->client_events = EPOLLIN | EPOLLRDHUP;
		c->urh = urh;
		c->io = io;
		dconsole_drop_reservation(c);
		io->in.len = MIN(extra_len, sizeof(io->in.data));
		memcpy(io->in.data, extra, io->in.len);
		if (!c->pty_gone)
			dconsole_flush_in(c);
		dconsole_watch(c);
		log_info("domain '%s': console client attached", dom->name);
	}
	pthread_mutex_unlock(&dom->d->lock);
}
