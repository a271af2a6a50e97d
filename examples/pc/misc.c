// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The small fixed-function ports of the PC: system control ports A (0x92)
 * and B (0x61), QEMU's debug console (0x402), and the access splitting shared
 * by the models built from 8-bit registers.
 */
#include <string.h>

#include "pc.h"

#define PORT92_A20 0x02

void port92_init(struct port92 *p, const struct pc_env *env)
{
	p->env = env;
	p->val = PORT92_A20; /* KVM cannot mask A20, so report the gate as open */
}

void port92_io(struct port92 *p, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	uint32_t i;

	(void)port;
	for (i = 0; i < len; i++) {
		if (!is_write) {
			data[i] = p->val;
			continue;
		}
		/* Bit 0 is "fast reset" on its rising edge; bit 1 is the A20 gate. */
		if ((data[i] & 0x01) && !(p->val & 0x01))
			p->env->reset(p->env->opaque, "port 0x92 fast reset");
		p->val = data[i] & 0x03;
	}
}

#define PIT_HZ 1193182

bool pit_channel_out(const struct pit_channel *ch, int64_t now_ns)
{
	uint64_t count = ch->count ? ch->count : 65536, d;

	if (now_ns <= ch->load_ns)
		return ch->mode == 1 || ch->mode == 3; /* the output's level right after loading */
	/* Input clock ticks since the load; 128-bit so that long uptimes cannot overflow. */
	d = (uint64_t)((unsigned __int128)(now_ns - ch->load_ns) * PIT_HZ / 1000000000u);
	switch (ch->mode & 7) {
	case 0: /* interrupt on terminal count: high once the count ran out */
		return d >= count;
	case 1: /* one-shot: low while counting */
		return d < count;
	case 2: /* rate generator: a one-tick low pulse each period */
	case 6:
		return d == 0 || d % count != 0;
	case 3: /* square wave: high for the first half of each period */
	case 7:
		return d % count < (count + 1) / 2;
	default: /* 4, 5: strobes, a one-tick low pulse at the end of the count */
		return d != count;
	}
}

uint8_t port61_read(const struct port61 *p, const struct pit_channel *ch2, int64_t now_ns)
{
	/* The DRAM refresh request toggles every 15 us or so; 2^14 ns is close. */
	uint8_t refresh = (uint8_t)(((uint64_t)now_ns >> 14) & 1);

	return (uint8_t)((p->ctl & 0x03) | refresh << 4 | (pit_channel_out(ch2, now_ns) ? 0x20 : 0));
}

void port61_write(struct port61 *p, uint8_t val)
{
	p->ctl = val & 0x03;
}

void debugcon_io(const struct pc_env *env, uint16_t port, uint8_t *data, uint32_t len,
		 bool is_write)
{
	(void)port;
	if (is_write)
		env->console(env->opaque, PC_CONSOLE_DEBUGCON, data, len);
	else
		memset(data, DEBUGCON_READBACK, len);
}

void pc_io_bytewise(void *dev, uint16_t port, uint8_t *data, uint32_t len, bool is_write,
		    pc_read8_fn *rd, pc_write8_fn *wr)
{
	uint32_t i;

	for (i = 0; i < len; i++) {
		uint16_t p = len <= 4 ? (uint16_t)(port + i) : port;

		if (is_write)
			wr(dev, p, data[i]);
		else
			data[i] = rd(dev, p);
	}
}
