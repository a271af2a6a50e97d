// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Connection functions and VM-wide requests of libcrosvm_plugin against a
 * scripted fake host.  Golden request bytes come from docs/protocol.md §4.6 and
 * from encoding the same messages with protoc's own encoder.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "crosvm.h"
#include "fake-host.h"
#include "wire.h"

/* ---- crosvm_connect ------------------------------------------------------------------------ */

static void connect_env_errors(void **state)
{
	static const char *const bad[] = { "", "x1", "-1", "1x", " 3", "99999999999" };
	struct crosvm *c = (struct crosvm *)0x1;
	int before = fh_count_fds();

	(void)state;
	unsetenv("CROSVM_SOCKET");
	assert_int_equal(crosvm_connect(&c), -ENOTCONN);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("CROSVM_SOCKET", bad[i], 1);
		assert_int_equal(crosvm_connect(&c), -EINVAL);
	}
	assert_ptr_equal(c, (struct crosvm *)0x1);
	setenv("CROSVM_SOCKET", "3", 1);
	assert_int_equal(crosvm_connect(NULL), -EINVAL);
	unsetenv("CROSVM_SOCKET");
	assert_int_equal(fh_count_fds(), before);
}

/* Runs crosvm_connect against a GetVcpus reply and returns its result. */
static int connect_with_reply(const char *reply, const int *fds, size_t nfds, int *ret_host)
{
	struct crosvm *c = NULL;
	int sv[2], ret;
	char num[16];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(num, sizeof(num), "%d", sv[1]);
	setenv("CROSVM_SOCKET", num, 1);
	fh_send_on(sv[0], reply, fds, nfds);
	ret = crosvm_connect(&c);
	fh_expect_on(sv[0], "8a 01 00");
	if (ret == 0)
		crosvm_destroy_connection(&c);
	unsetenv("CROSVM_SOCKET");
	*ret_host = sv[0];
	return ret;
}

static void connect_bad_replies(void **state)
{
	int before = fh_count_fds(), host, p[2], efd[3];
	char b;

	(void)state;
	/* No vcpu descriptors at all. */
	assert_int_equal(connect_with_reply("92 01 00", NULL, 0, &host), -EPROTO);
	/* A failed connect owns and closes the socket, as crosvm's library did. */
	assert_int_equal(recv(host, &b, 1, MSG_DONTWAIT), 0);
	close(host);

	/* An odd number of descriptors: all of them must be closed. */
	for (int i = 0; i < 3; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(connect_with_reply("92 01 00", efd, 3, &host), -EPROTO);
	close(host);
	for (int i = 0; i < 3; i++)
		close(efd[i]);

	/* The host's errno, with descriptors attached anyway. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(connect_with_reply("08 2c 92 01 00", p, 2, &host), -EINVAL);
	close(host);
	close(p[0]);
	close(p[1]);

	/* Garbage that does not decode. */
	assert_int_equal(connect_with_reply("ff ff ff", NULL, 0, &host), -EINVAL);
	close(host);
	assert_int_equal(fh_count_fds(), before);
}

static void connect_two_vcpus(void **state)
{
	struct crosvm_vcpu *v = (struct crosvm_vcpu *)0x1, *v0;

	(void)state;
	assert_non_null(F.v[0]);
	assert_non_null(F.v[1]);
	assert_ptr_not_equal(F.v[0], F.v[1]);
	assert_int_equal(crosvm_get_vcpu(F.c, 2, &v), -ENOENT);
	assert_ptr_equal(v, (struct crosvm_vcpu *)0x1);
	assert_int_equal(crosvm_get_vcpu(F.c, UINT32_MAX, &v), -ENOENT);
	assert_int_equal(crosvm_get_vcpu(F.c, 0, &v0), 0);
	assert_ptr_equal(v0, F.v[0]);
	assert_int_equal(crosvm_get_vcpu(F.c, 0, NULL), -EINVAL);
	fh_expect_none();
}

/* More than crosvm's 16-vcpu ceiling arrive in one GetVcpus reply. */
static void connect_twenty_vcpus(void **state)
{
	struct crosvm_vcpu *v;

	(void)state;
	for (uint32_t i = 0; i < 20; i++) {
		assert_int_equal(crosvm_get_vcpu(F.c, i, &v), 0);
		assert_ptr_equal(v, F.v[i]);
	}
	assert_int_equal(crosvm_get_vcpu(F.c, 20, &v), -ENOENT);
	/* The last vcpu's pipes are the ones sent last. */
	fh_vcpu_init(19);
	fh_vcpu_expect_none(0);
}

/*
 * The kernel drops descriptors it cannot install and reports MSG_CTRUNC;
 * the library must fail rather than run with fewer vcpus than the host.
 */
static void connect_ctrunc(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl;
		struct crosvm *c;
		int sv[2], fds[40], n = 0, ret;
		char num[16];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv))
			_exit(10);
		for (int i = 0; i < 20; i++) {
			int p[2];

			if (pipe(p))
				_exit(11);
			fds[n++] = p[1];
			fds[n++] = p[0];
		}
		fh_send_on(sv[0], "92 01 00", fds, 40);
		for (int i = 0; i < 40; i++)
			close(fds[i]);
		/* Room for only a few of the 40 descriptors. */
		rl.rlim_cur = rl.rlim_max = (rlim_t)fh_count_fds() + 6;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(12);
		snprintf(num, sizeof(num), "%d", sv[1]);
		setenv("CROSVM_SOCKET", num, 1);
		ret = crosvm_connect(&c);
		_exit(ret == -EPROTO ? 0 : 20);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- crosvm_new_connection / crosvm_destroy_connection --------------------------------------- */

static void new_connection(void **state)
{
	struct crosvm *c2 = NULL;
	struct crosvm_vcpu *v;
	struct crosvm_io *io;
	int sv[2], efd, fd;
	uint8_t dm = 0x88;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	fh_send_fds("22 00", &sv[1], 1);
	close(sv[1]);
	assert_int_equal(crosvm_new_connection(F.c, &c2), 0);
	fh_expect("1a 00");
	assert_non_null(c2);

	/* Same vcpu handles on both connections. */
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(crosvm_get_vcpu(c2, i, &v), 0);
		assert_ptr_equal(v, F.v[i]);
	}
	assert_int_equal(crosvm_get_vcpu(c2, 2, &v), -ENOENT);

	/* Requests on the new connection go through the new socket. */
	fh_send_on(sv[0], "9a 01 00", NULL, 0);
	assert_int_equal(crosvm_start(c2), 0);
	fh_expect_on(sv[0], "92 01 00");
	fh_expect_none();

	/* The id counter is shared: id 0 on one connection, id 1 on the other. */
	efd = eventfd(0, EFD_CLOEXEC);
	fh_send_fds("12 00", &efd, 1);
	assert_int_equal(crosvm_create_io_event(F.c, 0, 0x3f8, 1, &dm, &io), 0);
	fh_expect("0a 0a 12 08 10 f8 07 18 01 20 88 01");
	fd = crosvm_io_event_fd(io);
	fh_send_on(sv[0], "12 00", &efd, 1);
	close(efd);
	{
		struct crosvm_io *io2;
		uint32_t dm4 = 0x12345678;

		assert_int_equal(
			crosvm_create_io_event(c2, 1, 0xd0000000, 4, (uint8_t *)&dm4, &io2), 0);
		fh_expect_on(sv[0], "0a 14 08 01 12 10 08 01 10 80 80 80 80 0d 18 04"
				    " 20 f8 ac d1 91 01");
		fh_send_on(sv[0], "1a 00", NULL, 0);
		assert_int_equal(crosvm_destroy_io_event(c2, &io2), 0);
		fh_expect_on(sv[0], "12 02 08 01");
	}
	assert_true(fd >= 0);
	fh_send("1a 00");
	assert_int_equal(crosvm_destroy_io_event(F.c, &io), 0);
	fh_expect("12 00");

	/* Destroying sends nothing; the host sees the socket close. */
	assert_int_equal(crosvm_destroy_connection(&c2), 0);
	assert_null(c2);
	{
		char b;

		assert_int_equal(recv(sv[0], &b, 1, MSG_DONTWAIT), 0);
	}
	close(sv[0]);
	fh_expect_none();
	assert_int_equal(crosvm_destroy_connection(&c2), 0);
	assert_int_equal(crosvm_destroy_connection(NULL), 0);
}

static void new_connection_errors(void **state)
{
	struct crosvm *c2 = (struct crosvm *)0x1;
	int p[2];

	(void)state;
	fh_send("22 00");
	assert_int_equal(crosvm_new_connection(F.c, &c2), -EPROTO);
	fh_expect("1a 00");
	/* EMFILE = 24 */
	assert_int_equal(pipe(p), 0);
	fh_send_fds("08 30 22 00", p, 1);
	assert_int_equal(crosvm_new_connection(F.c, &c2), -EMFILE);
	fh_expect("1a 00");
	close(p[0]);
	close(p[1]);
	assert_ptr_equal(c2, (struct crosvm *)0x1);
	assert_int_equal(crosvm_new_connection(F.c, NULL), -EINVAL);
	assert_int_equal(crosvm_new_connection(NULL, &c2), -EINVAL);
	fh_expect_none();
}

/* vcpu handles stay valid while any connection of the family exists. */
static void destroy_first_connection_keeps_vcpus(void **state)
{
	struct crosvm *c2 = NULL;
	struct crosvm_vcpu *v;
	int sv[2];
	char b;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	fh_send_fds("22 00", &sv[1], 1);
	close(sv[1]);
	assert_int_equal(crosvm_new_connection(F.c, &c2), 0);
	fh_expect("1a 00");

	assert_int_equal(crosvm_destroy_connection(&F.c), 0);
	assert_null(F.c);
	assert_int_equal(recv(F.sock, &b, 1, MSG_DONTWAIT), 0);

	assert_int_equal(crosvm_get_vcpu(c2, 1, &v), 0);
	assert_ptr_equal(v, F.v[1]);
	fh_vcpu_init(1);

	close(F.sock);
	F.sock = sv[0];
	F.c = c2;
}

/* ---- transport failures ------------------------------------------------------------------ */

static void host_closed(void **state)
{
	sigset_t pending;

	(void)state;
	signal(SIGPIPE, SIG_DFL);
	/* The host stops sending: the reply is EOF, which crosvm's library took as success. */
	assert_int_equal(shutdown(F.sock, SHUT_WR), 0);
	assert_int_equal(crosvm_start(F.c), -EPIPE);
	fh_expect("92 01 00");
	assert_int_equal(crosvm_set_irq(F.c, 1, true), -EPIPE);
	fh_expect("5a 04 08 01 10 01");
	/* The host is gone entirely: the send fails, and no SIGPIPE is raised. */
	close(F.sock);
	F.sock = -1;
	assert_int_equal(crosvm_start(F.c), -EPIPE);
	assert_int_equal(crosvm_pause_vcpus(F.c, 1, NULL), -EPIPE);
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));
}

static void request_too_big(void **state)
{
	struct crosvm_irq_route routes[300];

	(void)state;
	memset(routes, 0, sizeof(routes));
	for (int i = 0; i < 300; i++) {
		routes[i].irq_id = (uint32_t)i;
		routes[i].kind = CROSVM_IRQ_ROUTE_MSI;
		routes[i].msi.address = 0xfee00000;
		routes[i].msi.data = 0x4000 + (uint32_t)i;
	}
	assert_int_equal(crosvm_set_irq_routing(F.c, 300, routes), -E2BIG);
	fh_expect_none();
	/* An unknown kind is reported before the size. */
	routes[299].kind = 5;
	assert_int_equal(crosvm_set_irq_routing(F.c, 300, routes), -EINVAL);
	fh_expect_none();
}

/* A reply larger than the receive limit is consumed and rejected. */
static void reply_too_big(void **state)
{
	static uint8_t big[0x40000 + 16];
	int sz = 4 << 20;

	(void)state;
	if (setsockopt(F.sock, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) != 0)
		skip();
	memset(big, 0, sizeof(big));
	/* A check_extension reply padded with an unknown bytes field. */
	big[0] = 0x32;
	big[1] = 0x00;
	big[2] = 0xfa; /* field 1999, length-delimited */
	big[3] = 0x7c;
	big[4] = 0x80 | ((sizeof(big) - 7) & 0x7f);
	big[5] = 0x80 | (((sizeof(big) - 7) >> 7) & 0x7f);
	big[6] = ((sizeof(big) - 7) >> 14) & 0x7f;
	fh_send_bytes_on(F.sock, big, sizeof(big), NULL, 0);
	{
		bool has = true;

		assert_int_equal(crosvm_check_extension(F.c, 7, &has), -EPROTO);
		assert_true(has);
	}
	fh_expect("2a 02 08 07");
	/* The connection stays usable. */
	fh_send("32 02 08 01");
	{
		bool has = false;

		assert_int_equal(crosvm_check_extension(F.c, 7, &has), 0);
		assert_true(has);
	}
	fh_expect("2a 02 08 07");
}

/* ---- VM requests --------------------------------------------------------------------------- */

static void get_shutdown_eventfd(void **state)
{
	int efd = eventfd(0, EFD_CLOEXEC), other = eventfd(0, EFD_CLOEXEC), fds[2], fd;
	uint64_t v = 1;

	(void)state;
	fh_send_fds("2a 00", &efd, 1);
	fd = crosvm_get_shutdown_eventfd(F.c);
	fh_expect("22 00");
	assert_true(fd >= 0);
	/* The caller's descriptor is the host's eventfd. */
	assert_int_equal(write(efd, &v, 8), 8);
	v = 0;
	assert_int_equal(read(fd, &v, 8), 8);
	assert_int_equal(v, 1);
	close(fd);

	/* Extra descriptors: the last one is taken, the rest closed (checked by teardown). */
	fds[0] = other;
	fds[1] = efd;
	fh_send_fds("2a 00", fds, 2);
	fd = crosvm_get_shutdown_eventfd(F.c);
	fh_expect("22 00");
	v = 5;
	assert_int_equal(write(efd, &v, 8), 8);
	assert_int_equal(read(fd, &v, 8), 8);
	assert_int_equal(v, 5);
	close(fd);

	fh_send("2a 00");
	assert_int_equal(crosvm_get_shutdown_eventfd(F.c), -EPROTO);
	fh_expect("22 00");
	fh_send_fds("08 2c 2a 00", &efd, 1);
	assert_int_equal(crosvm_get_shutdown_eventfd(F.c), -EINVAL);
	fh_expect("22 00");
	assert_int_equal(crosvm_get_shutdown_eventfd(NULL), -EINVAL);
	close(efd);
	close(other);
}

static void check_extension(void **state)
{
	bool has = false;

	(void)state;
	fh_send("32 02 08 01");
	assert_int_equal(crosvm_check_extension(F.c, 7, &has), 0);
	fh_expect("2a 02 08 07");
	assert_true(has);

	fh_send("32 00");
	assert_int_equal(crosvm_check_extension(F.c, 0, &has), 0);
	fh_expect("2a 00");
	assert_false(has);

	/* Presence is checked: a reply without the member (or with another one) is -EPROTO. */
	has = true;
	fh_send("3a 00");
	assert_int_equal(crosvm_check_extension(F.c, 7, &has), -EPROTO);
	fh_expect("2a 02 08 07");
	fh_send("08 00 fa 7c 00");
	assert_int_equal(crosvm_check_extension(F.c, 7, &has), -EPROTO);
	fh_expect("2a 02 08 07");
	assert_true(has);

	fh_send("08 2c 32 00");
	assert_int_equal(crosvm_check_extension(F.c, 7, &has), -EINVAL);
	fh_expect("2a 02 08 07");
	/* A negative errno from a broken host never becomes a positive return. */
	fh_send("08 2b 32 00");
	assert_int_equal(crosvm_check_extension(F.c, 7, &has), -EPROTO);
	fh_expect("2a 02 08 07");
	assert_true(has);
	assert_int_equal(crosvm_check_extension(F.c, 7, NULL), -EINVAL);
	fh_expect_none();
}

static void enable_capability(void **state)
{
	uint64_t args[4] = { 0 };

	(void)state;
	assert_int_equal(crosvm_enable_capability(F.c, 123, 0, args), -EINVAL);
	assert_int_equal(crosvm_enable_capability(F.c, 0, 0, NULL), -EINVAL);
	fh_expect_none();
}

static const char cpuid_reply_body[] = "0e 0a 02 28 10 0a 08 08 07 18 01 20 01 30 20";

static void check_cpuid_entries(const struct kvm_cpuid_entry2 *e)
{
	struct kvm_cpuid_entry2 want[2];

	memset(want, 0, sizeof(want));
	want[0].eax = 0x10;
	want[1].function = 7;
	want[1].index = 1;
	want[1].flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	want[1].ebx = 0x20;
	/* memcmp also checks that padding was zeroed. */
	assert_memory_equal(e, want, sizeof(want));
}

static void cpuid_lists(const char *req, const char *tag, const char *wrong_tag,
			int (*fn)(struct crosvm *, uint32_t, struct kvm_cpuid_entry2 *, uint32_t *))
{
	struct kvm_cpuid_entry2 e[3];
	char reply[128];
	uint32_t out = 99;

	snprintf(reply, sizeof(reply), "%s %s", tag, cpuid_reply_body);
	memset(e, 0xff, sizeof(e));
	fh_send(reply);
	assert_int_equal(fn(F.c, 3, e, &out), 0);
	fh_expect(req);
	assert_int_equal(out, 2);
	check_cpuid_entries(e);

	/* Too small: -E2BIG, the count, and nothing copied. */
	memset(e, 0xff, sizeof(e));
	fh_send(reply);
	assert_int_equal(fn(F.c, 1, e, &out), -E2BIG);
	fh_expect(req);
	assert_int_equal(out, 2);
	for (size_t i = 0; i < sizeof(e); i++)
		assert_int_equal(((uint8_t *)e)[i], 0xff);

	/* The host's own E2BIG (KVM has more than 256 leaves); *out is 0. */
	out = 99;
	snprintf(reply, sizeof(reply), "08 0e %s 00", tag);
	fh_send(reply);
	assert_int_equal(fn(F.c, 3, e, &out), -E2BIG);
	fh_expect(req);
	assert_int_equal(out, 0);

	/* Empty list. */
	out = 99;
	snprintf(reply, sizeof(reply), "%s 00", tag);
	fh_send(reply);
	assert_int_equal(fn(F.c, 0, NULL, &out), 0);
	fh_expect(req);
	assert_int_equal(out, 0);

	out = 99;
	snprintf(reply, sizeof(reply), "%s 00", wrong_tag);
	fh_send(reply);
	assert_int_equal(fn(F.c, 3, e, &out), -EPROTO);
	fh_expect(req);
	assert_int_equal(out, 0);

	out = 99;
	assert_int_equal(fn(F.c, 3, NULL, &out), -EINVAL);
	assert_int_equal(out, 0);
	assert_int_equal(fn(F.c, 3, e, NULL), -EINVAL);
	fh_expect_none();
}

static void get_supported_cpuid(void **state)
{
	(void)state;
	cpuid_lists("32 00", "3a", "42", crosvm_get_supported_cpuid);
}

static void get_emulated_cpuid(void **state)
{
	(void)state;
	cpuid_lists("3a 00", "42", "3a", crosvm_get_emulated_cpuid);
}

static void get_msr_index_list(void **state)
{
	uint32_t idx[4] = { 0 }, out = 99;

	(void)state;
	/* Packed, as docs/protocol.md §4.6 shows it. */
	fh_send("4a 05 0a 03 10 1b 3a");
	assert_int_equal(crosvm_get_msr_index_list(F.c, 4, idx, &out), 0);
	fh_expect("42 00");
	assert_int_equal(out, 3);
	assert_int_equal(idx[0], 0x10);
	assert_int_equal(idx[1], 0x1b);
	assert_int_equal(idx[2], 0x3a);
	assert_int_equal(idx[3], 0);

	/* Unpacked form is accepted too. */
	memset(idx, 0, sizeof(idx));
	fh_send("4a 06 08 11 08 12 08 13");
	assert_int_equal(crosvm_get_msr_index_list(F.c, 3, idx, &out), 0);
	fh_expect("42 00");
	assert_int_equal(out, 3);
	assert_int_equal(idx[2], 0x13);

	memset(idx, 0, sizeof(idx));
	fh_send("4a 05 0a 03 10 1b 3a");
	assert_int_equal(crosvm_get_msr_index_list(F.c, 2, idx, &out), -E2BIG);
	fh_expect("42 00");
	assert_int_equal(out, 3);
	assert_int_equal(idx[0], 0);

	fh_send("08 0e 4a 00");
	assert_int_equal(crosvm_get_msr_index_list(F.c, 4, idx, &out), -E2BIG);
	fh_expect("42 00");
	assert_int_equal(out, 0);

	out = 7;
	fh_send("3a 00");
	assert_int_equal(crosvm_get_msr_index_list(F.c, 4, idx, &out), -EPROTO);
	fh_expect("42 00");
	assert_int_equal(out, 0);
	assert_int_equal(crosvm_get_msr_index_list(F.c, 4, NULL, &out), -EINVAL);
	assert_int_equal(crosvm_get_msr_index_list(F.c, 4, idx, NULL), -EINVAL);
	fh_expect_none();
}

static void net_get_config(void **state)
{
	static const char good[] = "52 12 0a 06 de 21 e8 47 6b 6a 15 64 73 5c 05 1d ff ff ff fc";
	static const uint8_t mac[6] = { 0xde, 0x21, 0xe8, 0x47, 0x6b, 0x6a };
	struct crosvm_net_config cfg, untouched;
	int efd = eventfd(0, EFD_CLOEXEC);
	uint64_t v = 3;

	(void)state;
	memset(&cfg, 0xff, sizeof(cfg));
	fh_send_fds(good, &efd, 1);
	assert_int_equal(crosvm_net_get_config(F.c, &cfg), 0);
	fh_expect("4a 00");
	assert_int_equal(cfg.host_ip, htonl(0x64735c05));
	assert_int_equal(cfg.netmask, htonl(0xfffffffc));
	assert_memory_equal(cfg.host_mac_address, mac, 6);
	assert_int_equal(cfg._padding[0], 0);
	assert_int_equal(cfg._padding[1], 0);
	assert_true(cfg.tap_fd >= 0);
	assert_int_equal(write(efd, &v, 8), 8);
	assert_int_equal(read(cfg.tap_fd, &v, 8), 8);
	assert_int_equal(v, 3);
	close(cfg.tap_fd);

	memset(&cfg, 0xab, sizeof(cfg));
	untouched = cfg;
	/* A 5-byte MAC: the fd that came with it must not leak. */
	fh_send_fds("52 11 0a 05 de 21 e8 47 6b 15 64 73 5c 05 1d ff ff ff fc", &efd, 1);
	assert_int_equal(crosvm_net_get_config(F.c, &cfg), -EPROTO);
	fh_expect("4a 00");
	fh_send(good);
	assert_int_equal(crosvm_net_get_config(F.c, &cfg), -EPROTO);
	fh_expect("4a 00");
	/* ENODATA = 61: the host has no tap, and no member. */
	fh_send("08 7a");
	assert_int_equal(crosvm_net_get_config(F.c, &cfg), -ENODATA);
	fh_expect("4a 00");
	fh_send_fds("3a 00", &efd, 1);
	assert_int_equal(crosvm_net_get_config(F.c, &cfg), -EPROTO);
	fh_expect("4a 00");
	assert_memory_equal(&cfg, &untouched, sizeof(cfg));
	assert_int_equal(crosvm_net_get_config(F.c, NULL), -EINVAL);
	fh_expect_none();
	close(efd);
}

static void reserve_range(void **state)
{
	(void)state;
	fh_send("5a 00");
	assert_int_equal(crosvm_reserve_range(F.c, CROSVM_ADDRESS_SPACE_IOPORT, 0x3f8, 1), 0);
	fh_expect("52 05 10 f8 07 18 01");
	/* EPERM reply, as in docs/protocol.md §4.6. */
	fh_send("08 02 5a 00");
	assert_int_equal(crosvm_reserve_range(F.c, CROSVM_ADDRESS_SPACE_IOPORT, 0x3f8, 1), -EPERM);
	fh_expect("52 05 10 f8 07 18 01");
	/* Length 0 unreserves. */
	fh_send("5a 00");
	assert_int_equal(crosvm_reserve_range(F.c, CROSVM_ADDRESS_SPACE_IOPORT, 0x3f8, 0), 0);
	fh_expect("52 03 10 f8 07");
	fh_send("08 04 5a 00");
	assert_int_equal(crosvm_reserve_range(F.c, CROSVM_ADDRESS_SPACE_MMIO, 0x1000, 0), -ENOENT);
	fh_expect("52 05 08 01 10 80 20");
	assert_int_equal(crosvm_reserve_range(F.c, 2, 0x3f8, 1), -EINVAL);
	assert_int_equal(crosvm_reserve_range(NULL, 0, 0x3f8, 1), -EINVAL);
	fh_expect_none();
}

static void reserve_async_write_range(void **state)
{
	(void)state;
	fh_send("5a 00");
	assert_int_equal(crosvm_reserve_async_write_range(F.c, CROSVM_ADDRESS_SPACE_MMIO, 0x1000,
							  0x10),
			 0);
	fh_expect("52 09 08 01 10 80 20 18 10 20 01");
	fh_send("08 02 5a 00");
	assert_int_equal(crosvm_reserve_async_write_range(F.c, 0, 0x10, 0x10), -EPERM);
	fh_expect("52 06 10 10 18 10 20 01");
	assert_int_equal(crosvm_reserve_async_write_range(F.c, 7, 0x10, 0x10), -EINVAL);
	fh_expect_none();
}

static void set_irq(void **state)
{
	(void)state;
	fh_send("62 00");
	assert_int_equal(crosvm_set_irq(F.c, 4, true), 0);
	fh_expect("5a 04 08 04 10 01");
	fh_send("08 2c 62 00");
	assert_int_equal(crosvm_set_irq(F.c, 0, false), -EINVAL);
	fh_expect("5a 00");
	assert_int_equal(crosvm_set_irq(NULL, 0, false), -EINVAL);
	fh_expect_none();
}

static void set_irq_routing(void **state)
{
	struct crosvm_irq_route r[2];

	(void)state;
	memset(r, 0, sizeof(r));
	r[0].irq_id = 1;
	r[0].kind = CROSVM_IRQ_ROUTE_IRQCHIP;
	r[0].irqchip.irqchip = 0;
	r[0].irqchip.pin = 1;
	r[1].irq_id = 24;
	r[1].kind = CROSVM_IRQ_ROUTE_MSI;
	r[1].msi.address = 0xfee00000;
	r[1].msi.data = 0x4041;
	fh_send("6a 00");
	assert_int_equal(crosvm_set_irq_routing(F.c, 2, r), 0);
	fh_expect("62 18 0a 06 08 01 12 02 10 01 0a 0e 08 18 1a 0a 08 80 80 80 f7 0f 10 c1 80 01");

	/* An empty table (routes may be NULL) still sends the member. */
	fh_send("6a 00");
	assert_int_equal(crosvm_set_irq_routing(F.c, 0, NULL), 0);
	fh_expect("62 00");

	fh_send("08 2c 6a 00");
	assert_int_equal(crosvm_set_irq_routing(F.c, 2, r), -EINVAL);
	fh_expect("62 18 0a 06 08 01 12 02 10 01 0a 0e 08 18 1a 0a 08 80 80 80 f7 0f 10 c1 80 01");

	/* An unknown kind anywhere in the list: nothing is sent. */
	r[1].kind = 2;
	assert_int_equal(crosvm_set_irq_routing(F.c, 2, r), -EINVAL);
	assert_int_equal(crosvm_set_irq_routing(F.c, 1, NULL), -EINVAL);
	fh_expect_none();
}

static void set_hypercall_hint(void **state)
{
	struct crosvm_hint_detail d[33];
	struct crosvm_hint h;

	(void)state;
	memset(d, 0, sizeof(d));
	memset(&h, 0, sizeof(h));
	d[0].match_rax = true;
	d[0].rax = 0x77;
	d[0].send_sregs = true;
	d[0].send_debugregs = true;
	h.address_space = CROSVM_ADDRESS_SPACE_IOPORT;
	h.address_flags = CROSVM_HINT_ON_WRITE;
	h.address = 0x500;
	h.details_count = 1;
	h.details = d;
	fh_send("a2 01 00");
	assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, &h), 0);
	fh_expect("9a 01 0f 10 80 0a 18 01 22 08 08 01 28 77 48 01 50 01");

	/* MMIO, reads, two details (the second matches anything); reserved bytes are ignored. */
	memset(d, 0, sizeof(d));
	d[0].match_rbx = d[0].match_rcx = d[0].match_rdx = true;
	d[0].rbx = 1;
	d[0].rcx = 2;
	d[0].rdx = 3;
	d[0]._reserved[0] = 9;
	d[1]._reserved2[5] = 9;
	h.address_space = CROSVM_ADDRESS_SPACE_MMIO;
	h.address_flags = 0;
	h.address = 0xfeed0000;
	h.details_count = 2;
	fh_send("a2 01 00");
	assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, &h), 0);
	fh_expect("9a 01 18 08 01 10 80 80 b4 f7 0f"
		  " 22 0c 10 01 18 01 20 01 30 01 38 02 40 03 22 00");

	/* Zero hints clear: space 0, address 0, no details (hints may be NULL). */
	fh_send("a2 01 00");
	assert_int_equal(crosvm_set_hypercall_hint(F.c, 0, NULL), 0);
	fh_expect("9a 01 00");

	fh_send("08 2c a2 01 00");
	assert_int_equal(crosvm_set_hypercall_hint(F.c, 0, NULL), -EINVAL);
	fh_expect("9a 01 00");

	/* Every local check sends nothing. */
	{
		struct crosvm_hint two[2] = { h, h }, b;

		assert_int_equal(crosvm_set_hypercall_hint(F.c, 2, two), -EINVAL);
		assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, NULL), -EINVAL);
		b = h;
		b.hint_version = 1;
		assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, &b), -EINVAL);
		b = h;
		b._reserved = 1;
		assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, &b), -EINVAL);
		b = h;
		b.address = 0;
		assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, &b), -EINVAL);
		b = h;
		b.address_flags = 2;
		assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, &b), -EINVAL);
		b = h;
		b.details_count = 33;
		assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, &b), -EINVAL);
		b = h;
		b.address_space = 2;
		assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, &b), -EINVAL);
		b = h;
		b.details = NULL;
		assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, &b), -EINVAL);
	}
	/* 32 details is the maximum and fits the request limit. */
	h.details_count = 32;
	fh_send("a2 01 00");
	assert_int_equal(crosvm_set_hypercall_hint(F.c, 1, &h), 0);
	{
		uint8_t buf[2048];

		/* 3-byte header, 3 + 32 * 2 detail bytes (all fields default but the tag). */
		assert_true(recv(F.sock, buf, sizeof(buf), MSG_DONTWAIT) > 0);
	}
	fh_expect_none();
}

struct vm_state_case {
	const char *name;
	const char *get_req;
	const char *set_hdr;
	const char *reply_hdr;
	size_t size;
	int (*get)(struct crosvm *, void *);
	int (*set)(struct crosvm *, const void *);
};

static int get_pic0(struct crosvm *c, void *p)
{
	return crosvm_get_pic_state(c, true, p);
}
static int set_pic0(struct crosvm *c, const void *p)
{
	return crosvm_set_pic_state(c, true, p);
}
static int get_pic1(struct crosvm *c, void *p)
{
	return crosvm_get_pic_state(c, false, p);
}
static int set_pic1(struct crosvm *c, const void *p)
{
	return crosvm_set_pic_state(c, false, p);
}
static int get_ioapic(struct crosvm *c, void *p)
{
	return crosvm_get_ioapic_state(c, p);
}
static int set_ioapic(struct crosvm *c, const void *p)
{
	return crosvm_set_ioapic_state(c, p);
}
static int get_pit(struct crosvm *c, void *p)
{
	return crosvm_get_pit_state(c, p);
}
static int set_pit(struct crosvm *c, const void *p)
{
	return crosvm_set_pit_state(c, p);
}
static int get_clock(struct crosvm *c, void *p)
{
	return crosvm_get_clock(c, p);
}
static int set_clock(struct crosvm *c, const void *p)
{
	return crosvm_set_clock(c, p);
}

static const struct vm_state_case vm_states[] = {
	{ "pic0", "6a 00", "72 12 12 10", "72 12 0a 10", 16, get_pic0, set_pic0 },
	{ "pic1", "6a 02 08 01", "72 14 08 01 12 10", "72 12 0a 10", 16, get_pic1, set_pic1 },
	{ "ioapic", "6a 02 08 02", "72 dd 01 08 02 12 d8 01", "72 db 01 0a d8 01", 216, get_ioapic,
	  set_ioapic },
	{ "pit", "6a 02 08 03", "72 74 08 03 12 70", "72 72 0a 70", 112, get_pit, set_pit },
	{ "clock", "6a 02 08 04", "72 34 08 04 12 30", "72 32 0a 30", 48, get_clock, set_clock },
};

/* A GetState reply (`tag` = the member's tag byte) carrying a len-byte image. */
static size_t state_reply(uint8_t *out, uint8_t tag, const uint8_t *img, size_t len)
{
	uint8_t inner[10];
	size_t n = 0, il;

	il = wire_varint_encode(len, inner);
	out[n++] = tag;
	n += wire_varint_encode(1 + il + len, out + n);
	out[n++] = 0x0a;
	memcpy(out + n, inner, il);
	n += il;
	memcpy(out + n, img, len);
	return n + len;
}

static void vm_state(void **state)
{
	uint8_t image[256], out[256], msg[512];
	size_t n;

	(void)state;
	for (size_t k = 0; k < sizeof(vm_states) / sizeof(vm_states[0]); k++) {
		const struct vm_state_case *sc = &vm_states[k];

		for (size_t i = 0; i < sc->size; i++)
			image[i] = (uint8_t)(i * 7 + k);

		/* get: exact image back */
		memset(out, 0, sizeof(out));
		n = fh_cat(msg, sizeof(msg), sc->reply_hdr, image, sc->size);
		fh_send_bytes_on(F.sock, msg, n, NULL, 0);
		assert_int_equal(sc->get(F.c, out), 0);
		fh_expect(sc->get_req);
		assert_memory_equal(out, image, sc->size);

		/* get: one byte short, missing member, errno */
		memset(out, 0xee, sizeof(out));
		n = state_reply(msg, 0x72, image, sc->size - 1);
		fh_send_bytes_on(F.sock, msg, n, NULL, 0);
		assert_int_equal(sc->get(F.c, out), -EPROTO);
		fh_expect(sc->get_req);
		n = state_reply(msg, 0x72, image, sc->size + 1);
		fh_send_bytes_on(F.sock, msg, n, NULL, 0);
		assert_int_equal(sc->get(F.c, out), -EPROTO);
		fh_expect(sc->get_req);
		fh_send("7a 00");
		assert_int_equal(sc->get(F.c, out), -EPROTO);
		fh_expect(sc->get_req);
		fh_send("72 00");
		assert_int_equal(sc->get(F.c, out), -EPROTO);
		fh_expect(sc->get_req);
		fh_send("08 2c 72 00");
		assert_int_equal(sc->get(F.c, out), -EINVAL);
		fh_expect(sc->get_req);
		for (size_t i = 0; i < sc->size; i++)
			assert_int_equal(out[i], 0xee);
		assert_int_equal(sc->get(F.c, NULL), -EINVAL);

		/* set: golden bytes, then errno */
		fh_send("7a 00");
		assert_int_equal(sc->set(F.c, image), 0);
		n = fh_cat(msg, sizeof(msg), sc->set_hdr, image, sc->size);
		{
			uint8_t got[512];

			assert_int_equal(recv(F.sock, got, sizeof(got), MSG_DONTWAIT), (ssize_t)n);
			assert_memory_equal(got, msg, n);
		}
		fh_send("08 2c 7a 00");
		assert_int_equal(sc->set(F.c, image), -EINVAL);
		assert_int_equal(recv(F.sock, out, sizeof(out), MSG_DONTWAIT) > 0, 1);
		assert_int_equal(sc->set(F.c, NULL), -EINVAL);
		fh_expect_none();
	}
}

static void set_identity_map_addr(void **state)
{
	(void)state;
	fh_send("82 01 00");
	assert_int_equal(crosvm_set_identity_map_addr(F.c, 0xfffbc000), 0);
	fh_expect("7a 06 08 80 80 ef ff 0f");
	fh_send("08 2c 82 01 00");
	assert_int_equal(crosvm_set_identity_map_addr(F.c, 0), -EINVAL);
	fh_expect("7a 00");
	fh_expect_none();
}

static void pause_vcpus(void **state)
{
	(void)state;
	fh_send("8a 01 00");
	assert_int_equal(crosvm_pause_vcpus(F.c, 3, (void *)0x1234), 0);
	fh_expect("82 01 05 08 03 10 b4 24");
	fh_send("8a 01 00");
	assert_int_equal(crosvm_pause_vcpus(F.c, 0, NULL), 0);
	fh_expect("82 01 00");
	fh_send("08 2c 8a 01 00");
	assert_int_equal(crosvm_pause_vcpus(F.c, 1, NULL), -EINVAL);
	fh_expect("82 01 02 08 01");
	assert_int_equal(crosvm_pause_vcpus(NULL, 1, NULL), -EINVAL);
	fh_expect_none();
}

static void start(void **state)
{
	(void)state;
	fh_send("9a 01 00");
	assert_int_equal(crosvm_start(F.c), 0);
	fh_expect("92 01 00");
	/* The second Start, as in docs/protocol.md §4.6. */
	fh_send("08 2c 9a 01 00");
	assert_int_equal(crosvm_start(F.c), -EINVAL);
	fh_expect("92 01 00");
	/* A reply with only unknown fields: start does not check presence. */
	fh_send("fa 7c 00");
	assert_int_equal(crosvm_start(F.c), 0);
	fh_expect("92 01 00");
	assert_int_equal(crosvm_start(NULL), -EINVAL);
	fh_expect_none();
}

#define T(name) cmocka_unit_test_setup_teardown(name, fh_setup, fh_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(connect_env_errors),
		cmocka_unit_test(connect_bad_replies),
		cmocka_unit_test(connect_ctrunc),
		T(connect_two_vcpus),
		cmocka_unit_test_setup_teardown(connect_twenty_vcpus, fh_setup20, fh_teardown),
		T(new_connection),
		T(new_connection_errors),
		T(destroy_first_connection_keeps_vcpus),
		T(host_closed),
		T(request_too_big),
		T(reply_too_big),
		T(get_shutdown_eventfd),
		T(check_extension),
		T(enable_capability),
		T(get_supported_cpuid),
		T(get_emulated_cpuid),
		T(get_msr_index_list),
		T(net_get_config),
		T(reserve_range),
		T(reserve_async_write_range),
		T(set_irq),
		T(set_irq_routing),
		T(set_hypercall_hint),
		T(vm_state),
		T(set_identity_map_addr),
		T(pause_vcpus),
		T(start),
	};

	signal(SIGPIPE, SIG_DFL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
