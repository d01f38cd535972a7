/* domain_xml_table: the table of every element and attribute of domain XML
 * vmkit knows (class, accepted values, note), the walk that holds a
 * document to it, and its Markdown form for docs/xml.md. Anything not in
 * the table is refused as unknown. */
#include "domain_xml_table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "domain_xml.h"
#include "domain_xml_priv.h"

#define H DOMAIN_XML_HONOURED
#define P DOMAIN_XML_PRESERVED
#define R DOMAIN_XML_REFUSED
#define ST DOMAIN_XML_SUBTREE
#define ONE DOMAIN_XML_ONCE
#define D "domain/devices/"

static const struct domain_xml_rule dx_rules[] = {
	{ "domain", NULL, H, ONE, NULL, "the root" },
	{ "domain", "type", H, 0, "kvm", "", "vmkit runs guests on KVM only" },
	{ "domain", "id", P, 0, NULL, "the run-time id libvirt writes in live XML; ignored" },
	{ "domain/name", NULL, H, ONE, NULL, "required; 1-63 of A-Z a-z 0-9 . _ + -, not "
	  "starting with -, not all digits, not a UUID" },
	{ "domain/uuid", NULL, H, ONE, NULL, "generated (version 4) and inserted when absent" },
	{ "domain/title", NULL, H, ONE, NULL, "one line" },
	{ "domain/description", NULL, H, ONE, NULL, "any text" },
	{ "domain/metadata", NULL, H, ONE | ST, NULL, "kept verbatim, never interpreted" },
	{ "domain/memory", NULL, H, ONE, NULL, "required; guest RAM, rounded up to 4 KiB, "
	  "16 MiB to 64 TiB" },
	{ "domain/memory", "unit", H, 0, NULL, "b, bytes, KB, k, KiB, MB, M, MiB, GB, G, GiB, "
	  "TB, T, TiB, PB, P, PiB, EB, E, EiB (any case); default KiB" },
	{ "domain/currentMemory", NULL, H, ONE, NULL, "balloon target; at most <memory>" },
	{ "domain/currentMemory", "unit", H, 0, NULL, "as for memory" },
	{ "domain/maxMemory", NULL, R, 0, NULL, "memory hot-plug is not supported" },
	{ "domain/memoryBacking", NULL, H, ONE, NULL, "guest RAM is private anonymous memory, "
	  "with transparent huge pages where the host enables them" },
	{ "domain/memoryBacking/allocation", NULL, H, ONE, NULL, "" },
	{ "domain/memoryBacking/allocation", "mode", H, 0, "immediate|ondemand", "immediate: "
	  "all guest RAM is allocated before the guest starts, and the start fails if the host "
	  "lacks it (vmkit-vmm --mem-prealloc); ondemand (default): on first use" },
	{ "domain/memoryBacking/allocation", "threads", P, 0, NULL, "one thread allocates" },
	{ "domain/memoryBacking/source", NULL, H, ONE, NULL, "" },
	{ "domain/memoryBacking/source", "type", H, 0, "anonymous", "",
	  "guest RAM is anonymous memory (file and memfd backing are not supported)" },
	{ "domain/memoryBacking/access", NULL, H, ONE, NULL, "" },
	{ "domain/memoryBacking/access", "mode", H, 0, "private", "", "guest RAM is private to "
	  "the VMM: shared access (vhost-user, virtiofs) is not supported" },
	{ "domain/memoryBacking/nosharepages", NULL, H, ONE, NULL, "always so: guest RAM is "
	  "never offered to KSM" },
	{ "domain/memoryBacking/discard", NULL, P, ONE, NULL, "anonymous RAM goes back to the "
	  "host when the VM stops" },
	{ "domain/memoryBacking/hugepages", NULL, R, 0, NULL, "hugetlbfs pages are not "
	  "supported: guest RAM uses transparent huge pages where the host enables them, and "
	  "<allocation mode='immediate'/> reserves it up front" },
	{ "domain/memoryBacking/locked", NULL, R, 0, NULL, "locking guest RAM in host memory is "
	  "not supported" },
	{ "domain/vcpu", NULL, H, ONE, NULL, "1 to 254 vCPUs (default 1)" },
	{ "domain/vcpu", "placement", P, 0, "static|auto", "" },
	{ "domain/vcpu", "cpuset", P, 0, NULL, "no pinning" },
	{ "domain/vcpu", "current", H, 0, NULL, "must equal the count: no vCPU hot-plug" },
	{ "domain/vcpus", NULL, R, 0, NULL, "per-vCPU hot-plug settings are not supported" },
	{ "domain/os", NULL, H, ONE, NULL, "required, with a <kernel>" },
	{ "domain/os", "firmware", R, 0, NULL, "firmware boot is not supported" },
	{ "domain/os/type", NULL, H, ONE, NULL, "hvm" },
	{ "domain/os/type", "arch", H, 0, "x86_64", "", "vmkit runs x86_64 guests" },
	{ "domain/os/type", "machine", P, 0, NULL, "vmkit has one machine type" },
	{ "domain/os/kernel", NULL, H, ONE, NULL, "bzImage or ELF (PVH or 64-bit entry)" },
	{ "domain/os/initrd", NULL, H, ONE, NULL, "" },
	{ "domain/os/cmdline", NULL, H, ONE, NULL, "up to 65535 bytes" },
	{ "domain/os/boot", NULL, P, 0, NULL, "the kernel is booted directly" },
	{ "domain/os/boot", "dev", P, 0, NULL, "" },
	{ "domain/os/bootmenu", NULL, P, ST, NULL, "" },
	{ "domain/os/loader", NULL, R, 0, NULL, "firmware boot is not supported: vmkit boots "
	  "a <kernel> directly" },
	{ "domain/os/nvram", NULL, R, 0, NULL, "firmware boot is not supported" },
	{ "domain/os/smbios", NULL, R, 0, NULL, "SMBIOS tables are not supported" },
	{ "domain/features", NULL, P, ONE | ST, NULL, "vmkit always has ACPI and an APIC" },
	{ "domain/cpu", NULL, P, ONE | ST, NULL, "the guest sees the host CPU (filtered CPUID)" },
	{ "domain/clock", NULL, P, ONE | ST, NULL, "the RTC runs in UTC" },
	{ "domain/pm", NULL, P, ONE | ST, NULL, "no S3/S4: suspend states are not offered" },
	{ "domain/on_poweroff", NULL, H, ONE, NULL, "destroy (default) or restart" },
	{ "domain/on_reboot", NULL, H, ONE, NULL, "restart (default) or destroy "
	  "(vmkit-vmm --on-reboot exit)" },
	{ "domain/on_crash", NULL, P, ONE, NULL, "destroy or restart; vmkit has no panic "
	  "device, so there is nothing to act on" },
	{ "domain/resource", NULL, P, ONE | ST, NULL, "" },
	{ "domain/seclabel", NULL, P, ST, NULL, "vmkit-vmm runs as the daemon's user" },
	{ "domain/sysinfo", NULL, R, 0, NULL, "SMBIOS system information is not supported" },
	{ "domain/devices", NULL, H, ONE, NULL, "" },
	{ D "emulator", NULL, P, ONE, NULL, "vmkit-vmm is always the emulator" },
	{ D "disk", NULL, H, 0, NULL, "virtio-blk, up to 24" },
	{ D "disk", "type", H, 0, "file", "", "only file-backed disks are supported" },
	{ D "disk", "device", H, 0, "disk", "", "only device='disk' is supported (cdrom, floppy "
	  "and lun need hardware vmkit does not have)" },
	{ D "disk/driver", NULL, H, ONE, NULL, "" },
	{ D "disk/driver", "name", H, 0, "qemu", "" },
	{ D "disk/driver", "type", H, 0, "raw|qcow2", "image format (default raw)" },
	{ D "disk/driver", "cache", H, 0, "none|writeback|default", "default = writeback" },
	{ D "disk/driver", "io", P, 0, NULL, "vmkit's own I/O engine is used" },
	{ D "disk/source", NULL, H, ONE, NULL, "required" },
	{ D "disk/source", "file", H, 0, NULL, "the image; no ',' in the path" },
	{ D "disk/source", "index", P, 0, NULL, "written by libvirt in live XML" },
	{ D "disk/target", NULL, H, ONE, NULL, "required" },
	{ D "disk/target", "dev", H, 0, NULL, "vda, vdb, ...: the device id; disks are "
	  "ordered by it" },
	{ D "disk/target", "bus", H, 0, "virtio", "", "only virtio disks are supported (a "
	  "non-virtio bus needs a controller vmkit does not have)" },
	{ D "disk/readonly", NULL, H, ONE, NULL, "" },
	{ D "disk/shareable", NULL, P, ONE, NULL, "" },
	{ D "disk/iotune", NULL, H, ONE, NULL, "rate limits" },
	{ D "disk/iotune/total_bytes_sec", NULL, H, ONE, NULL, "bytes/s (vmkit-vmm bps)" },
	{ D "disk/iotune/total_iops_sec", NULL, H, ONE, NULL, "requests/s (vmkit-vmm iops)" },
	{ D "disk/iotune/read_bytes_sec", NULL, R, 0, NULL, "separate read and write limits "
	  "are not supported: use total_bytes_sec" },
	{ D "disk/iotune/write_bytes_sec", NULL, R, 0, NULL, "separate read and write limits "
	  "are not supported: use total_bytes_sec" },
	{ D "disk/iotune/read_iops_sec", NULL, R, 0, NULL, "separate read and write limits "
	  "are not supported: use total_iops_sec" },
	{ D "disk/iotune/write_iops_sec", NULL, R, 0, NULL, "separate read and write limits "
	  "are not supported: use total_iops_sec" },
	{ D "disk/boot", NULL, P, ONE | ST, NULL, "the kernel is booted directly" },
	{ D "disk/alias", NULL, P, ONE | ST, NULL, "" },
	{ D "disk/address", NULL, P, ONE | ST, NULL, "vmkit assigns PCI slots itself" },
	{ D "disk/backingStore", NULL, P, ST, NULL, "qcow2 backing files come from the image" },
	{ D "interface", NULL, H, 0, NULL, "virtio-net, up to 8" },
	{ D "interface", "type", H, 0, "bridge|ethernet", "", "only bridge and ethernet are "
	  "supported (type='network' needs virtual networks, which vmkit does not have yet)" },
	{ D "interface/mac", NULL, H, ONE, NULL, "generated (52:54:00:xx:xx:xx) and inserted "
	  "when absent" },
	{ D "interface/mac", "address", H, 0, NULL, "unicast" },
	{ D "interface/source", NULL, H, ONE, NULL, "" },
	{ D "interface/source", "bridge", H, 0, NULL, "type='bridge': the bridge the daemon "
	  "adds the TAP to" },
	{ D "interface/target", NULL, H, ONE, NULL, "" },
	{ D "interface/target", "dev", H, 0, NULL, "type='ethernet': the existing TAP; "
	  "type='bridge': the TAP name wanted" },
	{ D "interface/target", "managed", P, 0, NULL, "" },
	{ D "interface/model", NULL, H, ONE, NULL, "required" },
	{ D "interface/model", "type", H, 0, "virtio", "", "only virtio-net is supported" },
	{ D "interface/bandwidth", NULL, R, 0, NULL, "per-direction bandwidth limits are not "
	  "supported (vmkit-vmm limits both directions together)" },
	{ D "interface/alias", NULL, P, ONE | ST, NULL, "" },
	{ D "interface/address", NULL, P, ONE | ST, NULL, "vmkit assigns PCI slots itself" },
	{ D "serial", NULL, H, 0, NULL, "serial port 0 (COM1, ttyS0); one only" },
	{ D "serial", "type", H, 0, "pty|file|unix|null", "backend" },
	{ D "serial/source", NULL, H, ONE, NULL, "" },
	{ D "serial/source", "path", H, 0, NULL, "file and unix; a pty's is a runtime fact" },
	{ D "serial/source", "mode", H, 0, "bind", "", "vmkit listens on a unix socket; it does "
	  "not connect" },
	{ D "serial/target", NULL, P, ONE, NULL, "" },
	{ D "serial/target", "type", P, 0, "isa-serial", "a 16550 UART" },
	{ D "serial/target", "port", H, 0, "0", "", "vmkit has one serial port (COM1, port 0)" },
	{ D "serial/target/model", NULL, P, ONE, NULL, "" },
	{ D "serial/target/model", "name", P, 0, "isa-serial", "a 16550 UART" },
	{ D "serial/alias", NULL, P, ONE | ST, NULL, "" },
	{ D "console", NULL, H, 0, NULL, "target serial: serial port 0; target virtio: "
	  "virtio-console, up to 4" },
	{ D "console", "type", H, 0, "pty|file|unix|null", "backend" },
	{ D "console", "tty", P, 0, NULL, "a runtime fact libvirt writes in live XML" },
	{ D "console/source", NULL, H, ONE, NULL, "" },
	{ D "console/source", "path", H, 0, NULL, "file and unix; a pty's is a runtime fact" },
	{ D "console/source", "mode", H, 0, "bind", "", "vmkit listens on a unix socket; it does "
	  "not connect" },
	{ D "console/target", NULL, H, ONE, NULL, "absent = serial" },
	{ D "console/target", "type", H, 0, "serial|virtio", "", "only serial and virtio consoles "
	  "are supported" },
	{ D "console/target", "port", P, 0, NULL, "consoles are numbered in document order" },
	{ D "console/alias", NULL, P, ONE | ST, NULL, "" },
	{ D "rng", NULL, H, 0, NULL, "virtio-rng, entropy from getrandom(); one only" },
	{ D "rng", "model", H, 0, "virtio", "", "only virtio-rng is supported" },
	{ D "rng/backend", NULL, H, ONE, NULL, "/dev/urandom or /dev/random" },
	{ D "rng/backend", "model", H, 0, "random", "", "only the random backend is supported" },
	{ D "rng/rate", NULL, R, 0, NULL, "rng rate limits are not supported" },
	{ D "rng/alias", NULL, P, ONE | ST, NULL, "" },
	{ D "rng/address", NULL, P, ONE | ST, NULL, "vmkit assigns PCI slots itself" },
	{ D "vsock", NULL, H, 0, NULL, "virtio-vsock; one only" },
	{ D "vsock", "model", H, 0, "virtio", "" },
	{ D "vsock/cid", NULL, H, ONE, NULL, "absent = auto" },
	{ D "vsock/cid", "auto", H, 0, "yes|no", "yes: the daemon picks a free CID" },
	{ D "vsock/cid", "address", H, 0, NULL, "the guest CID, 3 to 4294967294" },
	{ D "vsock/alias", NULL, P, ONE | ST, NULL, "" },
	{ D "vsock/address", NULL, P, ONE | ST, NULL, "vmkit assigns PCI slots itself" },
	{ D "memballoon", NULL, H, ONE, NULL, "absent = no balloon" },
	{ D "memballoon", "model", H, 0, "virtio|none", "virtio-balloon or none" },
	{ D "memballoon", "freePageReporting", H, 0, "on|off", "" },
	{ D "memballoon/stats", NULL, H, ONE, NULL, "" },
	{ D "memballoon/stats", "period", H, 0, NULL, "seconds between statistics requests" },
	{ D "memballoon/alias", NULL, P, ONE | ST, NULL, "" },
	{ D "memballoon/address", NULL, P, ONE | ST, NULL, "vmkit assigns PCI slots itself" },
	{ D "controller", NULL, P, ST, NULL, "vmkit's devices sit on its own PCI root bus" },
	{ D "input", NULL, P, 0, NULL, "the PS/2 keyboard and mouse libvirt adds" },
	{ D "input", "type", P, 0, "mouse|keyboard", "", "input devices other than PS/2 mouse "
	  "and keyboard are not supported" },
	{ D "input", "bus", P, 0, "ps2", "", "input devices other than PS/2 mouse and keyboard "
	  "are not supported" },
	{ D "input/alias", NULL, P, ONE | ST, NULL, "" },
	{ D "audio", NULL, P, 0, NULL, "an audio backend without a sound device" },
	{ D "audio", "id", P, 0, NULL, "" },
	{ D "audio", "type", P, 0, "none", "", "audio backends are not supported" },
	{ D "video", NULL, P, 0, NULL, "only model none" },
	{ D "video/model", NULL, P, ONE, NULL, "" },
	{ D "video/model", "type", P, 0, "none", "", "video devices are not supported" },
	{ D "video/alias", NULL, P, ONE | ST, NULL, "" },
	{ D "graphics", NULL, R, 0, NULL, "graphical consoles are not supported" },
	{ D "hostdev", NULL, R, 0, NULL, "host device assignment is not supported" },
	{ D "sound", NULL, R, 0, NULL, "sound devices are not supported" },
	{ D "channel", NULL, R, 0, NULL, "channels (virtio-serial ports, guest agent) are not "
	  "supported" },
	{ D "parallel", NULL, R, 0, NULL, "parallel ports are not supported" },
	{ D "filesystem", NULL, R, 0, NULL, "shared filesystems are not supported" },
	{ D "redirdev", NULL, R, 0, NULL, "USB redirection is not supported" },
	{ D "smartcard", NULL, R, 0, NULL, "smartcards are not supported" },
	{ D "hub", NULL, R, 0, NULL, "USB hubs are not supported" },
	{ D "watchdog", NULL, R, 0, NULL, "watchdog devices are not supported" },
	{ D "panic", NULL, R, 0, NULL, "panic devices are not supported" },
	{ D "shmem", NULL, R, 0, NULL, "shared memory devices are not supported" },
	{ D "memory", NULL, R, 0, NULL, "memory hot-plug is not supported" },
	{ D "iommu", NULL, R, 0, NULL, "a virtual IOMMU is not supported" },
	{ D "tpm", NULL, R, 0, NULL, "TPM devices are not supported" },
	{ D "crypto", NULL, R, 0, NULL, "crypto devices are not supported" },
	{ D "lease", NULL, R, 0, NULL, "lock leases are not supported" },
	{ D "nvram", NULL, R, 0, NULL, "NVRAM devices are not supported" },
};

const struct domain_xml_rule *domain_xml_table_rules(size_t *n)
{
	*n = ARRAY_SIZE(dx_rules);
	return dx_rules;
}

static const struct domain_xml_rule *dx_rule(const char *path, const char *attr)
{
	for (size_t i = 0; i < ARRAY_SIZE(dx_rules); i++) {
		const struct domain_xml_rule *r = &dx_rules[i];

		if (strcmp(r->path, path) == 0 &&
		    (attr ? r->attr && strcmp(r->attr, attr) == 0 : !r->attr))
			return r;
	}
	return NULL;
}

static bool dx_value_listed(const char *values, const char *v)
{
	size_t len = strlen(v);

	for (const char *p = values; p; p = strchr(p, '|')) {
		p += *p == '|';
		if (strncmp(p, v, len) == 0 && (p[len] == '|' || p[len] == '\0'))
			return true;
	}
	return false;
}

/* "a|b|c" as "a, b, c". */
static void dx_value_list(const char *values, char *out, size_t size)
{
	size_t v = 0;

	out[0] = '\0';
	for (const char *p = values; p && *p && v + 3 < size; p++) {
		if (*p == '|') {
			out[v++] = ',';
			out[v++] = ' ';
		} else {
			out[v++] = *p;
		}
	}
	out[v] = '\0';
}

static int dx_value_refused(const struct domain_xml_rule *r, xmlNodePtr n, const char *attr,
			    struct domain_xml_error *err)
{
	char vals[256];

	if (r->why)
		return dx_fail(err, n, attr, "%s", r->why);
	dx_value_list(r->values, vals, sizeof(vals));
	return dx_fail(err, n, attr, "not supported (vmkit accepts: %s)", vals);
}

static int dx_check_attrs(xmlNodePtr n, const char *path, struct domain_xml_error *err)
{
	for (xmlAttrPtr a = n->properties; a; a = a->next) {
		const char *name = (const char *)a->name;
		const struct domain_xml_rule *r = a->ns ? NULL : dx_rule(path, name);
		xmlChar *v;
		bool ok;

		if (!r)
			return dx_fail(err, n, name, "unknown attribute '%s%s%s' (see docs/xml.md)",
				       a->ns && a->ns->prefix ? (const char *)a->ns->prefix : "",
				       a->ns && a->ns->prefix ? ":" : "", name);
		if (r->cls == DOMAIN_XML_REFUSED)
			return dx_fail(err, n, name, "%s", r->note);
		if (!r->values)
			continue;
		v = xmlGetProp(n, a->name);
		ok = v && dx_value_listed(r->values, (const char *)v);
		xmlFree(v);
		if (!ok)
			return dx_value_refused(r, n, name, err);
	}
	return 0;
}

static bool dx_repeated(xmlNodePtr n)
{
	for (xmlNodePtr p = n->prev; p; p = p->prev) {
		if (p->type == XML_ELEMENT_NODE && p->ns == n->ns &&
		    strcmp((const char *)p->name, (const char *)n->name) == 0)
			return true;
	}
	return false;
}

static int dx_check_element(xmlNodePtr n, char *path, size_t used, size_t size,
			    struct domain_xml_error *err);

static int dx_check_children(xmlNodePtr n, char *path, size_t used, size_t size,
			     struct domain_xml_error *err)
{
	int ret = 0;

	for (xmlNodePtr c = n->children; ret == 0 && c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE)
			ret = dx_check_element(c, path, used, size, err);
		else if (c->type == XML_ENTITY_REF_NODE)
			ret = dx_fail(err, n, NULL, "entity references are not accepted");
	}
	return ret;
}

static int dx_check_element(xmlNodePtr n, char *path, size_t used, size_t size,
			    struct domain_xml_error *err)
{
	const char *name = (const char *)n->name;
	size_t len = strlen(name) + (used ? 1 : 0);
	const struct domain_xml_rule *r = NULL;
	int ret;

	if (!n->ns && used + len < size) {
		snprintf(path + used, size - used, "%s%s", used ? "/" : "", name);
		r = dx_rule(path, NULL);
	}
	if (!r)
		return dx_fail(err, n, NULL, "unknown element%s (see docs/xml.md)",
			       n->ns ? " (a namespace outside <metadata>)" : "");
	if (r->cls == DOMAIN_XML_REFUSED)
		return dx_fail(err, n, NULL, "%s", r->note);
	if ((r->flags & DOMAIN_XML_ONCE) && dx_repeated(n))
		return dx_fail(err, n, NULL, "given more than once");
	ret = r->flags & DOMAIN_XML_SUBTREE ? 0 : dx_check_attrs(n, path, err);
	if (ret == 0 && !(r->flags & DOMAIN_XML_SUBTREE))
		ret = dx_check_children(n, path, used + len, size, err);
	path[used] = '\0';
	return ret;
}

int domain_xml_table_check(xmlNodePtr root, struct domain_xml_error *err)
{
	char path[256];

	path[0] = '\0';
	return dx_check_element(root, path, 0, sizeof(path), err);
}

/* ---- Markdown ---- */

static const char *const dx_class_names[] = {
	[DOMAIN_XML_HONOURED] = "honoured",
	[DOMAIN_XML_PRESERVED] = "preserved",
	[DOMAIN_XML_REFUSED] = "refused",
};

/* s with '<' and '>' as HTML entities (Markdown would take <x> for a tag). */
static void dx_md_escape(const char *s, char *out, size_t size)
{
	size_t used = 0;

	for (; *s && used + 5 < size; s++)
		used += (size_t)snprintf(out + used, size - used, "%s", *s == '<' ? "&lt;" :
					 *s == '>' ? "&gt;" : (char[]){ *s, '\0' });
	out[used] = '\0';
}

/* One row: | `path` | `attr` | class | values | note | (note and why). */
static int dx_md_row(const struct domain_xml_rule *r, char *buf, size_t size)
{
	char vals[256], note[512], text[512];

	dx_value_list(r->values, vals, sizeof(vals));
	snprintf(text, sizeof(text), "%s%s%s", r->note, r->note[0] && r->why ? "; " : "",
		 r->why ? r->why : "");
	dx_md_escape(text, note, sizeof(note));
	return snprintf(buf, size, "| `%s`%s | %s%s%s | %s%s | %s%s%s | %s |\n",
			r->path, r->flags & DOMAIN_XML_SUBTREE ? " (and all inside)" : "",
			r->attr ? "`" : "", r->attr ? r->attr : "", r->attr ? "`" : "",
			dx_class_names[r->cls], r->flags & DOMAIN_XML_ONCE ? ", once" : "",
			vals[0] ? "`" : "", vals, vals[0] ? "`" : "", note);
}

char *domain_xml_table_markdown(void)
{
	static const char head[] = "| element | attribute | class | values | note |\n"
				   "|---|---|---|---|---|\n";
	size_t size = sizeof(head) + ARRAY_SIZE(dx_rules) * 512, used;
	char *out = malloc(size);

	if (!out)
		return NULL;
	used = (size_t)snprintf(out, size, "%s", head);
	for (size_t i = 0; i < ARRAY_SIZE(dx_rules) && used < size; i++)
		used += (size_t)dx_md_row(&dx_rules[i], out + used, size - used);
	return out;
}
