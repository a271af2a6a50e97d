// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Fuzzes common/wire.c, the framing both peers trust: the varint codec and
 * the frame reader are checked against a tiny independent reference
 * decoder (a difference is a finding, not just a crash), and the datagram
 * path runs over a real socketpair with fuzzer-chosen descriptor counts,
 * receive caps and buffer sizes, checking flags, fd ownership and leaks.
 *
 * Input: byte 0 selects the part, the rest drives it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "wire.h"

/* The reference: at most 5 bytes, at most 32 bits, as docs/protocol.md §4.1 says. */
static int ref_varint32(const uint8_t *p, size_t len, uint32_t *ret)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && i < 5; i++) {
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80))
			break;
	}
	if (i == 5)
		return -EPROTO;
	if (i == len)
		return 0;
	if (v > UINT32_MAX)
		return -EPROTO;
	*ret = (uint32_t)v;
	return (int)i + 1;
}

static void fuzz_varint(const uint8_t *d, size_t n)
{
	uint32_t a = 0xdeadbeef, b = 0xdeadbeef;
	int ra = wire_varint_decode32(d, n, &a), rb = ref_varint32(d, n, &b);

	FUZZ_CHECK(ra == rb, "varint decode %d, reference %d", ra, rb);
	if (ra > 0)
		FUZZ_CHECK(a == b, "varint value %u, reference %u", a, b);
	/* Round trip of any 32-bit value found in the input. */
	if (n >= 4) {
		uint32_t v, got = 0;
		uint8_t enc[10];
		size_t len;

		memcpy(&v, d, 4);
		len = wire_varint_encode(v, enc);
		FUZZ_CHECK(len >= 1 && len <= 5, "encoded length %zu", len);
		FUZZ_CHECK(wire_varint_decode32(enc, len, &got) == (int)len && got == v,
			   "round trip of %u", v);
		FUZZ_CHECK(wire_varint_decode32(enc, len - 1, &got) == 0, "short varint not 0");
	}
}

/*
 * Pushes a stream in fuzzer-sized chunks and compares every answer of the
 * reader with what the reference parser finds in the bytes pushed so far.
 */
static void fuzz_frames(const uint8_t *d, size_t n)
{
	struct wire_frames fr;
	uint8_t *stream;
	size_t *bounds, nb = 0, slen = 0, pos = 0, pushed = 0, ref = 0, max_msg;

	if (n < 2)
		return;
	max_msg = d[0] & 0x80 ? WIRE_VCPU_MESSAGE_MAX : (size_t)(d[0] & 0x7f) * 3;
	d++;
	n--;
	stream = malloc(n);
	bounds = malloc(n * sizeof(*bounds));
	if (!stream || !bounds || wire_frames_init(&fr, max_msg) < 0)
		goto out_free;
	while (pos < n) {
		size_t chunk = 1 + d[pos] % 64;

		pos++;
		if (chunk > n - pos)
			chunk = n - pos;
		memcpy(stream + slen, d + pos, chunk);
		slen += chunk;
		pos += chunk;
		bounds[nb++] = slen;
	}
	for (size_t b = 0; b < nb; b++) {
		if (wire_frames_push(&fr, stream + pushed, bounds[b] - pushed) < 0)
			break;
		pushed = bounds[b];
		for (;;) {
			const uint8_t *msg;
			size_t len;
			uint32_t want = 0;
			size_t pending = wire_frames_pending(&fr);
			int r = wire_frames_next(&fr, &msg, &len);
			int rr = ref_varint32(stream + ref, pushed - ref, &want);

			FUZZ_CHECK(pending == pushed - ref, "pending %zu, expected %zu", pending,
				   pushed - ref);
			if (r == 0) {
				FUZZ_CHECK(rr == 0 || (rr > 0 && want <= max_msg &&
						       pushed - ref - (size_t)rr < want),
					   "reader wants more, reference %d/%u", rr, want);
				break;
			}
			if (r < 0) {
				FUZZ_CHECK(rr < 0 || (rr > 0 && want > max_msg),
					   "reader failed where the reference did not");
				goto out_frames;
			}
			FUZZ_CHECK(rr > 0 && want <= max_msg && len == want &&
					   memcmp(msg, stream + ref + rr, want) == 0,
				   "frame of %zu bytes, reference %d/%u", len, rr, want);
			ref += (size_t)rr + want;
		}
	}
out_frames:
	wire_frames_free(&fr);
out_free:
	free(stream);
	free(bounds);
}

/* Framed writes on a pipe come back identical through wire_frames_fill(). */
static void fuzz_pipe(const uint8_t *d, size_t n)
{
	struct wire_frames fr;
	int p[2];
	size_t pos = 0;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return;
	if (wire_frames_init(&fr, 4096) < 0)
		goto out_pipe;
	while (pos < n) {
		size_t len = d[pos++] * 17u % 5000u;
		const uint8_t *msg;
		size_t got;
		int r;

		if (len > n - pos)
			len = n - pos;
		r = wire_write_framed(p[1], d + pos, len);
		FUZZ_CHECK(r == 0, "framed write of %zu: %d", len, r);
		for (;;) {
			ssize_t f;

			r = wire_frames_next(&fr, &msg, &got);
			if (r != 0)
				break;
			f = wire_frames_fill(&fr, p[0]);
			if (f < 0) {
				/* Only a message larger than the reader allows may stop it. */
				FUZZ_CHECK(len > 4096, "fill failed: %zd", f);
				break;
			}
		}
		if (len > 4096) {
			FUZZ_CHECK(r < 0, "oversized message accepted");
			break;
		}
		FUZZ_CHECK(r == 1 && got == len && memcmp(msg, d + pos, len) == 0,
			   "pipe round trip of %zu bytes", len);
		pos += len;
	}
	wire_frames_free(&fr);
out_pipe:
	close(p[0]);
	close(p[1]);
}

/* Datagrams with descriptors: counts, caps, truncation, ownership and no leaks. */
static void fuzz_dgram(const uint8_t *d, size_t n)
{
	int sv[2], ev, fds[300], got[300];
	size_t nfds, max_fds, cap, len, nrecv = 0;
	unsigned flags = 0;
	uint8_t buf[512];
	ssize_t r;
	int s, probe;

	if (n < 4)
		return;
	nfds = (size_t)d[0] + (d[1] & 1 ? 40 : 0);
	max_fds = d[2] % 260;
	cap = d[3] % (sizeof(buf) + 1);
	d += 4;
	n -= 4;
	len = n < sizeof(buf) ? n : sizeof(buf);
	probe = fuzz_lowest_free_fd();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	ev = eventfd(0, EFD_CLOEXEC);
	for (size_t i = 0; i < nfds; i++)
		fds[i] = ev;
	s = wire_send(sv[0], d, len, fds, nfds);
	if (nfds > WIRE_MAX_FDS) {
		FUZZ_CHECK(s == -EINVAL, "send of %zu fds: %d", nfds, s);
		goto out;
	}
	if (len == 0 && nfds == 0) {
		/* An empty datagram reads as EOF on SEQPACKET: the framing never sends one. */
		goto out;
	}
	FUZZ_CHECK(s == 0, "send: %d", s);
	r = wire_recv(sv[1], buf, cap, got, max_fds, &nrecv, &flags);
	FUZZ_CHECK(r >= 0, "recv: %zd", r);
	FUZZ_CHECK((size_t)r <= cap, "recv stored %zd > cap %zu", r, cap);
	FUZZ_CHECK(!!(flags & WIRE_RECV_TRUNC) == (len > cap), "TRUNC flag %u for %zu/%zu", flags,
		   len, cap);
	FUZZ_CHECK(memcmp(buf, d, (size_t)r) == 0, "payload differs");
	FUZZ_CHECK(nrecv <= max_fds, "%zu fds stored, cap %zu", nrecv, max_fds);
	FUZZ_CHECK(nrecv == (nfds < max_fds ? nfds : max_fds), "%zu of %zu fds (cap %zu)", nrecv,
		   nfds, max_fds);
	FUZZ_CHECK(!!(flags & WIRE_RECV_CTRUNC) == (nfds > max_fds), "CTRUNC flag %u (%zu/%zu)",
		   flags, nfds, max_fds);
	for (size_t i = 0; i < nrecv; i++) {
		int fl = fcntl(got[i], F_GETFD);

		FUZZ_CHECK(fl >= 0 && (fl & FD_CLOEXEC), "received fd %d not open/cloexec", got[i]);
	}
	wire_close_fds(got, nrecv);
out:
	close(ev);
	close(sv[0]);
	close(sv[1]);
	/* Descriptors beyond the cap must have been closed, not leaked. */
	FUZZ_CHECK(fuzz_lowest_free_fd() == probe, "descriptor leak (lowest free fd %d, was %d)",
		   fuzz_lowest_free_fd(), probe);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_varint(data + 1, size - 1);
		break;
	case 1:
		fuzz_frames(data + 1, size - 1);
		break;
	case 2:
		fuzz_pipe(data + 1, size - 1);
		break;
	default:
		fuzz_dgram(data + 1, size - 1);
		break;
	}
	return 0;
}
