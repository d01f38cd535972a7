/* acpipm: the ACPI fixed-hardware power-management block (one port range).
 *   +0  PM1a_EVT_BLK: PM1_STS (16 bits, write 1 to clear), PM1_EN (16 bits)
 *   +4  PM1a_CNT_BLK: PM1_CNT (16 bits): SCI_EN always reads 1 (the machine
 *       starts in ACPI mode, there is no SMI_CMD), SLP_TYP 12:10, SLP_EN 13
 *   +8  PM_TMR: 24-bit free-running counter at 3.579545 MHz (32-bit read)
 * Any access size at any offset is handled byte by byte over these registers.
 * The SCI (args->irq) is level-triggered: high while (PM1_STS & PM1_EN) != 0.
 * Writing SLP_EN with SLP_TYP equal to the S5 value (args->param) requests
 * poweroff. Other sleep states are not supported: the request is ignored and
 * WAK_STS is set at once (as if the machine woke immediately) so a guest that
 * waits for the wake never spins forever. TMR_STS (timer carry) is never set,
 * so TMR_EN has no effect; the FADT should not advertise a timer interrupt. */
#include "hw.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* --- registers --- */
#define ACPIPM_LEN 12
#define ACPIPM_STS 0 /* register offsets */
#define ACPIPM_EN 2
#define ACPIPM_CNT 4
#define ACPIPM_TMR 8
#define ACPIPM_TMR_LEN 4

#define ACPIPM_STS_TMR 0x0001
#define ACPIPM_STS_PWRBTN 0x0100
#define ACPIPM_STS_WAK 0x8000
#define ACPIPM_EN_MASK 0x0721  /* TMR, GBL, PWRBTN, SLPBTN, RTC enables */
#define ACPIPM_CNT_SCI_EN 0x0001
#define ACPIPM_CNT_MASK 0x1C02 /* stored: BM_RLD, SLP_TYP */
#define ACPIPM_CNT_SLP_EN 0x2000
#define ACPIPM_SLP_TYP_SHIFT 10
#define ACPIPM_SLP_TYP_MASK 0x7

#define ACPIPM_TMR_HZ 3579545ULL
#define ACPIPM_TMR_MASK 0xFFFFFFu
#define ACPIPM_NS_PER_SEC 1000000000ULL

/* --- state --- */
struct acpipm {
	pthread_mutex_t lock;
	struct devhost host;
	unsigned irq;
	unsigned s5_slp_typ;
	uint16_t sts, en, cnt;
	uint64_t tmr_base_ns; /* clock value at which PM_TMR read 0 */
	bool sci_level;
	bool warned_sleep;
};

/* Update the SCI line; call after every change of STS or EN. */
static void acpipm_update_sci(struct acpipm *p)
{
	bool level = (p->sts & p->en & ACPIPM_EN_MASK) != 0;

	if (level == p->sci_level)
		return;
	p->sci_level = level;
	devhost_irq_set(&p->host, p->irq, level);
}

/* 24-bit PM timer value; split so it cannot overflow for centuries of uptime. */
static uint32_t acpipm_timer(struct acpipm *p)
{
	uint64_t now = devhost_clock_ns(&p->host);
	uint64_t ns = now > p->tmr_base_ns ? now - p->tmr_base_ns : 0;
	uint64_t ticks = ns / ACPIPM_NS_PER_SEC * ACPIPM_TMR_HZ +
			 ns % ACPIPM_NS_PER_SEC * ACPIPM_TMR_HZ / ACPIPM_NS_PER_SEC;

	return (uint32_t)(ticks & ACPIPM_TMR_MASK);
}

/* --- register handlers --- */
static uint8_t acpipm_read_byte(struct acpipm *p, uint64_t off, uint32_t tmr)
{
	uint16_t reg;

	switch (off & ~1ULL) {
	case ACPIPM_STS:
		reg = p->sts;
		break;
	case ACPIPM_EN:
		reg = p->en;
		break;
	case ACPIPM_CNT:
		reg = (uint16_t)(p->cnt | ACPIPM_CNT_SCI_EN);
		break;
	case ACPIPM_TMR:
	case ACPIPM_TMR + 2:
		return (uint8_t)(tmr >> (8 * (off - ACPIPM_TMR)));
	default:
		return 0xff;
	}
	return (uint8_t)(reg >> (8 * (off & 1)));
}

static void acpipm_read(void *dev, uint64_t off, void *data, unsigned size)
{
	struct acpipm *p = dev;
	uint8_t *out = data;
	uint32_t tmr = 0;

	/* Sample the timer once so a multi-byte read is consistent. */
	if (off < ACPIPM_TMR + ACPIPM_TMR_LEN && off + size > ACPIPM_TMR)
		tmr = acpipm_timer(p);
	for (unsigned i = 0; i < size; i++)
		out[i] = off < ACPIPM_LEN && i < ACPIPM_LEN - off ?
			 acpipm_read_byte(p, off + i, tmr) : 0xff;
}

static void acpipm_sleep(struct acpipm *p, unsigned slp_typ)
{
	if (slp_typ == p->s5_slp_typ) {
		log_debug("acpi-pm: guest entered S5, powering off");
		devhost_event(&p->host, DEVHOST_EV_POWEROFF, 0);
		return;
	}
	if (!p->warned_sleep)
		log_debug("acpi-pm: sleep type %u not supported, waking at once", slp_typ);
	p->warned_sleep = true;
	p->sts |= ACPIPM_STS_WAK;
}

/* Write the bytes selected by mask (0x00ff, 0xff00 or 0xffff) of one register. */
static void acpipm_write_reg(struct acpipm *p, unsigned reg, uint16_t val, uint16_t mask)
{
	uint16_t cnt;

	switch (reg) {
	case ACPIPM_STS:
		p->sts &= (uint16_t)~(val & mask);
		break;
	case ACPIPM_EN:
		p->en = (uint16_t)(((p->en & ~mask) | (val & mask)) & ACPIPM_EN_MASK);
		break;
	case ACPIPM_CNT:
		cnt = (uint16_t)((p->cnt & ~mask) | (val & mask));
		p->cnt = cnt & ACPIPM_CNT_MASK;
		if (cnt & mask & ACPIPM_CNT_SLP_EN)
			acpipm_sleep(p, (cnt >> ACPIPM_SLP_TYP_SHIFT) & ACPIPM_SLP_TYP_MASK);
		break;
	default:
		break; /* PM_TMR and padding are read-only */
	}
}

static void acpipm_write(void *dev, uint64_t off, const void *data, unsigned size)
{
	struct acpipm *p = dev;
	const uint8_t *in = data;
	uint16_t val[ACPIPM_LEN / 2] = { 0 }, mask[ACPIPM_LEN / 2] = { 0 };

	/* Gather the bytes per 16-bit register, then apply each register once. */
	for (unsigned i = 0; i < size; i++) {
		uint64_t o;

		if (off >= ACPIPM_LEN || i >= ACPIPM_LEN - off)
			break;
		o = off + i;
		val[o / 2] |= (uint16_t)(in[i] << (8 * (o & 1)));
		mask[o / 2] |= (uint16_t)(0xff << (8 * (o & 1)));
	}
	for (unsigned r = 0; r < ACPIPM_LEN / 2; r++)
		if (mask[r])
			acpipm_write_reg(p, r * 2, val[r], mask[r]);
	acpipm_update_sci(p);
}

static const struct vdev_ops acpipm_ops = {
	.name = "acpi-pm",
	.read = acpipm_read,
	.write = acpipm_write,
};

/* --- other callbacks --- */
void acpipm_power_button(void *acpipm_state)
{
	struct acpipm *p = acpipm_state;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->sts |= ACPIPM_STS_PWRBTN;
	acpipm_update_sci(p);
	pthread_mutex_unlock(&p->lock);
}

/* --- create / reset / destroy --- */
static void acpipm_reset_locked(struct acpipm *p)
{
	p->sts = 0;
	p->en = 0;
	p->cnt = 0;
	p->tmr_base_ns = devhost_clock_ns(&p->host);
	acpipm_update_sci(p);
}

static int acpipm_create(const struct hw_args *args, void **state)
{
	struct acpipm *p;
	int ret;

	if (!args || !args->host || !args->host->ops) {
		log_error("acpi-pm: created without a device host");
		return -EINVAL;
	}
	if (args->param > ACPIPM_SLP_TYP_MASK) {
		log_error("acpi-pm: S5 sleep type %u does not fit SLP_TYP (0-7)", args->param);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	ret = pthread_mutex_init(&p->lock, NULL);
	if (ret) {
		free(p);
		return -ret;
	}
	p->host = *args->host;
	p->irq = args->irq;
	p->s5_slp_typ = args->param;
	acpipm_reset_locked(p);
	*state = p;
	return 0;
}

static void acpipm_reset(void *state)
{
	struct acpipm *p = state;

	pthread_mutex_lock(&p->lock);
	acpipm_reset_locked(p);
	pthread_mutex_unlock(&p->lock);
}

static void acpipm_destroy(void *state)
{
	struct acpipm *p = state;

	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static pthread_mutex_t *acpipm_lock(void *state)
{
	return &((struct acpipm *)state)->lock;
}

const struct hw_desc acpipm_desc = {
	.name = "acpi-pm",
	.ops = &acpipm_ops,
	.create = acpipm_create,
	.reset = acpipm_reset,
	.destroy = acpipm_destroy,
	.lock = acpipm_lock,
};
