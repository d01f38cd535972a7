/* main: vmkit-vmm's entry point: parse the configuration, create the VM, run
 * it, and turn how it ended into the process exit status. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "term.h"
#include "vm.h"

static uint64_t main_host_memory(void)
{
	struct sysinfo si;

	if (sysinfo(&si) < 0)
		return 0;
	return ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
}

static void main_banner(const struct vm_config *cfg)
{
	if (cfg->serial.kind != CHARDEV_STDIO || !isatty(STDIN_FILENO))
		return;
	fprintf(stderr, "vmkit-vmm: booting %s with %u vCPU(s), %llu MiB; "
		"serial console on this terminal: Ctrl-a x quits, Ctrl-a h lists keys\r\n",
		cfg->kernel, cfg->cpus, (unsigned long long)(cfg->memory >> 20));
}

int main(int argc, char **argv)
{
	uint64_t start_ns = util_now_ns();
	struct vm_config cfg;
	struct vm *vm;
	int ret;

	config_defaults(&cfg);
	ret = config_parse_args(argc, argv, &cfg);
	if (ret == CONFIG_HELP)
		return 0;
	if (ret < 0)
		return VM_EXIT_CONFIG;
	log_set_level(cfg.log_level);
	if (config_validate(&cfg, main_host_memory()) < 0)
		return VM_EXIT_CONFIG;
	term_restore_on_signal();
	main_banner(&cfg);
	ret = vm_create(&cfg, start_ns, &vm);
	if (ret < 0)
		return VM_EXIT_CONFIG;
	ret = vm_run(vm);
	vm_destroy(vm);
	return ret;
}
