/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The vcpu channel: how one vcpu's requests reach the host and its
 * responses come back.
 *
 * SEAM: everything in lib/vcpu.c talks to the host only through these ops,
 * so that a negotiated shared-memory channel can later sit next to the pipe
 * channel (crosvm's wire format) without touching the vcpu logic.  A new
 * channel implements the three ops and provides a constructor like
 * chan_pipe_new(); the choice between them belongs to the code that builds
 * the vcpu handles (conn.c).
 */
#ifndef PLUGVM_LIB_CHAN_H
#define PLUGVM_LIB_CHAN_H

#include <stddef.h>
#include <stdint.h>

struct vcpu_chan;

struct vcpu_chan_ops {
	/*
	 * Delivers one encoded VcpuRequest.  Returns 0 or -errno; never
	 * raises SIGPIPE.
	 */
	int (*send)(struct vcpu_chan *ch, const void *msg, size_t len);
	/*
	 * Returns the next encoded VcpuResponse, blocking until one is
	 * complete.  *ret_msg stays valid until the next call on ch.
	 * Returns 0, -EPIPE once the host is gone, -EINVAL for a framing
	 * error, or -errno.
	 */
	int (*recv)(struct vcpu_chan *ch, const uint8_t **ret_msg, size_t *ret_len);
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

static inline int chan_send(struct vcpu_chan *ch, const void *msg, size_t len)
{
	return ch->ops->send(ch, msg, len);
}

static inline int chan_recv(struct vcpu_chan *ch, const uint8_t **ret_msg, size_t *ret_len)
{
	return ch->ops->recv(ch, ret_msg, ret_len);
}

static inline void chan_destroy(struct vcpu_chan *ch)
{
	if (ch)
		ch->ops->destroy(ch);
}

#endif /* PLUGVM_LIB_CHAN_H */
