/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The host's only way to KVM: a small table of operations with a real
 * backend (kvm-real.c, the kernel) and a fake one (kvm-fake.c, an in-memory
 * model used by the fuzzers and tests that must run without /dev/kvm).
 * Keeping every KVM call behind it lets the request handlers be exercised
 * with hostile input at full speed and with sanitizers watching every byte
 * that crosses the "kernel" boundary.
 */
#ifndef PLUGVM_HOST_KVM_OPS_H
#define PLUGVM_HOST_KVM_OPS_H

#include <stddef.h>

struct kvm_ops {
	const char *name;
	/* Opens the KVM device node (O_RDWR | O_CLOEXEC).  Returns an fd or -errno. */
	int (*dev_open)(const char *path);
	/*
	 * One ioctl on a KVM device, VM or vcpu fd.  arg is the pointer or the
	 * integer the kernel expects.  Retries EINTR.  Returns the kernel's
	 * non-negative result or -errno.
	 */
	int (*ioctl)(int fd, unsigned long req, void *arg);
	/*
	 * KVM_RUN once, without retrying EINTR: an interrupted run is how a
	 * kick (pause, stop) reaches the vcpu loop.  Returns >= 0 or -errno.
	 */
	int (*run)(int vcpu_fd);
	/* Maps a vcpu's kvm_run (size from KVM_GET_VCPU_MMAP_SIZE).  Returns NULL on failure. */
	void *(*map_run)(int vcpu_fd, size_t size);
	void (*unmap_run)(void *run, size_t size);
};

extern const struct kvm_ops kvm_ops_real;

#endif /* PLUGVM_HOST_KVM_OPS_H */
