/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Framing shared by the host and the client library: datagrams with
 * SCM_RIGHTS on the main sockets, varint length prefixes on the vcpu
 * response pipe, and the size limits both peers enforce.
 *
 * Every function returns a non-negative value on success and -errno on
 * failure; none of them logs, exits or raises SIGPIPE.
 */
#ifndef PLUGVM_COMMON_WIRE_H
#define PLUGVM_COMMON_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The original host's receive buffer: requests larger than this are dropped there. */
#define WIRE_ORIG_REQUEST_MAX 4096u
/* plugvm's host accepts main requests up to this size and answers E2BIG above. */
#define WIRE_MAIN_REQUEST_MAX (64u * 1024u)
/* Default client receive buffer for main responses (the original's 0x40000). */
#define WIRE_MAIN_RESPONSE_MAX 0x40000u
/* Largest single message on a vcpu pipe, in either direction. */
#define WIRE_VCPU_MESSAGE_MAX 0x40000u
/* The kernel's SCM_MAX_FD: most descriptors one message can carry. */
#define WIRE_MAX_FDS 253u

/* Flags reported by wire_recv() in *ret_flags. */
#define WIRE_RECV_TRUNC 0x1  /* the datagram was longer than the buffer */
#define WIRE_RECV_CTRUNC 0x2 /* descriptors were dropped by the kernel or by max_fds */

/*
 * Sends one datagram carrying `len` bytes and `nfds` descriptors (one
 * SCM_RIGHTS message; nfds may be 0).  Uses MSG_NOSIGNAL and retries EINTR.
 * Returns 0, or -errno (-EINVAL if nfds > WIRE_MAX_FDS, -EMSGSIZE from the
 * kernel for oversized datagrams).
 */
int wire_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds);

/*
 * Receives one datagram into buf (at most cap bytes).  Up to max_fds
 * descriptors are stored in fds with close-on-exec set; any beyond max_fds,
 * and any from a non-SCM_RIGHTS control message, are closed and
 * WIRE_RECV_CTRUNC is reported.  *ret_nfds and *ret_flags are always
 * written (either may be NULL when not wanted; with ret_nfds NULL all fds are
 * closed).  Returns the number of bytes stored (0 means the peer closed), or
 * -errno.  EINTR is retried.
 */
ssize_t wire_recv(int sock, void *buf, size_t cap, int *fds, size_t max_fds, size_t *ret_nfds,
		  unsigned *ret_flags);

/*
 * Returns the size of the next datagram without consuming it (or 0 when the
 * peer closed), or -errno.  Blocks like recv().
 */
ssize_t wire_peek_size(int sock);

/* Closes n descriptors, skipping negative ones, and sets them to -1. */
void wire_close_fds(int *fds, size_t n);

/* Encodes v as a protobuf varint into out (10 bytes suffice). Returns the length. */
size_t wire_varint_encode(uint64_t v, uint8_t out[10]);

/*
 * Decodes a varint of at most 32 bits (5 bytes) from p[0..len).  Returns the
 * number of bytes used, 0 if more bytes are needed, or -EPROTO if the varint
 * is longer than 5 bytes or exceeds 32 bits.
 */
int wire_varint_decode32(const uint8_t *p, size_t len, uint32_t *ret_value);

/* Writes all of buf, retrying EINTR and short writes. Returns 0 or -errno. */
int wire_write_all(int fd, const void *buf, size_t len);

/*
 * Writes a varint length prefix and the message with one writev() call
 * (retrying only if the kernel wrote part of it).  Messages of at most
 * PIPE_BUF - 5 bytes are therefore atomic on a pipe.  Returns 0 or -errno
 * (-EMSGSIZE above WIRE_VCPU_MESSAGE_MAX).
 */
int wire_write_framed(int fd, const void *msg, size_t len);

/*
 * A reader for a stream of length-prefixed messages (the host -> plugin vcpu
 * pipe).  Partial data is kept across reads, and several messages that
 * arrive in one read are returned one by one.
 */
struct wire_frames {
	uint8_t *buf;
	size_t cap;   /* allocated bytes */
	size_t start; /* first unconsumed byte */
	size_t end;   /* one past the last received byte */
	size_t max_msg; /* largest message accepted */
};

/* Prepares a reader accepting messages of up to max_msg bytes. Returns 0 or -ENOMEM. */
int wire_frames_init(struct wire_frames *fr, size_t max_msg);

/* Frees the reader's buffer; safe on a zeroed or already freed reader. */
void wire_frames_free(struct wire_frames *fr);

/*
 * Takes the next complete message.  Returns 1 with *ret_msg and *ret_len set
 * (valid until the next call on fr), 0 if more data is needed, or -EPROTO
 * for a malformed prefix or a message larger than max_msg.
 */
int wire_frames_next(struct wire_frames *fr, const uint8_t **ret_msg, size_t *ret_len);

/*
 * Appends bytes (as from one read()) to the reader.  Returns 0, -ENOMEM, or
 * -EPROTO if the buffered data could never form a valid message.
 */
int wire_frames_push(struct wire_frames *fr, const void *data, size_t len);

/*
 * Reads once from fd into the reader (retrying EINTR).  Returns the number of
 * bytes read, 0 at end of file, or -errno.
 */
ssize_t wire_frames_fill(struct wire_frames *fr, int fd);

/* Number of buffered bytes not yet returned by wire_frames_next(). */
size_t wire_frames_pending(const struct wire_frames *fr);

#endif /* PLUGVM_COMMON_WIRE_H */
