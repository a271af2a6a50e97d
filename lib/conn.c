// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "private.h"
#include "shm-chan.h"

int ids_alloc(struct family *fam, uint32_t *ret_id)
{
	uint_least64_t cur = atomic_load(&fam->next_id);

	/* Refuse to wrap: a wrapped counter could hand out an id still alive. */
	do {
		if (cur > UINT32_MAX)
			return -ENOSPC;
	} while (!atomic_compare_exchange_weak(&fam->next_id, &cur, cur + 1));
	*ret_id = (uint32_t)cur;
	return 0;
}

void ids_free(struct family *fam, uint32_t id)
{
	/*
	 * Only the most recently allocated id can be given back (as in
	 * crosvm), so a live id is never handed out twice.
	 */
	uint_least64_t expected = (uint_least64_t)id + 1;

	atomic_compare_exchange_strong(&fam->next_id, &expected, id);
}

int reply_take_last_fd(struct conn_reply *r)
{
	int fd;

	if (r->nfds == 0)
		return -EPROTO;
	fd = r->fds[r->nfds - 1];
	r->fds[--r->nfds] = -1;
	return fd;
}

void reply_release(struct conn_reply *r)
{
	wire_close_fds(r->fds, r->nfds);
	r->nfds = 0;
	if (r->msg)
		plugvm__main_response__free_unpacked(r->msg, NULL);
	r->msg = NULL;
}

static int conn_grow(struct crosvm *c, size_t need)
{
	uint8_t *nb;

	if (need <= c->rcap)
		return 0;
	nb = realloc(c->rbuf, need);
	if (!nb)
		return -ENOMEM;
	c->rbuf = nb;
	c->rcap = need;
	return 0;
}

static int conn_recv(struct crosvm *c, size_t max_reply, struct conn_reply *r)
{
	unsigned flags;
	ssize_t size, n;
	size_t want;
	int ret;

	/*
	 * Size the buffer from the datagram itself so that replies of any
	 * legitimate size (large dirty logs) fit, while a hostile size only
	 * costs up to max_reply bytes.
	 */
	size = wire_peek_size(c->sock);
	if (size < 0)
		return (int)size;
	want = (size_t)size < max_reply ? (size_t)size : max_reply;
	ret = conn_grow(c, want > 0 ? want : 1);
	if (ret)
		return ret;
	n = wire_recv(c->sock, c->rbuf, want, r->fds, ARRAY_SIZE(r->fds), &r->nfds, &flags);
	if (n < 0)
		return (int)n;
	/*
	 * Zero bytes is the host closing the connection (it never sends an
	 * empty reply).  crosvm's library decoded it as success.
	 */
	if (n == 0 || size == 0)
		return -EPIPE;
	if (flags & (WIRE_RECV_TRUNC | WIRE_RECV_CTRUNC))
		return -EPROTO;
	r->msg = plugvm__main_response__unpack(NULL, (size_t)n, c->rbuf);
	if (!r->msg)
		return -EINVAL;
	return 0;
}

int conn_transact(struct crosvm *c, const Plugvm__MainRequest *req, const int *fds, size_t nfds,
		  size_t max_reply, struct conn_reply *r)
{
	uint8_t buf[WIRE_ORIG_REQUEST_MAX];
	size_t len;
	int ret;

	r->msg = NULL;
	r->nfds = 0;
	/*
	 * crosvm's host truncates longer datagrams and drops the connection;
	 * we cannot tell which host we talk to, so refuse up front.
	 */
	len = plugvm__main_request__get_packed_size(req);
	if (len > sizeof(buf))
		return -E2BIG;
	plugvm__main_request__pack(req, buf);

	ret = wire_send(c->sock, buf, len, fds, nfds);
	if (ret)
		return ret;
	ret = conn_recv(c, max_reply, r);
	if (ret)
		goto err_release;
	if (r->msg->errnum != 0) {
		ret = errnum_to_ret(r->msg->errnum);
		goto err_release;
	}
	return 0;

err_release:
	reply_release(r);
	return ret;
}

int conn_simple(struct crosvm *c, const Plugvm__MainRequest *req)
{
	struct conn_reply r;
	int ret;

	ret = conn_transact(c, req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	if (ret)
		return ret;
	reply_release(&r);
	return 0;
}

static void conn_free(struct crosvm *c)
{
	if (c->sock >= 0)
		close(c->sock);
	if (c->fam)
		family_put(c->fam);
	free(c->rbuf);
	free(c);
}

static struct crosvm *conn_new(int sock, struct family *fam)
{
	struct crosvm *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->sock = sock;
	c->fam = fam;
	return c;
}

/*
 * Builds the vcpu handles from GetVcpus' descriptors: for vcpu i, fds[2i]
 * is the request pipe's write end and fds[2i+1] the response pipe's read
 * end.  With a shared-memory map the pipes only watch the host's life.
 * Takes the descriptors out of r as it goes.
 */
static int family_add_vcpus(struct family *fam, struct conn_reply *r, struct shm_map *map)
{
	uint32_t n = (uint32_t)(r->nfds / 2);
	int ret;

	fam->vcpus = calloc(n, sizeof(*fam->vcpus));
	if (!fam->vcpus)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct crosvm_vcpu *v = &fam->vcpus[i];
		int req_fd = r->fds[2 * i], resp_fd = r->fds[2 * i + 1];

		v->fam = fam;
		r->fds[2 * i] = r->fds[2 * i + 1] = -1;
		if (map)
			ret = chan_shm_new(map, i, n, req_fd, resp_fd, &v->chan);
		else
			ret = chan_pipe_new(req_fd, resp_fd, &v->chan);
		if (ret)
			return ret;
		fam->nvcpus = i + 1;
	}
	return 0;
}

static int channel_request(struct crosvm *c, uint32_t version, struct conn_reply *r)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__VcpuChannel vc = PLUGVM__MAIN_REQUEST__VCPU_CHANNEL__INIT;

	vc.version = version;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_VCPU_CHANNEL;
	req.vcpu_channel = &vc;
	return conn_transact(c, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, r);
}

/*
 * Asks for the shared-memory vcpu channel (docs/shm-channel.md) unless
 * CROSVM_PLUGIN_CHANNEL=pipe.  crosvm's host answers ENOTTY, and any error
 * leaves the host on the pipes, so *ret_map stays NULL and the pipes are
 * used.  A success we cannot use is taken back (version 0) so that both
 * sides stay on the pipes.  Fails only when the connection itself does.
 */
static int conn_negotiate_channel(struct crosvm *c, uint32_t nvcpus, struct shm_map **ret_map)
{
	const char *env = getenv("CROSVM_PLUGIN_CHANNEL");
	const Plugvm__MainResponse__VcpuChannel *vc;
	struct conn_reply r;
	int ret, fd;

	*ret_map = NULL;
	if (env && strcmp(env, "pipe") == 0)
		return 0;
	ret = channel_request(c, SHM_CHAN_VERSION, &r);
	if (ret == -EPIPE)
		return ret;
	if (ret)
		return 0;
	vc = r.msg->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE_VCPU_CHANNEL ?
		     r.msg->vcpu_channel : NULL;
	fd = reply_take_last_fd(&r);
	if (vc && fd >= 0 && r.nfds == 0 && vc->version == SHM_CHAN_VERSION &&
	    vc->n_vcpus == nvcpus)
		ret = shm_map_new(fd, vc->size, vc->slot_size, nvcpus, ret_map);
	else
		ret = fd >= 0 ? (close(fd), -EPROTO) : -EPROTO;
	reply_release(&r);
	if (ret == 0)
		return 0;
	/* The host switched already: switch it back. */
	ret = channel_request(c, 0, &r);
	if (ret)
		return ret == -EPIPE ? ret : -EPROTO;
	reply_release(&r);
	return 0;
}

static int parse_socket_env(int *ret_fd)
{
	const char *s = getenv("CROSVM_SOCKET");
	long v = 0;

	if (!s)
		return -ENOTCONN;
	if (!*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (*p - '0');
		if (v > INT_MAX)
			return -EINVAL;
	}
	*ret_fd = (int)v;
	return 0;
}

EXPORT int crosvm_connect(struct crosvm **out)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__GetVcpus gv = PLUGVM__MAIN_REQUEST__GET_VCPUS__INIT;
	struct shm_map *map = NULL;
	struct conn_reply r;
	struct family *fam;
	struct crosvm *c;
	int ret, sock;

	if (!out)
		return -EINVAL;
	ret = parse_socket_env(&sock);
	if (ret)
		return ret;

	/*
	 * From here the connection owns the socket, as in crosvm: a failed
	 * connect closes it.
	 */
	fam = calloc(1, sizeof(*fam));
	if (!fam) {
		close(sock);
		return -ENOMEM;
	}
	atomic_init(&fam->refs, 1);
	atomic_init(&fam->next_id, 0);
	c = conn_new(sock, fam);
	if (!c) {
		close(sock);
		free(fam);
		return -ENOMEM;
	}

	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_VCPUS;
	req.get_vcpus = &gv;
	ret = conn_transact(c, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	if (ret)
		goto err_conn;
	if (r.nfds == 0 || r.nfds % 2 != 0) {
		ret = -EPROTO;
		goto err_reply;
	}
	ret = conn_negotiate_channel(c, (uint32_t)(r.nfds / 2), &map);
	if (ret)
		goto err_reply;
	ret = family_add_vcpus(fam, &r, map);
	/* Each channel holds its own reference. */
	shm_map_put(map);
	if (ret)
		goto err_reply;
	reply_release(&r);
	*out = c;
	return 0;

err_reply:
	reply_release(&r);
err_conn:
	conn_free(c);
	return ret;
}

EXPORT int crosvm_new_connection(struct crosvm *self, struct crosvm **out)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__NewConnection nc = PLUGVM__MAIN_REQUEST__NEW_CONNECTION__INIT;
	struct conn_reply r;
	struct crosvm *c;
	int ret, sock;

	if (!self || !out)
		return -EINVAL;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_NEW_CONNECTION;
	req.new_connection = &nc;
	ret = conn_transact(self, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	if (ret)
		return ret;
	sock = reply_take_last_fd(&r);
	reply_release(&r);
	if (sock < 0)
		return sock;

	c = conn_new(sock, self->fam);
	if (!c) {
		close(sock);
		return -ENOMEM;
	}
	family_get(self->fam);
	*out = c;
	return 0;
}

EXPORT int crosvm_destroy_connection(struct crosvm **self)
{
	if (self && *self) {
		conn_free(*self);
		*self = NULL;
	}
	return 0;
}

EXPORT int crosvm_get_vcpu(struct crosvm *self, uint32_t cpu_id, struct crosvm_vcpu **out)
{
	if (!self || !out)
		return -EINVAL;
	if (cpu_id >= self->fam->nvcpus)
		return -ENOENT;
	*out = &self->fam->vcpus[cpu_id];
	return 0;
}
