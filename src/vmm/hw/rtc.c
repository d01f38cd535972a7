/* rtc: MC146818-style CMOS real-time clock at ports 0x70 (index; bit 7 is the
 * NMI mask, ignored) and 0x71 (data); 128 bytes of CMOS.
 * The time registers (0x00 sec, 0x02 min, 0x04 hour, 0x06 weekday, 0x07 day,
 * 0x08 month, 0x09 year, 0x32 century) are computed at read time from the
 * host wall clock (UTC) plus an offset the guest sets by writing them, in the
 * format register B selects (DM bit 2: binary/BCD; bit 1: 24/12 hour). While
 * register B's SET bit is on, the clock is frozen at the value being written;
 * clearing SET lets it run again from there. Register A never shows an update
 * in progress (UIP reads 0); register C reports UF (a second has passed since
 * C was last read) and clears on read; register D reads VRT (battery good).
 * Alarms and periodic/update interrupts are not implemented: the IRQ 8 line
 * is never raised (alarm registers are plain storage). Bytes 0x0E-0x7F other
 * than the century are NVRAM and survive a platform reset, as does the clock. */
#include "hw.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

/* --- registers --- */
#define RTC_LEN 2          /* 0x70 index, 0x71 data */
#define RTC_OFF_INDEX 0
#define RTC_OFF_DATA 1
#define RTC_INDEX_MASK 0x7f /* bit 7: NMI disable, ignored */
#define RTC_CMOS_SIZE 128

#define RTC_SEC 0x00
#define RTC_SEC_ALARM 0x01
#define RTC_MIN 0x02
#define RTC_MIN_ALARM 0x03
#define RTC_HOUR 0x04
#define RTC_HOUR_ALARM 0x05
#define RTC_WDAY 0x06
#define RTC_MDAY 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0A
#define RTC_REG_B 0x0B
#define RTC_REG_C 0x0C
#define RTC_REG_D 0x0D
#define RTC_CENTURY 0x32

#define RTC_A_UIP 0x80
#define RTC_A_DEFAULT 0x26 /* 32.768 kHz time base, 1024 Hz periodic rate */
#define RTC_B_SET 0x80
#define RTC_B_UIE 0x10
#define RTC_B_DM_BINARY 0x04
#define RTC_B_24H 0x02
#define RTC_B_DEFAULT RTC_B_24H /* 24 h, BCD */
#define RTC_B_RESET_CLEAR 0xF8 /* SET, PIE, AIE, UIE, SQWE */
#define RTC_C_IRQF 0x80
#define RTC_C_UF 0x10
#define RTC_D_VRT 0x80
#define RTC_HOUR_PM 0x80

#define RTC_NS_PER_SEC 1000000000LL

/* --- state --- */
struct rtc {
	pthread_mutex_t lock;
	struct devhost host;
	uint8_t index;
	uint8_t cmos[RTC_CMOS_SIZE]; /* time registers here are unused */
	int64_t offset_s;   /* guest time minus host wall clock, seconds */
	bool frozen;        /* SET is on: time is `held` */
	struct tm held;     /* the clock while frozen (UTC, normalised) */
	int64_t c_read_s;   /* guest second at the last register C read */
};

static int64_t rtc_host_seconds(struct rtc *r)
{
	int64_t ns = devhost_wallclock_ns(&r->host);
	int64_t s = ns / RTC_NS_PER_SEC;

	return ns % RTC_NS_PER_SEC < 0 ? s - 1 : s; /* floor, before 1970 too */
}

/* The guest's current time, broken down; false if out of range. */
static bool rtc_now(struct rtc *r, struct tm *tm)
{
	time_t t;

	if (r->frozen) {
		*tm = r->held;
		return true;
	}
	t = (time_t)(rtc_host_seconds(r) + r->offset_s);
	return gmtime_r(&t, tm) != NULL;
}

static uint8_t rtc_to_bcd(unsigned v)
{
	return (uint8_t)(((v / 10 % 10) << 4) | (v % 10));
}

/* Decode a written value in the current format; -1 when invalid. */
static int rtc_from_reg(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & RTC_B_DM_BINARY)
		return v;
	if ((v & 0x0f) > 9 || (v >> 4) > 9)
		return -1;
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t rtc_to_reg(const struct rtc *r, unsigned v)
{
	return r->cmos[RTC_REG_B] & RTC_B_DM_BINARY ? (uint8_t)v : rtc_to_bcd(v);
}

static uint8_t rtc_hour_reg(const struct rtc *r, int hour)
{
	int h12;

	if (r->cmos[RTC_REG_B] & RTC_B_24H)
		return rtc_to_reg(r, (unsigned)hour);
	h12 = hour % 12 == 0 ? 12 : hour % 12;
	return (uint8_t)(rtc_to_reg(r, (unsigned)h12) | (hour >= 12 ? RTC_HOUR_PM : 0));
}

/* Value of a time register for the guest's current time. */
static uint8_t rtc_time_reg(struct rtc *r, uint8_t idx)
{
	struct tm tm;
	int year;

	if (!rtc_now(r, &tm))
		return 0;
	year = tm.tm_year + 1900;
	switch (idx) {
	case RTC_SEC:
		return rtc_to_reg(r, (unsigned)tm.tm_sec);
	case RTC_MIN:
		return rtc_to_reg(r, (unsigned)tm.tm_min);
	case RTC_HOUR:
		return rtc_hour_reg(r, tm.tm_hour);
	case RTC_WDAY:
		return rtc_to_reg(r, (unsigned)tm.tm_wday + 1); /* Sunday = 1 */
	case RTC_MDAY:
		return rtc_to_reg(r, (unsigned)tm.tm_mday);
	case RTC_MONTH:
		return rtc_to_reg(r, (unsigned)tm.tm_mon + 1);
	case RTC_YEAR:
		return rtc_to_reg(r, (unsigned)(year % 100));
	default: /* RTC_CENTURY */
		return rtc_to_reg(r, (unsigned)(year / 100 % 100));
	}
}

static bool rtc_is_time_reg(uint8_t idx)
{
	return idx == RTC_SEC || idx == RTC_MIN || idx == RTC_HOUR || idx == RTC_WDAY ||
	       idx == RTC_MDAY || idx == RTC_MONTH || idx == RTC_YEAR || idx == RTC_CENTURY;
}

/* Register C: UF when the guest clock passed a second boundary since the last
 * read (never while SET holds the clock); reading clears the flags. */
static uint8_t rtc_read_c(struct rtc *r)
{
	int64_t now;
	uint8_t c = 0;

	if (r->frozen)
		return 0;
	now = rtc_host_seconds(r) + r->offset_s;
	if (now != r->c_read_s)
		c |= RTC_C_UF;
	if ((c & RTC_C_UF) && (r->cmos[RTC_REG_B] & RTC_B_UIE))
		c |= RTC_C_IRQF;
	r->c_read_s = now;
	return c;
}

/* --- register handlers --- */
static uint8_t rtc_read_data(struct rtc *r)
{
	uint8_t idx = r->index;

	if (rtc_is_time_reg(idx))
		return rtc_time_reg(r, idx);
	switch (idx) {
	case RTC_REG_A:
		return r->cmos[RTC_REG_A] & (uint8_t)~RTC_A_UIP;
	case RTC_REG_C:
		return rtc_read_c(r);
	case RTC_REG_D:
		return RTC_D_VRT;
	default:
		return r->cmos[idx];
	}
}

static void rtc_read(void *dev, uint64_t off, void *data, unsigned size)
{
	struct rtc *r = dev;
	uint8_t *out = data;

	for (unsigned i = 0; i < size; i++) {
		uint64_t o = off + i;

		if (off >= RTC_LEN || i >= RTC_LEN - off)
			out[i] = 0xff;
		else if (o == RTC_OFF_INDEX)
			out[i] = 0xff; /* the index register is write-only */
		else
			out[i] = rtc_read_data(r);
	}
}

static int rtc_decode_hour(const struct rtc *r, uint8_t v)
{
	int n = rtc_from_reg(r, v & (uint8_t)~RTC_HOUR_PM);

	if (r->cmos[RTC_REG_B] & RTC_B_24H)
		return n <= 23 ? n : -1;
	if (n < 1 || n > 12)
		return -1;
	return n % 12 + (v & RTC_HOUR_PM ? 12 : 0);
}

/* Decode a written time register to its struct tm value; -1 if invalid. */
static int rtc_decode_field(const struct rtc *r, uint8_t idx, uint8_t v)
{
	int n;

	if (idx == RTC_HOUR)
		return rtc_decode_hour(r, v);
	n = rtc_from_reg(r, v); /* -1 stays -1 below */
	switch (idx) {
	case RTC_SEC:
	case RTC_MIN:
		return n <= 59 ? n : -1;
	case RTC_WDAY:
		return n >= 1 && n <= 7 ? n : -1;
	case RTC_MDAY:
		return n >= 1 && n <= 31 ? n : -1;
	case RTC_MONTH:
		return n >= 1 && n <= 12 ? n - 1 : -1;
	default: /* RTC_YEAR, RTC_CENTURY */
		return n <= 99 ? n : -1;
	}
}

/* Set one field of the held (frozen) time from a guest value; false if invalid. */
static bool rtc_set_field(struct rtc *r, uint8_t idx, uint8_t v)
{
	int n = rtc_decode_field(r, idx, v);
	struct tm *t = &r->held;

	if (n < 0)
		return false;
	switch (idx) {
	case RTC_SEC:
		t->tm_sec = n;
		break;
	case RTC_MIN:
		t->tm_min = n;
		break;
	case RTC_HOUR:
		t->tm_hour = n;
		break;
	case RTC_MDAY:
		t->tm_mday = n;
		break;
	case RTC_MONTH:
		t->tm_mon = n;
		break;
	case RTC_YEAR:
		t->tm_year = (t->tm_year + 1900) / 100 * 100 + n - 1900;
		break;
	case RTC_CENTURY:
		t->tm_year = n * 100 + (t->tm_year + 1900) % 100 - 1900;
		break;
	default:
		break; /* the weekday follows from the date */
	}
	return true;
}

static void rtc_freeze(struct rtc *r)
{
	struct tm tm;

	if (r->frozen || !rtc_now(r, &tm))
		return;
	r->held = tm;
	r->frozen = true;
}

/* Let the clock run again from the held time (normalised, e.g. Feb 31). */
static void rtc_unfreeze(struct rtc *r)
{
	struct tm tm = r->held;
	time_t t;

	if (!r->frozen)
		return;
	r->frozen = false;
	tm.tm_isdst = 0;
	t = timegm(&tm);
	if (t == (time_t)-1 && tm.tm_year != 69) {
		log_debug("rtc: guest set an unrepresentable time, ignored");
		return;
	}
	r->offset_s = (int64_t)t - rtc_host_seconds(r);
	r->c_read_s = (int64_t)t;
}

static void rtc_write_time(struct rtc *r, uint8_t idx, uint8_t v)
{
	bool was_frozen = r->frozen;

	rtc_freeze(r);
	if (!r->frozen)
		return;
	if (rtc_set_field(r, idx, v)) {
		struct tm tm = r->held;

		tm.tm_isdst = 0;
		(void)timegm(&tm); /* only to derive the weekday of the new date */
		r->held.tm_wday = tm.tm_wday;
	} else {
		log_debug("rtc: invalid value 0x%02x for time register 0x%02x, ignored", v, idx);
	}
	if (!was_frozen)
		rtc_unfreeze(r); /* written without SET: takes effect at once */
}

static void rtc_write_b(struct rtc *r, uint8_t v)
{
	r->cmos[RTC_REG_B] = v;
	if (v & RTC_B_SET)
		rtc_freeze(r);
	else
		rtc_unfreeze(r);
}

static void rtc_write_data(struct rtc *r, uint8_t v)
{
	uint8_t idx = r->index;

	if (rtc_is_time_reg(idx)) {
		rtc_write_time(r, idx, v);
		return;
	}
	switch (idx) {
	case RTC_REG_A:
		r->cmos[RTC_REG_A] = v & (uint8_t)~RTC_A_UIP;
		break;
	case RTC_REG_B:
		rtc_write_b(r, v);
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		r->cmos[idx] = v;
		break;
	}
}

static void rtc_write(void *dev, uint64_t off, const void *data, unsigned size)
{
	struct rtc *r = dev;
	const uint8_t *in = data;

	for (unsigned i = 0; i < size; i++) {
		if (off >= RTC_LEN || i >= RTC_LEN - off)
			break;
		if (off + i == RTC_OFF_INDEX)
			r->index = in[i] & RTC_INDEX_MASK;
		else
			rtc_write_data(r, in[i]);
	}
}

static const struct vdev_ops rtc_ops = {
	.name = "rtc",
	.read = rtc_read,
	.write = rtc_write,
};

/* --- create / reset / destroy --- */
static int rtc_create(const struct hw_args *args, void **state)
{
	struct rtc *r;
	int ret;

	if (!args || !args->host || !args->host->ops) {
		log_error("rtc: created without a device host");
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = pthread_mutex_init(&r->lock, NULL);
	if (ret) {
		free(r);
		return -ret;
	}
	r->host = *args->host;
	r->cmos[RTC_REG_A] = RTC_A_DEFAULT;
	r->cmos[RTC_REG_B] = RTC_B_DEFAULT;
	r->c_read_s = rtc_host_seconds(r);
	*state = r;
	return 0;
}

/* Like the chip's RESET pin: interrupt enables, SET and flags clear; the
 * clock, data formats, register A and NVRAM are battery-backed and stay. */
static void rtc_reset(void *state)
{
	struct rtc *r = state;

	pthread_mutex_lock(&r->lock);
	rtc_unfreeze(r);
	r->cmos[RTC_REG_B] &= (uint8_t)~RTC_B_RESET_CLEAR;
	r->index = 0;
	r->c_read_s = rtc_host_seconds(r) + r->offset_s;
	pthread_mutex_unlock(&r->lock);
}

static void rtc_destroy(void *state)
{
	struct rtc *r = state;

	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static pthread_mutex_t *rtc_lock(void *state)
{
	return &((struct rtc *)state)->lock;
}

const struct hw_desc rtc_desc = {
	.name = "rtc",
	.ops = &rtc_ops,
	.create = rtc_create,
	.reset = rtc_reset,
	.destroy = rtc_destroy,
	.lock = rtc_lock,
};
