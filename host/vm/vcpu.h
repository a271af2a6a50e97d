/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * vcpus: the pipes made before the spawn, the KVM vcpus and threads made
 * after Start, the KVM_RUN loop and the vcpu channel state machine
 * (docs/protocol.md §1.6, §1.7, §4).  The module's files and what they
 * share are listed in vcpu-internal.h.
 */
#ifndef PLUGVM_HOST_VCPU_H
#define PLUGVM_HOST_VCPU_H

#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/kvm.h>

#include "log.h"
#include "plugin.pb-c.h"

struct vm;
struct vcpu;

/*
 * Bytes in front of an encoded message that the pipe channel may use for the
 * varint length prefix without copying.
 */
#define VCPU_CHANNEL_HEADROOM 8u

/*
 * The transport between a vcpu thread and the plugin's thread for that vcpu:
 * crosvm's pipe pair (docs/protocol.md §4.1, host/vm/vcpu-pipe.c), or the
 * negotiated shared-memory channel (host/vm/vcpu-shm.c, docs/shm-channel.md).
 * The library's end of the same seam has the same name (lib/chan.h).  The state machine works
 * on protobuf-c message *structs*; each channel turns them into its own
 * format (protobuf bytes on the pipes, fixed structs in shared memory), so
 * the shared-memory path never encodes or decodes protobuf.
 *
 * Every operation runs on the vcpu thread and returns -EPIPE once the VM is
 * stopping (kill_signaled, stop_efd), whatever it was blocked on.
 */
struct vcpu_chan_ops {
	/* Sends one VcpuResponse.  Returns 0 or -errno. */
	int (*send)(struct vcpu *v, const Plugvm__VcpuResponse *resp);
	/*
	 * Receives one VcpuRequest.  Returns 0 with *ret_req set (give it back
	 * with release), -EBADMSG for a request that cannot be understood
	 * (the caller answers EPROTO and keeps serving), or -errno.
	 */
	int (*recv)(struct vcpu *v, Plugvm__VcpuRequest **ret_req);
	void (*release)(struct vcpu *v, Plugvm__VcpuRequest *req);
};

/* The negotiated shared-memory channel of the VM (host/vm/vcpu-shm.c). */
struct shm_region;
struct vcpu_shm;

/* A bump allocator for decoding requests without malloc on the exit path. */
struct vcpu_arena {
	uint8_t *base;
	size_t cap;
	size_t used;
};

struct ext_power_on;

struct vcpu {
	struct vm *vm;
	unsigned id;

	/*
	 * Pipes (docs/protocol.md §1.3): [0] read end, [1] write end; all four kept until the VM
	 * ends.
	 */
	int to_host[2];
	int to_plugin[2];

	int fd; /* KVM vcpu fd, -1 before Start */
	struct kvm_run *run;

	pthread_t thread;
	bool thread_started;

	pthread_mutex_t pause_lock;
	bool pause_pending;
	uint64_t pause_user;

	const struct vcpu_chan_ops *chan;
	struct shm_region *shm_region; /* the VM's, once negotiated (vcpu 0 owns it) */
	struct vcpu_shm *shm;          /* this vcpu's slot and private copies */

	/* Thread-private buffers, allocated when the thread starts. */
	uint8_t *rx;     /* WIRE_VCPU_MESSAGE_MAX bytes */
	uint8_t *tx;     /* VCPU_CHANNEL_HEADROOM + tx_cap bytes */
	size_t tx_cap;
	uint8_t *scratch; /* kernel structure images for vcpu ioctls */
	size_t scratch_cap;
	struct vcpu_arena arena;
	ProtobufCAllocator allocator;

	/* Eager register images for hinted exits (docs/protocol.md §3.17). */
	struct kvm_regs hint_regs;
	struct kvm_sregs hint_sregs;
	struct kvm_debugregs hint_debugregs;

	struct log_ratelimit rl; /* for anything the guest or plugin can trigger at will */

	struct vcpu_stats *stats; /* --stats only; written by the vcpu thread alone */

	struct ext_power_on *power_on; /* for the Reset extension (vcpu-ext.c); vcpu thread only */
};

/* Allocates vm->vcpus and creates every vcpu's pipes. Before the spawn. */
int vcpus_prepare(struct vm *vm);

/*
 * Starts the vcpus after Start (docs/protocol.md §1.6): cgroup, kick signal, every
 * KVM vcpu and its kvm_run mapping, and only then the threads.  On failure
 * records the error; threads already running are stopped by vm_signal_kill().
 */
int vcpus_start(struct vm *vm);

/* Sets the pending pause of every started vcpu in mask (bits 0..63) and kicks it. */
void vcpus_pause(struct vm *vm, uint64_t mask, uint64_t user);

/* Kicks every started vcpu thread out of KVM_RUN. */
void vcpus_kick(struct vm *vm);

/*
 * Main thread: keeps every vcpu out of KVM_RUN (kicking those inside) and
 * returns once none is inside; vcpus_release() lets them run again.
 */
void vcpus_hold(struct vm *vm);
void vcpus_release(struct vm *vm);

/* Joins every started vcpu thread (after vm_signal_kill()). */
void vcpus_join(struct vm *vm);

/* What a successful VcpuChannel negotiation hands the plugin. */
struct vcpu_channel_info {
	uint32_t version;
	uint32_t slot_size;
	uint32_t n_vcpus;
	uint64_t size;
	int fd; /* borrowed: the host keeps it for later negotiations */
};

/*
 * The VcpuChannel main request (docs/shm-channel.md), main thread, before
 * Start only (-EBUSY after).  version 0 switches every vcpu back to the
 * pipes; otherwise the shared memory is made once (later requests get the
 * same memfd) and every vcpu switches to it.  Returns 0 or -errno.
 */
int vcpus_negotiate_channel(struct vm *vm, uint32_t version, struct vcpu_channel_info *info);

/* Closes vcpu fds, mappings and pipes, and frees vm->vcpus.  Threads must be joined. */
void vcpus_free(struct vm *vm);

/* --stats: prints the exit table of every vcpu (after vcpus_join()). */
void vcpus_print_stats(struct vm *vm);

#endif /* PLUGVM_HOST_VCPU_H */
