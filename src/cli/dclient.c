/* dclient: vmkit's HTTP client for vmkitd's REST API, on libcurl over the
 * daemon's unix socket: connection URI → socket path, one request with a
 * JSON body and a JSON answer, streamed newline-delimited answers (events),
 * and the errors: the daemon's {"error": {...}} message printed verbatim,
 * "cannot connect" with a hint naming the socket. */
#include "cli/dom.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>

#include <curl/curl.h>

#include "common/paths.h"
#include "common/util.h"

/* A runaway answer is refused beyond this (the daemon's are small). */
#define DCLIENT_BODY_MAX (256u << 20)

struct dclient {
	char sock[108];          /* sizeof(sun_path) */
	bool curl_global;        /* curl_global_init succeeded */
	CURL *curl;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
};

struct dbuf {
	char *p;
	size_t len, cap;
	bool overflow;
};

/* ---- URIs --------------------------------------------------------------- */

static int dclient_put_path(char *buf, size_t len, const char *dir, size_t dirlen,
			    const char *file)
{
	int n = snprintf(buf, len, "%.*s/%s", (int)dirlen, dir, file);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int dclient_uri_socket(const char *uri, bool readonly, char *buf, size_t len,
		       const char **why)
{
	static const char unix_prefix[] = "unix://";
	const char *path, *slash;

	*why = NULL;
	if (strcmp(uri, "vmkit:///system") == 0)
		return dclient_put_path(buf, len, VMKIT_RUNTIME_DIR, strlen(VMKIT_RUNTIME_DIR),
					readonly ? VMKIT_RO_SOCKET : VMKIT_RW_SOCKET);
	if (strncmp(uri, unix_prefix, sizeof(unix_prefix) - 1) != 0) {
		*why = "unsupported connection URI (use vmkit:///system or "
		       "unix:///path/to/vmkitd.sock)";
		return -EINVAL;
	}
	path = uri + sizeof(unix_prefix) - 1;
	slash = strrchr(path, '/');
	if (path[0] != '/' || !slash || slash[1] == '\0') {
		*why = "a unix: URI names an absolute socket path (unix:///path/to/vmkitd.sock)";
		return -EINVAL;
	}
	if (readonly) {
		if (dclient_put_path(buf, len, path, (size_t)(slash - path), VMKIT_RO_SOCKET) == 0)
			return 0;
	} else if (strlen(path) < len) {
		strcpy(buf, path);
		return 0;
	}
	*why = "socket path too long";
	return -EINVAL;
}

int dclient_open(const char *uri, bool readonly, struct dclient **out)
{
	struct dclient *c = calloc(1, sizeof(*c));
	const char *why;
	int rc;

	if (!c)
		return -ENOMEM;
	rc = dclient_uri_socket(uri, readonly, c->sock, sizeof(c->sock), &why);
	if (rc < 0) {
		fprintf(stderr, "%s: error: '%s': %s\n", DOM_PROG, uri, why);
		goto fail;
	}
	rc = -ENOMEM;
	c->curl_global = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
	if (!c->curl_global)
		goto fail;
	c->curl = curl_easy_init();
	c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	if (c->hdrs)
		c->hdrs = curl_slist_append(c->hdrs, "Expect:");
	if (!c->curl || !c->hdrs)
		goto fail;
	*out = c;
	return 0;
fail:
	dclient_close(c);
	return rc;
}

void dclient_close(struct dclient *c)
{
	if (!c)
		return;
	curl_slist_free_all(c->hdrs);
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->curl_global)
		curl_global_cleanup();
	free(c);
}

void *dclient_curl(struct dclient *c)
{
	return c->curl;
}

char *dclient_dom_path(struct dclient *c, const char *dom, const char *suffix)
{
	char *esc = curl_easy_escape(c->curl, dom, 0);
	char *path = NULL;

	if (!esc)
		return NULL;
	if (asprintf(&path, "/v1/domains/%s%s", esc, suffix) < 0)
		path = NULL;
	curl_free(esc);
	return path;
}

/* ---- errors ------------------------------------------------------------- */

void dclient_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", DOM_PROG);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int dclient_exit_code(int rc)
{
	if (rc == 0)
		return DOM_EXIT_OK;
	if (rc == -ECONNREFUSED)
		return DOM_EXIT_CONNECT;
	if (rc == -EINVAL)
		return DOM_EXIT_USAGE;
	return DOM_EXIT_FAILED;
}

/* Whether vmkitd runs, from the pid file next to the socket: a hint. */
static const char *dclient_daemon_hint(const struct dclient *c, char *buf, size_t len)
{
	const char *slash = strrchr(c->sock, '/');
	char path[sizeof(c->sock) + 16];
	uint8_t *text = NULL;
	size_t n = 0;
	long pid = 0;

	snprintf(path, sizeof(path), "%.*s/" VMKIT_PID_FILE, (int)(slash ? slash - c->sock : 0),
		 c->sock);
	if (util_read_file(path, 64, &text, &n) == 0 && n > 0 && n < 64) {
		text[n - 1] = text[n - 1] == '\n' ? '\0' : text[n - 1];
		pid = strtol((const char *)text, NULL, 10);
	}
	free(text);
	if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
		snprintf(buf, len, "vmkitd runs (pid %ld) but does not answer there", pid);
	else
		snprintf(buf, len, "vmkitd is not running: no live pid in %s", path);
	return buf;
}

/* Print the cannot-connect error for errno err (with a hint). */
static void dclient_connect_error(const struct dclient *c, int err)
{
	char hint[sizeof(c->sock) + 80];

	dclient_daemon_hint(c, hint, sizeof(hint));
	switch (err) {
	case ENOENT:
		dclient_error("cannot connect to vmkitd: %s does not exist (%s; -c URI or "
			  "VMKIT_DEFAULT_URI choose another socket)", c->sock, hint);
		break;
	case ECONNREFUSED:
		dclient_error("cannot connect to vmkitd: nobody listens on %s (%s)", c->sock, hint);
		break;
	case EACCES:
	case EPERM:
		dclient_error("cannot connect to vmkitd: permission denied on %s (the read-write "
			  "socket is for root; -r uses the read-only one)", c->sock);
		break;
	default:
		dclient_error("cannot connect to vmkitd at %s: %s (%s)", c->sock,
			  err ? strerror(err) : "connection failed", hint);
		break;
	}
}

void dclient_api_error(long status, const char *body, size_t len)
{
	json_error_t jerr;
	json_t *v = json_loadb(body ? body : "", len, 0, &jerr);
	json_t *e = json_object_get(v, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (msg)
		dclient_error("%s", msg);
	else
		dclient_error("vmkitd answered HTTP %ld without an error message", status);
	json_decref(v);
}

/* ---- requests ----------------------------------------------------------- */

static size_t dclient_collect(char *data, size_t size, size_t n, void *opaque)
{
	struct dbuf *b = opaque;
	size_t len = size * n;

	if (b->len + len + 1 > DCLIENT_BODY_MAX) {
		b->overflow = true;
		return 0;
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = (b->len + len + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p)
			return 0;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

static void dclient_setup(struct dclient *c, const char *method, const char *path)
{
	char url[2048];

	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	c->errbuf[0] = '\0';
}

/* A failed transfer: cannot connect (-ECONNREFUSED) or lost (-EIO). */
static int dclient_curl_failed(struct dclient *c, CURLcode cc)
{
	long oserr = 0;

	if (cc == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
		dclient_connect_error(c, (int)oserr);
		return -ECONNREFUSED;
	}
	dclient_error("talking to vmkitd on %s: %s", c->sock,
		  c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc));
	return -EIO;
}

int dclient_connect_only(struct dclient *c, int *fd)
{
	curl_socket_t s = CURL_SOCKET_BAD;
	CURLcode cc;

	dclient_setup(c, "GET", "/");
	curl_easy_setopt(c->curl, CURLOPT_CONNECT_ONLY, 1L);
	cc = curl_easy_perform(c->curl);
	if (cc == CURLE_COULDNT_CONNECT)
		return dclient_curl_failed(c, cc);
	if (cc != CURLE_OK || curl_easy_getinfo(c->curl, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK ||
	    s == CURL_SOCKET_BAD) {
		dclient_error("cannot connect to vmkitd on %s: %s", c->sock, curl_easy_strerror(cc));
		return -ECONNREFUSED;
	}
	*fd = (int)s;
	return 0;
}

/* Turn a finished exchange into the result of dclient_call. */
static int dclient_answer(struct dclient *c, const struct dbuf *b, json_t **out)
{
	json_error_t jerr;
	long status = 0;
	json_t *v;

	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		dclient_api_error(status, b->p, b->len);
		return -EPROTO;
	}
	if (!out)
		return 0;
	v = json_loadb(b->p ? b->p : "", b->len, 0, &jerr);
	if (!v) {
		dclient_error("vmkitd's answer is not JSON: %s", jerr.text);
		return -EIO;
	}
	*out = v;
	return 0;
}

int dclient_call(struct dclient *c, const char *method, const char *path, json_t *body,
		 json_t **out)
{
	struct dbuf b = { 0 };
	char *text = NULL;
	CURLcode cc;
	int rc;

	if (out)
		*out = NULL;
	dclient_setup(c, method, path);
	if (body || strcmp(method, "GET") != 0) {
		text = body ? json_dumps(body, JSON_COMPACT) : strdup("");
		if (!text)
			return -ENOMEM;
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, dclient_collect);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(c->curl);
	if (b.overflow) {
		dclient_error("vmkitd's answer exceeds %u MiB", DCLIENT_BODY_MAX >> 20);
		rc = -EIO;
	} else if (cc != CURLE_OK) {
		rc = dclient_curl_failed(c, cc);
	} else {
		rc = dclient_answer(c, &b, out);
	}
	free(text);
	free(b.p);
	return rc;
}

/* ---- streams ------------------------------------------------------------ */

struct dstream {
	struct dclient *c;
	struct dbuf b;
	int (*line)(void *opaque, const char *s, size_t len);
	void *opaque;
	int stop;                /* what line() returned to end the stream */
	bool error;              /* a non-2xx answer: collect its body */
};

static size_t dclient_stream_data(char *data, size_t size, size_t n, void *opaque)
{
	struct dstream *s = opaque;
	long status = 0;
	size_t len = size * n, start = 0;
	char *nl;

	curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &status);
	s->error = status < 200 || status > 299;
	if (dclient_collect(data, size, n, &s->b) != len)
		return 0;
	if (s->error)
		return len;
	while ((nl = memchr(s->b.p + start, '\n', s->b.len - start))) {
		size_t l = (size_t)(nl - (s->b.p + start));

		if (l > 0)
			s->stop = s->line(s->opaque, s->b.p + start, l);
		start += l + 1;
		if (s->stop)
			return 0;
	}
	memmove(s->b.p, s->b.p + start, s->b.len - start);
	s->b.len -= start;
	return len;
}

int dclient_stream(struct dclient *c, const char *path, long timeout_s,
		   int (*line)(void *opaque, const char *s, size_t len), void *opaque)
{
	struct dstream s = { .c = c, .line = line, .opaque = opaque };
	CURLcode cc;
	int rc = 0;

	dclient_setup(c, "GET", path);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, dclient_stream_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
	if (timeout_s > 0)
		curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, timeout_s);
	cc = curl_easy_perform(c->curl);
	if (s.error) {
		long status = 0;

		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
		dclient_api_error(status, s.b.p, s.b.len);
		rc = -EPROTO;
	} else if (s.stop) {
		rc = s.stop > 0 ? 0 : s.stop;
	} else if (cc == CURLE_OPERATION_TIMEDOUT && timeout_s > 0) {
		rc = 0;
	} else if (cc != CURLE_OK) {
		rc = dclient_curl_failed(c, cc);
	} else if (s.b.len > 0) {
		rc = line(opaque, s.b.p, s.b.len);   /* a last line without its newline */
		rc = rc > 0 ? 0 : rc;
	}
	free(s.b.p);
	return rc;
}
