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
};

struct vcpu_chan {
	const struct vcpu_chan_ops *ops;
};

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
