/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Conversions between the shared-memory channel's fixed images
 * (shm-chan.h) and the protobuf-c structs both peers hand to their
 * protocol code, so that the host's and the library's sides of the channel
 * convert the same way.  Nothing here validates: callers bound every count
 * and check the mask before calling.
 */
#ifndef PLUGVM_COMMON_SHM_PROTO_H
#define PLUGVM_COMMON_SHM_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "plugin.pb-c.h"
#include "shm-chan.h"

/*
 * The three register images a Resume or an I/O exit may carry are passed
 * as arrays in the order regs, sregs, debugregs: where they are in the
 * slot, where private copies go, and the protobuf bytes fields that
 * describe them.
 *
 * Slot to protobuf: copies the images named in mask (SHM_F_REGS,
 * SHM_F_SREGS, SHM_F_DEBUGREGS) out of the slot into the private copies
 * and points their fields at them; the other fields are left alone.
 */
void shm_images_in(const uint8_t *const slot[3], uint8_t *const copy[3],
		   ProtobufCBinaryData *const field[3], uint32_t mask);

/*
 * Protobuf to slot: copies every non-empty field of exactly its image's
 * size into the slot and returns the mask of those copied.  A non-empty
 * field of another size is not copied; *ret_odd (if not NULL) says whether
 * there was one.
 */
uint32_t shm_images_out(uint8_t *const slot[3], const ProtobufCBinaryData *const field[3],
			bool *ret_odd);

/* A slot cpuid entry as a protobuf CpuidEntry (initialized here). */
void shm_cpuid_to_proto(const struct shm_cpuid_entry *e, Plugvm__CpuidEntry *c);

/* A protobuf CpuidEntry as a slot cpuid entry. */
struct shm_cpuid_entry shm_cpuid_from_proto(const Plugvm__CpuidEntry *c);

#endif /* PLUGVM_COMMON_SHM_PROTO_H */
