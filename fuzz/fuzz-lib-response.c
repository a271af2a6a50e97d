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
#include "plugin.pb-c.h"
#include "wire.h"

#define MAX_OBJS 8

static struct {
	int host_sock;  /* our end of the first connection (only for crosvm_connect) */
	int lib_sock;   /* the descriptor number the library uses for its connection */
	int lib_req_w;  /* the library's to_host write end (vcpu 0) */
	int lib_resp_r; /* the library's to_plugin read end (vcpu 0) */
	int req_r;      /* our read end of to_host */
	int memfd;
	struct crosvm *c;
	struct crosvm_vcpu *vcpu;
	struct crosvm_io *io[MAX_OBJS];
	struct crosvm_memory *mem[MAX_OBJS];
	struct crosvm_irq *irq[MAX_OBJS];
} st;

/* Finds the descriptor other than `not` that refers to the same pipe as `fd`. */
static int find_twin(int fd, int not1, int not2)
{
	struct stat a, b;

	if (fstat(fd, &a) < 0)
		return -1;
	for (int i = 3; i < 1024; i++) {
		if (i == fd || i == not1 || i == not2)
			continue;
		if (fstat(i, &b) == 0 && b.st_ino == a.st_ino && b.st_dev == a.st_dev)
			return i;
	}
	return -1;
}

/* Queues one datagram with nfds eventfds on a fresh connection swapped in under the library. */
static void queue_main(const uint8_t *p, size_t len, unsigned nfds)
{
	int sv[2], fds[4];

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	if (nfds > 4)
		nfds = 4;
	for (unsigned i = 0; i < nfds; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	/* An empty datagram is EOF for the reader: the test of that is simply not to send. */
	if (len || nfds)
		wire_send(sv[0], p, len, fds, nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
	shutdown(sv[0], SHUT_WR);
	FUZZ_CHECK(dup2(sv[1], st.lib_sock) == st.lib_sock, "dup2");
	close(sv[1]);
	st.host_sock = sv[0];
}

/* Reads and drops whatever the library sent on the main connection. */
static void drain_main(void)
{
	uint8_t buf[WIRE_MAIN_REQUEST_MAX];

	for (;;) {
		int fds[WIRE_MAX_FDS];
		size_t nfds = 0;
		unsigned flags;
		ssize_t n = recv(st.host_sock, buf, 0, MSG_DONTWAIT | MSG_PEEK);

		if (n < 0)
			break;
		n = wire_recv(st.host_sock, buf, sizeof(buf), fds, WIRE_MAX_FDS, &nfds, &flags);
		wire_close_fds(fds, nfds);
		if (n <= 0)
			break;
	}
	close(st.host_sock);
	st.host_sock = -1;
}

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
	FUZZ_CHECK(dup2(pp[0], st.lib_resp_r) == st.lib_resp_r, "dup2");
	close(pp[0]);
}

static void drain_vcpu(void)
{
	uint8_t buf[4096];

	while (read(st.req_r, buf, sizeof(buf)) > 0)
		;
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

	queue_main(p, len, nfds);
	switch (op % 20) {
	case 0: {
		struct crosvm *n = NULL;

		if (crosvm_new_connection(st.c, &n) == 0)
			crosvm_destroy_connection(&n);
		break;
	}
	case 1:
		r = crosvm_get_shutdown_eventfd(st.c);
		if (r >= 0)
			close(r);
		break;
	case 2: {
		bool b;

		crosvm_check_extension(st.c, arg, &b);
		break;
	}
	case 3:
		crosvm_get_supported_cpuid(st.c, arg % 17, cpuid, &count);
		FUZZ_CHECK(count <= 16 || count > (uint32_t)(arg % 17), "cpuid count %u", count);
		break;
	case 4:
		crosvm_get_emulated_cpuid(st.c, arg % 17, cpuid, &count);
		break;
	case 5:
		crosvm_get_msr_index_list(st.c, arg % 17, idx, &count);
		break;
	case 6: {
		struct crosvm_net_config cfg;

		if (crosvm_net_get_config(st.c, &cfg) == 0)
			close(cfg.tap_fd);
		break;
	}
	case 7:
		crosvm_reserve_range(st.c, arg & 1, 0x3f8, arg >> 1);
		break;
	case 8: {
		struct crosvm_irq_route routes[3];

		memset(routes, 0, sizeof(routes));
		routes[1].kind = CROSVM_IRQ_ROUTE_MSI;
		crosvm_set_irq_routing(st.c, arg % 4, routes);
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
			crosvm_get_pic_state(st.c, arg & 4, &u.pic);
			break;
		case 1:
			crosvm_get_ioapic_state(st.c, &u.ioapic);
			break;
		case 2:
			crosvm_get_pit_state(st.c, &u.pit);
			break;
		default:
			crosvm_get_clock(st.c, &u.clock);
			break;
		}
		break;
	}
	case 10:
		if (!st.io[k]) {
			uint64_t dm = 0x88;

			crosvm_create_io_event(st.c, arg & 1, 0x3f8, (arg >> 1) & 8,
					       (const uint8_t *)&dm, &st.io[k]);
		}
		break;
	case 11:
		if (st.io[k])
			crosvm_destroy_io_event(st.c, &st.io[k]);
		break;
	case 12:
		if (!st.mem[k])
			crosvm_create_memory(st.c, st.memfd, 0, (uint64_t)(1 + arg % 64) << 12,
					     (uint64_t)k << 20, false, arg & 1, &st.mem[k]);
		break;
	case 13:
		if (st.mem[k])
			crosvm_destroy_memory(st.c, &st.mem[k]);
		break;
	case 14:
		if (st.mem[k]) {
			uint8_t log[64 / 8 + 8];

			crosvm_memory_get_dirty_log(st.c, st.mem[k], log);
		}
		break;
	case 15:
		if (!st.irq[k])
			crosvm_create_irq_event(st.c, arg, &st.irq[k]);
		break;
	case 16:
		if (st.irq[k])
			crosvm_destroy_irq_event(st.c, &st.irq[k]);
		break;
	case 17: {
		struct crosvm_hint_detail d;
		struct crosvm_hint h;

		memset(&d, 0, sizeof(d));
		memset(&h, 0, sizeof(h));
		h.address = 0x500;
		h.details_count = 1;
		h.details = &d;
		crosvm_set_hypercall_hint(st.c, arg & 1, &h);
		break;
	}
	case 18:
		crosvm_pause_vcpus(st.c, arg, NULL);
		break;
	default:
		crosvm_start(st.c);
		break;
	}
	drain_main();
}

static void vcpu_op(uint8_t op, uint8_t arg, const uint8_t *p, size_t len)
{
	union {
		struct kvm_regs regs;
		struct kvm_sregs sregs;
		struct kvm_fpu fpu;
		struct kvm_debugregs dregs;
		struct kvm_xcrs xcrs;
		struct kvm_lapic_state lapic;
		struct kvm_mp_state mp;
		struct kvm_vcpu_events events;
	} u;
	struct crosvm_vcpu_event ev;
	struct kvm_msr_entry msrs[8];
	struct kvm_cpuid_entry2 cpuid[8];
	uint32_t count = 0;
	uint64_t args[4] = { 0 };
	int r;

	memset(&u, 0, sizeof(u));
	memset(msrs, 0, sizeof(msrs));
	memset(cpuid, 0, sizeof(cpuid));
	queue_vcpu(p, len);
	switch (op % 16) {
	case 0:
	case 1:
	case 2:
		if (crosvm_vcpu_wait(st.vcpu, &ev) == 0 &&
		    ev.kind == CROSVM_VCPU_EVENT_KIND_IO_ACCESS &&
		    !ev.io_access.is_write && ev.io_access.length) {
			/* The plugin fills the read buffer the library handed out. */
			memset(ev.io_access.data, arg, ev.io_access.length);
		}
		break;
	case 3:
		crosvm_vcpu_resume(st.vcpu);
		break;
	case 4:
		crosvm_vcpu_get_regs(st.vcpu, &u.regs);
		break;
	case 5:
		u.regs.rip = arg;
		crosvm_vcpu_set_regs(st.vcpu, &u.regs);
		break;
	case 6:
		crosvm_vcpu_get_sregs(st.vcpu, &u.sregs);
		break;
	case 7:
		crosvm_vcpu_set_sregs(st.vcpu, &u.sregs);
		break;
	case 8:
		crosvm_vcpu_get_debugregs(st.vcpu, &u.dregs);
		break;
	case 9:
		switch (arg % 5) {
		case 0:
			crosvm_vcpu_get_fpu(st.vcpu, &u.fpu);
			break;
		case 1:
			crosvm_vcpu_get_xcrs(st.vcpu, &u.xcrs);
			break;
		case 2:
			crosvm_vcpu_get_lapic_state(st.vcpu, &u.lapic);
			break;
		case 3:
			crosvm_vcpu_get_mp_state(st.vcpu, &u.mp);
			break;
		default:
			crosvm_vcpu_get_vcpu_events(st.vcpu, &u.events);
			break;
		}
		break;
	case 10:
		crosvm_vcpu_set_mp_state(st.vcpu, &u.mp);
		break;
	case 11:
		/* More values than asked for is -E2BIG with the count, like the cpuid lists. */
		r = crosvm_vcpu_get_msrs(st.vcpu, arg % 9, msrs, &count);
		FUZZ_CHECK(r == -E2BIG || count <= (uint32_t)(arg % 9), "%d: %u msrs for %u", r,
			   count, arg % 9);
		break;
	case 12:
		crosvm_vcpu_set_msrs(st.vcpu, arg % 9, msrs);
		break;
	case 13:
		crosvm_vcpu_set_cpuid(st.vcpu, arg % 9, cpuid);
		break;
	case 14:
		crosvm_get_hyperv_cpuid(st.vcpu, arg % 9, cpuid, &count);
		break;
	default:
		crosvm_vcpu_enable_capability(st.vcpu, 123, 0, args);
		break;
	}
	drain_vcpu();
}

/* A well-formed Destroy reply, so that cleanup always succeeds. */
static const uint8_t destroy_ok[] = { 0x1a, 0x00 };

static void teardown(void)
{
	for (int k = 0; k < MAX_OBJS; k++) {
		if (st.io[k]) {
			queue_main(destroy_ok, sizeof(destroy_ok), 0);
			FUZZ_CHECK(crosvm_destroy_io_event(st.c, &st.io[k]) == 0, "destroy io");
			drain_main();
		}
		if (st.mem[k]) {
			queue_main(destroy_ok, sizeof(destroy_ok), 0);
			FUZZ_CHECK(crosvm_destroy_memory(st.c, &st.mem[k]) == 0, "destroy memory");
			drain_main();
		}
		if (st.irq[k]) {
			queue_main(destroy_ok, sizeof(destroy_ok), 0);
			FUZZ_CHECK(crosvm_destroy_irq_event(st.c, &st.irq[k]) == 0, "destroy irq");
			drain_main();
		}
	}
	crosvm_destroy_connection(&st.c);
	FUZZ_CHECK(st.c == NULL, "connection pointer kept");
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

/* The connection the library starts with: one vcpu, via a proper GetVcpus reply. */
static int connect_lib(void)
{
	static const uint8_t get_vcpus_ok[] = { 0x92, 0x01, 0x00 };
	static const uint8_t enotty[] = { 0x08, 0x32 };
	int sv[2], to_host[2], to_plugin[2], fds[2];
	char num[16];
	int r;

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	FUZZ_CHECK(pipe2(to_host, O_CLOEXEC) == 0 && pipe2(to_plugin, O_CLOEXEC) == 0, "pipes");
	fcntl(to_host[0], F_SETFL, O_NONBLOCK);
	fds[0] = to_host[1];
	fds[1] = to_plugin[0];
	FUZZ_CHECK(wire_send(sv[0], get_vcpus_ok, sizeof(get_vcpus_ok), fds, 2) == 0, "send");
	/* The library then asks for the shared-memory channel: ENOTTY, as crosvm's host says. */
	FUZZ_CHECK(wire_send(sv[0], enotty, sizeof(enotty), NULL, 0) == 0, "send");
	snprintf(num, sizeof(num), "%d", sv[1]);
	setenv("CROSVM_SOCKET", num, 1);
	r = crosvm_connect(&st.c);
	FUZZ_CHECK(r == 0, "crosvm_connect: %d", r);
	st.lib_sock = sv[1];
	st.host_sock = sv[0];
	drain_main();
	st.lib_req_w = find_twin(to_host[0], to_host[1], -1);
	st.lib_resp_r = find_twin(to_plugin[1], to_plugin[0], -1);
	FUZZ_CHECK(st.lib_req_w >= 0 && st.lib_resp_r >= 0, "library pipe ends not found");
	close(to_host[1]);
	close(to_plugin[0]);
	close(to_plugin[1]);
	st.req_r = to_host[0];
	FUZZ_CHECK(crosvm_get_vcpu(st.c, 0, &st.vcpu) == 0, "vcpu 0");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int probe = fuzz_lowest_free_fd(), steps = 0;
	size_t pos = 0;

	connect_lib();
	while (size - pos >= 5 && steps++ < 64) {
		uint8_t op = data[pos], arg = data[pos + 1], nfds = data[pos + 2];
		size_t len = (size_t)data[pos + 3] | (size_t)data[pos + 4] << 8;

		pos += 5;
		if (len > size - pos)
			len = size - pos;
		if (op & 0x80)
			vcpu_op(op & 0x7f, arg, data + pos, len);
		else
			main_op(op, arg, data + pos, len, nfds % 5);
		pos += len;
	}
	teardown();
	close(st.req_r);
	FUZZ_CHECK(fuzz_lowest_free_fd() == probe, "descriptor leak (lowest free fd %d, was %d)",
		   fuzz_lowest_free_fd(), probe);
	return 0;
}
