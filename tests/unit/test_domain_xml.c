/* test_domain_xml: unit tests of src/conf (domain XML): units, UUIDs and
 * MACs, the element table (every refused element refused with its line, the
 * table in sync with docs/xml.md), additions that leave every other byte
 * alone, the live XML, XML -> vmkit-vmm JSON errors; and, with the argument
 * "golden", the golden set of tests/golden/domain/ (VMKIT_GOLDEN_UPDATE=1
 * rewrites the expected files):
 *   NAME.xml           input; err-* must be refused, all others accepted
 *   NAME.err           err-*: the exact error text
 *   NAME.json          the vmkit-vmm --config JSON (test environment below),
 *                      which vmkit-vmm's config_apply_json must accept
 *   NAME.stored.xml    the stored text after vmkit's additions (fixed random
 *                      bytes); absent = byte-identical to the input
 *   NAME.live.xml      the live XML (ptys /dev/pts/7, 8, 9, ...); absent =
 *                      identical to the stored text */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "conf/domain_json.h"
#include "config.h"
#include "conf/domain_units.h"
#include "conf/domain_xml.h"
#include "conf/domain_xml_table.h"

#define GOLDEN_DIR TEST_SRCDIR "/tests/golden/domain"
#define DOCS_XML TEST_SRCDIR "/docs/xml.md"
#define GOLDEN_MAX_FILES 256

/* ---- helpers ---- */

/* Deterministic "random" bytes: 0x10, 0x11, ... from a counter. */
static int fixed_fill(void *opaque, void *buf, size_t len)
{
	unsigned *next = opaque;

	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(0x10 + (*next)++);
	return 0;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, f);
	assert_true(vasprintf(&s, f, ap) >= 0);
	va_end(ap);
	return s;
}

/* A valid document with DEVICES inside <devices> (line 9 onwards). */
static char *doc_with(const char *top, const char *devices)
{
	return fmt("<domain type='kvm'>\n"                             /* 1 */
		   "  <name>t1</name>\n"                                 /* 2 */
		   "  <uuid>0b8e6a3c-5a7f-4a41-9c35-1d2e3f405162</uuid>\n" /* 3 */
		   "  <memory unit='MiB'>64</memory>\n"                  /* 4 */
		   "  <os>\n"                                            /* 5 */
		   "    <kernel>/boot/k</kernel>\n"                      /* 6 */
		   "  </os>%s\n"                                         /* 7 */
		   "  <devices>\n"                                       /* 8 */
		   "    %s\n"                                            /* 9 */
		   "  </devices>\n"
		   "</domain>\n", top, devices);
}

static int parse_str(const char *text, struct domain_xml **dx, struct domain_xml_error *err)
{
	return domain_xml_parse(text, strlen(text), dx, err);
}

static void expect_error(const char *text, const char *want)
{
	struct domain_xml_error err;
	struct domain_xml *dx = NULL;
	int ret = parse_str(text, &dx, &err);

	if (ret == 0 || strcmp(err.msg, want) != 0)
		fail_msg("expected error\n  %s\ngot %d\n  %s\nfor\n%s", want, ret, err.msg, text);
}

/* The same for a malloc'd text, freed here. */
static void expect_error_own(char *text, const char *want)
{
	expect_error(text, want);
	free(text);
}

static struct domain_xml *expect_ok(const char *text)
{
	struct domain_xml_error err;
	struct domain_xml *dx = NULL;

	if (parse_str(text, &dx, &err) != 0)
		fail_msg("unexpected error: %s\nfor\n%s", err.msg, text);
	return dx;
}

/* Additions only insert: in is what remains of out without them, in order. */
static bool only_insertions(const char *in, const char *out)
{
	for (; *out && *in; out++)
		in += *in == *out;
	return *in == '\0';
}

/* ---- units, UUIDs, MACs ---- */

static void test_units(void **state)
{
	static const struct { const char *num, *unit; uint64_t want; } ok[] = {
		{ "7", "b", 7 }, { "7", "bytes", 7 }, { "7", "byte", 7 },
		{ "3", "k", 3072 }, { "3", "KiB", 3072 }, { "3", "KB", 3000 },
		{ "3", "kib", 3072 }, { "3", "kb", 3000 },
		{ "2", "M", 2 << 20 }, { "2", "MiB", 2 << 20 }, { "2", "MB", 2000000 },
		{ "2", "G", 2ULL << 30 }, { "2", "GiB", 2ULL << 30 }, { "2", "GB", 2000000000 },
		{ "2", "T", 2ULL << 40 }, { "2", "TiB", 2ULL << 40 }, { "2", "TB", 2000000000000 },
		{ "1", "P", 1ULL << 50 }, { "1", "PiB", 1ULL << 50 }, { "1", "PB", 1000000000000000 },
		{ "1", "E", 1ULL << 60 }, { "1", "EiB", 1ULL << 60 },
		{ "1", "EB", 1000000000000000000 }, { "5", NULL, 5120 }, { "5", "", 5120 },
		{ "0", "GiB", 0 }, { "18446744073709551615", "b", UINT64_MAX },
	};
	static const struct { const char *num, *unit; int ret; } bad[] = {
		{ "", NULL, -EINVAL }, { "-1", NULL, -EINVAL }, { "1.5", "G", -EINVAL },
		{ "1", "X", -EINVAL }, { "1", "KiBB", -EINVAL }, { "1", "Ki", -EINVAL },
		{ "16", "EiB", -ERANGE }, { "18446744073709551616", "b", -ERANGE },
		{ "18014398509481984", "KiB", -ERANGE }, { " 1", NULL, -EINVAL },
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(domain_units_scale(ok[i].num, ok[i].unit, 1024, &v), 0);
		assert_true(v == ok[i].want);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(domain_units_scale(bad[i].num, bad[i].unit, 1024, &v), bad[i].ret);
}

static void test_uuid(void **state)
{
	uint8_t u[16];
	char s[DOMAIN_UUID_STRLEN];

	(void)state;
	assert_int_equal(domain_units_uuid_parse("6F1C2A4E-0D7B-4C59-9A3E-2B8D7E1F4C10", u), 0);
	domain_units_uuid_format(u, s);
	assert_string_equal(s, "6f1c2a4e-0d7b-4c59-9a3e-2b8d7e1f4c10");
	assert_int_equal(domain_units_uuid_parse(" 6f1c2a4e0d7b4c599a3e2b8d7e1f4c10\n", u), 0);
	assert_int_equal(domain_units_uuid_parse("6f1c2a4e-0d7b-4c59-9a3e-2b8d7e1f4c1", u), -EINVAL);
	assert_int_equal(domain_units_uuid_parse("6f1c2a4e-0d7b-4c59-9a3e-2b8d7e1f4c100", u),
			 -EINVAL);
	assert_int_equal(domain_units_uuid_parse("6f1c2a4e-0d7b-4c59-9a3e-2b8d7e1f4cxx", u),
			 -EINVAL);
	assert_int_equal(domain_units_uuid_parse("00000000-0000-0000-0000-000000000000", u),
			 -EINVAL);
	assert_int_equal(domain_units_uuid_parse("ffffffffffffffffffffffffffffffff", u), -EINVAL);
	assert_int_equal(domain_units_uuid_parse("-6f1c2a4e0d7b4c599a3e2b8d7e1f4c10", u), -EINVAL);
	memset(u, 0xff, sizeof(u));
	domain_units_uuid_from_random(u);
	domain_units_uuid_format(u, s);
	assert_string_equal(s, "ffffffff-ffff-4fff-bfff-ffffffffffff");
}

static void test_mac(void **state)
{
	uint8_t m[6];
	char s[DOMAIN_MAC_STRLEN];

	(void)state;
	assert_int_equal(domain_units_mac_parse("52:54:00:AB:cd:0f", m), 0);
	domain_units_mac_format(m, s);
	assert_string_equal(s, "52:54:00:ab:cd:0f");
	assert_int_equal(domain_units_mac_parse("2:0:0:0:0:1", m), 0);
	domain_units_mac_format(m, s);
	assert_string_equal(s, "02:00:00:00:00:01");
	assert_int_equal(domain_units_mac_parse("01:00:5e:00:00:01", m), -EINVAL); /* multicast */
	assert_int_equal(domain_units_mac_parse("00:00:00:00:00:00", m), -EINVAL);
	assert_int_equal(domain_units_mac_parse("52:54:00:ab:cd", m), -EINVAL);
	assert_int_equal(domain_units_mac_parse("52:54:00:ab:cd:0f:", m), -EINVAL);
	assert_int_equal(domain_units_mac_parse("52-54-00-ab-cd-0f", m), -EINVAL);
	assert_int_equal(domain_units_mac_parse("525:4:00:ab:cd:0f", m), -EINVAL);
	domain_units_mac_from_random((uint8_t[6]){ 0xff, 0xff, 0xff, 1, 2, 3 });
	memset(m, 0xff, sizeof(m));
	domain_units_mac_from_random(m);
	domain_units_mac_format(m, s);
	assert_string_equal(s, "52:54:00:ff:ff:ff");
}

/* ---- the table ---- */

/* Every refused element of the table, put where it belongs, is refused
 * with its line and the table's note. */
static void test_table_refusals(void **state)
{
	size_t n;
	const struct domain_xml_rule *r = domain_xml_table_rules(&n);
	unsigned checked = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		const char *name = strrchr(r[i].path, '/');
		char *doc = NULL, *want, *el;

		if (r[i].cls != DOMAIN_XML_REFUSED || r[i].attr)
			continue;
		name++;
		if (strncmp(r[i].path, "domain/devices/", 15) == 0 && !strchr(r[i].path + 15, '/')) {
			el = fmt("<%s/>", name);
			doc = doc_with("", el);
			free(el);
			want = fmt("line 9: <%s>: %s", name, r[i].note);
		} else if (strncmp(r[i].path, "domain/", 7) == 0 && !strchr(r[i].path + 7, '/')) {
			el = fmt("\n  <%s/>", name);
			doc = doc_with(el, "");
			free(el);
			want = fmt("line 8: <%s>: %s", name, r[i].note);
		} else if (strncmp(r[i].path, "domain/os/", 10) == 0) {
			doc = fmt("<domain type='kvm'>\n<name>x</name>\n<memory>65536</memory>\n"
				  "<os>\n<kernel>/k</kernel>\n<%s/>\n</os>\n</domain>\n", name);
			want = fmt("line 6: <%s>: %s", name, r[i].note);
		} else {
			continue;   /* deeper ones: in the golden set (iotune, rng/rate, ...) */
		}
		expect_error_own(doc, want);
		free(want);
		checked++;
	}
	assert_true(checked >= 20);
}

/* Every attribute with a value list refuses a value outside it, by name. */
static void test_table_values(void **state)
{
	(void)state;
	expect_error_own(doc_with("", "<disk type='block' device='disk'/>"),
		     "line 9: <disk type='block'>: only file-backed disks are supported");
	expect_error_own(doc_with("", "<disk type='file' device='cdrom'/>"),
		     "line 9: <disk device='cdrom'>: only device='disk' is supported (cdrom, "
		     "floppy and lun need hardware vmkit does not have)");
	expect_error_own(doc_with("", "<input type='tablet' bus='usb'/>"),
		     "line 9: <input type='tablet'>: input devices other than PS/2 mouse and "
		     "keyboard are not supported");
	expect_error_own(doc_with("", "<video><model type='vga'/></video>"),
		     "line 9: <model type='vga'>: video devices are not supported");
	expect_error_own(doc_with("", "<interface type='network'><source network='default'/>"
			      "</interface>"),
		     "line 9: <interface type='network'>: only bridge and ethernet are supported "
		     "(type='network' needs virtual networks, which vmkit does not have yet)");
	expect_error_own(doc_with("", "<disk frob='1'/>"),
		     "line 9: <disk frob='1'>: unknown attribute 'frob' (see docs/xml.md)");
	expect_error_own(doc_with("", "<frob/>"), "line 9: <frob>: unknown element (see docs/xml.md)");
	expect_error_own(doc_with("\n  <name>again</name>", ""),
		     "line 8: <name>: given more than once");
}

/* docs/xml.md holds the table exactly as domain_xml_table_markdown() makes
 * it, between its markers (VMKIT_GOLDEN_UPDATE=1 rewrites that part). */
static void test_table_in_docs(void **state)
{
	static const char begin[] = "<!-- begin table: generated from src/conf/domain_xml_table.c -->\n";
	static const char end[] = "<!-- end table -->\n";
	const char *env = getenv("VMKIT_GOLDEN_UPDATE");
	char *md = domain_xml_table_markdown(), *b, *e;
	uint8_t *doc;
	size_t len;

	(void)state;
	assert_non_null(md);
	assert_int_equal(util_read_file(DOCS_XML, 1 << 20, &doc, &len), 0);
	doc = realloc(doc, len + 1);
	doc[len] = '\0';
	b = strstr((char *)doc, begin);
	e = b ? strstr(b, end) : NULL;
	assert_non_null(e);
	b += strlen(begin);
	if (env && strcmp(env, "1") == 0) {
		FILE *f = fopen(DOCS_XML, "w");

		assert_non_null(f);
		fprintf(f, "%.*s%s%s", (int)(b - (char *)doc), (char *)doc, md, e);
		fclose(f);
	} else if ((size_t)(e - b) != strlen(md) || memcmp(b, md, strlen(md)) != 0) {
		fail_msg("docs/xml.md's table differs from domain_xml_table.c; run the test "
			 "with VMKIT_GOLDEN_UPDATE=1 to regenerate it");
	}
	free(md);
	free(doc);
}

/* ---- loading ---- */

static void test_malformed(void **state)
{
	struct domain_xml_error err;
	struct domain_xml *dx;
	char *big;

	(void)state;
	expect_error("<domain type='kvm'>\n<name>x</nam>\n</domain>",
		     "line 2: malformed XML: Opening and ending tag mismatch: name line 2 and nam");
	expect_error("", "malformed XML: the document is empty");
	expect_error(" \n", "line 2: malformed XML: Start tag expected, '<' not found");
	expect_error("<!DOCTYPE domain [<!ENTITY a 'aaaa'>]>\n<domain type='kvm'>&a;</domain>",
		     "line 1: <!DOCTYPE>: document type declarations are not accepted");
	expect_error("<!DOCTYPE domain SYSTEM 'http://example.org/x.dtd'>\n<domain/>",
		     "line 1: <!DOCTYPE>: document type declarations are not accepted");
	expect_error("<?xml version='1.0' encoding='ISO-8859-1'?>\n<domain type='kvm'/>",
		     "line 2: <domain>: encoding 'ISO-8859-1': only UTF-8 documents are accepted");
	expect_error("<vm/>", "line 1: <vm>: the root element must be <domain>");
	assert_int_equal(domain_xml_parse("<domain>\0</domain>", 18, &dx, &err), -EINVAL);
	big = calloc(1, DOMAIN_XML_MAX + 2);
	memset(big, ' ', DOMAIN_XML_MAX + 1);
	assert_int_equal(domain_xml_parse(big, DOMAIN_XML_MAX + 1, &dx, &err), -EFBIG);
	assert_string_equal(err.msg, "the document is 1048577 bytes; the limit is 1048576");
	free(big);
}

/* A document with everything vmkit needs parses into the definition. */
static void test_def(void **state)
{
	char *text = doc_with(
		"\n  <vcpu current='3'>3</vcpu>\n  <currentMemory unit='KiB'>32768</currentMemory>",
		"<disk type='file'><source file='/i/a.qcow2'/><target dev='vda'/>"
		"<driver name='qemu' type='qcow2' cache='none'/><readonly/></disk>");
	struct domain_xml *dx = expect_ok(text);
	const struct domain_def *d = domain_xml_def(dx);

	(void)state;
	assert_string_equal(d->name, "t1");
	assert_true(d->uuid_given);
	assert_int_equal(d->uuid[0], 0x0b);
	assert_true(d->memory == 64 * MiB);
	assert_true(d->current_memory == 32 * MiB);
	assert_int_equal(d->vcpus, 3);
	assert_string_equal(d->kernel, "/boot/k");
	assert_null(d->initrd);
	assert_int_equal(d->ndisks, 1);
	assert_int_equal(d->disks[0].format, DOMAIN_DISK_QCOW2);
	assert_int_equal(d->disks[0].cache, DOMAIN_CACHE_NONE);
	assert_true(d->disks[0].readonly);
	assert_false(d->has_serial);
	domain_xml_free(dx);
	free(text);
}

/* ---- additions and live XML ---- */

/* Removing what complete() inserted gives back the input, byte for byte. */
static void test_complete_bytes(void **state)
{
	const char *in = "<?xml version='1.0'?>\n<!-- c1 -->\n<domain type=\"kvm\">\r\n"
			 "\t<name>n</name><!-- after name -->\r\n"
			 "\t<memory unit=\"GB\">1</memory>\n"
			 "\t<os><kernel>/k</kernel><cmdline><![CDATA[a<b>&c]]></cmdline></os>\n"
			 "\t<devices>\n"
			 "\t\t<interface type=\"ethernet\">\n"
			 "\t\t\t<!-- x -->\r\n"
			 "\t\t\t<target dev=\"tap0\"/><model type=\"virtio\"/>\n"
			 "\t\t</interface>\n"
			 "\t</devices>\n"
			 "</domain>";
	/* the uuid on a line of its own after <name>'s, which ends in a comment */
	const char *uuid_ins = "\t<uuid>10111213-1415-4617-9819-1a1b1c1d1e1f</uuid>\r\n";
	const char *name_line_end = strstr(in, "-->\r\n") + 5;
	const char *mac_ins = "<mac address='52:54:00:23:24:25'/>\r\n\t\t\t";
	struct domain_xml *dx = expect_ok(in);
	unsigned next = 0, added = 9;
	struct domain_xml_random rnd = { fixed_fill, &next };
	const char *out;
	char *want;

	(void)state;
	assert_int_equal(domain_xml_complete(dx, &rnd, &added), 0);
	assert_int_equal(added, 2);
	out = domain_xml_text(dx, NULL);
	want = fmt("%.*s%s%.*s%s%s", (int)(name_line_end - in), in, uuid_ins,
		   (int)(strstr(in, "<target") - name_line_end), name_line_end,
		   mac_ins, strstr(in, "<target"));
	assert_string_equal(out, want);
	assert_true(domain_xml_def(dx)->uuid_given);
	assert_true(domain_xml_def(dx)->nets[0].mac_given);
	assert_true(only_insertions(in, out));
	assert_false(only_insertions("<a>x</a>", "<a></a>"));
	assert_int_equal(domain_xml_complete(dx, &rnd, &added), 0);  /* nothing more */
	assert_int_equal(added, 0);
	assert_string_equal(domain_xml_text(dx, NULL), want);
	free(want);
	domain_xml_free(dx);
}

static void test_live(void **state)
{
	char *text = doc_with("",
		"<serial type='pty'><source path='/dev/pts/old'/></serial>\n"
		"    <console type='pty'/>\n"
		"    <console type='pty'><target type='virtio'/></console>\n"
		"    <console type='file'><source path='/l'/><target type='virtio'/></console>");
	struct domain_xml *dx = expect_ok(text);
	const char *ptys[] = { "/dev/pts/3", NULL };
	struct domain_xml_runtime rt = { "/dev/pts/1", ptys, 2 };
	char *live;
	size_t len;

	(void)state;
	assert_int_equal(domain_xml_format_live(dx, &rt, &live, &len), 0);
	assert_int_equal(len, strlen(live));
	assert_non_null(strstr(live, "<serial type='pty'><source path='/dev/pts/1'/></serial>"));
	assert_null(strstr(live, "old"));
	assert_non_null(strstr(live, "<console type='pty'>\n      <source path='/dev/pts/1'/>\n"
				     "    </console>"));
	assert_non_null(strstr(live, "<console type='pty'><source path='/dev/pts/3'/><target"));
	assert_non_null(strstr(live, "<console type='file'><source path='/l'/>"));
	free(live);
	rt = (struct domain_xml_runtime){ "/dev/pts/'&", NULL, 0 };
	assert_int_equal(domain_xml_format_live(dx, &rt, &live, &len), 0);
	assert_non_null(strstr(live, "<source path='/dev/pts/&apos;&amp;'/>"));
	free(live);
	domain_xml_free(dx);
	free(text);
}

/* ---- JSON ---- */

static void test_json_env(void **state)
{
	char *text = doc_with("",
		"<interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>\n"
		"    <vsock model='virtio'><cid auto='yes'/></vsock>");
	struct domain_xml *dx = expect_ok(text);
	const char *taps[] = { "tap-x" };
	struct domain_vmm_env env = { NULL, NULL, 0, "/run/v.sock", 0 };
	struct domain_xml_error err;
	json_t *j;

	(void)state;
	assert_int_equal(domain_to_vmm_json(domain_xml_def(dx), &env, &j, &err), -EINVAL);
	assert_string_equal(err.msg, "line 9: <interface>: no usable TAP device for bridge 'br0' "
			    "(the daemon passes one)");
	env.taps = taps;
	env.ntaps = 1;
	assert_int_equal(domain_to_vmm_json(domain_xml_def(dx), &env, &j, &err), -EINVAL);
	assert_string_equal(err.msg, "<vsock>: cid auto='yes' needs a CID from the daemon");
	env.vsock_cid = 5;
	env.vsock_socket = "/a,b";
	assert_int_equal(domain_to_vmm_json(domain_xml_def(dx), &env, &j, &err), -EINVAL);
	env.vsock_socket = "/run/v.sock";
	assert_int_equal(domain_to_vmm_json(domain_xml_def(dx), &env, &j, &err), 0);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(j, "nets"), 0), "tap")), "tap-x");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "vsock"), "cid")), 5);
	assert_string_equal(json_string_value(json_object_get(j, "serial")), "none");
	json_decref(j);
	domain_xml_free(dx);
	free(text);
}

/* The golden set's check with config_apply_json can fail: a key vmkit-vmm
 * does not know is refused. */
static void test_vmm_refuses_unknown(void **state)
{
	static const char bad[] = "{\"disks\": [{\"path\": \"/a\", \"format\": \"raw\", "
				  "\"frob\": 1}]}";
	struct vm_config *cfg = malloc(sizeof(*cfg));

	(void)state;
	assert_non_null(cfg);
	config_defaults(cfg);
	assert_int_not_equal(config_apply_json(cfg, bad, strlen(bad), "test"), 0);
	free(cfg);
}

/* ---- golden set ---- */

static const char *const golden_consoles[] = { "/dev/pts/8", "/dev/pts/9", "/dev/pts/10",
					       "/dev/pts/11" };

/* vmkit-vmm's --config parser takes the JSON as it is. */
static void vmm_accepts(const char *json)
{
	struct vm_config *cfg = malloc(sizeof(*cfg));

	assert_non_null(cfg);
	config_defaults(cfg);
	if (config_apply_json(cfg, json, strlen(json), "golden") != 0)
		fail_msg("vmkit-vmm refuses the JSON:\n%s", json);
	free(cfg);
}

static char *golden_json(const struct domain_def *d)
{
	const char *taps[DOMAIN_MAX_NETS] = { 0 };
	char names[DOMAIN_MAX_NETS][24];
	struct domain_vmm_env env = { "/run/vmkit/test.sock", taps, d->nnets,
				      "/run/vmkit/test.vsock", 42, "/var/log/vmkit/test.log" };
	struct domain_xml_error err;
	json_t *j;
	char *s, *out;

	for (unsigned i = 0; i < d->nnets; i++) {
		snprintf(names[i], sizeof(names[i]), "vmkit-tap%u", i);
		taps[i] = d->nets[i].type == DOMAIN_NET_BRIDGE ? names[i] : NULL;
	}
	if (domain_to_vmm_json(d, &env, &j, &err) < 0)
		return fmt("error: %s\n", err.msg);
	s = json_dumps(j, JSON_INDENT(2));
	assert_non_null(s);
	vmm_accepts(s);
	out = fmt("%s\n", s);
	free(s);
	json_decref(j);
	return out;
}

static bool golden_compare(const char *name, const char *ext, const char *got,
			   const char *fallback, bool update)
{
	char path[1024];
	uint8_t *want = NULL;
	size_t wantlen;
	bool same;

	snprintf(path, sizeof(path), "%s/%s%s", GOLDEN_DIR, name, ext);
	if (update) {
		FILE *f;

		if (fallback && strcmp(got, fallback) == 0) {
			remove(path);
			return true;
		}
		f = fopen(path, "w");
		assert_non_null(f);
		fputs(got, f);
		fclose(f);
		return true;
	}
	if (util_read_file(path, 4 << 20, &want, &wantlen) < 0) {
		if (fallback && strcmp(got, fallback) == 0)
			return true;
		print_error("golden %s: missing %s\n", name, path);
		return false;
	}
	same = wantlen == strlen(got) && memcmp(want, got, wantlen) == 0;
	if (!same)
		print_error("golden %s%s:\n--- expected\n%.*s--- got\n%s", name, ext, (int)wantlen,
			    (const char *)want, got);
	free(want);
	return same;
}

static bool golden_ok(const char *name, const char *in, size_t len, bool update)
{
	struct domain_xml_runtime rt = { "/dev/pts/7", golden_consoles, 4 };
	struct domain_xml_error err;
	struct domain_xml *dx;
	unsigned next = 0;
	struct domain_xml_random rnd = { fixed_fill, &next };
	char *json, *live, *stored;
	size_t livelen;
	bool ok;

	if (domain_xml_parse(in, len, &dx, &err) < 0) {
		print_error("golden %s: refused: %s\n", name, err.msg);
		return false;
	}
	assert_int_equal(domain_xml_complete(dx, &rnd, NULL), 0);
	stored = fmt("%s", domain_xml_text(dx, NULL));
	if (!only_insertions(in, stored))
		fail_msg("golden %s: the additions changed bytes of the input", name);
	json = golden_json(domain_xml_def(dx));
	assert_int_equal(domain_xml_format_live(dx, &rt, &live, &livelen), 0);
	ok = golden_compare(name, ".stored.xml", stored, in, update);
	ok = golden_compare(name, ".json", json, NULL, update) && ok;
	ok = golden_compare(name, ".live.xml", live, stored, update) && ok;
	free(stored);
	free(json);
	free(live);
	domain_xml_free(dx);
	return ok;
}

static bool golden_err(const char *name, const char *in, size_t len, bool update)
{
	struct domain_xml_error err;
	struct domain_xml *dx;
	char *got;
	bool ok;

	if (domain_xml_parse(in, len, &dx, &err) == 0) {
		domain_xml_free(dx);
		print_error("golden %s: accepted, but err-* must be refused\n", name);
		return false;
	}
	got = fmt("%s\n", err.msg);
	ok = golden_compare(name, ".err", got, NULL, update);
	free(got);
	return ok;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The inputs: NAME.xml, not NAME.stored.xml or NAME.live.xml. */
static size_t golden_list(char **names, size_t max)
{
	DIR *dir = opendir(GOLDEN_DIR);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 5 || strcmp(de->d_name + len - 4, ".xml") != 0 ||
		    strstr(de->d_name, ".stored.xml") || strstr(de->d_name, ".live.xml"))
			continue;
		assert_true(n < max);
		names[n++] = strndup(de->d_name, len - 4);
	}
	closedir(dir);
	qsort(names, n, sizeof(names[0]), cmp_names);
	return n;
}

static void test_golden(void **state)
{
	const char *env = getenv("VMKIT_GOLDEN_UPDATE");
	bool update = env && strcmp(env, "1") == 0;
	char *names[GOLDEN_MAX_FILES], path[1024];
	size_t n = golden_list(names, ARRAY_SIZE(names)), failed = 0, libvirt = 0;

	(void)state;
	assert_true(n >= 40);
	for (size_t i = 0; i < n; i++) {
		uint8_t *in;
		size_t len;
		bool err = strncmp(names[i], "err-", 4) == 0;

		snprintf(path, sizeof(path), "%s/%s.xml", GOLDEN_DIR, names[i]);
		assert_int_equal(util_read_file(path, 4 << 20, &in, &len), 0);
		in = realloc(in, len + 1);
		in[len] = '\0';
		if (!(err ? golden_err : golden_ok)(names[i], (char *)in, len, update))
			failed++;
		libvirt += strncmp(names[i], "libvirt9-", 9) == 0;
		free(in);
		free(names[i]);
	}
	assert_true(libvirt >= 5);
	if (update)
		print_message("updated the golden files in %s\n", GOLDEN_DIR);
	assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_table_refusals),
		cmocka_unit_test(test_table_values),
		cmocka_unit_test(test_table_in_docs),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_def),
		cmocka_unit_test(test_complete_bytes),
		cmocka_unit_test(test_live),
		cmocka_unit_test(test_json_env),
		cmocka_unit_test(test_vmm_refuses_unknown),
	};
	const struct CMUnitTest golden[] = {
		cmocka_unit_test(test_golden),
	};

	if (argc == 2 && strcmp(argv[1], "golden") == 0)
		return cmocka_run_group_tests_name("golden", golden, NULL, NULL);
	return cmocka_run_group_tests_name("domain_xml", tests, NULL, NULL);
}
