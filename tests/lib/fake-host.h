/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * A scripted fake host for the client library tests.  The test plays the
 * host over a real SOCK_SEQPACKET socketpair and real pipes: replies are
 * queued *before* the library call (the kernel buffers them, so no thread is
 * needed), and the request the library sent is read back afterwards and
 * compared byte for byte with a golden string.
 */
#ifndef PLUGVM_TESTS_CLIENT_FAKE_HOST_H
#define PLUGVM_TESTS_CLIENT_FAKE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "crosvm.h"

#define FH_MAX_VCPUS 20

struct fake_host {
	int sock;                      /* host end of the main connection */
	int nvcpus;
	int req_rd[FH_MAX_VCPUS];      /* host reads vcpu requests here (non-blocking) */
	int resp_wr[FH_MAX_VCPUS];     /* host writes framed vcpu responses here */
	struct crosvm *c;
	struct crosvm_vcpu *v[FH_MAX_VCPUS];
	int fds_at_start;
};

extern struct fake_host F;

int fh_count_fds(void);

/* Connects a library instance with n vcpus through a scripted GetVcpus. */
int fh_setup_n(int n);
int fh_setup(void **state);
int fh_setup20(void **state);
/* Destroys the connection, closes the host ends and checks that no descriptor leaked. */
int fh_teardown(void **state);

/* "0a 00" -> bytes; returns the length. */
size_t fh_unhex(const char *hex, uint8_t *out, size_t cap);

/* Main connection, host side. */
void fh_send_on(int sock, const char *hex, const int *fds, size_t nfds);
void fh_send_bytes_on(int sock, const uint8_t *buf, size_t len, const int *fds, size_t nfds);
#define fh_send(hex) fh_send_on(F.sock, (hex), NULL, 0)
#define fh_send_fds(hex, fds, n) fh_send_on(F.sock, (hex), (fds), (n))
/* Reads the pending request (it must already be there) and compares it; no fds allowed. */
void fh_expect_on(int sock, const char *hex);
#define fh_expect(hex) fh_expect_on(F.sock, (hex))
/* Same, returning the attached descriptors (exactly `want` of them). */
void fh_expect_fds(const char *hex, int *fds, size_t want);
/* Asserts that the library sent nothing. */
void fh_expect_none_on(int sock);
#define fh_expect_none() fh_expect_none_on(F.sock)

/* vcpu channel, host side. */
void fh_vcpu_send(int i, const char *hex);
void fh_vcpu_send_bytes(int i, const uint8_t *msg, size_t len);
/* Reads every pending request byte of vcpu i and compares them with exp. */
void fh_vcpu_expect_bytes(int i, const uint8_t *exp, size_t len);
void fh_vcpu_expect(int i, const char *hex);
void fh_vcpu_expect_none(int i);

/* hdr (hex) followed by n payload bytes, for large golden messages. */
size_t fh_cat(uint8_t *out, size_t cap, const char *hdr, const void *payload, size_t n);

/* Runs the Init handshake on vcpu i: Wait request, Init event. */
void fh_vcpu_init(int i);

#endif /* PLUGVM_TESTS_CLIENT_FAKE_HOST_H */
