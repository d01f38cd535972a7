/* mptable: writes the Intel MultiProcessor Specification 1.4 floating pointer
 * structure and the base MP configuration table (processors, ISA bus, one
 * IOAPIC, ISA interrupt routing, LINT0/LINT1) for kernels without ACPI. The
 * tables are assembled in a host image and copied into guest memory once. */
#include "mptable.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gmem.h"
#include "common/log.h"

#define MP_FLOAT_LEN      16
#define MP_CONFIG_HDR_LEN 44
#define MP_CPU_LEN        20
#define MP_ENTRY_LEN      8   /* bus, IOAPIC, I/O and local interrupt entries */
#define MP_SPEC_REV       4   /* 1.4 */
#define MP_MAX_CPUS       254
#define MP_ISA_IRQS       16
#define MP_NUM_IO_INTS    (MP_ISA_IRQS - 1)  /* IRQ 2 (cascade) has no entry */
#define MP_NUM_LOCAL_INTS 2
#define MP_LAPIC_ADDR     0xFEE00000u
#define MP_LAPIC_VERSION  0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_SIGNATURE  0x000006F1u  /* family 6, model 15, stepping 1 */
#define MP_CPU_FEATURES   0x00000201u  /* CPUID.1:EDX FPU | APIC */
#define MP_ISA_BUS_ID     0
#define MP_ALL_LAPICS     0xFF

enum mp_entry_type {
	MP_ENTRY_CPU = 0,
	MP_ENTRY_BUS = 1,
	MP_ENTRY_IOAPIC = 2,
	MP_ENTRY_IO_INT = 3,
	MP_ENTRY_LOCAL_INT = 4,
};

enum mp_int_type {
	MP_INT_INT = 0,
	MP_INT_NMI = 1,
	MP_INT_SMI = 2,
	MP_INT_EXTINT = 3,
};

#define MP_CPU_F_ENABLED 0x01
#define MP_CPU_F_BSP     0x02

static void mp_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void mp_put32(uint8_t *p, uint32_t v)
{
	mp_put16(p, (uint16_t)v);
	mp_put16(p + 2, (uint16_t)(v >> 16));
}

static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

static size_t mp_config_len(unsigned ncpus)
{
	return MP_CONFIG_HDR_LEN + (size_t)ncpus * MP_CPU_LEN +
	       MP_ENTRY_LEN * (2 + MP_NUM_IO_INTS + MP_NUM_LOCAL_INTS);
}

static uint8_t *mp_write_cpus(uint8_t *e, unsigned ncpus)
{
	for (unsigned i = 0; i < ncpus; i++, e += MP_CPU_LEN) {
		e[0] = MP_ENTRY_CPU;
		e[1] = (uint8_t)i;                            /* LAPIC ID */
		e[2] = MP_LAPIC_VERSION;
		e[3] = MP_CPU_F_ENABLED | (i == 0 ? MP_CPU_F_BSP : 0);
		mp_put32(e + 4, MP_CPU_SIGNATURE);
		mp_put32(e + 8, MP_CPU_FEATURES);
	}
	return e;
}

/* An I/O (type 3) or local (type 4) interrupt assignment entry; flags 0:
 * polarity and trigger conform to the bus. */
static uint8_t *mp_write_int(uint8_t *e, enum mp_entry_type type,
			     enum mp_int_type itype, uint8_t src_irq,
			     uint8_t dst_id, uint8_t dst_pin)
{
	e[0] = (uint8_t)type;
	e[1] = (uint8_t)itype;
	mp_put16(e + 2, 0);
	e[4] = MP_ISA_BUS_ID;
	e[5] = src_irq;
	e[6] = dst_id;
	e[7] = dst_pin;
	return e + MP_ENTRY_LEN;
}

static uint8_t *mp_write_bus_ioapic(uint8_t *e, uint8_t ioapic_id, uint32_t ioapic_addr)
{
	e[0] = MP_ENTRY_BUS;
	e[1] = MP_ISA_BUS_ID;
	memcpy(e + 2, "ISA   ", 6);
	e += MP_ENTRY_LEN;
	e[0] = MP_ENTRY_IOAPIC;
	e[1] = ioapic_id;
	e[2] = MP_IOAPIC_VERSION;
	e[3] = 0x01;                                          /* enabled */
	mp_put32(e + 4, ioapic_addr);
	return e + MP_ENTRY_LEN;
}

static void mp_write_config(uint8_t *c, unsigned ncpus, uint32_t ioapic_addr)
{
	size_t len = mp_config_len(ncpus);
	uint8_t ioapic_id = (uint8_t)ncpus;
	uint8_t *e = c + MP_CONFIG_HDR_LEN;

	memcpy(c, "PCMP", 4);
	mp_put16(c + 4, (uint16_t)len);
	c[6] = MP_SPEC_REV;
	memcpy(c + 8, "VMKIT   ", 8);                        /* OEM ID */
	memcpy(c + 16, "VMKIT VMM   ", 12);                  /* product ID */
	mp_put16(c + 34, (uint16_t)(ncpus + 2 + MP_NUM_IO_INTS + MP_NUM_LOCAL_INTS));
	mp_put32(c + 36, MP_LAPIC_ADDR);
	e = mp_write_cpus(e, ncpus);
	e = mp_write_bus_ioapic(e, ioapic_id, ioapic_addr);
	for (uint8_t irq = 0; irq < MP_ISA_IRQS; irq++) {
		if (irq == 2)
			continue;
		e = mp_write_int(e, MP_ENTRY_IO_INT, MP_INT_INT, irq, ioapic_id,
				 irq == 0 ? 2 : irq);
	}
	e = mp_write_int(e, MP_ENTRY_LOCAL_INT, MP_INT_EXTINT, 0, MP_ALL_LAPICS, 0);
	mp_write_int(e, MP_ENTRY_LOCAL_INT, MP_INT_NMI, 0, MP_ALL_LAPICS, 1);
	c[7] = mp_checksum(c, len);
}

static void mp_write_float(uint8_t *f, uint32_t config_gpa)
{
	memcpy(f, "_MP_", 4);
	mp_put32(f + 4, config_gpa);
	f[8] = 1;                                             /* 16-byte units */
	f[9] = MP_SPEC_REV;
	/* Feature bytes 0: configuration table present, virtual wire mode. */
	f[10] = mp_checksum(f, MP_FLOAT_LEN);
}

uint64_t mptable_size(unsigned ncpus)
{
	return MP_FLOAT_LEN + mp_config_len(ncpus);
}

int mptable_build(struct gmem *gm, uint64_t gpa, uint64_t size, unsigned ncpus,
		  uint64_t ioapic_addr)
{
	size_t total;
	uint8_t *img;
	int ret;

	if (ncpus < 1 || ncpus > MP_MAX_CPUS || ioapic_addr > UINT32_MAX ||
	    gpa % 16 || gpa > UINT32_MAX - MP_FLOAT_LEN) {
		log_error("mptable: bad parameters (%u CPUs, IOAPIC 0x%llx, at 0x%llx)",
			  ncpus, (unsigned long long)ioapic_addr, (unsigned long long)gpa);
		return -EINVAL;
	}
	total = MP_FLOAT_LEN + mp_config_len(ncpus);
	if (total > size) {
		log_error("mptable: %u CPUs need %zu bytes, window has %llu",
			  ncpus, total, (unsigned long long)size);
		return -ENOSPC;
	}
	img = calloc(1, total);
	if (!img) {
		log_error("mptable: out of memory");
		return -ENOMEM;
	}
	mp_write_config(img + MP_FLOAT_LEN, ncpus, (uint32_t)ioapic_addr);
	mp_write_float(img, (uint32_t)(gpa + MP_FLOAT_LEN));
	ret = gmem_write(gm, gpa, img, total);
	if (ret)
		log_error("mptable: window 0x%llx+0x%zx is not guest RAM",
			  (unsigned long long)gpa, total);
	free(img);
	return ret;
}
