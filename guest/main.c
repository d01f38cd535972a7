/* main: the BSP's ring-3 life: clear the shared state, read the PVH start
 * info (command line, memory map), discover the platform (ACPI, else MP table), run
 * the chosen workload and report its one result line, then power off (PASS)
 * or debug-exit with the failure code (FAIL). Also the console glog(). */
#include <stdarg.h>

#include "acpi.h"
#include "apic.h"
#include "glog.h"
#include "guest.h"
#include "kshared.h"
#include "lib.h"
#include "mptable.h"
#include "phys.h"
#include "power.h"
#include "uart.h"
#include "workloads.h"

#define HVM_START_MAGIC 0x336ec578u
#define IOAPIC_DEFAULT_ADDR 0xfec00000u
#define MEMMAP_TYPE_RAM 1
#define MEMMAP_MAX_ENTRIES 128

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;      /* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

extern uint8_t __bss_start[], __bss_end[];
void *memset(void *dst, int c, size_t n);

void glog(const char *fmt, ...)
{
	char buf[200];
	va_list ap;

	va_start(ap, fmt);
	lib_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	uart_printf("testguest: %s\n", buf);
}

int guest_fail(struct guest *g, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lib_vsnprintf(g->reason, sizeof(g->reason), fmt, ap);
	va_end(ap);
	return err;
}

/* Copy the command line out of guest memory; "" if there is none. */
static int main_read_cmdline(uint64_t addr, char *out, size_t size)
{
	const char *s;
	size_t n;

	out[0] = '\0';
	if (!addr)
		return 0;
	s = phys_map(addr, size);
	n = s ? lib_strnlen(s, size) : size;
	if (n >= size) {
		glog("boot: command line at 0x%lx unreadable or over %lu bytes", addr, size - 1);
		return -E2BIG;
	}
	lib_strlcpy_n(out, size, s, n);
	return 0;
}

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/* The RAM ranges of the PVH memory map (version >= 1), if there is one. */
static void main_read_memmap(const struct hvm_start_info *si, struct platform *p)
{
	const struct hvm_memmap_entry *e;
	uint32_t n = si->memmap_entries;

	if (si->version < 1 || !si->memmap_paddr || !n)
		return;
	if (n > MEMMAP_MAX_ENTRIES)
		n = MEMMAP_MAX_ENTRIES;
	e = phys_map(si->memmap_paddr, (uint64_t)n * sizeof(*e));
	if (!e) {
		glog("boot: memory map at 0x%lx is not addressable", si->memmap_paddr);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		if (e[i].type == MEMMAP_TYPE_RAM)
			platform_add_ram(p, e[i].addr, e[i].size);
}

/* Validate hvm_start_info; returns its RSDP hint (0 = scan). */
static int main_start_info(uint64_t addr, char *cmdline, size_t size, uint64_t *rsdp,
			   struct platform *p)
{
	const struct hvm_start_info *si = phys_map(addr, sizeof(*si));

	*rsdp = 0;
	if (!si || si->magic != HVM_START_MAGIC) {
		glog("boot: no valid hvm_start_info at 0x%lx (EBX)", addr);
		return -EINVAL;
	}
	*rsdp = si->rsdp_paddr;
	main_read_memmap(si, p);
	return main_read_cmdline(si->cmdline_paddr, cmdline, size);
}

static void main_discover(struct guest *g, uint64_t rsdp_hint)
{
	struct platform *p = &g->plat;
	uint64_t rsdp;
	int ret = -ENOENT;

	if (!g->cmd.acpi_off && acpi_find_rsdp(rsdp_hint, &rsdp) == 0)
		ret = acpi_discover(p, rsdp);
	if (!p->cpu_source) {
		int mp = mptable_discover(p);

		ret = p->cpu_source ? 0 : (ret ? ret : mp);
	}
	g->discover_err = ret;
	g->bsp_apic_id = apic_lapic_id();
	if (!p->cpu_source) {
		p->cpu_source = "none (BSP only)";
		platform_add_cpu(p, g->bsp_apic_id);
	}
	if (p->nioapics == 0)
		platform_add_ioapic(p, 0, IOAPIC_DEFAULT_ADDR, 0);
	if (p->lapic_addr && p->lapic_addr != LAPIC_BASE)
		glog("boot: LAPIC at 0x%lx, expected 0x%x", p->lapic_addr, LAPIC_BASE);
}

void guest_main(uint64_t start_info)
{
	char cmdline[CMDLINE_MAX];
	struct guest g = { 0 };
	const struct workload *w;
	uint64_t rsdp = 0;
	int ret;

	memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));
	uart_init();
	ret = main_start_info(start_info, cmdline, sizeof(cmdline), &rsdp, &g.plat);
	if (ret == 0)
		ret = cmdline_parse(cmdline, &g.cmd);
	if (ret)
		lib_strlcpy_n(g.cmd.workload, sizeof(g.cmd.workload), "boot", 4);
	kshared.workload = g.cmd.workload;
	main_discover(&g, rsdp);
	w = workloads_find(g.cmd.workload);
	if (ret)
		guest_fail(&g, ret, "bad boot information or command line");
	else if (!w)
		ret = guest_fail(&g, -EINVAL, "unknown workload");
	else
		ret = w->run(&g);
	if (ret == 0) {
		uart_printf("testguest: %s: PASS\n", g.cmd.workload);
		power_off(&g.plat);
	}
	uart_printf("testguest: %s: FAIL %s\n", g.cmd.workload, g.reason);
	power_debug_exit(POWER_EXIT_FAIL);
}
