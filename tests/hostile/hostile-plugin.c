// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The hostile plugin: every scenario misbehaves towards the host in one way
 * and checks the host's exact reaction on the wire.  argv[1] names the
 * scenario; the runner (run-hostile.sh) checks the host's status, its one
 * error line, and that no process, thread or descriptor is left behind.
 * A scenario returns 0 when every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hostile.h"
#include "shm-chan.h"

#define PORT_DONE 0x3f9

/* Real-mode guests, loaded at 0x1000. */
static const uint8_t guest_done[] = { 0xba, 0xf9, 0x03, 0xee, 0xeb, 0xfe }; /* out 0x3f9; spin */
static const uint8_t guest_two_outs[] = { 0xba, 0xf9, 0x03, 0xee, 0xee, 0xeb, 0xfe };
static const uint8_t guest_spin[] = { 0xeb, 0xfe };
static const uint8_t guest_async_flood[] = { 0xba, 0x00, 0x05, 0xee, 0xeb, 0xfd };

/* Memory at 0x1000 with the guest, ports reserved, Start, vcpu 0 through Init. */
static int boot(const uint8_t *code, size_t len, bool init)
{
	int mem = h_guest_memfd(code, len, 0x1000);

	CHECK(h_create_memory(1000, mem, 0, 0x1000, 0x1000) == 0, "guest memory");
	CHECK(h_reserve(0, PORT_DONE, 1, false) == 0, "reserve done port");
	CHECK(h_start() == 0, "start");
	if (init)
		h_vinit(0, 0x1000);
	return mem;
}

static int result(void)
{
	return h_failures ? 1 : 0;
}

/* ------------------------------------------------------------------------
 * Main connection: bytes that are not a request.
 */

/* Undecodable bytes on a connection: that connection is closed; the others keep working. */
static int sc_main_undecodable(void)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	int c;

	h_connect();
	c = h_new_connection();
	h_send_raw(c, junk, sizeof(junk), NULL, 0);
	CHECK(h_conn_closed(c, 3000), "connection not closed after junk");
	close(c);
	CHECK(h_simple(h_sock, PLUGVM__MAIN_REQUEST__MESSAGE_GET_VCPUS,
		       PLUGVM__MAIN_RESPONSE__MESSAGE_GET_VCPUS, NULL) == 0,
	      "first connection still served");
	return result();
}

/* A request cut in the middle of a field: undecodable, the connection is closed. */
static int sc_main_truncated(void)
{
	/* ReserveRange IOPORT 0x3f8 len 1 is 52 05 10 f8 07 18 01; stop inside the varint. */
	static const uint8_t cut[] = { 0x52, 0x05, 0x10, 0xf8 };
	int c;

	h_connect();
	c = h_new_connection();
	h_send_raw(c, cut, sizeof(cut), NULL, 0);
	CHECK(h_conn_closed(c, 3000), "connection not closed after a truncated request");
	close(c);
	CHECK(h_reserve(0, 0x3f8, 1, false) == 0, "the range was not reserved by the cut request");
	return result();
}

/* An empty datagram reads as EOF: the host closes that connection, nothing else. */
static int sc_main_empty(void)
{
	int c;

	h_connect();
	c = h_new_connection();
	h_send_raw(c, "", 0, NULL, 0);
	CHECK(h_conn_closed(c, 3000), "connection not closed after an empty datagram");
	close(c);
	CHECK(h_new_connection() >= 0, "new connections still possible");
	return result();
}

/* Datagrams over 64 KiB: an E2BIG reply without member; the connection stays. */
static int sc_main_oversized(void)
{
	static uint8_t big[200 * 1024];
	struct h_reply r;

	h_connect();
	memset(big, 0x52, sizeof(big));
	for (size_t len = WIRE_MAIN_REQUEST_MAX + 1; len <= sizeof(big); len += 100000) {
		h_send_raw(h_sock, big, len, NULL, 0);
		CHECK(h_recv(h_sock, &r) == 1, "connection closed after %zu bytes", len);
		CHECK(r.resp->errnum == E2BIG &&
			      r.resp->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE__NOT_SET,
		      "%zu bytes: errnum %d, member %d", len, r.resp->errnum,
		      r.resp->message_case);
		h_reply_free(&r);
	}
	CHECK(h_reserve(0, 0x3f8, 1, false) == 0, "connection usable after E2BIG");
	return result();
}

/*
 * Messages of the wrong type on the main connection: a VcpuRequest Resume
 * (12 00) decodes as Destroy{id 0} and gets ENOENT; a MainResponse (08 2c
 * 9a 01 00) has a varint where Create is a message and does not decode
 * (connection closed); an unknown field alone gets ENOTTY without member.
 */
static int sc_main_wrong_type(void)
{
	static const uint8_t resume[] = { 0x12, 0x00 };
	static const uint8_t response[] = { 0x08, 0x2c, 0x9a, 0x01, 0x00 };
	static const uint8_t unknown[] = { 0xf8, 0x07, 0x01 };
	struct h_reply r;
	int c;

	h_connect();
	h_send_raw(h_sock, resume, sizeof(resume), NULL, 0);
	CHECK(h_recv(h_sock, &r) == 1 && r.resp->errnum == ENOENT &&
		      r.resp->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE_DESTROY,
	      "vcpu Resume on main: errnum %d", r.resp ? r.resp->errnum : -1);
	h_reply_free(&r);
	h_send_raw(h_sock, unknown, sizeof(unknown), NULL, 0);
	CHECK(h_recv(h_sock, &r) == 1 && r.resp->errnum == ENOTTY &&
		      r.resp->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE__NOT_SET,
	      "unknown request: errnum %d", r.resp ? r.resp->errnum : -1);
	h_reply_free(&r);
	c = h_new_connection();
	h_send_raw(c, response, sizeof(response), NULL, 0);
	CHECK(h_conn_closed(c, 3000), "a response sent as request was answered");
	close(c);
	return result();
}

/* ------------------------------------------------------------------------
 * Descriptors.
 */

/* True once every copy of the pipe's write end, the host's included, is closed. */
static bool pipe_orphaned(int rd)
{
	char b;

	return h_wait_readable(rd, 3000) && read(rd, &b, 1) == 0;
}

/* Two fds with Create{memory}: treated as none (EBADF), and the host keeps neither. */
static int sc_fds_too_many(void)
{
	int p[2], fds[2];

	h_connect();
	if (pipe(p) < 0)
		h_die("pipe");
	fds[0] = h_guest_memfd(NULL, 0, 0x1000);
	fds[1] = p[1];
	CHECK(h_create_memory_fds(1, fds, 2, 0, 0x1000, 0x1000, false) == EBADF,
	      "two fds not refused with EBADF");
	close(p[1]);
	CHECK(pipe_orphaned(p[0]), "the host kept the extra descriptor");
	close(fds[0]);
	return result();
}

/* An fd sent with a request that takes none is closed by the host. */
static int sc_fds_unused(void)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__GetVcpus empty = PLUGVM__MAIN_REQUEST__GET_VCPUS__INIT;
	struct h_reply r;
	int p[2];

	h_connect();
	if (pipe(p) < 0)
		h_die("pipe");
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_VCPUS;
	req.get_vcpus = &empty;
	h_call_on(h_sock, &req, &p[1], 1, &r);
	CHECK(r.resp->errnum == 0 && r.nfds == 2 * h_nvcpus, "GetVcpus with a stray fd");
	h_reply_free(&r);
	close(p[1]);
	CHECK(pipe_orphaned(p[0]), "the host kept an unused descriptor");
	return result();
}

/* The kernel's maximum of 253 fds in one request: none kept, all closed, still answered. */
static int sc_fds_253(void)
{
	int p[2], fds[WIRE_MAX_FDS];

	h_connect();
	if (pipe(p) < 0)
		h_die("pipe");
	for (size_t i = 0; i < WIRE_MAX_FDS; i++)
		fds[i] = p[1];
	CHECK(h_create_memory_fds(1, fds, WIRE_MAX_FDS, 0, 0x1000, 0x1000, false) == EBADF,
	      "253 fds not refused with EBADF");
	close(p[1]);
	CHECK(pipe_orphaned(p[0]), "the host kept one of 253 descriptors");
	return result();
}

/* No fd, or a pipe, a regular file or a socket where a memfd is expected. */
static int sc_memory_wrong_fd(void)
{
	int p[2], sv[2], file;

	h_connect();
	if (pipe(p) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		h_die("pipe");
	/* Our own executable: a regular file on a disk file system, which has no seals. */
	file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (file < 0)
		h_die("open: %m");
	CHECK(h_create_memory(1, -1, 0, 0x1000, 0x1000) == EBADF, "no fd at all");
	CHECK(h_create_memory(1, p[0], 0, 0x1000, 0x1000) == ESPIPE, "pipe as memory");
	CHECK(h_create_memory(2, file, 0, 0x1000, 0x1000) == EINVAL, "regular file as memory");
	CHECK(h_create_memory(3, sv[0], 0, 0x1000, 0x1000) == ESPIPE, "socket as memory");
	return result();
}

/* A memfd without F_SEAL_SHRINK could be truncated under the host's mapping: EPERM. */
static int sc_memory_unsealed(void)
{
	int fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	h_connect();
	if (fd < 0 || ftruncate(fd, 0x10000) < 0)
		h_die("memfd");
	CHECK(h_create_memory(1, fd, 0, 0x1000, 0x1000) == EPERM, "unsealed memfd");
	/* Sealing afterwards makes the same fd acceptable. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		h_die("seal");
	CHECK(h_create_memory(1, fd, 0, 0x1000, 0x1000) == 0, "sealed memfd");
	return result();
}

/* Ranges outside the memfd and zero length: EINVAL; nothing is mapped. */
static int sc_memory_too_small(void)
{
	int fd;

	h_connect();
	fd = h_guest_memfd(NULL, 0, 0x2000);
	CHECK(h_create_memory(1, fd, 0, 0x1000, 0x3000) == EINVAL, "longer than the memfd");
	CHECK(h_create_memory(1, fd, 0x2000, 0x1000, 0x1000) == EINVAL, "offset at the end");
	CHECK(h_create_memory(1, fd, 0, 0x1000, 0) == EINVAL, "zero length");
	CHECK(h_create_memory(1, fd, 0x800, 0x1000, 0x1000) == EINVAL, "unaligned offset");
	CHECK(h_create_memory(1, fd, 0, 0x1000, 0x2000) == 0, "exact size");
	return result();
}

/*
 * A sparse 1 TiB memfd: more than the 256 GiB budget in one object or in
 * total is ENOSPC; the budget comes back with Destroy.
 */
static int sc_memory_huge(void)
{
	int fd = memfd_create("huge", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	const uint64_t gib = 1ull << 30;

	h_connect();
	if (fd < 0 || ftruncate(fd, (off_t)(1ull << 40)) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		h_die("memfd");
	CHECK(h_create_memory(1, fd, 0, 1ull << 40, 1ull << 40) == ENOSPC, "1 TiB at once");
	/* Guest addresses stay below 2^39, inside any host's physical address width. */
	CHECK(h_create_memory(1, fd, 0, 4 * gib, 200 * gib) == 0, "200 GiB");
	CHECK(h_create_memory(2, fd, 200 * gib, 256 * gib, 56 * gib) == 0, "56 GiB more");
	CHECK(h_create_memory(3, fd, 0, 320 * gib, 0x1000) == ENOSPC, "one page past 256 GiB");
	CHECK(h_destroy(2) == 0, "destroy 56 GiB");
	CHECK(h_create_memory(3, fd, 0, 320 * gib, 56 * gib) == 0, "budget back after destroy");
	return result();
}

/*
 * Dirty logs the client cannot receive: a 64 GiB dirty-logged object gets
 * E2BIG (before the log is read, so nothing is lost); 4 GiB (128 KiB of
 * bitmap) works; the connection survives both.
 */
static int dirty_memfd(size_t size, int seals);
static int dirty_shared(uint32_t id, int fd, bool check_ok);

static int sc_memory_dirty_huge(void)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__MemoryDirtyLog dl = PLUGVM__MAIN_REQUEST__MEMORY_DIRTY_LOG__INIT;
	int fd = memfd_create("huge", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	const uint64_t gib = 1ull << 30;
	struct h_reply r;

	h_connect();
	if (fd < 0 || ftruncate(fd, (off_t)(64 * gib)) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		h_die("memfd");
	CHECK(h_create_memory_fds(1, &fd, 1, 0, 4 * gib, 64 * gib, true) == 0, "64 GiB logged");
	CHECK(h_create_memory_fds(2, &fd, 1, 0, 128 * gib, 4 * gib, true) == 0, "4 GiB logged");
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DIRTY_LOG;
	req.dirty_log = &dl;
	dl.id = 1;
	h_call_on(h_sock, &req, NULL, 0, &r);
	CHECK(r.resp->errnum == E2BIG, "64 GiB dirty log: errnum %d", r.resp->errnum);
	h_reply_free(&r);
	dl.id = 2;
	h_call_on(h_sock, &req, NULL, 0, &r);
	CHECK(r.resp->errnum == 0 && r.resp->dirty_log && r.resp->dirty_log->bitmap.len == 131072,
	      "4 GiB dirty log: errnum %d", r.resp->errnum);
	h_reply_free(&r);
	/* In a shared memfd (plugvm extension) the 64 GiB log works: 2 MiB of bitmap. */
	CHECK(dirty_shared(1, dirty_memfd(2u << 20, F_SEAL_SHRINK), true) == 0,
	      "64 GiB dirty log in a memfd");
	return result();
}

/* A memfd of @size bytes with @seals, for a shared dirty log. */
static int dirty_memfd(size_t size, int seals)
{
	int fd = memfd_create("log", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || (seals && fcntl(fd, F_ADD_SEALS, seals) < 0))
		h_die("memfd");
	return fd;
}

/*
 * A MemoryDirtyLog{id, shared} with @fd (none if < 0, closed here); returns
 * the errno, and with @check_ok the success reply's shape.
 */
static int dirty_shared(uint32_t id, int fd, bool check_ok)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__MemoryDirtyLog dl = PLUGVM__MAIN_REQUEST__MEMORY_DIRTY_LOG__INIT;
	struct h_reply r;
	int e;

	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DIRTY_LOG;
	req.dirty_log = &dl;
	dl.id = id;
	dl.shared = true;
	h_call_on(h_sock, &req, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, &r);
	e = r.resp->errnum;
	if (check_ok && e == 0)
		CHECK(r.resp->dirty_log && r.resp->dirty_log->shared &&
			      r.resp->dirty_log->bitmap.len == 0 && r.nfds == 0,
		      "shared dirty log reply: member %p, bitmap %zu bytes, %zu fds",
		      (void *)r.resp->dirty_log, r.resp->dirty_log ? r.resp->dirty_log->bitmap.len : 0,
		      r.nfds);
	h_reply_free(&r);
	if (fd >= 0)
		close(fd);
	return e;
}

/*
 * The shared dirty log's fd checked before use: none (EBADF), not sealed
 * against shrinking (EPERM), too small for KVM's whole words (EINVAL), not
 * a memfd (EINVAL), sealed against writing (EPERM from mmap), an unknown
 * object (ENOENT).  Every fd is closed by the host; then the good cases work.
 */
static int sc_dirty_shared_bad(void)
{
	int fd, p[2];

	h_connect();
	fd = h_guest_memfd(NULL, 0, 0x100000);
	CHECK(h_create_memory_fds(1, &fd, 1, 0, 0x100000, 0x100000, true) == 0, "1 MiB logged");
	CHECK(h_create_memory_fds(2, &fd, 1, 0, 0x200000, 0x100000, false) == 0, "1 MiB not logged");
	close(fd);
	/* 256 pages: 4 words, 32 bytes. */
	CHECK(dirty_shared(1, -1, false) == EBADF, "no fd");
	CHECK(dirty_shared(1, dirty_memfd(32, 0), false) == EPERM, "unsealed memfd");
	CHECK(dirty_shared(1, dirty_memfd(31, F_SEAL_SHRINK), false) == EINVAL, "31-byte memfd");
	if (pipe2(p, O_CLOEXEC) < 0)
		h_die("pipe2");
	close(p[1]);
	CHECK(dirty_shared(1, p[0], false) == EINVAL, "a pipe");
	CHECK(dirty_shared(1, dirty_memfd(32, F_SEAL_SHRINK | F_SEAL_WRITE), false) == EPERM,
	      "write-sealed memfd");
	CHECK(dirty_shared(3, dirty_memfd(32, F_SEAL_SHRINK), false) == ENOENT, "unknown object");
	CHECK(dirty_shared(2, dirty_memfd(32, F_SEAL_SHRINK), false) == ENOENT,
	      "object without dirty logging");
	CHECK(dirty_shared(1, dirty_memfd(32, F_SEAL_SHRINK), true) == 0, "32-byte memfd");
	CHECK(dirty_shared(1, dirty_memfd(4096, F_SEAL_SHRINK | F_SEAL_GROW), true) == 0,
	      "larger memfd");
	return result();
}

/* offset + length and start + length past 2^64: EOVERFLOW, before anything is mapped. */
static int sc_memory_overflow(void)
{
	int fd;

	h_connect();
	fd = h_guest_memfd(NULL, 0, 0x2000);
	CHECK(h_create_memory(1, fd, 0xfffffffffffff000ull, 0x1000, 0x2000) == EOVERFLOW,
	      "offset + length");
	CHECK(h_create_memory(1, fd, 0, 0xfffffffffffff000ull, 0x2000) == EOVERFLOW,
	      "start + length");
	return result();
}

/* Overlapping guest ranges: the kernel's EEXIST; unaligned guest address: EINVAL. */
static int sc_memory_overlap(void)
{
	int fd;

	h_connect();
	fd = h_guest_memfd(NULL, 0, 0x4000);
	CHECK(h_create_memory(1, fd, 0, 0x10000, 0x4000) == 0, "first");
	CHECK(h_create_memory(2, fd, 0, 0x12000, 0x2000) == EEXIST, "inside");
	CHECK(h_create_memory(2, fd, 0, 0xf000, 0x2000) == EEXIST, "straddling the start");
	CHECK(h_create_memory(2, fd, 0, 0x10800, 0x1000) == EINVAL, "unaligned start");
	CHECK(h_create_memory(2, fd, 0, 0x14000, 0x4000) == 0, "adjacent");
	return result();
}

/* 512 memory objects fill every slot; the 513th is ENOSPC; a freed slot is reused. */
static int sc_memory_slots(void)
{
	int fd;
	uint32_t i;

	h_connect();
	fd = h_guest_memfd(NULL, 0, 0x1000);
	for (i = 0; i < 512; i++)
		if (h_create_memory(i, fd, 0, (uint64_t)i << 12, 0x1000) != 0)
			break;
	CHECK(i == 512, "only %u slots", i);
	CHECK(h_create_memory(600, fd, 0, 600ull << 12, 0x1000) == ENOSPC, "slot 513");
	CHECK(h_destroy(7) == 0, "destroy one");
	CHECK(h_create_memory(600, fd, 0, 600ull << 12, 0x1000) == 0, "slot reused");
	return result();
}

/* ------------------------------------------------------------------------
 * Object and connection counts.
 */

/*
 * 4096 objects (irq events, two fds each in the reply) fill the table: the
 * next Create is ENOSPC, an id in use still EEXIST first; all destroy.
 */
static int sc_objects_thousands(void)
{
	uint32_t i;

	h_connect();
	for (i = 0; i < 4096; i++)
		if (h_create_irq_event(i, i % 24) != 0)
			break;
	CHECK(i == 4096, "only %u objects", i);
	CHECK(h_create_irq_event(5000, 1) == ENOSPC, "object 4097");
	CHECK(h_create_irq_event(5, 1) == EEXIST, "EEXIST before ENOSPC");
	for (i = 0; i < 4096; i++)
		if (h_destroy(i) != 0)
			break;
	CHECK(i == 4096, "destroyed only %u", i);
	CHECK(h_create_io_event(1, 0x3f8) == 0, "room again");
	return result();
}

/*
 * Connections up to the cap of 256, then EMFILE for thousands of attempts;
 * closing some makes room again.
 */
static int sc_connections_thousands(void)
{
	static int conns[300];
	size_t n = 0;
	int refused = 0;

	h_connect();
	for (int i = 0; i < 3000; i++) {
		int c = h_new_connection();

		if (c >= 0 && n < 300)
			conns[n++] = c;
		else if (c == -EMFILE)
			refused++;
		else
			CHECK(0, "NewConnection: %d", c);
	}
	CHECK(n == 255, "%zu connections besides the first", n);
	CHECK(refused == 3000 - 255, "%d refused", refused);
	for (int i = 0; i < 10; i++)
		close(conns[--n]);
	/* The host notices the closes when it next polls them. */
	usleep(100000);
	CHECK(h_simple(conns[0], PLUGVM__MAIN_REQUEST__MESSAGE_GET_VCPUS,
		       PLUGVM__MAIN_RESPONSE__MESSAGE_GET_VCPUS, NULL) == 0,
	      "an old connection works");
	for (int i = 0; i < 10; i++) {
		int c = h_new_connection();

		CHECK(c >= 0, "room again: %d", c);
		if (c >= 0)
			conns[n++] = c;
	}
	return result();
}

/* Destroy and dirty log of ids that do not exist, or not as memory: ENOENT. */
static int sc_destroy_unknown(void)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__MemoryDirtyLog dl = PLUGVM__MAIN_REQUEST__MEMORY_DIRTY_LOG__INIT;
	static const uint32_t ids[] = { 0, 1, 12345, 0x7fffffff, 0xffffffff };

	h_connect();
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		CHECK(h_destroy(ids[i]) == ENOENT, "destroy %u", ids[i]);
	CHECK(h_create_io_event(9, 0x3f8) == 0, "io event");
	CHECK(h_destroy(9) == 0 && h_destroy(9) == ENOENT, "destroy twice");
	CHECK(h_create_irq_event(10, 3) == 0, "irq event");
	dl.id = 10;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DIRTY_LOG;
	req.dirty_log = &dl;
	CHECK(h_errno_on(h_sock, &req, NULL, 0, PLUGVM__MAIN_RESPONSE__MESSAGE_DIRTY_LOG) == ENOENT,
	      "dirty log of an irq event");
	dl.id = 0xffffffff;
	CHECK(h_errno_on(h_sock, &req, NULL, 0, PLUGVM__MAIN_RESPONSE__MESSAGE_DIRTY_LOG) == ENOENT,
	      "dirty log of nothing");
	return result();
}

/* Too many routes, hint details, MSRs and cpuid entries: EINVAL / E2BIG with the member. */
static int sc_counts_too_many(void)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__SetIrqRouting rt = PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__INIT;
	Plugvm__MainRequest__SetCallHint sch = PLUGVM__MAIN_REQUEST__SET_CALL_HINT__INIT;
	Plugvm__VcpuRequest vreq = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__GetMsrs gm = PLUGVM__VCPU_REQUEST__GET_MSRS__INIT;
	Plugvm__VcpuRequest__SetMsrs sm = PLUGVM__VCPU_REQUEST__SET_MSRS__INIT;
	Plugvm__VcpuRequest__SetCpuid sc = PLUGVM__VCPU_REQUEST__SET_CPUID__INIT;
	static Plugvm__MainRequest__SetIrqRouting__Route route, *routes[4097];
	static Plugvm__MainRequest__SetIrqRouting__Route__Irqchip chip;
	static Plugvm__MainRequest__SetCallHint__RegHint hint, *hints[257];
	static Plugvm__VcpuRequest__MsrEntry msr, *msrs[257];
	static Plugvm__CpuidEntry cpuid, *cpuids[257];
	static uint32_t idx[257];
	int mem;

	h_connect();
	plugvm__main_request__set_irq_routing__route__init(&route);
	plugvm__main_request__set_irq_routing__route__irqchip__init(&chip);
	route.route_case = PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__ROUTE__ROUTE_IRQCHIP;
	route.irqchip = &chip;
	for (int i = 0; i < 4097; i++)
		routes[i] = &route;
	rt.routes = routes;
	rt.n_routes = 4097;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_IRQ_ROUTING;
	req.set_irq_routing = &rt;
	CHECK(h_errno_on(h_sock, &req, NULL, 0, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_IRQ_ROUTING) ==
		      EINVAL,
	      "4097 routes");
	plugvm__main_request__set_call_hint__reg_hint__init(&hint);
	for (int i = 0; i < 257; i++)
		hints[i] = &hint;
	sch.space = PLUGVM__ADDRESS_SPACE__IOPORT;
	sch.address = 0x500;
	sch.hints = hints;
	sch.n_hints = 257;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_CALL_HINT;
	req.set_call_hint = &sch;
	CHECK(h_errno_on(h_sock, &req, NULL, 0, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_CALL_HINT) ==
		      EINVAL,
	      "257 hint details");
	mem = boot(guest_done, sizeof(guest_done), true);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "guest reached the done port");
	plugvm__vcpu_request__msr_entry__init(&msr);
	plugvm__cpuid_entry__init(&cpuid);
	for (int i = 0; i < 257; i++) {
		msrs[i] = &msr;
		cpuids[i] = &cpuid;
		idx[i] = 0x10;
	}
	gm.entry_indices = idx;
	gm.n_entry_indices = 257;
	vreq.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS;
	vreq.get_msrs = &gm;
	h_vsend(0, &vreq);
	CHECK(h_vexpect(0, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS) == E2BIG, "257 MSRs read");
	sm.entries = msrs;
	sm.n_entries = 257;
	vreq.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_MSRS;
	vreq.set_msrs = &sm;
	h_vsend(0, &vreq);
	CHECK(h_vexpect(0, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_MSRS) == E2BIG, "257 MSRs written");
	sc.entries = cpuids;
	sc.n_entries = 257;
	vreq.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_CPUID;
	vreq.set_cpuid = &sc;
	h_vsend(0, &vreq);
	CHECK(h_vexpect(0, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_CPUID) == E2BIG, "257 cpuid entries");
	close(mem);
	return result();
}

/* ------------------------------------------------------------------------
 * Lifecycle misuse.
 */

/* Start twice (also from another connection): EINVAL; the VM runs normally. */
static int sc_start_twice(void)
{
	int c, mem;

	h_connect();
	c = h_new_connection();
	mem = boot(guest_done, sizeof(guest_done), false);
	CHECK(h_start() == EINVAL, "second Start");
	CHECK(h_simple(c, PLUGVM__MAIN_REQUEST__MESSAGE_START, PLUGVM__MAIN_RESPONSE__MESSAGE_START,
		       NULL) == EINVAL,
	      "Start on another connection");
	h_vinit(0, 0x1000);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "guest ran");
	close(mem);
	return result();
}

/*
 * Pause masks naming vcpus that do not exist (bits 1..63 with one vcpu):
 * no event, the guest keeps running; ~0 pauses vcpu 0 exactly once.
 */
static int sc_pause_mask(void)
{
	Plugvm__VcpuResponse *resp;
	int mem;

	h_connect();
	mem = boot(guest_two_outs, sizeof(guest_two_outs), true);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "first out");
	h_pause(~1ull, 7);
	h_vresume(0, NULL, 0, NULL, 0, NULL, 0);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "second out, not a pause");
	h_vresume(0, NULL, 0, NULL, 0, NULL, 0);
	usleep(20000);
	h_pause(~0ull, 9);
	resp = h_vrecv(0, 5000);
	CHECK(resp && resp->message_case == PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT &&
		      resp->wait->exit_case == PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER &&
		      resp->wait->user->user == 9,
	      "pause of vcpu 0");
	h_vfree(resp);
	h_vresume(0, NULL, 0, NULL, 0, NULL, 0);
	CHECK(!h_wait_readable(h_vcpu_r[0], 300), "a second pause event appeared");
	close(mem);
	return result();
}

/* Resume and SetState before the Init Wait: EPROTO replies, then Init works. */
static int sc_resume_without_wait(void)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__GetState gs = PLUGVM__VCPU_REQUEST__GET_STATE__INIT;
	int mem;

	h_connect();
	mem = boot(guest_done, sizeof(guest_done), false);
	h_vresume(0, NULL, 0, NULL, 0, NULL, 0);
	CHECK(h_vexpect(0, -1) == EPROTO, "Resume before Wait");
	h_vresume(0, NULL, 0, NULL, 0, NULL, 0);
	CHECK(h_vexpect(0, -1) == EPROTO, "second Resume before Wait");
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE;
	req.get_state = &gs;
	h_vsend(0, &req);
	CHECK(h_vexpect(0, -1) == EPROTO, "GetState before Wait");
	h_vinit(0, 0x1000);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "guest ran after all");
	close(mem);
	return result();
}

/* Wait after Init, and Wait while stopped on an event: EPROTO, the vcpu stays stopped. */
static int sc_wait_twice(void)
{
	int mem;

	h_connect();
	mem = boot(guest_spin, sizeof(guest_spin), false);
	h_vinit_wait(0);
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	CHECK(h_vexpect(0, -1) == EPROTO, "Wait during Init");
	h_vinit_finish(0, 0x1000);
	usleep(20000);
	h_pause(1, 1);
	h_vfree(h_vrecv(0, 5000));
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	CHECK(h_vexpect(0, -1) == EPROTO, "Wait while paused");
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	CHECK(h_vexpect(0, -1) == EPROTO, "and again");
	close(mem);
	return result();
}

/*
 * State images of the wrong size: EINVAL for every set (vcpu and VM); a
 * Resume with short regs during an I/O stop is dropped with a warning and
 * the guest continues.
 */
static int sc_state_sizes(void)
{
	static const size_t vsizes[] = { 144, 312, 416, 128, 1024, 4, 392, 64 };
	static const size_t msizes[] = { 16, 16, 216, 112, 48 };
	static uint8_t buf[2048];
	Plugvm__VcpuRequest vreq = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__SetState vss = PLUGVM__VCPU_REQUEST__SET_STATE__INIT;
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__SetState ss = PLUGVM__MAIN_REQUEST__SET_STATE__INIT;
	int mem;

	h_connect();
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_STATE;
	req.set_state = &ss;
	ss.state.data = buf;
	for (int s = 0; s < 5; s++) {
		const size_t lens[] = { 0, msizes[s] - 1, msizes[s] + 1, sizeof(buf) };

		ss.set = (Plugvm__MainRequest__StateSet)s;
		for (int k = 0; k < 4; k++) {
			ss.state.len = lens[k];
			CHECK(h_errno_on(h_sock, &req, NULL, 0,
					 PLUGVM__MAIN_RESPONSE__MESSAGE_SET_STATE) == EINVAL,
			      "VM state %d with %zu bytes", s, lens[k]);
		}
	}
	ss.set = (Plugvm__MainRequest__StateSet)77;
	ss.state.len = 16;
	CHECK(h_errno_on(h_sock, &req, NULL, 0, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_STATE) == EINVAL,
	      "unknown VM state");
	mem = boot(guest_two_outs, sizeof(guest_two_outs), true);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "first out");
	vreq.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE;
	vreq.set_state = &vss;
	vss.state.data = buf;
	for (int s = 0; s < 8; s++) {
		const size_t lens[] = { 0, vsizes[s] - 1, vsizes[s] + 1 };

		vss.set = (Plugvm__VcpuRequest__StateSet)s;
		for (int k = 0; k < 3; k++) {
			vss.state.len = lens[k];
			h_vsend(0, &vreq);
			CHECK(h_vexpect(0, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE) == EINVAL,
			      "vcpu state %d with %zu bytes", s, lens[k]);
		}
	}
	vss.set = (Plugvm__VcpuRequest__StateSet)8;
	vss.state.len = 4;
	h_vsend(0, &vreq);
	CHECK(h_vexpect(0, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE) == EINVAL, "unknown set");
	/* Registers of 143 bytes in a Resume: refused, but the guest goes on to its second out. */
	h_vresume(0, NULL, 0, buf, 143, NULL, 0);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "second out after a bad Resume");
	close(mem);
	return result();
}

/*
 * API 0.23 XSAVE: a SetXsave of every wrong size (none, short, long, up to
 * near the vcpu request limit) and a full-size area the kernel refuses (all
 * ones: XSTATE_BV, XCOMP_BV and MXCSR invalid) are each EINVAL with the
 * member; GetXsave still answers, and the guest goes on to its second out.
 */
static int sc_xsave_sizes(void)
{
	static uint8_t buf[200000];
	static const size_t lens[] = { 0, 1, 4095, 4097, 8191, 65536, sizeof(buf) };
	Plugvm__VcpuRequest vreq = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__SetXsave sx = PLUGVM__VCPU_REQUEST__SET_XSAVE__INIT;
	int mem;

	h_connect();
	mem = boot(guest_two_outs, sizeof(guest_two_outs), true);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "first out");
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE);
	CHECK(h_vexpect(0, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_XSAVE) == 0, "GetXsave");
	vreq.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_XSAVE;
	vreq.set_xsave = &sx;
	sx.state.data = buf;
	memset(buf, 0xff, sizeof(buf));
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		sx.state.len = lens[k];
		h_vsend(0, &vreq);
		CHECK(h_vexpect(0, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE) == EINVAL,
		      "SetXsave of %zu bytes", lens[k]);
	}
	sx.state.len = 4096;
	h_vsend(0, &vreq);
	CHECK(h_vexpect(0, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE) == EINVAL,
	      "an area of all ones accepted");
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE);
	CHECK(h_vexpect(0, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_XSAVE) == 0, "GetXsave after");
	h_vresume(0, NULL, 0, NULL, 0, NULL, 0);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "second out after the refused areas");
	close(mem);
	return result();
}

/* Registers of the wrong size in the Init Resume: the host stops the VM with one error line. */
static int sc_init_bad_regs(void)
{
	static uint8_t regs[100];
	int mem, kill_fd;

	h_connect();
	kill_fd = h_kill_eventfd();
	mem = boot(guest_done, sizeof(guest_done), false);
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	h_vfree(h_vrecv(0, 5000));
	h_vresume(0, NULL, 0, regs, sizeof(regs), NULL, 0);
	CHECK(h_wait_readable(kill_fd, 5000), "the host did not stop the VM");
	close(mem);
	return result();
}

/* ------------------------------------------------------------------------
 * The vcpu channel.
 */

/*
 * Junk and truncated requests on the vcpu pipe, which has no framing to
 * resynchronise on: a protocol violation that ends the VM (the host exits 1
 * naming the vcpu and the byte count; the plugin sees its kill eventfd).
 * vcpu-undecodable sends junk during Init, vcpu-undecodable-stopped while the
 * vcpu is stopped on an event, vcpu-truncated a request cut in a field.
 */
static int vcpu_violation(int when)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff };
	static const uint8_t cut[] = { 0x1a, 0x05, 0x08 };
	int mem, kill_fd;

	h_connect();
	kill_fd = h_kill_eventfd();
	mem = boot(guest_two_outs, sizeof(guest_two_outs), false);
	if (when == 0) {
		h_vsend_raw(0, junk, sizeof(junk));
	} else {
		h_vinit(0, 0x1000);
		CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "first out");
		if (when == 1)
			h_vsend_raw(0, junk, sizeof(junk));
		else
			h_vsend_raw(0, cut, sizeof(cut));
	}
	CHECK(h_wait_readable(kill_fd, 5000), "the host did not stop the VM");
	close(mem);
	return result();
}

static int sc_vcpu_undecodable(void)
{
	return vcpu_violation(0);
}

static int sc_vcpu_undecodable_stopped(void)
{
	return vcpu_violation(1);
}

static int sc_vcpu_truncated(void)
{
	return vcpu_violation(2);
}

/*
 * A 300 KiB write on the vcpu pipe, beyond the host's 256 KiB read: the
 * first piece does not decode, and that ends the VM like any junk.
 */
static int sc_vcpu_oversized(void)
{
	static uint8_t big[300 * 1024];
	int mem, kill_fd;

	h_connect();
	kill_fd = h_kill_eventfd();
	mem = boot(guest_done, sizeof(guest_done), true);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "stopped on the done port");
	memset(big, 0xff, sizeof(big));
	h_vsend_raw(0, big, sizeof(big));
	CHECK(h_wait_readable(kill_fd, 5000), "the host did not stop the VM");
	close(mem);
	return result();
}

/*
 * A main request (GetVcpus, 8a 01 00) on the vcpu pipe: EPROTO during Init,
 * ENOTTY while stopped (no member known); two requests in one write merge
 * (the last member wins: here a Wait, so EPROTO); a zero-byte write is no
 * message at all.
 */
static int sc_vcpu_wrong_type(void)
{
	static const uint8_t get_vcpus[] = { 0x8a, 0x01, 0x00 };
	static const uint8_t merged[] = { 0x1a, 0x00, 0x0a, 0x00 };
	int mem;

	h_connect();
	mem = boot(guest_done, sizeof(guest_done), false);
	h_vsend_raw(0, get_vcpus, sizeof(get_vcpus));
	CHECK(h_vexpect(0, -1) == EPROTO, "main request during Init");
	h_vinit(0, 0x1000);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "stopped on the done port");
	h_vsend_raw(0, get_vcpus, sizeof(get_vcpus));
	CHECK(h_vexpect(0, -1) == ENOTTY, "main request while stopped");
	h_vsend_raw(0, merged, sizeof(merged));
	CHECK(h_vexpect(0, -1) == EPROTO, "GetState+Wait merged into a Wait");
	CHECK(write(h_vcpu_w[0], merged, 0) == 0, "empty write");
	CHECK(!h_wait_readable(h_vcpu_r[0], 200), "an empty write was answered");
	close(mem);
	return result();
}

/* ------------------------------------------------------------------------
 * Plugin exits and hangs at bad moments.  The host must end promptly with
 * the plugin's status and join every vcpu thread.
 */

/* Start, then exit before any vcpu finishes Init: exit 0, nothing recorded as failed. */
static int sc_exit_during_init(void)
{
	h_connect();
	boot(guest_done, sizeof(guest_done), false);
	return result();
}

/* Exit while the vcpu is stopped on an I/O event waiting for Resume. */
static int sc_exit_during_io(void)
{
	h_connect();
	boot(guest_done, sizeof(guest_done), true);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "io event");
	return result();
}

/* Exit while the vcpu is paused. */
static int sc_exit_while_paused(void)
{
	h_connect();
	boot(guest_spin, sizeof(guest_spin), true);
	usleep(20000);
	h_pause(1, 3);
	h_vfree(h_vrecv(0, 5000));
	return result();
}

/* Exit with four vcpus in the guest, spinning. */
static int sc_exit_in_guest(void)
{
	h_connect();
	boot(guest_spin, sizeof(guest_spin), false);
	for (size_t v = 0; v < h_nvcpus; v++)
		h_vinit(v, 0x1000);
	usleep(100000);
	return result();
}

/* Die by SIGSEGV with the vcpu in the guest: exit 1 naming the signal. */
static int sc_crash_in_guest(void)
{
	h_connect();
	boot(guest_spin, sizeof(guest_spin), true);
	usleep(50000);
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
	return 1;
}

/*
 * Shut vcpu 0 down during Init (the VM stops), then ignore the kill
 * eventfd, SIGTERM and SIGINT, and flood the main connection during the
 * grace period: the host still ends it with SIGKILL after 1 s.
 */
static int sc_ignore_kill(void)
{
	struct timespec t0, t;

	h_connect();
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	boot(guest_done, sizeof(guest_done), false);
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		CHECK(h_reserve(0, 0x500, 1, false) == 0, "reserve during grace");
		CHECK(h_reserve(0, 0x500, 0, false) == 0, "unreserve during grace");
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10) {
			fprintf(stderr, "hostile: still alive after 10 s\n");
			return 1;
		}
	}
}

/* As above, but stopped (SIGSTOP) during the grace period: still killed and reaped. */
static int sc_sigstop_self(void)
{
	h_connect();
	boot(guest_done, sizeof(guest_done), false);
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN);
	raise(SIGSTOP);
	return 1;
}

/*
 * The guest floods async writes while the plugin never reads its vcpu
 * pipe: the host blocks on the full pipe; when the plugin exits the host
 * still ends (the stop path wakes the blocked vcpu thread).
 */
static int sc_stop_reading_vcpu(void)
{
	int mem = h_guest_memfd(guest_async_flood, sizeof(guest_async_flood), 0x1000);

	h_connect();
	CHECK(h_create_memory(1000, mem, 0, 0x1000, 0x1000) == 0, "memory");
	CHECK(h_reserve(0, 0x500, 1, true) == 0, "async range");
	CHECK(h_start() == 0, "start");
	h_vinit(0, 0x1000);
	usleep(500000);
	return result();
}

/* Close every vcpu pipe end right after Start, then exit: no hang, status 0. */
static int sc_close_vcpu_pipes(void)
{
	h_connect();
	boot(guest_done, sizeof(guest_done), false);
	for (size_t v = 0; v < h_nvcpus; v++) {
		close(h_vcpu_w[v]);
		close(h_vcpu_r[v]);
	}
	usleep(100000);
	CHECK(h_reserve(0, 0x500, 1, false) == 0, "main connection unaffected");
	return result();
}

/* Shutdown while paused ends the vcpu, the VM stops; the plugin exits 0 on the kill eventfd. */
static int sc_shutdown_while_paused(void)
{
	int kill_fd;

	h_connect();
	kill_fd = h_kill_eventfd();
	boot(guest_spin, sizeof(guest_spin), true);
	usleep(20000);
	h_pause(1, 3);
	h_vfree(h_vrecv(0, 5000));
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN);
	CHECK(h_wait_readable(kill_fd, 5000), "the VM did not stop");
	return result();
}

/*
 * Fork a helper that outlives the plugin (it ignores SIGTERM and keeps the
 * stderr pipe open), then exit: the host exits with the plugin's status and
 * the helper does not survive it.
 */
static int sc_fork_helper(void)
{
	int p[2];
	pid_t pid;
	char b;

	h_connect();
	if (pipe(p) < 0)
		h_die("pipe");
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		signal(SIGTERM, SIG_IGN);
		setsid();
		h_note_pid(getpid());
		close(p[1]);
		for (int i = 0; i < 300; i++) {
			fprintf(stderr, "helper still here\n");
			sleep(1);
		}
		_exit(0);
	}
	close(p[1]);
	/* Wait until the helper noted its pid. */
	if (read(p[0], &b, 1) != 0)
		h_die("sync");
	return result();
}

/* 256 KiB of stderr without a newline while using the connection: relayed in 4 KiB lines. */
static int sc_stderr_flood(void)
{
	static char junk[64 * 1024];

	h_connect();
	memset(junk, 'x', sizeof(junk));
	for (int i = 0; i < 4; i++) {
		if (write(2, junk, sizeof(junk)) < 0)
			h_die("stderr");
		CHECK(h_reserve(0, 0x500 + (uint64_t)i, 1, false) == 0, "served during the flood");
	}
	fprintf(stderr, "\n");
	return result();
}


/* ------------------------------------------------------------------------
 * The shared-memory vcpu channel: the plugin can write its slot at any time.
 */

/* Init over the slot: Wait, GetState(sregs), Resume into real mode at rip. */
static void shm_init(struct h_shm *s, uint64_t rip)
{
	struct shm_req_hdr h;
	struct shm_msg m;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	memset(&h, 0, sizeof(h));
	h.kind = SHM_REQ_WAIT;
	h_shm_post(s, &h, NULL, 0);
	if (h_shm_next(s, &m, 5000) || m.h.kind != SHM_MSG_WAIT || m.h.exit != SHM_EXIT_INIT)
		h_die("shm: expected Init");
	h.kind = SHM_REQ_GET_STATE;
	h.set = 1;
	h_shm_post(s, &h, NULL, 0);
	if (h_shm_next(s, &m, 5000) || m.h.kind != SHM_MSG_GET_STATE || m.h.len != sizeof(sregs))
		h_die("shm: get sregs");
	memcpy(&sregs, s->slot->reply.state, sizeof(sregs));
	sregs.cs.base = sregs.ds.base = sregs.es.base = sregs.ss.base = 0;
	sregs.cs.selector = sregs.ds.selector = sregs.es.selector = sregs.ss.selector = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rflags = 2;
	memcpy(s->slot->req.regs, &regs, sizeof(regs));
	memcpy(s->slot->req.sregs, &sregs, sizeof(sregs));
	memset(&h, 0, sizeof(h));
	h.kind = SHM_REQ_RESUME;
	h.regs_mask = SHM_F_REGS | SHM_F_SREGS;
	h_shm_post(s, &h, NULL, 0);
}

static int shm_expect_io(struct h_shm *s, uint64_t addr)
{
	struct shm_msg m;

	if (h_shm_next(s, &m, 5000) || m.h.kind != SHM_MSG_WAIT || m.h.exit != SHM_EXIT_IO ||
	    m.h.address != addr) {
		CHECK(0, "expected an io event at 0x%llx over the slot", (unsigned long long)addr);
		return -1;
	}
	return 0;
}

/*
 * Slot headers naming more than the slot holds, or bad register masks: the
 * request cannot be taken apart, a protocol violation that ends the VM
 * (shm-malformed-N sends case N of this table; the host exits 1).
 */
static const struct {
	uint32_t kind, len, mask;
} shm_malformed[] = {
	{ SHM_REQ_RESUME, 0xffffffffu, 0 },
	{ SHM_REQ_RESUME, 4097, 0 },
	{ SHM_REQ_RESUME, 0, 0x100 },
	{ SHM_REQ_SET_STATE, 5000, 0 },
	{ SHM_REQ_GET_MSRS, 257, 0 },
	{ SHM_REQ_SET_MSRS, 0x80000000u, 0 },
	{ SHM_REQ_SET_CPUID, 100000, 0 },
	{ SHM_REQ_SET_XSAVE, SHM_XSAVE_MAX + 1, 0 },
	{ SHM_REQ_SET_XSAVE, 0xffffffffu, 0 },
};

/* Negotiates the slot and answers Init; 0, or -1 after a failed check. */
static int shm_start(struct h_shm *s, int *mem)
{
	struct shm_req_hdr h;
	struct shm_msg m;
	uint32_t ver = 0;

	h_connect();
	CHECK(h_shm_negotiate(s, 1, &ver, NULL) == 0 && s->slot && ver == 1, "negotiation");
	if (!s->slot)
		return -1;
	*mem = boot(guest_done, sizeof(guest_done), false);
	memset(&h, 0, sizeof(h));
	h.kind = SHM_REQ_WAIT;
	h_shm_post(s, &h, NULL, 0);
	CHECK(h_shm_next(s, &m, 5000) == 0 && m.h.exit == SHM_EXIT_INIT, "Init");
	return 0;
}

static int shm_malformed_case(size_t i)
{
	struct h_shm s = { 0 };
	struct shm_req_hdr h;
	int mem = -1, kill_fd;

	if (shm_start(&s, &mem) < 0)
		return result();
	kill_fd = h_kill_eventfd();
	memset(&h, 0, sizeof(h));
	h.kind = shm_malformed[i].kind;
	h.len = shm_malformed[i].len;
	h.regs_mask = shm_malformed[i].mask;
	h_shm_post(&s, &h, NULL, 0);
	CHECK(h_wait_readable(kill_fd, 5000), "case %zu: the host did not stop the VM", i);
	close(mem);
	return result();
}

#define SHM_MALFORMED(n) \
	static int sc_shm_malformed_##n(void) \
	{ \
		return shm_malformed_case(n); \
	}
SHM_MALFORMED(0)
SHM_MALFORMED(1)
SHM_MALFORMED(2)
SHM_MALFORMED(3)
SHM_MALFORMED(4)
SHM_MALFORMED(5)
SHM_MALFORMED(6)
SHM_MALFORMED(7)
SHM_MALFORMED(8)

/*
 * Unknown kinds (ENOTTY, like a protobuf request with no member) and an
 * unknown state set (EINVAL) are answered; the vcpu then runs normally.
 */
static int sc_shm_bad_lengths(void)
{
	static const uint32_t unknown_kinds[] = { 77, 0 };
	struct h_shm s = { 0 };
	struct shm_req_hdr h;
	struct shm_msg m;
	int mem = -1;

	if (shm_start(&s, &mem) < 0)
		return result();
	for (size_t i = 0; i < sizeof(unknown_kinds) / sizeof(unknown_kinds[0]); i++) {
		memset(&h, 0, sizeof(h));
		h.kind = unknown_kinds[i];
		h_shm_post(&s, &h, NULL, 0);
		CHECK(h_shm_next(&s, &m, 5000) == 0 && m.h.kind == SHM_MSG_NONE &&
			      m.h.errnum == ENOTTY,
		      "kind %u: kind %u errnum %d", unknown_kinds[i], m.h.kind, m.h.errnum);
	}
	/* API 0.23 XSAVE in the slot: the area comes back; a short or refused set is EINVAL. */
	{
		static uint8_t ones[4096];

		memset(&h, 0, sizeof(h));
		h.kind = SHM_REQ_GET_XSAVE;
		h_shm_post(&s, &h, NULL, 0);
		CHECK(h_shm_next(&s, &m, 5000) == 0 && m.h.kind == SHM_MSG_GET_XSAVE &&
			      m.h.errnum == 0 && m.h.len >= 4096 && m.h.len <= SHM_XSAVE_MAX,
		      "GetXsave: kind %u errnum %d len %u", m.h.kind, m.h.errnum, m.h.len);
		memset(ones, 0xff, sizeof(ones));
		for (uint32_t len = 100; len <= 4096; len += 3996) {
			h.kind = SHM_REQ_SET_XSAVE;
			h.len = len;
			h_shm_post(&s, &h, ones, len);
			CHECK(h_shm_next(&s, &m, 5000) == 0 && m.h.kind == SHM_MSG_SET_XSAVE &&
				      m.h.errnum == EINVAL,
			      "SetXsave of %u bytes: kind %u errnum %d", len, m.h.kind, m.h.errnum);
		}
	}
	memset(&h, 0, sizeof(h));
	h.kind = SHM_REQ_GET_STATE;
	h.set = 0xffffffffu;
	h_shm_post(&s, &h, NULL, 0);
	CHECK(h_shm_next(&s, &m, 5000) == 0 && m.h.kind == SHM_MSG_GET_STATE &&
		      m.h.errnum == EINVAL,
	      "unknown state set");
	/* The vcpu was never disturbed: finish Init and run the guest to its port. */
	{
		struct kvm_sregs sregs;
		struct kvm_regs regs;

		h.set = 1;
		h_shm_post(&s, &h, NULL, 0);
		CHECK(h_shm_next(&s, &m, 5000) == 0 && m.h.len == sizeof(sregs), "get sregs");
		memcpy(&sregs, s.slot->reply.state, sizeof(sregs));
		sregs.cs.base = sregs.ds.base = sregs.es.base = sregs.ss.base = 0;
		sregs.cs.selector = sregs.ds.selector = sregs.es.selector = sregs.ss.selector = 0;
		memset(&regs, 0, sizeof(regs));
		regs.rip = 0x1000;
		regs.rflags = 2;
		memcpy(s.slot->req.regs, &regs, sizeof(regs));
		memcpy(s.slot->req.sregs, &sregs, sizeof(sregs));
		memset(&h, 0, sizeof(h));
		h.kind = SHM_REQ_RESUME;
		h.regs_mask = SHM_F_REGS | SHM_F_SREGS;
		h_shm_post(&s, &h, NULL, 0);
	}
	shm_expect_io(&s, PORT_DONE);
	close(mem);
	return result();
}

/*
 * The plugin claims to have consumed 100 messages more than were posted:
 * the host's next message finds the ring broken, that vcpu ends with a
 * warning and the VM stops; the plugin exits 0 on the kill eventfd.
 */
static int sc_shm_ring_corrupt(void)
{
	struct h_shm s = { 0 };
	struct shm_req_hdr h;
	int mem, kill_fd;

	h_connect();
	kill_fd = h_kill_eventfd();
	CHECK(h_shm_negotiate(&s, 1, NULL, NULL) == 0 && s.slot, "negotiation");
	if (!s.slot)
		return result();
	mem = boot(guest_two_outs, sizeof(guest_two_outs), false);
	shm_init(&s, 0x1000);
	shm_expect_io(&s, PORT_DONE);
	s.slot->ev_tail.seq = s.ev_tail + 100;
	memset(&h, 0, sizeof(h));
	h.kind = SHM_REQ_RESUME;
	h_shm_post(&s, &h, NULL, 0);
	CHECK(h_wait_readable(kill_fd, 5000), "the VM did not stop");
	close(mem);
	return result();
}

static volatile bool scribbling;

static void *scribbler(void *arg)
{
	struct h_shm *s = arg;
	uint32_t x = 12345;
	uint8_t *p = s->base;

	while (scribbling) {
		/* xorshift: cheap, and any bytes anywhere in the slot, counters included. */
		for (int i = 0; i < 4096; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			p[x % s->size] = (uint8_t)x;
		}
	}
	return NULL;
}

/*
 * A second thread writes random bytes all over the slot (headers, payload,
 * ring and futex words) while the plugin keeps posting requests: whatever
 * the host makes of it, it must not crash, hang or leak.  The outcome (the
 * guest may run off with garbage registers) is not fixed, so the runner
 * accepts status 0 or 1 with at most one error line.
 */
static int sc_shm_scribble(void)
{
	struct h_shm s = { 0 };
	struct shm_req_hdr h;
	struct shm_msg m;
	pthread_t t;
	struct timespec t0, now;

	h_connect();
	CHECK(h_shm_negotiate(&s, 1, NULL, NULL) == 0 && s.slot, "negotiation");
	if (!s.slot)
		return result();
	boot(guest_done, sizeof(guest_done), false);
	shm_init(&s, 0x1000);
	/* Stopped on an event: the host now reads requests from the slot. */
	shm_expect_io(&s, PORT_DONE);
	scribbling = true;
	if (pthread_create(&t, NULL, scribbler, &s) != 0)
		h_die("pthread_create");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		/* Post without waiting for the (scribbled) request tail. */
		memset(&h, 0, sizeof(h));
		h.kind = SHM_REQ_GET_STATE;
		memcpy(&s.slot->req.h, &h, sizeof(h));
		shm_post(&s.slot->req_head, ++s.req_head);
		h_shm_next(&s, &m, 10);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 < 500);
	scribbling = false;
	pthread_join(t, NULL);
	return 0;
}

/*
 * Negotiation misuse: an unknown version gets the host's (1); asking twice
 * gives the same channel; version 0 goes back to the pipes (no fd); after
 * Start the channel cannot change (EBUSY); the pipes then work.
 */
static int sc_shm_negotiate_misuse(void)
{
	struct h_shm s = { 0 };
	uint32_t ver = 0;
	uint64_t size1 = 0, size2 = 0, size0 = 1;
	int mem;

	h_connect();
	CHECK(h_shm_negotiate(&s, 99, &ver, &size1) == 0 && ver == 1 && size1 > 0, "version 99");
	CHECK(h_shm_negotiate(&s, 1, &ver, &size2) == 0 && size2 == size1, "again");
	CHECK(h_shm_negotiate(&s, 0, &ver, &size0) == 0 && ver == 0 && size0 == 0, "back to pipes");
	mem = boot(guest_done, sizeof(guest_done), false);
	CHECK(h_shm_negotiate(&s, 1, NULL, NULL) == EBUSY, "after Start");
	h_vinit(0, 0x1000);
	CHECK(h_expect_io(0, PORT_DONE, 5000) == 0, "the pipes work");
	close(mem);
	return result();
}

struct scenario {
	const char *name;
	int (*fn)(void);
};

static const struct scenario scenarios[] = {
	{ "main-undecodable", sc_main_undecodable },
	{ "main-truncated", sc_main_truncated },
	{ "main-empty", sc_main_empty },
	{ "main-oversized", sc_main_oversized },
	{ "main-wrong-type", sc_main_wrong_type },
	{ "fds-too-many", sc_fds_too_many },
	{ "fds-unused", sc_fds_unused },
	{ "fds-253", sc_fds_253 },
	{ "memory-wrong-fd", sc_memory_wrong_fd },
	{ "memory-unsealed", sc_memory_unsealed },
	{ "memory-too-small", sc_memory_too_small },
	{ "memory-huge", sc_memory_huge },
	{ "memory-dirty-huge", sc_memory_dirty_huge },
	{ "dirty-shared-bad", sc_dirty_shared_bad },
	{ "memory-overflow", sc_memory_overflow },
	{ "memory-overlap", sc_memory_overlap },
	{ "memory-slots", sc_memory_slots },
	{ "objects-thousands", sc_objects_thousands },
	{ "connections-thousands", sc_connections_thousands },
	{ "destroy-unknown", sc_destroy_unknown },
	{ "counts-too-many", sc_counts_too_many },
	{ "start-twice", sc_start_twice },
	{ "pause-mask", sc_pause_mask },
	{ "resume-without-wait", sc_resume_without_wait },
	{ "wait-twice", sc_wait_twice },
	{ "state-sizes", sc_state_sizes },
	{ "xsave-sizes", sc_xsave_sizes },
	{ "init-bad-regs", sc_init_bad_regs },
	{ "vcpu-undecodable", sc_vcpu_undecodable },
	{ "vcpu-undecodable-stopped", sc_vcpu_undecodable_stopped },
	{ "vcpu-truncated", sc_vcpu_truncated },
	{ "vcpu-oversized", sc_vcpu_oversized },
	{ "vcpu-wrong-type", sc_vcpu_wrong_type },
	{ "exit-during-init", sc_exit_during_init },
	{ "exit-during-io", sc_exit_during_io },
	{ "exit-while-paused", sc_exit_while_paused },
	{ "exit-in-guest", sc_exit_in_guest },
	{ "crash-in-guest", sc_crash_in_guest },
	{ "ignore-kill", sc_ignore_kill },
	{ "sigstop-self", sc_sigstop_self },
	{ "stop-reading-vcpu", sc_stop_reading_vcpu },
	{ "close-vcpu-pipes", sc_close_vcpu_pipes },
	{ "shutdown-while-paused", sc_shutdown_while_paused },
	{ "fork-helper", sc_fork_helper },
	{ "stderr-flood", sc_stderr_flood },
	{ "shm-bad-lengths", sc_shm_bad_lengths },
	{ "shm-malformed-0", sc_shm_malformed_0 },
	{ "shm-malformed-1", sc_shm_malformed_1 },
	{ "shm-malformed-2", sc_shm_malformed_2 },
	{ "shm-malformed-3", sc_shm_malformed_3 },
	{ "shm-malformed-4", sc_shm_malformed_4 },
	{ "shm-malformed-5", sc_shm_malformed_5 },
	{ "shm-malformed-6", sc_shm_malformed_6 },
	{ "shm-malformed-7", sc_shm_malformed_7 },
	{ "shm-malformed-8", sc_shm_malformed_8 },
	{ "shm-ring-corrupt", sc_shm_ring_corrupt },
	{ "shm-scribble", sc_shm_scribble },
	{ "shm-negotiate-misuse", sc_shm_negotiate_misuse },
};

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "";
	const char *nofile = getenv("HOSTILE_EXPECT_NOFILE");
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	/* The host raises its own open-file limit, never the one an unjailed plugin starts with. */
	if (nofile && (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur != strtoull(nofile, NULL, 10))) {
		fprintf(stderr, "hostile: check failed: plugin open-file limit %llu, expected %s\n",
			(unsigned long long)rl.rlim_cur, nofile);
		return 1;
	}
	/* Never outlive a broken test by much. */
	alarm(20);
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (!strcmp(name, scenarios[i].name))
			return scenarios[i].fn();
	fprintf(stderr, "hostile: unknown scenario '%s'\n", name);
	return 91;
}
