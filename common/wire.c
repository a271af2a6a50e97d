// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int wire_send(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * WIRE_MAX_FDS)];
	} ctl;
	ssize_t r;

	if (nfds > WIRE_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *cmsg;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	}
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	/* SOCK_SEQPACKET sends all or nothing; anything else is a broken peer type. */
	if ((size_t)r != len)
		return -EMSGSIZE;
	return 0;
}

ssize_t wire_recv(int sock, void *buf, size_t cap, int *fds, size_t max_fds, size_t *ret_nfds,
		  unsigned *ret_flags)
{
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * WIRE_MAX_FDS)];
	} ctl;
	size_t nfds = 0;
	unsigned flags = 0;
	ssize_t r;

	if (ret_nfds)
		*ret_nfds = 0;
	if (ret_flags)
		*ret_flags = 0;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (msg.msg_flags & MSG_TRUNC)
		flags |= WIRE_RECV_TRUNC;
	if (msg.msg_flags & MSG_CTRUNC)
		flags |= WIRE_RECV_CTRUNC;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t n;
		const unsigned char *data;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		data = CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, data + i * sizeof(int), sizeof(fd));
			if (ret_nfds && fds && nfds < max_fds) {
				fds[nfds++] = fd;
			} else {
				close(fd);
				flags |= WIRE_RECV_CTRUNC;
			}
		}
	}
	if (ret_nfds)
		*ret_nfds = nfds;
	if (ret_flags)
		*ret_flags = flags;
	return r > (ssize_t)cap ? (ssize_t)cap : r;
}

ssize_t wire_peek_size(int sock)
{
	ssize_t r;
	char dummy;

	do
		r = recv(sock, &dummy, 1, MSG_PEEK | MSG_TRUNC);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

void wire_close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

size_t wire_varint_encode(uint64_t v, uint8_t out[10])
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

int wire_varint_decode32(const uint8_t *p, size_t len, uint32_t *ret_value)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 5; i++) {
		if (i >= len)
			return 0;
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			if (v > UINT32_MAX)
				return -EPROTO;
			*ret_value = (uint32_t)v;
			return (int)i + 1;
		}
	}
	return -EPROTO;
}

int wire_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

int wire_write_framed(int fd, const void *msg, size_t len)
{
	uint8_t prefix[10];
	struct iovec iov[2];
	size_t plen, total, done = 0;

	if (len > WIRE_VCPU_MESSAGE_MAX)
		return -EMSGSIZE;
	plen = wire_varint_encode(len, prefix);
	total = plen + len;
	while (done < total) {
		int n = 0;
		ssize_t r;

		if (done < plen) {
			iov[n].iov_base = prefix + done;
			iov[n++].iov_len = plen - done;
			iov[n].iov_base = (void *)msg;
			iov[n++].iov_len = len;
		} else {
			iov[n].iov_base = (uint8_t *)msg + (done - plen);
			iov[n++].iov_len = total - done;
		}
		if (iov[n - 1].iov_len == 0)
			n--;
		r = writev(fd, iov, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

int wire_frames_init(struct wire_frames *fr, size_t max_msg)
{
	memset(fr, 0, sizeof(*fr));
	/* Room for one maximal message with its prefix, plus read slack. */
	fr->cap = max_msg + 16;
	fr->buf = malloc(fr->cap);
	if (!fr->buf)
		return -ENOMEM;
	fr->max_msg = max_msg;
	return 0;
}

void wire_frames_free(struct wire_frames *fr)
{
	free(fr->buf);
	fr->buf = NULL;
	fr->cap = fr->start = fr->end = 0;
}

size_t wire_frames_pending(const struct wire_frames *fr)
{
	return fr->end - fr->start;
}

int wire_frames_next(struct wire_frames *fr, const uint8_t **ret_msg, size_t *ret_len)
{
	uint32_t mlen;
	int n;

	n = wire_varint_decode32(fr->buf + fr->start, fr->end - fr->start, &mlen);
	if (n <= 0)
		return n;
	if (mlen > fr->max_msg)
		return -EPROTO;
	if (fr->end - fr->start - (size_t)n < mlen)
		return 0;
	*ret_msg = fr->buf + fr->start + n;
	*ret_len = mlen;
	fr->start += (size_t)n + mlen;
	if (fr->start == fr->end)
		fr->start = fr->end = 0;
	return 1;
}

/* Moves unconsumed bytes to the front so that reads have the most room. */
static void frames_compact(struct wire_frames *fr)
{
	if (fr->start == 0)
		return;
	memmove(fr->buf, fr->buf + fr->start, fr->end - fr->start);
	fr->end -= fr->start;
	fr->start = 0;
}

int wire_frames_push(struct wire_frames *fr, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		size_t room, n;

		frames_compact(fr);
		room = fr->cap - fr->end;
		if (room == 0)
			return -EPROTO;
		n = len < room ? len : room;
		memcpy(fr->buf + fr->end, p, n);
		fr->end += n;
		p += n;
		len -= n;
		if (len > 0) {
			/*
			 * The caller handed us more than fits: only valid if complete
			 * messages can be consumed, which is the caller's job.  Grow
			 * instead of failing so a burst of small messages is kept.
			 */
			size_t ncap = fr->cap * 2;
			uint8_t *nb;

			if (ncap > 64u * 1024u * 1024u)
				return -EPROTO;
			nb = realloc(fr->buf, ncap);
			if (!nb)
				return -ENOMEM;
			fr->buf = nb;
			fr->cap = ncap;
		}
	}
	return 0;
}

ssize_t wire_frames_fill(struct wire_frames *fr, int fd)
{
	ssize_t r;

	frames_compact(fr);
	if (fr->end == fr->cap)
		return -EPROTO;
	do
		r = read(fd, fr->buf + fr->end, fr->cap - fr->end);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	fr->end += (size_t)r;
	return r;
}
