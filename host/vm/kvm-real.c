// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "kvm-ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int real_dev_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int real_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static int real_run(int vcpu_fd)
{
	int r = ioctl(vcpu_fd, KVM_RUN, 0);

	return r < 0 ? -errno : r;
}

static void *real_map_run(int vcpu_fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void real_unmap_run(void *run, size_t size)
{
	munmap(run, size);
}

const struct kvm_ops kvm_ops_real = {
	.name = "kvm",
	.dev_open = real_dev_open,
	.ioctl = real_ioctl,
	.run = real_run,
	.map_run = real_map_run,
	.unmap_run = real_unmap_run,
};
