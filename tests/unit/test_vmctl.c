/* test_vmctl: the control socket's virtio commands (src/vmm/vmctl.c:
 * query-virtio, query-block, query-blockstats, query-netstats, set-link,
 * set-rate-limit, balloon-set, query-balloon)
 * on a VM whose only populated part is its device list: virtio-rng and two
 * fake device models (a disk and a NIC) behind the real transport and PCI
 * bus, plus a real virtio-balloon for the balloon commands (on untouched
 * RAM: only its size matters). The VM functions vmctl.c's other commands
 * call are stubs here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "chardev.h"
#include "config.h"
#include "devhost.h"
#include "iobus.h"
#include "memmap.h"
#include "pci/pci.h"
#include "virtio/virtio.h"
#include "virtio/virtio_pci.h"
#include "vm.h"

/* ---- stubs for what vmctl.c's lifecycle commands call ---- */

int vm_pause(struct vm *vm)
{
	return 0;
}

int vm_resume(struct vm *vm)
{
	return 0;
}

void vm_power_button(struct vm *vm)
{
}

void vm_request(struct vm *vm, enum vm_action action, enum vm_reason reason, int status)
{
}

const char *vm_state_name(enum vm_state state)
{
	return "running";
}

const char *chardev_kind_name(enum chardev_kind kind)
{
	return "none";
}

enum chardev_kind chardev_kind_of(const struct chardev *cd)
{
	return CHARDEV_NONE;
}

const char *chardev_filename(const struct chardev *cd)
{
	return "";
}

uint64_t chardev_dropped(const struct chardev *cd)
{
	return 0;
}

/* ---- fake devices ---- */

struct fake {
	struct virtio_dev *vd;
	bool locked_in_query;
	int link;            /* -1: never set */
	struct config_ratelimit limit;
	unsigned limit_calls;
	int limit_ret;       /* what set_rate_limit answers */
};

static void fake_check_locked(struct fake *f)
{
	f->locked_in_query = pthread_mutex_trylock(virtio_dev_lock(f->vd)) == EBUSY;
}

static int fake_activate(void *dev, uint64_t features)
{
	return 0;
}

static void fake_notify(void *dev, unsigned q)
{
}

static void fake_reset(void *dev)
{
}

static void fake_destroy(void *dev)
{
}

static void fake_blk_query(void *dev, json_t *obj)
{
	fake_check_locked(dev);
	json_object_set_new(obj, "path", json_string("/img/a.qcow2"));
	json_object_set_new(obj, "format", json_string("qcow2"));
	json_object_set_new(obj, "readonly", json_true());
	json_object_set_new(obj, "cache", json_string("none"));
	json_object_set_new(obj, "stats", json_pack("{s:i,s:i}", "rd_bytes", 4096,
						     "wr_operations", 3));
}

static void fake_net_query(void *dev, json_t *obj)
{
	struct fake *f = dev;

	fake_check_locked(f);
	json_object_set_new(obj, "link", json_boolean(f->link != 0));
	json_object_set_new(obj, "stats", json_pack("{s:i}", "rx_packets", 7));
}

static int fake_set_link(void *dev, bool up)
{
	struct fake *f = dev;

	fake_check_locked(f);
	f->link = up;
	return 0;
}

static int fake_set_rate_limit(void *dev, const struct config_ratelimit *limit)
{
	struct fake *f = dev;

	fake_check_locked(f);
	f->limit_calls++;
	if (f->limit_ret == 0)
		f->limit = *limit;
	return f->limit_ret;
}

static const struct virtio_device_ops fake_blk_ops = {
	.name = "virtio-blk", .device_id = VIRTIO_ID_BLOCK, .activate = fake_activate,
	.queue_notify = fake_notify, .reset = fake_reset, .query = fake_blk_query,
	.set_rate_limit = fake_set_rate_limit, .destroy = fake_destroy,
};

static const struct virtio_device_ops fake_net_ops = {
	.name = "virtio-net", .device_id = VIRTIO_ID_NET, .activate = fake_activate,
	.queue_notify = fake_notify, .reset = fake_reset, .query = fake_net_query,
	.set_link = fake_set_link, .set_rate_limit = fake_set_rate_limit,
	.destroy = fake_destroy,
};

/* ---- rig ---- */

static const struct devhost_ops host_ops = { 0 };

struct rig {
	struct memmap mm;
	struct pci_bus *bus;
	struct gmem gm;
	struct devhost dh;
	struct fake blk, net;
	struct vm *vm;
};

static void plug(struct rig *r, struct virtio_dev_info *info)
{
	const struct virtio_env env = { .host = &r->dh, .gm = &r->gm, .ncpus = 1 };
	struct virtio_dev **slot = &r->vm->virtio.devs[r->vm->virtio.n];

	assert_int_equal(virtio_pci_create(r->bus, 1 + r->vm->virtio.n, &env, info, slot), 0);
	r->vm->virtio.n++;
}

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct virtio_dev_info blk = {
		.ops = &fake_blk_ops, .dev = &r->blk, .handle = &r->blk.vd, .id = "disk0",
		.nqueues = 1, .queue_max = 64,
	};
	struct virtio_dev_info net = {
		.ops = &fake_net_ops, .dev = &r->net, .handle = &r->net.vd, .id = "net0",
		.nqueues = 2, .queue_max = 256,
	};
	struct virtio_dev_info rng;

	assert_non_null(r);
	r->vm = calloc(1, sizeof(*r->vm));
	assert_non_null(r->vm);
	r->dh = (struct devhost){ &host_ops, NULL };
	r->net.link = -1;
	assert_int_equal(memmap_init(&r->mm, 256 * 1024 * 1024ULL), 0);
	assert_int_equal(pci_bus_create(&r->mm, &r->bus), 0);
	plug(r, &blk);
	plug(r, &net);
	assert_int_equal(vrng_create(&(struct virtio_env){ .host = &r->dh, .gm = &r->gm }, &rng), 0);
	plug(r, &rng);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	for (unsigned i = 0; i < r->vm->virtio.n; i++)
		virtio_pci_destroy(r->vm->virtio.devs[i]);
	pci_bus_destroy(r->bus);
	free(r->vm);
	free(r);
	return 0;
}

/* Run command name with args (stolen); 0 or the handler's error. */
static int run(struct rig *r, const char *name, json_t *args, json_t **ret, char **err)
{
	int rc = -ENOENT;

	*ret = NULL;
	*err = NULL;
	for (const struct control_cmd *c = vmctl_cmds; c->name; c++) {
		if (strcmp(c->name, name) == 0)
			rc = c->fn(r->vm, args, ret, err);
	}
	json_decref(args);
	return rc;
}

static void assert_json(json_t *got, const char *want_text)
{
	json_error_t e;
	json_t *want = json_loads(want_text, 0, &e);

	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS);

		print_error("got  %s\nwant %s\n", g, want_text);
		free(g);
		json_decref(want);
		fail();
	}
	json_decref(want);
}

/* ---- tests ---- */

static void test_query_block(void **state)
{
	struct rig *r = *state;
	json_t *ret;
	char *err;

	assert_int_equal(run(r, "query-block", NULL, &ret, &err), 0);
	assert_json(ret, "[{\"id\": \"disk0\", \"path\": \"/img/a.qcow2\", \"format\": \"qcow2\","
			 " \"readonly\": true, \"cache\": \"none\"}]");
	assert_true(r->blk.locked_in_query);
	json_decref(ret);
	assert_int_equal(run(r, "query-blockstats", NULL, &ret, &err), 0);
	assert_json(ret, "[{\"id\": \"disk0\", \"path\": \"/img/a.qcow2\", \"stats\": "
			 "{\"rd_bytes\": 4096, \"wr_operations\": 3}}]");
	json_decref(ret);
}

static void test_query_netstats_and_link(void **state)
{
	struct rig *r = *state;
	json_t *ret;
	char *err;

	assert_int_equal(run(r, "query-netstats", NULL, &ret, &err), 0);
	assert_json(ret, "[{\"id\": \"net0\", \"stats\": {\"rx_packets\": 7}}]");
	json_decref(ret);
	assert_int_equal(run(r, "set-link", json_pack("{s:s,s:b}", "id", "net0", "up", 0), &ret,
			     &err), 0);
	assert_int_equal(r->net.link, 0);
	assert_true(r->net.locked_in_query);
	assert_int_equal(run(r, "set-link", json_pack("{s:s,s:b}", "id", "net0", "up", 1), &ret,
			     &err), 0);
	assert_int_equal(r->net.link, 1);
}

static void test_set_link_errors(void **state)
{
	static const struct {
		const char *args;
		const char *msg;
	} cases[] = {
		{ "{\"id\": \"nic7\", \"up\": true}", "no device 'nic7'" },
		{ "{\"id\": \"disk0\", \"up\": true}", "device 'disk0' has no link" },
		{ "{\"id\": \"net0\"}", "set-link needs {\"id\": string, \"up\": bool}" },
		{ "{\"id\": 3, \"up\": false}", "set-link needs {\"id\": string, \"up\": bool}" },
		{ "{}", "set-link needs {\"id\": string, \"up\": bool}" },
	};
	struct rig *r = *state;
	json_t *ret;
	char *err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(run(r, "set-link", json_loads(cases[i].args, 0, NULL), &ret, &err) < 0);
		assert_non_null(err);
		assert_string_equal(err, cases[i].msg);
		free(err);
	}
	assert_true(run(r, "set-link", NULL, &ret, &err) < 0);  /* no arguments at all */
	free(err);
	assert_int_equal(r->net.link, -1);
}

/* set-rate-limit: all four values to the device (lock held), omitted
 * ones are 0; refusals name the problem and reach no device. */
static void test_set_rate_limit(void **state)
{
	static const struct {
		const char *args;
		const char *msg;
	} cases[] = {
		{ "{\"id\": \"disk9\", \"bps\": 1}", "no device 'disk9'" },
		{ "{\"id\": \"rng0\", \"bps\": 1}", "device 'rng0' has no rate limit" },
		{ "{\"bps\": 1}", "set-rate-limit needs {\"id\": string, \"bps\", \"bps_burst\", "
				 "\"ops\", \"ops_burst\": integers}" },
		{ "{\"id\": \"disk0\", \"bps\": -1}",
		  "set-rate-limit: 'bps' must be a non-negative integer (0 = unlimited)" },
		{ "{\"id\": \"disk0\", \"ops\": 1.5}",
		  "set-rate-limit: 'ops' must be a non-negative integer (0 = unlimited)" },
		{ "{\"id\": \"disk0\", \"bps_burst\": \"1M\"}",
		  "set-rate-limit: 'bps_burst' must be a non-negative integer (0 = unlimited)" },
		{ "{\"id\": \"net0\", \"ops_burst\": true}",
		  "set-rate-limit: 'ops_burst' must be a non-negative integer (0 = unlimited)" },
		{ "{\"id\": \"net0\", \"pps\": 10}",
		  "set-rate-limit: unknown key 'pps' (keys: id, bps, bps_burst, ops, ops_burst)" },
	};
	struct rig *r = *state;
	json_t *ret;
	char *err;

	assert_int_equal(run(r, "set-rate-limit", json_loads("{\"id\": \"disk0\", \"bps\": 1048576,"
			     " \"bps_burst\": 65536, \"ops\": 100, \"ops_burst\": 9223372036854775807}",
			     0, NULL), &ret, &err), 0);
	assert_true(r->blk.locked_in_query);
	assert_int_equal(r->blk.limit.bps, 1048576);
	assert_int_equal(r->blk.limit.bps_burst, 65536);
	assert_int_equal(r->blk.limit.ops, 100);
	assert_int_equal(r->blk.limit.ops_burst, INT64_MAX);
	assert_int_equal(run(r, "set-rate-limit", json_loads("{\"id\": \"disk0\", \"ops\": 5}",
			     0, NULL), &ret, &err), 0);
	assert_int_equal(r->blk.limit.bps + r->blk.limit.bps_burst + r->blk.limit.ops_burst, 0);
	assert_int_equal(r->blk.limit.ops, 5);
	assert_int_equal(run(r, "set-rate-limit", json_loads("{\"id\": \"net0\", \"bps\": 0}",
			     0, NULL), &ret, &err), 0);
	assert_int_equal(r->net.limit_calls, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(run(r, "set-rate-limit", json_loads(cases[i].args, 0, NULL), &ret,
				&err) < 0);
		assert_non_null(err);
		assert_string_equal(err, cases[i].msg);
		free(err);
	}
	assert_int_equal(r->blk.limit_calls + r->net.limit_calls, 3);
	/* the device's own error */
	r->net.limit_ret = -EMFILE;
	assert_int_equal(run(r, "set-rate-limit", json_loads("{\"id\": \"net0\", \"bps\": 1}",
			     0, NULL), &ret, &err), -EMFILE);
	assert_string_equal(err, "set-rate-limit: Too many open files");
	free(err);
}

static void test_query_virtio(void **state)
{
	struct rig *r = *state;
	json_t *ret, *d;
	char *err;

	assert_int_equal(run(r, "query-virtio", NULL, &ret, &err), 0);
	assert_int_equal(json_array_size(ret), 3);
	d = json_array_get(ret, 1);
	assert_string_equal(json_string_value(json_object_get(d, "id")), "net0");
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "virtio-net");
	assert_int_equal(json_integer_value(json_object_get(d, "slot")), 2);
	assert_int_equal(json_integer_value(json_object_get(d, "status")), 0);
	assert_true(json_is_null(json_object_get(d, "needs-reset")));
	assert_int_equal(json_array_size(json_object_get(d, "queues")), 2);
	assert_non_null(json_object_get(d, "stats"));  /* the device's facts too */
	d = json_array_get(ret, 2);
	assert_string_equal(json_string_value(json_object_get(d, "kind")), "virtio-rng");
	assert_true(json_integer_value(json_object_get(d, "offered")) & (1LL << 32));
	json_decref(ret);
	/* a failed device names its reason */
	pthread_mutex_lock(virtio_dev_lock(r->blk.vd));
	virtio_dev_fail(r->blk.vd, "queue 0: %s", "bad avail index");
	pthread_mutex_unlock(virtio_dev_lock(r->blk.vd));
	assert_int_equal(run(r, "query-virtio", NULL, &ret, &err), 0);
	d = json_array_get(ret, 0);
	assert_string_equal(json_string_value(json_object_get(d, "needs-reset")),
			    "queue 0: bad avail index");
	assert_int_equal(json_integer_value(json_object_get(d, "status")), 0x40);
	json_decref(ret);
}

/* ---- the balloon ---- */

#define BAL_RAM (256ull << 20)

/* The rig plus a real virtio-balloon on BAL_RAM bytes of (untouched) RAM. */
static int setup_balloon(void **state)
{
	const struct config_balloon cfg = { .enabled = true, .id = "balloon0" };
	struct virtio_dev_info info;
	struct rig *r;
	void *ram = mmap(NULL, BAL_RAM, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);

	setup(state);
	r = *state;
	assert_true(ram != MAP_FAILED);
	assert_int_equal(gmem_add_region(&r->vm->gm, 0, BAL_RAM, ram), 0);
	assert_int_equal(vballoon_create(&(struct virtio_env){ .host = &r->dh, .gm = &r->vm->gm },
					 &cfg, &info), 0);
	plug(r, &info);
	return 0;
}

static int teardown_balloon(void **state)
{
	struct rig *r = *state;

	munmap(r->vm->gm.regions[0].hva, BAL_RAM);
	return teardown(state);
}

static void test_balloon_absent(void **state)
{
	struct rig *r = *state;
	json_t *ret;
	char *err;

	assert_int_equal(run(r, "balloon-set", json_pack("{s:I}", "target", (json_int_t)(1 << 30)),
			     &ret, &err), -ENODEV);
	assert_string_equal(err, "no balloon device (start the VM with --balloon)");
	free(err);
	assert_int_equal(run(r, "query-balloon", NULL, &ret, &err), -ENODEV);
	assert_string_equal(err, "no balloon device (start the VM with --balloon)");
	free(err);
}

static void test_balloon_set_and_query(void **state)
{
	struct rig *r = *state;
	json_t *ret;
	char *err;

	assert_int_equal(run(r, "query-balloon", NULL, &ret, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(ret, "target")), BAL_RAM);
	assert_int_equal(json_integer_value(json_object_get(ret, "actual")), BAL_RAM);
	assert_string_equal(json_string_value(json_object_get(ret, "id")), "balloon0");
	assert_json(json_object_get(ret, "stats"), "{}");
	assert_true(json_is_null(json_object_get(ret, "stats-age")));
	assert_int_equal(json_integer_value(json_object_get(ret, "inflated-pages")), 0);
	json_decref(ret);
	assert_int_equal(run(r, "balloon-set", json_pack("{s:I}", "target",
			     (json_int_t)(BAL_RAM - (64 << 20))), &ret, &err), 0);
	assert_int_equal(run(r, "query-balloon", NULL, &ret, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(ret, "target")), BAL_RAM - (64 << 20));
	assert_int_equal(json_integer_value(json_object_get(ret, "num-pages")), 16384);
	assert_int_equal(json_integer_value(json_object_get(ret, "actual")), BAL_RAM);
	json_decref(ret);
	/* the extremes are allowed */
	assert_int_equal(run(r, "balloon-set", json_pack("{s:I}", "target", (json_int_t)BAL_RAM),
			     &ret, &err), 0);
	assert_int_equal(run(r, "balloon-set", json_pack("{s:I}", "target",
			     (json_int_t)(16 << 20)), &ret, &err), 0);
	/* the device is listed with the others */
	assert_int_equal(run(r, "query-virtio", NULL, &ret, &err), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(ret, 3), "kind")),
			    "virtio-balloon");
	json_decref(ret);
}

static void test_balloon_set_errors(void **state)
{
	static const struct {
		const char *args;
		const char *msg;
	} cases[] = {
		{ "{\"target\": 268435457}", "balloon-set: target 268435457 is outside "
		  "16777216..268435456 (16 MiB up to the guest's RAM)" },
		{ "{\"target\": 16777215}", "balloon-set: target 16777215 is outside "
		  "16777216..268435456 (16 MiB up to the guest's RAM)" },
		{ "{\"target\": -1}", "balloon-set needs {\"target\": bytes}" },
		{ "{\"target\": \"1G\"}", "balloon-set needs {\"target\": bytes}" },
		{ "{\"size\": 1}", "balloon-set needs {\"target\": bytes}" },
	};
	struct rig *r = *state;
	json_t *ret;
	char *err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(run(r, "balloon-set", json_loads(cases[i].args, 0, NULL), &ret,
				&err) < 0);
		assert_non_null(err);
		assert_string_equal(err, cases[i].msg);
		free(err);
	}
	assert_true(run(r, "balloon-set", NULL, &ret, &err) < 0);
	free(err);
	assert_int_equal(run(r, "query-balloon", NULL, &ret, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(ret, "target")), BAL_RAM);
	json_decref(ret);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_query_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_netstats_and_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_link_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_virtio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_balloon_absent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_balloon_set_and_query, setup_balloon,
						teardown_balloon),
		cmocka_unit_test_setup_teardown(test_balloon_set_errors, setup_balloon,
						teardown_balloon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
