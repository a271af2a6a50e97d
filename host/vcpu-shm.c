// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The shared-memory vcpu channel, host side (docs/shm-channel.md).
 *
 * The plugin can write its slot at any time, so nothing read from the slot
 * is used in place: a request's header is copied out first, every count is
 * checked against the fixed bounds of the private copy, and only then is the
 * payload copied, by the checked length.  The host's own counters (messages
 * posted, requests consumed) live in private memory; the slot only gets
 * copies.  A plugin that scribbles on its slot gets EPROTO answers or loses
 * that vcpu; it cannot make the host read out of bounds or block its stop.
 */
#include "vcpu-shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shm-chan.h"
#include "shm-proto.h"
#include "vm.h"

/* How long one futex sleep lasts before the stop flag is looked at again (lost-wake backstop). */
#define HOST_SLICE_NS (20u * 1000u * 1000u)

struct shm_region {
	int fd;
	uint8_t *base;
	size_t size;
	unsigned n;
};

struct vcpu_shm {
	struct shm_slot *slot;
	uint32_t ev_head;  /* messages posted */
	uint32_t req_tail; /* requests consumed */
	struct shm_spin spin;

	/* The request being served: a private copy and the protobuf-c structs pointing into it. */
	struct shm_req_hdr hdr;
	Plugvm__VcpuRequest req;
	union {
		Plugvm__VcpuRequest__Wait wait;
		Plugvm__VcpuRequest__Resume resume;
		Plugvm__VcpuRequest__GetState get_state;
		Plugvm__VcpuRequest__SetState set_state;
		Plugvm__VcpuRequest__GetMsrs get_msrs;
		Plugvm__VcpuRequest__SetMsrs set_msrs;
		Plugvm__VcpuRequest__SetCpuid set_cpuid;
		Plugvm__VcpuRequest__Shutdown shutdown;
		Plugvm__VcpuRequest__Reset reset;
		Plugvm__CpuidRequest get_hyperv_cpuid;
		Plugvm__VcpuRequest__EnableCapability enable_capability;
	} m;
	uint8_t regs[SHM_REGS_SIZE];
	uint8_t sregs[SHM_SREGS_SIZE];
	uint8_t debugregs[SHM_DEBUGREGS_SIZE];
	union {
		uint8_t data[SHM_IO_MAX];
		uint32_t indices[SHM_MSRS_MAX];
		struct shm_msr_entry msrs[SHM_MSRS_MAX];
		struct shm_cpuid_entry cpuid[SHM_CPUID_MAX];
	} raw;
	Plugvm__VcpuRequest__MsrEntry msrs[SHM_MSRS_MAX];
	Plugvm__VcpuRequest__MsrEntry *msr_ptrs[SHM_MSRS_MAX];
	Plugvm__CpuidEntry cpuid[SHM_CPUID_MAX];
	Plugvm__CpuidEntry *cpuid_ptrs[SHM_CPUID_MAX];
};

static int host_check(void *arg)
{
	struct vcpu *v = arg;

	return atomic_load(&v->vm->kill_signaled) ? -EPIPE : 0;
}

/* ---------------------------------------------------------------------------
 * Plugin -> host.
 */

/* Builds s->req from the private copy of the header; copies the payload it names. */
static int shm_build_request(struct vcpu_shm *s, const struct shm_request *shared)
{
	const struct shm_req_hdr *h = &s->hdr;
	Plugvm__VcpuRequest *req = &s->req;

	plugvm__vcpu_request__init(req);
	switch (h->kind) {
	case SHM_REQ_WAIT:
		plugvm__vcpu_request__wait__init(&s->m.wait);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_WAIT;
		req->wait = &s->m.wait;
		return 0;
	case SHM_REQ_RESUME: {
		Plugvm__VcpuRequest__Resume *r = &s->m.resume;

		if (h->len > SHM_IO_MAX || (h->regs_mask & ~SHM_F_ALL_REGS))
			return -EBADMSG;
		plugvm__vcpu_request__resume__init(r);
		memcpy(s->raw.data, shared->u.data, h->len);
		r->data.data = s->raw.data;
		r->data.len = h->len;
		shm_images_in((const uint8_t *const[3]){ shared->regs, shared->sregs,
							 shared->debugregs },
			      (uint8_t *const[3]){ s->regs, s->sregs, s->debugregs },
			      (ProtobufCBinaryData *const[3]){ &r->regs, &r->sregs, &r->debugregs },
			      h->regs_mask);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_RESUME;
		req->resume = r;
		return 0;
	}
	case SHM_REQ_GET_STATE:
		plugvm__vcpu_request__get_state__init(&s->m.get_state);
		/* Any value: the handler looks it up and answers EINVAL for unknown sets. */
		s->m.get_state.set = (Plugvm__VcpuRequest__StateSet)(int32_t)h->set;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE;
		req->get_state = &s->m.get_state;
		return 0;
	case SHM_REQ_SET_STATE:
		if (h->len > SHM_STATE_MAX)
			return -EBADMSG;
		plugvm__vcpu_request__set_state__init(&s->m.set_state);
		memcpy(s->raw.data, shared->u.data, h->len);
		s->m.set_state.set = (Plugvm__VcpuRequest__StateSet)(int32_t)h->set;
		s->m.set_state.state.data = s->raw.data;
		s->m.set_state.state.len = h->len;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE;
		req->set_state = &s->m.set_state;
		return 0;
	case SHM_REQ_GET_MSRS:
		if (h->len > SHM_MSRS_MAX)
			return -EBADMSG;
		plugvm__vcpu_request__get_msrs__init(&s->m.get_msrs);
		memcpy(s->raw.indices, shared->u.indices, h->len * sizeof(uint32_t));
		s->m.get_msrs.entry_indices = s->raw.indices;
		s->m.get_msrs.n_entry_indices = h->len;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS;
		req->get_msrs = &s->m.get_msrs;
		return 0;
	case SHM_REQ_SET_MSRS:
		if (h->len > SHM_MSRS_MAX)
			return -EBADMSG;
		plugvm__vcpu_request__set_msrs__init(&s->m.set_msrs);
		memcpy(s->raw.msrs, shared->u.msrs, h->len * sizeof(struct shm_msr_entry));
		for (uint32_t i = 0; i < h->len; i++) {
			plugvm__vcpu_request__msr_entry__init(&s->msrs[i]);
			s->msrs[i].index = s->raw.msrs[i].index;
			s->msrs[i].data = s->raw.msrs[i].data;
			s->msr_ptrs[i] = &s->msrs[i];
		}
		s->m.set_msrs.entries = s->msr_ptrs;
		s->m.set_msrs.n_entries = h->len;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_MSRS;
		req->set_msrs = &s->m.set_msrs;
		return 0;
	case SHM_REQ_SET_CPUID:
		if (h->len > SHM_CPUID_MAX)
			return -EBADMSG;
		plugvm__vcpu_request__set_cpuid__init(&s->m.set_cpuid);
		memcpy(s->raw.cpuid, shared->u.cpuid, h->len * sizeof(struct shm_cpuid_entry));
		for (uint32_t i = 0; i < h->len; i++) {
			shm_cpuid_to_proto(&s->raw.cpuid[i], &s->cpuid[i]);
			s->cpuid_ptrs[i] = &s->cpuid[i];
		}
		s->m.set_cpuid.entries = s->cpuid_ptrs;
		s->m.set_cpuid.n_entries = h->len;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_CPUID;
		req->set_cpuid = &s->m.set_cpuid;
		return 0;
	case SHM_REQ_SHUTDOWN:
		plugvm__vcpu_request__shutdown__init(&s->m.shutdown);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN;
		req->shutdown = &s->m.shutdown;
		return 0;
	case SHM_REQ_GET_HYPERV_CPUID:
		plugvm__cpuid_request__init(&s->m.get_hyperv_cpuid);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_HYPERV_CPUID;
		req->get_hyperv_cpuid = &s->m.get_hyperv_cpuid;
		return 0;
	case SHM_REQ_ENABLE_CAP:
		plugvm__vcpu_request__enable_capability__init(&s->m.enable_capability);
		s->m.enable_capability.capability = h->capability;
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY;
		req->enable_capability = &s->m.enable_capability;
		return 0;
	case SHM_REQ_RESET:
		plugvm__vcpu_request__reset__init(&s->m.reset);
		req->message_case = PLUGVM__VCPU_REQUEST__MESSAGE_RESET;
		req->reset = &s->m.reset;
		return 0;
	default:
		/* Like a protobuf request with no member set: answered ENOTTY. */
		return 0;
	}
}

static int shm_recv(struct vcpu *v, Plugvm__VcpuRequest **ret_req)
{
	struct vcpu_shm *s = v->shm;
	struct shm_slot *slot = s->slot;
	int r;

	for (;;) {
		if (atomic_load(&v->vm->kill_signaled))
			return -EPIPE;
		if (shm_load(&slot->req_head.seq) != s->req_tail)
			break;
		r = shm_wait(&slot->req_head, s->req_tail, &s->spin, HOST_SLICE_NS, host_check, v);
		if (r)
			return r;
	}
	/*
	 * Whatever the plugin claims to have posted, exactly one request is
	 * consumed per call.  The header is copied once and only the copy is
	 * looked at.
	 */
	memcpy(&s->hdr, (const void *)&slot->req.h, sizeof(s->hdr));
	r = shm_build_request(s, &slot->req);
	s->req_tail++;
	/* The request area is free again only after everything was copied out. */
	shm_post(&slot->req_tail, s->req_tail);
	if (r == -EBADMSG) {
		/* As on the pipe: a request that cannot be taken apart ends the VM. */
		vm_fail(v->vm, "vcpu %u: malformed shared-memory request (kind %u, length %u, "
			"registers 0x%x): protocol violation, stopping the VM", v->id, s->hdr.kind,
			s->hdr.len, s->hdr.regs_mask);
		return r;
	}
	if (r < 0)
		return r;
	*ret_req = &s->req;
	return 0;
}

static void shm_release(struct vcpu *v, Plugvm__VcpuRequest *req)
{
	/* Everything lives in the vcpu's private copy, reused by the next request. */
	(void)v;
	(void)req;
}

/* ---------------------------------------------------------------------------
 * Host -> plugin.
 */

static int shm_fill_wait(struct shm_msg *m, struct shm_msg_hdr *h,
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
		h->flags = (io->is_write ? SHM_F_IS_WRITE : 0) | (io->no_resume ? SHM_F_NO_RESUME : 0);
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

/* Fills the header and the payload areas; the reply area is free (one request in flight). */
static int shm_fill(struct shm_slot *slot, struct shm_msg *m, struct shm_msg_hdr *h,
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
		return 0;
	case PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT:
		return shm_fill_wait(m, h, resp->wait);
	case PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE: {
		const ProtobufCBinaryData *st = &resp->get_state->state;

		if (st->len > SHM_STATE_MAX)
			return -EMSGSIZE;
		/* An error reply has no image (data NULL): no memcpy, UB even for 0 bytes. */
		if (st->len)
			memcpy(slot->reply.state, st->data, st->len);
		h->len = (uint32_t)st->len;
		return 0;
	}
	case PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS: {
		const Plugvm__VcpuResponse__GetMsrs *gm = resp->get_msrs;

		if (gm->n_entry_data > SHM_MSRS_MAX)
			return -EMSGSIZE;
		if (gm->n_entry_data)
			memcpy(slot->reply.msr_data, gm->entry_data,
			       gm->n_entry_data * sizeof(uint64_t));
		h->len = (uint32_t)gm->n_entry_data;
		return 0;
	}
	case PLUGVM__VCPU_RESPONSE__MESSAGE_GET_HYPERV_CPUID: {
		const Plugvm__CpuidResponse *cr = resp->get_hyperv_cpuid;

		if (cr->n_entries > SHM_CPUID_MAX)
			return -EMSGSIZE;
		for (size_t i = 0; i < cr->n_entries; i++)
			slot->reply.cpuid[i] = shm_cpuid_from_proto(cr->entries[i]);
		h->len = (uint32_t)cr->n_entries;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

static int shm_send(struct vcpu *v, const Plugvm__VcpuResponse *resp)
{
	struct vcpu_shm *s = v->shm;
	struct shm_slot *slot = s->slot;
	struct shm_msg_hdr h;
	struct shm_msg *m;
	int r;

	/* Back-pressure: a plugin that does not consume its async events stalls its own vcpu. */
	for (;;) {
		uint32_t tail = shm_load(&slot->ev_tail.seq), used = s->ev_head - tail;

		if (used > SHM_RING) {
			log_ratelimited(&v->rl, LOG_LEVEL_WARN,
					"vcpu %u: plugin corrupted its shared-memory slot", v->id);
			return -EPROTO;
		}
		if (used < SHM_RING)
			break;
		if (atomic_load(&v->vm->kill_signaled))
			return -EPIPE;
		r = shm_wait(&slot->ev_tail, tail, &s->spin, HOST_SLICE_NS, host_check, v);
		if (r)
			return r;
	}
	m = &slot->ring[s->ev_head % SHM_RING];
	memset(&h, 0, sizeof(h));
	r = shm_fill(slot, m, &h, resp);
	if (r < 0)
		return r;
	memcpy(&m->h, &h, sizeof(h));
	s->ev_head++;
	shm_post(&slot->ev_head, s->ev_head);
	return 0;
}

const struct vcpu_channel_ops vcpu_shm_channel = {
	.send = shm_send,
	.recv = shm_recv,
	.release = shm_release,
};

/* ---------------------------------------------------------------------------
 * Negotiation and lifecycle (main thread).
 */

static int shm_region_create(struct vm *vm, struct shm_region **ret)
{
	struct shm_region *rg = calloc(1, sizeof(*rg));
	int r;

	if (!rg)
		return -ENOMEM;
	rg->n = vm->n_vcpus;
	rg->size = (size_t)rg->n * SHM_SLOT_SIZE;
	rg->fd = memfd_create("plugvm-vcpu-channel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (rg->fd < 0) {
		r = -errno;
		goto err_free;
	}
	if (ftruncate(rg->fd, (off_t)rg->size) < 0) {
		r = -errno;
		goto err_close;
	}
	/* The plugin maps it too: it must not be able to shrink it under the host (SIGBUS). */
	if (fcntl(rg->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -errno;
		goto err_close;
	}
	rg->base = mmap(NULL, rg->size, PROT_READ | PROT_WRITE, MAP_SHARED, rg->fd, 0);
	if (rg->base == MAP_FAILED) {
		r = -errno;
		goto err_close;
	}
	for (unsigned i = 0; i < rg->n; i++) {
		struct shm_slot *slot =
			(struct shm_slot *)(void *)(rg->base + (size_t)i * SHM_SLOT_SIZE);

		slot->magic = SHM_CHAN_MAGIC;
		slot->version = SHM_CHAN_VERSION;
		slot->slot_size = (uint32_t)SHM_SLOT_SIZE;
		slot->vcpu_id = i;
	}
	*ret = rg;
	return 0;

err_close:
	close(rg->fd);
err_free:
	free(rg);
	return r;
}

int vcpus_negotiate_channel(struct vm *vm, uint32_t version, struct vcpu_channel_info *info)
{
	struct shm_region *rg;
	int r;

	memset(info, 0, sizeof(*info));
	info->fd = -1;
	/* The vcpu threads pick their channel when they start. */
	if (vm->start_requested)
		return -EBUSY;
	if (!vm->vcpus || vm->n_vcpus == 0)
		return -EINVAL;
	if (version == 0) {
		for (unsigned i = 0; i < vm->n_vcpus; i++)
			vm->vcpus[i].chan = &vcpu_pipe_channel;
		log_debug("vcpu channel: back to pipes");
		return 0;
	}
	rg = vm->vcpus[0].shm_region;
	if (!rg) {
		r = shm_region_create(vm, &rg);
		if (r < 0) {
			log_warn("vcpu channel: cannot create the shared memory: %s", strerror(-r));
			return r;
		}
		for (unsigned i = 0; i < vm->n_vcpus; i++) {
			struct vcpu *v = &vm->vcpus[i];

			v->shm = calloc(1, sizeof(*v->shm));
			if (!v->shm) {
				/* vcpus_shm_free() releases what was made. */
				vm->vcpus[0].shm_region = rg;
				vcpus_shm_free(vm);
				return -ENOMEM;
			}
			v->shm->slot =
				(struct shm_slot *)(void *)(rg->base + (size_t)i * SHM_SLOT_SIZE);
			shm_spin_init(&v->shm->spin, vm->n_vcpus, SHM_SIDE_HOST);
		}
		vm->vcpus[0].shm_region = rg;
		log_debug("vcpu channel: shared memory, %u slots of %zu bytes", rg->n,
			  (size_t)SHM_SLOT_SIZE);
	}
	for (unsigned i = 0; i < vm->n_vcpus; i++)
		vm->vcpus[i].chan = &vcpu_shm_channel;
	info->version = SHM_CHAN_VERSION;
	info->slot_size = (uint32_t)SHM_SLOT_SIZE;
	info->n_vcpus = rg->n;
	info->size = rg->size;
	info->fd = rg->fd;
	return 0;
}

void vcpu_shm_wake(struct vcpu *v)
{
	if (!v->shm)
		return;
	shm_wake(&v->shm->slot->req_head);
	shm_wake(&v->shm->slot->ev_tail);
}

void vcpus_shm_free(struct vm *vm)
{
	struct shm_region *rg;

	if (!vm->vcpus)
		return;
	rg = vm->vcpus[0].shm_region;
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		free(vm->vcpus[i].shm);
		vm->vcpus[i].shm = NULL;
		vm->vcpus[i].chan = &vcpu_pipe_channel;
	}
	vm->vcpus[0].shm_region = NULL;
	if (!rg)
		return;
	munmap(rg->base, rg->size);
	close(rg->fd);
	free(rg);
}
