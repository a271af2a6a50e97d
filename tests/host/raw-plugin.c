// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * A plugin that speaks the wire protocol directly (no client library), so
 * the host can be tested byte for byte on its own.  argv[1] names the
 * scenario; exit status 0 means every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hostile.h"
#include "plugin.pb-c.h"
#include "wire.h"

/*
 * The raw-protocol client is the hostile plugin's (tests/lib/hostile-lib.c);
 * what follows adapts it to these scenarios, which pass at most one fd and
 * treat an EOF as fatal.
 */
static void recv_reply(int sock, struct h_reply *out)
{
	if (!h_recv(sock, out))
		h_die("recv: EOF");
}

static void call(const Plugvm__MainRequest *req, int fd, struct h_reply *out)
{
	h_call_on(h_sock, req, &fd, fd >= 0 ? 1 : 0, out);
}

static int call_errno(const Plugvm__MainRequest *req, int fd, int expect_case)
{
	return h_errno_on(h_sock, req, &fd, fd >= 0 ? 1 : 0, expect_case);
}

static int create_memory(uint32_t id, int fd, uint64_t off, uint64_t start, uint64_t len,
			 bool dirty)
{
	return h_create_memory_fds(id, &fd, fd >= 0 ? 1 : 0, off, start, len, dirty);
}

static int simple(Plugvm__MainRequest__MessageCase c, int expect_case, struct h_reply *out)
{
	return h_simple(h_sock, c, expect_case, out);
}

static int get_fd_reply(Plugvm__MainRequest__MessageCase c, int expect_case)
{
	struct h_reply r;
	int fd;

	CHECK(simple(c, expect_case, &r) == 0, "request %d failed", c);
	CHECK(r.nfds == 1, "%zu fds", r.nfds);
	fd = r.nfds ? r.fds[r.nfds - 1] : -1;
	if (r.nfds)
		r.nfds--;
	h_reply_free(&r);
	return fd;
}

/* ---- vcpu channel ---- */

static Plugvm__VcpuResponse *vrecv(size_t v)
{
	Plugvm__VcpuResponse *resp = h_vrecv(v, 10000);

	if (!resp)
		h_die("vcpu %zu: EOF", v);
	return resp;
}

static void vresume(size_t v, const void *data, size_t len, const struct kvm_regs *regs,
		    const struct kvm_sregs *sregs)
{
	h_vresume(v, data, len, regs, sizeof(*regs), sregs, sizeof(*sregs));
}

static int vget_state(size_t v, int set, void *out, size_t size)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__GetState gs = PLUGVM__VCPU_REQUEST__GET_STATE__INIT;
	Plugvm__VcpuResponse *resp;
	int e;

	gs.set = (Plugvm__VcpuRequest__StateSet)set;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE;
	req.get_state = &gs;
	h_vsend(v, &req);
	resp = vrecv(v);
	CHECK(resp->message_case == PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE, "case %d",
	      resp->message_case);
	e = resp->errnum;
	if (!e && resp->get_state) {
		CHECK(resp->get_state->state.len == size, "state %d size %zu", set,
		      resp->get_state->state.len);
		if (resp->get_state->state.len == size)
			memcpy(out, resp->get_state->state.data, size);
	}
	h_vfree(resp);
	return e;
}

/* Waits for Init and resumes into real mode at rip (cs = 0). */
static void vinit_real_mode(size_t v, uint64_t rip, const struct kvm_regs *extra)
{
	Plugvm__VcpuResponse *resp;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	h_vsend_simple(v, PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	resp = vrecv(v);
	CHECK(resp->errnum == 0 && resp->message_case == PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT &&
		      resp->wait->exit_case == PLUGVM__VCPU_RESPONSE__WAIT__EXIT_INIT,
	      "expected init");
	h_vfree(resp);
	CHECK(vget_state(v, PLUGVM__VCPU_REQUEST__STATE_SET__SREGS, &sregs, sizeof(sregs)) == 0,
	      "get sregs");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	sregs.es.base = 0;
	sregs.es.selector = 0;
	if (extra)
		regs = *extra;
	else
		memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rflags = 2;
	vresume(v, NULL, 0, &regs, &sregs);
}

static Plugvm__VcpuResponse__Wait__Io *expect_io(Plugvm__VcpuResponse *resp)
{
	if (resp->errnum || resp->message_case != PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT ||
	    resp->wait->exit_case != PLUGVM__VCPU_RESPONSE__WAIT__EXIT_IO)
		h_die("expected an io event (errnum %d, case %d)", resp->errnum, resp->message_case);
	return resp->wait->io;
}

/* ---- scenarios ---- */

/* Real-mode code at 0x1000: writes '0' + 2 + 7 and '\n' to 0x3f8, then 1 to 0x3f9, then halts. */
static const uint8_t adder_code[] = {
	0xba, 0xf8, 0x03, /* mov dx, 0x3f8 */
	0xb0, 0x02,       /* mov al, 2 */
	0x04, 0x07,       /* add al, 7 */
	0x04, 0x30,       /* add al, '0' */
	0xee,             /* out dx, al */
	0xb0, 0x0a,       /* mov al, '\n' */
	0xee,             /* out dx, al */
	0x42,             /* inc dx */
	0xb0, 0x01,       /* mov al, 1 */
	0xee,             /* out dx, al */
	0xf4,             /* hlt */
};

static int scenario_adder(void)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__NewConnection nc = PLUGVM__MAIN_REQUEST__NEW_CONNECTION__INIT;
	struct h_reply r;
	char out[16] = { 0 };
	size_t out_len = 0;
	int mem, kill_fd, first, second;

	h_connect();
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_NEW_CONNECTION;
	req.new_connection = &nc;
	call(&req, -1, &r);
	CHECK(r.resp->errnum == 0 && r.nfds == 1, "new connection");
	first = h_sock;
	second = r.fds[0];
	r.nfds = 0;
	h_reply_free(&r);
	h_sock = second;

	mem = h_guest_memfd(adder_code, sizeof(adder_code), 0x1000);
	CHECK(create_memory(1, mem, 0, 0x1000, 0x1000, false) == 0, "create memory");
	CHECK(h_reserve(0, 0x3f8, 1, false) == 0, "reserve 0x3f8");
	CHECK(h_reserve(0, 0x3f9, 1, false) == 0, "reserve 0x3f9");
	kill_fd = get_fd_reply(PLUGVM__MAIN_REQUEST__MESSAGE_GET_SHUTDOWN_EVENTFD,
			       PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SHUTDOWN_EVENTFD);
	CHECK(h_start() == 0, "start");
	vinit_real_mode(0, 0x1000, NULL);
	for (;;) {
		Plugvm__VcpuResponse *resp = vrecv(0);
		Plugvm__VcpuResponse__Wait__Io *io = expect_io(resp);

		CHECK(io->is_write && io->space == 0 && io->data.len == 1 && !io->no_resume,
		      "io shape");
		if (io->address == 0x3f8) {
			if (out_len < sizeof(out) - 1)
				out[out_len++] = (char)io->data.data[0];
		} else {
			CHECK(io->address == 0x3f9 && io->data.data[0] == 1, "done port");
			h_vfree(resp);
			/*
			 * Not resumed: the guest must not run once its memory is
			 * gone, and the host serves the main connection meanwhile.
			 */
			break;
		}
		h_vfree(resp);
		vresume(0, NULL, 0, NULL, NULL);
	}
	CHECK(strcmp(out, "9\n") == 0, "output '%s'", out);
	CHECK(h_destroy(1) == 0, "destroy memory");
	CHECK(h_reserve(0, 0x3f8, 0, false) == 0, "unreserve");
	CHECK(h_reserve(0, 0x3f9, 0, false) == 0, "unreserve");
	/* The first connection is still a full peer. */
	h_sock = first;
	CHECK(h_reserve(0, 0x3f9, 0, false) == ENOENT, "unreserve twice");
	close(mem);
	close(kill_fd);
	return h_failures ? 1 : 0;
}

/* Triple fault: divide by zero in protected mode with an empty IDT (#GP, #DF, shutdown). */
static const uint8_t triple_code[] = {
	0x31, 0xc0, /* xor eax, eax */
	0xf7, 0xf0, /* div eax */
};

/* Real-mode code that jumps into unbacked guest memory: KVM cannot fetch it. */
static const uint8_t internal_code[] = {
	0xe9, 0xfd, 0x6f, /* jmp 0x8000 */
};

/* Waits for Init and resumes in flat 32-bit protected mode at rip with an empty IDT. */
static void vinit_protected(size_t v, uint64_t rip)
{
	Plugvm__VcpuResponse *resp;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 8, .type = 0xb, .present = 1,
		.dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment data = code;

	data.type = 3;
	data.selector = 16;
	h_vsend_simple(v, PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	resp = vrecv(v);
	CHECK(resp->errnum == 0 && resp->message_case == PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT,
	      "expected init");
	h_vfree(resp);
	CHECK(vget_state(v, PLUGVM__VCPU_REQUEST__STATE_SET__SREGS, &sregs, sizeof(sregs)) == 0,
	      "get sregs");
	sregs.cr0 |= 1;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = data;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rflags = 2;
	vresume(v, NULL, 0, &regs, &sregs);
}

/* The VM dies (triple fault); the plugin cleans up during the grace period and exits 0. */
static int scenario_dying(bool internal)
{
	int mem, kill_fd;
	uint64_t v;

	h_connect();
	if (internal)
		mem = h_guest_memfd(internal_code, sizeof(internal_code), 0x1000);
	else
		mem = h_guest_memfd(triple_code, sizeof(triple_code), 0x1000);
	CHECK(create_memory(7, mem, 0, 0x1000, 0x1000, false) == 0, "create memory");
	CHECK(h_reserve(1, 0x10000, 0x1000, false) == 0, "reserve mmio");
	kill_fd = get_fd_reply(PLUGVM__MAIN_REQUEST__MESSAGE_GET_SHUTDOWN_EVENTFD,
			       PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SHUTDOWN_EVENTFD);
	CHECK(h_start() == 0, "start");
	if (internal)
		vinit_real_mode(0, 0x1000, NULL);
	else
		vinit_protected(0, 0x1000);
	if (!h_wait_readable(kill_fd, 5000))
		h_die("kill eventfd not signalled");
	CHECK(read(kill_fd, &v, 8) == 8 && v >= 1, "kill eventfd value");
	/* The host still serves requests while dying. */
	CHECK(h_destroy(7) == 0, "destroy during grace");
	CHECK(h_reserve(1, 0x10000, 0, false) == 0, "unreserve during grace");
	return h_failures ? 1 : 0;
}

static int scenario_exit3(void)
{
	return 3;
}

/* Ends vcpu 0 during Init (Shutdown), then never exits: the host must kill us. */
static __attribute__((noreturn)) int scenario_hang(void)
{
	h_connect();
	CHECK(h_start() == 0, "start");
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN);
	for (;;)
		pause();
}

/* Async writes: three out to an async port arrive without resume, then a normal one. */
static const uint8_t async_code[] = {
	0xba, 0x00, 0x05, /* mov dx, 0x500 */
	0xb0, 0x01,       /* mov al, 1 */
	0xee,             /* out dx, al */
	0xfe, 0xc0,       /* inc al */
	0xee,             /* out dx, al */
	0xfe, 0xc0,       /* inc al */
	0xee,             /* out dx, al */
	0xec,             /* in al, dx (async range: reads as 0, no event) */
	0x42,             /* inc dx */
	0xee,             /* out dx, al (0x501, sync) */
	0xf4,             /* hlt */
};

static int scenario_async(void)
{
	int mem;

	h_connect();
	mem = h_guest_memfd(async_code, sizeof(async_code), 0x1000);
	CHECK(create_memory(1, mem, 0, 0x1000, 0x1000, false) == 0, "memory");
	CHECK(h_reserve(0, 0x500, 1, true) == 0, "async reserve");
	CHECK(h_reserve(0, 0x501, 1, false) == 0, "reserve");
	CHECK(h_start() == 0, "start");
	vinit_real_mode(0, 0x1000, NULL);
	for (int i = 1; i <= 3; i++) {
		Plugvm__VcpuResponse *resp = vrecv(0);
		Plugvm__VcpuResponse__Wait__Io *io = expect_io(resp);

		CHECK(io->no_resume && io->is_write && io->address == 0x500 && io->data.len == 1 &&
			      io->data.data[0] == i,
		      "async event %d", i);
		h_vfree(resp);
	}
	{
		Plugvm__VcpuResponse *resp = vrecv(0);
		Plugvm__VcpuResponse__Wait__Io *io = expect_io(resp);

		CHECK(!io->no_resume && io->address == 0x501 && io->data.data[0] == 0,
		      "sync event after async (al %d)", io->data.len ? io->data.data[0] : -1);
		h_vfree(resp);
	}
	vresume(0, NULL, 0, NULL, NULL);
	return h_failures ? 1 : 0;
}

/* Pause: the guest spins until rbx != 0, then writes 0x601. */
static const uint8_t pause_code[] = {
	0x83, 0xfb, 0x00, /* cmp bx, 0 */
	0x74, 0xfb,       /* je -5 */
	0xba, 0x01, 0x06, /* mov dx, 0x601 */
	0xee,             /* out dx, al */
	0xf4,             /* hlt */
};

static uint64_t expect_pause(Plugvm__VcpuResponse *resp)
{
	uint64_t u;

	if (resp->errnum || resp->message_case != PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT ||
	    resp->wait->exit_case != PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER)
		h_die("expected a pause event (errnum %d)", resp->errnum);
	u = resp->wait->user->user;
	h_vfree(resp);
	return u;
}

static int scenario_pause(void)
{
	struct kvm_regs regs;
	Plugvm__VcpuResponse *resp;
	int mem;

	h_connect();
	mem = h_guest_memfd(pause_code, sizeof(pause_code), 0x1000);
	CHECK(create_memory(1, mem, 0, 0x1000, 0x1000, false) == 0, "memory");
	CHECK(h_reserve(0, 0x601, 1, false) == 0, "reserve");
	/* Before Start: dropped, still a success. */
	h_pause(~0ull, 5);
	CHECK(h_start() == 0, "start");
	vinit_real_mode(0, 0x1000, NULL);
	usleep(20000);
	h_pause(1, 0x1234);
	CHECK(expect_pause(vrecv(0)) == 0x1234, "pause user");
	/* A second pause while paused must not deadlock, and is delivered after resume. */
	h_pause(1 | (1ull << 63), 0x77);
	vresume(0, NULL, 0, NULL, NULL);
	CHECK(expect_pause(vrecv(0)) == 0x77, "second pause user");
	CHECK(vget_state(0, PLUGVM__VCPU_REQUEST__STATE_SET__REGS, &regs, sizeof(regs)) == 0,
	      "regs");
	regs.rbx = 1;
	vresume(0, NULL, 0, &regs, NULL);
	resp = vrecv(0);
	CHECK(expect_io(resp)->address == 0x601, "left the loop");
	h_vfree(resp);
	vresume(0, NULL, 0, NULL, NULL);
	return h_failures ? 1 : 0;
}

/* vcpu channel errors: misplaced and malformed requests, state sizes, MSRs, capabilities. */
static const uint8_t vcpu_code[] = {
	0xba, 0x01, 0x07, /* mov dx, 0x701 */
	0xec,             /* in al, dx */
	0x88, 0xc4,       /* mov ah, al */
	0xba, 0x00, 0x07, /* mov dx, 0x700 */
	0xed,             /* in ax, dx */
	0xba, 0x02, 0x07, /* mov dx, 0x702 */
	0xef,             /* out dx, ax */
	0xf4,             /* hlt */
};

static int vexpect_errno(size_t v, int e)
{
	Plugvm__VcpuResponse *resp = vrecv(v);
	int got = resp->errnum;

	CHECK(got == e, "vcpu errnum %d, expected %d", got, e);
	h_vfree(resp);
	return got;
}

static int scenario_vcpu(void)
{
	static const uint8_t unknown_field[] = { 0xf8, 0x07, 0x01 };
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__GetState gs = PLUGVM__VCPU_REQUEST__GET_STATE__INIT;
	Plugvm__VcpuRequest__SetState ss = PLUGVM__VCPU_REQUEST__SET_STATE__INIT;
	Plugvm__VcpuRequest__GetMsrs gm = PLUGVM__VCPU_REQUEST__GET_MSRS__INIT;
	Plugvm__VcpuRequest__EnableCapability ec = PLUGVM__VCPU_REQUEST__ENABLE_CAPABILITY__INIT;
	Plugvm__VcpuResponse *resp;
	Plugvm__VcpuResponse__Wait__Io *io;
	uint32_t idx[2] = { 0x10 /* TSC */, 0xdeadbeef };
	uint8_t buf[1024];
	bool synic;
	int mem;

	h_connect();
	{
		Plugvm__MainRequest mreq = PLUGVM__MAIN_REQUEST__INIT;
		Plugvm__MainRequest__CheckExtension ce = PLUGVM__MAIN_REQUEST__CHECK_EXTENSION__INIT;
		struct h_reply r;

		ce.extension = 123;
		mreq.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CHECK_EXTENSION;
		mreq.check_extension = &ce;
		call(&mreq, -1, &r);
		synic = r.resp->check_extension && r.resp->check_extension->has_extension;
		h_reply_free(&r);
	}
	mem = h_guest_memfd(vcpu_code, sizeof(vcpu_code), 0x1000);
	CHECK(create_memory(1, mem, 0, 0x1000, 0x1000, false) == 0, "memory");
	CHECK(h_reserve(0, 0x700, 1, false) == 0, "reserve");
	CHECK(h_reserve(0, 0x702, 1, false) == 0, "reserve");
	CHECK(h_start() == 0, "start");
	/*
	 * INIT_PENDING: a Resume gets EPROTO and changes nothing.  (Garbage would
	 * end the VM: the hostile suite's vcpu-undecodable case.)
	 */
	vresume(0, NULL, 0, NULL, NULL);
	vexpect_errno(0, EPROTO);
	vinit_real_mode(0, 0x1000, NULL);
	/* Unreserved 0x701 reads zero without an event; then a 2-byte read of 0x700. */
	resp = vrecv(0);
	io = expect_io(resp);
	CHECK(io->address == 0x700 && !io->is_write && io->data.len == 2 && io->data.data[0] == 0 &&
		      io->data.data[1] == 0,
	      "read event shape");
	h_vfree(resp);
	/* SERVING: Wait is misplaced, an empty oneof is unknown, bad sets and sizes are EINVAL. */
	h_vsend_simple(0, PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	vexpect_errno(0, EPROTO);
	if (write(h_vcpu_w[0], unknown_field, sizeof(unknown_field)) != sizeof(unknown_field))
		h_die("write");
	vexpect_errno(0, ENOTTY);
	gs.set = (Plugvm__VcpuRequest__StateSet)99;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE;
	req.get_state = &gs;
	h_vsend(0, &req);
	vexpect_errno(0, EINVAL);
	ss.set = PLUGVM__VCPU_REQUEST__STATE_SET__REGS;
	ss.state.data = buf;
	ss.state.len = 100;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE;
	req.set_state = &ss;
	h_vsend(0, &req);
	vexpect_errno(0, EINVAL);
	/* Every state set reads back with its exact size. */
	{
		static const size_t sizes[] = { 144, 312, 416, 128, 1024, 4, 392, 64 };

		for (int s = 0; s < 8; s++)
			CHECK(vget_state(0, s, buf, sizes[s]) == 0, "get state %d", s);
	}
	/* GetMsrs returns only what the kernel read. */
	gm.entry_indices = idx;
	gm.n_entry_indices = 2;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS;
	req.get_msrs = &gm;
	h_vsend(0, &req);
	resp = vrecv(0);
	CHECK(resp->errnum == 0 && resp->message_case == PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS &&
		      resp->get_msrs->n_entry_data == 1 && resp->get_msrs->entry_data[0] != 0,
	      "get msrs");
	h_vfree(resp);
	ec.capability = 5;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY;
	req.enable_capability = &ec;
	h_vsend(0, &req);
	vexpect_errno(0, EINVAL);
	ec.capability = 123; /* SynIC: works where the kernel has Hyper-V support */
	h_vsend(0, &req);
	vexpect_errno(0, synic ? 0 : EINVAL);
	/* Short read data is zero-filled: 1 byte for a 2-byte read. */
	buf[0] = 0x34;
	vresume(0, buf, 1, NULL, NULL);
	resp = vrecv(0);
	io = expect_io(resp);
	CHECK(io->address == 0x702 && io->is_write && io->data.len == 2 && io->data.data[0] == 0x34 &&
		      io->data.data[1] == 0x00,
	      "write after short read: %02x %02x", io->data.len ? io->data.data[0] : 0,
	      io->data.len > 1 ? io->data.data[1] : 0);
	h_vfree(resp);
	vresume(0, NULL, 0, NULL, NULL);
	return h_failures ? 1 : 0;
}

/* Main-request errno semantics (docs/protocol.md §2.8) before Start. */
static int scenario_errors(void)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Create c = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	Plugvm__MainRequest__Create__IoEvent ioe = PLUGVM__MAIN_REQUEST__CREATE__IO_EVENT__INIT;
	Plugvm__MainRequest__GetState gs = PLUGVM__MAIN_REQUEST__GET_STATE__INIT;
	Plugvm__MainRequest__SetState ss = PLUGVM__MAIN_REQUEST__SET_STATE__INIT;
	Plugvm__MainRequest__CheckExtension ce = PLUGVM__MAIN_REQUEST__CHECK_EXTENSION__INIT;
	Plugvm__MainRequest__MemoryDirtyLog dl = PLUGVM__MAIN_REQUEST__MEMORY_DIRTY_LOG__INIT;
	Plugvm__MainRequest__SetCallHint sch = PLUGVM__MAIN_REQUEST__SET_CALL_HINT__INIT;
	struct h_reply r;
	uint8_t state[216];
	int mem, fd;

	h_connect();
	/* Unknown request: ENOTTY and no member. */
	{
		static const uint8_t unknown[] = { 0xf8, 0x07, 0x01 };

		h_send_raw(h_sock, unknown, sizeof(unknown), NULL, 0);
		recv_reply(h_sock, &r);
		CHECK(r.resp->errnum == ENOTTY &&
			      r.resp->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE__NOT_SET,
		      "unknown request");
		h_reply_free(&r);
	}
	/* Larger than the original's 4096 bytes but within 64 KiB: decoded and answered. */
	{
		static uint8_t big[70000];

		ss.set = PLUGVM__MAIN_REQUEST__STATE_SET__PIC0;
		ss.state.data = big;
		ss.state.len = 8000;
		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_STATE;
		req.set_state = &ss;
		CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_STATE) == EINVAL,
		      "8000-byte set state");
		/* Over 64 KiB: E2BIG, and the connection survives. */
		h_send_raw(h_sock, big, sizeof(big), NULL, 0);
		recv_reply(h_sock, &r);
		CHECK(r.resp->errnum == E2BIG, "huge request errnum %d", r.resp->errnum);
		h_reply_free(&r);
	}
	/* Ranges: the worked examples of docs/protocol.md §3.1 plus the stricter overlap check. */
	CHECK(h_reserve(0, 0x10, 0, false) == ENOENT, "unreserve nothing");
	CHECK(h_reserve(0, 0x10, 0x10, false) == 0, "a");
	CHECK(h_reserve(0, 0x0f, 0x10, false) == EPERM, "b");
	CHECK(h_reserve(0, 0x10, 0x10, false) == EPERM, "c");
	CHECK(h_reserve(0, 0x12, 0x01, false) == EPERM, "d");
	CHECK(h_reserve(0, 0x00, 0x20, false) == EPERM, "e");
	CHECK(h_reserve(0, 0x20, 0x05, false) == 0, "f");
	CHECK(h_reserve(0, 0x25, 0x05, false) == 0, "g");
	CHECK(h_reserve(0, 0x00, 0x10, false) == 0, "h");
	CHECK(h_reserve(0, 0x12, 0, false) == ENOENT, "unreserve by non-start");
	CHECK(h_reserve(2, 0x1000, 1, false) == EINVAL, "bad space");
	CHECK(h_reserve(1, 0xfffffffffffffff0ull, 0x20, false) == EINVAL, "overflow");
	CHECK(h_reserve(1, 0x100, 0x11, false) == 0, "i");
	CHECK(h_reserve(1, 0x80, 0x81, false) == EPERM, "off-by-one overlap rejected");
	/* Create: ids shared across kinds, EEXIST first, ENOTTY without constructor. */
	c.id = 1;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CREATE;
	req.create = &c;
	CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_CREATE) == ENOTTY, "no ctor");
	ioe.space = PLUGVM__ADDRESS_SPACE__IOPORT;
	ioe.address = 0x3f8;
	ioe.length = 3;
	c.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_IO_EVENT;
	c.io_event = &ioe;
	CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_CREATE) == EINVAL, "length 3");
	ioe.length = 1;
	ioe.datamatch = 0x88;
	call(&req, -1, &r);
	CHECK(r.resp->errnum == 0 && r.nfds == 1, "io event");
	h_reply_free(&r);
	CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_CREATE) == EEXIST, "EEXIST");
	CHECK(h_destroy(1) == 0, "destroy io event");
	CHECK(h_destroy(1) == ENOENT, "destroy twice");
	/* Memory: EBADF without fd, EPERM without the shrink seal, EINVAL out of bounds. */
	CHECK(create_memory(2, -1, 0, 0, 0x1000, false) == EBADF, "no fd");
	fd = memfd_create("unsealed", MFD_CLOEXEC);
	CHECK(ftruncate(fd, 0x2000) == 0, "ftruncate");
	CHECK(create_memory(2, fd, 0, 0, 0x1000, false) == EPERM, "unsealed");
	close(fd);
	mem = h_guest_memfd(NULL, 0, 0x9000);
	CHECK(create_memory(2, mem, 0x1000, 0, 0x9000, false) == EINVAL, "bounds");
	CHECK(create_memory(2, mem, 0xffffffffffff0000ull, 0, 0x10000000, false) ==
		      EOVERFLOW,
	      "overflow");
	CHECK(create_memory(2, mem, 0, 0, 0x9000, true) == 0, "dirty memory");
	CHECK(create_memory(3, mem, 0, 0x100000, 0x9000, false) == 0, "second slot");
	dl.id = 2;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DIRTY_LOG;
	req.dirty_log = &dl;
	call(&req, -1, &r);
	CHECK(r.resp->errnum == 0 && r.resp->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE_DIRTY_LOG &&
		      r.resp->dirty_log->bitmap.len == 2,
	      "dirty log of 9 pages (errnum %d)", r.resp->errnum);
	h_reply_free(&r);
	dl.id = 3;
	CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_DIRTY_LOG) == ENOENT,
	      "dirty log without dirty_log");
	dl.id = 99;
	CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_DIRTY_LOG) == ENOENT,
	      "dirty log unknown id");
	CHECK(h_destroy(3) == 0 && h_destroy(2) == 0, "destroy memory");
	CHECK(create_memory(2, mem, 0, 0, 0x9000, false) == 0, "slot reuse");
	CHECK(h_destroy(2) == 0, "destroy");
	close(mem);
	/* VM state sizes. */
	{
		static const size_t sizes[] = { 16, 16, 216, 112, 48 };

		for (int s = 0; s < 5; s++) {
			gs.set = (Plugvm__MainRequest__StateSet)s;
			req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_STATE;
			req.get_state = &gs;
			call(&req, -1, &r);
			CHECK(r.resp->errnum == 0 && r.resp->get_state &&
				      r.resp->get_state->state.len == sizes[s],
			      "state %d", s);
			if (r.resp->errnum == 0 && r.resp->get_state->state.len == sizes[s]) {
				memcpy(state, r.resp->get_state->state.data, sizes[s]);
				ss.set = (Plugvm__MainRequest__StateSet)s;
				ss.state.data = state;
				ss.state.len = sizes[s];
				req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_STATE;
				req.set_state = &ss;
				if (s == 4)
					memset(state + 8, 0xff, 4); /* clock flags != 0: the kernel refuses */
				CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_STATE) ==
					      (s == 4 ? EINVAL : 0),
				      "set state %d", s);
			}
			h_reply_free(&r);
		}
		gs.set = (Plugvm__MainRequest__StateSet)9;
		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_STATE;
		req.get_state = &gs;
		CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_GET_STATE) == EINVAL,
		      "bad set");
	}
	/* Extensions: IRQCHIP (0) true, S390_PSW (42) false. */
	ce.extension = 0;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CHECK_EXTENSION;
	req.check_extension = &ce;
	call(&req, -1, &r);
	CHECK(r.resp->check_extension && r.resp->check_extension->has_extension, "irqchip");
	h_reply_free(&r);
	ce.extension = 42;
	call(&req, -1, &r);
	CHECK(r.resp->check_extension && !r.resp->check_extension->has_extension, "s390");
	h_reply_free(&r);
	/* Lists. */
	CHECK(simple(PLUGVM__MAIN_REQUEST__MESSAGE_GET_SUPPORTED_CPUID,
		     PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SUPPORTED_CPUID, &r) == 0 &&
		      r.resp->get_supported_cpuid->n_entries > 1,
	      "supported cpuid");
	h_reply_free(&r);
	CHECK(simple(PLUGVM__MAIN_REQUEST__MESSAGE_GET_EMULATED_CPUID,
		     PLUGVM__MAIN_RESPONSE__MESSAGE_GET_EMULATED_CPUID, &r) == 0,
	      "emulated cpuid");
	h_reply_free(&r);
	CHECK(simple(PLUGVM__MAIN_REQUEST__MESSAGE_GET_MSR_INDEX_LIST,
		     PLUGVM__MAIN_RESPONSE__MESSAGE_GET_MSR_INDEX_LIST, &r) == 0 &&
		      r.resp->get_msr_index_list->n_indices > 1,
	      "msr list");
	h_reply_free(&r);
	CHECK(simple(PLUGVM__MAIN_REQUEST__MESSAGE_GET_NET_CONFIG,
		     PLUGVM__MAIN_RESPONSE__MESSAGE_GET_NET_CONFIG, &r) == ENODATA && r.nfds == 0,
	      "no tap");
	h_reply_free(&r);
	/* The kill eventfd is the same file each time. */
	{
		int a = get_fd_reply(PLUGVM__MAIN_REQUEST__MESSAGE_GET_SHUTDOWN_EVENTFD,
				     PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SHUTDOWN_EVENTFD);
		int b = get_fd_reply(PLUGVM__MAIN_REQUEST__MESSAGE_GET_SHUTDOWN_EVENTFD,
				     PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SHUTDOWN_EVENTFD);
		uint64_t one = 1, v = 0;

		CHECK(write(a, &one, 8) == 8 && read(b, &v, 8) == 8 && v == 1, "shared kill eventfd");
		close(a);
		close(b);
	}
	/* Hint: bad space; address 0 clears. */
	sch.space = (Plugvm__AddressSpace)7;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_CALL_HINT;
	req.set_call_hint = &sch;
	CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_CALL_HINT) == EINVAL, "hint");
	sch.space = 0;
	CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_CALL_HINT) == 0, "clear");
	/* Identity map works before Start; Start twice is EINVAL. */
	{
		Plugvm__MainRequest__SetIdentityMapAddr im =
			PLUGVM__MAIN_REQUEST__SET_IDENTITY_MAP_ADDR__INIT;

		im.address = 0xfeffc000;
		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_IDENTITY_MAP_ADDR;
		req.set_identity_map_addr = &im;
		CHECK(call_errno(&req, -1, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_IDENTITY_MAP_ADDR) == 0,
		      "identity map");
	}
	CHECK(h_start() == 0, "start");
	CHECK(simple(PLUGVM__MAIN_REQUEST__MESSAGE_START, PLUGVM__MAIN_RESPONSE__MESSAGE_START,
		     NULL) == EINVAL,
	      "second start");
	return h_failures ? 1 : 0;
}


/*
 * Random and mutated main requests on many connections: the host must answer
 * or drop the connection, never crash or hang, and stay usable.
 */
static int scenario_fuzz(void)
{
	static const uint8_t seeds[][12] = {
		{ 0x52, 0x05, 0x10, 0xf8, 0x07, 0x18, 0x01 },
		{ 0x0a, 0x08, 0x08, 0x01, 0x22, 0x04, 0x08, 0x04, 0x10, 0x01 },
		{ 0xaa, 0x06, 0x02, 0x08, 0x03 },
		{ 0x8a, 0x01, 0x00 },
		{ 0x62, 0x06, 0x0a, 0x04, 0x08, 0x01, 0x12, 0x00 },
		{ 0x6a, 0x02, 0x08, 0x02 },
		{ 0x9a, 0x01, 0x06, 0x10, 0x01, 0x22, 0x02, 0x08, 0x01 },
		{ 0x0a, 0x06, 0x08, 0x05, 0x12, 0x02, 0x18, 0x02 },
	};
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	static const size_t seed_len[] = { 7, 10, 5, 3, 8, 4, 9, 8 };
	Plugvm__MainRequest__NewConnection nc = PLUGVM__MAIN_REQUEST__NEW_CONNECTION__INIT;
	int conns[300];
	size_t n = 0, cur = 0, dropped = 0, answered = 0;
	unsigned seed = (unsigned)time(NULL);
	uint8_t buf[512];

	fprintf(stderr, "fuzz seed %u\n", seed);
	srand(seed);
	h_connect();
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_NEW_CONNECTION;
	req.new_connection = &nc;
	/* Up to the cap; the request past it must fail cleanly. */
	for (;;) {
		struct h_reply r;

		call(&req, -1, &r);
		if (r.resp->errnum) {
			CHECK(r.resp->errnum == EMFILE && r.nfds == 0, "cap errnum %d", r.resp->errnum);
			h_reply_free(&r);
			break;
		}
		CHECK(r.nfds == 1 && n < 300, "new connection %zu", n);
		conns[n++] = r.fds[0];
		r.nfds = 0;
		h_reply_free(&r);
	}
	CHECK(n >= 200, "only %zu connections", n);
	/* Back under the cap, keeping the last one for fuzzing. */
	while (n > 1)
		close(conns[--n]);
	for (int iter = 0; iter < 20000; iter++) {
		size_t len;
		uint8_t rbuf[4096];
		ssize_t got;

		if (rand() % 8) {
			size_t k = (size_t)rand() % (sizeof(seeds) / sizeof(seeds[0]));

			len = seed_len[k];
			memcpy(buf, seeds[k], len);
			if (rand() % 2)
				buf[rand() % len] = (uint8_t)rand();
		} else {
			len = 1 + (size_t)rand() % sizeof(buf);
			for (size_t k = 0; k < len; k++)
				buf[k] = (uint8_t)rand();
		}
		/* Start would make vcpus wait for a handshake this plugin never does: harmless. */
		h_send_raw(conns[cur], buf, len, NULL, 0);
		got = recv(conns[cur], rbuf, sizeof(rbuf), 0);
		if (got <= 0) {
			struct h_reply r;

			close(conns[cur]);
			dropped++;
			call(&req, -1, &r);
			if (r.resp->errnum || r.nfds != 1)
				h_die("cannot reconnect (errnum %d)", r.resp->errnum);
			conns[cur] = r.fds[0];
			r.nfds = 0;
			h_reply_free(&r);
			continue;
		}
		answered++;
		{
			Plugvm__MainResponse *resp =
				plugvm__main_response__unpack(NULL, (size_t)got, rbuf);

			CHECK(resp != NULL, "undecodable reply");
			if (resp)
				plugvm__main_response__free_unpacked(resp, NULL);
		}
	}
	fprintf(stderr, "fuzz: %zu answered, %zu connections dropped\n", answered, dropped);
	CHECK(simple(PLUGVM__MAIN_REQUEST__MESSAGE_GET_VCPUS,
		     PLUGVM__MAIN_RESPONSE__MESSAGE_GET_VCPUS, NULL) == 0,
	      "host still serves");
	return h_failures ? 1 : 0;
}

/* Round trips per second for a trapped PIO write (not a test; prints the median-free mean). */
static const uint8_t bench_code[] = {
	0xba, 0xf8, 0x03, /* mov dx, 0x3f8 */
	0xee,             /* out dx, al */
	0xeb, 0xfd,       /* jmp -3 */
};

static int scenario_bench(void)
{
	struct timespec a, b;
	int mem, n = 20000;

	h_connect();
	mem = h_guest_memfd(bench_code, sizeof(bench_code), 0x1000);
	CHECK(create_memory(1, mem, 0, 0x1000, 0x1000, false) == 0, "memory");
	CHECK(h_reserve(0, 0x3f8, 1, false) == 0, "reserve");
	CHECK(h_start() == 0, "start");
	vinit_real_mode(0, 0x1000, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++) {
		Plugvm__VcpuResponse *resp = vrecv(0);

		expect_io(resp);
		h_vfree(resp);
		vresume(0, NULL, 0, NULL, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	fprintf(stderr, "bench: %.1f us per trapped out\n",
		((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1e3 / n);
	return h_failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *s = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(s, "adder"))
		return scenario_adder();
	if (!strcmp(s, "dying"))
		return scenario_dying(false);
	if (!strcmp(s, "internal"))
		return scenario_dying(true);
	if (!strcmp(s, "exit3"))
		return scenario_exit3();
	if (!strcmp(s, "hang"))
		return scenario_hang();
	if (!strcmp(s, "async"))
		return scenario_async();
	if (!strcmp(s, "pause"))
		return scenario_pause();
	if (!strcmp(s, "vcpu"))
		return scenario_vcpu();
	if (!strcmp(s, "bench"))
		return scenario_bench();
	if (!strcmp(s, "fuzz"))
		return scenario_fuzz();
	if (!strcmp(s, "errors"))
		return scenario_errors();
	fprintf(stderr, "raw-plugin: unknown scenario '%s'\n", s);
	return 91;
}
