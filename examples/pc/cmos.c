// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * MC146818-style CMOS RTC and NVRAM.  SeaBIOS reads the memory sizes from
 * here when fw_cfg is absent, the CPU count from 0x5f, and the time for the
 * BDA; its int 15h/86h wait relies on the periodic interrupt (IRQ 8).  The
 * model only keeps the flags: the caller of cmos_periodic_tick() raises
 * IRQ 8 itself (through an irqfd, so ticks cost no host round trip), and
 * the irqfd's resampling lowers the line when the guest acknowledges it.
 */
#include <errno.h>
#include <string.h>

#include "pc.h"
#include "snapshot.h"

enum {
	RTC_SECONDS = 0x00,
	RTC_MINUTES = 0x02,
	RTC_HOURS = 0x04,
	RTC_DAY_OF_WEEK = 0x06,
	RTC_DAY_OF_MONTH = 0x07,
	RTC_MONTH = 0x08,
	RTC_YEAR = 0x09,
	RTC_REG_A = 0x0a,
	RTC_REG_B = 0x0b,
	RTC_REG_C = 0x0c,
	RTC_REG_D = 0x0d,
	CMOS_FLOPPY = 0x10,
	CMOS_EQUIPMENT = 0x14,
	CMOS_BASEMEM_LO = 0x15,
	CMOS_BASEMEM_HI = 0x16,
	CMOS_EXTMEM_LO = 0x17,
	CMOS_EXTMEM_HI = 0x18,
	CMOS_CHECKSUM_HI = 0x2e,
	CMOS_CHECKSUM_LO = 0x2f,
	CMOS_EXTMEM1_LO = 0x30,
	CMOS_EXTMEM1_HI = 0x31,
	RTC_CENTURY = 0x32,
	CMOS_EXTMEM2_LO = 0x34,
	CMOS_EXTMEM2_HI = 0x35,
	CMOS_BOOTFLAG1 = 0x38,
	CMOS_BOOTFLAG2 = 0x3d,
	CMOS_HIGHMEM_LO = 0x5b,
	CMOS_HIGHMEM_MID = 0x5c,
	CMOS_HIGHMEM_HI = 0x5d,
	CMOS_SMP_COUNT = 0x5f,
};

#define REG_A_UIP 0x80
#define REG_B_SET 0x80
#define REG_B_PIE 0x40
#define REG_B_DM_BINARY 0x04
#define REG_B_24H 0x02
#define REG_C_IRQF 0x80
#define REG_C_PF 0x40
#define REG_D_VRT 0x80

static uint8_t to_bcd(unsigned int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned int from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

static bool is_time_reg(uint8_t i)
{
	return i == RTC_SECONDS || i == RTC_MINUTES || i == RTC_HOURS || i == RTC_DAY_OF_WEEK ||
	       i == RTC_DAY_OF_MONTH || i == RTC_MONTH || i == RTC_YEAR || i == RTC_CENTURY;
}

static time_t cmos_now(const struct cmos *c)
{
	struct timespec ts;

	if (c->fixed_now)
		return c->fixed_now + (time_t)c->offset;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + (time_t)c->offset;
}

static uint8_t cmos_encode(const struct cmos *c, unsigned int v)
{
	return (c->ram[RTC_REG_B] & REG_B_DM_BINARY) ? (uint8_t)v : to_bcd(v);
}

static unsigned int cmos_decode(const struct cmos *c, uint8_t v)
{
	return (c->ram[RTC_REG_B] & REG_B_DM_BINARY) ? v : from_bcd(v);
}

static uint8_t cmos_encode_hour(const struct cmos *c, unsigned int h)
{
	uint8_t pm = 0;

	if (c->ram[RTC_REG_B] & REG_B_24H)
		return cmos_encode(c, h);
	if (h >= 12) {
		pm = 0x80;
		h -= 12;
	}
	return cmos_encode(c, h ? h : 12) | pm;
}

static unsigned int cmos_decode_hour(const struct cmos *c, uint8_t v)
{
	unsigned int h;

	if (c->ram[RTC_REG_B] & REG_B_24H)
		return cmos_decode(c, v);
	h = cmos_decode(c, v & 0x7f) % 12;
	return (v & 0x80) ? h + 12 : h;
}

/* Loads the time registers from the clock, in the format register B asks for. */
static void cmos_latch_time(struct cmos *c)
{
	time_t now = cmos_now(c);
	struct tm tm;

	gmtime_r(&now, &tm);
	c->ram[RTC_SECONDS] = cmos_encode(c, (unsigned int)tm.tm_sec);
	c->ram[RTC_MINUTES] = cmos_encode(c, (unsigned int)tm.tm_min);
	c->ram[RTC_HOURS] = cmos_encode_hour(c, (unsigned int)tm.tm_hour);
	c->ram[RTC_DAY_OF_WEEK] = cmos_encode(c, (unsigned int)tm.tm_wday + 1);
	c->ram[RTC_DAY_OF_MONTH] = cmos_encode(c, (unsigned int)tm.tm_mday);
	c->ram[RTC_MONTH] = cmos_encode(c, (unsigned int)tm.tm_mon + 1);
	c->ram[RTC_YEAR] = cmos_encode(c, (unsigned int)(tm.tm_year % 100));
	c->ram[RTC_CENTURY] = cmos_encode(c, (unsigned int)(1900 + tm.tm_year) / 100);
}

/* The guest finished setting the clock (SET went from 1 to 0): keep the new time running. */
static void cmos_commit_time(struct cmos *c)
{
	struct tm tm = { 0 };
	struct timespec ts;
	time_t host, guest;

	tm.tm_sec = (int)cmos_decode(c, c->ram[RTC_SECONDS]);
	tm.tm_min = (int)cmos_decode(c, c->ram[RTC_MINUTES]);
	tm.tm_hour = (int)cmos_decode_hour(c, c->ram[RTC_HOURS]);
	tm.tm_mday = (int)cmos_decode(c, c->ram[RTC_DAY_OF_MONTH]);
	tm.tm_mon = (int)cmos_decode(c, c->ram[RTC_MONTH]) - 1;
	tm.tm_year = (int)(cmos_decode(c, c->ram[RTC_CENTURY]) * 100 +
			   cmos_decode(c, c->ram[RTC_YEAR])) - 1900;
	guest = timegm(&tm);
	if (guest == (time_t)-1)
		return;
	if (c->fixed_now) {
		host = c->fixed_now;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		host = ts.tv_sec;
	}
	c->offset = (int64_t)guest - (int64_t)host;
}

static void cmos_set_checksum(struct cmos *c)
{
	unsigned int sum = 0, i;

	for (i = 0x10; i < CMOS_CHECKSUM_HI; i++)
		sum += c->ram[i];
	c->ram[CMOS_CHECKSUM_HI] = (uint8_t)(sum >> 8);
	c->ram[CMOS_CHECKSUM_LO] = (uint8_t)sum;
}

void cmos_init(struct cmos *c, const struct pc_env *env, uint64_t ram_below_4g,
	       uint64_t ram_above_4g, unsigned int ncpus, bool have_disk)
{
	uint64_t kib, units;

	memset(c, 0, sizeof(*c));
	c->env = env;
	c->ram[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz periodic rate */
	c->ram[RTC_REG_B] = REG_B_24H;
	c->ram[RTC_REG_D] = REG_D_VRT;
	c->ram[CMOS_FLOPPY] = 0; /* no floppy drives */
	c->ram[CMOS_EQUIPMENT] = 0x02; /* math coprocessor; EGA/VGA display class */
	c->ram[CMOS_BASEMEM_LO] = 640 & 0xff;
	c->ram[CMOS_BASEMEM_HI] = 640 >> 8;

	/* KiB between 1 MiB and 64 MiB, then 64 KiB units between 16 MiB and 4 GiB. */
	kib = ram_below_4g > (1 << 20) ? (ram_below_4g - (1 << 20)) / 1024 : 0;
	if (kib > 0xffff)
		kib = 0xffff;
	c->ram[CMOS_EXTMEM_LO] = c->ram[CMOS_EXTMEM1_LO] = (uint8_t)kib;
	c->ram[CMOS_EXTMEM_HI] = c->ram[CMOS_EXTMEM1_HI] = (uint8_t)(kib >> 8);
	units = ram_below_4g > (16 << 20) ? (ram_below_4g - (16 << 20)) >> 16 : 0;
	if (units > 0xffff)
		units = 0xffff;
	c->ram[CMOS_EXTMEM2_LO] = (uint8_t)units;
	c->ram[CMOS_EXTMEM2_HI] = (uint8_t)(units >> 8);
	units = ram_above_4g >> 16;
	if (units > 0xffffff)
		units = 0xffffff;
	c->ram[CMOS_HIGHMEM_LO] = (uint8_t)units;
	c->ram[CMOS_HIGHMEM_MID] = (uint8_t)(units >> 8);
	c->ram[CMOS_HIGHMEM_HI] = (uint8_t)(units >> 16);
	c->ram[CMOS_SMP_COUNT] = (uint8_t)(ncpus ? ncpus - 1 : 0);
	/* Boot order for firmware that reads it from CMOS: hard disk first. */
	c->ram[CMOS_BOOTFLAG2] = have_disk ? 0x02 : 0x00;
	c->ram[CMOS_BOOTFLAG1] = 0x00;
	cmos_set_checksum(c);
}

static uint8_t cmos_read(struct cmos *c, uint8_t i)
{
	uint8_t v;

	if (i >= CMOS_SIZE)
		return 0xff;
	if (is_time_reg(i) && !(c->ram[RTC_REG_B] & REG_B_SET))
		cmos_latch_time(c);
	switch (i) {
	case RTC_REG_A:
		/* Never report an update in progress: reads are always coherent here. */
		return c->ram[i] & (uint8_t)~REG_A_UIP;
	case RTC_REG_C:
		v = c->ram[i];
		c->ram[i] = 0;
		return v;
	default:
		return c->ram[i];
	}
}

static void cmos_write(struct cmos *c, uint8_t i, uint8_t v)
{
	uint8_t old;

	if (i >= CMOS_SIZE)
		return;
	switch (i) {
	case RTC_REG_A:
		c->ram[i] = v & (uint8_t)~REG_A_UIP;
		break;
	case RTC_REG_B:
		old = c->ram[i];
		c->ram[i] = v;
		/* Entering SET freezes the registers at the current time, in the new format. */
		if ((v & REG_B_SET) && !(old & REG_B_SET))
			cmos_latch_time(c);
		if (!(v & REG_B_SET) && (old & REG_B_SET))
			cmos_commit_time(c);
		if (!(v & REG_B_PIE))
			c->ram[RTC_REG_C] &= (uint8_t)~REG_C_IRQF;
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		break; /* read-only */
	default:
		if (is_time_reg(i) && !(c->ram[RTC_REG_B] & REG_B_SET)) {
			/* A lone write outside SET: apply it as a one-register clock change. */
			cmos_latch_time(c);
			c->ram[i] = v;
			cmos_commit_time(c);
			break;
		}
		c->ram[i] = v;
		break;
	}
}

static uint8_t cmos_read8(void *dev, uint16_t port)
{
	struct cmos *c = dev;

	return (port & 1) ? cmos_read(c, c->index) : 0xff;
}

static void cmos_write8(void *dev, uint16_t port, uint8_t val)
{
	struct cmos *c = dev;

	if (port & 1)
		cmos_write(c, c->index, val);
	else
		c->index = val & 0x7f; /* bit 7 masks NMI, which we do not model */
}

void cmos_io(struct cmos *c, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	pc_io_bytewise(c, port, data, len, is_write, cmos_read8, cmos_write8);
}

unsigned int cmos_periodic_hz(const struct cmos *c)
{
	unsigned int rate = c->ram[RTC_REG_A] & 0x0f;

	if (!(c->ram[RTC_REG_B] & REG_B_PIE) || rate == 0)
		return 0;
	if (rate <= 2)
		rate += 7;
	return 32768u >> (rate - 1);
}

bool cmos_periodic_tick(struct cmos *c)
{
	c->ram[RTC_REG_C] |= REG_C_PF;
	if (!(c->ram[RTC_REG_B] & REG_B_PIE))
		return false;
	c->ram[RTC_REG_C] |= REG_C_IRQF;
	return true;
}

/* ---- snapshot (section "CMOS") ---- */

void cmos_save(const struct cmos *c, struct snap_out *o)
{
	snap_put_u8(o, c->index);
	snap_put(o, c->ram, sizeof(c->ram));
	snap_put_u64(o, (uint64_t)c->offset);
}

int cmos_restore(struct cmos *c, struct snap_in *in)
{
	struct cmos t = *c;

	t.index = snap_get_u8(in);
	snap_get(in, t.ram, sizeof(t.ram));
	/* The guest's clock stays this far from the host's (it follows real time). */
	t.offset = (int64_t)snap_get_u64(in);
	if (!snap_in_ok(in) || t.index >= CMOS_SIZE)
		return -EINVAL;
	*c = t;
	return 0;
}
