// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The VcpuChannel negotiation and the shared-memory vcpu channel of
 * libcrosvm_plugin against a scripted fake host: fallback to the pipes on
 * ENOTTY (crosvm's host), on CROSVM_PLUGIN_CHANNEL=pipe and on unusable
 * replies (taken back with version 0), and then the channel itself, with
 * the test playing the host side of the slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "crosvm.h"
#include "fake-host.h"
#include "shm-chan.h"
#include "wire.h"

/* MainRequest.vcpu_channel = 1000 {version}: tag c2 3e. */
#define REQ_V1 "c2 3e 02 08 01"
#define REQ_V0 "c2 3e 00"
#define SLOT "80 c0 03" /* 57344 as a varint */

struct env {
	int sock;       /* host end */
	int req_rd;     /* vcpu 0 request pipe, host end (non-blocking) */
	int resp_wr;    /* vcpu 0 response pipe, host end */
	int memfd;
	struct shm_slot *slot;
	uint32_t ev_head;
	uint32_t req_tail;
	struct crosvm *c;
	struct crosvm_vcpu *v;
	int fds_at_start;
};

static struct env E;

static int make_memfd(unsigned seals, size_t size)
{
	int fd = memfd_create("test-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	E.slot = mmap(NULL, SHM_SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(E.slot != MAP_FAILED);
	E.slot->magic = SHM_CHAN_MAGIC;
	E.slot->version = SHM_CHAN_VERSION;
	E.slot->slot_size = SHM_SLOT_SIZE;
	E.slot->vcpu_id = 0;
	return fd;
}

/* Connects one vcpu; `reply` is the scripted answer to the negotiation (NULL: none expected). */
static int connect_with(const char *reply, int reply_fd, const char *revert_reply)
{
	int sv[2], to_host[2], to_plugin[2], fds[2];
	char num[16];
	int ret;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	E.sock = sv[0];
	snprintf(num, sizeof(num), "%d", sv[1]);
	setenv("CROSVM_SOCKET", num, 1);
	assert_int_equal(pipe2(to_host, O_CLOEXEC), 0);
	assert_int_equal(pipe2(to_plugin, O_CLOEXEC), 0);
	E.req_rd = to_host[0];
	assert_int_equal(fcntl(E.req_rd, F_SETFL, O_NONBLOCK), 0);
	E.resp_wr = to_plugin[1];
	fds[0] = to_host[1];
	fds[1] = to_plugin[0];
	fh_send_on(E.sock, "92 01 00", fds, 2);
	close(fds[0]);
	close(fds[1]);
	if (reply)
		fh_send_on(E.sock, reply, reply_fd >= 0 ? &reply_fd : NULL, reply_fd >= 0 ? 1 : 0);
	if (revert_reply)
		fh_send_on(E.sock, revert_reply, NULL, 0);
	ret = crosvm_connect(&E.c);
	fh_expect_on(E.sock, "8a 01 00");
	if (reply)
		fh_expect_on(E.sock, REQ_V1);
	if (revert_reply)
		fh_expect_on(E.sock, REQ_V0);
	/* After a failure the library closed its end: EOF, not a request. */
	if (ret == 0) {
		fh_expect_none_on(E.sock);
		assert_int_equal(crosvm_get_vcpu(E.c, 0, &E.v), 0);
	}
	return ret;
}

static int setup(void **state)
{
	(void)state;
	memset(&E, 0, sizeof(E));
	E.sock = E.req_rd = E.resp_wr = E.memfd = -1;
	E.fds_at_start = fh_count_fds();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (E.c)
		assert_int_equal(crosvm_destroy_connection(&E.c), 0);
	if (E.sock >= 0)
		close(E.sock);
	if (E.req_rd >= 0)
		close(E.req_rd);
	if (E.resp_wr >= 0)
		close(E.resp_wr);
	if (E.memfd >= 0)
		close(E.memfd);
	if (E.slot)
		munmap(E.slot, SHM_SLOT_SIZE);
	unsetenv("CROSVM_SOCKET");
	unsetenv("CROSVM_PLUGIN_CHANNEL");
	assert_int_equal(fh_count_fds(), E.fds_at_start);
	return 0;
}

/* The vcpu works over the pipes: the Init handshake goes through them. */
static void expect_pipes(void)
{
	struct crosvm_vcpu_event ev;
	uint8_t got[16];

	assert_int_equal(wire_write_framed(E.resp_wr, "\x12\x02\x0a\x00", 4), 0);
	assert_int_equal(crosvm_vcpu_wait(E.v, &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_INIT);
	assert_int_equal(read(E.req_rd, got, sizeof(got)), 2);
	assert_memory_equal(got, "\x0a\x00", 2);
}

/* ---- negotiation ------------------------------------------------------------------------ */

static void crosvm_host_enotty(void **state)
{
	(void)state;
	/* crosvm's host: an unknown request gets ENOTTY and no member. */
	assert_int_equal(connect_with("08 32", -1, NULL), 0);
	expect_pipes();
}

static void env_forces_pipes(void **state)
{
	(void)state;
	setenv("CROSVM_PLUGIN_CHANNEL", "pipe", 1);
	assert_int_equal(connect_with(NULL, -1, NULL), 0);
	expect_pipes();
}

static void host_error_keeps_pipes(void **state)
{
	(void)state;
	/* EBUSY (after Start) with the member: the host did not switch, nothing to take back. */
	assert_int_equal(connect_with("08 20 c2 3e 00", -1, NULL), 0);
	expect_pipes();
}

static void reply_without_fd_is_taken_back(void **state)
{
	(void)state;
	assert_int_equal(connect_with("c2 3e 0c 08 01 10 " SLOT " 18 01 20 " SLOT, -1, "c2 3e 00"),
			 0);
	expect_pipes();
}

static void unsealed_memfd_is_taken_back(void **state)
{
	int fd = make_memfd(0, SHM_SLOT_SIZE);

	(void)state;
	assert_int_equal(connect_with("c2 3e 0c 08 01 10 " SLOT " 18 01 20 " SLOT, fd, "c2 3e 00"),
			 0);
	close(fd);
	expect_pipes();
}

static void wrong_sizes_are_taken_back(void **state)
{
	int fd = make_memfd(F_SEAL_SHRINK | F_SEAL_GROW, SHM_SLOT_SIZE);

	(void)state;
	/* Two vcpus claimed, one exists. */
	assert_int_equal(connect_with("c2 3e 0c 08 01 10 " SLOT " 18 02 20 " SLOT, fd, "c2 3e 00"),
			 0);
	close(fd);
	expect_pipes();
}

static void bad_slot_header_is_taken_back(void **state)
{
	int fd = make_memfd(F_SEAL_SHRINK | F_SEAL_GROW, SHM_SLOT_SIZE);

	(void)state;
	E.slot->magic = 0;
	assert_int_equal(connect_with("c2 3e 0c 08 01 10 " SLOT " 18 01 20 " SLOT, fd, "c2 3e 00"),
			 0);
	close(fd);
	expect_pipes();
}

static void failed_take_back_fails_connect(void **state)
{
	(void)state;
	/* The host cannot switch back: the two sides would disagree, so connecting fails. */
	assert_int_equal(connect_with("c2 3e 0c 08 01 10 " SLOT " 18 01 20 " SLOT, -1,
				      "08 20 c2 3e 00"),
			 -EPROTO);
}

/* ---- the channel -------------------------------------------------------------------------- */

static void host_post(const struct shm_msg_hdr *h, const void *data, size_t len)
{
	struct shm_msg *m = &E.slot->ring[E.ev_head % SHM_RING];

	m->h = *h;
	if (len)
		memcpy(m->data, data, len);
	shm_post(&E.slot->ev_head, ++E.ev_head);
}

/* Takes the one pending request (it must be there) and frees the area. */
static struct shm_req_hdr host_take(void)
{
	struct shm_req_hdr h;

	assert_int_equal(shm_load(&E.slot->req_head.seq), E.req_tail + 1);
	h = E.slot->req.h;
	shm_post(&E.slot->req_tail, ++E.req_tail);
	return h;
}

static void host_expect_none(void)
{
	assert_int_equal(shm_load(&E.slot->req_head.seq), E.req_tail);
}

static void connect_shm(void)
{
	int fd = make_memfd(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL, SHM_SLOT_SIZE);

	assert_int_equal(connect_with("c2 3e 0c 08 01 10 " SLOT " 18 01 20 " SLOT, fd, NULL), 0);
	E.memfd = fd;
}

static void shm_events_and_requests(void **state)
{
	struct shm_msg_hdr h = { .kind = SHM_MSG_WAIT, .exit = SHM_EXIT_INIT };
	struct crosvm_vcpu_event ev;
	struct shm_req_hdr rq;
	struct kvm_regs regs;
	struct kvm_msr_entry msrs[2] = { { .index = 0x10 }, { .index = 0x1b } };
	uint32_t n;
	uint8_t b;

	(void)state;
	connect_shm();

	/* Init: the Wait request goes through the slot, not the pipe. */
	host_post(&h, NULL, 0);
	assert_int_equal(crosvm_vcpu_wait(E.v, &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_INIT);
	assert_int_equal(host_take().kind, SHM_REQ_WAIT);
	assert_int_equal(read(E.req_rd, &b, 1), -1);

	/* A deferred register set travels in the Resume. */
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x1000;
	regs.rflags = 2;
	assert_int_equal(crosvm_vcpu_set_regs(E.v, &regs), 0);
	host_expect_none();
	assert_int_equal(crosvm_vcpu_resume(E.v), 0);
	rq = host_take();
	assert_int_equal(rq.kind, SHM_REQ_RESUME);
	assert_int_equal(rq.regs_mask, SHM_F_REGS);
	assert_int_equal(rq.len, 0);
	assert_memory_equal(E.slot->req.regs, &regs, sizeof(regs));

	/* Three async writes in a row, then a read the plugin fills in. */
	for (int i = 0; i < 3; i++) {
		struct shm_msg_hdr io = { .kind = SHM_MSG_WAIT, .exit = SHM_EXIT_IO,
					  .space = 0, .address = 0x3f8, .len = 1,
					  .flags = SHM_F_IS_WRITE | SHM_F_NO_RESUME };
		uint8_t d = (uint8_t)('a' + i);

		host_post(&io, &d, 1);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(crosvm_vcpu_wait(E.v, &ev), 0);
		assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_IO_ACCESS);
		assert_true(ev.io_access.no_resume && ev.io_access.is_write);
		assert_int_equal(ev.io_access.length, 1);
		assert_int_equal(ev.io_access.data[0], 'a' + i);
		/* No io details from a host that was not asked (API 0.23). */
		assert_int_equal(ev.io_access.element_size, 0);
		assert_int_equal(ev.io_access.count, 0);
	}
	/* API 0.23 io details: a "rep outsw" of two words, size in u[0] and count in u[1]. */
	{
		struct shm_msg_hdr io = { .kind = SHM_MSG_WAIT, .exit = SHM_EXIT_IO,
					  .space = 0, .address = 0x3f8, .len = 4,
					  .flags = SHM_F_IS_WRITE | SHM_F_NO_RESUME,
					  .u = { 2, 2 } };

		host_post(&io, "wxyz", 4);
	}
	assert_int_equal(crosvm_vcpu_wait(E.v, &ev), 0);
	assert_int_equal(ev.io_access.length, 4);
	assert_int_equal(ev.io_access.element_size, 2);
	assert_int_equal(ev.io_access.count, 2);
	assert_memory_equal(ev.io_access.data, "wxyz", 4);
	/* After a no_resume event resume is refused and nothing is sent. */
	assert_int_equal(crosvm_vcpu_resume(E.v), -EINVAL);
	host_expect_none();

	{
		struct shm_msg_hdr io = { .kind = SHM_MSG_WAIT, .exit = SHM_EXIT_IO, .space = 1,
					  .address = 0x2000, .len = 4 };
		static const uint8_t zero[4];

		host_post(&io, zero, 4);
	}
	assert_int_equal(crosvm_vcpu_wait(E.v, &ev), 0);
	assert_int_equal(ev.io_access.address_space, CROSVM_ADDRESS_SPACE_MMIO);
	assert_int_equal(ev.io_access.address, 0x2000);
	assert_int_equal(ev.io_access.length, 4);
	assert_false(ev.io_access.is_write);
	memcpy(ev.io_access.data, "\x11\x22\x33\x44", 4);

	/* A request while stopped: GetMsrs, answered from the reply area. */
	E.slot->reply.msr_data[0] = 0x1234;
	{
		struct shm_msg_hdr r = { .kind = SHM_MSG_GET_MSRS, .len = 1 };

		host_post(&r, NULL, 0);
	}
	assert_int_equal(crosvm_vcpu_get_msrs(E.v, 2, msrs, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(msrs[0].data, 0x1234);
	rq = host_take();
	assert_int_equal(rq.kind, SHM_REQ_GET_MSRS);
	assert_int_equal(rq.len, 2);
	assert_int_equal(E.slot->req.u.indices[0], 0x10);
	assert_int_equal(E.slot->req.u.indices[1], 0x1b);

	/* An error reply. */
	{
		struct shm_msg_hdr r = { .kind = SHM_MSG_SET_STATE, .errnum = EINVAL };
		struct kvm_fpu fpu;

		memset(&fpu, 0, sizeof(fpu));
		host_post(&r, NULL, 0);
		assert_int_equal(crosvm_vcpu_set_fpu(E.v, &fpu), -EINVAL);
		rq = host_take();
		assert_int_equal(rq.kind, SHM_REQ_SET_STATE);
		assert_int_equal(rq.len, sizeof(fpu));
	}
	/* More than the slot holds fails locally. */
	{
		struct kvm_msr_entry *many = calloc(SHM_MSRS_MAX + 1, sizeof(*many));

		assert_int_equal(crosvm_vcpu_set_msrs(E.v, SHM_MSRS_MAX + 1, many), -E2BIG);
		free(many);
		host_expect_none();
	}

	/* API 0.23 XSAVE: the area in the reply area, kind 1001; a set in u.xsave, kind 1002. */
	{
		struct shm_msg_hdr r = { .kind = SHM_MSG_GET_XSAVE, .len = 4096 };
		struct shm_msg_hdr w = { .kind = SHM_MSG_SET_XSAVE };
		static uint8_t area[SHM_XSAVE_MAX + 1], back[SHM_XSAVE_MAX];
		uint32_t size = 0;

		for (size_t i = 0; i < 4096; i++)
			E.slot->reply.xsave[i] = area[i] = (uint8_t)(i ^ 0x5a);
		host_post(&r, NULL, 0);
		assert_int_equal(crosvm_vcpu_get_xsave(E.v, back, sizeof(back), &size), 0);
		assert_int_equal(size, 4096);
		assert_memory_equal(back, area, 4096);
		rq = host_take();
		assert_int_equal(rq.kind, SHM_REQ_GET_XSAVE);
		assert_int_equal(rq.len, 0);
		host_post(&w, NULL, 0);
		assert_int_equal(crosvm_vcpu_set_xsave(E.v, area, 4096), 0);
		rq = host_take();
		assert_int_equal(rq.kind, SHM_REQ_SET_XSAVE);
		assert_int_equal(rq.len, 4096);
		assert_memory_equal(E.slot->req.u.xsave, area, 4096);
		/* A reply naming more than the area holds is refused; so is a set too large. */
		r.len = SHM_XSAVE_MAX + 1;
		host_post(&r, NULL, 0);
		assert_int_equal(crosvm_vcpu_get_xsave(E.v, back, sizeof(back), &size), -EINVAL);
		host_take();
		assert_int_equal(crosvm_vcpu_set_xsave(E.v, area, SHM_XSAVE_MAX + 1), -E2BIG);
		host_expect_none();
	}

	/* The Resume carries the data the plugin wrote. */
	assert_int_equal(crosvm_vcpu_resume(E.v), 0);
	rq = host_take();
	assert_int_equal(rq.kind, SHM_REQ_RESUME);
	assert_int_equal(rq.len, 4);
	assert_int_equal(rq.regs_mask, 0);
	assert_memory_equal(E.slot->req.u.data, "\x11\x22\x33\x44", 4);
}

static void shm_broken_host_message(void **state)
{
	struct shm_msg_hdr h = { .kind = SHM_MSG_WAIT, .exit = SHM_EXIT_IO, .len = SHM_IO_MAX + 1 };
	struct crosvm_vcpu_event ev;

	(void)state;
	connect_shm();
	/* A length beyond the layout never reaches a memcpy. */
	host_post(&h, NULL, 0);
	assert_int_equal(crosvm_vcpu_wait(E.v, &ev), -EINVAL);
	host_take();
	/* An unknown wait reason is a protocol error, as on the pipes. */
	h.exit = 99;
	h.len = 0;
	host_post(&h, NULL, 0);
	assert_int_equal(crosvm_vcpu_wait(E.v, &ev), -EPROTO);
}

static void shm_host_death_ends_wait(void **state)
{
	struct crosvm_vcpu_event ev;

	(void)state;
	connect_shm();
	/* The host's end of the response pipe closing is how its death shows. */
	close(E.resp_wr);
	E.resp_wr = -1;
	assert_int_equal(crosvm_vcpu_wait(E.v, &ev), -EPIPE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(crosvm_host_enotty, setup, teardown),
		cmocka_unit_test_setup_teardown(env_forces_pipes, setup, teardown),
		cmocka_unit_test_setup_teardown(host_error_keeps_pipes, setup, teardown),
		cmocka_unit_test_setup_teardown(reply_without_fd_is_taken_back, setup, teardown),
		cmocka_unit_test_setup_teardown(unsealed_memfd_is_taken_back, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_sizes_are_taken_back, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_slot_header_is_taken_back, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_take_back_fails_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(shm_events_and_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(shm_broken_host_message, setup, teardown),
		cmocka_unit_test_setup_teardown(shm_host_death_ends_wait, setup, teardown),
	};

	unsetenv("CROSVM_PLUGIN_CHANNEL");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
