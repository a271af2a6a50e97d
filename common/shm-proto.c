// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "shm-proto.h"

#include <string.h>

static const size_t image_size[3] = { SHM_REGS_SIZE, SHM_SREGS_SIZE, SHM_DEBUGREGS_SIZE };
static const uint32_t image_flag[3] = { SHM_F_REGS, SHM_F_SREGS, SHM_F_DEBUGREGS };

void shm_images_in(const uint8_t *const slot[3], uint8_t *const copy[3],
		   ProtobufCBinaryData *const field[3], uint32_t mask)
{
	for (int i = 0; i < 3; i++) {
		if (!(mask & image_flag[i]))
			continue;
		memcpy(copy[i], slot[i], image_size[i]);
		field[i]->data = copy[i];
		field[i]->len = image_size[i];
	}
}

uint32_t shm_images_out(uint8_t *const slot[3], const ProtobufCBinaryData *const field[3],
			bool *ret_odd)
{
	uint32_t mask = 0;
	bool odd = false;

	for (int i = 0; i < 3; i++) {
		const ProtobufCBinaryData *f = field[i];

		if (!f->len)
			continue;
		if (f->len != image_size[i]) {
			odd = true;
			continue;
		}
		memcpy(slot[i], f->data, image_size[i]);
		mask |= image_flag[i];
	}
	if (ret_odd)
		*ret_odd = odd;
	return mask;
}

void shm_cpuid_to_proto(const struct shm_cpuid_entry *e, Plugvm__CpuidEntry *c)
{
	plugvm__cpuid_entry__init(c);
	c->function = e->function;
	c->has_index = e->flags & 1;
	c->index = e->index;
	c->eax = e->eax;
	c->ebx = e->ebx;
	c->ecx = e->ecx;
	c->edx = e->edx;
}

struct shm_cpuid_entry shm_cpuid_from_proto(const Plugvm__CpuidEntry *c)
{
	return (struct shm_cpuid_entry){
		.function = c->function,
		.index = c->index,
		.flags = c->has_index ? 1 : 0,
		.eax = c->eax,
		.ebx = c->ebx,
		.ecx = c->ecx,
		.edx = c->edx,
	};
}
