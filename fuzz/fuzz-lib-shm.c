// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Fuzzes the client library's side of the shared-memory vcpu channel
 * (lib/chan-shm.c, docs/shm-channel.md) against a hostile host: the
 * VcpuChannel negotiation (replies and memfds that must be refused, after
 * which the library has to fall back to crosvm's pipes), and then every
 * byte the host can write into the slot: message headers with any kind,
 * length and flags, register images, I/O data, reply areas, and ring heads
 * that claim more messages than the ring holds.
 *
 * The harness plays the host on the same thread: before each call it
 * writes messages into the ring and bumps ev_head (at least one whenever
 * the ring is empty, so the library never waits), and marks every request
 * taken (req_tail = req_head), so no call can block.
 *
 * Input: [variant byte] then records of
 *   [op byte][arg byte][posts byte][length, 2 bytes LE][bytes]
 * where bytes are a message header image followed by the body, which also
 * lands in the reply area.  Variant 0 is a well-formed channel; the others
 * each break the negotiation one way (see `variants`).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crosvm.h"
#include "fuzz-util.h"
#include "lib-harness.h"
#include "plugin.pb-c.h"
#include "shm-chan.h"

enum variant {
	V_GOOD,
	V_UNSEALED,   /* no F_SEAL_SHRINK: the host could truncate it under us */
	V_SIZE,       /* size is not n_vcpus x slot_size */
	V_SLOT_SIZE,  /* a layout the library was not built for */
	V_MAGIC,      /* slot header: wrong magic */
	V_VERSION,    /* slot header: wrong version */
	V_VCPU_ID,    /* slot header: wrong vcpu id */
	V_SHORT_FILE, /* the memfd is smaller than the size claimed */
	V_NVCPUS,     /* n_vcpus differs from GetVcpus */
	V_PIPE_FD,    /* a pipe where the memfd should be */
	V_NO_FD,      /* success without a descriptor */
	V_REPLY_VER,  /* a channel version the library did not ask for */
	V_ENOTTY,     /* crosvm's host: no such request */
	V_TWO_FDS,    /* one descriptor too many */
	V_WRONG_MSG,  /* success, but another message kind */
	V_COUNT,
};

static struct {
	struct fuzz_lib f;
	struct shm_slot *slot; /* the host's view */
	uint32_t ev_head;      /* messages posted by us */
} st;

/* Creates the channel's memfd for one vcpu, broken as the variant says. */
static int make_memfd(enum variant v)
{
	int fd = memfd_create("fuzz-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	off_t len = v == V_SHORT_FILE ? SHM_SLOT_SIZE / 2 : SHM_SLOT_SIZE;
	struct shm_slot *s;

	FUZZ_CHECK(fd >= 0 && ftruncate(fd, len) == 0, "memfd");
	s = mmap(NULL, SHM_SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	FUZZ_CHECK(s != MAP_FAILED, "mmap");
	if (v != V_SHORT_FILE) {
		s->magic = v == V_MAGIC ? ~SHM_CHAN_MAGIC : SHM_CHAN_MAGIC;
		s->version = v == V_VERSION ? SHM_CHAN_VERSION + 1 : SHM_CHAN_VERSION;
		s->slot_size = SHM_SLOT_SIZE;
		s->vcpu_id = v == V_VCPU_ID ? 1 : 0;
	}
	if (v != V_UNSEALED)
		FUZZ_CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0,
			   "seal");
	st.slot = s;
	return fd;
}

/* The VcpuChannel reply of the variant, packed into buf. */
static size_t make_reply(enum variant v, uint8_t *buf)
{
	Plugvm__MainResponse resp = PLUGVM__MAIN_RESPONSE__INIT;
	Plugvm__MainResponse__VcpuChannel vc = PLUGVM__MAIN_RESPONSE__VCPU_CHANNEL__INIT;
	Plugvm__MainResponse__GetShutdownEventfd other =
		PLUGVM__MAIN_RESPONSE__GET_SHUTDOWN_EVENTFD__INIT;

	vc.version = v == V_REPLY_VER ? SHM_CHAN_VERSION + 1 : SHM_CHAN_VERSION;
	vc.slot_size = v == V_SLOT_SIZE ? SHM_SLOT_SIZE + 4096 : SHM_SLOT_SIZE;
	vc.n_vcpus = v == V_NVCPUS ? 2 : 1;
	vc.size = v == V_SIZE ? 2 * SHM_SLOT_SIZE : SHM_SLOT_SIZE;
	if (v == V_ENOTTY) {
		resp.errnum = ENOTTY;
	} else if (v == V_WRONG_MSG) {
		resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SHUTDOWN_EVENTFD;
		resp.get_shutdown_eventfd = &other;
	} else {
		resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_VCPU_CHANNEL;
		resp.vcpu_channel = &vc;
	}
	return plugvm__main_response__pack(&resp, buf);
}

/*
 * Connects with the variant's negotiation.  Returns true when the library
 * must be on the shared-memory channel.
 */
static bool connect_variant(enum variant v)
{
	uint8_t reply[64];
	size_t len = make_reply(v, reply), nfds = 0;
	int fds[2] = { -1, -1 }, r;
	bool shm = v == V_GOOD;

	st.slot = NULL;
	if (v == V_PIPE_FD) {
		FUZZ_CHECK(pipe2(fds, O_CLOEXEC) == 0, "pipe");
		nfds = 1;
	} else if (v != V_NO_FD) {
		fds[0] = make_memfd(v);
		nfds = 1;
	}
	if (v == V_TWO_FDS) {
		fds[1] = dup(fds[0]);
		FUZZ_CHECK(fds[1] >= 0, "dup");
		nfds = 2;
	}
	r = fuzz_lib_connect(&st.f, reply, len, fds, nfds, shm);
	FUZZ_CHECK(r == 0, "variant %d: crosvm_connect: %d", v, r);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return shm;
}

/* The message of the record being run: what the host posts, also when the library waits. */
static struct {
	const uint8_t *p;
	size_t len;
	unsigned waits; /* the library's waits during this call */
} cur;

/* Writes the current record's message into the next ring entry and posts it. */
static void post_message(void)
{
	struct shm_msg *m = &st.slot->ring[st.ev_head % SHM_RING];
	const size_t body_max = sizeof(*m) - offsetof(struct shm_msg, regs);
	size_t hl = cur.len < sizeof(m->h) ? cur.len : sizeof(m->h);
	size_t bl = cur.len - hl;

	memset(&m->h, 0, sizeof(m->h));
	memcpy(&m->h, cur.p, hl);
	if (bl) {
		memcpy(m->regs, cur.p + hl, bl < body_max ? bl : body_max);
		memcpy(&st.slot->reply, cur.p + hl,
		       bl < sizeof(st.slot->reply) ? bl : sizeof(st.slot->reply));
	}
	st.ev_head++;
	shm_post(&st.slot->ev_head, st.ev_head);
}

/*
 * The library waits only when it sends a second request in one call (a
 * deferred register write flushed before a read) or expects a message we
 * did not post.  Linked in place of shm_wait() (-Wl,--wrap): instead of
 * sleeping, the host acts at once, deterministically: it takes the pending
 * request, or posts the record's message again.  After a few waits in one
 * call it is "gone" (-EPIPE), which covers the library's host-death paths.
 */
int __wrap_shm_wait(struct shm_word *w, uint32_t old, struct shm_spin *sp, uint64_t slice_ns,
		    int (*check)(void *arg), void *arg);

int __wrap_shm_wait(struct shm_word *w, uint32_t old, struct shm_spin *sp, uint64_t slice_ns,
		    int (*check)(void *arg), void *arg)
{
	(void)sp;
	(void)slice_ns;
	(void)check;
	(void)arg;
	if (shm_load(&w->seq) != old)
		return 0;
	if (++cur.waits > 4)
		return -EPIPE;
	/* w is in the library's own mapping of the slot, which starts on a page. */
	if (((uintptr_t)w & 4095) == offsetof(struct shm_slot, req_tail))
		shm_post(&st.slot->req_tail, shm_load(&st.slot->req_head.seq));
	else if (((uintptr_t)w & 4095) == offsetof(struct shm_slot, ev_head))
		post_message();
	else
		FUZZ_CHECK(0, "the library waits on an unexpected word");
	return 0;
}

/* What the library wrote as a request must lie within the layout's bounds. */
static void check_request(void)
{
	struct shm_req_hdr h;

	memcpy(&h, (const void *)&st.slot->req.h, sizeof(h));
	FUZZ_CHECK((h.kind >= SHM_REQ_WAIT && h.kind <= SHM_REQ_ENABLE_CAP) ||
			   (h.kind >= SHM_REQ_RESET && h.kind <= SHM_REQ_SET_XSAVE),
		   "request kind %u", h.kind);
	switch (h.kind) {
	case SHM_REQ_SET_XSAVE:
		FUZZ_CHECK(h.len <= SHM_XSAVE_MAX, "xsave len %u", h.len);
		break;
	case SHM_REQ_RESUME:
		FUZZ_CHECK(h.len <= SHM_IO_MAX && !(h.regs_mask & ~SHM_F_ALL_REGS),
			   "resume len %u mask %#x", h.len, h.regs_mask);
		break;
	case SHM_REQ_SET_STATE:
		FUZZ_CHECK(h.len <= SHM_STATE_MAX, "state len %u", h.len);
		break;
	case SHM_REQ_GET_MSRS:
	case SHM_REQ_SET_MSRS:
	case SHM_REQ_SET_CPUID:
		/* The harness never asks for more than 8. */
		FUZZ_CHECK(h.len <= 8, "%u entries", h.len);
		break;
	default:
		break;
	}
}

static void shm_call(uint8_t op, uint8_t arg, uint8_t posts, const uint8_t *p, size_t len)
{
	uint32_t req_before = shm_load(&st.slot->req_head.seq);
	unsigned n = posts & 0x0f;

	cur.p = p;
	cur.len = len;
	cur.waits = 0;
	/* Never leave the library waiting for its first message. */
	if (n == 0 && st.ev_head == shm_load(&st.slot->ev_tail.seq))
		n = 1;
	for (unsigned i = 0; i < n; i++)
		post_message();
	fuzz_lib_vcpu_call(&st.f, op, arg);
	if (shm_load(&st.slot->req_head.seq) != req_before)
		check_request();
	/* The host takes whatever was posted. */
	shm_post(&st.slot->req_tail, shm_load(&st.slot->req_head.seq));
	FUZZ_CHECK(shm_load(&st.slot->ev_tail.seq) <= st.ev_head,
		   "the library consumed %u messages of %u posted", shm_load(&st.slot->ev_tail.seq),
		   st.ev_head);
}

/*
 * On a refused channel the library must use the pipes: a Wait goes out as
 * bytes on the request pipe, the slot stays untouched, and the response
 * pipe's EOF (we closed our end) is -EPIPE.
 */
static void check_fallback(enum variant v)
{
	struct crosvm_vcpu_event ev;
	uint8_t buf[64];
	int r = crosvm_vcpu_wait(st.f.vcpu, &ev);

	FUZZ_CHECK(r == -EPIPE, "variant %d: wait on the pipes: %d", v, r);
	FUZZ_CHECK(read(st.f.req_r, buf, sizeof(buf)) > 0, "variant %d: nothing on the pipe", v);
	if (st.slot)
		FUZZ_CHECK(shm_load(&st.slot->req_head.seq) == 0, "variant %d: slot used", v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int probe = fuzz_lowest_free_fd(), steps = 0;
	struct fuzz_record r;
	enum variant v;
	size_t pos = 1;

	if (size < 1)
		return 0;
	v = (enum variant)(data[0] % V_COUNT);
	st.ev_head = 0;
	if (connect_variant(v)) {
		while (fuzz_lib_next_record(data, size, &pos, &steps, &r))
			shm_call(r.op, r.arg, r.extra, r.p, r.len);
	} else {
		check_fallback(v);
	}
	fuzz_lib_close(&st.f);
	if (st.slot)
		munmap(st.slot, SHM_SLOT_SIZE);
	FUZZ_CHECK(fuzz_lowest_free_fd() == probe, "descriptor leak (lowest free fd %d, was %d)",
		   fuzz_lowest_free_fd(), probe);
	return 0;
}
