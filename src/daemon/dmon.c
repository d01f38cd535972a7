/* dmon: the VMM's event stream -> API events (dmon.h). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "common/evloop.h"
#include "common/log.h"
#include "ddom.h"
#include "dmon.h"
#include "dvmm.h"

#define DMON_LINE_MAX 8192      /* events are small; a longer line is dropped */

struct dmon {
	struct ddom *dom;
	int fd;
	bool closed;
	size_t len;
	char buf[DMON_LINE_MAX];
};

/* One line from the VMM (vmkitd.lock held). */
static void dmon_line(struct dmon *m, const char *line, size_t len)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	const char *ev = json_string_value(json_object_get(j, "event"));
	json_t *data = json_object_get(j, "data");

	if (ev && strcmp(ev, "RESET") == 0 && json_is_true(json_object_get(data, "guest")))
		ddom_event(m->dom, "rebooted", "guest");
	json_decref(j);
}

/* Split the buffer into lines; an overlong line is dropped. */
static void dmon_lines(struct dmon *m)
{
	char *nl;

	while ((nl = memchr(m->buf, '\n', m->len)) != NULL) {
		size_t l = (size_t)(nl - m->buf);

		dmon_line(m, m->buf, l);
		memmove(m->buf, nl + 1, m->len - l - 1);
		m->len -= l + 1;
	}
	if (m->len == sizeof(m->buf))
		m->len = 0;
}

static void dmon_on_read(void *opaque, uint32_t events)
{
	struct dmon *m = opaque;
	ssize_t n;

	pthread_mutex_lock(&m->dom->d->lock);
	if (!m->closed) {
		n = recv(m->fd, m->buf + m->len, sizeof(m->buf) - m->len, MSG_DONTWAIT);
		if (n > 0) {
			m->len += (size_t)n;
			dmon_lines(m);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			evloop_del(m->dom->d->loop, m->fd);   /* the VMM is ending */
		}
	}
	pthread_mutex_unlock(&m->dom->d->lock);
}

/* Has the VMM ended (its pidfd is readable)? */
static bool dmon_vmm_ended(const struct ddom *dom)
{
	struct pollfd p = { .fd = dom->pidfd, .events = POLLIN };

	return dom->pidfd >= 0 && poll(&p, 1, 0) > 0;
}

int dmon_open_locked(struct ddom *dom)
{
	char sock[PATH_MAX];
	struct dmon *m;
	int ret;

	if (dom->mon)
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->dom = dom;
	m->fd = -1;
	ddom_path(dom, DDOM_SOCK, sock, sizeof(sock));
	ret = dvmm_connect(sock, &m->fd);
	if (ret == 0)
		ret = evloop_add(dom->d->loop, m->fd, EPOLLIN, dmon_on_read, m);
	if (ret < 0) {
		if (!dmon_vmm_ended(dom))   /* else its end is on its way: nothing to say */
			log_warn("domain '%s': cannot listen to its VMM's events: %s", dom->name,
				 strerror(-ret));
		if (m->fd >= 0)
			close(m->fd);
		free(m);
		return ret;
	}
	dom->mon = m;
	return 0;
}

void dmon_close_locked(struct ddom *dom)
{
	struct dmon *m = dom->mon;

	if (!m)
		return;
	evloop_del(dom->d->loop, m->fd);
	close(m->fd);
	m->closed = true;
	dom->mon = NULL;
	evloop_free_later(dom->d->loop, m);
}
