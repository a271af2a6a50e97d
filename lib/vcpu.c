// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "private.h"

static const size_t reg_sizes[REG_MAX] = {
	[REG_REGS] = VCPU_STATE_REGS_SIZE,
	[REG_SREGS] = VCPU_STATE_SREGS_SIZE,
	[REG_DEBUGREGS] = VCPU_STATE_DEBUGREGS_SIZE,
};

static const Plugvm__VcpuRequest__StateSet reg_wire_sets[REG_MAX] = {
	[REG_REGS] = PLUGVM__VCPU_REQUEST__STATE_SET__REGS,
	[REG_SREGS] = PLUGVM__VCPU_REQUEST__STATE_SET__SREGS,
	[REG_DEBUGREGS] = PLUGVM__VCPU_REQUEST__STATE_SET__DEBUGREGS,
};

/* Holds the family for the duration of one vcpu call (see family_get()). */
static void vcpu_enter(struct crosvm_vcpu *v)
{
	family_get(v->fam);
}

static int vcpu_leave(struct crosvm_vcpu *v, int ret)
{
	family_put(v->fam);
	return ret;
}

/* Releases a vcpu's channel and buffers (when its family dies). */
static void vcpu_release(struct crosvm_vcpu *v)
{
	chan_destroy(v->chan);
	v->chan = NULL;
	free(v->io_data);
	v->io_data = NULL;
}

void family_get(struct family *fam)
{
	atomic_fetch_add(&fam->refs, 1);
}

void family_put(struct family *fam)
{
	if (atomic_fetch_sub(&fam->refs, 1) != 1)
		return;
	for (uint32_t i = 0; i < fam->nvcpus; i++)
		vcpu_release(&fam->vcpus[i]);
	free(fam->vcpus);
	free(fam);
}

static int vcpu_send(struct crosvm_vcpu *v, const Plugvm__VcpuRequest *req)
{
	return chan_send(v->chan, req);
}

/* Receives the next response; 0 with *ret_resp set (give it back with vcpu_free()), or -errno. */
static int vcpu_recv(struct crosvm_vcpu *v, Plugvm__VcpuResponse **ret_resp)
{
	return chan_recv(v->chan, ret_resp);
}

static void vcpu_free(struct crosvm_vcpu *v, Plugvm__VcpuResponse *resp)
{
	chan_release(v->chan, resp);
}

/*
 * The host reads this vcpu's requests only before the Init handshake and
 * while the vcpu is stopped.  Otherwise a request would block, and its reply
 * would be confused with the next event.
 */
static bool vcpu_host_reading(const struct crosvm_vcpu *v)
{
	return !v->wait_sent || v->stopped;
}

/*
 * One request/response round trip.  `expect` is the response member the
 * request must get.  Members with fields are required; for the empty ones
 * an absent member is accepted, but any *other* member (typically a Wait
 * event) is a desynchronised stream and fails with -EPROTO rather than being
 * swallowed.
 */
static int vcpu_transact_locked(struct crosvm_vcpu *v, const Plugvm__VcpuRequest *req,
				Plugvm__VcpuResponse__MessageCase expect, bool required,
				Plugvm__VcpuResponse **ret_resp)
{
	Plugvm__VcpuResponse *resp;
	int ret;

	if (!vcpu_host_reading(v))
		return -EINVAL;
	ret = vcpu_send(v, req);
	if (ret)
		return ret;
	ret = vcpu_recv(v, &resp);
	if (ret)
		return ret;
	if (resp->errnum != 0) {
		ret = errnum_to_ret(resp->errnum);
		goto err_free;
	}
	if (resp->message_case != expect &&
	    (required || resp->message_case != PLUGVM__VCPU_RESPONSE__MESSAGE__NOT_SET)) {
		ret = -EPROTO;
		goto err_free;
	}
	if (ret_resp)
		*ret_resp = resp;
	else
		vcpu_free(v, resp);
	return 0;

err_free:
	vcpu_free(v, resp);
	return ret;
}

/* Callers touch only the decoded reply and their own buffers afterwards. */
static int vcpu_transact(struct crosvm_vcpu *v, const Plugvm__VcpuRequest *req,
			 Plugvm__VcpuResponse__MessageCase expect, bool required,
			 Plugvm__VcpuResponse **ret_resp)
{
	vcpu_enter(v);
	return vcpu_leave(v, vcpu_transact_locked(v, req, expect, required, ret_resp));
}

static int vcpu_get_state(struct crosvm_vcpu *v, Plugvm__VcpuRequest__StateSet set, void *out,
			  size_t size)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__GetState m = PLUGVM__VCPU_REQUEST__GET_STATE__INIT;
	Plugvm__VcpuResponse *resp;
	int ret;

	m.set = set;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE;
	req.get_state = &m;
	ret = vcpu_transact(v, &req, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE, true, &resp);
	if (ret)
		return ret;
	if (resp->get_state->state.len != size)
		ret = -EPROTO;
	else
		memcpy(out, resp->get_state->state.data, size);
	vcpu_free(v, resp);
	return ret;
}

static int vcpu_set_state(struct crosvm_vcpu *v, Plugvm__VcpuRequest__StateSet set,
			  const void *in, size_t size)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__SetState m = PLUGVM__VCPU_REQUEST__SET_STATE__INIT;

	m.set = set;
	m.state.data = (uint8_t *)in;
	m.state.len = size;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE;
	req.set_state = &m;
	return vcpu_transact(v, &req, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE, false, NULL);
}

static void regs_forget_eager(struct crosvm_vcpu *v)
{
	for (int i = 0; i < REG_MAX; i++) {
		v->regs[i].get = false;
		v->regs[i].bad = false;
	}
}

/* Makes room for an io access's bytes; the pointer handed out must never be NULL. */
static int io_data_reserve(struct crosvm_vcpu *v, size_t len)
{
	size_t cap = len > 8 ? len : 8;
	uint8_t *nb;

	if (cap <= v->io_cap)
		return 0;
	nb = realloc(v->io_data, cap);
	if (!nb)
		return -ENOMEM;
	v->io_data = nb;
	v->io_cap = cap;
	return 0;
}

static int wait_io(struct crosvm_vcpu *v, const Plugvm__VcpuResponse__Wait__Io *io,
		   struct crosvm_vcpu_event *ev)
{
	const ProtobufCBinaryData *eager[REG_MAX] = { &io->regs, &io->sregs, &io->debugregs };
	int ret;

	/* Check and allocate before changing state: a failure leaves the handle as it was. */
	if (io->data.len > UINT32_MAX)
		return -EPROTO;
	/* API 0.23 io details: when sent, they must describe the data. */
	if ((io->element_size || io->count) &&
	    (uint64_t)io->element_size * io->count != io->data.len)
		return -EPROTO;
	ret = io_data_reserve(v, io->data.len);
	if (ret)
		return ret;

	if (io->data.len)
		memcpy(v->io_data, io->data.data, io->data.len);
	for (int i = 0; i < REG_MAX; i++) {
		struct reg_cache *rc = &v->regs[i];

		/* A deferred write still waiting to be sent is newer than what KVM has. */
		if (rc->set)
			continue;
		/*
		 * crosvm's library copied eager registers of any length and
		 * read past a short one.  A wrong size is kept as "bad" so the
		 * event still reaches the plugin and only the get fails.
		 */
		rc->get = eager[i]->len != 0;
		rc->bad = rc->get && eager[i]->len != reg_sizes[i];
		if (rc->get && !rc->bad)
			memcpy(rc->bytes, eager[i]->data, reg_sizes[i]);
	}
	v->resume_len = io->data.len;
	v->resume_hcall = false;
	v->stopped = !io->no_resume;

	ev->kind = CROSVM_VCPU_EVENT_KIND_IO_ACCESS;
	ev->io_access.address_space = io->space;
	ev->io_access.address = io->address;
	ev->io_access.data = v->io_data;
	ev->io_access.length = (uint32_t)io->data.len;
	ev->io_access.is_write = io->is_write;
	ev->io_access.no_resume = io->no_resume;
	memset(ev->io_access._reserved, 0, sizeof(ev->io_access._reserved));
	/* API 0.23 (crosvm_enable_io_details()): 0 from a host that does not send them. */
	ev->io_access.element_size = io->element_size;
	ev->io_access.count = io->count;
	return 0;
}

static int wait_fill(struct crosvm_vcpu *v, const Plugvm__VcpuResponse__Wait *w,
		     struct crosvm_vcpu_event *ev)
{
	switch (w->exit_case) {
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_IO:
		return wait_io(v, w->io, ev);
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_INIT:
		ev->kind = CROSVM_VCPU_EVENT_KIND_INIT;
		break;
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER:
		ev->kind = CROSVM_VCPU_EVENT_KIND_PAUSED;
		ev->user = (void *)(uintptr_t)w->user->user;
		break;
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_CALL:
		ev->kind = CROSVM_VCPU_EVENT_KIND_HYPERV_HCALL;
		ev->hyperv_call.input = w->hyperv_call->input;
		ev->hyperv_call.params[0] = w->hyperv_call->params0;
		ev->hyperv_call.params[1] = w->hyperv_call->params1;
		v->hcall_result = 0;
		ev->hyperv_call.result = &v->hcall_result;
		break;
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_SYNIC:
		ev->kind = CROSVM_VCPU_EVENT_KIND_HYPERV_SYNIC;
		ev->hyperv_synic.msr = w->hyperv_synic->msr;
		ev->hyperv_synic._reserved = 0;
		ev->hyperv_synic.control = w->hyperv_synic->control;
		ev->hyperv_synic.evt_page = w->hyperv_synic->evt_page;
		ev->hyperv_synic.msg_page = w->hyperv_synic->msg_page;
		break;
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_RESET:
		/* API 0.23: only a plugin that called crosvm_enable_reset_events() gets one. */
		ev->kind = CROSVM_VCPU_EVENT_KIND_RESET;
		memset(&ev->reset, 0, sizeof(ev->reset));
		ev->reset.reason = w->reset->reason;
		break;
	default:
		return -EPROTO;
	}
	regs_forget_eager(v);
	v->resume_len = 0;
	v->resume_hcall = w->exit_case == PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_CALL;
	v->stopped = true;
	return 0;
}

static int vcpu_wait(struct crosvm_vcpu *v, struct crosvm_vcpu_event *ev)
{
	Plugvm__VcpuResponse *resp;
	int ret;

	/*
	 * The plugin asks only once, for Init; every later event is written
	 * by the host unprompted when the guest exits.  Waiting again while
	 * the vcpu is stopped would block forever in crosvm's library; the
	 * host answers a Wait in that state with EPROTO, so ask it instead.
	 */
	if (!v->wait_sent || v->stopped) {
		Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
		Plugvm__VcpuRequest__Wait m = PLUGVM__VCPU_REQUEST__WAIT__INIT;

		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_WAIT;
		req.wait = &m;
		ret = vcpu_send(v, &req);
		if (ret)
			return ret;
		v->wait_sent = true;
	}
	/* A kick or timeout ends only the wait for an event (lib/ext.c), never a reply. */
	ret = chan_recv_event(v->chan, !v->stopped, &resp);
	if (ret)
		return ret;
	if (resp->errnum != 0)
		ret = errnum_to_ret(resp->errnum);
	else if (resp->message_case != PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT)
		ret = -EPROTO;
	else
		ret = wait_fill(v, resp->wait, ev);
	vcpu_free(v, resp);
	return ret;
}

EXPORT int crosvm_vcpu_wait(struct crosvm_vcpu *v, struct crosvm_vcpu_event *ev)
{
	if (!v || !ev)
		return -EINVAL;
	vcpu_enter(v);
	return vcpu_leave(v, vcpu_wait(v, ev));
}

static int vcpu_resume(struct crosvm_vcpu *v)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__Resume m = PLUGVM__VCPU_REQUEST__RESUME__INIT;
	ProtobufCBinaryData *fields[REG_MAX] = { &m.regs, &m.sregs, &m.debugregs };
	uint8_t hcall[8];
	int ret;

	/*
	 * Only a stopped vcpu may be resumed: the host reads a Resume sent at
	 * any other time as the answer to a later event.
	 */
	if (!v->stopped)
		return -EINVAL;
	if (v->resume_hcall) {
		/* The hypercall result travels as 8 little-endian bytes. */
		memcpy(hcall, &v->hcall_result, sizeof(hcall));
		m.data.data = hcall;
		m.data.len = sizeof(hcall);
	} else {
		m.data.data = v->io_data;
		m.data.len = v->resume_len;
	}
	for (int i = 0; i < REG_MAX; i++) {
		if (v->regs[i].set) {
			fields[i]->data = v->regs[i].bytes;
			fields[i]->len = reg_sizes[i];
		}
	}
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_RESUME;
	req.resume = &m;
	ret = vcpu_send(v, &req);
	if (ret)
		return ret;
	/*
	 * Resume has no reply: the next message is the next event.  Once the
	 * guest runs, eager copies are stale.
	 */
	for (int i = 0; i < REG_MAX; i++)
		v->regs[i].set = false;
	regs_forget_eager(v);
	v->resume_len = 0;
	v->resume_hcall = false;
	v->stopped = false;
	return 0;
}

EXPORT int crosvm_vcpu_resume(struct crosvm_vcpu *v)
{
	if (!v)
		return -EINVAL;
	vcpu_enter(v);
	return vcpu_leave(v, vcpu_resume(v));
}

static int reg_get_locked(struct crosvm_vcpu *v, enum reg_set which, void *out)
{
	struct reg_cache *rc = &v->regs[which];
	int ret;

	/* Flush a deferred write first so the read shows what KVM made of it. */
	if (rc->set) {
		/* Keep the write for the next resume if it cannot be flushed now. */
		if (!vcpu_host_reading(v))
			return -EINVAL;
		rc->set = false;
		ret = vcpu_set_state(v, reg_wire_sets[which], rc->bytes, reg_sizes[which]);
		if (ret)
			return ret;
	}
	if (rc->get) {
		if (rc->bad)
			return -EPROTO;
		memcpy(out, rc->bytes, reg_sizes[which]);
		return 0;
	}
	return vcpu_get_state(v, reg_wire_sets[which], out, reg_sizes[which]);
}

static int reg_get(struct crosvm_vcpu *v, enum reg_set which, void *out)
{
	vcpu_enter(v);
	return vcpu_leave(v, reg_get_locked(v, which, out));
}

static int reg_set(struct crosvm_vcpu *v, enum reg_set which, const void *in)
{
	struct reg_cache *rc = &v->regs[which];

	memcpy(rc->bytes, in, reg_sizes[which]);
	rc->set = true;
	rc->get = false;
	rc->bad = false;
	return 0;
}

EXPORT int crosvm_vcpu_get_regs(struct crosvm_vcpu *v, struct kvm_regs *regs)
{
	if (!v || !regs)
		return -EINVAL;
	return reg_get(v, REG_REGS, regs);
}

EXPORT int crosvm_vcpu_set_regs(struct crosvm_vcpu *v, const struct kvm_regs *regs)
{
	if (!v || !regs)
		return -EINVAL;
	return reg_set(v, REG_REGS, regs);
}

EXPORT int crosvm_vcpu_get_sregs(struct crosvm_vcpu *v, struct kvm_sregs *sregs)
{
	if (!v || !sregs)
		return -EINVAL;
	return reg_get(v, REG_SREGS, sregs);
}

EXPORT int crosvm_vcpu_set_sregs(struct crosvm_vcpu *v, const struct kvm_sregs *sregs)
{
	if (!v || !sregs)
		return -EINVAL;
	return reg_set(v, REG_SREGS, sregs);
}

EXPORT int crosvm_vcpu_get_debugregs(struct crosvm_vcpu *v, struct kvm_debugregs *dregs)
{
	if (!v || !dregs)
		return -EINVAL;
	return reg_get(v, REG_DEBUGREGS, dregs);
}

EXPORT int crosvm_vcpu_set_debugregs(struct crosvm_vcpu *v, const struct kvm_debugregs *dregs)
{
	if (!v || !dregs)
		return -EINVAL;
	return reg_set(v, REG_DEBUGREGS, dregs);
}

/* The state sets that are never cached: one round trip each way. */
#define DIRECT_STATE(name, type, wire)                                                      \
	EXPORT int crosvm_vcpu_get_##name(struct crosvm_vcpu *v, type *out)                  \
	{                                                                                    \
		if (!v || !out)                                                              \
			return -EINVAL;                                                      \
		vcpu_enter(v);                                                               \
		return vcpu_leave(v, vcpu_get_state(v, PLUGVM__VCPU_REQUEST__STATE_SET__##wire, \
						    out, sizeof(*out)));                     \
	}                                                                                    \
	EXPORT int crosvm_vcpu_set_##name(struct crosvm_vcpu *v, const type *in)             \
	{                                                                                    \
		if (!v || !in)                                                               \
			return -EINVAL;                                                      \
		vcpu_enter(v);                                                               \
		return vcpu_leave(v, vcpu_set_state(v, PLUGVM__VCPU_REQUEST__STATE_SET__##wire, \
						    in, sizeof(*in)));                       \
	}

DIRECT_STATE(fpu, struct kvm_fpu, FPU)
DIRECT_STATE(xcrs, struct kvm_xcrs, XCREGS)
DIRECT_STATE(lapic_state, struct kvm_lapic_state, LAPIC)
DIRECT_STATE(mp_state, struct kvm_mp_state, MP)
DIRECT_STATE(vcpu_events, struct kvm_vcpu_events, EVENTS)

EXPORT int crosvm_vcpu_get_msrs(struct crosvm_vcpu *v, uint32_t msr_count,
				struct kvm_msr_entry *msr_entries, uint32_t *out_count)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__GetMsrs m = PLUGVM__VCPU_REQUEST__GET_MSRS__INIT;
	const Plugvm__VcpuResponse__GetMsrs *gm;
	Plugvm__VcpuResponse *resp;
	uint32_t *indices = NULL;
	int ret;

	if (!out_count)
		return -EINVAL;
	*out_count = 0;
	if (!v || (msr_count > 0 && !msr_entries))
		return -EINVAL;
	/* Every index takes at least one byte on the wire. */
	if (msr_count > WIRE_VCPU_MESSAGE_MAX)
		return -E2BIG;
	if (msr_count > 0) {
		indices = malloc(msr_count * sizeof(*indices));
		if (!indices)
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < msr_count; i++)
		indices[i] = msr_entries[i].index;
	m.n_entry_indices = msr_count;
	m.entry_indices = indices;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS;
	req.get_msrs = &m;
	ret = vcpu_transact(v, &req, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS, true, &resp);
	free(indices);
	if (ret)
		return ret;
	gm = resp->get_msrs;
	*out_count = gm->n_entry_data > UINT32_MAX ? UINT32_MAX : (uint32_t)gm->n_entry_data;
	if (gm->n_entry_data > msr_count) {
		ret = -E2BIG;
	} else {
		/* KVM stops at the first unreadable MSR: a short count is not an error. */
		for (size_t i = 0; i < gm->n_entry_data; i++)
			msr_entries[i].data = gm->entry_data[i];
	}
	vcpu_free(v, resp);
	return ret;
}

EXPORT int crosvm_vcpu_set_msrs(struct crosvm_vcpu *v, uint32_t msr_count,
				const struct kvm_msr_entry *msr_entries)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__SetMsrs m = PLUGVM__VCPU_REQUEST__SET_MSRS__INIT;
	Plugvm__VcpuRequest__MsrEntry *ents = NULL, **ptrs = NULL;
	int ret;

	if (!v || (msr_count > 0 && !msr_entries))
		return -EINVAL;
	/* Every entry takes at least two bytes (tag and length). */
	if (msr_count > WIRE_VCPU_MESSAGE_MAX / 2)
		return -E2BIG;
	if (msr_count > 0) {
		ents = calloc(msr_count, sizeof(*ents));
		ptrs = calloc(msr_count, sizeof(*ptrs));
		if (!ents || !ptrs) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (uint32_t i = 0; i < msr_count; i++) {
		plugvm__vcpu_request__msr_entry__init(&ents[i]);
		ents[i].index = msr_entries[i].index;
		ents[i].data = msr_entries[i].data;
		ptrs[i] = &ents[i];
	}
	m.n_entries = msr_count;
	m.entries = ptrs;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_MSRS;
	req.set_msrs = &m;
	ret = vcpu_transact(v, &req, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_MSRS, false, NULL);
out:
	free(ptrs);
	free(ents);
	return ret;
}

EXPORT int crosvm_vcpu_set_cpuid(struct crosvm_vcpu *v, uint32_t cpuid_count,
				 const struct kvm_cpuid_entry2 *cpuid_entries)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__SetCpuid m = PLUGVM__VCPU_REQUEST__SET_CPUID__INIT;
	struct codec_cpuid_list list;
	int ret;

	if (!v || (cpuid_count > 0 && !cpuid_entries))
		return -EINVAL;
	if (cpuid_count > WIRE_VCPU_MESSAGE_MAX / 2)
		return -E2BIG;
	ret = codec_cpuid_list_from_kvm(cpuid_entries, cpuid_count, &list);
	if (ret)
		return ret;
	m.n_entries = list.n;
	m.entries = list.ptrs;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_CPUID;
	req.set_cpuid = &m;
	ret = vcpu_transact(v, &req, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_CPUID, false, NULL);
	codec_cpuid_list_free(&list);
	return ret;
}

EXPORT int crosvm_get_hyperv_cpuid(struct crosvm_vcpu *v, uint32_t entry_count,
				   struct kvm_cpuid_entry2 *cpuid_entries, uint32_t *out_count)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__CpuidRequest m = PLUGVM__CPUID_REQUEST__INIT;
	Plugvm__VcpuResponse *resp;
	int ret;

	if (!out_count)
		return -EINVAL;
	*out_count = 0;
	if (!v || (entry_count > 0 && !cpuid_entries))
		return -EINVAL;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_HYPERV_CPUID;
	req.get_hyperv_cpuid = &m;
	ret = vcpu_transact(v, &req, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_HYPERV_CPUID, true, &resp);
	if (ret)
		return ret;
	ret = codec_cpuid_list_to_kvm(resp->get_hyperv_cpuid->entries,
				      resp->get_hyperv_cpuid->n_entries, entry_count, cpuid_entries,
				      out_count);
	vcpu_free(v, resp);
	return ret;
}

EXPORT int crosvm_vcpu_enable_capability(struct crosvm_vcpu *v, uint32_t capability,
					 uint32_t flags, uint64_t args[4])
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__EnableCapability m = PLUGVM__VCPU_REQUEST__ENABLE_CAPABILITY__INIT;

	if (!v || !args || flags != 0)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		if (args[i] != 0)
			return -EINVAL;
	}
	m.capability = capability;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY;
	req.enable_capability = &m;
	return vcpu_transact(v, &req, PLUGVM__VCPU_RESPONSE__MESSAGE_ENABLE_CAPABILITY, false,
			     NULL);
}

/* API 0.23 (lib/ext.c has the rest); here for the vcpu's register caches. */
EXPORT int crosvm_vcpu_reset(struct crosvm_vcpu *v)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__Reset m = PLUGVM__VCPU_REQUEST__RESET__INIT;
	int ret;

	if (!v)
		return -EINVAL;
	if (!v->stopped)
		return -EINVAL;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_RESET;
	req.reset = &m;
	ret = vcpu_transact(v, &req, PLUGVM__VCPU_RESPONSE__MESSAGE_RESET, false, NULL);
	if (ret)
		return ret;
	/* Register writes not yet sent would undo the reset at resume; copies are stale. */
	for (int i = 0; i < REG_MAX; i++)
		v->regs[i].set = false;
	regs_forget_eager(v);
	return 0;
}

/* API 0.23: the vcpu's whole XSAVE area (docs/api.md "Extensions (0.23)"). */
EXPORT int crosvm_vcpu_get_xsave(struct crosvm_vcpu *v, void *xsave, uint32_t size,
				 uint32_t *out_size)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__GetXsave m = PLUGVM__VCPU_REQUEST__GET_XSAVE__INIT;
	Plugvm__VcpuResponse *resp;
	size_t len;
	int ret;

	if (!out_size)
		return -EINVAL;
	*out_size = 0;
	if (!v || (size > 0 && !xsave))
		return -EINVAL;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE;
	req.get_xsave = &m;
	ret = vcpu_transact(v, &req, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_XSAVE, true, &resp);
	if (ret)
		return ret;
	len = resp->get_xsave->state.len;
	/* KVM's area is never smaller than struct kvm_xsave. */
	if (len < CROSVM_XSAVE_MIN_SIZE || len > UINT32_MAX) {
		ret = -EPROTO;
	} else {
		*out_size = (uint32_t)len;
		if (len > size)
			ret = -E2BIG;
		else
			memcpy(xsave, resp->get_xsave->state.data, len);
	}
	vcpu_free(v, resp);
	return ret;
}

EXPORT int crosvm_vcpu_set_xsave(struct crosvm_vcpu *v, const void *xsave, uint32_t size)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__SetXsave m = PLUGVM__VCPU_REQUEST__SET_XSAVE__INIT;

	if (!v || !xsave || size == 0)
		return -EINVAL;
	if (size > WIRE_VCPU_MESSAGE_MAX - 16)
		return -E2BIG;
	m.state.data = (uint8_t *)xsave;
	m.state.len = size;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_XSAVE;
	req.set_xsave = &m;
	return vcpu_transact(v, &req, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE, false, NULL);
}
