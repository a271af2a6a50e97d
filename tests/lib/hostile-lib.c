// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostile.h"
#include "shm-chan.h"

int h_sock = -1;
size_t h_nvcpus;
int h_vcpu_w[H_MAX_VCPUS];
int h_vcpu_r[H_MAX_VCPUS];
int h_failures;
static struct wire_frames h_frames[H_MAX_VCPUS];

void h_check_failed(const char *file, int line, const char *expr)
{
	fprintf(stderr, "CHECK FAILED %s:%d: %s: ", file, line, expr);
	h_failures++;
}

void h_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "hostile: fatal: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(90);
}

void h_note_pid(int pid)
{
	const char *dir = getenv("HOSTILE_DIR");
	char path[4096], line[32];
	int fd, n;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/pids", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%d\n", pid);
	if (write(fd, line, (size_t)n) != n)
		fprintf(stderr, "hostile: cannot note pid\n");
	close(fd);
}

bool h_wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

void h_reply_free(struct h_reply *r)
{
	if (r->resp)
		plugvm__main_response__free_unpacked(r->resp, NULL);
	wire_close_fds(r->fds, r->nfds);
	memset(r, 0, sizeof(*r));
}

void h_send_raw(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	int r = wire_send(sock, buf, len, fds, nfds);

	if (r < 0)
		h_die("send of %zu bytes: %s", len, strerror(-r));
}

int h_recv(int sock, struct h_reply *out)
{
	static uint8_t buf[WIRE_MAIN_RESPONSE_MAX];
	unsigned flags;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	if (!h_wait_readable(sock, 10000))
		h_die("no reply within 10 s");
	n = wire_recv(sock, buf, sizeof(buf), out->fds, WIRE_MAX_FDS, &out->nfds, &flags);
	if (n < 0)
		h_die("recv: %s", strerror((int)-n));
	if (n == 0)
		return 0;
	out->resp = plugvm__main_response__unpack(NULL, (size_t)n, buf);
	if (!out->resp)
		h_die("undecodable reply of %zd bytes", n);
	return 1;
}

void h_call_on(int sock, const Plugvm__MainRequest *req, const int *fds, size_t nfds,
	       struct h_reply *out)
{
	size_t len = plugvm__main_request__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);

	plugvm__main_request__pack(req, buf);
	h_send_raw(sock, buf, len, fds, nfds);
	free(buf);
	if (!h_recv(sock, out))
		h_die("the host closed the connection on request %d", req->message_case);
}

int h_errno_on(int sock, const Plugvm__MainRequest *req, const int *fds, size_t nfds,
	       int expect_case)
{
	struct h_reply r;
	int e;

	h_call_on(sock, req, fds, nfds, &r);
	e = r.resp->errnum;
	CHECK((int)r.resp->message_case == expect_case, "reply member %d, expected %d",
	      r.resp->message_case, expect_case);
	CHECK(e == 0 || r.nfds == 0, "%zu fds with errno %d", r.nfds, e);
	h_reply_free(&r);
	return e;
}

int h_simple(int sock, Plugvm__MainRequest__MessageCase c, int expect_case, struct h_reply *out)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Start empty = PLUGVM__MAIN_REQUEST__START__INIT;
	struct h_reply r;
	int e;

	req.message_case = c;
	req.start = &empty;
	h_call_on(sock, &req, NULL, 0, out ? out : &r);
	CHECK((int)(out ? out : &r)->resp->message_case == expect_case, "reply member %d, want %d",
	      (out ? out : &r)->resp->message_case, expect_case);
	e = (out ? out : &r)->resp->errnum;
	if (!out)
		h_reply_free(&r);
	return e;
}

bool h_conn_closed(int sock, int ms)
{
	char b;

	if (!h_wait_readable(sock, ms))
		return false;
	return recv(sock, &b, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
}

void h_connect(void)
{
	const char *s = getenv("CROSVM_SOCKET");
	struct h_reply r;

	h_note_pid(getpid());
	if (!s)
		h_die("no CROSVM_SOCKET");
	h_sock = atoi(s);
	CHECK(h_simple(h_sock, PLUGVM__MAIN_REQUEST__MESSAGE_GET_VCPUS,
		       PLUGVM__MAIN_RESPONSE__MESSAGE_GET_VCPUS, &r) == 0,
	      "GetVcpus");
	if (r.nfds == 0 || r.nfds % 2 || r.nfds / 2 > H_MAX_VCPUS)
		h_die("GetVcpus gave %zu fds", r.nfds);
	h_nvcpus = r.nfds / 2;
	for (size_t i = 0; i < h_nvcpus; i++) {
		h_vcpu_w[i] = r.fds[2 * i];
		h_vcpu_r[i] = r.fds[2 * i + 1];
		wire_frames_init(&h_frames[i], WIRE_VCPU_MESSAGE_MAX);
	}
	r.nfds = 0;
	h_reply_free(&r);
}

int h_new_connection(void)
{
	struct h_reply r;
	int e, fd = -1;

	e = h_simple(h_sock, PLUGVM__MAIN_REQUEST__MESSAGE_NEW_CONNECTION,
		     PLUGVM__MAIN_RESPONSE__MESSAGE_NEW_CONNECTION, &r);
	if (e == 0 && r.nfds == 1) {
		fd = r.fds[0];
		r.nfds = 0;
	}
	h_reply_free(&r);
	return e ? -e : fd;
}

int h_kill_eventfd(void)
{
	struct h_reply r;
	int fd = -1;

	CHECK(h_simple(h_sock, PLUGVM__MAIN_REQUEST__MESSAGE_GET_SHUTDOWN_EVENTFD,
		       PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SHUTDOWN_EVENTFD, &r) == 0 &&
		      r.nfds == 1,
	      "kill eventfd");
	if (r.nfds == 1) {
		fd = r.fds[0];
		r.nfds = 0;
	}
	h_reply_free(&r);
	return fd;
}

int h_reserve(uint32_t space, uint64_t start, uint64_t len, bool async)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__ReserveRange rr = PLUGVM__MAIN_REQUEST__RESERVE_RANGE__INIT;

	rr.space = (Plugvm__AddressSpace)space;
	rr.start = start;
	rr.length = len;
	rr.async_write = async;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_RESERVE_RANGE;
	req.reserve_range = &rr;
	return h_errno_on(h_sock, &req, NULL, 0, PLUGVM__MAIN_RESPONSE__MESSAGE_RESERVE_RANGE);
}

int h_create_memory_fds(uint32_t id, const int *fds, size_t nfds, uint64_t off, uint64_t start,
			uint64_t len, bool dirty)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Create c = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	Plugvm__MainRequest__Create__Memory m = PLUGVM__MAIN_REQUEST__CREATE__MEMORY__INIT;

	m.offset = off;
	m.start = start;
	m.length = len;
	m.dirty_log = dirty;
	c.id = id;
	c.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_MEMORY;
	c.memory = &m;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CREATE;
	req.create = &c;
	return h_errno_on(h_sock, &req, fds, nfds, PLUGVM__MAIN_RESPONSE__MESSAGE_CREATE);
}

int h_create_memory(uint32_t id, int fd, uint64_t off, uint64_t start, uint64_t len)
{
	return h_create_memory_fds(id, &fd, fd >= 0 ? 1 : 0, off, start, len, false);
}

int h_create_irq_event(uint32_t id, uint32_t gsi)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Create c = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	Plugvm__MainRequest__Create__IrqEvent ie = PLUGVM__MAIN_REQUEST__CREATE__IRQ_EVENT__INIT;
	struct h_reply r;
	int e;

	ie.irq_id = gsi;
	ie.resample = true;
	c.id = id;
	c.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_IRQ_EVENT;
	c.irq_event = &ie;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CREATE;
	req.create = &c;
	h_call_on(h_sock, &req, NULL, 0, &r);
	e = r.resp->errnum;
	CHECK(e != 0 || r.nfds == 2, "irq event with %zu fds", r.nfds);
	h_reply_free(&r);
	return e;
}

int h_create_io_event(uint32_t id, uint64_t addr)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Create c = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	Plugvm__MainRequest__Create__IoEvent io = PLUGVM__MAIN_REQUEST__CREATE__IO_EVENT__INIT;

	io.space = PLUGVM__ADDRESS_SPACE__IOPORT;
	io.address = addr;
	c.id = id;
	c.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_IO_EVENT;
	c.io_event = &io;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CREATE;
	req.create = &c;
	return h_errno_on(h_sock, &req, NULL, 0, PLUGVM__MAIN_RESPONSE__MESSAGE_CREATE);
}

int h_destroy(uint32_t id)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Destroy d = PLUGVM__MAIN_REQUEST__DESTROY__INIT;

	d.id = id;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DESTROY;
	req.destroy = &d;
	return h_errno_on(h_sock, &req, NULL, 0, PLUGVM__MAIN_RESPONSE__MESSAGE_DESTROY);
}

int h_start(void)
{
	return h_simple(h_sock, PLUGVM__MAIN_REQUEST__MESSAGE_START,
			PLUGVM__MAIN_RESPONSE__MESSAGE_START, NULL);
}

void h_pause(uint64_t mask, uint64_t user)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__PauseVcpus p = PLUGVM__MAIN_REQUEST__PAUSE_VCPUS__INIT;

	p.cpu_mask = mask;
	p.user = user;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_PAUSE_VCPUS;
	req.pause_vcpus = &p;
	CHECK(h_errno_on(h_sock, &req, NULL, 0, PLUGVM__MAIN_RESPONSE__MESSAGE_PAUSE_VCPUS) == 0,
	      "pause never fails");
}

int h_guest_memfd(const uint8_t *code, size_t len, size_t size)
{
	int fd = memfd_create("guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
	    (len && pwrite(fd, code, len, 0) != (ssize_t)len))
		h_die("memfd: %m");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		h_die("seal: %m");
	return fd;
}

/* ---- vcpu channel ---- */

void h_vsend_raw(size_t v, const void *buf, size_t len)
{
	if (write(h_vcpu_w[v], buf, len) != (ssize_t)len)
		h_die("vcpu %zu write: %m", v);
}

void h_vsend(size_t v, const Plugvm__VcpuRequest *req)
{
	size_t len = plugvm__vcpu_request__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);

	plugvm__vcpu_request__pack(req, buf);
	h_vsend_raw(v, buf, len);
	free(buf);
}

void h_vsend_simple(size_t v, Plugvm__VcpuRequest__MessageCase c)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__Wait empty = PLUGVM__VCPU_REQUEST__WAIT__INIT;

	req.message_case = c;
	req.wait = &empty;
	h_vsend(v, &req);
}

Plugvm__VcpuResponse *h_vrecv(size_t v, int ms)
{
	for (;;) {
		const uint8_t *msg;
		size_t len;
		int r = wire_frames_next(&h_frames[v], &msg, &len);
		ssize_t n;

		if (r < 0)
			h_die("vcpu %zu: bad framing", v);
		if (r == 1) {
			Plugvm__VcpuResponse *resp = plugvm__vcpu_response__unpack(NULL, len, msg);

			if (!resp)
				h_die("vcpu %zu: undecodable response", v);
			return resp;
		}
		if (!h_wait_readable(h_vcpu_r[v], ms))
			h_die("vcpu %zu: no response within %d ms", v, ms);
		n = wire_frames_fill(&h_frames[v], h_vcpu_r[v]);
		if (n == 0)
			return NULL;
		if (n < 0)
			h_die("vcpu %zu read: %s", v, strerror((int)-n));
	}
}

void h_vfree(Plugvm__VcpuResponse *r)
{
	if (r)
		plugvm__vcpu_response__free_unpacked(r, NULL);
}

int h_vexpect(size_t v, int expect_case)
{
	Plugvm__VcpuResponse *resp = h_vrecv(v, 5000);
	int e;

	if (!resp)
		h_die("vcpu %zu: EOF", v);
	e = resp->errnum;
	CHECK((int)resp->message_case == (expect_case < 0 ? 0 : expect_case),
	      "vcpu reply member %d, expected %d (errnum %d)", resp->message_case, expect_case, e);
	h_vfree(resp);
	return e;
}

void h_vresume(size_t v, const void *data, size_t len, const void *regs, size_t regs_len,
	       const void *sregs, size_t sregs_len)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__Resume res = PLUGVM__VCPU_REQUEST__RESUME__INIT;

	res.data.data = (uint8_t *)data;
	res.data.len = len;
	res.regs.data = (uint8_t *)regs;
	res.regs.len = regs ? regs_len : 0;
	res.sregs.data = (uint8_t *)sregs;
	res.sregs.len = sregs ? sregs_len : 0;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_RESUME;
	req.resume = &res;
	h_vsend(v, &req);
}

void h_vinit_wait(size_t v)
{
	Plugvm__VcpuResponse *resp;

	h_vsend_simple(v, PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	resp = h_vrecv(v, 5000);
	if (!resp || resp->errnum || resp->message_case != PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT ||
	    resp->wait->exit_case != PLUGVM__VCPU_RESPONSE__WAIT__EXIT_INIT)
		h_die("vcpu %zu: expected Init", v);
	h_vfree(resp);
}

void h_vinit(size_t v, uint64_t rip)
{
	h_vinit_wait(v);
	h_vinit_finish(v, rip);
}

void h_vinit_finish(size_t v, uint64_t rip)
{
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__GetState gs = PLUGVM__VCPU_REQUEST__GET_STATE__INIT;
	Plugvm__VcpuResponse *resp;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	gs.set = PLUGVM__VCPU_REQUEST__STATE_SET__SREGS;
	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE;
	req.get_state = &gs;
	h_vsend(v, &req);
	resp = h_vrecv(v, 5000);
	if (!resp || resp->errnum || !resp->get_state ||
	    resp->get_state->state.len != sizeof(sregs))
		h_die("vcpu %zu: get sregs", v);
	memcpy(&sregs, resp->get_state->state.data, sizeof(sregs));
	h_vfree(resp);
	sregs.cs.base = sregs.ds.base = sregs.es.base = sregs.ss.base = 0;
	sregs.cs.selector = sregs.ds.selector = sregs.es.selector = sregs.ss.selector = 0;
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rflags = 2;
	regs.rsp = 0xf000;
	h_vresume(v, NULL, 0, &regs, sizeof(regs), &sregs, sizeof(sregs));
}

int h_expect_io(size_t v, uint64_t addr, int ms)
{
	Plugvm__VcpuResponse *resp = h_vrecv(v, ms);
	int r = -1;

	if (resp && resp->errnum == 0 &&
	    resp->message_case == PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT &&
	    resp->wait->exit_case == PLUGVM__VCPU_RESPONSE__WAIT__EXIT_IO &&
	    resp->wait->io->address == addr)
		r = 0;
	CHECK(r == 0, "expected an io event at 0x%llx", (unsigned long long)addr);
	h_vfree(resp);
	return r;
}

/* ---- the shared-memory vcpu channel ---- */

int h_shm_negotiate(struct h_shm *s, uint32_t version, uint32_t *ret_version, uint64_t *ret_size)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__VcpuChannel vc = PLUGVM__MAIN_REQUEST__VCPU_CHANNEL__INIT;
	struct h_reply r;
	int e;

	vc.version = version;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_VCPU_CHANNEL;
	req.vcpu_channel = &vc;
	h_call_on(h_sock, &req, NULL, 0, &r);
	e = r.resp->errnum;
	CHECK(r.resp->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE_VCPU_CHANNEL,
	      "VcpuChannel reply member %d", r.resp->message_case);
	if (ret_version)
		*ret_version = r.resp->vcpu_channel ? r.resp->vcpu_channel->version : 0;
	if (ret_size)
		*ret_size = r.resp->vcpu_channel ? r.resp->vcpu_channel->size : 0;
	if (e == 0 && r.nfds == 1 && r.resp->vcpu_channel) {
		size_t size = (size_t)r.resp->vcpu_channel->size;
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fds[0], 0);

		if (p == MAP_FAILED)
			h_die("mmap of the vcpu channel: %m");
		if (s->base)
			munmap(s->base, s->size);
		memset(s, 0, sizeof(*s));
		s->base = p;
		s->size = size;
		s->slot = p;
	}
	h_reply_free(&r);
	return e;
}

void h_shm_post(struct h_shm *s, const struct shm_req_hdr *h, const void *payload, size_t len)
{
	struct shm_slot *slot = s->slot;

	/* The request area is ours again once the host consumed the last one. */
	for (int i = 0; i < 50000 && shm_load(&slot->req_tail.seq) != s->req_head; i++)
		usleep(100);
	memcpy(&slot->req.h, h, sizeof(*h));
	if (len)
		memcpy(slot->req.u.data, payload, len < SHM_IO_MAX ? len : SHM_IO_MAX);
	shm_post(&slot->req_head, ++s->req_head);
}

int h_shm_next(struct h_shm *s, struct shm_msg *out, int ms)
{
	struct shm_slot *slot = s->slot;

	for (int waited = 0; shm_load(&slot->ev_head.seq) == s->ev_tail; waited++) {
		if (waited >= ms * 10)
			return -1;
		usleep(100);
	}
	memcpy(out, &slot->ring[s->ev_tail % SHM_RING], sizeof(*out));
	shm_post(&slot->ev_tail, ++s->ev_tail);
	return 0;
}
