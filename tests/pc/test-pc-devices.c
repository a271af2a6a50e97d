// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's device models, driven the way SeaBIOS drives them,
 * without KVM: a recording pc_env stands in for the plugin.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pc.h"

struct rec {
	bool irq[16];
	unsigned int irq_changes[16];
	unsigned int pam_calls;
	uint8_t pam[7];
	unsigned int resets;
	char out[PC_CONSOLE_MAX][256];
	size_t out_len[PC_CONSOLE_MAX];
};

static struct rec rec;

static void rec_set_irq(void *opaque, unsigned int irq, bool level)
{
	(void)opaque;
	assert_true(irq < 16);
	/* Models must report changes only. */
	assert_int_not_equal(rec.irq[irq], level);
	rec.irq[irq] = level;
	rec.irq_changes[irq]++;
}

static void rec_pam(void *opaque, const uint8_t pam[7])
{
	(void)opaque;
	rec.pam_calls++;
	memcpy(rec.pam, pam, 7);
}

static void rec_reset(void *opaque, const char *why)
{
	(void)opaque;
	assert_non_null(why);
	rec.resets++;
}

static void rec_console(void *opaque, enum pc_console_source src, const uint8_t *buf, size_t len)
{
	(void)opaque;
	assert_true(rec.out_len[src] + len < sizeof(rec.out[src]));
	memcpy(rec.out[src] + rec.out_len[src], buf, len);
	rec.out_len[src] += len;
}

static const struct pc_env env = {
	.set_irq = rec_set_irq,
	.pam_changed = rec_pam,
	.reset = rec_reset,
	.console = rec_console,
};

static int setup(void **state)
{
	(void)state;
	memset(&rec, 0, sizeof(rec));
	return 0;
}

typedef void io_fn(void *dev, uint16_t port, uint8_t *data, uint32_t len, bool is_write);

static uint8_t in8(void *dev, io_fn *io, uint16_t port)
{
	uint8_t v = 0x5a;

	io(dev, port, &v, 1, false);
	return v;
}

static void out8(void *dev, io_fn *io, uint16_t port, uint8_t v)
{
	io(dev, port, &v, 1, true);
}

static uint32_t in32(void *dev, io_fn *io, uint16_t port)
{
	uint8_t b[4];

	io(dev, port, b, 4, false);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void out32(void *dev, io_fn *io, uint16_t port, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	io(dev, port, b, 4, true);
}

#define CMOS_IO ((io_fn *)cmos_io)
#define UART_IO ((io_fn *)uart_io)
#define PS2_IO ((io_fn *)ps2_io)
#define PCI_IO ((io_fn *)pci_io)
#define FWCFG_IO ((io_fn *)fwcfg_io)
#define ATA_IO ((io_fn *)ata_io)
#define PORT92_IO ((io_fn *)port92_io)

/* ---- CMOS ---- */

static uint8_t cmos_get(struct cmos *c, uint8_t idx)
{
	out8(c, CMOS_IO, 0x70, idx);
	return in8(c, CMOS_IO, 0x71);
}

static void cmos_put(struct cmos *c, uint8_t idx, uint8_t v)
{
	out8(c, CMOS_IO, 0x70, idx);
	out8(c, CMOS_IO, 0x71, v);
}

static void test_cmos_memory_sizes(void **state)
{
	struct cmos c;

	(void)state;
	/* 3 GiB below 4 GiB, 1 GiB above, 4 cpus. */
	cmos_init(&c, &env, 3ull << 30, 1ull << 30, 4, false);
	assert_int_equal(cmos_get(&c, 0x15) | cmos_get(&c, 0x16) << 8, 640);
	/* Saturates at 0xffff KiB above 1 MiB. */
	assert_int_equal(cmos_get(&c, 0x30) | cmos_get(&c, 0x31) << 8, 0xffff);
	assert_int_equal(cmos_get(&c, 0x17) | cmos_get(&c, 0x18) << 8, 0xffff);
	/* 64 KiB units above 16 MiB: (3 GiB - 16 MiB) / 64 KiB. */
	assert_int_equal(cmos_get(&c, 0x34) | cmos_get(&c, 0x35) << 8,
			 ((3u << 30) - (16u << 20)) >> 16);
	assert_int_equal(cmos_get(&c, 0x5b) | cmos_get(&c, 0x5c) << 8 | cmos_get(&c, 0x5d) << 16,
			 (1u << 30) >> 16);
	assert_int_equal(cmos_get(&c, 0x5f), 3);
	assert_int_equal(cmos_get(&c, 0x10), 0); /* no floppies */
	assert_int_equal(cmos_get(&c, 0x0d), 0x80);

	/* 32 MiB fits the KiB registers; 128 MiB needs the 64 KiB units (RamSize 0x08000000). */
	cmos_init(&c, &env, 32 << 20, 0, 1, false);
	assert_int_equal(cmos_get(&c, 0x30) | cmos_get(&c, 0x31) << 8, 31 * 1024);
	cmos_init(&c, &env, 128 << 20, 0, 1, false);
	assert_int_equal(cmos_get(&c, 0x30) | cmos_get(&c, 0x31) << 8, 0xffff);
	assert_int_equal(((cmos_get(&c, 0x34) | cmos_get(&c, 0x35) << 8) << 16) + (16 << 20),
			 128 << 20);
	assert_int_equal(cmos_get(&c, 0x5f), 0);
	/* Index bit 7 is the NMI mask, not part of the address. */
	out8(&c, CMOS_IO, 0x70, 0x80 | 0x5f);
	assert_int_equal(in8(&c, CMOS_IO, 0x71), 0);
}

static void test_cmos_clock(void **state)
{
	struct cmos c;

	(void)state;
	cmos_init(&c, &env, 64 << 20, 0, 1, false);
	c.fixed_now = 1700000000; /* 2023-11-14 22:13:20 UTC, a Tuesday */
	assert_int_equal(cmos_get(&c, 0x00), 0x20);
	assert_int_equal(cmos_get(&c, 0x02), 0x13);
	assert_int_equal(cmos_get(&c, 0x04), 0x22);
	assert_int_equal(cmos_get(&c, 0x06), 3);
	assert_int_equal(cmos_get(&c, 0x07), 0x14);
	assert_int_equal(cmos_get(&c, 0x08), 0x11);
	assert_int_equal(cmos_get(&c, 0x09), 0x23);
	assert_int_equal(cmos_get(&c, 0x32), 0x20);
	assert_int_equal(cmos_get(&c, 0x0a) & 0x80, 0); /* never "update in progress" */

	/* 12-hour binary mode. */
	cmos_put(&c, 0x0b, 0x04);
	assert_int_equal(cmos_get(&c, 0x04), 0x80 | 10);
	assert_int_equal(cmos_get(&c, 0x00), 20);

	/* Set the clock one hour ahead (24h BCD) and see it keep running from there. */
	cmos_put(&c, 0x0b, 0x82);
	cmos_put(&c, 0x04, 0x23);
	cmos_put(&c, 0x0b, 0x02);
	assert_int_equal(c.offset, 3600);
	c.fixed_now += 61;
	assert_int_equal(cmos_get(&c, 0x04), 0x23);
	assert_int_equal(cmos_get(&c, 0x02), 0x14);
	assert_int_equal(cmos_get(&c, 0x00), 0x21);
}

static void test_cmos_periodic(void **state)
{
	struct cmos c;

	(void)state;
	cmos_init(&c, &env, 64 << 20, 0, 1, false);
	assert_int_equal(cmos_periodic_hz(&c), 0);
	assert_false(cmos_periodic_tick(&c));
	assert_int_equal(cmos_get(&c, 0x0c), 0x40); /* PF without IRQF */
	cmos_put(&c, 0x0b, 0x42);                   /* PIE, as SeaBIOS's rtc_use() */
	assert_int_equal(cmos_periodic_hz(&c), 1024);
	assert_true(cmos_periodic_tick(&c));
	assert_int_equal(cmos_get(&c, 0x0c), 0xc0);
	assert_int_equal(cmos_get(&c, 0x0c), 0x00); /* reading C clears it */
	cmos_put(&c, 0x0a, 0x2f);
	assert_int_equal(cmos_periodic_hz(&c), 2);
	cmos_put(&c, 0x0a, 0x21);
	assert_int_equal(cmos_periodic_hz(&c), 256);
}

/* ---- UART ---- */

static void test_uart_probe_and_output(void **state)
{
	struct uart u;
	const char *s = "hi\n";

	(void)state;
	uart_init(&u, &env);
	/* SeaBIOS's detect_serial(): IER reads back, IIR shows THRI or nothing. */
	out8(&u, UART_IO, 0x3f9, 0x02);
	assert_int_equal(in8(&u, UART_IO, 0x3f9), 0x02);
	assert_int_equal(in8(&u, UART_IO, 0x3fa) & 0x3f, 0x02);
	assert_int_equal(in8(&u, UART_IO, 0x3fa) & 0x3f, 0x01); /* THRI acknowledged */
	out8(&u, UART_IO, 0x3f9, 0x00);

	while (*s)
		out8(&u, UART_IO, 0x3f8, (uint8_t)*s++);
	assert_int_equal(rec.out_len[PC_CONSOLE_UART], 3);
	assert_memory_equal(rec.out[PC_CONSOLE_UART], "hi\n", 3);
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x60, 0x60);

	/* Divisor latch hides THR and IER. */
	out8(&u, UART_IO, 0x3fb, 0x83);
	out8(&u, UART_IO, 0x3f8, 0x01);
	out8(&u, UART_IO, 0x3f9, 0x00);
	assert_int_equal(in8(&u, UART_IO, 0x3f8), 0x01);
	out8(&u, UART_IO, 0x3fb, 0x03);
	assert_int_equal(rec.out_len[PC_CONSOLE_UART], 3);
	out8(&u, UART_IO, 0x3ff, 0xa5);
	assert_int_equal(in8(&u, UART_IO, 0x3ff), 0xa5);
}

static void test_uart_loopback_and_irq(void **state)
{
	struct uart u;

	(void)state;
	uart_init(&u, &env);
	/* Interrupts reach the PIC only with OUT2 set. */
	out8(&u, UART_IO, 0x3f9, 0x02);
	assert_false(rec.irq[4]);
	out8(&u, UART_IO, 0x3fc, 0x08);
	assert_true(rec.irq[4]);
	assert_int_equal(in8(&u, UART_IO, 0x3fa) & 0x0f, 0x02);
	assert_false(rec.irq[4]);
	out8(&u, UART_IO, 0x3f9, 0x00);

	/* Loopback: what is sent is received, and modem lines follow MCR. */
	out8(&u, UART_IO, 0x3fc, 0x10 | 0x0a);
	out8(&u, UART_IO, 0x3f8, 0x42);
	assert_int_equal(rec.out_len[PC_CONSOLE_UART], 0);
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x01, 0x01);
	assert_int_equal(in8(&u, UART_IO, 0x3f8), 0x42);
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x01, 0x00);
	assert_int_equal(in8(&u, UART_IO, 0x3fe) & 0xf0, 0x80 | 0x10);

	/* Received data raises IRQ 4 when enabled. */
	out8(&u, UART_IO, 0x3fc, 0x08);
	out8(&u, UART_IO, 0x3f9, 0x01);
	assert_int_equal(uart_receive(&u, (const uint8_t *)"x", 1), 1);
	assert_true(rec.irq[4]);
	assert_int_equal(in8(&u, UART_IO, 0x3fa) & 0x0f, 0x04);
	assert_int_equal(in8(&u, UART_IO, 0x3f8), 'x');
	assert_false(rec.irq[4]);
}

static unsigned int space_calls;

static void count_space(void *opaque)
{
	(void)opaque;
	space_calls++;
}

static void test_uart_receiver_fifo(void **state)
{
	struct uart u;
	uint8_t buf[20];
	unsigned int i;

	(void)state;
	uart_init(&u, &env);
	u.rx_space = count_space;
	space_calls = 0;
	out8(&u, UART_IO, 0x3fc, 0x08); /* OUT2 */
	out8(&u, UART_IO, 0x3f9, 0x01); /* receive interrupt */

	/* No FIFO: one holding register, so the host's bytes wait for the guest. */
	assert_int_equal(uart_rx_room(&u), 1);
	assert_int_equal(uart_receive(&u, (const uint8_t *)"ab", 2), 1);
	assert_true(rec.irq[4]);
	assert_int_equal(in8(&u, UART_IO, 0x3fa), 0x04);
	assert_int_equal(in8(&u, UART_IO, 0x3f8), 'a');
	assert_int_equal(space_calls, 1);
	assert_false(rec.irq[4]);
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x01, 0);

	/* FIFO with trigger level 8: below it, only a character timeout interrupts. */
	out8(&u, UART_IO, 0x3fa, 0x81);
	assert_int_equal(in8(&u, UART_IO, 0x3fa) & 0xc0, 0xc0);
	assert_int_equal(uart_rx_room(&u), 16);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)('A' + i);
	assert_int_equal(uart_receive(&u, buf, 5), 5);
	assert_false(rec.irq[4]);
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x01, 0x01); /* polling still sees it */
	uart_rx_idle(&u);
	assert_true(rec.irq[4]);
	assert_int_equal(in8(&u, UART_IO, 0x3fa), 0xcc);
	assert_int_equal(in8(&u, UART_IO, 0x3f8), 'A');
	assert_false(rec.irq[4]); /* the read restarted the timeout */
	uart_rx_idle(&u);
	assert_true(rec.irq[4]);
	for (i = 1; i < 5; i++)
		assert_int_equal(in8(&u, UART_IO, 0x3f8), 'A' + i);
	assert_false(rec.irq[4]);
	uart_rx_idle(&u); /* nothing waits: no timeout */
	assert_false(rec.irq[4]);

	/* At the trigger level the data-available interrupt comes at once; 16 fit. */
	assert_int_equal(uart_receive(&u, buf, 7), 7);
	assert_false(rec.irq[4]);
	assert_int_equal(uart_receive(&u, buf + 7, 13), 9);
	assert_true(rec.irq[4]);
	assert_int_equal(in8(&u, UART_IO, 0x3fa), 0xc4);
	assert_int_equal(uart_rx_room(&u), 0);
	for (i = 0; i < 16; i++)
		assert_int_equal(in8(&u, UART_IO, 0x3f8), 'A' + i);
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x01, 0);

	/* The clear bit empties the FIFO. */
	assert_int_equal(uart_receive(&u, buf, 3), 3);
	out8(&u, UART_IO, 0x3fa, 0x83);
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x01, 0);
	assert_int_equal(uart_rx_room(&u), 16);
}

static void test_uart_overrun(void **state)
{
	struct uart u;
	unsigned int i;

	(void)state;
	uart_init(&u, &env);
	out8(&u, UART_IO, 0x3f9, 0x05); /* receive and line status interrupts */
	out8(&u, UART_IO, 0x3fc, 0x10 | 0x08);
	/* Loopback: the line is disconnected, so the host's input must wait. */
	assert_int_equal(uart_rx_room(&u), 0);
	assert_int_equal(uart_receive(&u, (const uint8_t *)"z", 1), 0);
	/* Without FIFO a second byte overruns and replaces the first. */
	out8(&u, UART_IO, 0x3f8, '1');
	out8(&u, UART_IO, 0x3f8, '2');
	assert_int_equal(in8(&u, UART_IO, 0x3fa) & 0x0f, 0x06);
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x03, 0x03);
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x03, 0x01); /* OE read clears it */
	assert_int_equal(in8(&u, UART_IO, 0x3fa) & 0x0f, 0x04);
	assert_int_equal(in8(&u, UART_IO, 0x3f8), '2');

	/* With the FIFO the 17th byte is lost and the 16 stay. */
	out8(&u, UART_IO, 0x3fa, 0x01);
	for (i = 0; i < 17; i++)
		out8(&u, UART_IO, 0x3f8, (uint8_t)('a' + i));
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x02, 0x02);
	for (i = 0; i < 16; i++)
		assert_int_equal(in8(&u, UART_IO, 0x3f8), 'a' + i);
	assert_int_equal(in8(&u, UART_IO, 0x3fd) & 0x03, 0);
}

/* ---- fw_cfg DMA and the Linux layout ---- */

static uint8_t fake_ram[0x3000];

static void *fake_guest_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	(void)opaque;
	if (gpa >= sizeof(fake_ram) || len > sizeof(fake_ram) - gpa)
		return NULL;
	return fake_ram + gpa;
}

static void put_be(uint8_t *p, uint64_t v, unsigned int n)
{
	while (n--) {
		p[n] = (uint8_t)v;
		v >>= 8;
	}
}

/* Writes a descriptor at 0x100 and its address to the DMA ports as SeaBIOS does. */
static uint32_t dma(struct fwcfg *f, uint32_t control, uint32_t length, uint64_t addr)
{
	uint8_t b[4];

	put_be(fake_ram + 0x100, control, 4);
	put_be(fake_ram + 0x104, length, 4);
	put_be(fake_ram + 0x108, addr, 8);
	put_be(b, 0, 4);
	fwcfg_dma_io(f, 0x514, b, 4, true);
	put_be(b, 0x100, 4);
	fwcfg_dma_io(f, 0x518, b, 4, true);
	return (uint32_t)fake_ram[0x100] << 24 | fake_ram[0x101] << 16 | fake_ram[0x102] << 8 |
	       fake_ram[0x103];
}

static void test_fwcfg_dma(void **state)
{
	struct fwcfg f;
	uint8_t sig[8];

	(void)state;
	fwcfg_init(&f);
	assert_int_equal(fwcfg_add(&f, FWCFG_KERNEL_DATA, "0123456789", 10), 0);
	/* Without guest memory there is no DMA: the ports float. */
	fwcfg_dma_io(&f, 0x514, sig, 4, false);
	assert_int_equal(sig[0], 0xff);
	f.guest_ptr = fake_guest_ptr;
	fwcfg_dma_io(&f, 0x514, sig, 4, false);
	fwcfg_dma_io(&f, 0x518, sig + 4, 4, false);
	assert_memory_equal(sig, "QEMU CFG", 8);

	memset(fake_ram, 0xee, sizeof(fake_ram));
	/* Select and read 4, skip 2, read past the end (zero-filled). */
	assert_int_equal(dma(&f, (uint32_t)FWCFG_KERNEL_DATA << 16 | 0x08 | 0x02, 4, 0x200), 0);
	assert_memory_equal(fake_ram + 0x200, "0123", 4);
	assert_int_equal(dma(&f, 0x04, 2, 0), 0);
	assert_int_equal(dma(&f, 0x02, 6, 0x200), 0);
	assert_memory_equal(fake_ram + 0x200, "6789\0\0", 6);
	assert_int_equal(fake_ram[0x206], 0xee);
	/* Outside RAM, and writes: the error bit. */
	assert_int_equal(dma(&f, 0x02, 16, sizeof(fake_ram) - 8), 0x01);
	assert_int_equal(dma(&f, 0x10, 1, 0x200), 0x01);
	fwcfg_free(&f);
}

static void test_linux_layout(void **state)
{
	static uint8_t img[0x4000];
	struct linux_layout l;
	char err[200];

	(void)state;
	memset(img, 0, sizeof(img));
	assert_int_equal(linux_prepare(img, sizeof(img), 0, 0, 128u << 20, &l, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not a bzImage"));
	/* A protocol 2.15 header: 3 setup sectors, loads high, 2 MiB init_size. */
	img[0x1f1] = 3;
	img[0x1fe] = 0x55;
	img[0x1ff] = 0xaa;
	memcpy(img + 0x202, "HdrS", 4);
	img[0x206] = 0x0f;
	img[0x207] = 0x02;
	img[0x211] = 0x01;
	memcpy(img + 0x22c, "\xff\xff\xff\x7f", 4); /* initrd_addr_max 0x7fffffff */
	memcpy(img + 0x238, "\xff\x07\x00\x00", 4); /* cmdline_size 2047 */
	memcpy(img + 0x260, "\x00\x00\x20\x00", 4); /* init_size 2 MiB */
	assert_int_equal(linux_prepare(img, sizeof(img), 4096, 10, 128u << 20, &l, err,
				       sizeof(err)),
			 0);
	assert_int_equal(l.setup_size, 4 * 512);
	assert_int_equal(l.kernel_size, sizeof(img) - 4 * 512);
	assert_int_equal(l.setup_addr, 0x10000);
	assert_int_equal(l.kernel_addr, 0x100000);
	assert_int_equal(l.cmdline_addr, 0x20000);
	/* The initrd goes as high as it can below the firmware's reserve, page aligned. */
	assert_int_equal(l.initrd_addr, (128u << 20) - 0x100000 - 4096);
	assert_int_equal(img[0x210], 0xff);
	assert_int_equal(img[0x211], 0x81);
	assert_int_equal(img[0x224] | img[0x225] << 8, 0xfe00);
	assert_memory_equal(img + 0x228, "\x00\x00\x02\x00", 4);
	assert_int_equal(img[0x218] | img[0x219] << 8 | img[0x21a] << 16 | img[0x21b] << 24,
			 l.initrd_addr);
	/* Too long a command line, an initrd or kernel that does not fit. */
	assert_int_equal(linux_prepare(img, sizeof(img), 0, 2048, 128u << 20, &l, err,
				       sizeof(err)),
			 -E2BIG);
	assert_int_equal(linux_prepare(img, sizeof(img), 125u << 20, 0, 128u << 20, &l, err,
				       sizeof(err)),
			 -E2BIG);
	assert_non_null(strstr(err, "do not fit"));
	assert_int_equal(linux_prepare(img, sizeof(img), 0, 0, 3u << 20, &l, err, sizeof(err)),
			 -E2BIG);
	/* A zImage (not loaded high) is refused. */
	img[0x211] = 0;
	assert_int_equal(linux_prepare(img, sizeof(img), 0, 0, 128u << 20, &l, err, sizeof(err)),
			 -EINVAL);
}

/* ---- PS/2 ---- */

static int ps2_read_reply(struct ps2 *p, bool *aux)
{
	uint8_t st = in8(p, PS2_IO, 0x64);

	if (!(st & 0x01))
		return -1;
	*aux = st & 0x20;
	return in8(p, PS2_IO, 0x60);
}

static void test_ps2_seabios_sequence(void **state)
{
	struct ps2 p;
	bool aux;

	(void)state;
	ps2_init(&p, &env);
	assert_int_equal(in8(&p, PS2_IO, 0x64) & 0x01, 0); /* nothing to flush */
	out8(&p, PS2_IO, 0x64, 0xad);
	out8(&p, PS2_IO, 0x64, 0xa7);
	out8(&p, PS2_IO, 0x64, 0xaa);
	assert_int_equal(ps2_read_reply(&p, &aux), 0x55);
	assert_false(aux);
	out8(&p, PS2_IO, 0x64, 0xab);
	assert_int_equal(ps2_read_reply(&p, &aux), 0x00);

	/* Keyboard reset while its port is disabled: the reply waits in the queue. */
	out8(&p, PS2_IO, 0x60, 0xff);
	assert_int_equal(ps2_read_reply(&p, &aux), -1);
	out8(&p, PS2_IO, 0x64, 0x60);
	out8(&p, PS2_IO, 0x60, 0x30); /* ports still disabled in CTR */
	out8(&p, PS2_IO, 0x64, 0x20);
	assert_int_equal(ps2_read_reply(&p, &aux), 0x30);
	out8(&p, PS2_IO, 0x64, 0x60);
	out8(&p, PS2_IO, 0x60, 0x20); /* keyboard port enabled, no interrupts */
	assert_int_equal(ps2_read_reply(&p, &aux), 0xfa);
	assert_int_equal(ps2_read_reply(&p, &aux), 0xaa);
	assert_int_equal(ps2_read_reply(&p, &aux), -1);

	/* Set scancode set 2: ACK for the command and for its parameter. */
	out8(&p, PS2_IO, 0x60, 0xf0);
	assert_int_equal(ps2_read_reply(&p, &aux), 0xfa);
	out8(&p, PS2_IO, 0x60, 0x02);
	assert_int_equal(ps2_read_reply(&p, &aux), 0xfa);
	/* Query: both bytes are acknowledged, then the current set follows. */
	out8(&p, PS2_IO, 0x60, 0xf0);
	out8(&p, PS2_IO, 0x60, 0x00);
	assert_int_equal(ps2_read_reply(&p, &aux), 0xfa);
	assert_int_equal(ps2_read_reply(&p, &aux), 0xfa);
	assert_int_equal(ps2_read_reply(&p, &aux), 0x02);
	assert_false(rec.irq[1]);

	/* With KBDINT on, a reply raises IRQ 1 until it is read. */
	out8(&p, PS2_IO, 0x64, 0x60);
	out8(&p, PS2_IO, 0x60, 0x61);
	out8(&p, PS2_IO, 0x60, 0xf4);
	assert_true(rec.irq[1]);
	assert_int_equal(in8(&p, PS2_IO, 0x60), 0xfa);
	assert_false(rec.irq[1]);

	/* The mouse answers through 0xd4 with the AUX status bit. */
	out8(&p, PS2_IO, 0x64, 0xa8);
	out8(&p, PS2_IO, 0x64, 0xd4);
	out8(&p, PS2_IO, 0x60, 0xf2);
	assert_int_equal(ps2_read_reply(&p, &aux), 0xfa);
	assert_true(aux);
	assert_int_equal(ps2_read_reply(&p, &aux), 0x00);
	assert_true(rec.irq[12] == false); /* AUXINT is off in CTR 0x61 */

	/* 0xfe pulses the reset line. */
	assert_int_equal(rec.resets, 0);
	out8(&p, PS2_IO, 0x64, 0xfe);
	assert_int_equal(rec.resets, 1);
}

static void test_port92_and_debugcon(void **state)
{
	struct port92 p;
	uint8_t buf[3] = { 'o', 'k', '\n' }, rd[2];

	(void)state;
	port92_init(&p, &env);
	assert_int_equal(in8(&p, PORT92_IO, 0x92), 0x02);
	out8(&p, PORT92_IO, 0x92, 0x02);
	assert_int_equal(rec.resets, 0);
	out8(&p, PORT92_IO, 0x92, 0x03);
	assert_int_equal(rec.resets, 1);

	debugcon_io(&env, 0x402, rd, 2, false);
	assert_int_equal(rd[0], DEBUGCON_READBACK);
	assert_int_equal(rd[1], DEBUGCON_READBACK);
	debugcon_io(&env, 0x402, buf, 3, true);
	assert_int_equal(rec.out_len[PC_CONSOLE_DEBUGCON], 3);
	assert_memory_equal(rec.out[PC_CONSOLE_DEBUGCON], "ok\n", 3);
}

/* ---- PCI ---- */

static uint32_t cfg_read32(struct pci *p, uint8_t devfn, uint8_t reg)
{
	out32(p, PCI_IO, 0xcf8, 0x80000000u | (uint32_t)devfn << 8 | reg);
	return in32(p, PCI_IO, 0xcfc);
}

static void test_pci_enumeration(void **state)
{
	struct pci p;
	uint8_t b[2];

	(void)state;
	pci_init(&p, &env, false);
	/* pci_probe_host(): the address register reads back. */
	out32(&p, PCI_IO, 0xcf8, 0x80000000u);
	assert_int_equal(in32(&p, PCI_IO, 0xcf8), 0x80000000u);
	assert_int_equal(cfg_read32(&p, 0x00, 0x00), 0x12378086);
	assert_int_equal(cfg_read32(&p, 0x00, 0x2c), 0x11001af4);
	assert_int_equal(cfg_read32(&p, 0x00, 0x08) >> 8, 0x060000);
	assert_int_equal(cfg_read32(&p, 0x08, 0x00), 0x70008086);
	assert_int_equal((cfg_read32(&p, 0x08, 0x0c) >> 16) & 0xff, 0x80); /* multi-function */
	assert_int_equal(cfg_read32(&p, 0x08, 0x60), 0x80808080);
	assert_int_equal(cfg_read32(&p, 0x09, 0x00), 0xffffffffu); /* no IDE without a disk */
	assert_int_equal(cfg_read32(&p, 0x10, 0x00), 0xffffffffu);
	out32(&p, PCI_IO, 0xcf8, 0x80010000u); /* bus 1 does not exist */
	assert_int_equal(in32(&p, PCI_IO, 0xcfc), 0xffffffffu);
	out32(&p, PCI_IO, 0xcf8, 0x00000000u); /* disabled */
	assert_int_equal(in32(&p, PCI_IO, 0xcfc), 0xffffffffu);

	/* Word read at 0xcfe (SeaBIOS's pci_config_readw of the device id). */
	out32(&p, PCI_IO, 0xcf8, 0x80000000u);
	pci_io(&p, 0xcfe, b, 2, false);
	assert_int_equal(b[0] | b[1] << 8, 0x1237);

	/* Ids are read-only, the interrupt line is not. */
	out32(&p, PCI_IO, 0xcf8, 0x80000000u);
	out32(&p, PCI_IO, 0xcfc, 0);
	assert_int_equal(cfg_read32(&p, 0x00, 0x00), 0x12378086);
	out32(&p, PCI_IO, 0xcf8, 0x8000083cu);
	out8(&p, PCI_IO, 0xcfc, 0x0b);
	assert_int_equal(cfg_read32(&p, 0x08, 0x3c) & 0xff, 0x0b);

	/* With a disk, 00:01.1 is a PIIX3 IDE function in compatibility mode. */
	pci_init(&p, &env, true);
	assert_int_equal(cfg_read32(&p, 0x09, 0x00), 0x70108086);
	assert_int_equal(cfg_read32(&p, 0x09, 0x08) >> 8, 0x010100);
}

static void test_pci_pam_and_reset(void **state)
{
	struct pci p;

	(void)state;
	pci_init(&p, &env, false);
	/* What make_bios_writable does: dword read-modify-write of 0x58 and 0x5c. */
	out32(&p, PCI_IO, 0xcf8, 0x80000058u);
	out32(&p, PCI_IO, 0xcfc, 0x33333000u | 0xff); /* 0x58 is not PAM */
	assert_int_equal(rec.pam_calls, 1);
	assert_int_equal(rec.pam[0], 0x30);
	assert_int_equal(rec.pam[1], 0x33);
	assert_int_equal(rec.pam[2], 0x33);
	out32(&p, PCI_IO, 0xcf8, 0x8000005cu);
	out32(&p, PCI_IO, 0xcfc, 0xffffffffu);
	assert_int_equal(rec.pam_calls, 2);
	/* Reserved PAM bits stay clear. */
	assert_memory_equal(rec.pam, ((uint8_t[]){ 0x30, 0x33, 0x33, 0x33, 0x33, 0x33, 0x33 }), 7);
	/* Writing the same values again reports nothing. */
	out32(&p, PCI_IO, 0xcfc, 0xffffffffu);
	assert_int_equal(rec.pam_calls, 2);
	/* make_bios_readonly. */
	out32(&p, PCI_IO, 0xcf8, 0x80000058u);
	out8(&p, PCI_IO, 0xcfd, 0x10);
	assert_int_equal(rec.pam_calls, 3);
	assert_int_equal(rec.pam[0], 0x10);

	/* 0xcf9: a byte write with "reset CPU" resets; dword accesses go to 0xcf8. */
	out8(&p, PCI_IO, 0xcf9, 0x02);
	assert_int_equal(rec.resets, 0);
	out8(&p, PCI_IO, 0xcf9, 0x06);
	assert_int_equal(rec.resets, 1);
}

/* ---- fw_cfg ---- */

static void fw_select(struct fwcfg *f, uint16_t key)
{
	uint8_t b[2] = { (uint8_t)key, (uint8_t)(key >> 8) };

	fwcfg_io(f, 0x510, b, 2, true);
}

static void test_fwcfg(void **state)
{
	struct fwcfg f;
	uint8_t buf[64 * 3 + 4], sig[6];
	uint32_t v = 0xffffffffu, n;
	uint16_t key;
	char name[80];

	(void)state;
	fwcfg_init(&f);
	assert_int_equal(fwcfg_add(&f, FWCFG_SIGNATURE, "QEMU", 4), 0);
	assert_int_equal(fwcfg_add(&f, FWCFG_SIGNATURE, "QEMU", 4), -EEXIST);
	assert_int_equal(fwcfg_add(&f, 0x0030, "x", 1), -EINVAL);
	assert_int_equal(fwcfg_add_file(&f, "etc/boot-fail-wait", &v, 4), 0);
	assert_int_equal(fwcfg_add_file(&f, "etc/boot-fail-wait", &v, 4), -EEXIST);
	memset(name, 'a', sizeof(name));
	name[56] = 0;
	assert_int_equal(fwcfg_add_file(&f, name, &v, 4), -ENAMETOOLONG);
	name[55] = 0;
	assert_int_equal(fwcfg_add_file(&f, name, "xyz", 3), 0);

	/* Signature, then zeros past its end. */
	fw_select(&f, FWCFG_SIGNATURE);
	fwcfg_io(&f, 0x511, sig, 6, false);
	assert_memory_equal(sig, "QEMU\0\0", 6);
	/* Unknown keys read as zeros. */
	fw_select(&f, 0x1234);
	sig[0] = 0xff;
	fwcfg_io(&f, 0x511, sig, 1, false);
	assert_int_equal(sig[0], 0);

	/* The directory, read in pieces: big-endian count, then 64-byte entries. */
	fw_select(&f, FWCFG_FILE_DIR);
	fwcfg_io(&f, 0x511, buf, 4, false);
	n = (uint32_t)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3];
	assert_int_equal(n, 2);
	fwcfg_io(&f, 0x511, buf, 10, false);
	fwcfg_io(&f, 0x511, buf + 10, 54 + 64, false);
	assert_int_equal(buf[3], 4);
	key = (uint16_t)(buf[4] << 8 | buf[5]);
	assert_int_equal(key, FWCFG_FILE_FIRST);
	assert_string_equal((char *)buf + 8, "etc/boot-fail-wait");
	assert_int_equal(buf[64 + 3], 3);
	assert_string_equal((char *)buf + 64 + 8, name);

	/* Selecting rewinds; the file's bytes come back. */
	fw_select(&f, key);
	fwcfg_io(&f, 0x511, buf, 4, false);
	assert_memory_equal(buf, &v, 4);
	fw_select(&f, key);
	for (n = 0; n < 4; n++)
		fwcfg_io(&f, 0x511, buf + n, 1, false);
	assert_memory_equal(buf, &v, 4);
	fwcfg_free(&f);
}

/* ---- ATA ---- */

static uint8_t *make_disk(uint64_t nsect)
{
	uint8_t *d = malloc(nsect * ATA_SECTOR);
	uint64_t i;

	assert_non_null(d);
	for (i = 0; i < nsect * ATA_SECTOR; i++)
		d[i] = (uint8_t)(i / ATA_SECTOR * 7 + i);
	return d;
}

/* Reads `n` bytes of PIO data in uneven pieces, like KVM's string I/O splits. */
static void ata_read_data(struct ata *a, uint8_t *buf, size_t n)
{
	static const uint32_t pieces[] = { 2, 126, 384, 4, 510, 2 };
	size_t done = 0, i = 0;

	while (done < n) {
		uint32_t len = pieces[i++ % 6];

		if (len > n - done)
			len = (uint32_t)(n - done);
		ata_io(a, 0x1f0, buf + done, len, false);
		done += len;
	}
}

static void test_ata_identify_and_probe(void **state)
{
	struct ata a;
	uint8_t id[512];

	(void)state;
	ata_init(&a, &env, make_disk(1008), 1008);
	/* SeaBIOS's ata_detect() for device 1: the task file echoes, the status does not. */
	out8(&a, ATA_IO, 0x1f6, 0xb0);
	out8(&a, ATA_IO, 0x1f2, 0x55);
	out8(&a, ATA_IO, 0x1f3, 0xaa);
	assert_int_equal(in8(&a, ATA_IO, 0x1f6), 0xb0);
	assert_int_equal(in8(&a, ATA_IO, 0x1f2), 0x55);
	assert_int_equal(in8(&a, ATA_IO, 0x1f3), 0xaa);
	out8(&a, ATA_IO, 0x1f7, 0xec);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0);
	assert_int_equal(in8(&a, ATA_IO, 0x3f6), 0);

	/* Device 0: not a packet device, but answers IDENTIFY DEVICE. */
	out8(&a, ATA_IO, 0x1f6, 0xa0);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x50);
	out8(&a, ATA_IO, 0x1f7, 0xa1);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x51);
	assert_int_equal(in8(&a, ATA_IO, 0x1f1), 0x04);
	out8(&a, ATA_IO, 0x1f7, 0xec);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x58);
	ata_read_data(&a, id, sizeof(id));
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x50);
	assert_int_equal(id[0] | id[1] << 8, 0x0040);
	assert_int_equal(id[2] | id[3] << 8, 1);     /* cylinders */
	assert_int_equal(id[6] | id[7] << 8, 16);    /* heads */
	assert_int_equal(id[12] | id[13] << 8, 63);  /* sectors per track */
	assert_int_equal(id[120] | id[121] << 8, 1008); /* LBA28 capacity */
	assert_int_equal(id[98] | id[99] << 8, 0x0200); /* LBA supported */
	assert_int_equal(id[55], 'p'); /* model string, byte-swapped pairs */
	assert_int_equal(id[54], 'l');

	/* Soft reset leaves the ATA signature. */
	out8(&a, ATA_IO, 0x3f6, 0x0e);
	assert_int_equal(in8(&a, ATA_IO, 0x3f6) & 0x80, 0x80);
	out8(&a, ATA_IO, 0x3f6, 0x0a);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x50);
	assert_int_equal(in8(&a, ATA_IO, 0x1f2), 1);
	assert_int_equal(in8(&a, ATA_IO, 0x1f3), 1);
	assert_int_equal(in8(&a, ATA_IO, 0x1f4), 0);
	assert_int_equal(in8(&a, ATA_IO, 0x1f5), 0);
	free(a.disk);
}

static void test_ata_read_write(void **state)
{
	struct ata a;
	uint8_t *disk = make_disk(2016), buf[3 * 512], w[512];
	unsigned int i;

	(void)state;
	ata_init(&a, &env, disk, 2016);
	out8(&a, ATA_IO, 0x3f6, 0x08); /* interrupts on */

	/* LBA28 read of 3 sectors from LBA 1000. */
	out8(&a, ATA_IO, 0x1f2, 3);
	out8(&a, ATA_IO, 0x1f3, 1000 & 0xff);
	out8(&a, ATA_IO, 0x1f4, 1000 >> 8);
	out8(&a, ATA_IO, 0x1f5, 0);
	out8(&a, ATA_IO, 0x1f6, 0xe0);
	out8(&a, ATA_IO, 0x1f7, 0x20);
	assert_true(rec.irq[14]);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x58);
	assert_false(rec.irq[14]);
	ata_read_data(&a, buf, sizeof(buf));
	assert_memory_equal(buf, disk + 1000 * 512, sizeof(buf));
	assert_int_equal(in8(&a, ATA_IO, 0x1f7) & 0x89, 0x00);

	/* The same sector by CHS: C 0 H 15 S 56 is LBA (0*16+15)*63+55 = 1000. */
	out8(&a, ATA_IO, 0x1f2, 1);
	out8(&a, ATA_IO, 0x1f3, 56);
	out8(&a, ATA_IO, 0x1f4, 0);
	out8(&a, ATA_IO, 0x1f5, 0);
	out8(&a, ATA_IO, 0x1f6, 0xa0 | 15);
	out8(&a, ATA_IO, 0x1f7, 0x20);
	ata_read_data(&a, buf, 512);
	assert_memory_equal(buf, disk + 1000 * 512, 512);

	/* LBA48: the high bytes are written first and read back through HOB. */
	out8(&a, ATA_IO, 0x1f2, 0);
	out8(&a, ATA_IO, 0x1f3, 0);
	out8(&a, ATA_IO, 0x1f4, 0);
	out8(&a, ATA_IO, 0x1f5, 0);
	out8(&a, ATA_IO, 0x1f2, 1);
	out8(&a, ATA_IO, 0x1f3, 2015 & 0xff);
	out8(&a, ATA_IO, 0x1f4, 2015 >> 8);
	out8(&a, ATA_IO, 0x1f5, 0);
	out8(&a, ATA_IO, 0x3f6, 0x88);
	assert_int_equal(in8(&a, ATA_IO, 0x1f2), 0);
	out8(&a, ATA_IO, 0x3f6, 0x08);
	out8(&a, ATA_IO, 0x1f6, 0x40);
	out8(&a, ATA_IO, 0x1f7, 0x24);
	ata_read_data(&a, buf, 512);
	assert_memory_equal(buf, disk + 2015 * 512, 512);

	/* Past the end: IDNF. */
	out8(&a, ATA_IO, 0x1f2, 2);
	out8(&a, ATA_IO, 0x1f3, 2015 & 0xff);
	out8(&a, ATA_IO, 0x1f4, 2015 >> 8);
	out8(&a, ATA_IO, 0x1f6, 0xe0);
	out8(&a, ATA_IO, 0x1f7, 0x20);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x51);
	assert_int_equal(in8(&a, ATA_IO, 0x1f1), 0x10);

	/* Write one sector with 16-bit accesses and read it back. */
	for (i = 0; i < 512; i++)
		w[i] = (uint8_t)(0xff - i);
	out8(&a, ATA_IO, 0x1f2, 1);
	out8(&a, ATA_IO, 0x1f3, 5);
	out8(&a, ATA_IO, 0x1f4, 0);
	out8(&a, ATA_IO, 0x1f5, 0);
	out8(&a, ATA_IO, 0x1f6, 0xe0);
	out8(&a, ATA_IO, 0x1f7, 0x30);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x58);
	for (i = 0; i < 512; i += 2)
		ata_io(&a, 0x1f0, w + i, 2, true);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x50);
	assert_memory_equal(disk + 5 * 512, w, 512);
	/* With nIEN, no interrupt. */
	out8(&a, ATA_IO, 0x3f6, 0x0a);
	out8(&a, ATA_IO, 0x1f7, 0xe7);
	assert_false(rec.irq[14]);
	free(disk);
}

/* ---- ATA multiple mode and write-back, port B ---- */

static uint64_t written_lba[8];
static unsigned int written_n;
static int write_result;

static int record_write(void *opaque, uint64_t lba, const uint8_t *data)
{
	(void)opaque;
	(void)data;
	if (written_n < 8)
		written_lba[written_n++] = lba;
	return write_result;
}

/* An LBA28 command: count, address, device/head byte, command. */
static void ata_cmd(struct ata *a, uint8_t nsect, uint32_t lba, uint8_t sel, uint8_t cmd)
{
	out8(a, ATA_IO, 0x1f2, nsect);
	out8(a, ATA_IO, 0x1f3, (uint8_t)lba);
	out8(a, ATA_IO, 0x1f4, (uint8_t)(lba >> 8));
	out8(a, ATA_IO, 0x1f5, (uint8_t)(lba >> 16));
	out8(a, ATA_IO, 0x1f6, sel);
	out8(a, ATA_IO, 0x1f7, cmd);
}

static void test_ata_multiple_and_write_back(void **state)
{
	struct ata a;
	uint8_t *disk = make_disk(2016), buf[512];
	unsigned int i;

	(void)state;
	ata_init(&a, &env, disk, 2016);
	out8(&a, ATA_IO, 0x3f6, 0x08);
	/* READ MULTIPLE before SET MULTIPLE MODE aborts; a count that is no power of 2 too. */
	ata_cmd(&a, 3, 0, 0xe0, 0xc4);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x51);
	ata_cmd(&a, 3, 0, 0xe0, 0xc6);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x51);
	ata_cmd(&a, 4, 0, 0xe0, 0xc6);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x50);

	/* 6 sectors in blocks of 4: an interrupt for each block, not for each sector. */
	ata_cmd(&a, 6, 10, 0xe0, 0xc4);
	assert_true(rec.irq[14]);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x58);
	for (i = 0; i < 6; i++) {
		ata_read_data(&a, buf, 512);
		assert_memory_equal(buf, disk + (10 + i) * 512, 512);
		/* Within a block no new interrupt; the next block raises one. */
		assert_int_equal(rec.irq[14], i == 3);
		if (i == 3)
			assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x58);
	}
	assert_int_equal(in8(&a, ATA_IO, 0x1f7) & 0x89, 0x00);

	/* WRITE MULTIPLE EXT of 2 sectors: each sector reaches the write-back hook. */
	a.sector_written = record_write;
	written_n = 0;
	write_result = 0;
	for (i = 0x1f2; i <= 0x1f5; i++)
		out8(&a, ATA_IO, (uint16_t)i, 0); /* the high ("HOB") bytes first */
	ata_cmd(&a, 2, 20, 0x40, 0x39);
	memset(buf, 0x77, sizeof(buf));
	ata_io(&a, 0x1f0, buf, 512, true);
	ata_io(&a, 0x1f0, buf, 512, true);
	assert_int_equal(written_n, 2);
	assert_int_equal(written_lba[0], 20);
	assert_int_equal(written_lba[1], 21);
	assert_int_equal(disk[21 * 512], 0x77);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x50);
	/* A failing write-back fails the command. */
	write_result = -5;
	ata_cmd(&a, 1, 30, 0xe0, 0x30);
	ata_io(&a, 0x1f0, buf, 512, true);
	assert_int_equal(in8(&a, ATA_IO, 0x1f7), 0x51);
	free(a.disk);
}

static void test_port61_pit_output(void **state)
{
	struct pit_channel ch = { .mode = 0, .count = 1193, .load_ns = 1000000000 };
	struct port61 p = { 0 };

	(void)state;
	/* Mode 0: low while counting (1193 ticks = 1 ms), high after. */
	assert_false(pit_channel_out(&ch, 1000000000 + 500000));
	assert_true(pit_channel_out(&ch, 1000000000 + 1100000));
	port61_write(&p, 0xff);
	assert_int_equal(port61_read(&p, &ch, 1000000000 + 500000) & 0x23, 0x03);
	assert_int_equal(port61_read(&p, &ch, 1000000000 + 1100000) & 0x20, 0x20);
	/* Square wave: high for the first half of each period. */
	ch.mode = 3;
	ch.count = 100;
	assert_true(pit_channel_out(&ch, 1000000000 + 30 * 838));
	assert_false(pit_channel_out(&ch, 1000000000 + 70 * 838));
	assert_true(pit_channel_out(&ch, 1000000000 + 130 * 838));
	/* The refresh bit toggles with time. */
	assert_int_not_equal(port61_read(&p, &ch, 0) & 0x10, port61_read(&p, &ch, 1 << 14) & 0x10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_cmos_memory_sizes, setup),
		cmocka_unit_test_setup(test_cmos_clock, setup),
		cmocka_unit_test_setup(test_cmos_periodic, setup),
		cmocka_unit_test_setup(test_uart_probe_and_output, setup),
		cmocka_unit_test_setup(test_uart_loopback_and_irq, setup),
		cmocka_unit_test_setup(test_uart_receiver_fifo, setup),
		cmocka_unit_test_setup(test_uart_overrun, setup),
		cmocka_unit_test_setup(test_fwcfg_dma, setup),
		cmocka_unit_test_setup(test_ata_multiple_and_write_back, setup),
		cmocka_unit_test_setup(test_port61_pit_output, setup),
		cmocka_unit_test_setup(test_linux_layout, setup),
		cmocka_unit_test_setup(test_ps2_seabios_sequence, setup),
		cmocka_unit_test_setup(test_port92_and_debugcon, setup),
		cmocka_unit_test_setup(test_pci_enumeration, setup),
		cmocka_unit_test_setup(test_pci_pam_and_reset, setup),
		cmocka_unit_test_setup(test_fwcfg, setup),
		cmocka_unit_test_setup(test_ata_identify_and_probe, setup),
		cmocka_unit_test_setup(test_ata_read_write, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
