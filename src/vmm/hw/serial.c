/* serial: a 16550A UART (8 registers at args->port, interrupt args->irq) in
 * front of a chardev. Transmission is instantaneous: a THR write goes straight
 * to chardev_write() (which never blocks), so THRE and TEMT are always set.
 * Received bytes come from the chardev front-end callbacks on the event-loop
 * thread into a 16-byte RX FIFO (1 byte when FIFOs are off); the chardev is
 * asked for more only as space frees up, so nothing is lost on the host side.
 * Interrupt priority in IIR: line status (0x6) > RX data (0x4 at or above the
 * FCR trigger level, 0xC "character timeout" below it) > THR empty (0x2) >
 * modem status (0x0). The IRQ line is (some interrupt pending) AND MCR.OUT2.
 * Not modelled: baud rate timing, parity/framing errors and break. */
#include "hw.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "chardev.h"
#include "common/log.h"

/* --- registers --- */
#define SERIAL_LEN 8
#define SERIAL_RBR 0 /* read; THR on write; DLL when DLAB */
#define SERIAL_IER 1 /* DLM when DLAB */
#define SERIAL_IIR 2 /* read; FCR on write */
#define SERIAL_LCR 3
#define SERIAL_MCR 4
#define SERIAL_LSR 5
#define SERIAL_MSR 6
#define SERIAL_SCR 7

#define SERIAL_IER_ERBFI 0x01 /* RX data available */
#define SERIAL_IER_ETBEI 0x02 /* THR empty */
#define SERIAL_IER_ELSI 0x04  /* receiver line status */
#define SERIAL_IER_EDSSI 0x08 /* modem status */
#define SERIAL_IER_MASK 0x0f

#define SERIAL_IIR_NONE 0x01
#define SERIAL_IIR_MSI 0x00
#define SERIAL_IIR_THRI 0x02
#define SERIAL_IIR_RDI 0x04
#define SERIAL_IIR_RLSI 0x06
#define SERIAL_IIR_TIMEOUT 0x0c
#define SERIAL_IIR_FIFO 0xc0 /* FIFOs enabled */

#define SERIAL_FCR_ENABLE 0x01
#define SERIAL_FCR_CLEAR_RX 0x02
#define SERIAL_FCR_CLEAR_TX 0x04
#define SERIAL_FCR_KEEP 0xc9 /* stored: enable, DMA mode, trigger level */
#define SERIAL_FCR_TRIG_SHIFT 6

#define SERIAL_LCR_DLAB 0x80

#define SERIAL_MCR_DTR 0x01
#define SERIAL_MCR_RTS 0x02
#define SERIAL_MCR_OUT1 0x04
#define SERIAL_MCR_OUT2 0x08
#define SERIAL_MCR_LOOP 0x10
#define SERIAL_MCR_MASK 0x1f

#define SERIAL_LSR_DR 0x01
#define SERIAL_LSR_OE 0x02
#define SERIAL_LSR_THRE 0x20
#define SERIAL_LSR_TEMT 0x40
#define SERIAL_LSR_ERRORS 0x1e /* OE, PE, FE, BI */

#define SERIAL_MSR_DCTS 0x01
#define SERIAL_MSR_DDSR 0x02
#define SERIAL_MSR_TERI 0x04
#define SERIAL_MSR_DDCD 0x08
#define SERIAL_MSR_CTS 0x10
#define SERIAL_MSR_DSR 0x20
#define SERIAL_MSR_RI 0x40
#define SERIAL_MSR_DCD 0x80
#define SERIAL_MSR_DELTAS 0x0f

#define SERIAL_FIFO_SIZE 16

static const uint8_t serial_trigger_levels[4] = { 1, 4, 8, 14 };

/* --- state --- */
struct serial {
	pthread_mutex_t lock;
	struct devhost host;
	unsigned irq;
	struct chardev *chardev; /* may be NULL: output discarded and counted */
	struct chardev_frontend fe; /* registered with the chardev (kept alive here) */
	uint8_t rx[SERIAL_FIFO_SIZE];
	unsigned rx_head, rx_count;
	uint8_t rbr_last;    /* returned when RBR is read empty */
	uint8_t ier, lcr, mcr, lsr_errors, msr, scr, fcr, dll, dlm;
	bool thr_ipending;   /* THR-empty interrupt waiting to be seen */
	bool rx_throttled;   /* can_recv said 0: wake the chardev when room frees */
	bool irq_level;
	uint64_t dropped;    /* output discarded for want of a chardev */
};

static unsigned serial_rx_capacity(const struct serial *s)
{
	return s->fcr & SERIAL_FCR_ENABLE ? SERIAL_FIFO_SIZE : 1;
}

/* Bytes the receiver can take from outside; none in loopback mode, where
 * the receiver is cut off from the line. */
static unsigned serial_rx_space(const struct serial *s)
{
	if ((s->mcr & SERIAL_MCR_LOOP) || s->rx_count >= serial_rx_capacity(s))
		return 0;
	return serial_rx_capacity(s) - s->rx_count;
}

/* Interrupt identification (low 4 bits of IIR) by priority. */
static uint8_t serial_iir_id(const struct serial *s)
{
	if ((s->ier & SERIAL_IER_ELSI) && (s->lsr_errors & SERIAL_LSR_ERRORS))
		return SERIAL_IIR_RLSI;
	if ((s->ier & SERIAL_IER_ERBFI) && s->rx_count > 0) {
		if ((s->fcr & SERIAL_FCR_ENABLE) &&
		    s->rx_count < serial_trigger_levels[s->fcr >> SERIAL_FCR_TRIG_SHIFT])
			return SERIAL_IIR_TIMEOUT;
		return SERIAL_IIR_RDI;
	}
	if ((s->ier & SERIAL_IER_ETBEI) && s->thr_ipending)
		return SERIAL_IIR_THRI;
	if ((s->ier & SERIAL_IER_EDSSI) && (s->msr & SERIAL_MSR_DELTAS))
		return SERIAL_IIR_MSI;
	return SERIAL_IIR_NONE;
}

static void serial_update_irq(struct serial *s)
{
	bool level = serial_iir_id(s) != SERIAL_IIR_NONE && (s->mcr & SERIAL_MCR_OUT2);

	if (level == s->irq_level)
		return;
	s->irq_level = level;
	devhost_irq_set(&s->host, s->irq, level);
}

/* Modem input lines: looped back from MCR in loopback mode, else a modem
 * that is always there (CTS, DSR, DCD) and never rings. Sets delta bits. */
static void serial_update_msr(struct serial *s)
{
	uint8_t lines = SERIAL_MSR_CTS | SERIAL_MSR_DSR | SERIAL_MSR_DCD, changed;

	if (s->mcr & SERIAL_MCR_LOOP) {
		lines = 0;
		lines |= s->mcr & SERIAL_MCR_RTS ? SERIAL_MSR_CTS : 0;
		lines |= s->mcr & SERIAL_MCR_DTR ? SERIAL_MSR_DSR : 0;
		lines |= s->mcr & SERIAL_MCR_OUT1 ? SERIAL_MSR_RI : 0;
		lines |= s->mcr & SERIAL_MCR_OUT2 ? SERIAL_MSR_DCD : 0;
	}
	changed = (uint8_t)((s->msr ^ lines) & 0xf0);
	s->msr = (uint8_t)((s->msr & SERIAL_MSR_DELTAS) | lines);
	s->msr |= changed & SERIAL_MSR_CTS ? SERIAL_MSR_DCTS : 0;
	s->msr |= changed & SERIAL_MSR_DSR ? SERIAL_MSR_DDSR : 0;
	s->msr |= changed & SERIAL_MSR_DCD ? SERIAL_MSR_DDCD : 0;
	/* TERI: ring indicator went from on to off. */
	s->msr |= (changed & SERIAL_MSR_RI) && !(lines & SERIAL_MSR_RI) ? SERIAL_MSR_TERI : 0;
}

/* A byte arrives at the receiver; on a full FIFO it is an overrun: the new
 * byte is lost (FIFO mode) or replaces the unread one (16450 mode). */
static void serial_rx_push(struct serial *s, uint8_t v)
{
	if (s->rx_count >= serial_rx_capacity(s)) {
		s->lsr_errors |= SERIAL_LSR_OE;
		if (!(s->fcr & SERIAL_FCR_ENABLE) && s->rx_count == 1)
			s->rx[s->rx_head] = v;
		return;
	}
	s->rx[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = v;
	s->rx_count++;
}

static void serial_rx_clear(struct serial *s)
{
	s->rx_head = 0;
	s->rx_count = 0;
}

/* Room freed in the RX FIFO: let the chardev deliver again if it stopped. */
static void serial_rx_room(struct serial *s)
{
	if (!s->rx_throttled || serial_rx_space(s) == 0)
		return;
	s->rx_throttled = false;
	if (s->chardev)
		chardev_accept_input(s->chardev);
}

/* --- register handlers --- */
static uint8_t serial_read_rbr(struct serial *s)
{
	if (s->rx_count == 0)
		return s->rbr_last;
	s->rbr_last = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
	s->rx_count--;
	serial_rx_room(s);
	return s->rbr_last;
}

static uint8_t serial_read_iir(struct serial *s)
{
	uint8_t id = serial_iir_id(s);

	if (id == SERIAL_IIR_THRI)
		s->thr_ipending = false; /* seen: reading IIR clears it */
	return (uint8_t)(id | (s->fcr & SERIAL_FCR_ENABLE ? SERIAL_IIR_FIFO : 0));
}

static uint8_t serial_read_lsr(struct serial *s)
{
	uint8_t v = SERIAL_LSR_THRE | SERIAL_LSR_TEMT | s->lsr_errors;

	if (s->rx_count > 0)
		v |= SERIAL_LSR_DR;
	s->lsr_errors = 0; /* error bits clear on read */
	return v;
}

static uint8_t serial_read_reg(struct serial *s, unsigned reg)
{
	uint8_t v;

	switch (reg) {
	case SERIAL_RBR:
		return s->lcr & SERIAL_LCR_DLAB ? s->dll : serial_read_rbr(s);
	case SERIAL_IER:
		return s->lcr & SERIAL_LCR_DLAB ? s->dlm : s->ier;
	case SERIAL_IIR:
		return serial_read_iir(s);
	case SERIAL_LCR:
		return s->lcr;
	case SERIAL_MCR:
		return s->mcr;
	case SERIAL_LSR:
		return serial_read_lsr(s);
	case SERIAL_MSR:
		v = s->msr;
		s->msr &= (uint8_t)~SERIAL_MSR_DELTAS; /* deltas clear on read */
		return v;
	default: /* SERIAL_SCR */
		return s->scr;
	}
}

static void serial_read(void *dev, uint64_t off, void *data, unsigned size)
{
	struct serial *s = dev;
	uint8_t *out = data;

	for (unsigned i = 0; i < size; i++) {
		if (off >= SERIAL_LEN || i >= SERIAL_LEN - off)
			out[i] = 0xff;
		else
			out[i] = serial_read_reg(s, (unsigned)(off + i));
	}
	serial_update_irq(s);
}

static void serial_write_thr(struct serial *s, uint8_t v)
{
	if (s->mcr & SERIAL_MCR_LOOP)
		serial_rx_push(s, v);
	else if (!s->chardev)
		s->dropped++;
	else
		(void)chardev_write(s->chardev, &v, 1); /* it counts what it drops */
	/* Sent at once: THR was refilled and is empty again. */
	s->thr_ipending = true;
}

static void serial_write_ier(struct serial *s, uint8_t v)
{
	uint8_t old = s->ier;

	s->ier = v & SERIAL_IER_MASK;
	/* Enabling ETBEI while THR is empty (always here) raises THRI. */
	if ((s->ier & SERIAL_IER_ETBEI) && !(old & SERIAL_IER_ETBEI))
		s->thr_ipending = true;
}

static void serial_write_fcr(struct serial *s, uint8_t v)
{
	/* Switching the FIFOs on or off empties them, as do the clear bits. */
	if ((v ^ s->fcr) & SERIAL_FCR_ENABLE || (v & SERIAL_FCR_CLEAR_RX))
		serial_rx_clear(s);
	/* The TX FIFO is always empty (SERIAL_FCR_CLEAR_TX has nothing to do). */
	s->fcr = v & SERIAL_FCR_KEEP;
	if (!(s->fcr & SERIAL_FCR_ENABLE))
		s->fcr = 0;
	serial_rx_room(s);
}

static void serial_write_reg(struct serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case SERIAL_RBR:
		if (s->lcr & SERIAL_LCR_DLAB)
			s->dll = v;
		else
			serial_write_thr(s, v);
		break;
	case SERIAL_IER:
		if (s->lcr & SERIAL_LCR_DLAB)
			s->dlm = v;
		else
			serial_write_ier(s, v);
		break;
	case SERIAL_IIR:
		serial_write_fcr(s, v);
		break;
	case SERIAL_LCR:
		s->lcr = v;
		break;
	case SERIAL_MCR:
		s->mcr = v & SERIAL_MCR_MASK;
		serial_update_msr(s);
		serial_rx_room(s); /* leaving loopback reconnects the line */
		break;
	case SERIAL_SCR:
		s->scr = v;
		break;
	default: /* LSR and MSR: writes are for factory test, ignored */
		break;
	}
}

static void serial_write(void *dev, uint64_t off, const void *data, unsigned size)
{
	struct serial *s = dev;
	const uint8_t *in = data;

	for (unsigned i = 0; i < size; i++) {
		if (off >= SERIAL_LEN || i >= SERIAL_LEN - off)
			break;
		serial_write_reg(s, (unsigned)(off + i), in[i]);
	}
	serial_update_irq(s);
}

static const struct vdev_ops serial_ops = {
	.name = "serial",
	.read = serial_read,
	.write = serial_write,
};

/* --- other callbacks (chardev front end, event-loop thread) --- */
static size_t serial_can_recv(void *opaque)
{
	struct serial *s = opaque;
	size_t room;

	pthread_mutex_lock(&s->lock);
	room = serial_rx_space(s);
	s->rx_throttled = room == 0;
	pthread_mutex_unlock(&s->lock);
	return room;
}

static void serial_recv(void *opaque, const uint8_t *buf, size_t len)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (s->mcr & SERIAL_MCR_LOOP)
		len = 0; /* raced with loopback being switched on: discard */
	for (size_t i = 0; i < len; i++)
		serial_rx_push(s, buf[i]);
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

uint64_t serial_dropped(void *serial_state)
{
	struct serial *s = serial_state;
	uint64_t n;

	if (!s)
		return 0;
	pthread_mutex_lock(&s->lock);
	n = s->dropped + (s->chardev ? chardev_dropped(s->chardev) : 0);
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* --- create / reset / destroy --- */
static void serial_reset_locked(struct serial *s)
{
	serial_rx_clear(s);
	s->rbr_last = 0;
	s->ier = 0;
	s->lcr = 0;
	s->mcr = 0;
	s->lsr_errors = 0;
	s->fcr = 0;
	s->scr = 0;
	s->dll = 0;
	s->dlm = 0;
	s->thr_ipending = false;
	s->msr = 0;
	serial_update_msr(s);
	s->msr &= (uint8_t)~SERIAL_MSR_DELTAS; /* power-on lines are not changes */
	serial_update_irq(s);
	serial_rx_room(s);
}

static int serial_create(const struct hw_args *args, void **state)
{
	struct serial *s;
	int ret;

	if (!args || !args->host || !args->host->ops) {
		log_error("serial: created without a device host");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = pthread_mutex_init(&s->lock, NULL);
	if (ret) {
		free(s);
		return -ret;
	}
	s->host = *args->host;
	s->irq = args->irq;
	s->chardev = args->chardev;
	serial_reset_locked(s);
	if (s->chardev) {
		s->fe = (struct chardev_frontend){ serial_can_recv, serial_recv, s };
		chardev_set_frontend(s->chardev, &s->fe);
	}
	*state = s;
	return 0;
}

static void serial_reset(void *state)
{
	struct serial *s = state;

	pthread_mutex_lock(&s->lock);
	serial_reset_locked(s);
	pthread_mutex_unlock(&s->lock);
}

/* The chardev must be closed (or its front end replaced) first: it holds a
 * pointer to this state for its callbacks. */
static void serial_destroy(void *state)
{
	struct serial *s = state;

	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static pthread_mutex_t *serial_lock(void *state)
{
	return &((struct serial *)state)->lock;
}

const struct hw_desc serial_desc = {
	.name = "serial",
	.ops = &serial_ops,
	.create = serial_create,
	.reset = serial_reset,
	.destroy = serial_destroy,
	.lock = serial_lock,
};
