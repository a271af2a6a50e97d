/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The vcpu channel: how one vcpu's requests reach the host and its
 * responses come back.
 *
 * SEAM: everything in lib/vcpu.c talks to the host only through these ops.
 * They carry protobuf-c message *structs*, not bytes: the pipe channel
 * (crosvm's wire format) packs and unpacks them, the negotiated
 * shared-memory channel (chan-shm.c, docs/shm-channel.md) copies their
 * fields to and from fixed structs without any protobuf encoding.  The
 * choice between them belongs to the code that builds the vcpu handles
 * (conn.c).
 */
#ifndef PLUGVM_LIB_CHAN_H
#define PLUGVM_LIB_CHAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.pb-c.h"

struct vcpu_chan;

struct vcpu_chan_ops {
	/*
	 * Delivers one VcpuRequest.  Returns 0 or -errno (-E2BIG when it
	 * does not fit the channel); never raises SIGPIPE.
	 */
	int (*send)(struct vcpu_chan *ch, const Plugvm__VcpuRequest *req);
	/*
	 * Returns the next VcpuResponse, blocking until one is complete; give
	 * it back with release before the next call on ch.  Returns 0,
	 * -EPIPE once the host is gone, -EINVAL for a framing error or a
	 * message that does not decode, or -errno.
	 */
	int (*recv)(struct vcpu_chan *ch, Plugvm__VcpuResponse **ret_resp);
	void (*release)(struct vcpu_chan *ch, Plugvm__VcpuResponse *resp);
	/* Closes the channel and frees it. */
	void (*destroy)(struct vcpu_chan *ch);
	/*
	 * From any thread: makes a recv sleeping inside a wait (in_wait set)
	 * look at `kicked` again soon (chan_kick()).
	 */
	void (*wake)(struct vcpu_chan *ch);
};

/*
 * crosvm_vcpu_kick() and crosvm_vcpu_wait_timeout() (lib/ext.c,
 * docs/api.md "Extensions (0.23)"; the functions below are lib/chan.c's).
 * While in_wait is set, recv checks chan_wait_check() before it sleeps and
 * whenever it wakes, and returns its -EINTR or -ETIMEDOUT without consuming
 * anything; replies to requests are never interrupted.
 */
struct vcpu_chan {
	const struct vcpu_chan_ops *ops;
	atomic_bool kicked;  /* set by the kicker, cleared by the wait it ends */
	atomic_bool in_wait; /* the owner is receiving the next event */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = none (owner thread only) */
};

/*
 * chan_recv() of the next event: when `interruptible`, a kick pending at
 * entry ends it at once (-EINTR, even if an event is ready), and a kick or
 * the deadline while it waits ends it too.
 */
int chan_recv_event(struct vcpu_chan *ch, bool interruptible, Plugvm__VcpuResponse **ret_resp);
/* In recv: -EINTR for a kick (consumed), -ETIMEDOUT past the deadline, else 0. */
int chan_wait_check(struct vcpu_chan *ch);
/* Nanoseconds left until the deadline: UINT64_MAX without one, 0 past it. */
uint64_t chan_wait_left_ns(const struct vcpu_chan *ch);
/*
 * Sets `kicked` and, while the owner sleeps in a wait, wakes it until it has
 * consumed the kick or left the wait.
 */
void chan_kick(struct vcpu_chan *ch);

/*
 * crosvm's channel: a pipe carrying bare requests (`req_fd`, written) and a
 * pipe carrying varint-framed responses (`resp_fd`, read).  Takes ownership
 * of both descriptors, also on failure.  Returns 0 or -ENOMEM.
 */
int chan_pipe_new(int req_fd, int resp_fd, struct vcpu_chan **ret_chan);

/*
 * The shared-memory channel of vcpu `id` in a mapping made by shm_map_new().
 * The pipe descriptors are kept only to notice the host's death (the host
 * holds the other ends while it lives); the channel takes them, also on
 * failure, and takes a reference on the mapping.  Returns 0 or -ENOMEM.
 */
struct shm_map;
int chan_shm_new(struct shm_map *map, uint32_t id, uint32_t nvcpus, int req_fd, int resp_fd,
		 struct vcpu_chan **ret_chan);

/*
 * Checks and maps the memfd of a VcpuChannel reply (takes fd, also on
 * failure).  Returns 0 with one reference, -EPROTO if the reply does not
 * describe a usable channel for nvcpus vcpus, or -errno.
 */
int shm_map_new(int fd, uint64_t size, uint32_t slot_size, uint32_t nvcpus,
		struct shm_map **ret_map);
void shm_map_put(struct shm_map *map);

static inline int chan_send(struct vcpu_chan *ch, const Plugvm__VcpuRequest *req)
{
	return ch->ops->send(ch, req);
}

static inline int chan_recv(struct vcpu_chan *ch, Plugvm__VcpuResponse **ret_resp)
{
	return ch->ops->recv(ch, ret_resp);
}

static inline void chan_release(struct vcpu_chan *ch, Plugvm__VcpuResponse *resp)
{
	if (resp)
		ch->ops->release(ch, resp);
}

static inline void chan_destroy(struct vcpu_chan *ch)
{
	if (ch)
		ch->ops->destroy(ch);
}

#endif /* PLUGVM_LIB_CHAN_H */
