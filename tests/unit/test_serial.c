/* test_serial: unit tests for the 16550A UART (src/vmm/hw/serial.c), driven
 * through its register handlers with a fake device host (IRQ levels) and a
 * fake chardev defined here (records output, can refuse bytes, captures the
 * front end so the test can feed input and sees chardev_accept_input()). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>

#include "chardev.h"
#include "hw/hw.h"

/* --- fake chardev (replaces chardev.c in this test) --- */
struct chardev {
	uint8_t out[4096];
	size_t out_len;
	size_t room;      /* bytes chardev_write still accepts */
	uint64_t dropped;
	struct chardev_frontend fe;
	bool has_fe;
	unsigned accepts; /* chardev_accept_input() calls */
};

void chardev_set_frontend(struct chardev *cd, const struct chardev_frontend *fe)
{
	cd->has_fe = fe != NULL;
	if (fe)
		cd->fe = *fe;
}

void chardev_accept_input(struct chardev *cd)
{
	cd->accepts++;
}

size_t chardev_write(struct chardev *cd, const void *buf, size_t len)
{
	size_t n = len < cd->room ? len : cd->room;

	assert_true(cd->out_len + n <= sizeof(cd->out));
	memcpy(cd->out + cd->out_len, buf, n);
	cd->out_len += n;
	cd->room -= n;
	cd->dropped += len - n;
	return n;
}

uint64_t chardev_dropped(const struct chardev *cd)
{
	return cd->dropped;
}

/* --- fake device host --- */
#define IRQ 4

struct fake_host {
	int level;
	unsigned raises;
	unsigned bad_calls; /* calls for another line or with a bad level */
};

static void fake_irq_set(void *ctx, unsigned gsi, int level)
{
	struct fake_host *f = ctx;

	if (gsi != IRQ || (level != 0 && level != 1)) {
		f->bad_calls++;
		return;
	}
	if (level && !f->level)
		f->raises++;
	f->level = level;
}

static void fake_event(void *ctx, enum devhost_event ev, int code)
{
	fail_msg("serial must not request machine events");
}

static uint64_t fake_clock_ns(void *ctx)
{
	return 0;
}

static int64_t fake_wallclock_ns(void *ctx)
{
	return 0;
}

static const struct devhost_ops fake_ops = {
	fake_irq_set, fake_event, fake_clock_ns, fake_wallclock_ns,
};

/* --- rig --- */
struct rig {
	struct fake_host fake;
	struct devhost host;
	struct chardev cd;
	void *dev;
};

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3,
       MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static void rig_init(struct rig *r, bool with_chardev)
{
	struct hw_args args;

	memset(r, 0, sizeof(*r));
	r->cd.room = sizeof(r->cd.out);
	r->host = (struct devhost){ &fake_ops, &r->fake };
	args = (struct hw_args){ .host = &r->host, .port = 0x3F8, .irq = IRQ,
				 .chardev = with_chardev ? &r->cd : NULL };
	assert_int_equal(serial_desc.create(&args, &r->dev), 0);
	assert_true(r->cd.has_fe == with_chardev);
}

static void rig_fini(struct rig *r)
{
	assert_int_equal(r->fake.bad_calls, 0);
	serial_desc.destroy(r->dev);
}

static uint64_t rdn(struct rig *r, uint64_t off, unsigned size)
{
	uint8_t buf[8];
	uint64_t v = 0;

	memset(buf, 0xAA, sizeof(buf));
	pthread_mutex_lock(serial_desc.lock(r->dev));
	serial_desc.ops->read(r->dev, off, buf, size);
	pthread_mutex_unlock(serial_desc.lock(r->dev));
	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)buf[i] << (8 * i);
	return v;
}

static uint8_t rd(struct rig *r, uint64_t off)
{
	return (uint8_t)rdn(r, off, 1);
}

static void wrn(struct rig *r, uint64_t off, uint64_t v, unsigned size)
{
	uint8_t buf[8];

	for (unsigned i = 0; i < size; i++)
		buf[i] = (uint8_t)(v >> (8 * i));
	pthread_mutex_lock(serial_desc.lock(r->dev));
	serial_desc.ops->write(r->dev, off, buf, size);
	pthread_mutex_unlock(serial_desc.lock(r->dev));
}

static void wr(struct rig *r, uint64_t off, uint8_t v)
{
	wrn(r, off, v, 1);
}

/* Input from the outside, the way the chardev delivers it (no device lock). */
static size_t can_recv(struct rig *r)
{
	return r->cd.fe.can_recv(r->cd.fe.opaque);
}

static void feed(struct rig *r, const char *s)
{
	r->cd.fe.recv(r->cd.fe.opaque, (const uint8_t *)s, strlen(s));
}

/* --- tests --- */
static void check_reset_values(struct rig *r)
{
	assert_int_equal(rd(r, IER), 0x00);
	assert_int_equal(rd(r, IIR), 0x01);
	assert_int_equal(rd(r, LCR), 0x00);
	assert_int_equal(rd(r, MCR), 0x00);
	assert_int_equal(rd(r, LSR), 0x60);
	assert_int_equal(rd(r, MSR), 0xB0); /* CTS, DSR, DCD; no deltas */
	assert_int_equal(rd(r, SCR), 0x00);
	assert_int_equal(r->fake.level, 0);
}

static void test_reset_values(void **st)
{
	struct rig r;

	rig_init(&r, true);
	check_reset_values(&r);
	/* Dirty everything, with the IRQ up, then reset. */
	wr(&r, FCR, 0xC7);
	wr(&r, MCR, 0x1F);
	wr(&r, IER, 0x0F);
	wr(&r, SCR, 0x5A);
	wr(&r, THR, 'x'); /* loops back into the RX FIFO */
	wr(&r, LCR, 0x9B);
	assert_int_equal(r.fake.level, 1);
	serial_desc.reset(r.dev);
	check_reset_values(&r);
	assert_int_equal(rd(&r, LSR) & 0x01, 0); /* FIFO emptied */
	assert_int_equal(can_recv(&r), 1);       /* FIFOs off: one holding byte */
	rig_fini(&r);
}

static void test_bad_args(void **st)
{
	struct hw_args args = { 0 };
	void *dev = NULL;

	assert_int_equal(serial_desc.create(&args, &dev), -EINVAL);
	serial_desc.destroy(NULL);
	assert_int_equal(serial_dropped(NULL), 0);
}

static void test_dlab_and_registers(void **st)
{
	struct rig r;

	rig_init(&r, true);
	wr(&r, IER, 0x05);
	wr(&r, LCR, 0x80);
	assert_int_equal(rd(&r, LCR), 0x80);
	wr(&r, DLL, 0x0C);
	wr(&r, DLM, 0x01);
	assert_int_equal(rd(&r, DLL), 0x0C);
	assert_int_equal(rd(&r, DLM), 0x01);
	assert_int_equal(r.cd.out_len, 0); /* DLL write is not output */
	wr(&r, LCR, 0x03);
	assert_int_equal(rd(&r, LCR), 0x03);
	assert_int_equal(rd(&r, IER), 0x05); /* untouched by the DLM write */
	wr(&r, IER, 0xFF);
	assert_int_equal(rd(&r, IER), 0x0F); /* upper bits do not exist */
	wr(&r, LCR, 0x83);
	assert_int_equal(rd(&r, DLL), 0x0C); /* latch kept */
	assert_int_equal(rd(&r, DLM), 0x01);
	wr(&r, LCR, 0x1B);
	assert_int_equal(rd(&r, LCR), 0x1B);
	for (unsigned v = 0; v < 256; v++) {
		wr(&r, SCR, (uint8_t)v);
		assert_int_equal(rd(&r, SCR), v);
	}
	/* MCR keeps its five bits; LSR and MSR ignore writes. */
	wr(&r, MCR, 0xE3);
	assert_int_equal(rd(&r, MCR), 0x03);
	wr(&r, LSR, 0x00);
	assert_int_equal(rd(&r, LSR), 0x60);
	wr(&r, MSR, 0x00);
	assert_int_equal(rd(&r, MSR), 0xB0);
	rig_fini(&r);
}

static void test_output(void **st)
{
	struct rig r;

	rig_init(&r, true);
	wr(&r, THR, 'h');
	wr(&r, THR, 'i');
	wrn(&r, THR, '!', 1);
	assert_int_equal(r.cd.out_len, 3);
	assert_memory_equal(r.cd.out, "hi!", 3);
	assert_int_equal(rd(&r, LSR), 0x60); /* THRE and TEMT: sent at once */
	assert_int_equal(serial_dropped(r.dev), 0);
	/* What the backend refuses it counts itself; the device adds nothing. */
	r.cd.room = 1;
	wr(&r, THR, 'a');
	wr(&r, THR, 'b');
	wr(&r, THR, 'c');
	assert_int_equal(r.cd.out_len, 4);
	assert_int_equal(r.cd.out[3], 'a');
	assert_int_equal(serial_dropped(r.dev), 2);
	rig_fini(&r);

	/* No chardev: output is discarded and counted by the device. */
	rig_init(&r, false);
	for (int i = 0; i < 5; i++)
		wr(&r, THR, 'z');
	assert_int_equal(serial_dropped(r.dev), 5);
	assert_int_equal(rd(&r, LSR), 0x60);
	rig_fini(&r);
}

static void test_thre_interrupt(void **st)
{
	struct rig r;

	rig_init(&r, true);
	wr(&r, MCR, 0x08); /* OUT2 */
	assert_int_equal(r.fake.level, 0);
	/* Enabling ETBEI with THR empty raises THRI at once. */
	wr(&r, IER, 0x02);
	assert_int_equal(r.fake.level, 1);
	assert_int_equal(rd(&r, IIR), 0x02);
	/* Reading IIR cleared it. */
	assert_int_equal(r.fake.level, 0);
	assert_int_equal(rd(&r, IIR), 0x01);
	/* Rewriting ETBEI (no 0 -> 1 change) does not re-raise... */
	wr(&r, IER, 0x02);
	assert_int_equal(rd(&r, IIR), 0x01);
	/* ...but a THR write does: the byte leaves and THR is empty again. */
	wr(&r, THR, 'x');
	assert_int_equal(r.fake.level, 1);
	assert_int_equal(r.fake.raises, 2);
	/* Switching ETBEI off lowers the line; back on raises it again. */
	wr(&r, IER, 0x00);
	assert_int_equal(r.fake.level, 0);
	wr(&r, IER, 0x02);
	assert_int_equal(r.fake.level, 1);
	/* The IRQ line needs OUT2. */
	wr(&r, MCR, 0x00);
	assert_int_equal(r.fake.level, 0);
	assert_int_equal(rd(&r, IIR), 0x02); /* still pending inside */
	wr(&r, MCR, 0x08);
	assert_int_equal(r.fake.level, 0);
	assert_int_equal(rd(&r, IIR), 0x01);
	rig_fini(&r);
}

static void test_rx_basic(void **st)
{
	struct rig r;

	rig_init(&r, true);
	/* FIFOs off: one holding register. */
	assert_int_equal(can_recv(&r), 1);
	wr(&r, FCR, 0x01);
	assert_int_equal(rd(&r, IIR), 0xC1); /* FIFO bits 7:6 */
	assert_int_equal(can_recv(&r), 16);
	wr(&r, IER, 0x01);
	feed(&r, "AB");
	assert_int_equal(rd(&r, LSR), 0x61);
	assert_int_equal(r.fake.level, 0); /* OUT2 clear */
	wr(&r, MCR, 0x08);
	assert_int_equal(r.fake.level, 1);
	assert_int_equal(rd(&r, IIR), 0xC4); /* trigger level 1 reached */
	/* RX data outranks THR empty. */
	wr(&r, IER, 0x03);
	assert_int_equal(rd(&r, IIR), 0xC4);
	assert_int_equal(rd(&r, IIR), 0xC4);
	assert_int_equal(can_recv(&r), 14);
	assert_int_equal(rd(&r, RBR), 'A');
	assert_int_equal(rd(&r, RBR), 'B');
	assert_int_equal(rd(&r, LSR), 0x60);
	/* THRI shows once the data is gone; reading IIR clears it. */
	assert_int_equal(rd(&r, IIR), 0xC2);
	assert_int_equal(rd(&r, IIR), 0xC1);
	assert_int_equal(r.fake.level, 0);
	/* An empty RBR read repeats the last byte and changes nothing. */
	assert_int_equal(rd(&r, RBR), 'B');
	assert_int_equal(rd(&r, LSR), 0x60);
	assert_int_equal(r.cd.accepts, 0); /* never throttled: no wake-ups */
	rig_fini(&r);
}

static void test_rx_trigger_level(void **st)
{
	struct rig r;

	rig_init(&r, true);
	wr(&r, FCR, 0xC1); /* trigger at 14 */
	wr(&r, IER, 0x01);
	wr(&r, MCR, 0x08);
	feed(&r, "abc");
	assert_int_equal(rd(&r, IIR), 0xCC); /* below trigger: timeout */
	assert_int_equal(r.fake.level, 1);
	feed(&r, "defghijklmn");
	assert_int_equal(rd(&r, IIR), 0xC4);
	wr(&r, FCR, 0x41); /* trigger at 4, FIFO kept */
	assert_int_equal(rd(&r, LSR) & 0x01, 0x01);
	assert_int_equal(rd(&r, IIR), 0xC4);
	for (int i = 0; i < 10; i++)
		(void)rd(&r, RBR);
	assert_int_equal(rd(&r, IIR), 0xC4); /* 4 left... */
	(void)rd(&r, RBR);
	assert_int_equal(rd(&r, IIR), 0xCC); /* ...now 3 < 4 */
	/* Without ERBFI nothing is reported for data. */
	wr(&r, IER, 0x00);
	assert_int_equal(rd(&r, IIR), 0xC1);
	assert_int_equal(r.fake.level, 0);
	rig_fini(&r);
}

static void test_rx_fifo_full_and_flow_control(void **st)
{
	struct rig r;
	char sixteen[17] = "0123456789ABCDEF";

	rig_init(&r, true);
	wr(&r, FCR, 0x01);
	feed(&r, sixteen);
	assert_int_equal(can_recv(&r), 0); /* the 17th byte is not accepted */
	assert_int_equal(r.cd.accepts, 0);
	assert_int_equal(rd(&r, RBR), '0');
	assert_int_equal(r.cd.accepts, 1); /* room again: chardev woken */
	assert_int_equal(can_recv(&r), 1);
	feed(&r, "G");
	for (int i = 1; i < 16; i++)
		assert_int_equal(rd(&r, RBR), sixteen[i]);
	assert_int_equal(rd(&r, RBR), 'G');
	assert_int_equal(rd(&r, LSR) & 0x03, 0); /* no data, no overrun */
	/* Only a refusal (can_recv 0) is followed by a wake-up, exactly one. */
	assert_int_equal(r.cd.accepts, 1);
	feed(&r, "0123456789ABCDEF");
	(void)rd(&r, RBR);
	assert_int_equal(r.cd.accepts, 1);
	assert_int_equal(can_recv(&r), 1);
	feed(&r, "H");
	assert_int_equal(can_recv(&r), 0);
	(void)rd(&r, RBR);
	(void)rd(&r, RBR);
	assert_int_equal(r.cd.accepts, 2);
	rig_fini(&r);
}

static void test_rx_overrun(void **st)
{
	struct rig r;

	rig_init(&r, true);
	wr(&r, FCR, 0x01);
	wr(&r, MCR, 0x08);
	wr(&r, IER, 0x05); /* ERBFI, ELSI */
	/* A front end that ignores can_recv overruns the FIFO. */
	feed(&r, "0123456789ABCDEFXY");
	assert_int_equal(rd(&r, IIR), 0xC6); /* line status first */
	assert_int_equal(rd(&r, LSR), 0x63); /* DR, OE */
	assert_int_equal(rd(&r, LSR), 0x61); /* OE cleared by the read */
	assert_int_equal(rd(&r, IIR), 0xC4);
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd(&r, RBR), "0123456789ABCDEF"[i]);
	assert_int_equal(rd(&r, LSR), 0x60); /* X and Y were lost */
	/* FIFOs off: the new byte replaces the unread one. */
	wr(&r, FCR, 0x00);
	feed(&r, "PQ");
	assert_int_equal(rd(&r, LSR), 0x63);
	assert_int_equal(rd(&r, RBR), 'Q');
	assert_int_equal(rd(&r, LSR), 0x60);
	rig_fini(&r);
}

static void test_fifo_reset(void **st)
{
	struct rig r;

	rig_init(&r, true);
	wr(&r, FCR, 0x01);
	feed(&r, "abc");
	wr(&r, FCR, 0x03); /* clear RX */
	assert_int_equal(rd(&r, LSR), 0x60);
	assert_int_equal(can_recv(&r), 16);
	feed(&r, "abc");
	wr(&r, FCR, 0x05); /* clear TX only: RX stays */
	assert_int_equal(rd(&r, LSR), 0x61);
	wr(&r, FCR, 0x00); /* FIFOs off: emptied */
	assert_int_equal(rd(&r, LSR), 0x60);
	assert_int_equal(rd(&r, IIR), 0x01);
	feed(&r, "z");
	wr(&r, FCR, 0x01); /* FIFOs on: emptied too */
	assert_int_equal(rd(&r, LSR), 0x60);
	assert_int_equal(rd(&r, IIR), 0xC1);
	/* A throttled chardev is woken when the clear makes room. */
	feed(&r, "0123456789ABCDEF");
	assert_int_equal(can_recv(&r), 0);
	wr(&r, FCR, 0x03);
	assert_int_equal(r.cd.accepts, 1);
	rig_fini(&r);
}

static void test_loopback(void **st)
{
	struct rig r;

	rig_init(&r, true);
	wr(&r, FCR, 0x01);
	(void)rd(&r, MSR);
	wr(&r, MCR, 0x10); /* loop, all outputs off */
	assert_int_equal(rd(&r, MSR), 0x0B); /* CTS, DSR, DCD dropped: deltas */
	assert_int_equal(rd(&r, MSR), 0x00);
	wr(&r, MCR, 0x1A); /* RTS, OUT2 -> CTS, DCD (what Linux probes) */
	assert_int_equal(rd(&r, MSR) & 0xF0, 0x90);
	wr(&r, MCR, 0x1F);
	assert_int_equal(rd(&r, MSR), 0xF0 | 0x02); /* + DSR, RI; DDSR */
	wr(&r, MCR, 0x1B); /* RI falls: TERI */
	assert_int_equal(rd(&r, MSR), 0xB4);
	/* Output comes back as input, not to the backend. */
	wr(&r, THR, 'L');
	wr(&r, THR, 'B');
	assert_int_equal(r.cd.out_len, 0);
	assert_int_equal(rd(&r, LSR), 0x61);
	assert_int_equal(rd(&r, RBR), 'L');
	assert_int_equal(rd(&r, RBR), 'B');
	/* The outside line is cut off meanwhile. */
	assert_int_equal(can_recv(&r), 0);
	feed(&r, "!");
	assert_int_equal(rd(&r, LSR), 0x60);
	/* Leaving loopback reconnects (and wakes the chardev). */
	wr(&r, MCR, 0x0B);
	assert_int_equal(r.cd.accepts, 1);
	assert_int_equal(can_recv(&r), 16);
	assert_int_equal(rd(&r, MSR) & 0xF0, 0xB0);
	wr(&r, THR, 'o');
	assert_int_equal(r.cd.out_len, 1);
	assert_int_equal(rd(&r, LSR), 0x60);
	rig_fini(&r);
}

static void test_modem_status_interrupt(void **st)
{
	struct rig r;

	rig_init(&r, true);
	wr(&r, MCR, 0x18); /* loop + OUT2: DCD rises, CTS/DSR fall */
	assert_int_equal(rd(&r, IIR), 0x01); /* EDSSI off */
	wr(&r, IER, 0x08);
	assert_int_equal(rd(&r, IIR), 0x00);
	assert_int_equal(r.fake.level, 1);
	(void)rd(&r, MSR); /* clears the deltas */
	assert_int_equal(rd(&r, IIR), 0x01);
	assert_int_equal(r.fake.level, 0);
	/* Lowest priority: THRI wins over it. */
	wr(&r, MCR, 0x1A);
	wr(&r, IER, 0x0A);
	assert_int_equal(rd(&r, IIR), 0x02);
	assert_int_equal(rd(&r, IIR), 0x00);
	rig_fini(&r);
}

static void test_odd_accesses(void **st)
{
	struct rig r;

	rig_init(&r, true);
	wr(&r, SCR, 0x42);
	/* Multi-byte accesses act on consecutive registers; past the end is 0xff. */
	assert_int_equal(rdn(&r, SCR, 2), 0xFF42);
	assert_int_equal(rdn(&r, LSR, 4), 0x42B060 | 0xFF000000u);
	assert_int_equal(rdn(&r, 8, 1), 0xFF);
	assert_int_equal(rdn(&r, UINT64_MAX, 4), 0xFFFFFFFFu);
	wrn(&r, LCR, 0x0B03, 2); /* LCR and MCR at once */
	assert_int_equal(rd(&r, LCR), 0x03);
	assert_int_equal(rd(&r, MCR), 0x0B);
	wrn(&r, 8, 0xFFFFFFFF, 4);
	wrn(&r, UINT64_MAX, 0xFFFFFFFF, 4);
	wrn(&r, SCR, 0x7766, 2); /* only SCR is in range */
	assert_int_equal(rd(&r, SCR), 0x66);
	assert_int_equal(r.cd.out_len, 0);
	rig_fini(&r);
}

/* The chardev side feeds from another thread while the "vCPU" drains
 * through the locked register path: every byte arrives, in order. */
#define STRESS_BYTES 5000

static void *stress_feeder(void *arg)
{
	struct rig *r = arg;
	unsigned sent = 0;

	while (sent < STRESS_BYTES) {
		size_t room = can_recv(r);
		uint8_t buf[16];

		if (room == 0) {
			sched_yield();
			continue;
		}
		size_t n = 0;

		while (n < room && n < sizeof(buf) && sent < STRESS_BYTES)
			buf[n++] = (uint8_t)(sent++ % 251);
		r->cd.fe.recv(r->cd.fe.opaque, buf, n);
	}
	return NULL;
}

static void test_concurrent_rx(void **st)
{
	struct rig r;
	pthread_t t;
	unsigned got = 0;

	rig_init(&r, true);
	wr(&r, FCR, 0x01);
	assert_int_equal(pthread_create(&t, NULL, stress_feeder, &r), 0);
	while (got < STRESS_BYTES) {
		if (!(rd(&r, LSR) & 0x01)) {
			sched_yield();
			continue;
		}
		assert_int_equal(rd(&r, RBR), got % 251);
		got++;
	}
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(rd(&r, LSR), 0x60); /* nothing extra, no overrun */
	rig_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reset_values),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_dlab_and_registers),
		cmocka_unit_test(test_output),
		cmocka_unit_test(test_thre_interrupt),
		cmocka_unit_test(test_rx_basic),
		cmocka_unit_test(test_rx_trigger_level),
		cmocka_unit_test(test_rx_fifo_full_and_flow_control),
		cmocka_unit_test(test_rx_overrun),
		cmocka_unit_test(test_fifo_reset),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_modem_status_interrupt),
		cmocka_unit_test(test_odd_accesses),
		cmocka_unit_test(test_concurrent_rx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
