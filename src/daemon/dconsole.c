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

struct dconsole {
	struct ddom *dom;
	int pty;
	int client;                            /* -1: nobody attached */
	struct MHD_UpgradeResponseHandle *urh;
	uint64_t reserved_ns;                  /* 0: no reservation */
	bool closed;
	unsigned long long dropped;            /* bytes a slow client missed */
};

static void dconsole_free(void *opaque)
{
	free(opaque);
}

/* Loop thread: output of the guest. */
static void dconsole_on_pty(void *opaque, uint32_t events)
{
	struct dconsole *c = opaque;
	char buf[4096];
	ssize_t n;

	pthread_mutex_lock(&c->dom->d->lock);
	n = c->closed ? 0 : read(c->pty, buf, sizeof(buf));
	if (n > 0 && c->client >= 0) {
		ssize_t w = send(c->client, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);

		c->dropped += w < n ? (unsigned long long)(n - (w > 0 ? w : 0)) : 0;
	} else if (n < 0 && errno == EIO && !c->closed) {
		/* the VMM closed the master (it is ending): stop polling */
		evloop_del(c->dom->d->loop, c->pty);
	}
	pthread_mutex_unlock(&c->dom->d->lock);
}

/* Loop thread: input from the client, or its hang-up. */
static void dconsole_on_client(void *opaque, uint32_t events)
{
	struct dconsole *c = opaque;
	char buf[4096];
	ssize_t n;

	pthread_mutex_lock(&c->dom->d->lock);
	if (!c->closed && c->client >= 0) {
		n = recv(c->client, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0 && write(c->pty, buf, (size_t)n) < 0 && errno != EAGAIN)
			log_warn("domain '%s': console input: %s", c->dom->name, strerror(errno));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			dconsole_detach_locked(c->dom);
	}
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
	c->pty = dconsole_open_pty(dom->pty);
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
	log_info("domain '%s': console client detached", dom->name);
}

void dconsole_close_locked(struct ddom *dom, bool now)
{
	struct dconsole *c = dom->console;

	if (!c)
		return;
	dconsole_detach_locked(dom);
	evloop_del(dom->d->loop, c->pty);
	close(c->pty);
	c->closed = true;
	dom->console = NULL;
	if (now || vmkitd_on_loop(dom->d) || evloop_call(dom->d->loop, dconsole_free, c) < 0)
		free(c);
}

int dconsole_reserve_locked(struct ddom *dom, bool force)
{
	struct dconsole *c = dom->console;
	uint64_t now = util_now_ns();

	if (!c)
		return -ENODEV;
	if (c->reserved_ns && now - c->reserved_ns > DCONSOLE_PENDING_NS)
		c->reserved_ns = 0;
	if ((c->client >= 0 || c->reserved_ns) && !force)
		return -EBUSY;
	dconsole_detach_locked(dom);
	c->reserved_ns = now;
	return 0;
}

void dconsole_attach(struct ddom *dom, int sock, struct MHD_UpgradeResponseHandle *urh,
		     const char *extra, size_t extra_len)
{
	struct dconsole *c;

	pthread_mutex_lock(&dom->d->lock);
	c = dom->console;
	if (c && c->client >= 0)
		dconsole_detach_locked(dom);   /* forced in between */
	if (!c || evloop_add(dom->d->loop, sock, EPOLLIN | EPOLLRDHUP, dconsole_on_client, c) < 0) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	} else {
		c->client = sock;
		c->urh = urh;
		c->reserved_ns = 0;
		if (extra_len && write(c->pty, extra, extra_len) < 0)
			log_warn("domain '%s': console input lost: %s", dom->name, strerror(errno));
		log_info("domain '%s': console client attached", dom->name);
	}
	pthread_mutex_unlock(&dom->d->lock);
}
