/* test_dvmm: vmkitd's control-socket talker (src/daemon/dvmm.c dvmm_call)
 * against a scripted fake VMM on a unix socket in a temporary directory:
 * a thread accepts one connection, writes the lines of its script (after
 * reading the request line where the script says so) and closes. Covers the
 * reply after events, an error reply, and a VMM that ends after an event
 * without answering (a guest powering off while vmkitd asks: the talker
 * must fail cleanly, which ASan checks). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "common/util.h"
#include "daemon/dvmm.h"

#define TEST_DVMM_REQ "<request>"   /* script step: read the request line */

struct test_dvmm_fake {
	char dir[64];
	char path[100];
	int listen_fd;
	const char *const *script;   /* NULL-terminated */
	char request[512];           /* the request line the talker sent */
	pthread_t thread;
};

static void test_dvmm_read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	char c;

	while (n + 1 < len && read(fd, &c, 1) == 1 && c != '\n')
		buf[n++] = c;
	buf[n] = 0;
}

static void *test_dvmm_serve(void *opaque)
{
	struct test_dvmm_fake *f = opaque;
	int fd = accept(f->listen_fd, NULL, NULL);

	for (size_t i = 0; fd >= 0 && f->script[i]; i++) {
		const char *step = f->script[i];

		if (strcmp(step, TEST_DVMM_REQ) == 0)
			test_dvmm_read_line(fd, f->request, sizeof(f->request));
		else if (util_write_all(fd, step, strlen(step)) < 0)
			break;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void test_dvmm_fake_start(struct test_dvmm_fake *f, const char *const *script)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_dvmm.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vm.sock", f->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 1), 0);
	f->script = script;
	assert_int_equal(pthread_create(&f->thread, NULL, test_dvmm_serve, f), 0);
}

static void test_dvmm_fake_stop(struct test_dvmm_fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	unlink(f->path);
	rmdir(f->dir);
}

#define GREETING "{\"vmkit\": {\"version\": \"0.1.0\"}}\n"
#define EVENT "{\"event\": \"SHUTDOWN\", \"data\": {\"reason\": \"guest-poweroff\"}}\n"

static void test_reply_after_events(void **state)
{
	static const char *const script[] = {
		GREETING, TEST_DVMM_REQ, EVENT, "not json\n",
		"{\"return\": {\"status\": \"running\"}}\n", NULL,
	};
	struct test_dvmm_fake f;
	json_t *ret = NULL;
	char err[256] = "";

	(void)state;
	test_dvmm_fake_start(&f, script);
	assert_int_equal(dvmm_call(f.path, "query-status", NULL, 5000, &ret, err, sizeof(err)), 0);
	test_dvmm_fake_stop(&f);
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
	assert_non_null(strstr(f.request, "\"execute\":\"query-status\""));
	json_decref(ret);
}

static void test_error_reply(void **state)
{
	static const char *const script[] = {
		GREETING, TEST_DVMM_REQ, "{\"error\": {\"class\": \"GenericError\", "
		"\"desc\": \"no balloon\"}}\n", NULL,
	};
	struct test_dvmm_fake f;
	json_t *ret = NULL;
	char err[256] = "";

	(void)state;
	test_dvmm_fake_start(&f, script);
	assert_int_equal(dvmm_call(f.path, "query-balloon", NULL, 5000, &ret, err, sizeof(err)),
			 -EREMOTEIO);
	test_dvmm_fake_stop(&f);
	assert_null(ret);
	assert_non_null(strstr(err, "query-balloon"));
	assert_non_null(strstr(err, "no balloon"));
}

/* The VMM sends an event and ends (the guest powered off) before replying:
 * dvmm_call must fail with an error naming the command, nothing freed twice. */
static void test_ends_after_event(void **state)
{
	static const char *const script[] = { GREETING, TEST_DVMM_REQ, EVENT, NULL };
	struct test_dvmm_fake f;
	json_t *ret = NULL;
	char err[256] = "";
	int rc;

	(void)state;
	test_dvmm_fake_start(&f, script);
	rc = dvmm_call(f.path, "query-balloon", NULL, 5000, &ret, err, sizeof(err));
	test_dvmm_fake_stop(&f);
	assert_true(rc < 0);
	assert_true(rc != -ETIMEDOUT);
	assert_null(ret);
	assert_non_null(strstr(err, "query-balloon"));
}

/* The same after a line that is not JSON. */
static void test_ends_after_garbage(void **state)
{
	static const char *const script[] = { GREETING, TEST_DVMM_REQ, "{\"half\":\n", NULL };
	struct test_dvmm_fake f;
	json_t *ret = NULL;
	char err[256] = "";
	int rc;

	(void)state;
	test_dvmm_fake_start(&f, script);
	rc = dvmm_call(f.path, "query-status", NULL, 5000, &ret, err, sizeof(err));
	test_dvmm_fake_stop(&f);
	assert_true(rc < 0);
	assert_null(ret);
}

/* Nobody listens: -ENOENT, the talker's "not yet" answer. */
static void test_no_socket(void **state)
{
	char err[256] = "";

	(void)state;
	assert_int_equal(dvmm_call("/nonexistent/vmkit-test.sock", "query-status", NULL, 1000, NULL,
				   err, sizeof(err)), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_after_events),
		cmocka_unit_test(test_error_reply),
		cmocka_unit_test(test_ends_after_event),
		cmocka_unit_test(test_ends_after_garbage),
		cmocka_unit_test(test_no_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
