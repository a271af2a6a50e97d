// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "shm-proto.h"

#include <errno.h>
#include <string.h>

static const size_t image_size[3] = { VCPU_STATE_REGS_SIZE, VCPU_STATE_SREGS_SIZE,
				       VCPU_STATE_DEBUGREGS_SIZE };
static const uint32_t image_flag[3] = { SHM_F_REGS, SHM_F_SREGS, SHM_F_DEBUGREGS };

void shm_images_in(const uint8_t *const slot[3], uint8_t *const copy[3],
		   ProtobufCBinaryData *const field[3], uint32_t mask)
{
	for (int i = 0; i < 3; i++) {
		if (!(mask & image_flag[i]))
			continue;
		memcpy(copy[i], slot[i], image_size[i]);
		field[i]->data = copy[i];
		field[i]->len = image_size[i];
	}
}

uint32_t shm_images_out(uint8_t *const slot[3], const ProtobufCBinaryData *const field[3],
			bool *ret_odd)
{
	uint32_t mask = 0;
	bool odd = false;

	for (int i = 0; i < 3; i++) {
		const ProtobufCBinaryData *f = field[i];

		if (!f->len)
			continue;
		if (f->len != image_size[i]) {
			odd = true;
			continue;
		}
		memcpy(slot[i], f->data, image_size[i]);
		mask |= image_flag[i];
	}
	if (ret_odd)
		*ret_odd = odd;
	return mask;
}

void shm_cpuid_to_proto(const struct shm_cpuid_entry *e, Plugvm__CpuidEntry *c)
{
	plugvm__cpuid_entry__init(c);
	c->function = e->function;
	c->has_index = e->flags & 1;
	c->index = e->index;
	c->eax = e->eax;
	c->ebx = e->ebx;
	c->ecx = e->ecx;
	c->edx = e->edx;
}

struct shm_cpuid_entry shm_cpuid_from_proto(const Plugvm__CpuidEntry *c)
{
	return (struct shm_cpuid_entry){
		.function = c->function,
		.index = c->index,
		.flags = c->has_index ? 1 : 0,
		.eax = c->eax,
		.ebx = c->ebx,
		.ecx = c->ecx,
		.edx = c->edx,
	};
}

/* ---------------------------------------------------------------------------
 * Requests, plugin -> host.
 */

static int request_encode_resume(struct shm_request *rq, struct shm_req_hdr *h,
				 const Plugvm__VcpuRequest__Resume *r)
{
	bool odd;

	if (r->data.len > SHM_IO_MAX)
		return -E2BIG;
	h->regs_mask = shm_images_out((uint8_t *const[3]){ rq->regs, rq->sregs, rq->debugregs },
				      (const ProtobufCBinaryData *const[3]){ &r->regs, &r->sregs,
									     &r->debugregs },
				      &odd);
	/* The layout has room for exactly one image of each set. */
	if (odd)
		return -EINVAL;
	if (r->data.len)
		memcpy(rq->u.data, r->data.data, r->data.len);
	h->len = (uint32_t)r->data.len;
	return 0;
}

int shm_request_encode(struct shm_request *rq, struct shm_req_hdr *h,
		       const Plugvm__VcpuRequest *req)
{
	h->kind = (uint32_t)req->message_case;
	switch (req->message_case) {
	case PLUGVM__VCPU_REQUEST__MESSAGE_WAIT:
	case PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN:
	case PLUGVM__VCPU_REQUEST__MESSAGE_GET_HYPERV_CPUID:
		return 0;
	case PLUGVM__VCPU_REQUEST__MESSAGE_RESUME:
		return request_encode_resume(rq, h, req->resume);
	case PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE:
		h->set = (uint32_t)req->get_state->set;
		return 0;
	case PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE: {
		const ProtobufCBinaryData *st = &req->set_state->state;

		if (st->len > SHM_STATE_MAX)
			return -E2BIG;
		h->set = (uint32_t)req->set_state->set;
		h->len = (uint32_t)st->len;
		if (st->len)
			memcpy(rq->u.data, st->data, st->len);
		return 0;
	}
	case PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS: {
		const Plugvm__VcpuRequest__GetMsrs *gm = req->get_msrs;

		/* The kernel refuses more in one call too (E2BIG). */
		if (gm->n_entry_indices > SHM_MSRS_MAX)
			return -E2BIG;
		h->len = (uint32_t)gm->n_entry_indices;
		if (gm->n_entry_indices)
			memcpy(rq->u.indices, gm->entry_indices,
			       gm->n_entry_indices * sizeof(uint32_t));
		return 0;
	}
	case PLUGVM__VCPU_REQUEST__MESSAGE_SET_MSRS: {
		const Plugvm__VcpuRequest__SetMsrs *sm = req->set_msrs;

		if (sm->n_entries > SHM_MSRS_MAX)
			return -E2BIG;
		h->len = (uint32_t)sm->n_entries;
		for (size_t i = 0; i < sm->n_entries; i++)
			rq->u.msrs[i] = (struct shm_msr_entry){
				.index = sm->entries[i]->index,
				.data = sm->entries[i]->data,
			};
		return 0;
	}
	case PLUGVM__VCPU_REQUEST__MESSAGE_SET_CPUID: {
		const Plugvm__VcpuRequest__SetCpuid *sc = req->set_cpuid;

		if (sc->n_entries > SHM_CPUID_MAX)
			return -E2BIG;
		h->len = (uint32_t)sc->n_entries;
		for (size_t i = 0; i < sc->n_entries; i++)
			rq->u.cpuid[i] = shm_cpuid_from_proto(sc->entries[i]);
		return 0;
	}
	case PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY:
		h->capability = req->enable_capability->capability;
		return 0;
	case PLUGVM__VCPU_REQUEST__MESSAGE_RESET:
	case PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE:
		/* API 0.23: no payload. */
		return 0;
	case PLUGVM__VCPU_REQUEST__MESSAGE_SET_XSAVE: {
		const ProtobufCBinaryData *st = &req->set_xsave->state;

		if (st->len > SHM_XSAVE_MAX)
			return -E2BIG;
		h->len = (uint32_t)st->len;
		if (st->len)
			memcpy(rq->u.xsave, st->data, st->len);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

int shm_request_decode(struct shm_req_copy *c, const struct shm_request *shared)
{
	const struct shm_req_hdr *h = &c->hdr;
	Plugvm__VcpuRequest *req = &c->req;

	/* Copied once; only the copy is looked at from here on. */
	memcpy(&c->hdr, (const void *)&shared->h, sizeof(c->hdr));
	plugvm__vcpu_request__init(req);
	switch (h->kind) {
	case SHM_REQ_WAIT:
		plugvm__vcpu_request__wait__init(&c->m.wait);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_WAIT;
		req->wait = &c->m.wait;
		return 0;
	case SHM_REQ_RESUME: {
		Plugvm__VcpuRequest__Resume *r = &c->m.resume;

		if (h->len > SHM_IO_MAX || (h->regs_mask & ~SHM_F_ALL_REGS))
			return -EBADMSG;
		plugvm__vcpu_request__resume__init(r);
		memcpy(c->raw.data, shared->u.data, h->len);
		r->data.data = c->raw.data;
		r->data.len = h->len;
		shm_images_in((const uint8_t *const[3]){ shared->regs, shared->sregs,
							 shared->debugregs },
			      (uint8_t *const[3]){ c->img.regs, c->img.sregs, c->img.debugregs },
			      (ProtobufCBinaryData *const[3]){ &r->regs, &r->sregs, &r->debugregs },
			      h->regs_mask);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_RESUME;
		req->resume = r;
		return 0;
	}
	case SHM_REQ_GET_STATE:
		plugvm__vcpu_request__get_state__init(&c->m.get_state);
		/* Any value: the handler looks it up and answers EINVAL for unknown sets. */
		c->m.get_state.set = (Plugvm__VcpuRequest__StateSet)(int32_t)h->set;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE;
		req->get_state = &c->m.get_state;
		return 0;
	case SHM_REQ_SET_STATE:
		if (h->len > SHM_STATE_MAX)
			return -EBADMSG;
		plugvm__vcpu_request__set_state__init(&c->m.set_state);
		memcpy(c->raw.data, shared->u.data, h->len);
		c->m.set_state.set = (Plugvm__VcpuRequest__StateSet)(int32_t)h->set;
		c->m.set_state.state.data = c->raw.data;
		c->m.set_state.state.len = h->len;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE;
		req->set_state = &c->m.set_state;
		return 0;
	case SHM_REQ_GET_MSRS:
		if (h->len > SHM_MSRS_MAX)
			return -EBADMSG;
		plugvm__vcpu_request__get_msrs__init(&c->m.get_msrs);
		memcpy(c->raw.indices, shared->u.indices, h->len * sizeof(uint32_t));
		c->m.get_msrs.entry_indices = c->raw.indices;
		c->m.get_msrs.n_entry_indices = h->len;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS;
		req->get_msrs = &c->m.get_msrs;
		return 0;
	case SHM_REQ_SET_MSRS:
		if (h->len > SHM_MSRS_MAX)
			return -EBADMSG;
		plugvm__vcpu_request__set_msrs__init(&c->m.set_msrs);
		memcpy(c->raw.msrs, shared->u.msrs, h->len * sizeof(struct shm_msr_entry));
		for (uint32_t i = 0; i < h->len; i++) {
			plugvm__vcpu_request__msr_entry__init(&c->msrs[i]);
			c->msrs[i].index = c->raw.msrs[i].index;
			c->msrs[i].data = c->raw.msrs[i].data;
			c->msr_ptrs[i] = &c->msrs[i];
		}
		c->m.set_msrs.entries = c->msr_ptrs;
		c->m.set_msrs.n_entries = h->len;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_MSRS;
		req->set_msrs = &c->m.set_msrs;
		return 0;
	case SHM_REQ_SET_CPUID:
		if (h->len > SHM_CPUID_MAX)
			return -EBADMSG;
		plugvm__vcpu_request__set_cpuid__init(&c->m.set_cpuid);
		memcpy(c->raw.cpuid, shared->u.cpuid, h->len * sizeof(struct shm_cpuid_entry));
		for (uint32_t i = 0; i < h->len; i++) {
			shm_cpuid_to_proto(&c->raw.cpuid[i], &c->cpuid[i]);
			c->cpuid_ptrs[i] = &c->cpuid[i];
		}
		c->m.set_cpuid.entries = c->cpuid_ptrs;
		c->m.set_cpuid.n_entries = h->len;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_CPUID;
		req->set_cpuid = &c->m.set_cpuid;
		return 0;
	case SHM_REQ_SHUTDOWN:
		plugvm__vcpu_request__shutdown__init(&c->m.shutdown);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN;
		req->shutdown = &c->m.shutdown;
		return 0;
	case SHM_REQ_GET_HYPERV_CPUID:
		plugvm__cpuid_request__init(&c->m.get_hyperv_cpuid);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_HYPERV_CPUID;
		req->get_hyperv_cpuid = &c->m.get_hyperv_cpuid;
		return 0;
	case SHM_REQ_ENABLE_CAP:
		plugvm__vcpu_request__enable_capability__init(&c->m.enable_capability);
		c->m.enable_capability.capability = h->capability;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY;
		req->enable_capability = &c->m.enable_capability;
		return 0;
	case SHM_REQ_RESET:
		plugvm__vcpu_request__reset__init(&c->m.reset);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_RESET;
		req->reset = &c->m.reset;
		return 0;
	case SHM_REQ_GET_XSAVE:
		plugvm__vcpu_request__get_xsave__init(&c->m.get_xsave);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE;
		req->get_xsave = &c->m.get_xsave;
		return 0;
	case SHM_REQ_SET_XSAVE:
		if (h->len > SHM_XSAVE_MAX)
			return -EBADMSG;
		plugvm__vcpu_request__set_xsave__init(&c->m.set_xsave);
		memcpy(c->raw.xsave, shared->u.xsave, h->len);
		c->m.set_xsave.state.data = c->raw.xsave;
		c->m.set_xsave.state.len = h->len;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_XSAVE;
		req->set_xsave = &c->m.set_xsave;
		return 0;
	default:
		/* Like a protobuf request with no member set: answered ENOTTY. */
		return 0;
	}
}

/* ---------------------------------------------------------------------------
 * Messages, host -> plugin.
 */

static int msg_encode_wait(struct shm_msg *m, struct shm_msg_hdr *h,
			   const Plugvm__VcpuResponse__Wait *w)
{
	h->exit = (uint32_t)w->exit_case;
	switch (w->exit_case) {
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_INIT:
		return 0;
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_IO: {
		const Plugvm__VcpuResponse__Wait__Io *io = w->io;

		if (io->data.len > SHM_IO_MAX)
			return -EMSGSIZE;
		h->space = (uint32_t)io->space;
		h->address = io->address;
		h->len = (uint32_t)io->data.len;
		h->flags = (io->is_write ? SHM_F_IS_WRITE : 0) |
			   (io->no_resume ? SHM_F_NO_RESUME : 0);
		/* API 0.23 io details (0 without them). */
		h->u[0] = io->element_size;
		h->u[1] = io->count;
		/* Empty bytes may have data == NULL: no memcpy from it (UB even for 0). */
		if (io->data.len)
			memcpy(m->data, io->data.data, io->data.len);
		/* An image of another size is not sent. */
		h->flags |= shm_images_out((uint8_t *const[3]){ m->regs, m->sregs, m->debugregs },
					   (const ProtobufCBinaryData *const[3]){
						   &io->regs, &io->sregs, &io->debugregs },
					   NULL);
		return 0;
	}
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER:
		h->u[0] = w->user->user;
		return 0;
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_CALL:
		h->u[0] = w->hyperv_call->input;
		h->u[1] = w->hyperv_call->params0;
		h->u[2] = w->hyperv_call->params1;
		return 0;
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_SYNIC:
		h->msr = w->hyperv_synic->msr;
		h->u[0] = w->hyperv_synic->control;
		h->u[1] = w->hyperv_synic->evt_page;
		h->u[2] = w->hyperv_synic->msg_page;
		return 0;
	case PLUGVM__VCPU_RESPONSE__WAIT__EXIT_RESET:
		h->u[0] = w->reset->reason;
		return 0;
	default:
		return -EINVAL;
	}
}

int shm_msg_encode(struct shm_msg *m, union shm_reply *reply, struct shm_msg_hdr *h,
		   const Plugvm__VcpuResponse *resp)
{
	h->kind = (uint32_t)resp->message_case;
	h->errnum = resp->errnum;
	switch (resp->message_case) {
	case PLUGVM__VCPU_RESPONSE__MESSAGE__NOT_SET:
	case PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE:
	case PLUGVM__VCPU_RESPONSE__MESSAGE_SET_MSRS:
	case PLUGVM__VCPU_RESPONSE__MESSAGE_SET_CPUID:
	case PLUGVM__VCPU_RESPONSE__MESSAGE_ENABLE_CAPABILITY:
	case PLUGVM__VCPU_RESPONSE__MESSAGE_RESET:
	case PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE:
		return 0;
	case PLUGVM__VCPU_RESPONSE__MESSAGE_GET_XSAVE: {
		const ProtobufCBinaryData *st = &resp->get_xsave->state;

		if (st->len > SHM_XSAVE_MAX)
			return -EMSGSIZE;
		if (st->len)
			memcpy(reply->xsave, st->data, st->len);
		h->len = (uint32_t)st->len;
		return 0;
	}
	case PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT:
		return msg_encode_wait(m, h, resp->wait);
	case PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE: {
		const ProtobufCBinaryData *st = &resp->get_state->state;

		if (st->len > SHM_STATE_MAX)
			return -EMSGSIZE;
		/* An error reply has no image (data NULL): no memcpy, UB even for 0 bytes. */
		if (st->len)
			memcpy(reply->state, st->data, st->len);
		h->len = (uint32_t)st->len;
		return 0;
	}
	case PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS: {
		const Plugvm__VcpuResponse__GetMsrs *gm = resp->get_msrs;

		if (gm->n_entry_data > SHM_MSRS_MAX)
			return -EMSGSIZE;
		if (gm->n_entry_data)
			memcpy(reply->msr_data, gm->entry_data,
			       gm->n_entry_data * sizeof(uint64_t));
		h->len = (uint32_t)gm->n_entry_data;
		return 0;
	}
	case PLUGVM__VCPU_RESPONSE__MESSAGE_GET_HYPERV_CPUID: {
		const Plugvm__CpuidResponse *cr = resp->get_hyperv_cpuid;

		if (cr->n_entries > SHM_CPUID_MAX)
			return -EMSGSIZE;
		for (size_t i = 0; i < cr->n_entries; i++)
			reply->cpuid[i] = shm_cpuid_from_proto(cr->entries[i]);
		h->len = (uint32_t)cr->n_entries;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

static int msg_decode_wait(struct shm_msg_copy *c, const struct shm_msg *m)
{
	const struct shm_msg_hdr *h = &c->h;
	Plugvm__VcpuResponse__Wait *w = &c->wait;

	plugvm__vcpu_response__wait__init(w);
	switch (h->exit) {
	case SHM_EXIT_INIT:
		plugvm__vcpu_response__wait__init__init(&c->w.init);
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_INIT;
		w->init = &c->w.init;
		return 0;
	case SHM_EXIT_IO: {
		Plugvm__VcpuResponse__Wait__Io *io = &c->w.io;

		if (h->len > SHM_IO_MAX)
			return -EINVAL;
		plugvm__vcpu_response__wait__io__init(io);
		io->space = (Plugvm__AddressSpace)h->space;
		io->address = h->address;
		io->is_write = (h->flags & SHM_F_IS_WRITE) != 0;
		io->no_resume = (h->flags & SHM_F_NO_RESUME) != 0;
		/* Out of range: UINT32_MAX, which the library's size check refuses. */
		io->element_size = h->u[0] > UINT32_MAX ? UINT32_MAX : (uint32_t)h->u[0];
		io->count = h->u[1] > UINT32_MAX ? UINT32_MAX : (uint32_t)h->u[1];
		memcpy(c->buf.data, m->data, h->len);
		io->data.data = c->buf.data;
		io->data.len = h->len;
		shm_images_in((const uint8_t *const[3]){ m->regs, m->sregs, m->debugregs },
			      (uint8_t *const[3]){ c->img.regs, c->img.sregs, c->img.debugregs },
			      (ProtobufCBinaryData *const[3]){ &io->regs, &io->sregs,
								&io->debugregs },
			      h->flags);
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_IO;
		w->io = io;
		return 0;
	}
	case SHM_EXIT_USER:
		plugvm__vcpu_response__wait__user__init(&c->w.user);
		c->w.user.user = h->u[0];
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER;
		w->user = &c->w.user;
		return 0;
	case SHM_EXIT_HYPERV_CALL:
		plugvm__vcpu_response__wait__hyperv_call__init(&c->w.hyperv_call);
		c->w.hyperv_call.input = h->u[0];
		c->w.hyperv_call.params0 = h->u[1];
		c->w.hyperv_call.params1 = h->u[2];
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_CALL;
		w->hyperv_call = &c->w.hyperv_call;
		return 0;
	case SHM_EXIT_HYPERV_SYNIC:
		plugvm__vcpu_response__wait__hyperv_synic__init(&c->w.hyperv_synic);
		c->w.hyperv_synic.msr = h->msr;
		c->w.hyperv_synic.control = h->u[0];
		c->w.hyperv_synic.evt_page = h->u[1];
		c->w.hyperv_synic.msg_page = h->u[2];
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_SYNIC;
		w->hyperv_synic = &c->w.hyperv_synic;
		return 0;
	case SHM_EXIT_RESET:
		plugvm__vcpu_response__wait__reset__init(&c->w.reset);
		/* A reason beyond 32 bits is one the library does not know either. */
		c->w.reset.reason = h->u[0] > UINT32_MAX ? UINT32_MAX : (uint32_t)h->u[0];
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_RESET;
		w->reset = &c->w.reset;
		return 0;
	default:
		/* Like a Wait without a reason: the vcpu code answers -EPROTO. */
		return 0;
	}
}

int shm_msg_decode(struct shm_msg_copy *c, const struct shm_msg *m, const union shm_reply *reply)
{
	const struct shm_msg_hdr *h = &c->h;
	Plugvm__VcpuResponse *resp = &c->resp;

	/* Copied once; only the copy is looked at from here on. */
	memcpy(&c->h, (const void *)&m->h, sizeof(c->h));
	plugvm__vcpu_response__init(resp);
	resp->errnum = h->errnum;
	switch (h->kind) {
	case SHM_MSG_NONE:
		return 0;
	case SHM_MSG_WAIT:
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT;
		resp->wait = &c->wait;
		return msg_decode_wait(c, m);
	case SHM_MSG_GET_STATE:
		if (h->len > SHM_STATE_MAX)
			return -EINVAL;
		plugvm__vcpu_response__get_state__init(&c->m.get_state);
		memcpy(c->buf.state, reply->state, h->len);
		c->m.get_state.state.data = c->buf.state;
		c->m.get_state.state.len = h->len;
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE;
		resp->get_state = &c->m.get_state;
		return 0;
	case SHM_MSG_SET_STATE:
		plugvm__vcpu_response__set_state__init(&c->m.set_state);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE;
		resp->set_state = &c->m.set_state;
		return 0;
	case SHM_MSG_GET_MSRS:
		if (h->len > SHM_MSRS_MAX)
			return -EINVAL;
		plugvm__vcpu_response__get_msrs__init(&c->m.get_msrs);
		memcpy(c->buf.msr_data, reply->msr_data, h->len * sizeof(uint64_t));
		c->m.get_msrs.entry_data = c->buf.msr_data;
		c->m.get_msrs.n_entry_data = h->len;
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS;
		resp->get_msrs = &c->m.get_msrs;
		return 0;
	case SHM_MSG_SET_MSRS:
		plugvm__vcpu_response__set_msrs__init(&c->m.set_msrs);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_MSRS;
		resp->set_msrs = &c->m.set_msrs;
		return 0;
	case SHM_MSG_SET_CPUID:
		plugvm__vcpu_response__set_cpuid__init(&c->m.set_cpuid);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_CPUID;
		resp->set_cpuid = &c->m.set_cpuid;
		return 0;
	case SHM_MSG_GET_HYPERV_CPUID:
		if (h->len > SHM_CPUID_MAX)
			return -EINVAL;
		plugvm__cpuid_response__init(&c->m.get_hyperv_cpuid);
		for (uint32_t i = 0; i < h->len; i++) {
			/* One read of the shared entry, then the conversion. */
			struct shm_cpuid_entry e = reply->cpuid[i];

			shm_cpuid_to_proto(&e, &c->cpuid[i]);
			c->cpuid_ptrs[i] = &c->cpuid[i];
		}
		c->m.get_hyperv_cpuid.entries = c->cpuid_ptrs;
		c->m.get_hyperv_cpuid.n_entries = h->len;
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_HYPERV_CPUID;
		resp->get_hyperv_cpuid = &c->m.get_hyperv_cpuid;
		return 0;
	case SHM_MSG_ENABLE_CAP:
		plugvm__vcpu_response__enable_capability__init(&c->m.enable_capability);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_ENABLE_CAPABILITY;
		resp->enable_capability = &c->m.enable_capability;
		return 0;
	case SHM_MSG_RESET:
		plugvm__vcpu_response__reset__init(&c->m.reset);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_RESET;
		resp->reset = &c->m.reset;
		return 0;
	case SHM_MSG_GET_XSAVE:
		if (h->len > SHM_XSAVE_MAX)
			return -EINVAL;
		plugvm__vcpu_response__get_xsave__init(&c->m.get_xsave);
		memcpy(c->buf.xsave, reply->xsave, h->len);
		c->m.get_xsave.state.data = c->buf.xsave;
		c->m.get_xsave.state.len = h->len;
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_XSAVE;
		resp->get_xsave = &c->m.get_xsave;
		return 0;
	case SHM_MSG_SET_XSAVE:
		plugvm__vcpu_response__set_xsave__init(&c->m.set_xsave);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE;
		resp->set_xsave = &c->m.set_xsave;
		return 0;
	default:
		return -EINVAL;
	}
}
