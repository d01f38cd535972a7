/* trap: the ring-0 report for an unexpected exception (called from
 * traps.S with the saved registers): one FAIL line on COM1, then the
 * failure debug-exit. Runs in ring 0, so it is only used when things have
 * already gone wrong. */
#include <stdint.h>

#include "io.h"
#include "kshared.h"
#include "power.h"
#include "uart.h"

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

__attribute__((noreturn)) void trap_fatal(const struct trap_frame *f);

void trap_fatal(const struct trap_frame *f)
{
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	uart_printf("\ntestguest: %s: FAIL exception %lu (error 0x%lx) at rip 0x%lx "
		    "cs 0x%lx rflags 0x%lx rsp 0x%lx cr2 0x%lx rax 0x%lx\n",
		    kshared.workload ? kshared.workload : "boot", f->vector, f->error,
		    f->rip, f->cs, f->rflags, f->rsp, cr2, f->rax);
	io_outl(POWER_DEBUG_EXIT_PORT, POWER_EXIT_FAIL);
	for (;;)
		__asm__ volatile("cli; hlt");
}
