// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * One ATA hard disk as master on the primary channel, PIO only.  Commands
 * complete at once (BSY is never seen).  The slave position is empty: its
 * status reads 0, which is how firmware tells that nobody answers, while
 * the shared task file still reads back what was written to it.
 *
 * Data moves through the 16-bit data port in any access size: string I/O
 * ("rep insw") arrives in pieces of whatever length KVM chose, so the
 * sector buffer is a byte stream with a position.
 */
#include <stdlib.h>
#include <string.h>

#include "pc.h"

enum {
	ATA_DATA = 0,
	ATA_ERROR = 1, /* read; features on write */
	ATA_NSECT = 2,
	ATA_LBAL = 3,
	ATA_LBAM = 4,
	ATA_LBAH = 5,
	ATA_SELECT = 6,
	ATA_STATUS = 7, /* read; command on write */
};

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DSC 0x10
#define ST_DRDY 0x40
#define ST_BSY 0x80

#define ERR_ABRT 0x04
#define ERR_IDNF 0x10

#define SEL_DEV1 0x10
#define SEL_LBA 0x40

#define CTL_NIEN 0x02
#define CTL_SRST 0x04
#define CTL_HOB 0x80

static bool ata_dev1(const struct ata *a)
{
	return (a->select & SEL_DEV1) != 0;
}

static void ata_update_irq(struct ata *a)
{
	bool level = a->irq_pending && !(a->control & CTL_NIEN);

	if (level != a->irq_level) {
		a->irq_level = level;
		a->env->set_irq(a->env->opaque, 14, level);
	}
}

static void ata_raise(struct ata *a)
{
	a->irq_pending = true;
	ata_update_irq(a);
}

static void ata_signature(struct ata *a)
{
	/* The register values a non-packet device leaves after reset or diagnostics. */
	a->nsect = 1;
	a->lbal = 1;
	a->lbam = 0;
	a->lbah = 0;
	a->select &= (uint8_t)~0x0f;
	a->error = 0x01; /* device 0 passed, device 1 absent */
}

void ata_init(struct ata *a, const struct pc_env *env, uint8_t *disk, uint64_t nsectors)
{
	uint64_t cyls;

	memset(a, 0, sizeof(*a));
	a->env = env;
	a->disk = disk;
	a->nsectors = nsectors;
	a->heads = 16;
	a->spt = 63;
	cyls = nsectors / (16 * 63);
	a->cyls = (uint16_t)(cyls > 16383 ? 16383 : cyls ? cyls : 1);
	a->status = ST_DRDY | ST_DSC;
	a->select = 0xa0;
	ata_signature(a);
}

static void ata_string(uint16_t *w, unsigned int words, const char *s)
{
	unsigned int i;
	size_t n = strlen(s);

	/* ATA strings put the first character of each pair in the high byte. */
	for (i = 0; i < words; i++) {
		char hi = 2 * i < n ? s[2 * i] : ' ';
		char lo = 2 * i + 1 < n ? s[2 * i + 1] : ' ';

		w[i] = (uint16_t)((uint8_t)hi << 8 | (uint8_t)lo);
	}
}

static void ata_identify(struct ata *a)
{
	uint16_t w[256] = { 0 };
	uint64_t chs = (uint64_t)a->cyls * a->heads * a->spt;
	uint64_t lba28 = a->nsectors < 0x0fffffff ? a->nsectors : 0x0fffffff;
	unsigned int i;

	if (chs > a->nsectors)
		chs = a->nsectors;
	w[0] = 0x0040; /* fixed disk */
	w[47] = 0x8000 | ATA_MAX_MULTIPLE;
	w[59] = a->multiple ? (uint16_t)(0x0100 | a->multiple) : 0;
	w[1] = a->cyls;
	w[3] = a->heads;
	w[6] = a->spt;
	ata_string(&w[10], 10, "PLUGVM0001");
	ata_string(&w[23], 4, "0.1");
	ata_string(&w[27], 20, "plugvm pc example disk");
	w[49] = 0x0200; /* LBA */
	w[53] = 0x0001; /* words 54-58 valid */
	w[54] = a->cyls;
	w[55] = a->heads;
	w[56] = a->spt;
	w[57] = (uint16_t)chs;
	w[58] = (uint16_t)(chs >> 16);
	w[60] = (uint16_t)lba28;
	w[61] = (uint16_t)(lba28 >> 16);
	w[80] = 0x007e; /* ATA-1 to ATA-6 */
	w[83] = 0x4400; /* LBA48 supported */
	w[84] = 0x4000;
	w[86] = 0x0400; /* LBA48 enabled */
	w[87] = 0x4000;
	w[93] = 0x6001; /* device 0, 80-wire cable */
	for (i = 0; i < 4; i++)
		w[100 + i] = (uint16_t)(a->nsectors >> (16 * i));
	for (i = 0; i < 256; i++) {
		a->buf[2 * i] = (uint8_t)w[i];
		a->buf[2 * i + 1] = (uint8_t)(w[i] >> 8);
	}
}

static void ata_abort(struct ata *a, uint8_t err)
{
	a->data_in = a->data_out = false;
	a->error = err;
	a->status = ST_DRDY | ST_DSC | ST_ERR;
	ata_raise(a);
}

static void ata_done(struct ata *a)
{
	a->data_in = a->data_out = false;
	a->status = ST_DRDY | ST_DSC;
	ata_raise(a);
}

/* The next sector into the buffer; a new DRQ block interrupts, a sector within one does not. */
static void ata_load(struct ata *a, bool new_block)
{
	memcpy(a->buf, a->disk + a->lba * ATA_SECTOR, ATA_SECTOR);
	a->pos = 0;
	a->status = ST_DRDY | ST_DSC | ST_DRQ;
	if (new_block)
		ata_raise(a);
}

/* Starts a DRQ block of up to a->block sectors, the first of which is the current one. */
static void ata_start_block(struct ata *a)
{
	a->block_left = a->remaining < a->block - 1 ? a->remaining : a->block - 1;
}

/* Decodes the task file into a sector range; false (after aborting) if it is out of bounds. */
static bool ata_range(struct ata *a, bool lba48, uint64_t *lba, uint32_t *count)
{
	uint64_t l;
	uint32_t n;

	if (lba48) {
		l = (uint64_t)a->hob_lbah << 40 | (uint64_t)a->hob_lbam << 32 |
		    (uint64_t)a->hob_lbal << 24 | (uint64_t)a->lbah << 16 |
		    (uint64_t)a->lbam << 8 | a->lbal;
		n = (uint32_t)a->hob_nsect << 8 | a->nsect;
		if (!n)
			n = 65536;
	} else if (a->select & SEL_LBA) {
		l = (uint64_t)(a->select & 0x0f) << 24 | (uint64_t)a->lbah << 16 |
		    (uint64_t)a->lbam << 8 | a->lbal;
		n = a->nsect ? a->nsect : 256;
	} else {
		unsigned int cyl = (unsigned int)a->lbah << 8 | a->lbam;
		unsigned int head = a->select & 0x0f, sector = a->lbal;

		if (!sector || sector > a->spt || head >= a->heads) {
			ata_abort(a, ERR_IDNF | ERR_ABRT);
			return false;
		}
		l = ((uint64_t)cyl * a->heads + head) * a->spt + sector - 1;
		n = a->nsect ? a->nsect : 256;
	}
	if (l >= a->nsectors || n > a->nsectors - l) {
		ata_abort(a, ERR_IDNF);
		return false;
	}
	*lba = l;
	*count = n;
	return true;
}

/* A PIO data phase of `count` sectors from `lba`, in blocks of a->block sectors. */
static void ata_transfer(struct ata *a, bool in, uint64_t lba, uint32_t count)
{
	a->lba = lba;
	a->remaining = count - 1;
	ata_start_block(a);
	if (in) {
		a->data_in = true;
		ata_load(a, true);
		return;
	}
	a->pos = 0;
	a->data_out = true;
	/* The first DRQ of a PIO write comes without an interrupt. */
	a->status = ST_DRDY | ST_DSC | ST_DRQ;
}

static void ata_command(struct ata *a, uint8_t cmd)
{
	uint64_t lba;
	uint32_t count;

	if (ata_dev1(a))
		return; /* nobody is there to take it */
	a->irq_pending = false;
	a->error = 0;
	a->data_in = a->data_out = false;
	switch (cmd) {
	case 0xec: /* IDENTIFY DEVICE */
		ata_identify(a);
		a->pos = 0;
		a->remaining = 0;
		a->data_in = true;
		a->status = ST_DRDY | ST_DSC | ST_DRQ;
		ata_raise(a);
		break;
	case 0xc4: /* READ MULTIPLE */
	case 0x29: /* READ MULTIPLE EXT */
	case 0xc5: /* WRITE MULTIPLE */
	case 0x39: /* WRITE MULTIPLE EXT */
		if (!a->multiple) {
			ata_abort(a, ERR_ABRT); /* SET MULTIPLE MODE came first, or not at all */
			break;
		}
		a->block = a->multiple;
		if (!ata_range(a, cmd == 0x29 || cmd == 0x39, &lba, &count))
			break;
		ata_transfer(a, cmd == 0xc4 || cmd == 0x29, lba, count);
		break;
	case 0x20: /* READ SECTORS */
	case 0x21:
	case 0x24: /* READ SECTORS EXT */
	case 0x30: /* WRITE SECTORS */
	case 0x31:
	case 0x34: /* WRITE SECTORS EXT */
		a->block = 1;
		if (!ata_range(a, cmd == 0x24 || cmd == 0x34, &lba, &count))
			break;
		ata_transfer(a, cmd < 0x30, lba, count);
		break;
	case 0xc6: /* SET MULTIPLE MODE */
		if (a->nsect > ATA_MAX_MULTIPLE || (a->nsect & (a->nsect - 1))) {
			ata_abort(a, ERR_ABRT);
			break;
		}
		a->multiple = a->nsect;
		ata_done(a);
		break;
	case 0x40: /* READ VERIFY SECTORS */
	case 0x41:
	case 0x42:
		if (ata_range(a, cmd == 0x42, &lba, &count))
			ata_done(a);
		break;
	case 0x90: /* EXECUTE DEVICE DIAGNOSTIC */
		ata_signature(a);
		a->status = ST_DRDY | ST_DSC;
		ata_raise(a);
		break;
	case 0xe5: /* CHECK POWER MODE: active */
		a->nsect = 0xff;
		ata_done(a);
		break;
	case 0x91: /* INITIALIZE DEVICE PARAMETERS */
	case 0xef: /* SET FEATURES */
	case 0xe0: /* STANDBY IMMEDIATE and friends */
	case 0xe1:
	case 0xe2:
	case 0xe3:
	case 0xe7: /* FLUSH CACHE */
	case 0xea: /* FLUSH CACHE EXT */
	case 0x70: /* SEEK */
		ata_done(a);
		break;
	default:
		if (cmd >= 0x10 && cmd <= 0x1f) { /* RECALIBRATE */
			ata_done(a);
			break;
		}
		/* Includes IDENTIFY PACKET DEVICE: this is not an ATAPI device. */
		ata_abort(a, ERR_ABRT);
		break;
	}
}

static void ata_data(struct ata *a, uint8_t *data, uint32_t len, bool is_write)
{
	uint32_t i = 0, n;
	bool new_block;

	while (i < len) {
		if (is_write ? !a->data_out : !a->data_in) {
			if (!is_write)
				memset(data + i, 0, len - i);
			return;
		}
		n = ATA_SECTOR - a->pos;
		if (n > len - i)
			n = len - i;
		if (is_write)
			memcpy(a->buf + a->pos, data + i, n);
		else
			memcpy(data + i, a->buf + a->pos, n);
		a->pos += n;
		i += n;
		if (a->pos < ATA_SECTOR)
			continue;
		if (is_write) {
			memcpy(a->disk + a->lba * ATA_SECTOR, a->buf, ATA_SECTOR);
			if (a->sector_written &&
			    a->sector_written(a->sector_written_opaque, a->lba, a->buf) < 0) {
				ata_abort(a, ERR_ABRT);
				continue;
			}
		}
		if (!a->remaining) {
			a->data_in = a->data_out = false;
			a->status = ST_DRDY | ST_DSC;
			if (is_write)
				ata_raise(a);
			continue;
		}
		a->remaining--;
		a->lba++;
		new_block = !a->block_left;
		if (new_block)
			ata_start_block(a);
		else
			a->block_left--;
		if (is_write) {
			a->pos = 0;
			/* Each written block is acknowledged with an interrupt. */
			if (new_block)
				ata_raise(a);
		} else {
			ata_load(a, new_block);
		}
	}
}

static void ata_reset(struct ata *a)
{
	a->data_in = a->data_out = false;
	a->irq_pending = false;
	ata_signature(a);
	a->status = ST_DRDY | ST_DSC;
}

static uint8_t ata_read8(void *dev, uint16_t port)
{
	struct ata *a = dev;
	bool hob = a->control & CTL_HOB;

	if (port == 0x3f6)
		return ata_dev1(a) ? 0 : a->status;
	switch (port - 0x1f0) {
	case ATA_ERROR:
		return a->error;
	case ATA_NSECT:
		return hob ? a->hob_nsect : a->nsect;
	case ATA_LBAL:
		return hob ? a->hob_lbal : a->lbal;
	case ATA_LBAM:
		return hob ? a->hob_lbam : a->lbam;
	case ATA_LBAH:
		return hob ? a->hob_lbah : a->lbah;
	case ATA_SELECT:
		return a->select;
	case ATA_STATUS:
		if (ata_dev1(a))
			return 0;
		a->irq_pending = false;
		ata_update_irq(a);
		return a->status;
	}
	return 0xff;
}

static void ata_write8(void *dev, uint16_t port, uint8_t val)
{
	struct ata *a = dev;

	if (port == 0x3f6) {
		uint8_t old = a->control;

		a->control = val;
		if (val & CTL_SRST) {
			a->status = ST_BSY;
			a->data_in = a->data_out = false;
		} else if (old & CTL_SRST) {
			ata_reset(a);
		}
		ata_update_irq(a);
		return;
	}
	/* Any task file write clears HOB, and each register keeps its previous byte. */
	a->control &= (uint8_t)~CTL_HOB;
	switch (port - 0x1f0) {
	case ATA_ERROR:
		a->feature = val;
		break;
	case ATA_NSECT:
		a->hob_nsect = a->nsect;
		a->nsect = val;
		break;
	case ATA_LBAL:
		a->hob_lbal = a->lbal;
		a->lbal = val;
		break;
	case ATA_LBAM:
		a->hob_lbam = a->lbam;
		a->lbam = val;
		break;
	case ATA_LBAH:
		a->hob_lbah = a->lbah;
		a->lbah = val;
		break;
	case ATA_SELECT:
		a->select = val;
		ata_update_irq(a);
		break;
	case ATA_STATUS:
		ata_command(a, val);
		break;
	}
}

void ata_io(struct ata *a, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	if (port == 0x1f0) {
		ata_data(a, data, len, is_write);
		return;
	}
	pc_io_bytewise(a, port, data, len, is_write, ata_read8, ata_write8);
}
