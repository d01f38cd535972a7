/* smp: AP start-up and check-in (see smp.h). */
#include "apic.h"
#include "glog.h"
#include "io.h"
#include "kshared.h"
#include "lib.h"
#include "smp.h"

extern const uint8_t tramp_start[], tramp_end[];

void *memcpy(void *dst, const void *src, size_t n);

void smp_ap_main(uint32_t index)
{
	kshared.apic_id[index] = apic_lapic_id();
	__atomic_store_n(&kshared.present[index], 1, __ATOMIC_RELEASE);
	__atomic_fetch_add(&kshared.checked_in, 1, __ATOMIC_SEQ_CST);
	/* One write to the POST port: an exit to the VMM, so its per-vCPU exit
	 * counters show that this CPU ran (QEMU and vmkit absorb it). */
	io_outb(0x80, (uint8_t)index);
	for (;;)
		kcall_wait(kshared.events);
}

static void smp_reset_checkin(uint32_t bsp_apic_id)
{
	for (unsigned i = 0; i < GUEST_MAX_CPUS; i++) {
		kshared.present[i] = 0;
		kshared.apic_id[i] = 0;
	}
	kshared.apic_id[0] = bsp_apic_id;
	kshared.present[0] = 1;
	kshared.checked_in = 0;
	__atomic_store_n(&kshared.ap_next, 1, __ATOMIC_SEQ_CST);
}

/* Send one IPI kind (INIT, or SIPI if sipi) to every AP. */
static int smp_send_all(const struct platform *p, uint32_t bsp, bool sipi)
{
	int ret;

	for (uint32_t i = 0; i < p->ncpus; i++) {
		uint8_t id = p->cpu_apic_id[i];

		if (id == bsp)
			continue;
		ret = sipi ? apic_send_sipi(id, TRAMP_SIPI_VECTOR) : apic_send_init(id);
		if (ret)
			return ret;
	}
	return 0;
}

static uint32_t smp_count_distinct(void)
{
	uint32_t n = 0, last = __atomic_load_n(&kshared.ap_next, __ATOMIC_ACQUIRE);

	if (last > GUEST_MAX_CPUS)
		last = GUEST_MAX_CPUS;
	for (uint32_t i = 0; i < last; i++) {
		bool dup = false;

		if (!__atomic_load_n(&kshared.present[i], __ATOMIC_ACQUIRE))
			continue;
		for (uint32_t j = 0; j < i; j++)
			if (kshared.present[j] && kshared.apic_id[j] == kshared.apic_id[i])
				dup = true;
		n += !dup;
	}
	return n;
}

static void smp_wait_checkins(uint32_t naps)
{
	uint64_t deadline = kshared.ticks + SMP_TIMEOUT_TICKS;

	for (;;) {
		uint64_t seen = kshared.events;

		if (kshared.checked_in >= naps || kshared.ticks >= deadline)
			return;
		kcall_wait(seen);
	}
}

int smp_bringup(const struct platform *p, uint32_t bsp_apic_id, struct smp_result *r)
{
	size_t tlen = (size_t)(tramp_end - tramp_start);
	int ret;

	*r = (struct smp_result){ 0 };
	for (uint32_t i = 0; i < p->ncpus; i++)
		r->started += p->cpu_apic_id[i] != bsp_apic_id;
	smp_reset_checkin(bsp_apic_id);
	if (tlen > TRAMP_MAX_SIZE)
		return -E2BIG;
	memcpy((void *)(uintptr_t)TRAMP_ADDR, tramp_start, tlen);
	apic_lapic_init();
	apic_timer_start();
	ret = smp_send_all(p, bsp_apic_id, false);
	if (!ret) {
		apic_sleep_ticks(2);            /* >= 10 ms after INIT */
		ret = smp_send_all(p, bsp_apic_id, true);
	}
	if (!ret) {
		apic_sleep_ticks(1);            /* >= 200 us between SIPIs */
		ret = smp_send_all(p, bsp_apic_id, true);
	}
	if (!ret)
		smp_wait_checkins(r->started);
	apic_timer_stop();
	r->checked_in = kshared.checked_in;
	r->distinct = smp_count_distinct();
	return ret;
}
