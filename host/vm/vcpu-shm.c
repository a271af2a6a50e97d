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
 * copies.  The conversions themselves are common/shm-proto.c's.  A plugin
 * that scribbles on its slot stops the VM (a protocol violation) or gets
 * EPROTO answers; it cannot make the host read out of bounds or block its
 * stop.
 */
#include "vcpu-internal.h"

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

	/* The request being served: a private copy and the protobuf-c structs on it. */
	struct shm_req_copy in;
};

static int host_check(void *arg)
{
	struct vcpu *v = arg;

	return atomic_load(&v->vm->kill_signaled) ? -EPIPE : 0;
}

/* ---------------------------------------------------------------------------
 * Plugin -> host.
 */

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
	 * looked at (shm_request_decode()).
	 */
	r = shm_request_decode(&s->in, &slot->req);
	s->req_tail++;
	/* The request area is free again only after everything was copied out. */
	shm_post(&slot->req_tail, s->req_tail);
	if (r == -EBADMSG) {
		/* As on the pipe: a request that cannot be taken apart ends the VM. */
		vm_fail(v->vm, "vcpu %u: malformed shared-memory request (kind %u, length %u, "
			"registers 0x%x): protocol violation, stopping the VM", v->id,
			s->in.hdr.kind, s->in.hdr.len, s->in.hdr.regs_mask);
		return r;
	}
	if (r < 0)
		return r;
	*ret_req = &s->in.req;
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
	r = shm_msg_encode(m, &slot->reply, &h, resp);
	if (r < 0)
		return r;
	memcpy(&m->h, &h, sizeof(h));
	s->ev_head++;
	shm_post(&slot->ev_head, s->ev_head);
	return 0;
}

const struct vcpu_chan_ops vcpu_shm_channel = {
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
