/* i8042: a small PS/2 keyboard controller, registered as one range of 5 ports
 * starting at 0x60: offset 0 is the data port (0x60), offset 4 the status /
 * command port (0x64); offsets 1-3 read as 0xFF and ignore writes.
 * It exists so guests can probe it and reset through it: commands 0xFE (and
 * any 0xF0-0xFF pulse that includes the reset line) and 0xD1 with bit 0 clear
 * request a platform reset. Also: 0x20-0x3F / 0x60-0x7F read/write controller
 * RAM (byte 0 is the command byte), 0xAA self test (0x55), 0xAB / 0xA9
 * interface tests (0x00), 0xAD/0xAE and 0xA7/0xA8 disable/enable the ports,
 * 0xD0 read output port, 0xD2/0xD3 echo a byte as keyboard/aux output,
 * 0xD4 swallows the next byte (there is no mouse). Anything else is ignored.
 * The keyboard behind it has no keys: it answers 0xFA to every byte, 0xFA
 * 0xAA to reset (0xFF), 0xFA 0xAB 0x83 to identify (0xF2) and 0xEE to echo.
 * Keyboard output raises IRQ args->irq (edge, when command byte bit 0 is set);
 * aux output raises nothing (no IRQ 12 is wired). */
#include "hw.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* --- registers --- */
#define I8042_LEN 5
#define I8042_OFF_DATA 0
#define I8042_OFF_CMD 4

#define I8042_STS_OBF 0x01     /* output buffer full */
#define I8042_STS_SYS 0x04     /* system flag (copy of command byte bit 2) */
#define I8042_STS_CMD 0x08     /* last write was to the command port */
#define I8042_STS_UNLOCKED 0x10 /* keyboard not inhibited */
#define I8042_STS_AUXB 0x20    /* output byte comes from the aux port */

#define I8042_CB_KBD_INT 0x01
#define I8042_CB_SYS 0x04
#define I8042_CB_KBD_DIS 0x10
#define I8042_CB_AUX_DIS 0x20
#define I8042_CB_DEFAULT 0x45  /* kbd interrupt, system flag, translation */

#define I8042_OUTPORT_RESET 0x01 /* 0 = hold the CPU in reset */
#define I8042_OUTPORT_DEFAULT 0x03 /* not in reset, A20 enabled */

#define I8042_RAM_SIZE 32
#define I8042_QUEUE_SIZE 16

/* --- state --- */
enum i8042_pending {
	I8042_PEND_NONE,
	I8042_PEND_RAM,      /* 0x60-0x7F: next data byte goes to ram[ram_index] */
	I8042_PEND_OUTPORT,  /* 0xD1 */
	I8042_PEND_KBD_ECHO, /* 0xD2 */
	I8042_PEND_AUX_ECHO, /* 0xD3 */
	I8042_PEND_AUX_SEND, /* 0xD4 */
};

struct i8042 {
	pthread_mutex_t lock;
	struct devhost host;
	unsigned irq;
	uint8_t ram[I8042_RAM_SIZE]; /* ram[0] is the command byte */
	uint8_t outport;
	uint8_t last_write_cmd; /* I8042_STS_CMD or 0 */
	uint8_t last_read;
	enum i8042_pending pending;
	uint8_t ram_index;
	uint8_t queue[I8042_QUEUE_SIZE];
	bool queue_aux[I8042_QUEUE_SIZE];
	unsigned head, count;
	bool irq_level;
};

static void i8042_set_irq(struct i8042 *k, bool level)
{
	if (level == k->irq_level)
		return;
	k->irq_level = level;
	devhost_irq_set(&k->host, k->irq, level);
}

/* Keyboard interrupt wanted: a keyboard byte waits and interrupts are on. */
static bool i8042_irq_wanted(const struct i8042 *k)
{
	return k->count > 0 && !k->queue_aux[k->head] && (k->ram[0] & I8042_CB_KBD_INT);
}

static void i8042_push(struct i8042 *k, uint8_t v, bool aux)
{
	unsigned tail;

	if (k->count == I8042_QUEUE_SIZE) {
		log_debug("i8042: output queue full, byte 0x%02x dropped", v);
		return;
	}
	tail = (k->head + k->count) % I8042_QUEUE_SIZE;
	k->queue[tail] = v;
	k->queue_aux[tail] = aux;
	k->count++;
	i8042_set_irq(k, i8042_irq_wanted(k));
}

/* --- register handlers --- */
static uint8_t i8042_read_data(struct i8042 *k)
{
	if (k->count == 0)
		return k->last_read;
	k->last_read = k->queue[k->head];
	k->head = (k->head + 1) % I8042_QUEUE_SIZE;
	k->count--;
	/* Drop the line so the next queued byte makes a fresh edge. */
	i8042_set_irq(k, false);
	i8042_set_irq(k, i8042_irq_wanted(k));
	return k->last_read;
}

static uint8_t i8042_status(const struct i8042 *k)
{
	uint8_t s = I8042_STS_UNLOCKED | k->last_write_cmd | (k->ram[0] & I8042_CB_SYS);

	if (k->count > 0)
		s |= I8042_STS_OBF | (k->queue_aux[k->head] ? I8042_STS_AUXB : 0);
	return s;
}

static void i8042_read(void *dev, uint64_t off, void *data, unsigned size)
{
	struct i8042 *k = dev;
	uint8_t *out = data;

	for (unsigned i = 0; i < size; i++) {
		if (off >= I8042_LEN || i >= I8042_LEN - off)
			out[i] = 0xff;
		else if (off + i == I8042_OFF_DATA)
			out[i] = i8042_read_data(k);
		else if (off + i == I8042_OFF_CMD)
			out[i] = i8042_status(k);
		else
			out[i] = 0xff;
	}
}

static void i8042_request_reset(struct i8042 *k, const char *why)
{
	log_debug("i8042: %s, resetting", why);
	devhost_event(&k->host, DEVHOST_EV_RESET, 0);
}

/* A byte for the keyboard itself: it has no keys, but answers like one. */
static void i8042_kbd_byte(struct i8042 *k, uint8_t v)
{
	switch (v) {
	case 0xEE: /* echo */
		i8042_push(k, 0xEE, false);
		break;
	case 0xF2: /* identify: MF2 keyboard */
		i8042_push(k, 0xFA, false);
		i8042_push(k, 0xAB, false);
		i8042_push(k, 0x83, false);
		break;
	case 0xFF: /* reset, self test passed */
		i8042_push(k, 0xFA, false);
		i8042_push(k, 0xAA, false);
		break;
	default: /* every other command and parameter byte: ACK */
		i8042_push(k, 0xFA, false);
		break;
	}
}

static void i8042_write_data(struct i8042 *k, uint8_t v)
{
	enum i8042_pending p = k->pending;

	k->pending = I8042_PEND_NONE;
	switch (p) {
	case I8042_PEND_NONE:
		k->ram[0] &= (uint8_t)~I8042_CB_KBD_DIS; /* sending enables the port */
		i8042_kbd_byte(k, v);
		break;
	case I8042_PEND_RAM:
		k->ram[k->ram_index] = v;
		i8042_set_irq(k, i8042_irq_wanted(k));
		break;
	case I8042_PEND_OUTPORT:
		k->outport = v;
		if (!(v & I8042_OUTPORT_RESET))
			i8042_request_reset(k, "output port reset line pulled low");
		break;
	case I8042_PEND_KBD_ECHO:
		i8042_push(k, v, false);
		break;
	case I8042_PEND_AUX_ECHO:
		i8042_push(k, v, true);
		break;
	case I8042_PEND_AUX_SEND:
		break; /* no mouse behind the aux port */
	}
}

/* Commands that toggle a command byte bit or answer with a byte. */
static bool i8042_simple_cmd(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case 0xA7: k->ram[0] |= I8042_CB_AUX_DIS; return true;
	case 0xA8: k->ram[0] &= (uint8_t)~I8042_CB_AUX_DIS; return true;
	case 0xAD: k->ram[0] |= I8042_CB_KBD_DIS; return true;
	case 0xAE: k->ram[0] &= (uint8_t)~I8042_CB_KBD_DIS; return true;
	case 0xA9: /* aux interface test: OK */
	case 0xAB: /* keyboard interface test: OK */
		i8042_push(k, 0x00, false);
		return true;
	case 0xAA: /* controller self test: passed, system flag set */
		k->ram[0] |= I8042_CB_SYS;
		i8042_push(k, 0x55, false);
		return true;
	case 0xD0:
		i8042_push(k, k->outport, false);
		return true;
	case 0xD1: k->pending = I8042_PEND_OUTPORT; return true;
	case 0xD2: k->pending = I8042_PEND_KBD_ECHO; return true;
	case 0xD3: k->pending = I8042_PEND_AUX_ECHO; return true;
	case 0xD4: k->pending = I8042_PEND_AUX_SEND; return true;
	default:
		return false;
	}
}

static void i8042_write_cmd(struct i8042 *k, uint8_t cmd)
{
	k->pending = I8042_PEND_NONE;
	if (cmd >= 0x20 && cmd < 0x40) {
		i8042_push(k, k->ram[cmd - 0x20], false);
	} else if (cmd >= 0x60 && cmd < 0x80) {
		k->pending = I8042_PEND_RAM;
		k->ram_index = (uint8_t)(cmd - 0x60);
	} else if (cmd >= 0xF0) {
		/* Pulse the output lines whose bit is 0; line 0 is CPU reset. */
		if (!(cmd & I8042_OUTPORT_RESET))
			i8042_request_reset(k, "reset line pulsed");
	} else if (!i8042_simple_cmd(k, cmd)) {
		log_debug("i8042: command 0x%02x ignored", cmd);
	}
}

static void i8042_write(void *dev, uint64_t off, const void *data, unsigned size)
{
	struct i8042 *k = dev;
	const uint8_t *in = data;

	for (unsigned i = 0; i < size; i++) {
		if (off >= I8042_LEN || i >= I8042_LEN - off)
			break;
		if (off + i == I8042_OFF_DATA) {
			k->last_write_cmd = 0;
			i8042_write_data(k, in[i]);
		} else if (off + i == I8042_OFF_CMD) {
			k->last_write_cmd = I8042_STS_CMD;
			i8042_write_cmd(k, in[i]);
		}
	}
}

static const struct vdev_ops i8042_ops = {
	.name = "i8042",
	.read = i8042_read,
	.write = i8042_write,
};

/* --- create / reset / destroy --- */
static void i8042_reset_locked(struct i8042 *k)
{
	memset(k->ram, 0, sizeof(k->ram));
	k->ram[0] = I8042_CB_DEFAULT;
	k->outport = I8042_OUTPORT_DEFAULT;
	k->last_write_cmd = 0;
	k->last_read = 0;
	k->pending = I8042_PEND_NONE;
	k->head = 0;
	k->count = 0;
	i8042_set_irq(k, false);
}

static int i8042_create(const struct hw_args *args, void **state)
{
	struct i8042 *k;
	int ret;

	if (!args || !args->host || !args->host->ops) {
		log_error("i8042: created without a device host");
		return -EINVAL;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	ret = pthread_mutex_init(&k->lock, NULL);
	if (ret) {
		free(k);
		return -ret;
	}
	k->host = *args->host;
	k->irq = args->irq;
	i8042_reset_locked(k);
	*state = k;
	return 0;
}

static void i8042_reset(void *state)
{
	struct i8042 *k = state;

	pthread_mutex_lock(&k->lock);
	i8042_reset_locked(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_destroy(void *state)
{
	struct i8042 *k = state;

	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static pthread_mutex_t *i8042_lock(void *state)
{
	return &((struct i8042 *)state)->lock;
}

const struct hw_desc i8042_desc = {
	.name = "i8042",
	.ops = &i8042_ops,
	.create = i8042_create,
	.reset = i8042_reset,
	.destroy = i8042_destroy,
	.lock = i8042_lock,
};
