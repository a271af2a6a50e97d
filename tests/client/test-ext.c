// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The API 0.23 extensions of libcrosvm_plugin against a scripted fake host,
 * byte for byte (docs/protocol.md "Extensions"): the negotiation, the edge
 * irq event, default CPUID, each answered by our host and refused (ENOTTY,
 * no member) as crosvm's host does, and the library-only kick and timed
 * wait over the pipe channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crosvm.h"
#include "fake-host.h"

/* MainRequest.extensions = 1001 {}: tag ca 3e. */
#define REQ_EXTENSIONS "ca 3e 00"
/* MainRequest.default_cpuid = 1002 {enable = true}: tag d2 3e. */
#define REQ_DEFAULT_CPUID "d2 3e 02 08 01"
/* errnum = ENOTTY (25, zigzag 50) and no member: crosvm's answer to what it does not know. */
#define ENOTTY_REPLY "08 32"

static void same_file(int a, int b)
{
	struct stat sa, sb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	assert_int_equal(sa.st_ino, sb.st_ino);
	assert_int_equal(sa.st_dev, sb.st_dev);
}

static void extensions(void **state)
{
	uint64_t mask = 0;

	(void)state;
	/* Our host: MainResponse.extensions = 1001 {mask = 3}; the kick bit is the library's. */
	fh_send("ca 3e 02 08 03");
	assert_int_equal(crosvm_get_extensions(F.c, &mask), 0);
	fh_expect(REQ_EXTENSIONS);
	assert_int_equal(mask, CROSVM_EXTENSION_EDGE_IRQ_EVENT | CROSVM_EXTENSION_DEFAULT_CPUID |
				       CROSVM_EXTENSION_VCPU_KICK);
	/* Unknown bits from a newer host are passed on. */
	fh_send("ca 3e 03 08 80 01");
	assert_int_equal(crosvm_get_extensions(F.c, &mask), 0);
	fh_expect(REQ_EXTENSIONS);
	assert_int_equal(mask, 0x80 | CROSVM_EXTENSION_VCPU_KICK);
	/* crosvm's host: ENOTTY means no host extensions, and is no error. */
	fh_send(ENOTTY_REPLY);
	assert_int_equal(crosvm_get_extensions(F.c, &mask), 0);
	fh_expect(REQ_EXTENSIONS);
	assert_int_equal(mask, CROSVM_EXTENSION_VCPU_KICK);
	/* Another error is passed on; a reply of the wrong kind is a protocol error. */
	mask = 1;
	fh_send("08 0a");
	assert_int_equal(crosvm_get_extensions(F.c, &mask), -EIO);
	fh_expect(REQ_EXTENSIONS);
	assert_int_equal(mask, 0);
	fh_send("12 00");
	assert_int_equal(crosvm_get_extensions(F.c, &mask), -EPROTO);
	fh_expect(REQ_EXTENSIONS);
	assert_int_equal(crosvm_get_extensions(F.c, NULL), -EINVAL);
	assert_int_equal(crosvm_get_extensions(NULL, &mask), -EINVAL);
	fh_expect_none();
}

static void default_cpuid(void **state)
{
	(void)state;
	fh_send("d2 3e 00");
	assert_int_equal(crosvm_enable_default_cpuid(F.c), 0);
	fh_expect(REQ_DEFAULT_CPUID);
	/* After Start: EBUSY (16, zigzag 32). */
	fh_send("08 20 d2 3e 00");
	assert_int_equal(crosvm_enable_default_cpuid(F.c), -EBUSY);
	fh_expect(REQ_DEFAULT_CPUID);
	fh_send(ENOTTY_REPLY);
	assert_int_equal(crosvm_enable_default_cpuid(F.c), -ENOTTY);
	fh_expect(REQ_DEFAULT_CPUID);
	assert_int_equal(crosvm_enable_default_cpuid(NULL), -EINVAL);
	fh_expect_none();
}

static void edge_irq_event(void **state)
{
	int fds[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	struct crosvm_irq *q = NULL, *none = (struct crosvm_irq *)0x1;

	(void)state;
	/* Create{edge_irq_event = 1000 {irq_id = 4}}: the trigger is the reply's only fd. */
	fh_send_fds("12 00", fds, 1);
	assert_int_equal(crosvm_create_edge_irq_event(F.c, 4, &q), 0);
	fh_expect("0a 05 c2 3e 02 08 04");
	same_file(crosvm_irq_event_get_fd(q), fds[0]);
	assert_int_equal(crosvm_irq_event_get_resample_fd(q), -1);
	/* Extra descriptors: the last one is the trigger, the rest are closed (teardown counts). */
	{
		struct crosvm_irq *q2 = NULL;

		fh_send_fds("12 00", fds, 2);
		assert_int_equal(crosvm_create_edge_irq_event(F.c, 5, &q2), 0);
		fh_expect("0a 07 08 01 c2 3e 02 08 05");
		same_file(crosvm_irq_event_get_fd(q2), fds[1]);
		fh_send("1a 00");
		assert_int_equal(crosvm_destroy_irq_event(F.c, &q2), 0);
		fh_expect("12 02 08 01");
	}
	/* No descriptor; crosvm's host. */
	fh_send("12 00");
	assert_int_equal(crosvm_create_edge_irq_event(F.c, 4, &none), -EPROTO);
	fh_expect("0a 07 08 01 c2 3e 02 08 04");
	fh_send(ENOTTY_REPLY);
	assert_int_equal(crosvm_create_edge_irq_event(F.c, 4, &none), -ENOTTY);
	fh_expect("0a 07 08 02 c2 3e 02 08 04");
	assert_ptr_equal(none, (struct crosvm_irq *)0x1);
	assert_int_equal(crosvm_create_edge_irq_event(F.c, 4, NULL), -EINVAL);
	fh_expect_none();

	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_irq_event(F.c, &q), 0);
	fh_expect("12 00");
	assert_null(q);
	close(fds[0]);
	close(fds[1]);
}

static void *kick_later(void *arg)
{
	usleep(20 * 1000);
	assert_int_equal(crosvm_vcpu_kick(arg), 0);
	return NULL;
}

/* The kick and timed wait never reach the host: only the Init Wait goes out. */
static void kick(void **state)
{
	struct crosvm_vcpu_event ev;
	pthread_t t;

	(void)state;
	assert_int_equal(crosvm_vcpu_kick(NULL), -EINVAL);
	assert_int_equal(crosvm_vcpu_wait_timeout(NULL, &ev, 0), -EINVAL);
	assert_int_equal(crosvm_vcpu_wait_timeout(F.v[0], NULL, 0), -EINVAL);
	/* A pending kick ends the first wait after its Wait request went out. */
	assert_int_equal(crosvm_vcpu_kick(F.v[0]), 0);
	assert_int_equal(crosvm_vcpu_kick(F.v[0]), 0);
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EINTR);
	fh_vcpu_expect(0, "0a 00");
	/* Kicks do not add up; nothing is there yet. */
	assert_int_equal(crosvm_vcpu_wait_timeout(F.v[0], &ev, 0), -ETIMEDOUT);
	assert_int_equal(crosvm_vcpu_wait_timeout(F.v[0], &ev, 10 * 1000 * 1000), -ETIMEDOUT);
	/* A kick from another thread ends a wait without a deadline. */
	assert_int_equal(pthread_create(&t, NULL, kick_later, F.v[0]), 0);
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EINTR);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* The Init event that arrives now is delivered, and no second Wait is sent. */
	fh_vcpu_send(0, "12 02 0a 00");
	assert_int_equal(crosvm_vcpu_wait_timeout(F.v[0], &ev, -1), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_INIT);
	fh_vcpu_expect_none(0);
	fh_expect_none();
}

/* ResetEvents (main 1003), VcpuRequest.reset (1000) and the Wait.reset (1000) event. */
static void reset(void **state)
{
	struct crosvm_vcpu_event ev;

	(void)state;
	fh_send("da 3e 00");
	assert_int_equal(crosvm_enable_reset_events(F.c), 0);
	fh_expect("da 3e 02 08 01");
	fh_send(ENOTTY_REPLY);
	assert_int_equal(crosvm_enable_reset_events(F.c), -ENOTTY);
	fh_expect("da 3e 02 08 01");
	assert_int_equal(crosvm_enable_reset_events(NULL), -EINVAL);
	/* Not stopped before INIT: nothing is sent. */
	assert_int_equal(crosvm_vcpu_reset(F.v[0]), -EINVAL);
	assert_int_equal(crosvm_vcpu_reset(NULL), -EINVAL);
	fh_vcpu_expect_none(0);

	fh_vcpu_init(0);
	fh_vcpu_send(0, "c2 3e 00");
	assert_int_equal(crosvm_vcpu_reset(F.v[0]), 0);
	fh_vcpu_expect(0, "c2 3e 00");
	/* crosvm's host: ENOTTY, errno only. */
	fh_vcpu_send(0, ENOTTY_REPLY);
	assert_int_equal(crosvm_vcpu_reset(F.v[0]), -ENOTTY);
	fh_vcpu_expect(0, "c2 3e 00");
	/* A reply of another kind. */
	fh_vcpu_send(0, "2a 00");
	assert_int_equal(crosvm_vcpu_reset(F.v[0]), -EPROTO);
	fh_vcpu_expect(0, "c2 3e 00");
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");

	/* Wait{reset{reason = 1}}: a triple fault; the vcpu is stopped. */
	fh_vcpu_send(0, "12 05 c2 3e 02 08 01");
	memset(&ev, 0xa5, sizeof(ev));
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_RESET);
	assert_int_equal(ev.reset.reason, CROSVM_RESET_TRIPLE_FAULT);
	fh_vcpu_send(0, "c2 3e 00");
	assert_int_equal(crosvm_vcpu_reset(F.v[0]), 0);
	fh_vcpu_expect(0, "c2 3e 00");
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");
	fh_expect_none();
}

/* A 2-byte port read event on vcpu 0 with the given io details, answered with zeros. */
static void io_read_event(const char *wire, uint32_t element_size, uint32_t count)
{
	struct crosvm_vcpu_event ev;

	fh_vcpu_send(0, wire);
	memset(&ev, 0xa5, sizeof(ev));
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_IO_ACCESS);
	assert_int_equal(ev.io_access.length, 2);
	assert_int_equal(ev.io_access.element_size, element_size);
	assert_int_equal(ev.io_access.count, count);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 04 0a 02 00 00");
}

/*
 * IoDetails (main 1004) and Wait.Io.element_size (1000, tag c0 3e) and
 * count (1001, tag c8 3e): "rep insw" of one word and "rep insb" of two
 * bytes carry the same two data bytes but differ in the event.
 */
static void io_details(void **state)
{
	struct crosvm_vcpu_event ev;

	(void)state;
	fh_send("e2 3e 00");
	assert_int_equal(crosvm_enable_io_details(F.c), 0);
	fh_expect("e2 3e 02 08 01");
	fh_send(ENOTTY_REPLY);
	assert_int_equal(crosvm_enable_io_details(F.c), -ENOTTY);
	fh_expect("e2 3e 02 08 01");
	fh_send("08 20"); /* EBUSY (16) after Start */
	assert_int_equal(crosvm_enable_io_details(F.c), -EBUSY);
	fh_expect("e2 3e 02 08 01");
	assert_int_equal(crosvm_enable_io_details(NULL), -EINVAL);

	fh_vcpu_init(0);
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");
	/* rep insw, one element, at port 0x3f8. */
	io_read_event("12 0f 12 0d 10 f8 07 2a 02 00 00 c0 3e 02 c8 3e 01", 2, 1);
	/* rep insb, two elements. */
	io_read_event("12 0f 12 0d 10 f8 07 2a 02 00 00 c0 3e 01 c8 3e 02", 1, 2);
	/* Without the fields (any host that was not asked): both 0, whatever the memory held. */
	io_read_event("12 09 12 07 10 f8 07 2a 02 00 00", 0, 0);
	/* Details that do not describe the data (2 x 2 for 2 bytes): a protocol error. */
	fh_vcpu_send(0, "12 0f 12 0d 10 f8 07 2a 02 00 00 c0 3e 02 c8 3e 02");
	assert_int_equal(crosvm_vcpu_wait(F.v[0], &ev), -EPROTO);
	fh_expect_none();
}

/*
 * ReserveRangeMode (main 1005, tag ea 3e) {space, start, length, mode}: a new
 * request, so crosvm's host refuses it (ENOTTY) instead of ignoring a mode.
 */
static void range_mode(void **state)
{
	(void)state;
	fh_send("ea 3e 00");
	assert_int_equal(crosvm_reserve_range_mode(F.c, CROSVM_ADDRESS_SPACE_IOPORT, 0x310, 1,
						   CROSVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ),
			 0);
	fh_expect("ea 3e 07 10 90 06 18 01 20 02");
	/* MMIO, length 0 (remove), mode 0: only the set fields. */
	fh_send("ea 3e 00");
	assert_int_equal(crosvm_reserve_range_mode(F.c, CROSVM_ADDRESS_SPACE_MMIO, 0x1000, 0,
						   CROSVM_RANGE_MODE_SYNC),
			 0);
	fh_expect("ea 3e 05 08 01 10 80 20");
	fh_send(ENOTTY_REPLY);
	assert_int_equal(crosvm_reserve_range_mode(F.c, CROSVM_ADDRESS_SPACE_IOPORT, 0x310, 1, 1),
			 -ENOTTY);
	fh_expect("ea 3e 07 10 90 06 18 01 20 01");
	fh_send("08 2c"); /* EINVAL (22): the host's answer to an unknown mode */
	assert_int_equal(crosvm_reserve_range_mode(F.c, CROSVM_ADDRESS_SPACE_IOPORT, 0x310, 1, 9),
			 -EINVAL);
	fh_expect("ea 3e 07 10 90 06 18 01 20 09");
	assert_int_equal(crosvm_reserve_range_mode(NULL, 0, 0x310, 1, 0), -EINVAL);
	fh_expect_none();
}

/* MemoryReadOnly (main 1006, tag f2 3e) {id, read_only} of the first memory object (id 0). */
static void memory_read_only(void **state)
{
	struct crosvm_memory *m = NULL;
	int mfd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING), got;

	(void)state;
	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, 0x1000), 0);
	fh_send("12 00");
	assert_int_equal(crosvm_create_memory(F.c, mfd, 0, 0x1000, 0x10000, false, false, &m), 0);
	fh_expect_fds("0a 09 1a 07 10 80 80 04 18 80 20", &got, 1);
	close(got);
	fh_send("f2 3e 00");
	assert_int_equal(crosvm_memory_set_read_only(F.c, m, true), 0);
	fh_expect("f2 3e 02 10 01");
	/* read_only false: an empty member. */
	fh_send(ENOTTY_REPLY);
	assert_int_equal(crosvm_memory_set_read_only(F.c, m, false), -ENOTTY);
	fh_expect("f2 3e 00");
	assert_int_equal(crosvm_memory_set_read_only(F.c, NULL, true), -EINVAL);
	assert_int_equal(crosvm_memory_set_read_only(NULL, m, true), -EINVAL);
	fh_expect_none();
	/* MemoryReplace (1007, tag fa 3e) {id, offset, read_only} with the memfd. */
	fh_send("fa 3e 00");
	assert_int_equal(crosvm_memory_replace(F.c, m, mfd, 0x1000, true), 0);
	fh_expect_fds("fa 3e 05 10 80 20 18 01", &got, 1);
	close(got);
	fh_send("08 04"); /* ENOENT (2) from the host */
	assert_int_equal(crosvm_memory_replace(F.c, m, mfd, 0, false), -ENOENT);
	fh_expect_fds("fa 3e 00", &got, 1);
	close(got);
	/* Local checks: nothing is sent. */
	assert_int_equal(crosvm_memory_replace(F.c, m, mfd, 0x800, false), -EINVAL);
	assert_int_equal(crosvm_memory_replace(F.c, m, -1, 0, false), -EBADF);
	assert_int_equal(crosvm_memory_replace(F.c, NULL, mfd, 0, false), -EINVAL);
	fh_expect_none();
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_memory(F.c, &m), 0);
	fh_expect("12 00");
	close(mfd);
}

/* VcpuRequest.get_xsave = 1001 {}, set_xsave = 1002 {state = 1}, and their replies. */
#define REQ_GET_XSAVE "ca 3e 00"
/* A 4096-byte bytes field 1 in a member of 1 + 2 + 4096 = 4099 bytes (varint 83 20). */
#define XSAVE_4K_GET "ca 3e 83 20 0a 80 20"
#define XSAVE_4K_SET "d2 3e 83 20 0a 80 20"

static void xsave(void **state)
{
	static uint8_t area[4096], back[8192], msg[4200];
	uint32_t size = 7;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(area); i++)
		area[i] = (uint8_t)(i * 7 + 1);
	/* Argument checks send nothing. */
	assert_int_equal(crosvm_vcpu_get_xsave(F.v[0], back, sizeof(back), NULL), -EINVAL);
	assert_int_equal(crosvm_vcpu_get_xsave(NULL, back, sizeof(back), &size), -EINVAL);
	assert_int_equal(size, 0);
	assert_int_equal(crosvm_vcpu_get_xsave(F.v[0], NULL, 16, &size), -EINVAL);
	assert_int_equal(crosvm_vcpu_set_xsave(NULL, area, sizeof(area)), -EINVAL);
	assert_int_equal(crosvm_vcpu_set_xsave(F.v[0], NULL, sizeof(area)), -EINVAL);
	assert_int_equal(crosvm_vcpu_set_xsave(F.v[0], area, 0), -EINVAL);
	assert_int_equal(crosvm_vcpu_set_xsave(F.v[0], area, 0x40000), -E2BIG);
	fh_vcpu_expect_none(0);

	fh_vcpu_init(0);
	/* The whole area comes back, and its size. */
	n = fh_cat(msg, sizeof(msg), XSAVE_4K_GET, area, sizeof(area));
	fh_vcpu_send_bytes(0, msg, n);
	memset(back, 0, sizeof(back));
	assert_int_equal(crosvm_vcpu_get_xsave(F.v[0], back, sizeof(back), &size), 0);
	fh_vcpu_expect(0, REQ_GET_XSAVE);
	assert_int_equal(size, 4096);
	assert_memory_equal(back, area, sizeof(area));
	/* A size query: NULL and 0 give E2BIG with the size; a short buffer is left alone. */
	fh_vcpu_send_bytes(0, msg, n);
	assert_int_equal(crosvm_vcpu_get_xsave(F.v[0], NULL, 0, &size), -E2BIG);
	fh_vcpu_expect(0, REQ_GET_XSAVE);
	assert_int_equal(size, 4096);
	fh_vcpu_send_bytes(0, msg, n);
	memset(back, 0xee, sizeof(back));
	assert_int_equal(crosvm_vcpu_get_xsave(F.v[0], back, 4095, &size), -E2BIG);
	fh_vcpu_expect(0, REQ_GET_XSAVE);
	assert_int_equal(size, 4096);
	assert_int_equal(back[0], 0xee);
	/* An area smaller than struct kvm_xsave, or a reply of another kind, is EPROTO. */
	fh_vcpu_send(0, "ca 3e 04 0a 02 01 02");
	assert_int_equal(crosvm_vcpu_get_xsave(F.v[0], back, sizeof(back), &size), -EPROTO);
	fh_vcpu_expect(0, REQ_GET_XSAVE);
	assert_int_equal(size, 0);
	fh_vcpu_send(0, "d2 3e 00");
	assert_int_equal(crosvm_vcpu_get_xsave(F.v[0], back, sizeof(back), &size), -EPROTO);
	fh_vcpu_expect(0, REQ_GET_XSAVE);
	/* crosvm's host, or ours with --no-extensions: ENOTTY, errno only. */
	fh_vcpu_send(0, ENOTTY_REPLY);
	assert_int_equal(crosvm_vcpu_get_xsave(F.v[0], back, sizeof(back), &size), -ENOTTY);
	fh_vcpu_expect(0, REQ_GET_XSAVE);
	assert_int_equal(size, 0);

	/* A set sends the area as it is; the host's errno comes back. */
	n = fh_cat(msg, sizeof(msg), XSAVE_4K_SET, area, sizeof(area));
	fh_vcpu_send(0, "d2 3e 00");
	assert_int_equal(crosvm_vcpu_set_xsave(F.v[0], area, sizeof(area)), 0);
	fh_vcpu_expect_bytes(0, msg, n);
	fh_vcpu_send(0, "08 2c d2 3e 00"); /* EINVAL (22, zigzag 44) */
	assert_int_equal(crosvm_vcpu_set_xsave(F.v[0], area, sizeof(area)), -EINVAL);
	fh_vcpu_expect_bytes(0, msg, n);
	fh_vcpu_send(0, ENOTTY_REPLY);
	assert_int_equal(crosvm_vcpu_set_xsave(F.v[0], area, 16), -ENOTTY);
	fh_vcpu_expect(0, "d2 3e 12 0a 10 01 08 0f 16 1d 24 2b 32 39 40 47 4e 55 5c 63 6a");

	/* While the guest runs: refused, nothing sent. */
	assert_int_equal(crosvm_vcpu_resume(F.v[0]), 0);
	fh_vcpu_expect(0, "12 00");
	assert_int_equal(crosvm_vcpu_get_xsave(F.v[0], back, sizeof(back), &size), -EINVAL);
	assert_int_equal(crosvm_vcpu_set_xsave(F.v[0], area, sizeof(area)), -EINVAL);
	fh_vcpu_expect_none(0);
	fh_expect_none();
}

#define T(name) cmocka_unit_test_setup_teardown(name, fh_setup, fh_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(extensions),
		T(default_cpuid),
		T(edge_irq_event),
		T(kick),
		T(reset),
		T(io_details),
		T(range_mode),
		T(memory_read_only),
		T(xsave),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
