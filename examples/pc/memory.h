// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Guest memory of the pc example: RAM in one memfd (guest address ==
 * file offset below 4 GiB, RAM above 4 GiB follows), the firmware image in
 * another, mapped read-only so that its last byte is at 4 GiB, and the
 * 0xc0000-0xfffff shadow area split along the i440FX PAM boundaries.
 */
#ifndef PLUGVM_EXAMPLES_PC_MEMORY_H
#define PLUGVM_EXAMPLES_PC_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

#include <crosvm.h>

/* One 64 KiB segment for 0xf0000 (PAM0) and two 16 KiB halves for each of PAM1..6. */
#define PAM_SEGMENTS 13

/* Where the shadow area (not dirty-logged) is in the RAM memfd, which is its address. */
#define PC_SHADOW_START 0xc0000ull
#define PC_SHADOW_END 0x100000ull

/* Lowest address of the PCI hole when RAM does not fit below it. */
#define PC_PCI_HOLE 0xc0000000ull
#define PC_4G 0x100000000ull

struct pc_memory {
	int ram_fd, rom_fd;
	uint64_t ram_size, below_4g, above_4g, rom_size;
	struct crosvm_memory *low, *mid, *high, *rom;
	struct crosvm_memory *pam[PAM_SEGMENTS];
	bool pam_ro[PAM_SEGMENTS];
	bool dirty_log; /* set before memory_map: low, mid and high log written pages */
	/*
	 * The host has CROSVM_EXTENSION_MEMORY_READ_ONLY (set before the first PAM change):
	 * a segment's write protection changes in place, with no hole a vcpu could see.
	 */
	bool ro_in_place;
	/* PAM changes of a segment so far: in place, and by destroying and re-creating it. */
	unsigned long pam_in_place, pam_remapped;
};

/* Reads the firmware image (a multiple of 4 KiB, 64 KiB to 16 MiB) and creates both memfds. */
int memory_init(struct pc_memory *m, uint64_t ram_size, const char *bios_path, char *err,
		size_t errlen);
/* Only the two memfds, all zeros, for a machine restored from a snapshot. */
int memory_create(struct pc_memory *m, uint64_t ram_size, uint64_t rom_size);
/* Maps everything; the shadow area starts write-protected, as after a PAM reset. */
int memory_map(struct pc_memory *m, struct crosvm *c);
/*
 * Makes the shadow segments follow the PAM write-enable bits: in place with
 * ro_in_place (crosvm_memory_set_read_only()), else each changed segment is
 * destroyed and re-created, and another vcpu may see a hole in between.
 */
int memory_pam_apply(struct pc_memory *m, struct crosvm *c, const uint8_t pam[7]);
/*
 * A machine reset (every vcpu stopped): the shadow area's DRAM gets its
 * power-on content back, zeros and the BIOS copy, which POST has changed.
 * Apply PAM 0 as well to make it read-only again.
 */
int memory_shadow_reset(struct pc_memory *m);
void memory_unmap(struct pc_memory *m, struct crosvm *c);
void memory_free(struct pc_memory *m);

#endif /* PLUGVM_EXAMPLES_PC_MEMORY_H */
