/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The shared-memory vcpu channel (docs/shm-channel.md): the fixed layout of
 * one vcpu's slot in the memfd the host hands out after the VcpuChannel
 * negotiation, and the spin-then-futex hand-off both peers use on it.
 *
 * Every structure here is a raw little-endian image with a fixed size; the
 * static asserts in shm-chan.c pin the sizes and offsets.  The host treats
 * everything the plugin can write as hostile: it copies a request header out
 * of the slot before looking at it, bounds every count against the limits
 * below, and never keeps a pointer or offset read from the slot.
 */
#ifndef PLUGVM_COMMON_SHM_CHAN_H
#define PLUGVM_COMMON_SHM_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "images.h"

#define SHM_CHAN_VERSION 1u
#define SHM_CHAN_MAGIC 0x6d687376u /* "vshm" */

/* Bounds of the fixed areas (documented in docs/shm-channel.md). */
#define SHM_IO_MAX 4096u    /* I/O data of one access: KVM's PIO page, MMIO is <= 8 */
#define SHM_STATE_MAX VCPU_STATE_MAX_SIZE /* the largest vcpu state image (kvm_lapic_state) */
#define SHM_MSRS_MAX 256u   /* MSRs per request (the kernel's MAX_IO_MSRS) */
#define SHM_CPUID_MAX 256u  /* cpuid entries per request (KVM_MAX_CPUID_ENTRIES) */
#define SHM_RING 8u         /* host -> plugin messages in flight (async writes) */
/*
 * An XSAVE area (API 0.23) in the request's u.data and in the reply area:
 * both hold 8 KiB (their cpuid lists), so the layout is unchanged.  Larger
 * areas (AMX) go over the pipes only; on this channel they are E2BIG.
 */
#define SHM_XSAVE_MAX 8192u


/* Request kinds (plugin -> host): the numbers of VcpuRequest's oneof members. */
enum shm_req_kind {
	SHM_REQ_WAIT = 1,
	SHM_REQ_RESUME = 2,
	SHM_REQ_GET_STATE = 3,
	SHM_REQ_SET_STATE = 4,
	SHM_REQ_GET_MSRS = 5,
	SHM_REQ_SET_MSRS = 6,
	SHM_REQ_SET_CPUID = 7,
	SHM_REQ_SHUTDOWN = 8,
	SHM_REQ_GET_HYPERV_CPUID = 9,
	SHM_REQ_ENABLE_CAP = 10,
	SHM_REQ_RESET = 1000, /* API 0.23, no payload */
	SHM_REQ_GET_XSAVE = 1001, /* API 0.23, no payload */
	SHM_REQ_SET_XSAVE = 1002, /* API 0.23, len bytes in u.xsave */
};

/* Message kinds (host -> plugin): the numbers of VcpuResponse's oneof members, 0 = none. */
enum shm_msg_kind {
	SHM_MSG_NONE = 0,
	SHM_MSG_WAIT = 2,
	SHM_MSG_GET_STATE = 4,
	SHM_MSG_SET_STATE = 5,
	SHM_MSG_GET_MSRS = 6,
	SHM_MSG_SET_MSRS = 7,
	SHM_MSG_SET_CPUID = 8,
	SHM_MSG_GET_HYPERV_CPUID = 9,
	SHM_MSG_ENABLE_CAP = 10,
	SHM_MSG_RESET = 1000, /* API 0.23, errno only */
	SHM_MSG_GET_XSAVE = 1001, /* API 0.23, len bytes in reply.xsave */
	SHM_MSG_SET_XSAVE = 1002, /* API 0.23, errno only */
};

/* Wait reasons: the numbers of VcpuResponse.Wait's oneof members. */
enum shm_exit {
	SHM_EXIT_INIT = 1,
	SHM_EXIT_IO = 2,
	SHM_EXIT_USER = 3,
	SHM_EXIT_HYPERV_CALL = 4,
	SHM_EXIT_HYPERV_SYNIC = 5,
	SHM_EXIT_RESET = 1000, /* API 0.23: u[0] = reason */
};

/* Bits of shm_msg.flags and shm_req_hdr.regs_mask. */
#define SHM_F_IS_WRITE 0x1u
#define SHM_F_NO_RESUME 0x2u
#define SHM_F_REGS 0x4u
#define SHM_F_SREGS 0x8u
#define SHM_F_DEBUGREGS 0x10u
#define SHM_F_ALL_REGS (SHM_F_REGS | SHM_F_SREGS | SHM_F_DEBUGREGS)

/* A CpuidEntry; flags bit 0 is has_index. */
struct shm_cpuid_entry {
	uint32_t function;
	uint32_t index;
	uint32_t flags;
	uint32_t eax;
	uint32_t ebx;
	uint32_t ecx;
	uint32_t edx;
	uint32_t pad;
};

struct shm_msr_entry {
	uint32_t index;
	uint32_t pad;
	uint64_t data;
};

/* The fixed part of a request; the host copies it out first and validates the copy. */
struct shm_req_hdr {
	uint32_t kind;       /* enum shm_req_kind */
	uint32_t set;        /* GET/SET_STATE: VcpuRequest.StateSet */
	uint32_t len;        /* RESUME, SET_STATE: bytes in u.data; MSR and cpuid lists: count */
	uint32_t regs_mask;  /* RESUME: SHM_F_REGS | SHM_F_SREGS | SHM_F_DEBUGREGS */
	uint32_t capability; /* ENABLE_CAP */
	uint32_t pad[3];
};

struct shm_request {
	struct shm_req_hdr h;
	uint8_t regs[VCPU_STATE_REGS_SIZE];
	uint8_t sregs[VCPU_STATE_SREGS_SIZE];
	uint8_t debugregs[VCPU_STATE_DEBUGREGS_SIZE];
	union {
		uint8_t data[SHM_IO_MAX]; /* resume data, state image */
		uint8_t xsave[SHM_XSAVE_MAX];
		uint32_t indices[SHM_MSRS_MAX];
		struct shm_msr_entry msrs[SHM_MSRS_MAX];
		struct shm_cpuid_entry cpuid[SHM_CPUID_MAX];
	} u;
};

/* The fixed part of one host -> plugin message. */
struct shm_msg_hdr {
	uint32_t kind;  /* enum shm_msg_kind */
	int32_t errnum; /* positive errno, 0 = success */
	uint32_t exit;  /* WAIT: enum shm_exit */
	uint32_t space; /* IO: AddressSpace */
	uint64_t address;
	uint32_t len;   /* IO: bytes in data; replies: bytes or entries in the reply area */
	uint32_t flags; /* SHM_F_* */
	uint64_t u[4];  /* USER: u[0]; HYPERV_CALL: input, params0, params1; SYNIC: control, evt, msg */
	uint32_t msr;   /* HYPERV_SYNIC */
	uint32_t pad;
};

struct shm_msg {
	struct shm_msg_hdr h;
	uint8_t regs[VCPU_STATE_REGS_SIZE]; /* eager registers of a hinted IO exit */
	uint8_t sregs[VCPU_STATE_SREGS_SIZE];
	uint8_t debugregs[VCPU_STATE_DEBUGREGS_SIZE];
	uint8_t data[SHM_IO_MAX];
};

/*
 * One futex word and the flag its waiter raises before sleeping on it, so the
 * poster makes the FUTEX_WAKE system call only when someone sleeps.  Each
 * pair has a cache line to itself: the two sides poll different words.
 */
struct shm_word {
	uint32_t seq;
	uint32_t sleeping;
	/*
	 * CLOCK_MONOTONIC of the last post: tells a waiter that slept how long
	 * a spin would have had to last.  Advisory only (it tunes the waiter's
	 * own budget, within fixed bounds).
	 */
	uint64_t posted_ns;
	uint8_t pad[48];
};

/* Payload of the reply to the one request in flight. */
union shm_reply {
	uint8_t state[SHM_STATE_MAX];
	uint8_t xsave[SHM_XSAVE_MAX];
	uint64_t msr_data[SHM_MSRS_MAX];
	struct shm_cpuid_entry cpuid[SHM_CPUID_MAX];
};

struct shm_slot {
	/* Written once by the host before the memfd is handed out. */
	uint32_t magic;
	uint32_t version;
	uint32_t slot_size;
	uint32_t vcpu_id;
	uint8_t pad0[48];

	struct shm_word ev_head;  /* host: messages posted; the plugin waits on it */
	struct shm_word ev_tail;  /* plugin: messages consumed; the host waits when the ring is full */
	struct shm_word req_head; /* plugin: requests posted; the host waits on it */
	struct shm_word req_tail; /* host: requests copied out; the plugin waits before reusing */

	struct shm_request req;
	struct shm_msg ring[SHM_RING];
	union shm_reply reply;
};

/* Slots are page aligned so that each vcpu's lines never share a page with another's. */
#define SHM_SLOT_SIZE ((sizeof(struct shm_slot) + 4095u) & ~(size_t)4095u)

/*
 * Adaptive spin of one waiter (private to it, never shared).  The budget
 * grows when the awaited change came soon after the spin gave up, and
 * shrinks when the other side kept us waiting far longer than any spin
 * would cover (the guest runs, or the plugin thinks), so a long-running
 * guest costs at most a few short spins.
 */
struct shm_spin {
	uint32_t budget_ns;
	uint32_t min_ns;
	uint32_t max_ns;
	bool yield; /* yield the CPU between spin chunks (default; SHM_SPIN_YIELD=0 turns it off) */
	/* Statistics, for benchmarks and tests. */
	uint64_t n_spun;  /* waits satisfied while spinning */
	uint64_t n_slept; /* waits that went to sleep */
};

/*
 * Sets up the spin state of one waiter on the given side of a channel of a
 * VM with nvcpus vcpus.  When 2 x nvcpus (a host and a plugin thread per
 * vcpu) exceeds shm_cpus(), the host side does not spin: its waits sleep at
 * once.  SHM_SPIN_NS in the environment overrides the initial and largest
 * budget on both sides (0 disables spinning).
 */
enum shm_side {
	SHM_SIDE_HOST,
	SHM_SIDE_PLUGIN,
};

void shm_spin_init(struct shm_spin *sp, unsigned nvcpus, enum shm_side side);

/*
 * Waits until w->seq differs from old: spins up to the budget, then sleeps
 * on the futex in slices of slice_ns.  After each slice (and every few
 * thousand spins) check(arg) is called; a nonzero return ends the wait with
 * that value.  Returns 0 once the word changed (with acquire ordering), or
 * check()'s value.
 */
int shm_wait(struct shm_word *w, uint32_t old, struct shm_spin *sp, uint64_t slice_ns,
	     int (*check)(void *arg), void *arg);

/*
 * The same bounded, adaptive spin for a condition that is not a shared word
 * (the pipe channel's non-blocking reads): calls probe(arg) until it returns
 * nonzero or the budget is spent, and returns its last value.  0 means "go to
 * sleep": the caller blocks (poll()), and then reports the sleep with
 * shm_spin_slept(sp, *ret_start, the time the awaited thing happened, or
 * now if unknown), which adapts the budget as shm_wait() does.
 */
int shm_spin_probe(struct shm_spin *sp, int (*probe)(void *arg), void *arg, uint64_t *ret_start);
void shm_spin_slept(struct shm_spin *sp, uint64_t start, uint64_t event_ns);

/* The CPUs this thread may run on (affinity mask, else online CPUs); at least 1. */
unsigned shm_cpus(void);

/* Publishes seq (release) and wakes the waiter if it sleeps. */
void shm_post(struct shm_word *w, uint32_t seq);

/* Wakes a waiter of w without changing it (the stop path). */
void shm_wake(struct shm_word *w);

static inline uint32_t shm_load(const uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* Monotonic nanoseconds. */
uint64_t shm_now_ns(void);

#endif /* PLUGVM_COMMON_SHM_CHAN_H */
