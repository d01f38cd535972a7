/* domain_xml_devices: the <devices> of a domain document into domain_def:
 * disks, interfaces, the serial port and consoles, rng, vsock, memballoon.
 * The table (domain_xml_table.c) has already refused unknown elements and
 * attribute values outside their lists; this file checks what needs the
 * context: required children, numbers, names, counts, duplicates. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "domain_units.h"
#include "domain_xml_priv.h"

#define DX_UNIX_PATH_MAX 108   /* sun_path, NUL included */

/* vmkit-vmm takes device items as KEY=VALUE,... (src/vmm/config.c): a value
 * must not contain ','. */
static int dx_item_path(xmlNodePtr n, const char *attr, const char *path,
			struct domain_xml_error *err)
{
	if (!path || !path[0])
		return dx_fail(err, n, NULL, "%s= is missing or empty", attr);
	if (strchr(path, ','))
		return dx_fail(err, n, attr, "vmkit cannot pass a path containing ','");
	if (strchr(path, '\n'))
		return dx_fail(err, n, attr, "a path is one line");
	return 0;
}

/* ---- <disk> ---- */

static bool dx_disk_target_ok(const char *dev)
{
	size_t len = dev ? strlen(dev) : 0;

	if (len < 3 || len > 6 || strncmp(dev, "vd", 2) != 0)
		return false;
	for (size_t i = 2; i < len; i++) {
		if (dev[i] < 'a' || dev[i] > 'z')
			return false;
	}
	return true;
}

static int dx_disk_driver(struct domain_xml *dx, xmlNodePtr drv, struct domain_disk *d)
{
	const char *type = drv ? dx_attr(dx, drv, "type") : NULL;
	const char *cache = drv ? dx_attr(dx, drv, "cache") : NULL;

	d->format = type && strcmp(type, "qcow2") == 0 ? DOMAIN_DISK_QCOW2 : DOMAIN_DISK_RAW;
	d->cache = !cache || strcmp(cache, "default") == 0 ? DOMAIN_CACHE_DEFAULT :
		   strcmp(cache, "none") == 0 ? DOMAIN_CACHE_NONE : DOMAIN_CACHE_WRITEBACK;
	return 0;
}

static int dx_iotune_value(struct domain_xml *dx, xmlNodePtr io, const char *name,
			   uint64_t *out, struct domain_xml_error *err)
{
	xmlNodePtr n = dx_child(io, name);
	const char *s = n ? dx_text(dx, n, true) : NULL;

	if (n && (!s || dx_number(s, 0, INT64_MAX, out) < 0))
		return dx_fail(err, n, NULL, "'%.80s' is not a whole number up to 2^63-1",
			       s ? s : "");
	return 0;
}

static int dx_disk_iotune(struct domain_xml *dx, xmlNodePtr io, struct domain_disk *d,
			  struct domain_xml_error *err)
{
	int ret;

	if (!io)
		return 0;
	ret = dx_iotune_value(dx, io, "total_bytes_sec", &d->bytes_per_sec, err);
	return ret ? ret : dx_iotune_value(dx, io, "total_iops_sec", &d->iops, err);
}

static int dx_disk_unique(const struct domain_def *def, xmlNodePtr tgt, const char *dev,
			  struct domain_xml_error *err)
{
	for (unsigned i = 0; i < def->ndisks; i++) {
		if (strcmp(def->disks[i].target, dev) == 0)
			return dx_fail(err, tgt, "dev", "two disks have this target (the other "
				       "on line %ld)", def->disks[i].line);
	}
	return 0;
}

static int dx_disk(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	struct domain_def *def = &dx->def;
	struct domain_disk *d = &def->disks[def->ndisks];
	xmlNodePtr src = dx_child(n, "source"), tgt = dx_child(n, "target");
	int ret;

	if (def->ndisks >= DOMAIN_MAX_DISKS)
		return dx_fail(err, n, NULL, "more than %d disks", DOMAIN_MAX_DISKS);
	*d = (struct domain_disk){ .line = xmlGetLineNo(n) };
	if (!src)
		return dx_fail(err, n, NULL, "<source file='...'/> is missing");
	d->path = dx_attr(dx, src, "file");
	ret = dx_item_path(src, "file", d->path, err);
	if (ret < 0)
		return ret;
	if (!tgt)
		return dx_fail(err, n, NULL, "<target dev='vdX' bus='virtio'/> is missing");
	d->target = dx_attr(dx, tgt, "dev");
	if (!dx_disk_target_ok(d->target))
		return dx_fail(err, tgt, d->target ? "dev" : NULL, "a virtio disk's target is "
			       "vd followed by 1 to 4 letters (vda, vdb, ...)");
	ret = dx_disk_unique(def, tgt, d->target, err);
	if (ret == 0)
		ret = dx_disk_driver(dx, dx_child(n, "driver"), d);
	if (ret == 0)
		ret = dx_disk_iotune(dx, dx_child(n, "iotune"), d, err);
	d->readonly = dx_child(n, "readonly") != NULL;
	if (ret == 0)
		def->ndisks++;
	return ret;
}

/* ---- <interface> ---- */

static bool dx_ifname_ok(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len >= DOMAIN_IFNAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] <= ' ' || s[i] == '/' || s[i] == ',' || s[i] == ':' || s[i] == 0x7f)
			return false;
	}
	return true;
}

static int dx_net_mac(struct domain_xml *dx, xmlNodePtr n, struct domain_net *net,
		      struct domain_xml_error *err)
{
	xmlNodePtr m = dx_child(n, "mac");
	const char *s = m ? dx_attr(dx, m, "address") : NULL;
	const struct domain_def *def = &dx->def;

	if (!m)
		return 0;
	if (!s || domain_units_mac_parse(s, net->mac) < 0)
		return dx_fail(err, m, s ? "address" : NULL, "expected a unicast MAC address "
			       "(xx:xx:xx:xx:xx:xx, not all zero)");
	for (unsigned i = 0; i < def->nnets; i++) {
		if (def->nets[i].mac_given && memcmp(def->nets[i].mac, net->mac, 6) == 0)
			return dx_fail(err, m, "address", "the interface on line %ld has the same "
				       "MAC address", def->nets[i].line);
	}
	net->mac_given = true;
	return 0;
}

static int dx_net_ends(struct domain_xml *dx, xmlNodePtr n, struct domain_net *net,
		       struct domain_xml_error *err)
{
	xmlNodePtr src = dx_child(n, "source"), tgt = dx_child(n, "target");

	net->target_dev = tgt ? dx_attr(dx, tgt, "dev") : NULL;
	if (net->target_dev && !dx_ifname_ok(net->target_dev))
		return dx_fail(err, tgt, "dev", "not an interface name (1 to %d characters, no "
			       "'/', ',', ':' or spaces)", DOMAIN_IFNAME_MAX - 1);
	if (net->type == DOMAIN_NET_ETHERNET && !net->target_dev)
		return dx_fail(err, n, NULL, "type='ethernet' needs <target dev='TAP'/> "
			       "(an existing TAP device)");
	if (net->type == DOMAIN_NET_ETHERNET)
		return 0;
	net->bridge = src ? dx_attr(dx, src, "bridge") : NULL;
	if (!dx_ifname_ok(net->bridge))
		return dx_fail(err, src ? src : n, net->bridge ? "bridge" : NULL,
			       "type='bridge' needs <source bridge='NAME'/> with an interface name");
	return 0;
}

static int dx_interface(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	struct domain_def *def = &dx->def;
	struct domain_net *net = &def->nets[def->nnets];
	const char *type = dx_attr(dx, n, "type");
	int ret;

	if (def->nnets >= DOMAIN_MAX_NETS)
		return dx_fail(err, n, NULL, "more than %d interfaces", DOMAIN_MAX_NETS);
	*net = (struct domain_net){ .line = xmlGetLineNo(n) };
	if (!type)
		return dx_fail(err, n, NULL, "type= is missing (bridge or ethernet)");
	net->type = strcmp(type, "bridge") == 0 ? DOMAIN_NET_BRIDGE : DOMAIN_NET_ETHERNET;
	if (!dx_child(n, "model"))
		return dx_fail(err, n, NULL, "<model type='virtio'/> is missing (without it the "
			       "guest would get an emulated NIC vmkit does not have)");
	ret = dx_net_ends(dx, n, net, err);
	if (ret == 0)
		ret = dx_net_mac(dx, n, net, err);
	if (ret == 0)
		def->nnets++;
	return ret;
}

/* ---- <serial>, <console> ---- */

static int dx_chardev(struct domain_xml *dx, xmlNodePtr n, bool item,
		      struct domain_chardev *c, struct domain_xml_error *err)
{
	const char *type = dx_attr(dx, n, "type");
	xmlNodePtr src = dx_child(n, "source");
	int ret = 0;

	*c = (struct domain_chardev){ .line = xmlGetLineNo(n) };
	if (!type)
		return dx_fail(err, n, NULL, "type= is missing (pty, file, unix or null)");
	c->type = strcmp(type, "pty") == 0 ? DOMAIN_CHR_PTY : strcmp(type, "file") == 0 ?
		  DOMAIN_CHR_FILE : strcmp(type, "unix") == 0 ? DOMAIN_CHR_UNIX : DOMAIN_CHR_NULL;
	if (c->type != DOMAIN_CHR_FILE && c->type != DOMAIN_CHR_UNIX)
		return 0;   /* a pty's <source path> is a runtime fact: ignored */
	c->path = src ? dx_attr(dx, src, "path") : NULL;
	if (!c->path || !c->path[0])
		return dx_fail(err, n, NULL, "type='%s' needs <source path='...'/>", type);
	ret = item ? dx_item_path(src, "path", c->path, err) : 0;
	if (ret == 0 && c->type == DOMAIN_CHR_UNIX && !dx_attr(dx, src, "mode"))
		return dx_fail(err, src, NULL, "mode='bind' is missing (vmkit listens on the "
			       "socket; it does not connect)");
	if (ret == 0 && c->type == DOMAIN_CHR_UNIX && strlen(c->path) >= DX_UNIX_PATH_MAX)
		return dx_fail(err, src, "path", "longer than a unix socket path (%d bytes)",
			       DX_UNIX_PATH_MAX - 1);
	return ret;
}

static int dx_serial(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	struct domain_def *def = &dx->def;
	int ret;

	if (def->has_serial)
		return dx_fail(err, n, NULL, "vmkit has one serial port (COM1); the first "
			       "<serial> is on line %ld", def->serial.line);
	ret = dx_chardev(dx, n, false, &def->serial, err);
	def->has_serial = ret == 0;
	return ret;
}

/* <console> without a target, or with target type='serial': serial port 0,
 * the same device as the <serial> (libvirt writes both). */
static bool dx_console_is_serial(struct domain_xml *dx, xmlNodePtr n)
{
	xmlNodePtr t = dx_child(n, "target");
	const char *type = t ? dx_attr(dx, t, "type") : NULL;

	return !type || strcmp(type, "serial") == 0;
}

static int dx_console_serial(struct domain_xml *dx, xmlNodePtr n, bool first,
			     struct domain_xml_error *err)
{
	struct domain_def *def = &dx->def;
	struct domain_chardev c;
	int ret;

	if (!first)
		return dx_fail(err, n, NULL, "only the first <console> can be the serial port "
			       "(use <target type='virtio'/> for more consoles)");
	ret = dx_chardev(dx, n, false, &c, err);
	if (ret < 0 || !def->has_serial) {
		def->serial = c;
		def->has_serial = ret == 0;
		return ret;
	}
	if (c.type != def->serial.type ||
	    (c.path && def->serial.path && strcmp(c.path, def->serial.path) != 0))
		return dx_fail(err, n, NULL, "this console is serial port 0, but its type or path "
			       "differs from the <serial> on line %ld", def->serial.line);
	return 0;
}

static int dx_console(struct domain_xml *dx, xmlNodePtr n, bool first,
		      struct domain_xml_error *err)
{
	struct domain_def *def = &dx->def;
	int ret;

	if (dx_console_is_serial(dx, n))
		return dx_console_serial(dx, n, first, err);
	if (def->nconsoles >= DOMAIN_MAX_CONSOLES)
		return dx_fail(err, n, NULL, "more than %d virtio consoles", DOMAIN_MAX_CONSOLES);
	ret = dx_chardev(dx, n, true, &def->consoles[def->nconsoles], err);
	if (ret == 0)
		def->nconsoles++;
	return ret;
}

/* ---- <rng>, <vsock>, <memballoon> ---- */

static int dx_rng(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	xmlNodePtr b = dx_child(n, "backend");
	const char *s = b ? dx_text(dx, b, true) : NULL;

	if (dx->def.rng)
		return dx_fail(err, n, NULL, "only one <rng> is supported");
	if (!b)
		return dx_fail(err, n, NULL, "<backend model='random'>/dev/urandom</backend> is "
			       "missing");
	if (!s || (strcmp(s, "/dev/urandom") != 0 && strcmp(s, "/dev/random") != 0))
		return dx_fail(err, b, NULL, "'%.80s' is not a supported entropy source "
			       "(/dev/urandom or /dev/random)", s ? s : "");
	dx->def.rng = true;
	return 0;
}

static int dx_vsock(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	struct domain_def *def = &dx->def;
	xmlNodePtr cid = dx_child(n, "cid");
	const char *autos = cid ? dx_attr(dx, cid, "auto") : NULL;
	const char *addr = cid ? dx_attr(dx, cid, "address") : NULL;
	uint64_t v;

	if (def->vsock)
		return dx_fail(err, n, NULL, "only one <vsock> is supported");
	def->vsock = true;
	def->vsock_auto_cid = !cid || (autos && strcmp(autos, "yes") == 0);
	if (def->vsock_auto_cid)
		return 0;
	if (!addr || dx_number(addr, 3, 0xFFFFFFFEu, &v) < 0)
		return dx_fail(err, cid, addr ? "address" : NULL, "a guest CID is a number from 3 "
			       "to 4294967294 (or auto='yes')");
	def->vsock_cid = (uint32_t)v;
	return 0;
}

static int dx_memballoon(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	struct domain_def *def = &dx->def;
	const char *model = dx_attr(dx, n, "model");
	const char *fpr = dx_attr(dx, n, "freePageReporting");
	xmlNodePtr st = dx_child(n, "stats");
	const char *period = st ? dx_attr(dx, st, "period") : NULL;
	uint64_t v = 0;

	if (!model)
		return dx_fail(err, n, NULL, "model= is missing (virtio or none)");
	def->balloon = strcmp(model, "virtio") == 0;
	def->balloon_free_page_reporting = fpr && strcmp(fpr, "on") == 0;
	if (period && dx_number(period, 0, 86400, &v) < 0)
		return dx_fail(err, st, "period", "expected seconds from 0 to 86400");
	def->balloon_stats = (unsigned)v;
	return 0;
}

/* ---- <devices> ---- */

struct dx_device {
	const char *name;
	int (*parse)(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err);
};

/* Consoles come in a second pass: they refer to the <serial>, wherever it is. */
static const struct dx_device dx_devices[] = {
	{ "disk", dx_disk }, { "interface", dx_interface }, { "serial", dx_serial },
	{ "rng", dx_rng }, { "vsock", dx_vsock }, { "memballoon", dx_memballoon },
};

static int dx_device(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(dx_devices); i++) {
		if (dx_is(n, dx_devices[i].name))
			return dx_devices[i].parse(dx, n, err);
	}
	return 0;   /* preserved elements: emulator, controller, input, ... */
}

int dx_parse_devices(struct domain_xml *dx, xmlNodePtr devices, struct domain_xml_error *err)
{
	const struct domain_def *d = &dx->def;
	bool first = true;
	int ret = 0;
	unsigned slots;

	for (xmlNodePtr n = devices->children; ret == 0 && n; n = n->next)
		ret = n->type == XML_ELEMENT_NODE ? dx_device(dx, n, err) : 0;
	for (xmlNodePtr n = devices->children; ret == 0 && n; n = n->next) {
		if (dx_is(n, "console")) {
			ret = dx_console(dx, n, first, err);
			first = false;
		}
	}
	slots = d->ndisks + d->nnets + d->nconsoles + d->rng + d->vsock + d->balloon;
	if (ret == 0 && slots > DOMAIN_PCI_SLOTS)
		ret = dx_fail(err, devices, NULL, "%u virtio devices do not fit the %d PCI slots",
			      slots, DOMAIN_PCI_SLOTS);
	return ret;
}
