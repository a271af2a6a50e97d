/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * vcpus: the pipes made before the spawn, the KVM vcpus and threads made
 * after Start, the KVM_RUN loop and the vcpu channel state machine
 * (PROTOCOL.md 1.6, 1.7, 4).
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

struct vm;
struct vcpu;

/*
 * Bytes a channel may use in front of an outgoing message without copying
 * (room for the varint length prefix of the pipe transport).
 */
#define VCPU_CHANNEL_HEADROOM 8u

/*
 * The transport between a vcpu thread and the plugin's thread for that vcpu.
 * The pipe pair is the only one today; a negotiated shared-memory channel can
 * be added as another ops table.  Both operations run on the vcpu thread and
 * return -EPIPE once the VM is stopping (vm->stop_efd), whatever they were
 * blocked on.
 */
struct vcpu_channel_ops {
	/*
	 * Sends one VcpuResponse.  msg has VCPU_CHANNEL_HEADROOM writable bytes
	 * before it.  Returns 0 or -errno.
	 */
	int (*send)(struct vcpu *v, uint8_t *msg, size_t len);
	/*
	 * Receives one VcpuRequest (one read on the pipe).  Returns its length
	 * (> 0) with *ret_msg pointing into the vcpu's buffer, or -errno.
	 */
	ssize_t (*recv)(struct vcpu *v, const uint8_t **ret_msg);
};

/* A bump allocator for decoding requests without malloc on the exit path. */
struct vcpu_arena {
	uint8_t *base;
	size_t cap;
	size_t used;
};

struct vcpu {
	struct vm *vm;
	unsigned id;

	/* Pipes (PROTOCOL.md 1.3): [0] read end, [1] write end; all four kept until the VM ends. */
	int to_host[2];
	int to_plugin[2];

	int fd; /* KVM vcpu fd, -1 before Start */
	struct kvm_run *run;

	pthread_t thread;
	bool thread_started;

	pthread_mutex_t pause_lock;
	bool pause_pending;
	uint64_t pause_user;

	const struct vcpu_channel_ops *chan;

	/* Thread-private buffers, allocated when the thread starts. */
	uint8_t *rx;     /* WIRE_VCPU_MESSAGE_MAX bytes */
	uint8_t *tx;     /* VCPU_CHANNEL_HEADROOM + tx_cap bytes */
	size_t tx_cap;
	uint8_t *scratch; /* kernel structure images for vcpu ioctls */
	size_t scratch_cap;
	struct vcpu_arena arena;
	ProtobufCAllocator allocator;

	/* Eager register images for hinted exits (PROTOCOL.md 3.17). */
	struct kvm_regs hint_regs;
	struct kvm_sregs hint_sregs;
	struct kvm_debugregs hint_debugregs;

	struct log_ratelimit rl; /* for anything the guest or plugin can trigger at will */
};

/* Allocates vm->vcpus and creates every vcpu's pipes. Before the spawn. */
int vcpus_prepare(struct vm *vm);

/*
 * Starts the vcpus after Start (PROTOCOL.md 1.6): cgroup, kick signal, every
 * KVM vcpu and its kvm_run mapping, and only then the threads.  On failure
 * records the error; threads already running are stopped by vm_signal_kill().
 */
int vcpus_start(struct vm *vm);

/* Sets the pending pause of every started vcpu in mask (bits 0..63) and kicks it. */
void vcpus_pause(struct vm *vm, uint64_t mask, uint64_t user);

/* Kicks every started vcpu thread out of KVM_RUN. */
void vcpus_kick(struct vm *vm);

/* Joins every started vcpu thread (after vm_signal_kill()). */
void vcpus_join(struct vm *vm);

/* Closes vcpu fds, mappings and pipes, and frees vm->vcpus.  Threads must be joined. */
void vcpus_free(struct vm *vm);

#endif /* PLUGVM_HOST_VCPU_H */
