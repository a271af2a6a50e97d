// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pipe channel of a vcpu (docs/protocol.md §4.1), host side: requests
 * decoded from the plugin's pipe into a per-vcpu arena, responses framed with
 * their varint prefix and written whole.
 */
#include "vcpu-internal.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm-chan.h"
#include "wire.h"

/* ---------------------------------------------------------------------------
 * Request decoding without malloc on the exit path: protobuf-c allocates from
 * a per-vcpu arena that is reset after each request, and falls back to malloc
 * for the rare request that does not fit.
 */

void *vcpu_arena_alloc(void *data, size_t size)
{
	struct vcpu_arena *a = data;
	size_t aligned = (size + 15) & ~(size_t)15;

	if (aligned >= size && aligned <= a->cap - a->used) {
		void *p = a->base + a->used;

		a->used += aligned;
		return p;
	}
	return malloc(size);
}

void vcpu_arena_free(void *data, void *p)
{
	struct vcpu_arena *a = data;
	uintptr_t u = (uintptr_t)p, b = (uintptr_t)a->base;

	if (u >= b && u < b + a->cap)
		return;
	free(p);
}

/* ---------------------------------------------------------------------------
 * The pipe channel.  The host's own ends (to_host read, to_plugin write) are
 * non-blocking so that every wait is a poll() that also watches stop_efd.
 */

static int vcpu_poll(struct vcpu *v, int fd, short events)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = events },
		{ .fd = v->vm->stop_efd, .events = POLLIN },
	};

	for (;;) {
		int r = poll(p, 2, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			return -EPIPE;
		if (p[0].revents & events)
			return 0;
		/* POLLERR/POLLHUP cannot happen while the host holds both ends. */
		if (p[0].revents)
			return -EPIPE;
	}
}

static int pipe_send(struct vcpu *v, const Plugvm__VcpuResponse *resp)
{
	size_t len = plugvm__vcpu_response__get_packed_size(resp), n, left;
	uint8_t prefix[10], *msg, *p;

	if (len > WIRE_VCPU_MESSAGE_MAX)
		return -EMSGSIZE;
	if (len > v->tx_cap) {
		uint8_t *nb = realloc(v->tx, VCPU_CHANNEL_HEADROOM + len);

		if (!nb)
			return -ENOMEM;
		v->tx = nb;
		v->tx_cap = len;
	}
	msg = v->tx + VCPU_CHANNEL_HEADROOM;
	plugvm__vcpu_response__pack(resp, msg);
	n = wire_varint_encode(len, prefix);
	if (n > VCPU_CHANNEL_HEADROOM)
		return -EMSGSIZE;
	/* One contiguous write keeps small messages atomic on the pipe. */
	p = msg - n;
	memcpy(p, prefix, n);
	left = n + len;
	while (left) {
		ssize_t w = write(v->to_plugin[1], p, left);

		if (w > 0) {
			p += w;
			left -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int r = vcpu_poll(v, v->to_plugin[1], POLLOUT);

			if (r < 0)
				return r;
			continue;
		}
		return w < 0 ? -errno : -EIO;
	}
	return 0;
}

/*
 * Spin-before-block on the pipe too: a poll() that sleeps costs a
 * cross-CPU wake-up of tens of microseconds in this nested VM, more than
 * the plugin usually needs to answer.  The spin state is the thread's own
 * (each vcpu thread serves one vcpu), sized like the shm channel's.
 */
static __thread struct shm_spin pipe_spin;
static __thread bool pipe_spin_ready;

struct pipe_probe {
	struct vcpu *v;
	ssize_t r;
	int err;
};

static int pipe_probe_read(void *arg)
{
	struct pipe_probe *pp = arg;

	if (atomic_load(&pp->v->vm->kill_signaled))
		return 1;
	pp->r = read(pp->v->to_host[0], pp->v->rx, WIRE_VCPU_MESSAGE_MAX);
	pp->err = pp->r < 0 ? errno : 0;
	return pp->r >= 0 || (pp->err != EAGAIN && pp->err != EINTR);
}

static int pipe_recv(struct vcpu *v, Plugvm__VcpuRequest **ret_req)
{
	struct pipe_probe pp = { .v = v };

	if (!pipe_spin_ready) {
		shm_spin_init(&pipe_spin, v->vm->n_vcpus, SHM_SIDE_HOST);
		pipe_spin_ready = true;
	}
	for (;;) {
		uint64_t start;

		if (atomic_load(&v->vm->kill_signaled))
			return -EPIPE;
		if (!shm_spin_probe(&pipe_spin, pipe_probe_read, &pp, &start)) {
			int p = vcpu_poll(v, v->to_host[0], POLLIN);

			if (p < 0)
				return p;
			/* The pipe carries no post time: the wake-up is the best estimate. */
			shm_spin_slept(&pipe_spin, start, 0);
			continue;
		}
		if (atomic_load(&v->vm->kill_signaled))
			return -EPIPE;
		if (pp.r > 0) {
			v->arena.used = 0;
			*ret_req = plugvm__vcpu_request__unpack(&v->allocator, (size_t)pp.r, v->rx);
			if (!*ret_req) {
				/*
				 * The pipe has no framing to find the next request by,
				 * so, as crosvm did, this ends the VM (docs/protocol.md).
				 */
				vm_fail(v->vm, "vcpu %u: undecodable request (%zd bytes): protocol "
					"violation, stopping the VM", v->id, pp.r);
				return -EBADMSG;
			}
			return 0;
		}
		if (pp.r == 0)
			return -EPIPE;
		return -pp.err;
	}
}

static void pipe_release(struct vcpu *v, Plugvm__VcpuRequest *req)
{
	plugvm__vcpu_request__free_unpacked(req, &v->allocator);
	v->arena.used = 0;
}

const struct vcpu_chan_ops vcpu_pipe_channel = {
	.send = pipe_send,
	.recv = pipe_recv,
	.release = pipe_release,
};
