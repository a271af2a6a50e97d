// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Fuzzes the client library's handling of what a (hostile or broken) host
 * sends back: main responses with any bytes and any number of descriptors,
 * and framed vcpu responses, through the public crosvm.h calls.
 *
 * No threads: before each call the response is queued on a fresh socket or
 * pipe whose far end is then shut, and that end is dup2()ed onto the
 * descriptor number the library owns.  The library thus reads exactly the
 * fuzzed bytes followed by EOF and can never block.  What it sent is
 * drained afterwards (closing any descriptors it attached).
 *
 * Input: records of [op byte][arg byte][n fds byte][length, 2 bytes LE][bytes].
 * At the end every object still alive is destroyed with a well-formed
 * reply and the connection is closed, so LeakSanitizer and the descriptor
 * probe see everything the library kept.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crosvm.h"
#include "fuzz-util.h"
#include "lib-harness.h"
#include "plugin.pb-c.h"
#include "wire.h"

#define MAX_OBJS 8

static struct {
	struct fuzz_lib f;
	int memfd;
	struct crosvm_io *io[MAX_OBJS];
	struct crosvm_memory *mem[MAX_OBJS];
	struct crosvm_irq *irq[MAX_OBJS];
} st;

/* The vcpu's response pipe: fuzzed bytes, then EOF. */
static void queue_vcpu(const uint8_t *p, size_t len)
{
	int pp[2];

	FUZZ_CHECK(pipe2(pp, O_CLOEXEC) == 0, "pipe");
	if (len > 60000)
		len = 60000;
	if (len)
		FUZZ_CHECK(write(pp[1], p, len) == (ssize_t)len, "pipe write");
	close(pp[1]);
	FUZZ_CHECK(dup2(pp[0], st.f.lib_resp_r) == st.f.lib_resp_r, "dup2");
	close(pp[0]);
}

static int slot_of(uint8_t arg)
{
	return arg % MAX_OBJS;
}

static void main_op(uint8_t op, uint8_t arg, const uint8_t *p, size_t len, unsigned nfds)
{
	struct kvm_cpuid_entry2 cpuid[16];
	uint32_t idx[16], count = 0;
	int k = slot_of(arg), r;

	fuzz_lib_queue_main(&st.f, p, len, nfds);
	switch (op % 20) {
	case 0: {
		struct crosvm *n = NULL;

		if (crosvm_new_connection(st.f.c, &n) == 0)
			crosvm_destroy_connection(&n);
		break;
	}
	case 1:
		r = crosvm_get_shutdown_eventfd(st.f.c);
		if (r >= 0)
			close(r);
		break;
	case 2: {
		uint64_t mask;
		bool b;

		/* The API 0.23 negotiation rides on the top arguments. */
		if (arg == 0xff)
			crosvm_get_extensions(st.f.c, &mask);
		else if (arg == 0xfe)
			crosvm_enable_default_cpuid(st.f.c);
		else if (arg == 0xfd)
			crosvm_enable_reset_events(st.f.c);
		else if (arg == 0xfc)
			crosvm_enable_io_details(st.f.c);
		else if (arg == 0xfa)
			crosvm_memory_set_read_only(st.f.c, NULL, true);
		else if (arg == 0xf9)
			crosvm_memory_replace(st.f.c, NULL, 0, 0, true);
		else if (arg == 0xfb)
			crosvm_reserve_range_mode(st.f.c, 0, 0x310, 1,
						  CROSVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ);
		else
			crosvm_check_extension(st.f.c, arg, &b);
		break;
	}
	case 3:
		crosvm_get_supported_cpuid(st.f.c, arg % 17, cpuid, &count);
		FUZZ_CHECK(count <= 16 || count > (uint32_t)(arg % 17), "cpuid count %u", count);
		break;
	case 4:
		crosvm_get_emulated_cpuid(st.f.c, arg % 17, cpuid, &count);
		break;
	case 5:
		crosvm_get_msr_index_list(st.f.c, arg % 17, idx, &count);
		break;
	case 6: {
		struct crosvm_net_config cfg;

		if (crosvm_net_get_config(st.f.c, &cfg) == 0)
			close(cfg.tap_fd);
		break;
	}
	case 7:
		crosvm_reserve_range(st.f.c, arg & 1, 0x3f8, arg >> 1);
		break;
	case 8: {
		struct crosvm_irq_route routes[3];

		memset(routes, 0, sizeof(routes));
		routes[1].kind = CROSVM_IRQ_ROUTE_MSI;
		crosvm_set_irq_routing(st.f.c, arg % 4, routes);
		break;
	}
	case 9: {
		union {
			struct kvm_pic_state pic;
			struct kvm_ioapic_state ioapic;
			struct kvm_pit_state2 pit;
			struct kvm_clock_data clock;
		} u;

		switch (arg % 4) {
		case 0:
			crosvm_get_pic_state(st.f.c, arg & 4, &u.pic);
			break;
		case 1:
			crosvm_get_ioapic_state(st.f.c, &u.ioapic);
			break;
		case 2:
			crosvm_get_pit_state(st.f.c, &u.pit);
			break;
		default:
			crosvm_get_clock(st.f.c, &u.clock);
			break;
		}
		break;
	}
	case 10:
		if (!st.io[k]) {
			uint64_t dm = 0x88;

			crosvm_create_io_event(st.f.c, arg & 1, 0x3f8, (arg >> 1) & 8,
					       (const uint8_t *)&dm, &st.io[k]);
		}
		break;
	case 11:
		if (st.io[k])
			crosvm_destroy_io_event(st.f.c, &st.io[k]);
		break;
	case 12:
		if (!st.mem[k])
			crosvm_create_memory(st.f.c, st.memfd, 0, (uint64_t)(1 + arg % 64) << 12,
					     (uint64_t)k << 20, false, arg & 1, &st.mem[k]);
		break;
	case 13:
		if (st.mem[k])
			crosvm_destroy_memory(st.f.c, &st.mem[k]);
		break;
	case 14:
		if (st.mem[k]) {
			uint8_t log[64 / 8 + 8];

			crosvm_memory_get_dirty_log(st.f.c, st.mem[k], log);
		}
		break;
	case 15:
		/* arg bit 7: an edge irq event (API 0.23), with its one descriptor. */
		if (!st.irq[k] && (arg & 0x80))
			crosvm_create_edge_irq_event(st.f.c, arg & 0x7f, &st.irq[k]);
		else if (!st.irq[k])
			crosvm_create_irq_event(st.f.c, arg, &st.irq[k]);
		break;
	case 16:
		if (st.irq[k])
			crosvm_destroy_irq_event(st.f.c, &st.irq[k]);
		break;
	case 17: {
		struct crosvm_hint_detail d;
		struct crosvm_hint h;

		memset(&d, 0, sizeof(d));
		memset(&h, 0, sizeof(h));
		h.address = 0x500;
		h.details_count = 1;
		h.details = &d;
		crosvm_set_hypercall_hint(st.f.c, arg & 1, &h);
		break;
	}
	case 18:
		crosvm_pause_vcpus(st.f.c, arg, NULL);
		break;
	default:
		crosvm_start(st.f.c);
		break;
	}
	fuzz_lib_drain_main(&st.f);
}

static void vcpu_op(uint8_t op, uint8_t arg, const uint8_t *p, size_t len)
{
	queue_vcpu(p, len);
	fuzz_lib_vcpu_call(&st.f, op, arg);
	fuzz_lib_drain_vcpu(&st.f);
}

/* A well-formed Destroy reply, so that cleanup always succeeds. */
static const uint8_t destroy_ok[] = { 0x1a, 0x00 };

static void teardown(void)
{
	for (int k = 0; k < MAX_OBJS; k++) {
		if (st.io[k]) {
			fuzz_lib_queue_main(&st.f, destroy_ok, sizeof(destroy_ok), 0);
			FUZZ_CHECK(crosvm_destroy_io_event(st.f.c, &st.io[k]) == 0, "destroy io");
			fuzz_lib_drain_main(&st.f);
		}
		if (st.mem[k]) {
			fuzz_lib_queue_main(&st.f, destroy_ok, sizeof(destroy_ok), 0);
			FUZZ_CHECK(crosvm_destroy_memory(st.f.c, &st.mem[k]) == 0, "destroy memory");
			fuzz_lib_drain_main(&st.f);
		}
		if (st.irq[k]) {
			fuzz_lib_queue_main(&st.f, destroy_ok, sizeof(destroy_ok), 0);
			FUZZ_CHECK(crosvm_destroy_irq_event(st.f.c, &st.irq[k]) == 0, "destroy irq");
			fuzz_lib_drain_main(&st.f);
		}
	}
	fuzz_lib_close(&st.f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	st.memfd = memfd_create("fuzz-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (st.memfd < 0 || ftruncate(st.memfd, 64 << 12) < 0)
		abort();
	return 0;
}

/* The connection the library starts with: one vcpu on crosvm's pipes. */
static void connect_lib(void)
{
	/* The VcpuChannel request is answered ENOTTY, as crosvm's host does. */
	static const uint8_t enotty[] = { 0x08, 0x32 };
	int r = fuzz_lib_connect(&st.f, enotty, sizeof(enotty), NULL, 0, false);

	FUZZ_CHECK(r == 0, "crosvm_connect: %d", r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int probe = fuzz_lowest_free_fd(), steps = 0;
	struct fuzz_record r;
	size_t pos = 0;

	connect_lib();
	while (fuzz_lib_next_record(data, size, &pos, &steps, &r)) {
		if (r.op & 0x80)
			vcpu_op(r.op & 0x7f, r.arg, r.p, r.len);
		else
			main_op(r.op, r.arg, r.p, r.len, r.extra % 5);
	}
	teardown();
	FUZZ_CHECK(fuzz_lowest_free_fd() == probe, "descriptor leak (lowest free fd %d, was %d)",
		   fuzz_lowest_free_fd(), probe);
	return 0;
}
