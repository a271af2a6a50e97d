/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * What the files of the vcpu module share, and nothing outside it includes
 * (tests/host/test-vcpu-handlers.c and fuzz/fuzz-vcpu-request.c include the
 * module's .c files themselves):
 *   vcpu.c       threads, kick, start and stop (the vcpus_* of vcpu.h)
 *   vcpu-pipe.c  the pipe channel: decode arena, framing
 *   vcpu-shm.c   the shared-memory channel (docs/shm-channel.md)
 *   vcpu-req.c   the SERVING state: one handler per vcpu request
 *   vcpu-exit.c  the Init handshake, KVM_RUN exits -> events, pauses, --stats
 *   vcpu-ext.c   the API 0.23 extensions' vcpu side (power-on state, default CPUID)
 */
#ifndef PLUGVM_HOST_VCPU_INTERNAL_H
#define PLUGVM_HOST_VCPU_INTERNAL_H

#include <stdint.h>

#include "hist.h"
#include "kvm-ops.h"
#include "plugin.pb-c.h"
#include "vcpu-shm.h"
#include "vcpu.h"
#include "vm.h"

/* The kernel takes at most this many MSRs or cpuid entries per ioctl (MAX_IO_MSRS, KVM_MAX_CPUID_ENTRIES). */
#define VCPU_MAX_MSRS 256u
#define VCPU_MAX_CPUID 256u
#define VCPU_SCRATCH_SIZE                                                                          \
	(sizeof(struct kvm_cpuid2) + VCPU_MAX_CPUID * sizeof(struct kvm_cpuid_entry2))

/* Outcome of handling one exit. */
enum {
	VCPU_CONTINUE = 0,
	VCPU_STOP = 1,
};

static inline int vcpu_ioctl(struct vcpu *v, unsigned long req, void *arg)
{
	return v->vm->kvm->ioctl(v->fd, req, arg);
}

/* The decode arena's protobuf-c allocator functions (vcpu-pipe.c). */
void *vcpu_arena_alloc(void *data, size_t size);
void vcpu_arena_free(void *data, void *p);

static inline void vcpu_request_free(struct vcpu *v, Plugvm__VcpuRequest *req)
{
	if (req)
		v->chan->release(v, req);
}

/* ---------------------------------------------------------------------------
 * Responses.
 */

static inline int vcpu_send(struct vcpu *v, const Plugvm__VcpuResponse *resp)
{
	return v->chan->send(v, resp);
}

static inline int vcpu_send_errno(struct vcpu *v, int err)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;

	resp.errnum = err;
	return vcpu_send(v, &resp);
}

static inline int vcpu_send_wait(struct vcpu *v, Plugvm__VcpuResponse__Wait *wait)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT;
	resp.wait = wait;
	return vcpu_send(v, &resp);
}

/*
 * --stats: what each exit was, and how long it kept the vcpu out of the guest
 * (from KVM_RUN's return to the next KVM_RUN, i.e. including the plugin's
 * round trip), plus the time spent in the guest.
 */
enum vcpu_stat_kind {
	VSTAT_IO_IN,
	VSTAT_IO_OUT,
	VSTAT_MMIO_READ,
	VSTAT_MMIO_WRITE,
	VSTAT_HYPERV,
	VSTAT_KICK,
	VSTAT_OTHER,
	VSTAT_MAX,
};

struct vcpu_stats {
	uint64_t guest_ns;
	struct hist exits[VSTAT_MAX];
};

/* The SERVING state (vcpu-req.c): serves requests until Resume. */
int vcpu_serve(struct vcpu *v, Plugvm__VcpuRequest **ret_resume);

/* INIT_PENDING (vcpu-exit.c): the Init handshake on v's thread. */
int vcpu_init_handshake(struct vcpu *v);

/* RUNNING (vcpu-exit.c): KVM_RUN and its exits until the vcpu ends. */
void vcpu_run_loop(struct vcpu *v);

/*
 * The API 0.23 extensions' vcpu side (vcpu-ext.c).
 *
 * On vcpu v's thread, before its Init event: records v's power-on state
 * for ext_vcpu_reset() (when the host offers the reset extension), then
 * installs the default CPUID with v's APIC id, if the plugin asked for it.
 */
int ext_vcpu_start(struct vcpu *v);

/*
 * On v's thread while it is stopped: puts the vcpu back in the state it had
 * when it was created (registers, segments and control registers, FPU,
 * debug registers, XCRs, LAPIC, MP state, pending events).
 */
int ext_vcpu_reset(struct vcpu *v);

/* Frees v's power-on state (vcpus_free). */
void ext_vcpu_free(struct vcpu *v);

#endif /* PLUGVM_HOST_VCPU_INTERNAL_H */
