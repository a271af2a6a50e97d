// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/* The SERVING state: one handler per vcpu request (docs/protocol.md §4.4). */
#include "vcpu-internal.h"

#include <errno.h>
#include <string.h>

#include "codec.h"
#include "util.h"
#include "vcpu-xsave.h"

#define KVM_CAP_HYPERV_SYNIC_VALUE 123u
#define KVM_CAP_HYPERV_SYNIC2_VALUE 148u

/* ---------------------------------------------------------------------------
 * Per-request handlers (SERVING state).  Each sends exactly one reply whose
 * oneof member matches the request, also on error.
 */

struct vcpu_state_desc {
	unsigned long get;
	unsigned long set;
	size_t size;
};

static const struct vcpu_state_desc vcpu_states[] = {
	[PLUGVM__VCPU_REQUEST__STATE_SET__REGS] = { KVM_GET_REGS, KVM_SET_REGS,
						    sizeof(struct kvm_regs) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__SREGS] = { KVM_GET_SREGS, KVM_SET_SREGS,
						     sizeof(struct kvm_sregs) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__FPU] = { KVM_GET_FPU, KVM_SET_FPU, sizeof(struct kvm_fpu) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__DEBUGREGS] = { KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,
							 sizeof(struct kvm_debugregs) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__LAPIC] = { KVM_GET_LAPIC, KVM_SET_LAPIC,
						     sizeof(struct kvm_lapic_state) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__MP] = { KVM_GET_MP_STATE, KVM_SET_MP_STATE,
						  sizeof(struct kvm_mp_state) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__XCREGS] = { KVM_GET_XCRS, KVM_SET_XCRS,
						      sizeof(struct kvm_xcrs) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__EVENTS] = { KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
						      sizeof(struct kvm_vcpu_events) },
};

static const struct vcpu_state_desc *vcpu_state_lookup(int set)
{
	if (set < 0 || (size_t)set >= ARRAY_SIZE(vcpu_states))
		return NULL;
	return &vcpu_states[set];
}

static int vcpu_set_state(struct vcpu *v, int set, const ProtobufCBinaryData *state)
{
	const struct vcpu_state_desc *d = vcpu_state_lookup(set);

	if (!d || state->len != d->size)
		return -EINVAL;
	/* Copy out of the decoder's buffer: it has no alignment guarantee for the kernel struct. */
	memcpy(v->scratch, state->data, d->size);
	return vcpu_ioctl(v, d->set, v->scratch);
}

static int handle_vcpu_get_state(struct vcpu *v, const Plugvm__VcpuRequest__GetState *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__GetState gs = PLUGVM__VCPU_RESPONSE__GET_STATE__INIT;
	const struct vcpu_state_desc *d = vcpu_state_lookup(req->set);
	int r = -EINVAL;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE;
	resp.get_state = &gs;
	if (d) {
		memset(v->scratch, 0, d->size);
		r = vcpu_ioctl(v, d->get, v->scratch);
		if (r >= 0) {
			gs.state.data = v->scratch;
			gs.state.len = d->size;
		}
	}
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

static int handle_vcpu_set_state(struct vcpu *v, const Plugvm__VcpuRequest__SetState *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__SetState ss = PLUGVM__VCPU_RESPONSE__SET_STATE__INIT;
	int r = vcpu_set_state(v, req->set, &req->state);

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE;
	resp.set_state = &ss;
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

static int handle_vcpu_get_msrs(struct vcpu *v, const Plugvm__VcpuRequest__GetMsrs *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__GetMsrs gm = PLUGVM__VCPU_RESPONSE__GET_MSRS__INIT;
	uint64_t data[VCPU_MAX_MSRS];
	struct kvm_msrs *msrs = (struct kvm_msrs *)(void *)v->scratch;
	size_t n = req->n_entry_indices;
	int r;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS;
	resp.get_msrs = &gm;
	if (n > VCPU_MAX_MSRS) {
		/* The kernel refuses this many too. */
		r = -E2BIG;
		goto out;
	}
	memset(msrs, 0, sizeof(*msrs) + n * sizeof(msrs->entries[0]));
	msrs->nmsrs = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		msrs->entries[i].index = req->entry_indices[i];
	r = vcpu_ioctl(v, KVM_GET_MSRS, msrs);
	if (r < 0)
		goto out;
	/* The kernel stops at the first MSR it cannot read; only what it read goes back. */
	if ((size_t)r > n)
		r = (int)n;
	for (int i = 0; i < r; i++)
		data[i] = msrs->entries[i].data;
	gm.entry_data = data;
	gm.n_entry_data = (size_t)r;
	r = 0;
out:
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

static int handle_vcpu_set_msrs(struct vcpu *v, const Plugvm__VcpuRequest__SetMsrs *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__SetMsrs sm = PLUGVM__VCPU_RESPONSE__SET_MSRS__INIT;
	struct kvm_msrs *msrs = (struct kvm_msrs *)(void *)v->scratch;
	size_t n = req->n_entries;
	int r;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_MSRS;
	resp.set_msrs = &sm;
	if (n > VCPU_MAX_MSRS) {
		r = -E2BIG;
		goto out;
	}
	memset(msrs, 0, sizeof(*msrs) + n * sizeof(msrs->entries[0]));
	msrs->nmsrs = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		msrs->entries[i].index = req->entries[i]->index;
		msrs->entries[i].data = req->entries[i]->data;
	}
	r = vcpu_ioctl(v, KVM_SET_MSRS, msrs);
	/*
	 * Like the original, a short count is not an error (docs/protocol.md §7.16):
	 * changing that would change what existing plugins see.
	 */
	if (r >= 0 && (size_t)r < n)
		log_debug("KVM_SET_MSRS set %d of %zu MSRs", r, n);
out:
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

static int handle_vcpu_set_cpuid(struct vcpu *v, const Plugvm__VcpuRequest__SetCpuid *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__SetCpuid sc = PLUGVM__VCPU_RESPONSE__SET_CPUID__INIT;
	struct kvm_cpuid2 *c = (struct kvm_cpuid2 *)(void *)v->scratch;
	size_t n = req->n_entries;
	int r;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_CPUID;
	resp.set_cpuid = &sc;
	if (n > VCPU_MAX_CPUID) {
		r = -E2BIG;
		goto out;
	}
	memset(c, 0, sizeof(*c) + n * sizeof(c->entries[0]));
	c->nent = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		codec_cpuid_to_kvm_set(req->entries[i], &c->entries[i]);
	r = vcpu_ioctl(v, KVM_SET_CPUID2, c);
out:
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

static int handle_vcpu_get_hyperv_cpuid(struct vcpu *v)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__CpuidResponse cr = PLUGVM__CPUID_RESPONSE__INIT;
	struct kvm_cpuid2 *c = (struct kvm_cpuid2 *)(void *)v->scratch;
	struct codec_cpuid_list list = { 0 };
	int r;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_HYPERV_CPUID;
	resp.get_hyperv_cpuid = &cr;
	memset(c, 0, VCPU_SCRATCH_SIZE);
	c->nent = VCPU_MAX_CPUID;
	r = vcpu_ioctl(v, KVM_GET_SUPPORTED_HV_CPUID, c);
	if (r < 0)
		goto out;
	if (c->nent > VCPU_MAX_CPUID)
		c->nent = VCPU_MAX_CPUID;
	r = codec_cpuid_list_from_kvm(c->entries, c->nent, &list);
	if (r < 0)
		goto out;
	cr.entries = list.ptrs;
	cr.n_entries = list.n;
out:
	resp.errnum = r < 0 ? -r : 0;
	r = vcpu_send(v, &resp);
	codec_cpuid_list_free(&list);
	return r;
}

static int handle_vcpu_enable_capability(struct vcpu *v,
					 const Plugvm__VcpuRequest__EnableCapability *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__EnableCapability ec = PLUGVM__VCPU_RESPONSE__ENABLE_CAPABILITY__INIT;
	struct kvm_enable_cap cap;
	int r = -EINVAL;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_ENABLE_CAPABILITY;
	resp.enable_capability = &ec;
	if (req->capability == KVM_CAP_HYPERV_SYNIC_VALUE ||
	    req->capability == KVM_CAP_HYPERV_SYNIC2_VALUE) {
		memset(&cap, 0, sizeof(cap));
		cap.cap = req->capability;
		r = vcpu_ioctl(v, KVM_ENABLE_CAP, &cap);
	}
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

/* API 0.23 (vcpu-ext.c); without the extension, the ENOTTY of any unknown request. */
static int handle_vcpu_reset(struct vcpu *v)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__Reset m = PLUGVM__VCPU_RESPONSE__RESET__INIT;
	int r = ext_vcpu_reset(v);

	if (r == -ENOTTY)
		return vcpu_send_errno(v, ENOTTY);
	resp.errnum = r < 0 ? -r : 0;
	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_RESET;
	resp.reset = &m;
	return vcpu_send(v, &resp);
}

/* Applies the deferred register sets of a Resume, in the order regs, sregs, debugregs. */
static int vcpu_apply_resume_regs(struct vcpu *v, const Plugvm__VcpuRequest__Resume *res)
{
	int r;

	if (res->regs.len) {
		r = vcpu_set_state(v, PLUGVM__VCPU_REQUEST__STATE_SET__REGS, &res->regs);
		if (r < 0)
			return r;
	}
	if (res->sregs.len) {
		r = vcpu_set_state(v, PLUGVM__VCPU_REQUEST__STATE_SET__SREGS, &res->sregs);
		if (r < 0)
			return r;
	}
	if (res->debugregs.len) {
		r = vcpu_set_state(v, PLUGVM__VCPU_REQUEST__STATE_SET__DEBUGREGS, &res->debugregs);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * SERVING state: the vcpu is stopped on an event already sent.  Serves
 * requests until Resume.  Returns 0 with *ret_resume set (free it with
 * vcpu_request_free()), -EPIPE on Shutdown or when the VM stops, -EIO if the
 * deferred registers of the Resume could not be applied, or another -errno
 * if the channel failed.
 */
int vcpu_serve(struct vcpu *v, Plugvm__VcpuRequest **ret_resume)
{
	for (;;) {
		Plugvm__VcpuRequest *req;
		int r;

		/* -EBADMSG: a protocol violation, which the channel reported with vm_fail(). */
		r = v->chan->recv(v, &req);
		if (r < 0)
			return r;
		switch (req->message_case) {
		case PLUGVM__VCPU_REQUEST__MESSAGE_RESUME:
			r = vcpu_apply_resume_regs(v, req->resume);
			if (r < 0) {
				log_ratelimited(&v->rl, LOG_LEVEL_WARN,
						"registers in resume rejected: %s",
						strerror(-r));
				vcpu_request_free(v, req);
				return -EIO;
			}
			*ret_resume = req;
			return 0;
		case PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN:
			vcpu_request_free(v, req);
			return -EPIPE;
		case PLUGVM__VCPU_REQUEST__MESSAGE_WAIT:
			r = vcpu_send_errno(v, EPROTO);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE:
			r = handle_vcpu_get_state(v, req->get_state);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE:
			r = handle_vcpu_set_state(v, req->set_state);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS:
			r = handle_vcpu_get_msrs(v, req->get_msrs);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_SET_MSRS:
			r = handle_vcpu_set_msrs(v, req->set_msrs);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_SET_CPUID:
			r = handle_vcpu_set_cpuid(v, req->set_cpuid);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_GET_HYPERV_CPUID:
			r = handle_vcpu_get_hyperv_cpuid(v);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY:
			r = handle_vcpu_enable_capability(v, req->enable_capability);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_RESET:
			r = handle_vcpu_reset(v);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE:
			r = vcpu_handle_get_xsave(v);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_SET_XSAVE:
			r = vcpu_handle_set_xsave(v, req->set_xsave);
			break;
		default:
			r = vcpu_send_errno(v, ENOTTY);
			break;
		}
		vcpu_request_free(v, req);
		if (r < 0)
			return r;
	}
}
