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
	struct shm_msg_copy in;
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
	ret = shm_request_encode(&slot->req, &h, req);
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
	ret = shm_msg_decode(&sc->in, m, &slot->reply);
	/* Everything was copied: the entry may be reused. */
	sc->ev_tail++;
	shm_post(&slot->ev_tail, sc->ev_tail);
	if (ret)
		return ret;
	*ret_resp = &sc->in.resp;
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
