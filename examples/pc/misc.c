// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The small fixed-function ports of the PC: system control port A (0x92),
 * QEMU's debug console (0x402), and the access splitting shared by the
 * models built from 8-bit registers.
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
