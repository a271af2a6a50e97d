// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Objects (io events, memory, irq events) and the id allocator of
 * libcrosvm_plugin against a scripted fake host.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crosvm.h"
#include "fake-host.h"
#include "wire.h"

static void same_file(int a, int b)
{
	struct stat sa, sb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	assert_int_equal(sa.st_ino, sb.st_ino);
	assert_int_equal(sa.st_dev, sb.st_dev);
}

static void io_event(void **state)
{
	int efd = eventfd(0, EFD_CLOEXEC), fd;
	struct crosvm_io *io = NULL;
	uint8_t dm = 0x88;
	uint64_t v = 2;

	(void)state;
	fh_send_fds("12 00", &efd, 1);
	assert_int_equal(
		crosvm_create_io_event(F.c, CROSVM_ADDRESS_SPACE_IOPORT, 0x3f8, 1, &dm, &io), 0);
	fh_expect("0a 0a 12 08 10 f8 07 18 01 20 88 01");
	assert_non_null(io);
	fd = crosvm_io_event_fd(io);
	assert_true(fd >= 0);
	assert_int_not_equal(fd, efd);
	/* The object owns the host's eventfd. */
	assert_int_equal(write(efd, &v, 8), 8);
	assert_int_equal(read(fd, &v, 8), 8);
	assert_int_equal(v, 2);
	close(efd);

	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_io_event(F.c, &io), 0);
	fh_expect("12 00");
	assert_null(io);
	/* Teardown's descriptor count proves the eventfd was closed. */
	assert_int_equal(crosvm_io_event_fd(NULL), -EINVAL);
}

static void io_event_datamatch(void **state)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	struct crosvm_io *a, *b;
	uint8_t raw[5] = { 0xff, 0x78, 0x56, 0x34, 0x12 };

	(void)state;
	/* Length 0: datamatch may be NULL and is not sent. */
	fh_send_fds("12 00", &efd, 1);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 0x3f8, 0, NULL, &a), 0);
	fh_expect("0a 05 12 03 10 f8 07");
	/* Length 4 from an unaligned pointer, little endian; the next id is 1. */
	fh_send_fds("12 00", &efd, 1);
	assert_int_equal(crosvm_create_io_event(F.c, CROSVM_ADDRESS_SPACE_MMIO, 0xd0000000, 4,
						&raw[1], &b),
			 0);
	fh_expect("0a 14 08 01 12 10 08 01 10 80 80 80 80 0d 18 04 20 f8 ac d1 91 01");
	close(efd);
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_io_event(F.c, &b), 0);
	fh_expect("12 02 08 01");
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_io_event(F.c, &a), 0);
	fh_expect("12 00");
}

static void io_event_errors(void **state)
{
	struct crosvm_io *io = (struct crosvm_io *)0x1;
	int efd = eventfd(0, EFD_CLOEXEC), fds[3];
	uint8_t dm[8] = { 0 };

	(void)state;
	/* Local checks send nothing and use no id. */
	assert_int_equal(crosvm_create_io_event(F.c, 0, 0x3f8, 3, dm, &io), -EINVAL);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 0x3f8, 16, dm, &io), -EINVAL);
	assert_int_equal(crosvm_create_io_event(F.c, 2, 0x3f8, 1, dm, &io), -EINVAL);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 0x3f8, 1, NULL, &io), -EINVAL);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 0x3f8, 1, dm, NULL), -EINVAL);
	assert_int_equal(crosvm_create_io_event(NULL, 0, 0x3f8, 1, dm, &io), -EINVAL);
	fh_expect_none();

	/* EEXIST = 17: the id is given back, so the next create uses id 0 again. */
	fh_send_fds("08 22 12 00", &efd, 1);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 0x3f8, 8, dm, &io), -EEXIST);
	fh_expect("0a 07 12 05 10 f8 07 18 08");
	assert_ptr_equal(io, (struct crosvm_io *)0x1);

	/* No descriptor: -EPROTO (the host holds id 0 now, so it is not reused). */
	fh_send("12 00");
	assert_int_equal(crosvm_create_io_event(F.c, 0, 0x3f8, 8, dm, &io), -EPROTO);
	fh_expect("0a 07 12 05 10 f8 07 18 08");

	/* Several descriptors: the last one is the eventfd, the others are closed. */
	fds[0] = eventfd(0, EFD_CLOEXEC);
	fds[1] = eventfd(0, EFD_CLOEXEC);
	fds[2] = efd;
	fh_send_fds("12 00", fds, 3);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 0x3f8, 8, dm, &io), 0);
	fh_expect("0a 09 08 01 12 05 10 f8 07 18 08");
	same_file(crosvm_io_event_fd(io), efd);
	close(fds[0]);
	close(fds[1]);
	close(efd);

	/* A failed destroy keeps the object and the pointer (ENOENT = 2). */
	fh_send("08 04 1a 00");
	assert_int_equal(crosvm_destroy_io_event(F.c, &io), -ENOENT);
	fh_expect("12 02 08 01");
	assert_non_null(io);
	assert_true(crosvm_io_event_fd(io) >= 0);
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_io_event(F.c, &io), 0);
	fh_expect("12 02 08 01");
	assert_null(io);
	assert_int_equal(crosvm_destroy_io_event(F.c, &io), -EINVAL);
	assert_int_equal(crosvm_destroy_io_event(F.c, NULL), -EINVAL);
	fh_expect_none();
}

static int sealed_memfd(size_t size)
{
	int fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	return fd;
}

static void memory(void **state)
{
	int mfd = sealed_memfd(0x4000), got;
	struct crosvm_memory *m = NULL;

	(void)state;
	fh_send("12 00");
	assert_int_equal(crosvm_create_memory(F.c, mfd, 0x1000, 0x2000, 0x10000, true, true, &m),
			 0);
	/* The memfd travels with the request; the caller keeps its own. */
	fh_expect_fds("0a 10 1a 0e 08 80 20 10 80 80 04 18 80 40 20 01 28 01", &got, 1);
	same_file(got, mfd);
	close(got);
	assert_true(fcntl(mfd, F_GETFD) >= 0);
	assert_non_null(m);

	/* Errors from the host (EPERM: no shrink seal) free the id again. */
	{
		struct crosvm_memory *m2 = (struct crosvm_memory *)0x1;

		fh_send("08 02 12 00");
		assert_int_equal(crosvm_create_memory(F.c, mfd, 0, 0x1000, 0, false, false, &m2),
				 -EPERM);
		fh_expect_fds("0a 07 08 01 1a 03 18 80 20", &got, 1);
		close(got);
		assert_ptr_equal(m2, (struct crosvm_memory *)0x1);
		/* Length 0 passes the local check; the host decides. */
		fh_send("08 2c 12 00");
		assert_int_equal(crosvm_create_memory(F.c, mfd, 0, 0, 0, false, false, &m2),
				 -EINVAL);
		fh_expect_fds("0a 04 08 01 1a 00", &got, 1);
		close(got);
	}

	/* Local checks: 4 KiB alignment, a descriptor; nothing is sent. */
	assert_int_equal(crosvm_create_memory(F.c, mfd, 0x800, 0x1000, 0, false, false, &m),
			 -EINVAL);
	assert_int_equal(crosvm_create_memory(F.c, mfd, 0, 0x1001, 0, false, false, &m), -EINVAL);
	assert_int_equal(crosvm_create_memory(F.c, -1, 0, 0x1000, 0, false, false, &m), -EBADF);
	assert_int_equal(crosvm_create_memory(F.c, mfd, 0, 0x1000, 0, false, false, NULL), -EINVAL);
	fh_expect_none();

	fh_send("08 04 1a 00");
	assert_int_equal(crosvm_destroy_memory(F.c, &m), -ENOENT);
	fh_expect("12 00");
	assert_non_null(m);
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_memory(F.c, &m), 0);
	fh_expect("12 00");
	assert_null(m);
	assert_int_equal(crosvm_destroy_memory(F.c, &m), -EINVAL);
	fh_expect_none();
	close(mfd);
}

static struct crosvm_memory *make_memory(uint64_t len, const char *golden)
{
	struct crosvm_memory *m;
	int mfd = sealed_memfd(0x1000), got;

	fh_send("12 00");
	assert_int_equal(crosvm_create_memory(F.c, mfd, 0, len, 0, false, true, &m), 0);
	fh_expect_fds(golden, &got, 1);
	close(got);
	close(mfd);
	return m;
}

static void dirty_log(void **state)
{
	struct crosvm_memory *m0, *m1, *m2, *m3;
	uint8_t log[4];

	(void)state;
	m0 = make_memory(0x1000, "0a 07 1a 05 18 80 20 28 01");
	m1 = make_memory(0x1000, "0a 09 08 01 1a 05 18 80 20 28 01");
	m2 = make_memory(0x1000, "0a 09 08 02 1a 05 18 80 20 28 01");
	/* 0x9000 bytes: 9 pages, 2 bitmap bytes (docs/protocol.md Appendix A). */
	m3 = make_memory(0x9000, "0a 0a 08 03 1a 06 18 80 a0 02 28 01");

	memset(log, 0xee, sizeof(log));
	fh_send("aa 06 04 0a 02 00 01");
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m3, log), 0);
	fh_expect("aa 06 02 08 03");
	assert_int_equal(log[0], 0x00);
	assert_int_equal(log[1], 0x01);
	assert_int_equal(log[2], 0xee);

	/* The bitmap must have exactly ceil(pages / 8) bytes. */
	memset(log, 0xee, sizeof(log));
	fh_send("aa 06 05 0a 03 00 01 00");
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m3, log), -EPROTO);
	fh_expect("aa 06 02 08 03");
	fh_send("aa 06 03 0a 01 ff");
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m3, log), -EPROTO);
	fh_expect("aa 06 02 08 03");
	fh_send("12 00");
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m3, log), -EPROTO);
	fh_expect("aa 06 02 08 03");
	fh_send("08 04 aa 06 00");
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m3, log), -ENOENT);
	fh_expect("aa 06 02 08 03");
	assert_int_equal(log[0], 0xee);

	/* One page: one byte; id 0 sends an empty MemoryDirtyLog. */
	fh_send("aa 06 03 0a 01 01");
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m0, log), 0);
	fh_expect("aa 06 00");
	assert_int_equal(log[0], 0x01);
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m0, NULL), -EINVAL);
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, NULL, log), -EINVAL);
	fh_expect_none();

	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_memory(F.c, &m3), 0);
	fh_expect("12 02 08 03");
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_memory(F.c, &m2), 0);
	fh_expect("12 02 08 02");
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_memory(F.c, &m1), 0);
	fh_expect("12 02 08 01");
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_memory(F.c, &m0), 0);
	fh_expect("12 00");
}

/*
 * A 16 GiB dirty-logged region has a 512 KiB bitmap: twice crosvm's
 * fixed 256 KiB receive buffer.
 */
static void dirty_log_large(void **state)
{
	const uint64_t len = 16ull << 30;
	const size_t bitmap = (size_t)(len / 4096 / 8);
	int sz = 4 << 20, mfd = sealed_memfd(0x1000), got;
	struct crosvm_memory *m;
	uint8_t *reply, *log;
	size_t n = 0;

	(void)state;
	if (setsockopt(F.sock, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0) {
		close(mfd);
		skip();
	}
	fh_send("12 00");
	assert_int_equal(crosvm_create_memory(F.c, mfd, 0, len, 0, false, true, &m), 0);
	fh_expect_fds("0a 0a 1a 08 18 80 80 80 80 40 28 01", &got, 1);
	close(got);
	close(mfd);

	reply = malloc(bitmap + 16);
	log = malloc(bitmap);
	assert_non_null(reply);
	assert_non_null(log);
	reply[n++] = 0xaa;
	reply[n++] = 0x06;
	n += wire_varint_encode(bitmap + 1 + 3, reply + n);
	reply[n++] = 0x0a;
	n += wire_varint_encode(bitmap, reply + n);
	for (size_t i = 0; i < bitmap; i++)
		reply[n + i] = (uint8_t)(i * 13);
	/*
	 * The library offers its memfd (shared = 1000, one fd); a host without
	 * the extension (crosvm's) ignores both and answers inline.
	 */
	fh_send_bytes_on(F.sock, reply, n + bitmap, NULL, 0);
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m, log), 0);
	fh_expect_fds("aa 06 03 c0 3e 01", &got, 1);
	close(got);
	assert_memory_equal(log, reply + n, bitmap);
	/* Having seen that, it asks inline from then on: no fd, crosvm's bytes. */
	memset(log, 0, bitmap);
	fh_send_bytes_on(F.sock, reply, n + bitmap, NULL, 0);
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m, log), 0);
	fh_expect("aa 06 00");
	assert_memory_equal(log, reply + n, bitmap);
	free(reply);
	free(log);

	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_memory(F.c, &m), 0);
	fh_expect("12 00");
}

/*
 * A 1 GiB region (a 32 KiB bitmap) with our host: the log arrives in the
 * library's memfd, sealed against shrinking, and the reply only says so.
 */
static void dirty_log_shared(void **state)
{
	const uint64_t len = 1ull << 30;
	const size_t bitmap = (size_t)(len / 4096 / 8);
	int mfd = sealed_memfd(0x1000), got, log_fd;
	struct crosvm_memory *m;
	uint8_t *log, *map;

	(void)state;
	fh_send("12 00");
	assert_int_equal(crosvm_create_memory(F.c, mfd, 0, len, 0, false, true, &m), 0);
	fh_expect_fds("0a 0a 1a 08 18 80 80 80 80 04 28 01", &got, 1);
	close(got);
	close(mfd);
	log = malloc(bitmap + 1);
	assert_non_null(log);

	/* The fake host cannot write before it has the fd: answer the first call with ENOENT. */
	fh_send("08 04 aa 06 00");
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m, log), -ENOENT);
	fh_expect_fds("aa 06 03 c0 3e 01", &log_fd, 1);
	assert_true(fcntl(log_fd, F_GET_SEALS) & F_SEAL_SHRINK);
	assert_true(lseek(log_fd, 0, SEEK_END) >= (off_t)bitmap);
	map = mmap(NULL, bitmap, PROT_READ | PROT_WRITE, MAP_SHARED, log_fd, 0);
	assert_true(map != MAP_FAILED);
	for (size_t i = 0; i < bitmap; i++)
		map[i] = (uint8_t)(i * 7 + 1);

	log[bitmap] = 0xee;
	fh_send("aa 06 03 c0 3e 01");
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m, log), 0);
	fh_expect_fds("aa 06 03 c0 3e 01", &got, 1);
	close(got);
	assert_memory_equal(log, map, bitmap);
	assert_int_equal(log[bitmap], 0xee);
	/* "shared" with a bitmap as well is no answer this library asked for. */
	fh_send("aa 06 06 0a 01 00 c0 3e 01");
	assert_int_equal(crosvm_memory_get_dirty_log(F.c, m, log), -EPROTO);
	fh_expect_fds("aa 06 03 c0 3e 01", &got, 1);
	close(got);
	munmap(map, bitmap);
	close(log_fd);
	free(log);

	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_memory(F.c, &m), 0);
	fh_expect("12 00");
}

static void irq_event(void **state)
{
	int fds[3] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	struct crosvm_irq *q = NULL, *q2 = (struct crosvm_irq *)0x1;

	(void)state;
	/* [trigger, resample] */
	fh_send_fds("12 00", fds, 2);
	assert_int_equal(crosvm_create_irq_event(F.c, 4, &q), 0);
	fh_expect("0a 06 22 04 08 04 10 01");
	same_file(crosvm_irq_event_get_fd(q), fds[0]);
	same_file(crosvm_irq_event_get_resample_fd(q), fds[1]);

	/* Three descriptors: the last two are used (docs/protocol.md §2.6); id 1 as in §4.6. */
	fh_send_fds("12 00", fds, 3);
	assert_int_equal(crosvm_create_irq_event(F.c, 4, &q2), 0);
	fh_expect("0a 08 08 01 22 04 08 04 10 01");
	same_file(crosvm_irq_event_get_fd(q2), fds[1]);
	same_file(crosvm_irq_event_get_resample_fd(q2), fds[2]);
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_irq_event(F.c, &q2), 0);
	fh_expect("12 02 08 01");
	assert_null(q2);

	/* One descriptor is not enough; it is closed (teardown counts). */
	q2 = (struct crosvm_irq *)0x1;
	fh_send_fds("12 00", fds, 1);
	assert_int_equal(crosvm_create_irq_event(F.c, 9, &q2), -EPROTO);
	fh_expect("0a 08 08 01 22 04 08 09 10 01");
	assert_ptr_equal(q2, (struct crosvm_irq *)0x1);
	fh_send_fds("08 2c 12 00", fds, 2);
	assert_int_equal(crosvm_create_irq_event(F.c, 9, &q2), -EINVAL);
	fh_expect("0a 08 08 02 22 04 08 09 10 01");
	assert_int_equal(crosvm_create_irq_event(F.c, 9, NULL), -EINVAL);
	assert_int_equal(crosvm_irq_event_get_fd(NULL), -EINVAL);
	assert_int_equal(crosvm_irq_event_get_resample_fd(NULL), -EINVAL);
	fh_expect_none();

	fh_send("08 04 1a 00");
	assert_int_equal(crosvm_destroy_irq_event(F.c, &q), -ENOENT);
	fh_expect("12 00");
	assert_non_null(q);
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_irq_event(F.c, &q), 0);
	fh_expect("12 00");
	assert_null(q);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

/* Only the most recently allocated id is reused, so a live id never is. */
static void ids(void **state)
{
	int efd = eventfd(0, EFD_CLOEXEC), pair[2];
	struct crosvm_io *a, *b, *c;
	uint8_t dm = 1;

	(void)state;
	pair[0] = pair[1] = efd;
	fh_send_fds("12 00", &efd, 1);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 1, 1, &dm, &a), 0);
	fh_expect("0a 08 12 06 10 01 18 01 20 01");
	fh_send_fds("12 00", &efd, 1);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 2, 1, &dm, &b), 0);
	fh_expect("0a 0a 08 01 12 06 10 02 18 01 20 01");
	/* Freeing the newest id (1) makes it available again. */
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_io_event(F.c, &b), 0);
	fh_expect("12 02 08 01");
	fh_send_fds("12 00", &efd, 1);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 3, 1, &dm, &b), 0);
	fh_expect("0a 0a 08 01 12 06 10 03 18 01 20 01");
	/* Freeing an older id (0) does not: the next id is 2. */
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_io_event(F.c, &a), 0);
	fh_expect("12 00");
	fh_send_fds("12 00", &efd, 1);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 4, 1, &dm, &c), 0);
	fh_expect("0a 0a 08 02 12 06 10 04 18 01 20 01");
	/* Objects of every type share the counter. */
	{
		struct crosvm_irq *q;

		fh_send_fds("12 00", pair, 2);
		assert_int_equal(crosvm_create_irq_event(F.c, 5, &q), 0);
		fh_expect("0a 08 08 03 22 04 08 05 10 01");
		fh_send("1a 00");
		assert_int_equal(crosvm_destroy_irq_event(F.c, &q), 0);
		fh_expect("12 02 08 03");
	}
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_io_event(F.c, &b), 0);
	fh_expect("12 02 08 01");
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_io_event(F.c, &c), 0);
	fh_expect("12 02 08 02");
	close(efd);
}

#define T(name) cmocka_unit_test_setup_teardown(name, fh_setup, fh_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(io_event),
		T(io_event_datamatch),
		T(io_event_errors),
		T(memory),
		T(dirty_log),
		T(dirty_log_large),
		T(dirty_log_shared),
		T(irq_event),
		T(ids),
	};

	signal(SIGPIPE, SIG_DFL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
