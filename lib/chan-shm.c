// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The shared-memory vcpu channel, plugin side (docs/shm-channel.md).
 *
 * Requests are written into the slot's request area and published by
 * bumping req_head; messages from the host are read out of the ring and
 * acknowledged by bumping ev_tail.  Responses are handed to lib/vcpu.c as
 * protobuf-c structs that live in the channel (no allocation, no protobuf
 * decoding on the exit path).  The host is trusted, but a broken one still
 * cannot make us read or write past our buffers: every length is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chan.h"
#include "shm-chan.h"
#include "shm-proto.h"

/* How long one futex sleep lasts before checking that the host still lives. */
#define PLUGIN_SLICE_NS (50u * 1000u * 1000u)

struct shm_map {
	atomic_uint refs;
	uint8_t *base;
	size_t size;
};

struct shm_chan {
	struct vcpu_chan base;
	struct shm_map *map;
	struct shm_slot *slot;
	int req_fd;
	int resp_fd;
	uint32_t ev_tail;  /* messages consumed */
	uint32_t req_head; /* requests posted */
	struct shm_spin spin;

	/* The response handed out by recv, built on private copies. */
	struct shm_msg_hdr h;
	Plugvm__VcpuResponse resp;
	Plugvm__VcpuResponse__Wait wait;
	union {
		Plugvm__VcpuResponse__Wait__Init init;
		Plugvm__VcpuResponse__Wait__Io io;
		Plugvm__VcpuResponse__Wait__User user;
		Plugvm__VcpuResponse__Wait__HypervCall hyperv_call;
		Plugvm__VcpuResponse__Wait__HypervSynic hyperv_synic;
		Plugvm__VcpuResponse__Wait__Reset reset;
	} w;
	union {
		Plugvm__VcpuResponse__GetState get_state;
		Plugvm__VcpuResponse__SetState set_state;
		Plugvm__VcpuResponse__GetMsrs get_msrs;
		Plugvm__VcpuResponse__SetMsrs set_msrs;
		Plugvm__VcpuResponse__SetCpuid set_cpuid;
		Plugvm__CpuidResponse get_hyperv_cpuid;
		Plugvm__VcpuResponse__EnableCapability enable_capability;
		Plugvm__VcpuResponse__Reset reset;
	} m;
	uint8_t regs[SHM_REGS_SIZE];
	uint8_t sregs[SHM_SREGS_SIZE];
	uint8_t debugregs[SHM_DEBUGREGS_SIZE];
	union {
		uint8_t data[SHM_IO_MAX];
		uint8_t state[SHM_STATE_MAX];
		uint64_t msr_data[SHM_MSRS_MAX];
	} buf;
	Plugvm__CpuidEntry cpuid[SHM_CPUID_MAX];
	Plugvm__CpuidEntry *cpuid_ptrs[SHM_CPUID_MAX];
};

static struct shm_chan *to_shm(struct vcpu_chan *ch)
{
	return (struct shm_chan *)ch;
}

/*
 * The host holds the write end of our response pipe while it lives, so the
 * pipe hangs up exactly when the host is gone.
 */
static int host_gone(void *arg)
{
	struct shm_chan *sc = arg;
	struct pollfd p = { .fd = sc->resp_fd, .events = POLLIN };

	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
		return -EPIPE;
	return 0;
}

/* Inside a wait: the host's death, a kick (chan_kick()) or the deadline. */
static int wait_over(void *arg)
{
	struct shm_chan *sc = arg;
	int r = host_gone(sc);

	return r ? r : chan_wait_check(&sc->base);
}

static void shm_wake_waiter(struct vcpu_chan *ch)
{
	shm_wake(&to_shm(ch)->slot->ev_head);
}

/* ---------------------------------------------------------------------------
 * Plugin -> host.
 */

static int fill_resume(struct shm_request *rq, struct shm_req_hdr *h,
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

static int fill_request(struct shm_request *rq, struct shm_req_hdr *h,
			const Plugvm__VcpuRequest *req)
{
	h->kind = (uint32_t)req->message_case;
	switch (req->message_case) {
	case PLUGVM__VCPU_REQUEST__MESSAGE_WAIT:
	case PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN:
	case PLUGVM__VCPU_REQUEST__MESSAGE_GET_HYPERV_CPUID:
	case PLUGVM__VCPU_REQUEST__MESSAGE_RESET:
		return 0;
	case PLUGVM__VCPU_REQUEST__MESSAGE_RESUME:
		return fill_resume(rq, h, req->resume);
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
	default:
		return -EINVAL;
	}
}

static int shm_send(struct vcpu_chan *ch, const Plugvm__VcpuRequest *req)
{
	struct shm_chan *sc = to_shm(ch);
	struct shm_slot *slot = sc->slot;
	struct shm_req_hdr h;
	int ret;

	/*
	 * The host copies each request out before acting on it, so the area
	 * is normally free already; a request sent before Start waits here
	 * for the host to take the previous one.
	 */
	for (;;) {
		uint32_t done = shm_load(&slot->req_tail.seq);

		if (done == sc->req_head)
			break;
		ret = shm_wait(&slot->req_tail, done, &sc->spin, PLUGIN_SLICE_NS, host_gone, sc);
		if (ret)
			return ret;
	}
	memset(&h, 0, sizeof(h));
	ret = fill_request(&slot->req, &h, req);
	if (ret)
		return ret;
	memcpy(&slot->req.h, &h, sizeof(h));
	sc->req_head++;
	shm_post(&slot->req_head, sc->req_head);
	return 0;
}

/* ---------------------------------------------------------------------------
 * Host -> plugin.
 */

static int build_wait(struct shm_chan *sc, const struct shm_msg *m)
{
	const struct shm_msg_hdr *h = &sc->h;
	Plugvm__VcpuResponse__Wait *w = &sc->wait;

	plugvm__vcpu_response__wait__init(w);
	switch (h->exit) {
	case SHM_EXIT_INIT:
		plugvm__vcpu_response__wait__init__init(&sc->w.init);
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_INIT;
		w->init = &sc->w.init;
		return 0;
	case SHM_EXIT_IO: {
		Plugvm__VcpuResponse__Wait__Io *io = &sc->w.io;

		if (h->len > SHM_IO_MAX)
			return -EINVAL;
		plugvm__vcpu_response__wait__io__init(io);
		io->space = (Plugvm__AddressSpace)h->space;
		io->address = h->address;
		io->is_write = (h->flags & SHM_F_IS_WRITE) != 0;
		io->no_resume = (h->flags & SHM_F_NO_RESUME) != 0;
		memcpy(sc->buf.data, m->data, h->len);
		io->data.data = sc->buf.data;
		io->data.len = h->len;
		shm_images_in((const uint8_t *const[3]){ m->regs, m->sregs, m->debugregs },
			      (uint8_t *const[3]){ sc->regs, sc->sregs, sc->debugregs },
			      (ProtobufCBinaryData *const[3]){ &io->regs, &io->sregs, &io->debugregs },
			      h->flags);
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_IO;
		w->io = io;
		return 0;
	}
	case SHM_EXIT_USER:
		plugvm__vcpu_response__wait__user__init(&sc->w.user);
		sc->w.user.user = h->u[0];
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER;
		w->user = &sc->w.user;
		return 0;
	case SHM_EXIT_HYPERV_CALL:
		plugvm__vcpu_response__wait__hyperv_call__init(&sc->w.hyperv_call);
		sc->w.hyperv_call.input = h->u[0];
		sc->w.hyperv_call.params0 = h->u[1];
		sc->w.hyperv_call.params1 = h->u[2];
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_CALL;
		w->hyperv_call = &sc->w.hyperv_call;
		return 0;
	case SHM_EXIT_HYPERV_SYNIC:
		plugvm__vcpu_response__wait__hyperv_synic__init(&sc->w.hyperv_synic);
		sc->w.hyperv_synic.msr = h->msr;
		sc->w.hyperv_synic.control = h->u[0];
		sc->w.hyperv_synic.evt_page = h->u[1];
		sc->w.hyperv_synic.msg_page = h->u[2];
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_SYNIC;
		w->hyperv_synic = &sc->w.hyperv_synic;
		return 0;
	case SHM_EXIT_RESET:
		plugvm__vcpu_response__wait__reset__init(&sc->w.reset);
		/* A reason beyond 32 bits is one the library does not know either. */
		sc->w.reset.reason = h->u[0] > UINT32_MAX ? UINT32_MAX : (uint32_t)h->u[0];
		w->exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_RESET;
		w->reset = &sc->w.reset;
		return 0;
	default:
		/* Like a Wait without a reason: the vcpu code answers -EPROTO. */
		return 0;
	}
}

static int build_response(struct shm_chan *sc, const struct shm_msg *m)
{
	const struct shm_msg_hdr *h = &sc->h;
	const struct shm_slot *slot = sc->slot;
	Plugvm__VcpuResponse *resp = &sc->resp;

	plugvm__vcpu_response__init(resp);
	resp->errnum = h->errnum;
	switch (h->kind) {
	case SHM_MSG_NONE:
		return 0;
	case SHM_MSG_WAIT:
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT;
		resp->wait = &sc->wait;
		return build_wait(sc, m);
	case SHM_MSG_GET_STATE:
		if (h->len > SHM_STATE_MAX)
			return -EINVAL;
		plugvm__vcpu_response__get_state__init(&sc->m.get_state);
		memcpy(sc->buf.state, slot->reply.state, h->len);
		sc->m.get_state.state.data = sc->buf.state;
		sc->m.get_state.state.len = h->len;
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE;
		resp->get_state = &sc->m.get_state;
		return 0;
	case SHM_MSG_SET_STATE:
		plugvm__vcpu_response__set_state__init(&sc->m.set_state);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE;
		resp->set_state = &sc->m.set_state;
		return 0;
	case SHM_MSG_GET_MSRS:
		if (h->len > SHM_MSRS_MAX)
			return -EINVAL;
		plugvm__vcpu_response__get_msrs__init(&sc->m.get_msrs);
		memcpy(sc->buf.msr_data, slot->reply.msr_data, h->len * sizeof(uint64_t));
		sc->m.get_msrs.entry_data = sc->buf.msr_data;
		sc->m.get_msrs.n_entry_data = h->len;
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS;
		resp->get_msrs = &sc->m.get_msrs;
		return 0;
	case SHM_MSG_SET_MSRS:
		plugvm__vcpu_response__set_msrs__init(&sc->m.set_msrs);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_MSRS;
		resp->set_msrs = &sc->m.set_msrs;
		return 0;
	case SHM_MSG_SET_CPUID:
		plugvm__vcpu_response__set_cpuid__init(&sc->m.set_cpuid);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_CPUID;
		resp->set_cpuid = &sc->m.set_cpuid;
		return 0;
	case SHM_MSG_GET_HYPERV_CPUID:
		if (h->len > SHM_CPUID_MAX)
			return -EINVAL;
		plugvm__cpuid_response__init(&sc->m.get_hyperv_cpuid);
		for (uint32_t i = 0; i < h->len; i++) {
			/* One read of the shared entry, then the conversion. */
			struct shm_cpuid_entry e = slot->reply.cpuid[i];

			shm_cpuid_to_proto(&e, &sc->cpuid[i]);
			sc->cpuid_ptrs[i] = &sc->cpuid[i];
		}
		sc->m.get_hyperv_cpuid.entries = sc->cpuid_ptrs;
		sc->m.get_hyperv_cpuid.n_entries = h->len;
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_HYPERV_CPUID;
		resp->get_hyperv_cpuid = &sc->m.get_hyperv_cpuid;
		return 0;
	case SHM_MSG_ENABLE_CAP:
		plugvm__vcpu_response__enable_capability__init(&sc->m.enable_capability);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_ENABLE_CAPABILITY;
		resp->enable_capability = &sc->m.enable_capability;
		return 0;
	case SHM_MSG_RESET:
		plugvm__vcpu_response__reset__init(&sc->m.reset);
		resp->message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_RESET;
		resp->reset = &sc->m.reset;
		return 0;
	default:
		return -EINVAL;
	}
}

static int shm_recv(struct vcpu_chan *ch, Plugvm__VcpuResponse **ret_resp)
{
	struct shm_chan *sc = to_shm(ch);
	struct shm_slot *slot = sc->slot;
	const struct shm_msg *m;
	int ret;

	for (;;) {
		uint32_t head = shm_load(&slot->ev_head.seq);

		if (head != sc->ev_tail) {
			/* A host that claims more than the ring holds is broken. */
			if (head - sc->ev_tail > SHM_RING)
				return -EINVAL;
			break;
		}
		if (atomic_load(&sc->base.in_wait)) {
			uint64_t left = chan_wait_left_ns(&sc->base);

			ret = chan_wait_check(&sc->base);
			if (!ret)
				ret = shm_wait(&slot->ev_head, sc->ev_tail, &sc->spin,
					       left < PLUGIN_SLICE_NS ? left : PLUGIN_SLICE_NS,
					       wait_over, sc);
		} else {
			ret = shm_wait(&slot->ev_head, sc->ev_tail, &sc->spin, PLUGIN_SLICE_NS,
				       host_gone, sc);
		}
		if (ret)
			return ret;
	}
	m = &slot->ring[sc->ev_tail % SHM_RING];
	memcpy(&sc->h, &m->h, sizeof(sc->h));
	ret = build_response(sc, m);
	/* Everything was copied: the entry may be reused. */
	sc->ev_tail++;
	shm_post(&slot->ev_tail, sc->ev_tail);
	if (ret)
		return ret;
	*ret_resp = &sc->resp;
	return 0;
}

static void shm_release(struct vcpu_chan *ch, Plugvm__VcpuResponse *resp)
{
	/* The response lives in the channel until the next recv. */
	(void)ch;
	(void)resp;
}

static void shm_destroy(struct vcpu_chan *ch)
{
	struct shm_chan *sc = to_shm(ch);

	close(sc->req_fd);
	close(sc->resp_fd);
	shm_map_put(sc->map);
	free(sc);
}

static const struct vcpu_chan_ops shm_ops = {
	.send = shm_send,
	.recv = shm_recv,
	.release = shm_release,
	.destroy = shm_destroy,
	.wake = shm_wake_waiter,
};

int chan_shm_new(struct shm_map *map, uint32_t id, uint32_t nvcpus, int req_fd, int resp_fd,
		 struct vcpu_chan **ret_chan)
{
	struct shm_chan *sc = calloc(1, sizeof(*sc));

	if (!sc) {
		close(req_fd);
		close(resp_fd);
		return -ENOMEM;
	}
	sc->base.ops = &shm_ops;
	atomic_fetch_add(&map->refs, 1);
	sc->map = map;
	/* The mapping starts on a page and slots are whole pages: aligned. */
	sc->slot = (struct shm_slot *)(void *)(map->base + (size_t)id * SHM_SLOT_SIZE);
	sc->req_fd = req_fd;
	sc->resp_fd = resp_fd;
	/* Start where the slot is: another handle may have used it already. */
	sc->ev_tail = shm_load(&sc->slot->ev_tail.seq);
	sc->req_head = shm_load(&sc->slot->req_head.seq);
	shm_spin_init(&sc->spin, nvcpus, SHM_SIDE_PLUGIN);
	*ret_chan = &sc->base;
	return 0;
}

int shm_map_new(int fd, uint64_t size, uint32_t slot_size, uint32_t nvcpus,
		struct shm_map **ret_map)
{
	const int need = F_SEAL_SHRINK | F_SEAL_GROW;
	struct shm_map *map;
	struct stat st;
	int seals, ret;

	/* The layout is compiled in: the host must describe exactly it. */
	if (slot_size != SHM_SLOT_SIZE || nvcpus == 0 || size != (uint64_t)nvcpus * slot_size ||
	    size > SIZE_MAX) {
		ret = -EPROTO;
		goto err_close;
	}
	/*
	 * Only a memfd (or shmem file) has seals; without SHRINK the host
	 * could truncate it under us and turn our reads into SIGBUS.
	 */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & need) != need || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != size) {
		ret = -EPROTO;
		goto err_close;
	}
	map = calloc(1, sizeof(*map));
	if (!map) {
		ret = -ENOMEM;
		goto err_close;
	}
	map->base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map->base == MAP_FAILED) {
		ret = -errno;
		free(map);
		goto err_close;
	}
	close(fd);
	map->size = (size_t)size;
	atomic_init(&map->refs, 1);
	for (uint32_t i = 0; i < nvcpus; i++) {
		const struct shm_slot *s = (const struct shm_slot *)(void *)(map->base + (size_t)i * SHM_SLOT_SIZE);

		if (s->magic != SHM_CHAN_MAGIC || s->version != SHM_CHAN_VERSION ||
		    s->slot_size != SHM_SLOT_SIZE || s->vcpu_id != i) {
			shm_map_put(map);
			return -EPROTO;
		}
	}
	*ret_map = map;
	return 0;

err_close:
	close(fd);
	return ret;
}

void shm_map_put(struct shm_map *map)
{
	if (!map || atomic_fetch_sub(&map->refs, 1) != 1)
		return;
	munmap(map->base, map->size);
	free(map);
}
