/* dapi: libmicrohttpd glue and the request skeleton (dapi.h). Handlers are
 * in the table dapi_handlers, one per route of droute.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "common/log.h"
#include "common/paths.h"
#include "common/util.h"
#include "dapi.h"
#include "dconsole.h"
#include "ddom.h"
#include "droute.h"
#include "drun.h"
#include "dview.h"
#include "vmkit-config.h"

#define DAPI_MAX_ARGS 16
#define DAPI_CONN_LIMIT 512
/* An idle connection (no request in progress) is closed after this; event
 * streams and upgraded consoles are not idle. */
#define DAPI_IDLE_S 60

struct dapi_server {
	struct vmkitd *d;
	bool ro;
	int fd;
	char path[PATH_MAX];
	struct MHD_Daemon *mhd;
};

struct dapi {
	struct dapi_server rw, ro;
};

/* One request: its body as it arrives, then what the handler answers. */
struct dapi_ctx {
	struct vmkitd *d;
	struct MHD_Connection *conn;
	char *body;
	size_t len;
	int refused;                 /* dapi_early's verdict: 0 or -EINVAL (err set) */
	struct droute_arg args[DAPI_MAX_ARGS];
	size_t nargs;
	bool too_many_args;
	struct droute_req req;
	struct ddom *dom;
	struct derr err;
	unsigned status;             /* of answer */
	json_t *answer;
	struct MHD_Response *resp;   /* a special response (stream, text, upgrade) */
	bool upgrade_pending;        /* the upgrade handler holds a ddom reference it
	                              * has not used yet (the client may leave first) */
	uint64_t console_token;      /* the console reservation it holds */
	pid_t wait_pid;              /* after the op lock: wait for this VMM to end */
	int wait_s;
};

typedef int (*dapi_fn)(struct dapi_ctx *c);

/* ---- handlers ---- */

static int dapi_answer(struct dapi_ctx *c, unsigned status, json_t *j)
{
	if (!j)
		return derr_set(&c->err, DERR_INTERNAL, "out of memory building the answer");
	c->status = status;
	c->answer = j;
	return 0;
}

static int dapi_info_answer(struct dapi_ctx *c, int ret)
{
	return ret < 0 ? ret : dapi_answer(c, 200, ddom_info(c->dom));
}

static int dapi_version(struct dapi_ctx *c)
{
	return dapi_answer(c, 200, json_pack("{s:s,s:i,s:s}", "version", VMKIT_VERSION,
					     "api", 1, "vmm", c->d->cfg.vmm));
}

static int dapi_json_result(struct dapi_ctx *c, int ret, json_t *j)
{
	return ret < 0 ? ret : dapi_answer(c, 200, j);
}

static int dapi_host(struct dapi_ctx *c)
{
	json_t *j = NULL;
	int ret = dview_host(c->d, &j, &c->err);

	return dapi_json_result(c, ret, j);
}

static int dapi_domstats(struct dapi_ctx *c)
{
	json_t *j = NULL;
	int ret = dview_domain(c->dom, &j, &c->err);

	return dapi_json_result(c, ret, j);
}

static int dapi_stats(struct dapi_ctx *c)
{
	json_t *j = NULL;
	int ret = dview_all(c->d, &j, &c->err);

	return dapi_json_result(c, ret, j);
}

static int dapi_metrics(struct dapi_ctx *c)
{
	char *text = NULL;
	int ret = dview_metrics(c->d, &text, &c->err);

	if (ret < 0)
		return ret;
	c->resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!c->resp) {
		free(text);
		return derr_set(&c->err, DERR_INTERNAL, "out of memory");
	}
	MHD_add_response_header(c->resp, "Content-Type", "text/plain; version=0.0.4");
	c->status = 200;
	return 0;
}

static int dapi_list(struct dapi_ctx *c)
{
	return dapi_answer(c, 200, ddom_list(c->d, c->req.all));
}

static int dapi_define(struct dapi_ctx *c)
{
	struct ddom *dom;
	int ret = ddom_define(c->d, c->req.xml, false, &dom, &c->err);
	json_t *j;

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&c->d->lock);
	j = ddom_summary_locked(dom);
	pthread_mutex_unlock(&c->d->lock);
	ddom_put(dom);
	return dapi_answer(c, 201, j);
}

/* Create = define a transient domain, then start it; if the start fails,
 * the domain leaves the table again. */
static int dapi_create(struct dapi_ctx *c)
{
	struct ddom *dom;
	json_t *j = NULL;
	bool raced;
	int ret = ddom_define(c->d, c->req.xml, true, &dom, &c->err);

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&dom->op);
	pthread_mutex_lock(&c->d->lock);
	raced = dstate_active(dom->state) || dom->removed;   /* another request was quicker */
	pthread_mutex_unlock(&c->d->lock);
	ret = raced ? derr_set(&c->err, DERR_OPERATION_INVALID, "domain '%s' was started or "
			       "removed by another request meanwhile", dom->name)
		    : drun_start(dom, c->req.paused, false, &c->err);
	pthread_mutex_lock(&c->d->lock);
	if (ret < 0 && !raced && !dom->removed && !dstate_active(dom->state))
		ddom_remove_locked(dom);
	if (ret == 0)
		j = ddom_summary_locked(dom);
	pthread_mutex_unlock(&c->d->lock);
	pthread_mutex_unlock(&dom->op);
	ddom_put(dom);
	return ret < 0 ? ret : dapi_answer(c, 201, j);
}

static int dapi_info(struct dapi_ctx *c)
{
	return dapi_info_answer(c, 0);
}

static int dapi_undefine(struct dapi_ctx *c)
{
	int ret = ddom_undefine(c->dom, &c->err);

	return ret < 0 ? ret : dapi_answer(c, 200, json_object());
}

static int dapi_xml(struct dapi_ctx *c)
{
	char *xml;
	int ret = ddom_xml(c->dom, c->req.inactive, &xml, &c->err);

	if (ret < 0)
		return ret;
	ret = dapi_answer(c, 200, json_pack("{s:s}", "xml", xml));
	free(xml);
	return ret;
}

static int dapi_start_dom(struct dapi_ctx *c)
{
	return dapi_info_answer(c, drun_start(c->dom, c->req.paused, false, &c->err));
}

static int dapi_shutdown(struct dapi_ctx *c)
{
	pid_t pid = 0;
	int ret = drun_shutdown(c->dom, &pid, &c->err);

	if (ret == 0 && c->req.timeout >= 0) {
		c->wait_pid = pid;   /* dapi_dispatch waits once the op lock is released */
		c->wait_s = c->req.timeout;
		return 0;
	}
	return dapi_info_answer(c, ret);
}

/* reboot and reset: the states each allows differ (droute's table) */
static int dapi_system_reset(struct dapi_ctx *c)
{
	return dapi_info_answer(c, drun_system_reset(c->dom, &c->err));
}

static int dapi_destroy(struct dapi_ctx *c)
{
	return dapi_info_answer(c, drun_destroy(c->dom, c->req.graceful, &c->err));
}

static int dapi_suspend(struct dapi_ctx *c)
{
	return dapi_info_answer(c, drun_suspend(c->dom, &c->err));
}

static int dapi_resume(struct dapi_ctx *c)
{
	return dapi_info_answer(c, drun_resume(c->dom, &c->err));
}

static int dapi_autostart(struct dapi_ctx *c)
{
	return dapi_info_answer(c, ddom_set_autostart(c->dom, c->req.autostart, &c->err));
}

static int dapi_events(struct dapi_ctx *c);
static int dapi_console(struct dapi_ctx *c);

/* THE handler table, by route. */
static const dapi_fn dapi_handlers[DR_COUNT_] = {
	[DR_VERSION] = dapi_version,
	[DR_HOST] = dapi_host,
	[DR_LIST] = dapi_list,
	[DR_DEFINE] = dapi_define,
	[DR_CREATE] = dapi_create,
	[DR_INFO] = dapi_info,
	[DR_UNDEFINE] = dapi_undefine,
	[DR_XML] = dapi_xml,
	[DR_START] = dapi_start_dom,
	[DR_SHUTDOWN] = dapi_shutdown,
	[DR_REBOOT] = dapi_system_reset,
	[DR_RESET] = dapi_system_reset,
	[DR_DESTROY] = dapi_destroy,
	[DR_SUSPEND] = dapi_suspend,
	[DR_RESUME] = dapi_resume,
	[DR_AUTOSTART] = dapi_autostart,
	[DR_DOMSTATS] = dapi_domstats,
	[DR_CONSOLE] = dapi_console,
	[DR_STATS] = dapi_stats,
	[DR_METRICS] = dapi_metrics,
	[DR_EVENTS] = dapi_events,
};

/* ---- /v1/events: a stream fed from the ring ---- */

struct dapi_stream {
	struct vmkitd *d;
	uint64_t after;
	bool follow;
	int fd;                      /* the client's socket, to notice it leaving */
	char *buf;
	size_t len, off;
};

static ssize_t dapi_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct dapi_stream *s = cls;

	for (;;) {
		if (s->off < s->len) {
			size_t n = MIN(max, s->len - s->off);

			memcpy(buf, s->buf + s->off, n);
			s->off += n;
			return (ssize_t)n;
		}
		free(s->buf);
		s->buf = NULL;
		s->off = 0;
		if (devent_read(&s->d->events, &s->after, 65536, &s->buf, &s->len) < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (s->len)
			continue;
		if (!s->follow)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (util_peer_gone(s->fd))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (!devent_wait(&s->d->events, s->after, 1000))
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
}

static void dapi_stream_free(void *cls)
{
	struct dapi_stream *s = cls;

	free(s->buf);
	free(s);
}

static int dapi_events(struct dapi_ctx *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct dapi_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return derr_set(&c->err, DERR_INTERNAL, "out of memory");
	s->d = c->d;
	s->follow = c->req.follow;
	s->fd = ci ? ci->connect_fd : -1;
	s->after = devent_last(&c->d->events);
	if (c->req.has_since && c->req.since < s->after)   /* a future seq means "from now" */
		s->after = c->req.since;
	c->resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, dapi_stream_read,
						    s, dapi_stream_free);
	if (!c->resp) {
		free(s);
		return derr_set(&c->err, DERR_INTERNAL, "cannot create the event stream");
	}
	MHD_add_response_header(c->resp, "Content-Type", "application/x-ndjson");
	MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);   /* quiet != idle */
	c->status = 200;
	return 0;
}

/* ---- the console: an HTTP Upgrade handed to dconsole ---- */

static void dapi_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
			  const char *extra_in, size_t extra_in_size, MHD_socket sock,
			  struct MHD_UpgradeResponseHandle *urh)
{
	struct ddom *dom = cls;
	struct dapi_ctx *c = con_cls;   /* completed only after this (upgraded) */

	c->upgrade_pending = false;
	dconsole_attach(dom, c->console_token, sock, urh, extra_in, extra_in_size);
	ddom_put(dom);
}

/* The upgrade handler's reference and the console reservation, unused. */
static void dapi_upgrade_drop(struct ddom *dom, uint64_t token)
{
	pthread_mutex_lock(&dom->d->lock);
	dconsole_unreserve_locked(dom, token);
	pthread_mutex_unlock(&dom->d->lock);
	ddom_put(dom);
}

static int dapi_console(struct dapi_ctx *c)
{
	const char *up = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Upgrade");
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	int ret;

	if (!up || strcasecmp(up, "vmkit-console") != 0)
		return derr_set(&c->err, DERR_INVALID_ARGUMENT, "the console is an HTTP Upgrade: "
				"send 'Connection: Upgrade' and 'Upgrade: vmkit-console'");
	pthread_mutex_lock(&c->d->lock);
	ret = dconsole_reserve_locked(c->dom, c->req.force, ci ? ci->connect_fd : -1,
				      &c->console_token);
	if (ret == 0) {
		c->dom->refs++;   /* the upgrade handler's */
		c->upgrade_pending = true;
	}
	pthread_mutex_unlock(&c->d->lock);
	if (ret == -ENODEV)
		return derr_set(&c->err, DERR_OPERATION_INVALID, "domain '%s' has no pty console",
				c->dom->name);
	if (ret == -EBUSY)
		return derr_set(&c->err, DERR_CONSOLE_BUSY, "a client is attached to the console "
				"of domain '%s' (force=1 takes it over)", c->dom->name);
	c->resp = MHD_create_response_for_upgrade(dapi_upgraded, c->dom);
	if (!c->resp) {
		c->upgrade_pending = false;
		dapi_upgrade_drop(c->dom, c->console_token);
		return derr_set(&c->err, DERR_INTERNAL, "cannot create the upgrade response");
	}
	MHD_add_response_header(c->resp, MHD_HTTP_HEADER_UPGRADE, "vmkit-console");
	MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	c->status = MHD_HTTP_SWITCHING_PROTOCOLS;
	return 0;
}

/* ---- the skeleton ---- */

/* Look up {dom}, take its op lock for actions, check the transition. */
static int dapi_enter(struct dapi_ctx *c, bool *locked)
{
	char msg[256];
	bool ok;
	int ret = ddom_get(c->d, c->req.dom, &c->dom, &c->err);

	if (ret < 0)
		return ret;
	*locked = c->req.write;
	if (*locked)
		pthread_mutex_lock(&c->dom->op);
	pthread_mutex_lock(&c->d->lock);
	ok = dstate_allowed(c->req.op, c->dom->state, c->dom->name, msg, sizeof(msg));
	if (c->dom->removed)
		ret = derr_set(&c->err, DERR_NO_DOMAIN, "domain '%s' was just removed", c->req.dom);
	else if (!ok)
		ret = derr_set(&c->err, DERR_OPERATION_INVALID, "%s", msg);
	pthread_mutex_unlock(&c->d->lock);
	return ret;
}

/* Has the client of a waiting request hung up? */
static bool dapi_conn_left(void *opaque)
{
	struct dapi_ctx *c = opaque;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

	return ci && util_peer_gone(ci->connect_fd);
}

/* Route and check the request, enter, act (dapi_early ran before). */
static int dapi_dispatch(struct dapi_ctx *c, const char *method, const char *url)
{
	bool locked = false;
	int ret;

	if (c->too_many_args)
		return derr_set(&c->err, DERR_INVALID_ARGUMENT, "more than %d query arguments",
				DAPI_MAX_ARGS);
	ret = droute_parse(method, url, c->args, c->nargs, c->body, c->len, &c->req, &c->err);
	if (ret < 0)
		return ret;
	if (c->req.dom[0])
		ret = dapi_enter(c, &locked);
	if (ret == 0)
		ret = dapi_handlers[c->req.id](c);
	if (locked)
		pthread_mutex_unlock(&c->dom->op);
	if (ret == 0 && c->wait_pid)
		ret = dapi_info_answer(c, drun_wait_stopped(c->dom, c->wait_pid, c->wait_s,
							    dapi_conn_left, c, &c->err));
	devent_reserve_ahead(&c->d->events);   /* no lock held: the seq file's fsync */
	return ret;
}

static enum MHD_Result dapi_queue_json(struct MHD_Connection *conn, unsigned status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);
	size_t len = text ? strlen(text) : 0;
	struct MHD_Response *resp;
	enum MHD_Result r;

	if (text) {
		char *p = realloc(text, len + 2);

		text = p ? p : text;
		if (p)
			memcpy(text + len++, "\n", 2);
	}
	resp = text ? MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE) : NULL;
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result dapi_respond(struct dapi_ctx *c, int ret)
{
	enum MHD_Result r;
	json_t *j;

	if (ret == 0 && c->resp) {
		r = MHD_queue_response(c->conn, c->status, c->resp);
		MHD_destroy_response(c->resp);
		c->resp = NULL;
		return r;
	}
	if (ret == 0)
		return dapi_queue_json(c->conn, c->status, c->answer);
	if (c->err.code == DERR_NONE)
		derr_set(&c->err, DERR_INTERNAL, "%s", strerror(-ret));
	j = json_pack("{s:{s:s,s:s}}", "error", "code", derr_name(c->err.code),
		      "message", c->err.msg);
	if (!j)   /* the message quoted bytes that are not UTF-8 */
		j = json_pack("{s:{s:s,s:s}}", "error", "code", derr_name(c->err.code),
			      "message", "(the message quoted invalid UTF-8)");
	r = j ? dapi_queue_json(c->conn, derr_status(c->err.code), j) : MHD_NO;
	json_decref(j);
	return r;
}

static enum MHD_Result dapi_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct dapi_ctx *c = cls;

	if (c->nargs == DAPI_MAX_ARGS) {
		c->too_many_args = true;
		return MHD_NO;
	}
	c->args[c->nargs++] = (struct droute_arg){ key, value };
	return MHD_YES;
}

/* Accumulate the body: false once it crosses the limit. */
static bool dapi_body(struct dapi_ctx *c, const char *data, size_t n)
{
	char *p;

	if (n > DROUTE_BODY_MAX - c->len)
		return false;
	p = realloc(c->body, c->len + n + 1);
	if (!p)
		return false;
	memcpy(p + c->len, data, n);
	c->len += n;
	p[c->len] = 0;
	c->body = p;
	return true;
}

/* A Content-Length over the limit (MHD has checked that it is a number). */
static bool dapi_declared_too_large(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);

	return cl && strtoull(cl, NULL, 10) > DROUTE_BODY_MAX;
}

/* The read-write socket's mode is 0600, and its peer must be root or our
 * own user too (a socket file handed on or chmod'ed stays ours). */
static int dapi_peer_check(struct dapi_ctx *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		return derr_set(&c->err, DERR_INTERNAL, "cannot learn the peer's credentials: %s",
				strerror(ci ? errno : EBADF));
	if (cr.uid != 0 && cr.uid != geteuid())
		return derr_set(&c->err, DERR_ACCESS_DENIED, "uid %u may not use the read-write "
				"socket (root or uid %u only); the read-only socket answers "
				"queries", (unsigned)cr.uid, (unsigned)geteuid());
	return 0;
}

/* What needs only the request line and headers, decided before any body
 * is looked at: who the peer is, writes on the read-only socket. */
static int dapi_early(struct dapi_ctx *c, bool ro, const char *method, const char *url)
{
	struct droute_req req;
	struct derr unused;
	int ret = ro ? 0 : dapi_peer_check(c);

	if (ret < 0)
		return ret;
	if (ro && droute_match(method, url, &req, &unused) == 0 && req.write)
		return derr_set(&c->err, DERR_READ_ONLY, "%s %s changes state: not allowed on the "
				"read-only socket", method, url);
	return 0;
}

/* The first call, with the headers. A declared body over the limit is
 * answered at once (MHD then drops the body and closes the connection);
 * any other refusal once the body (at most the limit) has arrived, so that
 * a client that writes its whole request before reading gets the answer. */
static enum MHD_Result dapi_begin(struct dapi_server *srv, struct MHD_Connection *conn,
				  const char *method, const char *url, void **con_cls)
{
	struct dapi_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return MHD_NO;
	c->d = srv->d;
	c->conn = conn;
	*con_cls = c;
	c->refused = dapi_early(c, srv->ro, method, url);
	if (!dapi_declared_too_large(conn))
		return MHD_YES;
	if (c->refused == 0)
		c->refused = derr_set(&c->err, DERR_BODY_TOO_LARGE, "%s", DROUTE_BODY_TOO_LARGE);
	return dapi_respond(c, c->refused);
}

static enum MHD_Result dapi_access(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version,
				   const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct dapi_ctx *c = *con_cls;

	if (!c)
		return dapi_begin(cls, conn, method, url, con_cls);
	if (*upload_data_size) {
		/* MHD cannot answer in the middle of a body (chunked, or longer
		 * than declared): close the connection */
		if (!dapi_body(c, upload_data, *upload_data_size)) {
			log_warn("http: %s %s: %s; closing the connection", method, url,
				 DROUTE_BODY_TOO_LARGE);
			return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (c->refused)
		return dapi_respond(c, c->refused);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, dapi_arg, c);
	return dapi_respond(c, dapi_dispatch(c, method, url));
}

static void dapi_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	struct dapi_ctx *c = *con_cls;

	if (!c)
		return;
	if (c->upgrade_pending)   /* the client left before the 101 */
		dapi_upgrade_drop(c->dom, c->console_token);
	if (c->dom)
		ddom_put(c->dom);
	if (c->resp)
		MHD_destroy_response(c->resp);
	json_decref(c->answer);
	droute_req_free(&c->req);
	free(c->body);
	free(c);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0)))
static void dapi_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = 0;
	log_warn("http: %s", buf);
}

/* ---- sockets and servers ---- */

/* bind() creates the socket file with the mode the umask allows: never
 * wider than mode, not even until the chmod that follows. (The umask is the
 * process's: a file another thread creates meanwhile is at worst narrower.) */
static int dapi_bind(int fd, const struct sockaddr_un *sa, mode_t mode)
{
	mode_t old = umask(~mode & 0777);
	int ret = bind(fd, (const struct sockaddr *)sa, sizeof(*sa));
	int e = errno;

	umask(old);
	errno = e;
	return ret;
}

static int dapi_listen(struct dapi_server *srv, mode_t mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(srv->path) >= sizeof(sa.sun_path)) {
		log_error("%s: longer than a unix socket path may be (%zu bytes)", srv->path,
			  sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, srv->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(srv->path);   /* a stale one: we hold the state-dir lock */
	if (dapi_bind(fd, &sa, mode) < 0 || chmod(srv->path, mode) < 0 || listen(fd, 128) < 0) {
		int e = -errno;

		log_error("cannot listen on %s: %s", srv->path, strerror(errno));
		close(fd);
		return e;
	}
	srv->fd = fd;
	return 0;
}

static int dapi_serve(struct vmkitd *d, struct dapi_server *srv, const char *name, bool ro,
		      mode_t mode)
{
	int ret;

	srv->d = d;
	srv->ro = ro;
	srv->fd = -1;
	snprintf(srv->path, sizeof(srv->path), "%s/%s", d->cfg.runtime_dir, name);
	ret = dapi_listen(srv, mode);
	if (ret < 0)
		return ret;
	srv->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
				    MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				    dapi_access, srv,
				    MHD_OPTION_EXTERNAL_LOGGER, dapi_mhd_log, srv,
				    MHD_OPTION_LISTEN_SOCKET, srv->fd,
				    MHD_OPTION_NOTIFY_COMPLETED, dapi_completed, srv,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)DAPI_CONN_LIMIT,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)DAPI_IDLE_S,
				    MHD_OPTION_END);
	if (!srv->mhd) {
		log_error("cannot start the HTTP server on %s", srv->path);
		close(srv->fd);
		unlink(srv->path);
		srv->fd = -1;
		return -EIO;
	}
	return 0;
}

static void dapi_unserve(struct dapi_server *srv)
{
	if (srv->mhd)
		MHD_stop_daemon(srv->mhd);
	if (srv->fd >= 0) {
		close(srv->fd);
		unlink(srv->path);
	}
	srv->mhd = NULL;
	srv->fd = -1;
}

int dapi_start(struct vmkitd *d)
{
	struct dapi *api = calloc(1, sizeof(*api));
	int ret;

	if (!api)
		return -ENOMEM;
	api->rw.fd = api->ro.fd = -1;
	d->api = api;
	ret = dapi_serve(d, &api->rw, VMKIT_RW_SOCKET, false, 0600);
	if (ret == 0)
		ret = dapi_serve(d, &api->ro, VMKIT_RO_SOCKET, true, 0666);
	if (ret < 0)
		dapi_stop(d);
	return ret;
}

void dapi_stop(struct vmkitd *d)
{
	if (!d->api)
		return;
	dapi_unserve(&d->api->rw);
	dapi_unserve(&d->api->ro);
	free(d->api);
	d->api = NULL;
}
