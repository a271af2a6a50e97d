/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * One VM: the KVM handles, the state shared between the main thread and the
 * vcpu threads, and the VM-level KVM operations behind the main requests.
 *
 * Locking (see docs/architecture.md):
 * - objects, connections and the start flags belong to the main thread.
 * - io_lock (rwlock) guards ranges[] and hint: the main thread writes them,
 *   vcpu threads read them on every trapped exit.
 * - each vcpu's pause_lock guards its pending pause.
 * - fail_lock guards the first recorded error.
 * - kill_signaled is atomic; stop_efd is written once and never read, so it
 *   stays readable and wakes every vcpu thread that polls it.
 */
#ifndef PLUGVM_HOST_VM_H
#define PLUGVM_HOST_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "objects.h"
#include "ranges.h"

/* Resource caps (docs/protocol.md §7.21); generous, so that no sane plugin meets them. */
#define VM_MAX_CONNECTIONS 256u
#define VM_MAX_OBJECTS 4096u
#define VM_MAX_MEM_SLOTS 512u
#define VM_MAX_RANGES 65536u /* per address space */
#define VM_MAX_ROUTES 4096u  /* also the kernel's KVM_MAX_IRQ_ROUTES */
#define VM_MAX_HINT_DETAILS 256u
/*
 * Total bytes of guest memory objects.  Bounds what a plugin can make the
 * host map and, above all, the dirty bitmaps the host and the kernel allocate
 * for them (8 MiB each at this size).
 */
#define VM_MAX_GUEST_MEMORY (256ull << 30)

/* Address spaces, as on the wire. */
#define VM_SPACE_PIO 0u
#define VM_SPACE_MMIO 1u

struct vcpu;
struct kvm_ops;

struct hint_detail {
	bool match[4]; /* rax, rbx, rcx, rdx */
	uint64_t value[4];
	bool send_sregs;
	bool send_debugregs;
};

struct io_hint {
	bool active;
	uint32_t space;
	uint64_t address;
	bool on_write;
	size_t n_details;
	struct hint_detail *details;
};

/* A tiny barrier that the stop path can break, unlike pthread_barrier_t. */
struct vm_barrier {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned waiting;
	unsigned count;
	bool broken;
};

struct kvm_cpuid2;

struct vm {
	const struct host_config *cfg;
	const struct kvm_ops *kvm; /* every KVM call goes through it (kvm-ops.h) */
	int kvm_fd;
	int vm_fd;
	size_t run_size;     /* mmap size of struct kvm_run */
	bool immediate_exit; /* KVM_CAP_IMMEDIATE_EXIT: kicks set kvm_run->immediate_exit */
	bool manual_dirty;   /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 on: reads re-protect in chunks */

	unsigned n_vcpus;
	struct vcpu *vcpus; /* n_vcpus entries, pipes made before the spawn */
	/*
	 * Wakes every started vcpu thread (vcpus_kick(), installed by
	 * vcpus_prepare()); NULL while there are none.  The VM knows its vcpus
	 * only through this, so vm.c does not depend on vcpu.c.
	 */
	void (*kick_vcpus)(struct vm *vm);

	struct objects objects;
	uint64_t guest_mem; /* bytes of all memory objects, <= VM_MAX_GUEST_MEMORY */

	pthread_rwlock_t io_lock;
	struct ranges ranges[2]; /* indexed by VM_SPACE_* */
	struct io_hint hint;

	int kill_efd; /* handed to the plugin; written by vm_signal_kill() */
	int exit_efd; /* written by any vcpu thread that ends */
	int stop_efd; /* host-internal: wakes vcpu threads blocked on their channel */
	int vcpu_cgroup_fd; /* --vcpu-cgroup-path's tasks file, opened before the host's filter */
	/* Run by each vcpu thread once its setup is done (the host's vcpu filter), or NULL. */
	int (*vcpu_thread_hook)(unsigned id);

	int *tap_fds;
	size_t n_taps;

	/* DefaultCpuid (ext.c): set before Start, read by the vcpu threads it starts. */
	struct kvm_cpuid2 *default_cpuid;
	/* ResetEvents (ext.c): set before Start; a triple fault goes to the plugin. */
	bool reset_events;
	/* IoDetails (ext.c): set before Start; port I/O exits carry size and count. */
	bool io_details;
	/*
	 * MemoryReadOnly (ext.c): while `hold` is set no vcpu enters KVM_RUN;
	 * n_in_run counts those inside (vcpu.c, vcpus_hold()).
	 */
	pthread_mutex_t hold_lock;
	pthread_cond_t hold_cond;
	atomic_bool hold;
	atomic_uint n_in_run;

	bool start_requested; /* main thread only */
	bool vcpus_started;   /* main thread only */
	atomic_bool kill_signaled;
	struct vm_barrier barrier;

	pthread_mutex_t fail_lock;
	bool failed;
	char fail_msg[256];
};

/* Opens the KVM device, creates the VM with its irqchip and PIT (docs/protocol.md §1.2 step 5). */
int vm_init(struct vm *vm, const struct host_config *cfg);
/* The same with another KVM backend (the fake one of kvm-fake.h, for fuzzing and tests). */
int vm_init_ops(struct vm *vm, const struct host_config *cfg, const struct kvm_ops *kvm);
/* Releases everything vm_init() and the objects made; vcpu threads must be joined. */
void vm_release(struct vm *vm);

/* The API 0.23 extensions the host offers: PLUGVM_EXT_ALL, or 0 with --no-extensions. */
uint64_t vm_ext_offered(const struct vm *vm);

/* Records the first failure; later ones are only logged. Thread safe. */
void vm_fail(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Stops the VM: sets kill_signaled, signals the plugin's kill eventfd and the
 * internal stop eventfd, breaks the start barrier and kicks every vcpu
 * thread.  Idempotent; main thread only.
 */
void vm_signal_kill(struct vm *vm);

/* Barrier used between the Init handshakes and the first KVM_RUN. */
void vm_barrier_wait(struct vm *vm);

/* VM-level operations; each returns 0 or -errno (the kernel's errno passes through). */
int vm_create_io_event(struct vm *vm, struct object *obj, uint32_t space, uint64_t addr,
		       uint32_t len, uint64_t datamatch);
int vm_create_memory(struct vm *vm, struct object *obj, int fd, uint64_t offset, uint64_t start,
		     uint64_t length, bool read_only, bool dirty_log);
/* On success *ret_resample_fd is the resample eventfd, for the caller to send and close. */
int vm_create_irq_event(struct vm *vm, struct object *obj, uint32_t gsi, int *ret_resample_fd);
/* Undoes one object; on failure the object is left fully registered. */
int vm_destroy_object(struct vm *vm, struct object *obj);
/* Fills *ret_bitmap (malloc'd, *ret_len = ceil(npages / 8) bytes). */
int vm_dirty_log(struct vm *vm, const struct object *obj, uint8_t **ret_bitmap, size_t *ret_len);

/*
 * The same log written into the plugin's memfd @fd (plugvm extension, any
 * size; docs/protocol.md, "Dirty logs in shared memory"): it must be sealed
 * against shrinking and hold at least vm_dirty_log_bytes() bytes.  Does not
 * take @fd; its mapping is kept on @obj while the plugin sends the same file.
 */
int vm_dirty_log_shared(struct vm *vm, struct object *obj, int fd);

/* Drops the mapping vm_dirty_log_shared() kept, if any. */
void vm_dirty_log_unmap(struct object *obj);

/* Bytes KVM writes for @obj's log: one bit per 4 KiB page, in whole 64-bit words. */
uint64_t vm_dirty_log_bytes(const struct object *obj);

/* VM state images (docs/protocol.md §2.4); set is the wire StateSet value. */
int vm_state_size(uint32_t set);
int vm_get_state(struct vm *vm, uint32_t set, void *buf);
int vm_set_state(struct vm *vm, uint32_t set, const void *buf, size_t len);

/*
 * System-wide KVM lists on the /dev/kvm fd (supported or emulated cpuid,
 * MSR index list).  Retries with a larger buffer on E2BIG; results are
 * malloc'd.
 */
struct kvm_cpuid2;
int vm_get_cpuid(struct vm *vm, bool emulated, struct kvm_cpuid2 **ret_cpuid);
int vm_get_msr_index_list(struct vm *vm, uint32_t **ret_indices, size_t *ret_n);

#endif /* PLUGVM_HOST_VM_H */
