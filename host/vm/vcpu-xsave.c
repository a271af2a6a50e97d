// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The XSAVE extension's vcpu requests (API 0.23): the vcpu's full XSAVE
 * area, where crosvm's GetState{FPU} carries only x87 and SSE.
 *
 * Every length comes from the plugin and is checked against the kernel's
 * own size before any ioctl: KVM_SET_XSAVE reads exactly that many bytes
 * from the buffer it is given, so the host always hands it a buffer of the
 * kernel's size that it filled itself.
 */
#include "vcpu-xsave.h"
#include "vcpu-internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "ext-bits.h"
#include "kvm-ops.h"
#include "vcpu.h"
#include "vm.h"

_Static_assert(sizeof(struct kvm_xsave) == 4096, "struct kvm_xsave is 4 KiB");

/*
 * The size of v's XSAVE area and the ioctl that reads all of it: what
 * KVM_CAP_XSAVE2 says (KVM_GET_XSAVE2), or struct kvm_xsave's 4 KiB
 * (KVM_GET_XSAVE) on kernels without it.  -E2BIG for an area larger than
 * the host hands out.
 */
static int xsave_size(struct vcpu *v, unsigned long *ret_get)
{
	int r = v->vm->kvm->ioctl(v->vm->vm_fd, KVM_CHECK_EXTENSION,
				  (void *)(unsigned long)KVM_CAP_XSAVE2);

	if (r > 0) {
		*ret_get = KVM_GET_XSAVE2;
	} else {
		*ret_get = KVM_GET_XSAVE;
		r = (int)sizeof(struct kvm_xsave);
	}
	/* KVM never reports less than struct kvm_xsave; a smaller answer is not trusted. */
	if (r < (int)sizeof(struct kvm_xsave))
		r = (int)sizeof(struct kvm_xsave);
	if ((unsigned)r > VCPU_XSAVE_MAX)
		return -E2BIG;
	return r;
}

/* A zeroed buffer of `size` bytes, aligned as the kernel's struct (64 for XSAVE). */
static void *xsave_alloc(size_t size)
{
	void *p = aligned_alloc(64, (size + 63) & ~(size_t)63);

	if (p)
		memset(p, 0, size);
	return p;
}

static bool xsave_offered(const struct vcpu *v)
{
	return (vm_ext_offered(v->vm) & PLUGVM_EXT_XSAVE) != 0;
}

int vcpu_handle_get_xsave(struct vcpu *v)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__GetXsave m = PLUGVM__VCPU_RESPONSE__GET_XSAVE__INIT;
	unsigned long get;
	void *buf = NULL;
	int size, r;

	if (!xsave_offered(v))
		return vcpu_send_errno(v, ENOTTY);
	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_XSAVE;
	resp.get_xsave = &m;
	r = size = xsave_size(v, &get);
	if (r >= 0) {
		buf = xsave_alloc((size_t)size);
		r = buf ? vcpu_ioctl(v, get, buf) : -ENOMEM;
	}
	if (r >= 0) {
		m.state.data = buf;
		m.state.len = (size_t)size;
	}
	resp.errnum = r < 0 ? -r : 0;
	r = vcpu_send(v, &resp);
	free(buf);
	/*
	 * An area larger than the channel carries (the shared-memory slot holds
	 * SHM_XSAVE_MAX bytes) was refused before anything was sent: say so.
	 */
	if (r == -EMSGSIZE) {
		m.state.data = NULL;
		m.state.len = 0;
		resp.errnum = E2BIG;
		r = vcpu_send(v, &resp);
	}
	return r;
}

int vcpu_handle_set_xsave(struct vcpu *v, const Plugvm__VcpuRequest__SetXsave *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__SetXsave m = PLUGVM__VCPU_RESPONSE__SET_XSAVE__INIT;
	unsigned long get;
	void *buf = NULL;
	int size, r;

	if (!xsave_offered(v))
		return vcpu_send_errno(v, ENOTTY);
	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE;
	resp.set_xsave = &m;
	r = size = xsave_size(v, &get);
	if (r >= 0 && req->state.len != (size_t)size)
		r = -EINVAL;
	if (r >= 0) {
		/* Out of the decoder's buffer: the kernel's struct wants its alignment. */
		buf = xsave_alloc((size_t)size);
		if (buf) {
			memcpy(buf, req->state.data, (size_t)size);
			r = vcpu_ioctl(v, KVM_SET_XSAVE, buf);
		} else {
			r = -ENOMEM;
		}
	}
	resp.errnum = r < 0 ? -r : 0;
	free(buf);
	return vcpu_send(v, &resp);
}
