/* test_hw: unit tests for the small legacy devices in src/vmm/hw (i8042, RTC,
 * debug-exit, boot timer / POST port, ACPI PM block, reset control), driven
 * through their register handlers with a fake device host that records IRQ
 * levels and events and serves injected clocks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "hw/hw.h"

/* --- fake device host --- */
#define FAKE_MAX_EVENTS 16
#define FAKE_NIRQ 16

struct fake_host {
	int level[FAKE_NIRQ];
	unsigned raises[FAKE_NIRQ]; /* 0 -> 1 transitions */
	unsigned irq_calls;
	unsigned nevents;
	enum devhost_event ev[FAKE_MAX_EVENTS];
	int code[FAKE_MAX_EVENTS];
	uint64_t clock_ns;
	int64_t wall_ns;
};

static void fake_irq_set(void *ctx, unsigned gsi, int level)
{
	struct fake_host *f = ctx;

	assert_true(gsi < FAKE_NIRQ);
	assert_true(level == 0 || level == 1);
	if (level && !f->level[gsi])
		f->raises[gsi]++;
	f->level[gsi] = level;
	f->irq_calls++;
}

static void fake_event(void *ctx, enum devhost_event ev, int code)
{
	struct fake_host *f = ctx;

	assert_true(f->nevents < FAKE_MAX_EVENTS);
	f->ev[f->nevents] = ev;
	f->code[f->nevents] = code;
	f->nevents++;
}

static uint64_t fake_clock_ns(void *ctx)
{
	return ((struct fake_host *)ctx)->clock_ns;
}

static int64_t fake_wallclock_ns(void *ctx)
{
	return ((struct fake_host *)ctx)->wall_ns;
}

static const struct devhost_ops fake_ops = {
	.irq_set = fake_irq_set,
	.event = fake_event,
	.clock_ns = fake_clock_ns,
	.wallclock_ns = fake_wallclock_ns,
};

/* One device under test plus its host. */
struct rig {
	struct fake_host fake;
	struct devhost host;
	const struct hw_desc *desc;
	void *dev;
};

static void rig_init(struct rig *r, const struct hw_desc *desc, unsigned irq, unsigned param)
{
	struct hw_args args;

	memset(r, 0, sizeof(*r));
	r->fake.clock_ns = 5000000000ULL;
	r->fake.wall_ns = 1795355107LL * 1000000000LL + 500000000LL; /* 2026-11-22 13:45:07.5 */
	r->host = (struct devhost){ &fake_ops, &r->fake };
	r->desc = desc;
	args = (struct hw_args){ .host = &r->host, .port = 0x100, .irq = irq,
				 .start_ns = 1000, .param = param };
	assert_int_equal(desc->create(&args, &r->dev), 0);
	assert_non_null(r->dev);
}

static void rig_fini(struct rig *r)
{
	r->desc->destroy(r->dev);
}

/* Accesses go through the lock like the bus does (catches self-locking). */
static uint64_t rd(struct rig *r, uint64_t off, unsigned size)
{
	uint8_t buf[8];
	uint64_t v = 0;

	memset(buf, 0xAA, sizeof(buf));
	pthread_mutex_lock(r->desc->lock(r->dev));
	r->desc->ops->read(r->dev, off, buf, size);
	pthread_mutex_unlock(r->desc->lock(r->dev));
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)buf[i] << (8 * i);
	return v;
}

static void wr(struct rig *r, uint64_t off, uint64_t v, unsigned size)
{
	uint8_t buf[8];

	for (unsigned i = 0; i < size; i++)
		buf[i] = (uint8_t)(v >> (8 * i));
	pthread_mutex_lock(r->desc->lock(r->dev));
	r->desc->ops->write(r->dev, off, buf, size);
	pthread_mutex_unlock(r->desc->lock(r->dev));
}

static void do_reset(struct rig *r)
{
	r->desc->reset(r->dev);
}

static void test_bad_args(void **st)
{
	const struct hw_desc *all[] = { &i8042_desc, &rtc_desc, &debugexit_desc,
		&boottimer_desc, &post_desc, &acpipm_desc, &resetctl_desc };
	struct hw_args args = { 0 };
	struct devhost host = { &fake_ops, NULL };
	void *dev = (void *)1;

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_int_equal(all[i]->create(&args, &dev), -EINVAL);
		all[i]->destroy(NULL);
		assert_non_null(all[i]->name);
		assert_non_null(all[i]->ops);
		assert_non_null(all[i]->reset);
		assert_non_null(all[i]->lock);
	}
	/* The S5 sleep type must fit in SLP_TYP. */
	args.host = &host;
	args.param = 8;
	assert_int_equal(acpipm_desc.create(&args, &dev), -EINVAL);
	acpipm_power_button(NULL);
}

/* --- i8042 --- */
#define KBD_DATA 0
#define KBD_CMD 4

static void test_i8042_status_and_selftest(void **st)
{
	struct rig r;
	uint8_t s;

	rig_init(&r, &i8042_desc, 1, 0);
	s = (uint8_t)rd(&r, KBD_CMD, 1);
	assert_int_equal(s & 0x01, 0);    /* output buffer empty */
	assert_int_equal(s & 0x02, 0);    /* input buffer empty */
	assert_int_equal(s & 0x04, 0x04); /* system flag */
	wr(&r, KBD_CMD, 0xAA, 1);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x01, 0x01);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0x55);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x01, 0);
	wr(&r, KBD_CMD, 0xAB, 1);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0x00);
	/* Unused ports in the range and out-of-range bytes read as ones. */
	assert_int_equal(rd(&r, 1, 1), 0xff);
	assert_int_equal(rd(&r, 3, 1), 0xff);
	assert_int_equal(rd(&r, 4, 4) & 0xffffff00, 0xffffff00);
	assert_int_equal(rd(&r, 5, 1), 0xff);
	wr(&r, 2, 0xFE, 1);
	wr(&r, 100, 0xFE, 4);
	assert_int_equal(r.fake.nevents, 0);
	rig_fini(&r);
}

static void test_i8042_command_byte(void **st)
{
	struct rig r;
	uint8_t cb;

	rig_init(&r, &i8042_desc, 1, 0);
	wr(&r, KBD_CMD, 0x20, 1);
	cb = (uint8_t)rd(&r, KBD_DATA, 1);
	assert_int_equal(cb & 0x04, 0x04);
	wr(&r, KBD_CMD, 0xAD, 1);
	wr(&r, KBD_CMD, 0xA7, 1);
	wr(&r, KBD_CMD, 0x20, 1);
	assert_int_equal(rd(&r, KBD_DATA, 1), cb | 0x30);
	wr(&r, KBD_CMD, 0xAE, 1);
	wr(&r, KBD_CMD, 0xA8, 1);
	wr(&r, KBD_CMD, 0x20, 1);
	assert_int_equal(rd(&r, KBD_DATA, 1), cb & ~0x30);
	/* Write it; the status system flag follows bit 2. */
	wr(&r, KBD_CMD, 0x60, 1);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x08, 0x08); /* last write was a command */
	wr(&r, KBD_DATA, 0x00, 1);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x0C, 0);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x01, 0); /* no keyboard ACK for it */
	wr(&r, KBD_CMD, 0x20, 1);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0x00);
	/* Reset restores the power-on command byte. */
	do_reset(&r);
	wr(&r, KBD_CMD, 0x20, 1);
	assert_int_equal(rd(&r, KBD_DATA, 1), cb);
	rig_fini(&r);
}

static void test_i8042_reset_paths(void **st)
{
	struct rig r;

	rig_init(&r, &i8042_desc, 1, 0);
	wr(&r, KBD_CMD, 0xFE, 1);
	assert_int_equal(r.fake.nevents, 1);
	assert_int_equal(r.fake.ev[0], DEVHOST_EV_RESET);
	/* 0xFF pulses no line: nothing. */
	wr(&r, KBD_CMD, 0xFF, 1);
	assert_int_equal(r.fake.nevents, 1);
	/* Output port with the reset line high: no reset; read it back. */
	wr(&r, KBD_CMD, 0xD1, 1);
	wr(&r, KBD_DATA, 0xDF, 1);
	assert_int_equal(r.fake.nevents, 1);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x01, 0); /* not sent to the keyboard */
	wr(&r, KBD_CMD, 0xD0, 1);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0xDF);
	/* Bit 0 clear: reset. */
	wr(&r, KBD_CMD, 0xD1, 1);
	wr(&r, KBD_DATA, 0xDE, 1);
	assert_int_equal(r.fake.nevents, 2);
	assert_int_equal(r.fake.ev[1], DEVHOST_EV_RESET);
	rig_fini(&r);
}

static void test_i8042_keyboard_and_irq(void **st)
{
	struct rig r;

	rig_init(&r, &i8042_desc, 1, 0);
	wr(&r, KBD_DATA, 0xFF, 1); /* keyboard reset */
	assert_int_equal(r.fake.level[1], 1);
	assert_int_equal(r.fake.raises[1], 1);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x21, 0x01); /* OBF, not aux */
	assert_int_equal(rd(&r, KBD_DATA, 1), 0xFA);
	assert_int_equal(r.fake.raises[1], 2); /* a fresh edge for the next byte */
	assert_int_equal(rd(&r, KBD_DATA, 1), 0xAA);
	assert_int_equal(r.fake.level[1], 0);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x01, 0);
	/* Reading empty repeats the last byte, no new interrupt. */
	assert_int_equal(rd(&r, KBD_DATA, 1), 0xAA);
	assert_int_equal(r.fake.raises[1], 2);
	/* Identify and a command with a parameter. */
	wr(&r, KBD_DATA, 0xF2, 1);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0xFA);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0xAB);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0x83);
	wr(&r, KBD_DATA, 0xED, 1);
	wr(&r, KBD_DATA, 0x07, 1);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0xFA);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0xFA);
	/* Interrupts off in the command byte: no IRQ. */
	wr(&r, KBD_CMD, 0x60, 1);
	wr(&r, KBD_DATA, 0x44, 1);
	wr(&r, KBD_DATA, 0xEE, 1);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x01, 0x01);
	assert_int_equal(r.fake.level[1], 0);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0xEE);
	/* Aux loopback byte: AUXB set, never the keyboard IRQ. */
	wr(&r, KBD_CMD, 0x60, 1);
	wr(&r, KBD_DATA, 0x47, 1);
	wr(&r, KBD_CMD, 0xD3, 1);
	wr(&r, KBD_DATA, 0x5A, 1);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x21, 0x21);
	assert_int_equal(r.fake.level[1], 0);
	assert_int_equal(rd(&r, KBD_DATA, 1), 0x5A);
	/* A flood of keyboard commands only queues what fits. */
	for (int i = 0; i < 40; i++)
		wr(&r, KBD_DATA, 0xF4, 1);
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd(&r, KBD_DATA, 1), 0xFA);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x01, 0);
	/* Reset empties the queue and lowers the line. */
	wr(&r, KBD_DATA, 0xFF, 1);
	assert_int_equal(r.fake.level[1], 1);
	do_reset(&r);
	assert_int_equal(r.fake.level[1], 0);
	assert_int_equal(rd(&r, KBD_CMD, 1) & 0x01, 0);
	rig_fini(&r);
}

/* --- RTC --- */
static uint8_t cmos_rd(struct rig *r, uint8_t idx)
{
	wr(r, 0, idx, 1);
	return (uint8_t)rd(r, 1, 1);
}

static void cmos_wr(struct rig *r, uint8_t idx, uint8_t v)
{
	wr(r, 0, idx, 1);
	wr(r, 1, v, 1);
}

#define SEC 1000000000LL

static void test_rtc_time_bcd_binary(void **st)
{
	struct rig r;

	rig_init(&r, &rtc_desc, 8, 0);
	assert_int_equal(cmos_rd(&r, 0x0B), 0x02); /* 24 h, BCD */
	assert_int_equal(cmos_rd(&r, 0x00), 0x07);
	assert_int_equal(cmos_rd(&r, 0x02), 0x45);
	assert_int_equal(cmos_rd(&r, 0x04), 0x13);
	assert_int_equal(cmos_rd(&r, 0x06), 0x01); /* Sunday */
	assert_int_equal(cmos_rd(&r, 0x07), 0x22);
	assert_int_equal(cmos_rd(&r, 0x08), 0x11);
	assert_int_equal(cmos_rd(&r, 0x09), 0x26);
	assert_int_equal(cmos_rd(&r, 0x32), 0x20);
	/* The NMI-mask bit of the index is ignored. */
	assert_int_equal(cmos_rd(&r, 0x80 | 0x09), 0x26);
	/* Binary mode. */
	cmos_wr(&r, 0x0B, 0x06);
	assert_int_equal(cmos_rd(&r, 0x00), 7);
	assert_int_equal(cmos_rd(&r, 0x02), 45);
	assert_int_equal(cmos_rd(&r, 0x04), 13);
	assert_int_equal(cmos_rd(&r, 0x07), 22);
	assert_int_equal(cmos_rd(&r, 0x08), 11);
	assert_int_equal(cmos_rd(&r, 0x09), 26);
	assert_int_equal(cmos_rd(&r, 0x32), 20);
	/* The clock follows the host wall clock. */
	r.fake.wall_ns += 60 * SEC;
	assert_int_equal(cmos_rd(&r, 0x02), 46);
	/* Registers A and D; the index port itself reads as ones. */
	assert_int_equal(cmos_rd(&r, 0x0A), 0x26);
	cmos_wr(&r, 0x0A, 0xA5);
	assert_int_equal(cmos_rd(&r, 0x0A), 0x25); /* UIP never reads 1 */
	assert_int_equal(cmos_rd(&r, 0x0D), 0x80);
	cmos_wr(&r, 0x0D, 0x00);
	assert_int_equal(cmos_rd(&r, 0x0D), 0x80);
	assert_int_equal(rd(&r, 0, 1), 0xff);
	assert_int_equal(rd(&r, 2, 1), 0xff);
	assert_int_equal(r.fake.irq_calls, 0); /* IRQ 8 is never raised */
	rig_fini(&r);
}

static void test_rtc_12h(void **st)
{
	struct rig r;

	rig_init(&r, &rtc_desc, 8, 0);
	cmos_wr(&r, 0x0B, 0x00); /* 12 h, BCD */
	assert_int_equal(cmos_rd(&r, 0x04), 0x81); /* 1 PM */
	r.fake.wall_ns = 1795307400LL * SEC; /* 00:30 */
	assert_int_equal(cmos_rd(&r, 0x04), 0x12); /* 12 AM */
	r.fake.wall_ns = 1795348800LL * SEC; /* 12:00 */
	assert_int_equal(cmos_rd(&r, 0x04), 0x92); /* 12 PM */
	cmos_wr(&r, 0x0B, 0x04); /* 12 h, binary */
	assert_int_equal(cmos_rd(&r, 0x04), 0x80 | 12);
	/* Setting 11 PM in 12 h mode, read back in 24 h mode. */
	cmos_wr(&r, 0x0B, 0x80);
	cmos_wr(&r, 0x04, 0x91);
	cmos_wr(&r, 0x0B, 0x02);
	assert_int_equal(cmos_rd(&r, 0x04), 0x23);
	rig_fini(&r);
}

static void test_rtc_guest_sets_time(void **st)
{
	struct rig r;

	rig_init(&r, &rtc_desc, 8, 0);
	cmos_wr(&r, 0x0B, 0x82); /* SET, 24 h, BCD */
	cmos_wr(&r, 0x32, 0x20);
	cmos_wr(&r, 0x09, 0x30);
	cmos_wr(&r, 0x08, 0x01);
	cmos_wr(&r, 0x07, 0x01);
	cmos_wr(&r, 0x04, 0x00);
	cmos_wr(&r, 0x02, 0x00);
	cmos_wr(&r, 0x00, 0x00);
	cmos_wr(&r, 0x00, 0x7A); /* invalid BCD: ignored */
	cmos_wr(&r, 0x04, 0x24); /* hour 24: ignored */
	cmos_wr(&r, 0x08, 0x13); /* month 13: ignored */
	cmos_wr(&r, 0x07, 0x00); /* day 0: ignored */
	cmos_wr(&r, 0x32, 0xA0); /* bad century: ignored */
	/* Frozen while SET is on. */
	r.fake.wall_ns += 3 * SEC;
	assert_int_equal(cmos_rd(&r, 0x00), 0x00);
	assert_int_equal(cmos_rd(&r, 0x04), 0x00);
	assert_int_equal(cmos_rd(&r, 0x09), 0x30);
	assert_int_equal(cmos_rd(&r, 0x06), 0x03); /* 2030-01-01 is a Tuesday */
	assert_int_equal(cmos_rd(&r, 0x0C), 0x00); /* no update while SET */
	cmos_wr(&r, 0x0B, 0x02);
	r.fake.wall_ns += 5 * SEC;
	assert_int_equal(cmos_rd(&r, 0x00), 0x05);
	assert_int_equal(cmos_rd(&r, 0x07), 0x01);
	assert_int_equal(cmos_rd(&r, 0x08), 0x01);
	assert_int_equal(cmos_rd(&r, 0x09), 0x30);
	assert_int_equal(cmos_rd(&r, 0x32), 0x20);
	/* A write without SET applies at once; the offset survives reset. */
	cmos_wr(&r, 0x02, 0x59);
	do_reset(&r);
	assert_int_equal(cmos_rd(&r, 0x02), 0x59);
	assert_int_equal(cmos_rd(&r, 0x09), 0x30);
	/* Reset while SET is on lets the clock run again. */
	cmos_wr(&r, 0x0B, 0x82);
	do_reset(&r);
	assert_int_equal(cmos_rd(&r, 0x0B) & 0x80, 0);
	r.fake.wall_ns += 1 * SEC;
	assert_int_equal(cmos_rd(&r, 0x00), 0x06);
	rig_fini(&r);
}

static void test_rtc_nvram_and_flags(void **st)
{
	struct rig r;

	rig_init(&r, &rtc_desc, 8, 0);
	cmos_wr(&r, 0x0E, 0x11);
	cmos_wr(&r, 0x40, 0xAB);
	cmos_wr(&r, 0x7F, 0xCD);
	cmos_wr(&r, 0x01, 0x30); /* alarm seconds: plain storage */
	cmos_wr(&r, 0x0B, 0x72); /* PIE, AIE, UIE, 24 h */
	do_reset(&r);
	assert_int_equal(cmos_rd(&r, 0x0E), 0x11);
	assert_int_equal(cmos_rd(&r, 0x40), 0xAB);
	assert_int_equal(cmos_rd(&r, 0x7F), 0xCD);
	assert_int_equal(cmos_rd(&r, 0x01), 0x30);
	assert_int_equal(cmos_rd(&r, 0x0B), 0x02); /* interrupt enables cleared */
	/* Register C: UF after a second boundary, cleared by the read. */
	assert_int_equal(cmos_rd(&r, 0x0C), 0x00);
	r.fake.wall_ns += 1 * SEC;
	assert_int_equal(cmos_rd(&r, 0x0C), 0x10);
	assert_int_equal(cmos_rd(&r, 0x0C), 0x00);
	cmos_wr(&r, 0x0C, 0xFF); /* read-only */
	assert_int_equal(cmos_rd(&r, 0x0C), 0x00);
	/* With UIE on, IRQF accompanies UF (the line itself stays low). */
	cmos_wr(&r, 0x0B, 0x12);
	r.fake.wall_ns += 2 * SEC;
	assert_int_equal(cmos_rd(&r, 0x0C), 0x90);
	assert_int_equal(cmos_rd(&r, 0x0C), 0x00);
	assert_int_equal(r.fake.irq_calls, 0);
	/* Multi-byte access: index then data in one 16-bit write. */
	wr(&r, 0, 0x5540, 2);
	assert_int_equal(cmos_rd(&r, 0x40), 0x55);
	rig_fini(&r);
}

/* --- debug exit --- */
static void test_debugexit(void **st)
{
	struct rig r;

	rig_init(&r, &debugexit_desc, 0, 0);
	wr(&r, 0, 0, 1);
	wr(&r, 0, 1, 2);
	wr(&r, 0, 0x7f, 4);
	wr(&r, 0, 0x1234, 2);
	wr(&r, 0, 0x80000000u, 4);
	assert_int_equal(r.fake.nevents, 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(r.fake.ev[i], DEVHOST_EV_DEBUG_EXIT);
	assert_int_equal(r.fake.code[0], 1);
	assert_int_equal(r.fake.code[1], 3);
	assert_int_equal(r.fake.code[2], 0xff);
	assert_int_equal(r.fake.code[3], 0x2469);
	assert_int_equal(r.fake.code[4] & 0xff, 1);
	assert_int_equal(rd(&r, 0, 4), 0xffffffffu);
	assert_int_equal(rd(&r, 2, 1), 0xff);
	wr(&r, 4, 1, 1); /* past the range: ignored */
	assert_int_equal(r.fake.nevents, 5);
	rig_fini(&r);
}

/* --- boot timer and POST port --- */
/* Run a write to the boot timer with stderr captured; returns the log text. */
static void boottimer_write_captured(struct rig *r, uint8_t v, char *out, size_t outlen)
{
	FILE *f = tmpfile();
	int saved;
	size_t n;

	assert_non_null(f);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	wr(r, 0, v, 1);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(f);
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
}

static void test_boottimer(void **st)
{
	struct rig r;
	char buf[512];
	enum log_level old = log_get_level();

	log_set_level(LOG_INFO);
	rig_init(&r, &boottimer_desc, 0, 0);
	r.fake.clock_ns = 1000 + 1500000; /* start_ns is 1000 */
	boottimer_write_captured(&r, 122, buf, sizeof(buf));
	assert_string_equal(buf, "");
	boottimer_write_captured(&r, 123, buf, sizeof(buf));
	assert_non_null(strstr(buf, "boot-timer: guest reached 123 after 1.500 ms "
				    "(since process start)"));
	/* Repeats go to debug level; a reset re-arms the report. */
	boottimer_write_captured(&r, 123, buf, sizeof(buf));
	assert_string_equal(buf, "");
	do_reset(&r);
	r.fake.clock_ns = 1000 + 2000123456ULL;
	boottimer_write_captured(&r, 123, buf, sizeof(buf));
	assert_non_null(strstr(buf, "after 2000.123 ms"));
	/* A clock before the start time does not underflow. */
	do_reset(&r);
	r.fake.clock_ns = 10;
	boottimer_write_captured(&r, 123, buf, sizeof(buf));
	assert_non_null(strstr(buf, "after 0.000 ms"));
	assert_int_equal(rd(&r, 0, 1), 0xff);
	assert_int_equal(r.fake.nevents, 0);
	rig_fini(&r);

	rig_init(&r, &post_desc, 0, 0);
	boottimer_write_captured(&r, 123, buf, sizeof(buf));
	assert_string_equal(buf, "");
	wr(&r, 0, 0x12345678, 4);
	assert_int_equal(rd(&r, 0, 1), 0xff);
	assert_int_equal(r.fake.nevents, 0);
	assert_int_equal(r.fake.irq_calls, 0);
	rig_fini(&r);
	log_set_level(old);
}

/* --- ACPI PM --- */
#define PM_STS 0
#define PM_EN 2
#define PM_CNT 4
#define PM_TMR 8
#define SCI 9

static void test_acpipm_power_button(void **st)
{
	struct rig r;

	rig_init(&r, &acpipm_desc, SCI, 5);
	assert_int_equal(rd(&r, PM_STS, 2), 0);
	assert_int_equal(rd(&r, PM_EN, 2), 0);
	assert_int_equal(rd(&r, PM_CNT, 2), 0x0001); /* SCI_EN */
	acpipm_power_button(r.dev);
	assert_int_equal(rd(&r, PM_STS, 2), 0x0100);
	assert_int_equal(r.fake.level[SCI], 0); /* not enabled */
	wr(&r, PM_EN, 0x0100, 2);
	assert_int_equal(r.fake.level[SCI], 1);
	assert_int_equal(rd(&r, PM_EN, 2), 0x0100);
	/* Writing 0 or other bits does not clear; writing 1 does. */
	wr(&r, PM_STS, 0x0000, 2);
	wr(&r, PM_STS, 0x00FF, 2);
	assert_int_equal(rd(&r, PM_STS, 2), 0x0100);
	assert_int_equal(r.fake.level[SCI], 1);
	wr(&r, PM_STS, 0x0100, 2);
	assert_int_equal(rd(&r, PM_STS, 2), 0);
	assert_int_equal(r.fake.level[SCI], 0);
	/* Enabled already: pressing raises the SCI at once. */
	acpipm_power_button(r.dev);
	assert_int_equal(r.fake.level[SCI], 1);
	/* Disabling lowers it while the status stays. */
	wr(&r, PM_EN, 0, 2);
	assert_int_equal(r.fake.level[SCI], 0);
	assert_int_equal(rd(&r, PM_STS, 2), 0x0100);
	/* Reset clears everything. */
	wr(&r, PM_EN, 0x0100, 2);
	assert_int_equal(r.fake.level[SCI], 1);
	do_reset(&r);
	assert_int_equal(r.fake.level[SCI], 0);
	assert_int_equal(rd(&r, PM_STS, 2), 0);
	assert_int_equal(rd(&r, PM_EN, 2), 0);
	assert_int_equal(r.fake.nevents, 0);
	rig_fini(&r);
}

static void test_acpipm_sleep(void **st)
{
	struct rig r;

	rig_init(&r, &acpipm_desc, SCI, 5);
	/* SLP_TYP without SLP_EN: stored, nothing happens. */
	wr(&r, PM_CNT, 5 << 10, 2);
	assert_int_equal(r.fake.nevents, 0);
	assert_int_equal(rd(&r, PM_CNT, 2), (5 << 10) | 1);
	/* S3: ignored, WAK_STS set, no SCI. */
	wr(&r, PM_CNT, (3 << 10) | (1 << 13), 2);
	assert_int_equal(r.fake.nevents, 0);
	assert_int_equal(rd(&r, PM_STS, 2), 0x8000);
	assert_int_equal(rd(&r, PM_CNT, 2) & (1 << 13), 0); /* SLP_EN reads 0 */
	assert_int_equal(r.fake.level[SCI], 0);
	wr(&r, PM_STS, 0x8000, 2);
	assert_int_equal(rd(&r, PM_STS, 2), 0);
	/* S5: poweroff. */
	wr(&r, PM_CNT, (5 << 10) | (1 << 13) | 1, 2);
	assert_int_equal(r.fake.nevents, 1);
	assert_int_equal(r.fake.ev[0], DEVHOST_EV_POWEROFF);
	/* S5 by a single write to the high byte. */
	wr(&r, PM_CNT + 1, ((5 << 10) | (1 << 13)) >> 8, 1);
	assert_int_equal(r.fake.nevents, 2);
	assert_int_equal(r.fake.ev[1], DEVHOST_EV_POWEROFF);
	/* A low-byte write never triggers, even with SLP_TYP 5 stored. */
	wr(&r, PM_CNT, 0xff, 1);
	assert_int_equal(r.fake.nevents, 2);
	rig_fini(&r);
}

static void test_acpipm_timer(void **st)
{
	struct rig r;
	uint64_t base;

	rig_init(&r, &acpipm_desc, SCI, 5);
	base = r.fake.clock_ns;
	assert_int_equal(rd(&r, PM_TMR, 4), 0);
	r.fake.clock_ns = base + 1000000000ULL;
	assert_int_equal(rd(&r, PM_TMR, 4), 3579545);
	r.fake.clock_ns = base + 5000000000ULL; /* wrapped past 2^24 */
	assert_int_equal(rd(&r, PM_TMR, 4), 1120509);
	r.fake.clock_ns = base + 3153600000123456789ULL; /* 100 years */
	assert_int_equal(rd(&r, PM_TMR, 4), 13937727);
	/* Byte and word reads of the same instant agree. */
	assert_int_equal(rd(&r, PM_TMR, 1), 13937727 & 0xff);
	assert_int_equal(rd(&r, PM_TMR + 1, 1), (13937727 >> 8) & 0xff);
	assert_int_equal(rd(&r, PM_TMR + 2, 2), 13937727 >> 16);
	assert_int_equal(rd(&r, PM_TMR + 3, 1), 0);
	/* Read-only: writes change nothing. */
	wr(&r, PM_TMR, 0, 4);
	assert_int_equal(rd(&r, PM_TMR, 4), 13937727);
	/* A clock behind the base reads 0 rather than garbage. */
	r.fake.clock_ns = base - 1;
	assert_int_equal(rd(&r, PM_TMR, 4), 0);
	/* Reset restarts the count. */
	r.fake.clock_ns = base + 7777;
	do_reset(&r);
	assert_int_equal(rd(&r, PM_TMR, 4), 0);
	r.fake.clock_ns += 1000;
	assert_int_equal(rd(&r, PM_TMR, 4), 3); /* 1 us = 3.58 ticks */
	rig_fini(&r);
}

static void test_acpipm_bytewise(void **st)
{
	struct rig r;

	rig_init(&r, &acpipm_desc, SCI, 5);
	wr(&r, PM_EN + 1, 0x01, 1); /* PWRBTN_EN via the high byte */
	assert_int_equal(rd(&r, PM_EN, 2), 0x0100);
	assert_int_equal(rd(&r, PM_EN + 1, 1), 0x01);
	assert_int_equal(rd(&r, PM_EN, 1), 0x00);
	wr(&r, PM_EN, 0xFF, 1); /* low byte: only TMR_EN and GBL_EN exist */
	assert_int_equal(rd(&r, PM_EN, 2), 0x0121);
	acpipm_power_button(r.dev);
	/* One dword covers STS and EN. */
	assert_int_equal(rd(&r, PM_STS, 4), 0x01210100);
	assert_int_equal(r.fake.level[SCI], 1);
	/* A dword write clears STS and rewrites EN in one access. */
	wr(&r, PM_STS, 0x01000100, 4);
	assert_int_equal(rd(&r, PM_STS, 4), 0x01000000);
	assert_int_equal(r.fake.level[SCI], 0);
	/* Odd offsets straddling registers. */
	assert_int_equal(rd(&r, PM_STS + 1, 2), 0x0000);
	assert_int_equal(rd(&r, PM_EN + 1, 2), 0x0101); /* EN high, CNT low (SCI_EN) */
	/* Padding and past the end read as ones; writes there are ignored. */
	assert_int_equal(rd(&r, 6, 2), 0xffff);
	assert_int_equal(rd(&r, 11, 4), 0xffffff00);
	assert_int_equal(rd(&r, 12, 1), 0xff);
	wr(&r, 6, 0xffff, 2);
	wr(&r, 12, 0xffffffff, 4);
	wr(&r, 1000, 0xffffffff, 4);
	assert_int_equal(r.fake.nevents, 0);
	rig_fini(&r);
}

/* --- reset control --- */
static void test_resetctl(void **st)
{
	struct rig r;

	rig_init(&r, &resetctl_desc, 0, 0);
	assert_int_equal(rd(&r, 0, 1), 0);
	wr(&r, 0, 0x02, 1);
	assert_int_equal(r.fake.nevents, 0);
	assert_int_equal(rd(&r, 0, 1), 0x02);
	wr(&r, 0, 0x06, 1);
	assert_int_equal(r.fake.nevents, 1);
	assert_int_equal(r.fake.ev[0], DEVHOST_EV_RESET);
	assert_int_equal(rd(&r, 0, 1), 0x02); /* RST_CPU reads 0 */
	wr(&r, 0, 0x0E, 1);
	assert_int_equal(r.fake.nevents, 2);
	wr(&r, 1, 0x06, 1); /* past the register */
	assert_int_equal(r.fake.nevents, 2);
	assert_int_equal(rd(&r, 1, 1), 0xff);
	do_reset(&r);
	assert_int_equal(rd(&r, 0, 1), 0);
	rig_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_i8042_status_and_selftest),
		cmocka_unit_test(test_i8042_command_byte),
		cmocka_unit_test(test_i8042_reset_paths),
		cmocka_unit_test(test_i8042_keyboard_and_irq),
		cmocka_unit_test(test_rtc_time_bcd_binary),
		cmocka_unit_test(test_rtc_12h),
		cmocka_unit_test(test_rtc_guest_sets_time),
		cmocka_unit_test(test_rtc_nvram_and_flags),
		cmocka_unit_test(test_debugexit),
		cmocka_unit_test(test_boottimer),
		cmocka_unit_test(test_acpipm_power_button),
		cmocka_unit_test(test_acpipm_sleep),
		cmocka_unit_test(test_acpipm_timer),
		cmocka_unit_test(test_acpipm_bytewise),
		cmocka_unit_test(test_resetctl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
