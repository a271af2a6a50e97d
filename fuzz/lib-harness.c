// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "lib-harness.h"
#include "wire.h"

/*
 * Finds the descriptor other than not1/not2 that refers to the same pipe as
 * fd.  The library's descriptors take the lowest free numbers, so the scan
 * stops a little above the lowest free one.
 */
static int find_twin(int fd, int not1, int not2)
{
	int limit = fuzz_lowest_free_fd() + 64;
	struct stat a, b;

	if (fstat(fd, &a) < 0)
		return -1;
	for (int i = 3; i < limit; i++) {
		if (i == fd || i == not1 || i == not2)
			continue;
		if (fstat(i, &b) == 0 && b.st_ino == a.st_ino && b.st_dev == a.st_dev)
			return i;
	}
	return -1;
}

void fuzz_lib_queue_main(struct fuzz_lib *f, const uint8_t *p, size_t len, unsigned nfds)
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
	FUZZ_CHECK(dup2(sv[1], f->lib_sock) == f->lib_sock, "dup2");
	close(sv[1]);
	f->host_sock = sv[0];
}

void fuzz_lib_drain_main(struct fuzz_lib *f)
{
	uint8_t buf[WIRE_MAIN_REQUEST_MAX];

	for (;;) {
		int fds[WIRE_MAX_FDS];
		size_t nfds = 0;
		unsigned flags;
		ssize_t n = recv(f->host_sock, buf, 0, MSG_DONTWAIT | MSG_PEEK);

		if (n < 0)
			break;
		n = wire_recv(f->host_sock, buf, sizeof(buf), fds, WIRE_MAX_FDS, &nfds, &flags);
		wire_close_fds(fds, nfds);
		if (n <= 0)
			break;
	}
	close(f->host_sock);
	f->host_sock = -1;
}

void fuzz_lib_drain_vcpu(struct fuzz_lib *f)
{
	uint8_t buf[4096];

	while (read(f->req_r, buf, sizeof(buf)) > 0)
		;
}

int fuzz_lib_connect(struct fuzz_lib *f, const uint8_t *chan_reply, size_t chan_len,
		     const int *chan_fds, size_t n_chan_fds, bool keep_resp_w)
{
	static const uint8_t get_vcpus_ok[] = { 0x92, 0x01, 0x00 };
	/* MainResponse { vcpu_channel (1000) {} }: the take-back of a channel we cannot use. */
	static const uint8_t channel_ok[] = { 0xc2, 0x3e, 0x00 };
	int sv[2], to_host[2], to_plugin[2], fds[2];
	char num[16];
	int r;

	memset(f, 0, sizeof(*f));
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	FUZZ_CHECK(pipe2(to_host, O_CLOEXEC) == 0 && pipe2(to_plugin, O_CLOEXEC) == 0, "pipes");
	fcntl(to_host[0], F_SETFL, O_NONBLOCK);
	fds[0] = to_host[1];
	fds[1] = to_plugin[0];
	FUZZ_CHECK(wire_send(sv[0], get_vcpus_ok, sizeof(get_vcpus_ok), fds, 2) == 0, "send");
	FUZZ_CHECK(wire_send(sv[0], chan_reply, chan_len, chan_fds, n_chan_fds) == 0,
		   "send");
	FUZZ_CHECK(wire_send(sv[0], channel_ok, sizeof(channel_ok), NULL, 0) == 0, "send");
	snprintf(num, sizeof(num), "%d", sv[1]);
	setenv("CROSVM_SOCKET", num, 1);
	r = crosvm_connect(&f->c);
	f->lib_sock = sv[1];
	f->host_sock = sv[0];
	fuzz_lib_drain_main(f);
	if (r) {
		/* The library closed what it was given; only our ends are left. */
		FUZZ_CHECK(f->c == NULL, "connection handed out on failure");
		close(to_host[0]);
		close(to_host[1]);
		close(to_plugin[0]);
		close(to_plugin[1]);
		return r;
	}
	f->lib_req_w = find_twin(to_host[0], to_host[1], -1);
	f->lib_resp_r = find_twin(to_plugin[1], to_plugin[0], -1);
	FUZZ_CHECK(f->lib_req_w >= 0 && f->lib_resp_r >= 0, "library pipe ends not found");
	close(to_host[1]);
	close(to_plugin[0]);
	f->resp_w = to_plugin[1];
	if (!keep_resp_w) {
		close(f->resp_w);
		f->resp_w = -1;
	}
	f->req_r = to_host[0];
	FUZZ_CHECK(crosvm_get_vcpu(f->c, 0, &f->vcpu) == 0, "vcpu 0");
	return 0;
}

bool fuzz_lib_next_record(const uint8_t *data, size_t size, size_t *pos, int *steps,
			  struct fuzz_record *r)
{
	size_t at = *pos;

	if (size - at < 5 || (*steps)++ >= 64)
		return false;
	r->op = data[at];
	r->arg = data[at + 1];
	r->extra = data[at + 2];
	r->len = (size_t)data[at + 3] | (size_t)data[at + 4] << 8;
	at += 5;
	if (r->len > size - at)
		r->len = size - at;
	r->p = data + at;
	*pos = at + r->len;
	return true;
}

void fuzz_lib_vcpu_call(struct fuzz_lib *f, uint8_t op, uint8_t arg)
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
	switch (op % 16) {
	case 0:
	case 1:
	case 2:
		/*
		 * Op 2 takes the API 0.23 ways: a kick first (the wait then ends
		 * at once unless the vcpu is stopped) or a wait that only looks.
		 */
		if (op % 16 != 2)
			r = crosvm_vcpu_wait(f->vcpu, &ev);
		else if (arg & 1)
			r = crosvm_vcpu_kick(f->vcpu) ? -EINVAL : crosvm_vcpu_wait(f->vcpu, &ev);
		else
			r = crosvm_vcpu_wait_timeout(f->vcpu, &ev, 0);
		if (r == 0 &&
		    ev.kind == CROSVM_VCPU_EVENT_KIND_IO_ACCESS &&
		    !ev.io_access.is_write && ev.io_access.length) {
			/* The plugin fills the read buffer the library handed out. */
			memset(ev.io_access.data, arg, ev.io_access.length);
		}
		break;
	case 3:
		/* arg bit 7: a Reset (API 0.23) first, valid only while stopped. */
		if (arg & 0x80)
			crosvm_vcpu_reset(f->vcpu);
		crosvm_vcpu_resume(f->vcpu);
		break;
	case 4:
		crosvm_vcpu_get_regs(f->vcpu, &u.regs);
		break;
	case 5:
		u.regs.rip = arg;
		crosvm_vcpu_set_regs(f->vcpu, &u.regs);
		break;
	case 6:
		crosvm_vcpu_get_sregs(f->vcpu, &u.sregs);
		break;
	case 7:
		crosvm_vcpu_set_sregs(f->vcpu, &u.sregs);
		break;
	case 8:
		crosvm_vcpu_get_debugregs(f->vcpu, &u.dregs);
		break;
	case 9:
		/*
		 * arg bit 7: the XSAVE area (API 0.23) into a buffer of (arg & 0x1f)
		 * KiB, then (bit 6) written back as read: out_size is the area's size
		 * whenever the reply had one, and nothing is copied past the buffer.
		 */
		if (arg & 0x80) {
			static uint8_t area[32 * 1024];
			uint32_t cap = (uint32_t)(arg & 0x1f) * 1024u;

			r = crosvm_vcpu_get_xsave(f->vcpu, cap ? area : NULL, cap, &count);
			FUZZ_CHECK(r == 0 || r == -E2BIG || count == 0, "%d with out_size %u", r,
				   count);
			FUZZ_CHECK(r != 0 || (count >= CROSVM_XSAVE_MIN_SIZE && count <= cap),
				   "an area of %u bytes in %u", count, cap);
			if (r == 0 && (arg & 0x40))
				crosvm_vcpu_set_xsave(f->vcpu, area, count);
			break;
		}
		switch (arg % 5) {
		case 0:
			crosvm_vcpu_get_fpu(f->vcpu, &u.fpu);
			break;
		case 1:
			crosvm_vcpu_get_xcrs(f->vcpu, &u.xcrs);
			break;
		case 2:
			crosvm_vcpu_get_lapic_state(f->vcpu, &u.lapic);
			break;
		case 3:
			crosvm_vcpu_get_mp_state(f->vcpu, &u.mp);
			break;
		default:
			crosvm_vcpu_get_vcpu_events(f->vcpu, &u.events);
			break;
		}
		break;
	case 10:
		crosvm_vcpu_set_mp_state(f->vcpu, &u.mp);
		break;
	case 11:
		/* More values than asked for is -E2BIG with the count, like the cpuid lists. */
		r = crosvm_vcpu_get_msrs(f->vcpu, arg % 9, msrs, &count);
		FUZZ_CHECK(r == -E2BIG || count <= (uint32_t)(arg % 9), "%d: %u msrs for %u", r,
			   count, arg % 9);
		break;
	case 12:
		crosvm_vcpu_set_msrs(f->vcpu, arg % 9, msrs);
		break;
	case 13:
		crosvm_vcpu_set_cpuid(f->vcpu, arg % 9, cpuid);
		break;
	case 14:
		r = crosvm_get_hyperv_cpuid(f->vcpu, arg % 9, cpuid, &count);
		FUZZ_CHECK(r == -E2BIG || count <= (uint32_t)(arg % 9), "%d: %u entries for %u", r,
			   count, arg % 9);
		break;
	default:
		crosvm_vcpu_enable_capability(f->vcpu, 123, 0, args);
		break;
	}
}

void fuzz_lib_close(struct fuzz_lib *f)
{
	crosvm_destroy_connection(&f->c);
	FUZZ_CHECK(f->c == NULL, "connection pointer kept");
	close(f->req_r);
	if (f->resp_w >= 0)
		close(f->resp_w);
}
