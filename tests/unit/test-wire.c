// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Unit tests of the shared framing code and of the wire encoding: every
 * golden byte string below is taken from the protocol specification, so a
 * change to plugin.proto that breaks crosvm compatibility fails here.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugin.pb-c.h"
#include "wire.h"

static void varint_roundtrip(void **state)
{
	static const uint32_t values[] = { 0, 1, 127, 128, 300, 16383, 16384, 0x40000, UINT32_MAX };
	uint8_t buf[10];

	(void)state;
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		size_t n = wire_varint_encode(values[i], buf);
		uint32_t v = 0;

		assert_int_equal(wire_varint_decode32(buf, n, &v), (int)n);
		assert_int_equal(v, values[i]);
		/* Every strict prefix is incomplete, not an error. */
		for (size_t k = 0; k < n; k++)
			assert_int_equal(wire_varint_decode32(buf, k, &v), 0);
	}
	assert_int_equal(wire_varint_encode(300, buf), 2);
	assert_int_equal(buf[0], 0xac);
	assert_int_equal(buf[1], 0x02);
}

static void varint_rejects_overlong(void **state)
{
	const uint8_t six[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
	const uint8_t big[] = { 0xff, 0xff, 0xff, 0xff, 0x7f }; /* 35 bits */
	uint32_t v;

	(void)state;
	assert_int_equal(wire_varint_decode32(six, sizeof(six), &v), -EPROTO);
	assert_int_equal(wire_varint_decode32(big, sizeof(big), &v), -EPROTO);
}

static void frames_several_in_one_read(void **state)
{
	/* Three framed async-write events arriving in a single read. */
	const uint8_t one[] = { 0x0c, 0x12, 0x0a, 0x12, 0x08, 0x10, 0xf8, 0x07,
				0x18, 0x01, 0x2a, 0x01, 0x39 };
	uint8_t stream[3 * sizeof(one)];
	struct wire_frames fr;
	const uint8_t *msg;
	size_t len;

	(void)state;
	for (int i = 0; i < 3; i++)
		memcpy(stream + i * sizeof(one), one, sizeof(one));
	assert_int_equal(wire_frames_init(&fr, 4096), 0);
	assert_int_equal(wire_frames_push(&fr, stream, sizeof(stream)), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(wire_frames_next(&fr, &msg, &len), 1);
		assert_int_equal(len, 12);
		assert_memory_equal(msg, one + 1, 12);
	}
	assert_int_equal(wire_frames_next(&fr, &msg, &len), 0);
	assert_int_equal(wire_frames_pending(&fr), 0);
	wire_frames_free(&fr);
}

static void frames_split_across_reads(void **state)
{
	const uint8_t framed[] = { 0x03, 0x08, 0x8e, 0x01, 0x04, 0x12, 0x02, 0x0a, 0x00 };
	struct wire_frames fr;
	const uint8_t *msg;
	size_t len;

	(void)state;
	assert_int_equal(wire_frames_init(&fr, 4096), 0);
	/* Byte by byte: nothing is lost or returned early. */
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(wire_frames_push(&fr, framed + i, 1), 0);
		assert_int_equal(wire_frames_next(&fr, &msg, &len), 0);
	}
	assert_int_equal(wire_frames_push(&fr, framed + 3, 2), 0);
	assert_int_equal(wire_frames_next(&fr, &msg, &len), 1);
	assert_int_equal(len, 3);
	assert_memory_equal(msg, framed + 1, 3);
	assert_int_equal(wire_frames_next(&fr, &msg, &len), 0);
	assert_int_equal(wire_frames_push(&fr, framed + 5, 4), 0);
	assert_int_equal(wire_frames_next(&fr, &msg, &len), 1);
	assert_int_equal(len, 4);
	wire_frames_free(&fr);
}

static void frames_oversize_and_garbage(void **state)
{
	uint8_t prefix[10];
	size_t n;
	struct wire_frames fr;
	const uint8_t *msg;
	size_t len;
	const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	(void)state;
	assert_int_equal(wire_frames_init(&fr, 64), 0);
	n = wire_varint_encode(65, prefix);
	assert_int_equal(wire_frames_push(&fr, prefix, n), 0);
	assert_int_equal(wire_frames_next(&fr, &msg, &len), -EPROTO);
	wire_frames_free(&fr);

	assert_int_equal(wire_frames_init(&fr, 64), 0);
	assert_int_equal(wire_frames_push(&fr, garbage, sizeof(garbage)), 0);
	assert_int_equal(wire_frames_next(&fr, &msg, &len), -EPROTO);
	wire_frames_free(&fr);
}

static void frames_pipe_roundtrip(void **state)
{
	int p[2];
	struct wire_frames fr;
	uint8_t big[5000];
	const uint8_t *msg;
	size_t len;

	(void)state;
	assert_int_equal(pipe(p), 0);
	memset(big, 0x5a, sizeof(big));
	assert_int_equal(wire_write_framed(p[1], "ab", 2), 0);
	assert_int_equal(wire_write_framed(p[1], big, sizeof(big)), 0);
	assert_int_equal(wire_write_framed(p[1], "", 0), 0);
	close(p[1]);
	assert_int_equal(wire_frames_init(&fr, 8192), 0);
	for (int want = 0; want < 3;) {
		int r = wire_frames_next(&fr, &msg, &len);

		assert_true(r >= 0);
		if (r == 0) {
			assert_true(wire_frames_fill(&fr, p[0]) > 0);
			continue;
		}
		if (want == 0)
			assert_memory_equal(msg, "ab", 2);
		else if (want == 1)
			assert_int_equal(len, sizeof(big));
		else
			assert_int_equal(len, 0);
		want++;
	}
	assert_int_equal(wire_frames_fill(&fr, p[0]), 0); /* EOF */
	wire_frames_free(&fr);
	close(p[0]);
	assert_int_equal(wire_write_framed(0, big, WIRE_VCPU_MESSAGE_MAX + 1), -EMSGSIZE);
}

static void seqpacket_fds(void **state)
{
	int sv[2], fds[4], got[4];
	size_t nfds;
	unsigned flags;
	char buf[16];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	for (int i = 0; i < 4; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	assert_int_equal(wire_send(sv[0], "hello", 5, fds, 4), 0);
	assert_int_equal(wire_recv(sv[1], buf, sizeof(buf), got, 4, &nfds, &flags), 5);
	assert_int_equal(nfds, 4);
	assert_int_equal(flags, 0);
	for (int i = 0; i < 4; i++) {
		assert_true(fcntl(got[i], F_GETFD) & FD_CLOEXEC);
		/* Same file: a write through one is readable through the other. */
		uint64_t v = 1;
		assert_int_equal(write(fds[i], &v, 8), 8);
		assert_int_equal(read(got[i], &v, 8), 8);
	}
	wire_close_fds(got, 4);

	/* More fds than the caller accepts: extras closed, CTRUNC reported. */
	assert_int_equal(wire_send(sv[0], "x", 1, fds, 4), 0);
	assert_int_equal(wire_recv(sv[1], buf, sizeof(buf), got, 1, &nfds, &flags), 1);
	assert_int_equal(nfds, 1);
	assert_true(flags & WIRE_RECV_CTRUNC);
	wire_close_fds(got, 1);

	/* Truncated datagram is reported. */
	assert_int_equal(wire_send(sv[0], "0123456789abcdefXYZ", 19, NULL, 0), 0);
	assert_int_equal(wire_peek_size(sv[1]), 19);
	assert_int_equal(wire_recv(sv[1], buf, 4, NULL, 0, &nfds, &flags), 4);
	assert_true(flags & WIRE_RECV_TRUNC);

	/* EOF is a zero-length receive. */
	close(sv[0]);
	assert_int_equal(wire_recv(sv[1], buf, sizeof(buf), got, 4, &nfds, &flags), 0);
	assert_int_equal(wire_send(sv[1], "x", 1, NULL, 0), -EPIPE);
	wire_close_fds(fds, 4);
	close(sv[1]);
	assert_int_equal(wire_send(sv[1], "x", 1, fds, WIRE_MAX_FDS + 1), -EINVAL);
}

/* Packs a message into a fresh buffer and compares it with the expected bytes. */
static void expect_packed(const ProtobufCMessage *m, const uint8_t *want, size_t want_len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n + 1);

	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(m, buf), n);
	assert_int_equal(n, want_len);
	assert_memory_equal(buf, want, want_len);
	free(buf);
}

static void golden_vcpu_messages(void **state)
{
	(void)state;
	{
		Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
		Plugvm__VcpuRequest__Wait w = PLUGVM__VCPU_REQUEST__WAIT__INIT;
		const uint8_t want[] = { 0x0a, 0x00 };

		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_WAIT;
		req.wait = &w;
		expect_packed(&req.base, want, sizeof(want));
	}
	{
		Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
		Plugvm__VcpuRequest__Resume r = PLUGVM__VCPU_REQUEST__RESUME__INIT;
		uint8_t data[] = { 1, 2 };
		const uint8_t want[] = { 0x12, 0x04, 0x0a, 0x02, 0x01, 0x02 };

		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_RESUME;
		req.resume = &r;
		r.data.data = data;
		r.data.len = 2;
		expect_packed(&req.base, want, sizeof(want));
	}
	{
		Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
		Plugvm__VcpuRequest__Shutdown s = PLUGVM__VCPU_REQUEST__SHUTDOWN__INIT;
		const uint8_t want[] = { 0x42, 0x00 };

		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN;
		req.shutdown = &s;
		expect_packed(&req.base, want, sizeof(want));
	}
	{
		/* IO write, port 0x3f8, data "9" (unframed part). */
		Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
		Plugvm__VcpuResponse__Wait w = PLUGVM__VCPU_RESPONSE__WAIT__INIT;
		Plugvm__VcpuResponse__Wait__Io io = PLUGVM__VCPU_RESPONSE__WAIT__IO__INIT;
		uint8_t nine = '9';
		const uint8_t want[] = { 0x12, 0x0a, 0x12, 0x08, 0x10, 0xf8, 0x07,
					 0x18, 0x01, 0x2a, 0x01, 0x39 };

		resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT;
		resp.wait = &w;
		w.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_IO;
		w.io = &io;
		io.address = 0x3f8;
		io.is_write = 1;
		io.data.data = &nine;
		io.data.len = 1;
		expect_packed(&resp.base, want, sizeof(want));
	}
	{
		Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
		const uint8_t want[] = { 0x08, 0x8e, 0x01 };

		resp.errnum = EPROTO;
		expect_packed(&resp.base, want, sizeof(want));
	}
	{
		Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
		Plugvm__VcpuResponse__Wait w = PLUGVM__VCPU_RESPONSE__WAIT__INIT;
		Plugvm__VcpuResponse__Wait__User u = PLUGVM__VCPU_RESPONSE__WAIT__USER__INIT;
		const uint8_t want[] = { 0x12, 0x02, 0x1a, 0x00 };

		resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT;
		resp.wait = &w;
		w.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER;
		w.user = &u;
		expect_packed(&resp.base, want, sizeof(want));
	}
}

static void golden_main_messages(void **state)
{
	(void)state;
	{
		Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
		Plugvm__MainRequest__ReserveRange rr = PLUGVM__MAIN_REQUEST__RESERVE_RANGE__INIT;
		const uint8_t want[] = { 0x52, 0x05, 0x10, 0xf8, 0x07, 0x18, 0x01 };

		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_RESERVE_RANGE;
		req.reserve_range = &rr;
		rr.start = 0x3f8;
		rr.length = 1;
		expect_packed(&req.base, want, sizeof(want));
	}
	{
		Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
		Plugvm__MainRequest__GetVcpus gv = PLUGVM__MAIN_REQUEST__GET_VCPUS__INIT;
		const uint8_t want[] = { 0x8a, 0x01, 0x00 };

		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_VCPUS;
		req.get_vcpus = &gv;
		expect_packed(&req.base, want, sizeof(want));
	}
	{
		Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
		Plugvm__MainRequest__MemoryDirtyLog dl = PLUGVM__MAIN_REQUEST__MEMORY_DIRTY_LOG__INIT;
		const uint8_t want[] = { 0xaa, 0x06, 0x02, 0x08, 0x03 };

		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DIRTY_LOG;
		req.dirty_log = &dl;
		dl.id = 3;
		expect_packed(&req.base, want, sizeof(want));
	}
	{
		Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
		Plugvm__MainRequest__Create c = PLUGVM__MAIN_REQUEST__CREATE__INIT;
		Plugvm__MainRequest__Create__IrqEvent ie =
			PLUGVM__MAIN_REQUEST__CREATE__IRQ_EVENT__INIT;
		const uint8_t want[] = { 0x0a, 0x08, 0x08, 0x01, 0x22, 0x04, 0x08, 0x04, 0x10, 0x01 };

		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CREATE;
		req.create = &c;
		c.id = 1;
		c.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_IRQ_EVENT;
		c.irq_event = &ie;
		ie.irq_id = 4;
		ie.resample = 1;
		expect_packed(&req.base, want, sizeof(want));
	}
	{
		Plugvm__MainResponse resp = PLUGVM__MAIN_RESPONSE__INIT;
		Plugvm__MainResponse__ReserveRange rr = PLUGVM__MAIN_RESPONSE__RESERVE_RANGE__INIT;
		const uint8_t want[] = { 0x08, 0x02, 0x5a, 0x00 };

		resp.errnum = EPERM;
		resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_RESERVE_RANGE;
		resp.reserve_range = &rr;
		expect_packed(&resp.base, want, sizeof(want));
	}
	{
		Plugvm__MainResponse resp = PLUGVM__MAIN_RESPONSE__INIT;
		Plugvm__MainResponse__Start st = PLUGVM__MAIN_RESPONSE__START__INIT;
		const uint8_t want[] = { 0x08, 0x2c, 0x9a, 0x01, 0x00 };

		resp.errnum = EINVAL;
		resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_START;
		resp.start = &st;
		expect_packed(&resp.base, want, sizeof(want));
	}
	{
		Plugvm__MainResponse resp = PLUGVM__MAIN_RESPONSE__INIT;
		const uint8_t want[] = { 0x08, 0x32 };

		resp.errnum = ENOTTY;
		expect_packed(&resp.base, want, sizeof(want));
	}
	{
		Plugvm__MainResponse resp = PLUGVM__MAIN_RESPONSE__INIT;
		Plugvm__MainResponse__GetMsrIndexList ml =
			PLUGVM__MAIN_RESPONSE__GET_MSR_INDEX_LIST__INIT;
		uint32_t idx[] = { 0x10, 0x1b, 0x3a };
		const uint8_t want[] = { 0x4a, 0x05, 0x0a, 0x03, 0x10, 0x1b, 0x3a };

		resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_GET_MSR_INDEX_LIST;
		resp.get_msr_index_list = &ml;
		ml.indices = idx;
		ml.n_indices = 3;
		expect_packed(&resp.base, want, sizeof(want));
	}
	{
		Plugvm__MainResponse resp = PLUGVM__MAIN_RESPONSE__INIT;
		Plugvm__MainResponse__CheckExtension ce =
			PLUGVM__MAIN_RESPONSE__CHECK_EXTENSION__INIT;
		const uint8_t want[] = { 0x32, 0x00 };

		resp.message_case = PLUGVM__MAIN_RESPONSE__MESSAGE_CHECK_EXTENSION;
		resp.check_extension = &ce;
		expect_packed(&resp.base, want, sizeof(want));
	}
	{
		/* 100.115.92.5 as sin_addr.s_addr read natively: octets in dotted order. */
		Plugvm__MainResponse__GetNetConfig nc = PLUGVM__MAIN_RESPONSE__GET_NET_CONFIG__INIT;
		const uint8_t want[] = { 0x15, 0x64, 0x73, 0x5c, 0x05, 0x1d, 0xff, 0xff, 0xff, 0xfc };
		const uint8_t ip[4] = { 100, 115, 92, 5 }, mask[4] = { 255, 255, 255, 252 };

		memcpy(&nc.host_ipv4_address, ip, 4);
		memcpy(&nc.netmask, mask, 4);
		expect_packed(&nc.base, want, sizeof(want));
	}
}

static void decode_unpacked_repeated(void **state)
{
	/* Decoders must accept the unpacked form of repeated scalars too. */
	const uint8_t unpacked[] = { 0x4a, 0x06, 0x08, 0x10, 0x08, 0x1b, 0x08, 0x3a };
	Plugvm__MainResponse *resp;

	(void)state;
	resp = plugvm__main_response__unpack(NULL, sizeof(unpacked), unpacked);
	assert_non_null(resp);
	assert_int_equal(resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_GET_MSR_INDEX_LIST);
	assert_int_equal(resp->get_msr_index_list->n_indices, 3);
	assert_int_equal(resp->get_msr_index_list->indices[2], 0x3a);
	plugvm__main_response__free_unpacked(resp, NULL);

	/* A truncated message fails to decode rather than reading past the end. */
	resp = plugvm__main_response__unpack(NULL, sizeof(unpacked) - 1, unpacked);
	assert_null(resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(varint_roundtrip),
		cmocka_unit_test(varint_rejects_overlong),
		cmocka_unit_test(frames_several_in_one_read),
		cmocka_unit_test(frames_split_across_reads),
		cmocka_unit_test(frames_oversize_and_garbage),
		cmocka_unit_test(frames_pipe_roundtrip),
		cmocka_unit_test(seqpacket_fds),
		cmocka_unit_test(golden_vcpu_messages),
		cmocka_unit_test(golden_main_messages),
		cmocka_unit_test(decode_unpacked_repeated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
