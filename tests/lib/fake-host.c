// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake-host.h"
#include "wire.h"

struct fake_host F;

int fh_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

size_t fh_unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (*hex) {
		unsigned v;

		if (*hex == ' ') {
			hex++;
			continue;
		}
		assert_true(n < cap);
		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

static void tohex(const uint8_t *b, size_t n, char *out)
{
	out[0] = 0;
	for (size_t i = 0; i < n; i++)
		sprintf(out + 3 * i, i ? " %02x" : "%02x", b[i]);
	if (n)
		out[3 * n - 1] = 0;
}

static void expect_equal_bytes(const uint8_t *got, size_t got_len, const uint8_t *exp,
			       size_t exp_len)
{
	if (got_len != exp_len || memcmp(got, exp, exp_len) != 0) {
		char *g = malloc(3 * got_len + 2), *e = malloc(3 * exp_len + 2);

		tohex(got, got_len, g);
		tohex(exp, exp_len, e);
		print_error("request bytes differ\n  got:      %s\n  expected: %s\n", g, e);
		free(g);
		free(e);
		fail();
	}
}

size_t fh_cat(uint8_t *out, size_t cap, const char *hdr, const void *payload, size_t n)
{
	size_t h = fh_unhex(hdr, out, cap);

	assert_true(h + n <= cap);
	if (n)
		memcpy(out + h, payload, n);
	return h + n;
}

void fh_send_bytes_on(int sock, const uint8_t *buf, size_t len, const int *fds, size_t nfds)
{
	assert_int_equal(wire_send(sock, buf, len, fds, nfds), 0);
}

void fh_send_on(int sock, const char *hex, const int *fds, size_t nfds)
{
	uint8_t buf[8192];

	fh_send_bytes_on(sock, buf, fh_unhex(hex, buf, sizeof(buf)), fds, nfds);
}

static void expect_ready(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN)) {
		print_error("the library sent no request\n");
		fail();
	}
}

static void expect_request(int sock, const char *hex, int *fds, size_t want)
{
	uint8_t got[8192], exp[8192];
	int rfds[WIRE_MAX_FDS];
	size_t nfds = 0;
	unsigned flags;
	ssize_t n;

	expect_ready(sock);
	n = wire_recv(sock, got, sizeof(got), rfds, WIRE_MAX_FDS, &nfds, &flags);
	assert_true(n > 0);
	assert_int_equal(flags, 0);
	expect_equal_bytes(got, (size_t)n, exp, fh_unhex(hex, exp, sizeof(exp)));
	if (nfds != want) {
		wire_close_fds(rfds, nfds);
		print_error("expected %zu fds with the request, got %zu\n", want, nfds);
		fail();
	}
	for (size_t i = 0; i < nfds; i++)
		fds[i] = rfds[i];
}

void fh_expect_on(int sock, const char *hex)
{
	expect_request(sock, hex, NULL, 0);
}

void fh_expect_fds(const char *hex, int *fds, size_t want)
{
	expect_request(F.sock, hex, fds, want);
}

void fh_expect_none_on(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };

	if (poll(&p, 1, 0) != 0) {
		print_error("the library sent a request where none was expected\n");
		fail();
	}
}

void fh_vcpu_send_bytes(int i, const uint8_t *msg, size_t len)
{
	assert_int_equal(wire_write_framed(F.resp_wr[i], msg, len), 0);
}

void fh_vcpu_send(int i, const char *hex)
{
	uint8_t buf[8192];

	fh_vcpu_send_bytes(i, buf, fh_unhex(hex, buf, sizeof(buf)));
}

void fh_vcpu_expect_bytes(int i, const uint8_t *exp, size_t len)
{
	static uint8_t got[65536];
	size_t n = 0;

	for (;;) {
		ssize_t r = read(F.req_rd[i], got + n, sizeof(got) - n);

		if (r < 0 && errno == EAGAIN)
			break;
		assert_true(r > 0);
		n += (size_t)r;
	}
	if (n == 0) {
		print_error("vcpu %d: the library sent no request\n", i);
		fail();
	}
	expect_equal_bytes(got, n, exp, len);
}

void fh_vcpu_expect(int i, const char *hex)
{
	uint8_t exp[8192];

	fh_vcpu_expect_bytes(i, exp, fh_unhex(hex, exp, sizeof(exp)));
}

void fh_vcpu_expect_none(int i)
{
	uint8_t b;

	if (read(F.req_rd[i], &b, 1) != -1 || errno != EAGAIN) {
		print_error("vcpu %d: the library sent a request where none was expected\n", i);
		fail();
	}
}

void fh_vcpu_init(int i)
{
	struct crosvm_vcpu_event ev;

	fh_vcpu_send(i, "12 02 0a 00");
	assert_int_equal(crosvm_vcpu_wait(F.v[i], &ev), 0);
	assert_int_equal(ev.kind, CROSVM_VCPU_EVENT_KIND_INIT);
	fh_vcpu_expect(i, "0a 00");
}

int fh_setup_n(int n)
{
	int sv[2], fds[2 * FH_MAX_VCPUS];
	char num[16];

	memset(&F, 0, sizeof(F));
	F.sock = -1;
	F.fds_at_start = fh_count_fds();
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	F.sock = sv[0];
	snprintf(num, sizeof(num), "%d", sv[1]);
	setenv("CROSVM_SOCKET", num, 1);

	F.nvcpus = n;
	for (int i = 0; i < n; i++) {
		int to_host[2], to_plugin[2];

		assert_int_equal(pipe2(to_host, O_CLOEXEC), 0);
		assert_int_equal(pipe2(to_plugin, O_CLOEXEC), 0);
		F.req_rd[i] = to_host[0];
		assert_int_equal(fcntl(F.req_rd[i], F_SETFL, O_NONBLOCK), 0);
		F.resp_wr[i] = to_plugin[1];
		fds[2 * i] = to_host[1];
		fds[2 * i + 1] = to_plugin[0];
	}
	fh_send_fds("92 01 00", fds, (size_t)(2 * n));
	/* The datagram holds its own references; the plugin ends live only in the library now. */
	for (int i = 0; i < 2 * n; i++)
		close(fds[i]);
	assert_int_equal(crosvm_connect(&F.c), 0);
	fh_expect("8a 01 00");
	for (int i = 0; i < n; i++)
		assert_int_equal(crosvm_get_vcpu(F.c, (uint32_t)i, &F.v[i]), 0);
	return 0;
}

int fh_setup(void **state)
{
	(void)state;
	return fh_setup_n(2);
}

int fh_setup20(void **state)
{
	(void)state;
	return fh_setup_n(20);
}

int fh_teardown(void **state)
{
	(void)state;
	if (F.c)
		assert_int_equal(crosvm_destroy_connection(&F.c), 0);
	assert_null(F.c);
	if (F.sock >= 0)
		close(F.sock);
	for (int i = 0; i < F.nvcpus; i++) {
		if (F.req_rd[i] >= 0)
			close(F.req_rd[i]);
		if (F.resp_wr[i] >= 0)
			close(F.resp_wr[i]);
	}
	unsetenv("CROSVM_SOCKET");
	assert_int_equal(fh_count_fds(), F.fds_at_start);
	return 0;
}
