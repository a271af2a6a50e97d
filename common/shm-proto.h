/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The shared-memory channel's codec: conversions between the slot's fixed
 * structures (shm-chan.h) and the protobuf-c structs both peers hand to their
 * protocol code, with each direction's encoder and decoder side by side:
 *
 *   request  (plugin -> host): shm_request_encode()  / shm_request_decode()
 *   message  (host -> plugin): shm_msg_encode()      / shm_msg_decode()
 *
 * The encoders write into the slot and return the header for the caller to
 * publish after the payload.  The decoders never use the slot in place: they
 * copy the header once, validate only that copy, then copy exactly the
 * payload it names into private memory and build the protobuf-c structs on
 * that copy (the host's copy-then-validate discipline; the plugin's side
 * keeps it too).  The slot may change under a decoder at any time without
 * making it read or write out of bounds.
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

/* ---------------------------------------------------------------------------
 * Requests, plugin -> host.
 */

/*
 * Writes req's payload into the slot's request area and its header into *h
 * (zeroed by the caller; the caller copies it into rq->h and posts it).
 * Returns 0, -E2BIG when a payload exceeds the layout's bounds, or -EINVAL
 * for a register image of the wrong size or a request kind the layout lacks.
 */
int shm_request_encode(struct shm_request *rq, struct shm_req_hdr *h,
		       const Plugvm__VcpuRequest *req);

/* Private copies of the three register images a request or message may carry. */
struct shm_image_copy {
	uint8_t regs[VCPU_STATE_REGS_SIZE];
	uint8_t sregs[VCPU_STATE_SREGS_SIZE];
	uint8_t debugregs[VCPU_STATE_DEBUGREGS_SIZE];
};

/* A decoded request: a private copy of everything it names and the protobuf-c structs on it. */
struct shm_req_copy {
	struct shm_req_hdr hdr; /* the one copy of the header that is looked at */
	Plugvm__VcpuRequest req;
	union {
		Plugvm__VcpuRequest__Wait wait;
		Plugvm__VcpuRequest__Resume resume;
		Plugvm__VcpuRequest__GetState get_state;
		Plugvm__VcpuRequest__SetState set_state;
		Plugvm__VcpuRequest__GetMsrs get_msrs;
		Plugvm__VcpuRequest__SetMsrs set_msrs;
		Plugvm__VcpuRequest__SetCpuid set_cpuid;
		Plugvm__VcpuRequest__Shutdown shutdown;
		Plugvm__CpuidRequest get_hyperv_cpuid;
		Plugvm__VcpuRequest__EnableCapability enable_capability;
		Plugvm__VcpuRequest__Reset reset;
		Plugvm__VcpuRequest__GetXsave get_xsave;
		Plugvm__VcpuRequest__SetXsave set_xsave;
	} m;
	struct shm_image_copy img; /* private copies of the register images */
	union {
		uint8_t data[SHM_IO_MAX];
		uint8_t xsave[SHM_XSAVE_MAX];
		uint32_t indices[SHM_MSRS_MAX];
		struct shm_msr_entry msrs[SHM_MSRS_MAX];
		struct shm_cpuid_entry cpuid[SHM_CPUID_MAX];
	} raw;
	Plugvm__VcpuRequest__MsrEntry msrs[SHM_MSRS_MAX];
	Plugvm__VcpuRequest__MsrEntry *msr_ptrs[SHM_MSRS_MAX];
	Plugvm__CpuidEntry cpuid[SHM_CPUID_MAX];
	Plugvm__CpuidEntry *cpuid_ptrs[SHM_CPUID_MAX];
};

/*
 * Copies shared's header into c->hdr, checks the copy, copies the payload it
 * names, and builds c->req.  An unknown kind gives a request with no member
 * (answered ENOTTY, like protobuf).  Returns 0, or -EBADMSG when the header
 * names more than the layout holds (a length over its area's bound, unknown
 * register bits): a protocol violation (docs/protocol.md §4.7).
 */
int shm_request_decode(struct shm_req_copy *c, const struct shm_request *shared);

/* ---------------------------------------------------------------------------
 * Messages, host -> plugin.
 */

/*
 * Writes resp's payload into ring entry m and the reply area, and its header
 * into *h (zeroed by the caller; the caller copies it into m->h and posts
 * it).  Returns 0, -EMSGSIZE when a payload exceeds the layout's bounds, or
 * -EINVAL for a message or wait reason the layout lacks.  A register image
 * of the wrong size is left out.
 */
int shm_msg_encode(struct shm_msg *m, union shm_reply *reply, struct shm_msg_hdr *h,
		   const Plugvm__VcpuResponse *resp);

/* A decoded message: private copies and the protobuf-c structs on them. */
struct shm_msg_copy {
	struct shm_msg_hdr h; /* the one copy of the header that is looked at */
	Plugvm__VcpuResponse resp;
	Plugvm__VcpuResponse__Wait wait;
	union {
		Plugvm__VcpuResponse__Wait__Init init;
		Plugvm__VcpuResponse__Wait__Io io;
		Plugvm__VcpuResponse__Wait__User user;
		Plugvm__VcpuResponse__Wait__HypervCall hyperv_call;
		Plugvm__VcpuResponse__Wait__HypervSynic hyperv_synic;
		Plugvm__VcpuResponse__Wait__Reset reset;
	} w;
	union {
		Plugvm__VcpuResponse__GetState get_state;
		Plugvm__VcpuResponse__SetState set_state;
		Plugvm__VcpuResponse__GetMsrs get_msrs;
		Plugvm__VcpuResponse__SetMsrs set_msrs;
		Plugvm__VcpuResponse__SetCpuid set_cpuid;
		Plugvm__CpuidResponse get_hyperv_cpuid;
		Plugvm__VcpuResponse__EnableCapability enable_capability;
		Plugvm__VcpuResponse__Reset reset;
		Plugvm__VcpuResponse__GetXsave get_xsave;
		Plugvm__VcpuResponse__SetXsave set_xsave;
	} m;
	struct shm_image_copy img; /* private copies of the register images */
	union {
		uint8_t data[SHM_IO_MAX];
		uint8_t state[SHM_STATE_MAX];
		uint8_t xsave[SHM_XSAVE_MAX];
		uint64_t msr_data[SHM_MSRS_MAX];
	} buf;
	Plugvm__CpuidEntry cpuid[SHM_CPUID_MAX];
	Plugvm__CpuidEntry *cpuid_ptrs[SHM_CPUID_MAX];
};

/*
 * Copies m's header into c->h, checks the copy, copies the payload it names
 * (from m and the reply area), and builds c->resp.  An unknown wait reason
 * gives a Wait without a reason (the caller answers -EPROTO).  Returns 0, or
 * -EINVAL for a length over its bound or an unknown message kind.
 */
int shm_msg_decode(struct shm_msg_copy *c, const struct shm_msg *m, const union shm_reply *reply);

#endif /* PLUGVM_COMMON_SHM_PROTO_H */
