// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The vcpu side of libcrosvm_plugin against a scripted fake host: events,
 * resume, the register caches and every per-vcpu request, over real pipes
 * with varint-framed responses.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crosvm.h"
#include "fake-host.h"
#include "wire.h"

static void fill(void *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		((uint8_t *)p)[i] = (uint8_t)(seed + i * 31);
}

static void assert_bytes(const void *p, size_t from, size_t to, uint8_t v)
{
	for (size_t i = from; i < to; i++)
		assert_int_equal(((const uint8_t *)p)[i], v);
}

/* ---- wait and resume ------------------------------------------------------------------------ */

static void wait_init_resume(void **state)
{
	struct crosvm_vcpu_event ev;

	(void)state;
	memset(&ev, 0x5a, sizeof(ev));
	fh_vcpu_send(0, "12 02 0a 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	/* The Init handshake is the only Wait request a plugin sends. */
	fh_vcpu_expect(0, "0a 00");
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_INIT);
	/* Only `kind` is written for Init. */
	assert_bytes(&ev, 4, sizeof(ev), 0x5a);
	fh_vcpu_expect_none(1);

	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");

	/* Later events come unprompted: no second Wait request. */
	fh_vcpu_send(0, "12 02 1a 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	fh_vcpu_expect_none(0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_PAUSED);
	assert_null(ev.user);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");

	assert_int_equal(crosvm_vcpu_wait(F.v[0], NULL), -EINVAL);
	assert_int_equal(crosvm_vcpu_wait(NULL, &ev), -EINVAL);
	assert_int_equal(crosvm_vcpu_resume(NULL), -EINVAL);
	fh_vcpu_expect_none(0);
}

static void io_events(void **state)
{
	struct crosvm_vcpu_event ev;

	(void)state;
	fh_vcpu_init(0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");

	/* PIO write of "9" to 0x3f8 (docs/protocol.md §4.6). */
	memset(&ev, 0x5a, sizeof(ev));
	fh_vcpu_send(0, "12 0a 12 08 10 f8 07 18 01 2a 01 39");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_IO_ACCESS);
	assert_int_equal(ev.io_access.address_space, CROSVM_ADDRESS_SPACE_IOPORT);
	assert_int_equal(ev.io_access.address, 0x3f8);
	assert_int_equal(ev.io_access.length, 1);
	assert_non_null(ev.io_access.data);
	assert_int_equal(ev.io_access.data[0], '9');
	assert_int_equal(ev.io_access.is_write, 1);
	assert_int_equal(ev.io_access.no_resume, 0);
	assert_int_equal(ev.io_access._reserved[0], 0);
	assert_int_equal(ev.io_access._reserved[1], 0);
	assert_bytes(&ev, 4, 8, 0x5a);
	assert_bytes(&ev, 12, 16, 0x5a);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	/* Write data goes back too (the host ignores it). */
	fh_vcpu_expect(0, "12 03 0a 01 39");

	/* MMIO read of 4 bytes: zeros the plugin overwrites, returned with Resume. */
	fh_vcpu_send(0, "12 0d 12 0b 08 01 10 80 20 2a 04 00 00 00 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(ev.io_access.address_space, CROSVM_ADDRESS_SPACE_MMIO);
	assert_int_equal(ev.io_access.address, 0x1000);
	assert_int_equal(ev.io_access.length, 4);
	assert_int_equal(ev.io_access.is_write, 0);
	assert_bytes(ev.io_access.data, 0, 4, 0);
	memcpy(ev.io_access.data, "\x01\x02\x03\x04", 4);
	fh_vcpu_expect_none(0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 06 0a 04 01 02 03 04");

	/* The resume buffer is emptied by resume: a pause resumes with no data. */
	fh_vcpu_send(0, "12 05 1a 03 08 b4 24");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_PAUSED);
	assert_ptr_equal(ev.user, (void *)0x1234);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");
}

static void hyperv_events(void **state)
{
	struct crosvm_vcpu_event ev;

	(void)state;
	fh_vcpu_init(1);
	assert_int_equal(crosvm_vcpu_resume(F.v[1]), 0);
	fh_vcpu_expect(1, "12 00");

	memset(&ev, 0x5a, sizeof(ev));
	fh_vcpu_send(1, "12 08 22 06 08 01 10 02 18 03");
	assert_int_equal(crosvm_vcpu_wait(F.v[1], &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_HYPERV_HCALL);
	assert_int_equal(ev.hyperv_call.input, 1);
	assert_int_equal(ev.hyperv_call.params[0], 2);
	assert_int_equal(ev.hyperv_call.params[1], 3);
	assert_non_null(ev.hyperv_call.result);
	assert_int_equal(*ev.hyperv_call.result, 0);
	*ev.hyperv_call.result = 0x1122334455667788ull;
	assert_int_equal(crosvm_vcpu_resume(F.v[1]), 0);
	/* The result travels as exactly 8 little-endian bytes. */
	fh_vcpu_expect(1, "12 0a 0a 08 88 77 66 55 44 33 22 11");

	/* A second hypercall starts with a zeroed result. */
	fh_vcpu_send(1, "12 08 22 06 08 01 10 02 18 03");
	assert_int_equal(crosvm_vcpu_wait(F.v[1], &ev), 0);
	assert_int_equal(*ev.hyperv_call.result, 0);
	assert_int_equal(crosvm_vcpu_resume(F.v[1]), 0);
	fh_vcpu_expect(1, "12 0a 0a 08 00 00 00 00 00 00 00 00");

	memset(&ev, 0x5a, sizeof(ev));
	fh_vcpu_send(1, "12 10 2a 0e 08 80 81 80 80 04 10 01 18 80 40 20 80 60");
	assert_int_equal(crosvm_vcpu_wait(F.v[1], &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_HYPERV_SYNIC);
	assert_int_equal(ev.hyperv_synic.msr, 0x40000080);
	assert_int_equal(ev.hyperv_synic._reserved, 0);
	assert_int_equal(ev.hyperv_synic.control, 1);
	assert_int_equal(ev.hyperv_synic.evt_page, 0x2000);
	assert_int_equal(ev.hyperv_synic.msg_page, 0x3000);
	assert_bytes(&ev, 40, sizeof(ev), 0x5a);
	assert_int_equal(crosvm_vcpu_resume(F.v[1]), 0);
	fh_vcpu_expect(1, "12 00");
}

static void wait_errors(void **state)
{
	struct crosvm_vcpu_event ev;

	(void)state;
	/* The host's EPROTO (e.g. a request during Init), docs/protocol.md §4.6. */
	fh_vcpu_send(0, "08 8e 01");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EPROTO);
	fh_vcpu_expect(0, "0a 00");
	/* A response without the wait member, and a wait without a reason. */
	fh_vcpu_send(0, "2a 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EPROTO);
	fh_vcpu_send(0, "12 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EPROTO);
	/* An unknown wait reason (field 9) decodes but is not understood. */
	fh_vcpu_send(0, "12 02 4a 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EPROTO);
	/* Undecodable bytes. */
	fh_vcpu_send(0, "12 05 0a");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EINVAL);
	fh_vcpu_expect_none(0);
	/* None of these stopped the vcpu, so there is nothing to resume. */
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), -EINVAL);
	fh_vcpu_expect_none(0);
	/* The stream is still in step: the next event arrives normally. */
	fh_vcpu_send(0, "12 02 0a 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_INIT);

	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");

	/* A frame longer than any message is a framing error. */
	assert_int_equal(write(F.resp_wr[0], "\xff\xff\xff\xff\x0f", 5), 5);
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EINVAL);
	fh_vcpu_expect_none(0);
}

/*
 * Waiting again while stopped: crosvm's library blocked forever; the host
 * answers a Wait in that state with EPROTO, so ours asks and reports it.
 */
static void wait_twice(void **state)
{
	struct crosvm_vcpu_event ev;

	(void)state;
	fh_vcpu_init(0);
	fh_vcpu_send(0, "08 8e 01");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EPROTO);
	fh_vcpu_expect(0, "0a 00");
	/* Still stopped: state calls and resume work. */
	fh_vcpu_send(0, "22 06 0a 04 02 00 00 00");
	{
		struct kvm_mp_state mp;

		assert_int_equal(crosvm_vcpu_get_mp_state(F.v[0], &mp), 0);
		assert_int_equal(mp.mp_state, 2);
	}
	fh_vcpu_expect(0, "1a 02 08 05");
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");
}

/*
 * While the guest runs the host does not read the vcpu channel: requests
 * are refused locally instead of blocking or eating the next event.
 */
static void state_calls_only_when_stopped(void **state)
{
	struct crosvm_vcpu_event ev;
	struct kvm_msr_entry msr = { .index = 0x10 };
	struct kvm_regs regs;
	struct kvm_fpu fpu;
	uint64_t args[4] = { 0 };
	uint32_t out = 9;
	uint8_t msg[256];
	size_t n;

	(void)state;
	/* Before the Init handshake the host does answer (EPROTO, or after Start). */
	fh_vcpu_send(0, "08 8e 01");
	assert_int_equal(crosvm_vcpu_get_fpu(F.v[0], &fpu), -EPROTO);
	fh_vcpu_expect(0, "1a 02 08 02");
	fh_vcpu_init(0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");

	assert_int_equal(crosvm_vcpu_get_fpu(F.v[0], &fpu), -EINVAL);
	assert_int_equal(crosvm_vcpu_set_fpu(F.v[0], &fpu), -EINVAL);
	assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &regs), -EINVAL);
	assert_int_equal(crosvm_vcpu_get_msrs(F.v[0], 1, &msr, &out), -EINVAL);
	assert_int_equal(out, 0);
	assert_int_equal(crosvm_vcpu_set_msrs(F.v[0], 1, &msr), -EINVAL);
	assert_int_equal(crosvm_vcpu_set_cpuid(F.v[0], 0, NULL), -EINVAL);
	assert_int_equal(crosvm_vcpu_enable_capability(F.v[0], 123, 0, args), -EINVAL);
	assert_int_equal(crosvm_get_hyperv_cpuid(F.v[0], 0, NULL, &out), -EINVAL);
	/* A deferred set needs no host and is kept for the next resume. */
	fill(&regs, sizeof(regs), 3);
	assert_int_equal(crosvm_vcpu_set_regs(F.v[0], &regs), 0);
	/* A get cannot flush it now; the set must survive the refusal. */
	{
		struct kvm_regs r2;

		assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &r2), -EINVAL);
	}
	fh_vcpu_expect_none(0);

	/* An async write does not stop the vcpu either. */
	fh_vcpu_send(0, "12 0e 12 0c 08 01 10 80 40 18 01 20 01 2a 01 01");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(ev.io_access.no_resume, 1);
	assert_int_equal(crosvm_vcpu_get_fpu(F.v[0], &fpu), -EINVAL);
	fh_vcpu_expect_none(0);

	/* The next stop serves requests again, and the resume carries the set. */
	fh_vcpu_send(0, "12 02 1a 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_PAUSED);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	n = fh_cat(msg, sizeof(msg), "12 93 01 12 90 01", &regs, sizeof(regs));
	fh_vcpu_expect_bytes(0, msg, n);
}

/*
 * Eager registers of the wrong size: the event is still delivered (the host
 * holds the vcpu stopped), but reading that copy fails instead of reading
 * past it as crosvm's library did.
 */
static void wait_bad_eager_regs(void **state)
{
	uint8_t msg[1024], regs[144];
	struct crosvm_vcpu_event ev;
	struct kvm_regs r;
	struct kvm_sregs s;
	size_t n;

	(void)state;
	fh_vcpu_init(0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");
	fill(regs, sizeof(regs), 1);
	n = fh_cat(msg, sizeof(msg), "12 9d 01 12 9a 01 10 80 0a 18 01 2a 01 77 32 8f 01", regs,
		   143);
	fh_vcpu_send_bytes(0, msg, n);
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(ev.io_access.address, 0x500);
	assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &r), -EPROTO);
	assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &r), -EPROTO);
	fh_vcpu_expect_none(0);
	/* sregs were not sent: they come from the host. */
	fill(&s, sizeof(s), 2);
	n = fh_cat(msg, sizeof(msg), "22 bb 02 0a b8 02", &s, sizeof(s));
	fh_vcpu_send_bytes(0, msg, n);
	assert_int_equal(crosvm_vcpu_get_sregs(F.v[0], &s), 0);
	fh_vcpu_expect(0, "1a 02 08 01");
	/* A set replaces the bad copy; the get then flushes and asks. */
	memcpy(&r, regs, sizeof(r));
	assert_int_equal(crosvm_vcpu_set_regs(F.v[0], &r), 0);
	fh_vcpu_send(0, "2a 00");
	n = fh_cat(msg, sizeof(msg), "22 93 01 0a 90 01", regs, 144);
	fh_vcpu_send_bytes(0, msg, n);
	assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &r), 0);
	assert_memory_equal(&r, regs, 144);
	{
		uint8_t exp[512];
		size_t m = fh_cat(exp, sizeof(exp), "22 93 01 12 90 01", regs, 144);

		m += fh_cat(exp + m, sizeof(exp) - m, "1a 00", NULL, 0);
		fh_vcpu_expect_bytes(0, exp, m);
	}
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 03 0a 01 77");
}

static void wait_eof(void **state)
{
	struct crosvm_vcpu_event ev;

	(void)state;
	close(F.resp_wr[0]);
	F.resp_wr[0] = -1;
	/* crosvm's library returned -EINVAL here; ours reports the host gone. */
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EPIPE);
	fh_vcpu_expect(0, "0a 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EPIPE);
	fh_vcpu_expect_none(0);
	/* Stopped in an event when the host goes away. */
	fh_vcpu_init(1);
	close(F.resp_wr[1]);
	F.resp_wr[1] = -1;
	{
		struct kvm_fpu fpu;

		assert_int_equal(crosvm_vcpu_get_fpu(F.v[1], &fpu), -EPIPE);
		fh_vcpu_expect(1, "1a 02 08 02");
	}
}

static void wait_no_sigpipe(void **state)
{
	struct crosvm_vcpu_event ev;
	sigset_t pending, before, after, pipe_set;

	(void)state;
	signal(SIGPIPE, SIG_DFL);
	close(F.req_rd[0]);
	F.req_rd[0] = -1;
	close(F.req_rd[1]);
	F.req_rd[1] = -1;

	/* With SIGPIPE unblocked and at its default (fatal) disposition. */
	pthread_sigmask(SIG_SETMASK, NULL, &before);
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EPIPE);
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	for (int sig = 1; sig < SIGRTMAX; sig++)
		assert_int_equal(sigismember(&before, sig), sigismember(&after, sig));
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));

	/* With SIGPIPE blocked by the plugin: its mask is kept and nothing is left pending. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &before);
	assert_int_equal(crosvm_vcpu_wait(F.v[1], &ev), -EPIPE);
	pthread_sigmask(SIG_SETMASK, NULL, &after);
	assert_true(sigismember(&after, SIGPIPE));
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));
	pthread_sigmask(SIG_SETMASK, &before, NULL);
}

/* Async writes: several framed events arrive in one read and come out one by one. */
static void several_frames_in_one_read(void **state)
{
	static const char *const ev_hex[3] = {
		"12 0e 12 0c 08 01 10 80 40 18 01 20 01 2a 01 01",
		"12 0e 12 0c 08 01 10 80 40 18 01 20 01 2a 01 02",
		"12 0e 12 0c 08 01 10 80 40 18 01 20 01 2a 01 03",
	};
	uint8_t buf[128];
	struct crosvm_vcpu_event ev;
	size_t n = 0;

	(void)state;
	fh_vcpu_init(0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");

	for (int i = 0; i < 3; i++) {
		uint8_t msg[32];
		size_t len = fh_unhex(ev_hex[i], msg, sizeof(msg));

		buf[n++] = (uint8_t)len;
		memcpy(buf + n, msg, len);
		n += len;
	}
	assert_int_equal(write(F.resp_wr[0], buf, n), (ssize_t)n);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
		assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_IO_ACCESS);
		assert_int_equal(ev.io_access.address_space, CROSVM_ADDRESS_SPACE_MMIO);
		assert_int_equal(ev.io_access.address, 0x2000);
		assert_int_equal(ev.io_access.is_write, 1);
		assert_int_equal(ev.io_access.no_resume, 1);
		assert_int_equal(ev.io_access.length, 1);
		assert_int_equal(ev.io_access.data[0], i + 1);
		/* The guest did not stop: resume is refused and nothing is sent. */
		assert_int_equal(crosvm_vcpu_resume(F.v[0]), -EINVAL);
	}
	fh_vcpu_expect_none(0);
}

struct split_writer {
	int fd;
	const uint8_t *p;
	size_t a, b;
};

static void *split_write(void *arg)
{
	struct split_writer *w = arg;
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	if (write(w->fd, w->p, w->a) != (ssize_t)w->a)
		return (void *)1;
	nanosleep(&ts, NULL);
	if (write(w->fd, w->p + w->a, w->b) != (ssize_t)w->b)
		return (void *)1;
	return NULL;
}

/* A frame split across reads is completed, not dropped (crosvm's library failed here). */
static void frame_split_across_reads(void **state)
{
	static const uint8_t frame[] = { 0x0c, 0x12, 0x0a, 0x12, 0x08, 0x10, 0xf8, 0x07,
					 0x18, 0x01, 0x2a, 0x01, 0x39 };
	struct crosvm_vcpu_event ev;
	pthread_t t;
	void *res;

	(void)state;
	fh_vcpu_init(0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");

	/* Split right after the prefix, in the body, and before the last byte. */
	for (size_t cut = 1; cut < sizeof(frame); cut += 5) {
		struct split_writer w = { F.resp_wr[0], frame, cut, sizeof(frame) - cut };

		assert_int_equal(pthread_create(&t, NULL, split_write, &w), 0);
		assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
		assert_int_equal(pthread_join(t, &res), 0);
		assert_null(res);
		assert_int_equal(ev.io_access.address, 0x3f8);
		assert_int_equal(ev.io_access.data[0], '9');
		assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
		fh_vcpu_expect(0, "12 03 0a 01 39");
	}
	{
		/* A 300-byte read event has a 2-byte prefix; cut between its bytes. */
		uint8_t big[320], msg[320];
		size_t n = 0, len;

		memset(msg, 0, sizeof(msg));
		len = fh_unhex("12 b5 02 12 b2 02 10 80 0a 2a ac 02", msg, sizeof(msg)) + 300;
		n = wire_varint_encode(len, big);
		memcpy(big + n, msg, len);
		{
			struct split_writer w = { F.resp_wr[0], big, 1, n + len - 1 };

			assert_int_equal(pthread_create(&t, NULL, split_write, &w), 0);
			assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
			assert_int_equal(pthread_join(t, &res), 0);
		}
		assert_int_equal(ev.io_access.length, 300);
		assert_int_equal(ev.io_access.address, 0x500);
		assert_int_equal(ev.io_access.is_write, 0);
	}
}

static void resume_only_when_stopped(void **state)
{
	(void)state;
	/* Before any event. */
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), -EINVAL);
	fh_vcpu_expect_none(0);
	fh_vcpu_init(0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");
	/* Twice for one event. */
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), -EINVAL);
	fh_vcpu_expect_none(0);
}

static void *wait_for_init(void *arg)
{
	struct crosvm_vcpu_event ev;
	int r = crosvm_vcpu_wait(arg, &ev);

	return (void *)(intptr_t)(r == 0 && ev.kind == CROSVM_VCPU_EVENT_KIND_INIT ? 0 : 1);
}

static short poll_events(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	assert_true(poll(&p, 1, 0) >= 0);
	return p.revents;
}

/*
 * The usual plugin shutdown: the main thread destroys its last connection
 * while a vcpu thread is still blocked in crosvm_vcpu_wait().  The call in
 * progress keeps the vcpu's pipes and memory; they go when it returns.
 */
static void destroy_while_waiting(void **state)
{
	struct pollfd p = { .fd = F.req_rd[0], .events = POLLIN };
	pthread_t t;
	void *res;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, wait_for_init, F.v[0]), 0);
	/* The Wait request shows the thread is inside the call. */
	assert_int_equal(poll(&p, 1, 5000), 1);
	fh_vcpu_expect(0, "0a 00");

	assert_int_equal(crosvm_destroy_connection(&F.c), 0);
	assert_null(F.c);
	/* Still open: the library's end of the request pipe has not hung up. */
	assert_false(poll_events(F.req_rd[0]) & POLLHUP);

	fh_vcpu_send(0, "12 02 0a 00");
	assert_int_equal(pthread_join(t, &res), 0);
	assert_null(res);
	/* The call has returned, the family is gone and every vcpu pipe with it. */
	assert_true(poll_events(F.req_rd[0]) & POLLHUP);
	assert_true(poll_events(F.req_rd[1]) & POLLHUP);
}

/* ---- register caches ------------------------------------------------------------------------ */

/* Deferred sets travel in the next Resume and nowhere else. */
static void deferred_sets_in_resume(void **state)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_debugregs dregs;
	struct crosvm_vcpu_event ev;
	uint8_t exp[1024];
	size_t n;

	(void)state;
	fh_vcpu_init(0);
	fill(&regs, sizeof(regs), 1);
	fill(&sregs, sizeof(sregs), 2);
	fill(&dregs, sizeof(dregs), 3);
	assert_int_equal(crosvm_vcpu_set_regs(F.v[0], &regs), 0);
	assert_int_equal(crosvm_vcpu_set_sregs(F.v[0], &sregs), 0);
	assert_int_equal(crosvm_vcpu_set_debugregs(F.v[0], &dregs), 0);
	fh_vcpu_expect_none(0);

	n = fh_cat(exp, sizeof(exp), "12 d1 04 12 90 01", &regs, sizeof(regs));
	n += fh_cat(exp + n, sizeof(exp) - n, "1a b8 02", &sregs, sizeof(sregs));
	n += fh_cat(exp + n, sizeof(exp) - n, "22 80 01", &dregs, sizeof(dregs));
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect_bytes(0, exp, n);

	/* Sent once: the next resume carries nothing. */
	fh_vcpu_send(0, "12 02 1a 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");

	/* A set during an io read goes with its data; the last set wins. */
	fh_vcpu_send(0, "12 0d 12 0b 08 01 10 80 20 2a 04 00 00 00 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	ev.io_access.data[3] = 0x44;
	assert_int_equal(crosvm_vcpu_set_regs(F.v[0], &regs), 0);
	fill(&regs, sizeof(regs), 9);
	assert_int_equal(crosvm_vcpu_set_regs(F.v[0], &regs), 0);
	n = fh_cat(exp, sizeof(exp), "12 99 01 0a 04 00 00 00 44 12 90 01", &regs, sizeof(regs));
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect_bytes(0, exp, n);
	assert_int_equal(crosvm_vcpu_set_regs(F.v[0], NULL), -EINVAL);
	assert_int_equal(crosvm_vcpu_set_regs(NULL, &regs), -EINVAL);
}

/* A get after a set first sends SetState, then reads back what KVM made of it. */
static void get_after_set_flushes(void **state)
{
	struct kvm_regs regs, back, kvm;
	struct kvm_sregs sregs;
	uint8_t exp[1024], reply[512];
	size_t n;

	(void)state;
	fh_vcpu_init(0);
	fill(&regs, sizeof(regs), 1);
	fill(&kvm, sizeof(kvm), 7);
	assert_int_equal(crosvm_vcpu_set_regs(F.v[0], &regs), 0);
	fh_vcpu_send(0, "2a 00");
	n = fh_cat(reply, sizeof(reply), "22 93 01 0a 90 01", &kvm, sizeof(kvm));
	fh_vcpu_send_bytes(0, reply, n);
	assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &back), 0);
	assert_memory_equal(&back, &kvm, sizeof(kvm));
	n = fh_cat(exp, sizeof(exp), "22 93 01 12 90 01", &regs, sizeof(regs));
	n += fh_cat(exp + n, sizeof(exp) - n, "1a 00", NULL, 0);
	fh_vcpu_expect_bytes(0, exp, n);
	/* Flushed: the resume carries no registers. */
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");
	fh_vcpu_send(0, "12 02 1a 00");
	{
		struct crosvm_vcpu_event ev;

		assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	}

	/* A failing flush reports the host's error and is not retried. */
	fill(&sregs, sizeof(sregs), 4);
	assert_int_equal(crosvm_vcpu_set_sregs(F.v[0], &sregs), 0);
	fh_vcpu_send(0, "08 2c 2a 00");
	assert_int_equal(crosvm_vcpu_get_sregs(F.v[0], &sregs), -EINVAL);
	n = fh_cat(exp, sizeof(exp), "22 bd 02 08 01 12 b8 02", &sregs, sizeof(sregs));
	fh_vcpu_expect_bytes(0, exp, n);
	{
		struct kvm_sregs s2;

		n = fh_cat(reply, sizeof(reply), "22 bb 02 0a b8 02", &sregs, sizeof(sregs));
		fh_vcpu_send_bytes(0, reply, n);
		assert_int_equal(crosvm_vcpu_get_sregs(F.v[0], &s2), 0);
		fh_vcpu_expect(0, "1a 02 08 01");
	}
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");
}

/* Registers sent with a hinted event are served without a round trip. */
static void eager_regs_from_hint(void **state)
{
	struct kvm_regs regs, r;
	struct kvm_sregs sregs, s;
	struct kvm_debugregs dregs, d;
	struct kvm_mp_state mp;
	struct crosvm_vcpu_event ev;
	uint8_t msg[1024];
	size_t n;

	(void)state;
	fh_vcpu_init(0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");

	fill(&regs, sizeof(regs), 1);
	fill(&sregs, sizeof(sregs), 2);
	fill(&dregs, sizeof(dregs), 3);
	n = fh_cat(msg, sizeof(msg), "12 dc 04 12 d9 04 10 80 0a 18 01 2a 01 77 32 90 01", &regs,
		   sizeof(regs));
	n += fh_cat(msg + n, sizeof(msg) - n, "3a b8 02", &sregs, sizeof(sregs));
	n += fh_cat(msg + n, sizeof(msg) - n, "42 80 01", &dregs, sizeof(dregs));
	fh_vcpu_send_bytes(0, msg, n);
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(ev.io_access.address, 0x500);
	assert_int_equal(ev.io_access.data[0], 0x77);

	/*
	 * An MP state reply is queued first: had any get below gone to the host,
	 * it would have consumed this reply and failed on its size.
	 */
	fh_vcpu_send(0, "22 06 0a 04 01 00 00 00");
	assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &r), 0);
	assert_int_equal(crosvm_vcpu_get_sregs(F.v[0], &s), 0);
	assert_int_equal(crosvm_vcpu_get_debugregs(F.v[0], &d), 0);
	assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &r), 0);
	fh_vcpu_expect_none(0);
	assert_memory_equal(&r, &regs, sizeof(r));
	assert_memory_equal(&s, &sregs, sizeof(s));
	assert_memory_equal(&d, &dregs, sizeof(d));
	assert_int_equal(crosvm_vcpu_get_mp_state(F.v[0], &mp), 0);
	assert_int_equal(mp.mp_state, 1);
	fh_vcpu_expect(0, "1a 02 08 05");

	/* A set makes the cache stale: the next get flushes and asks. */
	r.rax = 0x1234;
	assert_int_equal(crosvm_vcpu_set_regs(F.v[0], &r), 0);
	fh_vcpu_send(0, "2a 00");
	n = fh_cat(msg, sizeof(msg), "22 93 01 0a 90 01", &r, sizeof(r));
	fh_vcpu_send_bytes(0, msg, n);
	assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &regs), 0);
	assert_int_equal(regs.rax, 0x1234);
	{
		uint8_t exp[512];
		size_t m = fh_cat(exp, sizeof(exp), "22 93 01 12 90 01", &r, sizeof(r));

		m += fh_cat(exp + m, sizeof(exp) - m, "1a 00", NULL, 0);
		fh_vcpu_expect_bytes(0, exp, m);
	}
	/* sregs are still served from the event. */
	assert_int_equal(crosvm_vcpu_get_sregs(F.v[0], &s), 0);
	fh_vcpu_expect_none(0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 03 0a 01 77");

	/* The next event has only regs: sregs go back to the host. */
	fill(&regs, sizeof(regs), 5);
	n = fh_cat(msg, sizeof(msg), "12 9e 01 12 9b 01 10 80 0a 18 01 2a 01 77 32 90 01", &regs,
		   sizeof(regs));
	fh_vcpu_send_bytes(0, msg, n);
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &r), 0);
	assert_memory_equal(&r, &regs, sizeof(r));
	fh_vcpu_expect_none(0);
	n = fh_cat(msg, sizeof(msg), "22 bb 02 0a b8 02", &sregs, sizeof(sregs));
	fh_vcpu_send_bytes(0, msg, n);
	assert_int_equal(crosvm_vcpu_get_sregs(F.v[0], &s), 0);
	fh_vcpu_expect(0, "1a 02 08 01");
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 03 0a 01 77");

	/* A pause clears every eager copy. */
	fh_vcpu_send(0, "12 02 1a 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	n = fh_cat(msg, sizeof(msg), "22 93 01 0a 90 01", &regs, sizeof(regs));
	fh_vcpu_send_bytes(0, msg, n);
	assert_int_equal(crosvm_vcpu_get_regs(F.v[0], &r), 0);
	fh_vcpu_expect(0, "1a 00");
}

/* ---- direct state round trips --------------------------------------------------------------- */

struct vcpu_state_case {
	const char *name;
	const char *get_req;
	const char *set_hdr; /* NULL: set is deferred (regs, sregs, debugregs) */
	const char *reply_hdr;
	size_t size;
	int (*get)(struct crosvm_vcpu *, void *);
	int (*set)(struct crosvm_vcpu *, const void *);
};

#define CASE_FNS(name, type)                                                                 \
	static int get_##name(struct crosvm_vcpu *v, void *p)                                \
	{                                                                                    \
		return crosvm_vcpu_get_##name(v, (type *)p);                                 \
	}                                                                                    \
	static int set_##name(struct crosvm_vcpu *v, const void *p)                          \
	{                                                                                    \
		return crosvm_vcpu_set_##name(v, (const type *)p);                           \
	}

CASE_FNS(regs, struct kvm_regs)
CASE_FNS(sregs, struct kvm_sregs)
CASE_FNS(fpu, struct kvm_fpu)
CASE_FNS(debugregs, struct kvm_debugregs)
CASE_FNS(lapic_state, struct kvm_lapic_state)
CASE_FNS(mp_state, struct kvm_mp_state)
CASE_FNS(xcrs, struct kvm_xcrs)
CASE_FNS(vcpu_events, struct kvm_vcpu_events)

static const struct vcpu_state_case vcpu_states[] = {
	{ "regs", "1a 00", NULL, "22 93 01 0a 90 01", 144, get_regs, set_regs },
	{ "sregs", "1a 02 08 01", NULL, "22 bb 02 0a b8 02", 312, get_sregs, set_sregs },
	{ "fpu", "1a 02 08 02", "22 a5 03 08 02 12 a0 03", "22 a3 03 0a a0 03", 416, get_fpu,
	  set_fpu },
	{ "debugregs", "1a 02 08 03", NULL, "22 83 01 0a 80 01", 128, get_debugregs,
	  set_debugregs },
	{ "lapic", "1a 02 08 04", "22 85 08 08 04 12 80 08", "22 83 08 0a 80 08", 1024,
	  get_lapic_state, set_lapic_state },
	{ "mp", "1a 02 08 05", "22 08 08 05 12 04", "22 06 0a 04", 4, get_mp_state, set_mp_state },
	{ "xcrs", "1a 02 08 06", "22 8d 03 08 06 12 88 03", "22 8b 03 0a 88 03", 392, get_xcrs,
	  set_xcrs },
	{ "events", "1a 02 08 07", "22 44 08 07 12 40", "22 42 0a 40", 64, get_vcpu_events,
	  set_vcpu_events },
};

static void vcpu_state(void **state)
{
	static uint8_t image[1024], out[1024], msg[1100];
	size_t n;

	(void)state;
	fh_vcpu_init(1);
	for (size_t k = 0; k < sizeof(vcpu_states) / sizeof(vcpu_states[0]); k++) {
		const struct vcpu_state_case *sc = &vcpu_states[k];

		fill(image, sc->size, (uint8_t)k);
		memset(out, 0, sizeof(out));
		n = fh_cat(msg, sizeof(msg), sc->reply_hdr, image, sc->size);
		fh_vcpu_send_bytes(1, msg, n);
		assert_int_equal(sc->get(F.v[1], out), 0);
		fh_vcpu_expect(1, sc->get_req);
		assert_memory_equal(out, image, sc->size);

		/* Wrong size, missing or other member, errno: -EPROTO/-errno, out untouched. */
		memset(out, 0xee, sizeof(out));
		fh_vcpu_send(1, "22 02 0a 00");
		assert_int_equal(sc->get(F.v[1], out), -EPROTO);
		fh_vcpu_expect(1, sc->get_req);
		fh_vcpu_send(1, "2a 00");
		assert_int_equal(sc->get(F.v[1], out), -EPROTO);
		fh_vcpu_expect(1, sc->get_req);
		fh_vcpu_send(1, "08 00");
		assert_int_equal(sc->get(F.v[1], out), -EPROTO);
		fh_vcpu_expect(1, sc->get_req);
		fh_vcpu_send(1, "08 8e 01 22 00");
		assert_int_equal(sc->get(F.v[1], out), -EPROTO);
		fh_vcpu_expect(1, sc->get_req);
		fh_vcpu_send(1, "08 2c");
		assert_int_equal(sc->get(F.v[1], out), -EINVAL);
		fh_vcpu_expect(1, sc->get_req);
		assert_bytes(out, 0, sc->size, 0xee);
		assert_int_equal(sc->get(F.v[1], NULL), -EINVAL);
		assert_int_equal(sc->get(NULL, out), -EINVAL);
		assert_int_equal(sc->set(NULL, image), -EINVAL);
		assert_int_equal(sc->set(F.v[1], NULL), -EINVAL);
		fh_vcpu_expect_none(1);

		if (!sc->set_hdr)
			continue;
		fh_vcpu_send(1, "2a 00");
		assert_int_equal(sc->set(F.v[1], image), 0);
		n = fh_cat(msg, sizeof(msg), sc->set_hdr, image, sc->size);
		fh_vcpu_expect_bytes(1, msg, n);
		/* A reply without the (empty) member is accepted. */
		fh_vcpu_send(1, "08 00");
		assert_int_equal(sc->set(F.v[1], image), 0);
		fh_vcpu_expect_bytes(1, msg, n);
		fh_vcpu_send(1, "08 2c 2a 00");
		assert_int_equal(sc->set(F.v[1], image), -EINVAL);
		fh_vcpu_expect_bytes(1, msg, n);
		/* An event where a reply belongs means the stream is out of step. */
		fh_vcpu_send(1, "12 02 1a 00");
		assert_int_equal(sc->set(F.v[1], image), -EPROTO);
		fh_vcpu_expect_bytes(1, msg, n);
	}
}

/* ---- lists and capabilities ----------------------------------------------------------------- */

static void get_msrs(void **state)
{
	struct kvm_msr_entry e[3];
	uint32_t out = 99;

	(void)state;
	fh_vcpu_init(0);
	memset(e, 0, sizeof(e));
	e[0].index = 0x10;
	e[1].index = 0x174;
	e[0].data = e[1].data = 0xdead;
	fh_vcpu_send(0, "32 04 0a 02 05 06");
	assert_int_equal(crosvm_vcpu_get_msrs(F.v[0], 2, e, &out), 0);
	fh_vcpu_expect(0, "2a 05 0a 03 10 f4 02");
	assert_int_equal(out, 2);
	assert_int_equal(e[0].index, 0x10);
	assert_int_equal(e[0].data, 5);
	assert_int_equal(e[1].index, 0x174);
	assert_int_equal(e[1].data, 6);

	/* KVM stopped at the second MSR: a short count is success. */
	e[1].data = 0xdead;
	fh_vcpu_send(0, "32 03 0a 01 07");
	assert_int_equal(crosvm_vcpu_get_msrs(F.v[0], 2, e, &out), 0);
	fh_vcpu_expect(0, "2a 05 0a 03 10 f4 02");
	assert_int_equal(out, 1);
	assert_int_equal(e[0].data, 7);
	assert_int_equal(e[1].data, 0xdead);

	/* More values than asked for. */
	fh_vcpu_send(0, "32 05 0a 03 01 02 03");
	assert_int_equal(crosvm_vcpu_get_msrs(F.v[0], 2, e, &out), -E2BIG);
	fh_vcpu_expect(0, "2a 05 0a 03 10 f4 02");
	assert_int_equal(out, 3);
	assert_int_equal(e[0].data, 7);

	out = 5;
	fh_vcpu_send(0, "08 2c 32 00");
	assert_int_equal(crosvm_vcpu_get_msrs(F.v[0], 2, e, &out), -EINVAL);
	fh_vcpu_expect(0, "2a 05 0a 03 10 f4 02");
	assert_int_equal(out, 0);
	out = 5;
	fh_vcpu_send(0, "3a 00");
	assert_int_equal(crosvm_vcpu_get_msrs(F.v[0], 2, e, &out), -EPROTO);
	fh_vcpu_expect(0, "2a 05 0a 03 10 f4 02");
	assert_int_equal(out, 0);

	/* None asked: an empty GetMsrs. */
	fh_vcpu_send(0, "32 00");
	assert_int_equal(crosvm_vcpu_get_msrs(F.v[0], 0, NULL, &out), 0);
	fh_vcpu_expect(0, "2a 00");
	assert_int_equal(out, 0);
	assert_int_equal(crosvm_vcpu_get_msrs(F.v[0], 2, NULL, &out), -EINVAL);
	assert_int_equal(crosvm_vcpu_get_msrs(F.v[0], 2, e, NULL), -EINVAL);
	fh_vcpu_expect_none(0);
}

static void set_msrs(void **state)
{
	struct kvm_msr_entry e[2];

	(void)state;
	fh_vcpu_init(0);
	memset(e, 0, sizeof(e));
	e[0].index = 0x10;
	e[0].data = 5;
	fh_vcpu_send(0, "3a 00");
	assert_int_equal(crosvm_vcpu_set_msrs(F.v[0], 1, e), 0);
	fh_vcpu_expect(0, "32 06 0a 04 08 10 10 05");
	fh_vcpu_send(0, "08 2c 3a 00");
	assert_int_equal(crosvm_vcpu_set_msrs(F.v[0], 1, e), -EINVAL);
	fh_vcpu_expect(0, "32 06 0a 04 08 10 10 05");
	fh_vcpu_send(0, "3a 00");
	assert_int_equal(crosvm_vcpu_set_msrs(F.v[0], 0, NULL), 0);
	fh_vcpu_expect(0, "32 00");
	assert_int_equal(crosvm_vcpu_set_msrs(F.v[0], 1, NULL), -EINVAL);
	assert_int_equal(crosvm_vcpu_set_msrs(NULL, 1, e), -EINVAL);
	fh_vcpu_expect_none(0);
}

static void set_cpuid(void **state)
{
	struct kvm_cpuid_entry2 e[2];

	(void)state;
	fh_vcpu_init(0);
	memset(e, 0, sizeof(e));
	e[0].function = 1;
	e[0].eax = 0x10;
	e[0].index = 0; /* no flag: index not significant */
	e[1].function = 7;
	e[1].index = 1;
	/* Only the significant-index flag survives. */
	e[1].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX | 0x6;
	e[1].ebx = 0x20;
	e[1].padding[0] = 0xffffffff;
	fh_vcpu_send(0, "42 00");
	assert_int_equal(crosvm_vcpu_set_cpuid(F.v[0], 2, e), 0);
	fh_vcpu_expect(0, "3a 10 0a 04 08 01 28 10 0a 08 08 07 18 01 20 01 30 20");
	fh_vcpu_send(0, "08 2c 42 00");
	assert_int_equal(crosvm_vcpu_set_cpuid(F.v[0], 2, e), -EINVAL);
	fh_vcpu_expect(0, "3a 10 0a 04 08 01 28 10 0a 08 08 07 18 01 20 01 30 20");
	assert_int_equal(crosvm_vcpu_set_cpuid(F.v[0], 2, NULL), -EINVAL);
	fh_vcpu_expect_none(0);
}

static void get_hyperv_cpuid(void **state)
{
	struct kvm_cpuid_entry2 e[2], want[2];
	uint32_t out = 9;

	(void)state;
	fh_vcpu_init(0);
	memset(e, 0xff, sizeof(e));
	fh_vcpu_send(0, "4a 0e 0a 02 28 10 0a 08 08 07 18 01 20 01 30 20");
	assert_int_equal(crosvm_get_hyperv_cpuid(F.v[0], 2, e, &out), 0);
	fh_vcpu_expect(0, "4a 00");
	assert_int_equal(out, 2);
	memset(want, 0, sizeof(want));
	want[0].eax = 0x10;
	want[1].function = 7;
	want[1].index = 1;
	want[1].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	want[1].ebx = 0x20;
	assert_memory_equal(e, want, sizeof(want));

	memset(e, 0xff, sizeof(e));
	fh_vcpu_send(0, "4a 0e 0a 02 28 10 0a 08 08 07 18 01 20 01 30 20");
	assert_int_equal(crosvm_get_hyperv_cpuid(F.v[0], 1, e, &out), -E2BIG);
	fh_vcpu_expect(0, "4a 00");
	assert_int_equal(out, 2);
	assert_bytes(e, 0, sizeof(e), 0xff);

	/* Older kernels: EINVAL from the host. */
	fh_vcpu_send(0, "08 2c 4a 00");
	assert_int_equal(crosvm_get_hyperv_cpuid(F.v[0], 2, e, &out), -EINVAL);
	fh_vcpu_expect(0, "4a 00");
	assert_int_equal(out, 0);
	out = 9;
	fh_vcpu_send(0, "42 00");
	assert_int_equal(crosvm_get_hyperv_cpuid(F.v[0], 2, e, &out), -EPROTO);
	fh_vcpu_expect(0, "4a 00");
	assert_int_equal(out, 0);
	assert_int_equal(crosvm_get_hyperv_cpuid(F.v[0], 2, e, NULL), -EINVAL);
	assert_int_equal(crosvm_get_hyperv_cpuid(F.v[0], 2, NULL, &out), -EINVAL);
	fh_vcpu_expect_none(0);
}

static void vcpu_enable_capability(void **state)
{
	uint64_t args[4] = { 0 };

	(void)state;
	fh_vcpu_init(0);
	fh_vcpu_send(0, "52 00");
	assert_int_equal(crosvm_vcpu_enable_capability(F.v[0], 123, 0, args), 0);
	fh_vcpu_expect(0, "52 02 08 7b");
	fh_vcpu_send(0, "08 2c 52 00");
	assert_int_equal(crosvm_vcpu_enable_capability(F.v[0], 7, 0, args), -EINVAL);
	fh_vcpu_expect(0, "52 02 08 07");
	/* Local checks: flags and every argument must be zero. */
	assert_int_equal(crosvm_vcpu_enable_capability(F.v[0], 123, 1, args), -EINVAL);
	for (int i = 0; i < 4; i++) {
		args[i] = 1;
		assert_int_equal(crosvm_vcpu_enable_capability(F.v[0], 123, 0, args), -EINVAL);
		args[i] = 0;
	}
	assert_int_equal(crosvm_vcpu_enable_capability(F.v[0], 123, 0, NULL), -EINVAL);
	fh_vcpu_expect_none(0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fh_setup, fh_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(wait_init_resume),
		T(io_events),
		T(hyperv_events),
		T(wait_errors),
		T(wait_twice),
		T(state_calls_only_when_stopped),
		T(wait_bad_eager_regs),
		T(wait_eof),
		T(wait_no_sigpipe),
		T(several_frames_in_one_read),
		T(frame_split_across_reads),
		T(resume_only_when_stopped),
		T(destroy_while_waiting),
		T(deferred_sets_in_resume),
		T(get_after_set_flushes),
		T(eager_regs_from_hint),
		T(vcpu_state),
		T(get_msrs),
		T(set_msrs),
		T(set_cpuid),
		T(get_hyperv_cpuid),
		T(vcpu_enable_capability),
	};

	signal(SIGPIPE, SIG_DFL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
