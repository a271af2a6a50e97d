// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Every MainRequest handler (host/vm/main-request.c) driven through the fake KVM
 * (tests/lib/kvm-fake.c): no /dev/kvm, no plugin process, a few milliseconds.
 * Each request is packed and unpacked as it would cross the socket, handled,
 * and its reply packed and unpacked again, so what the tests look at is what
 * a client would decode.  After every request the host's object table must
 * agree with the fake kernel, and after every test no descriptor may leak.
 * The errno of each case is the one docs/protocol.md §2.8 gives.
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec.h"
#include "kvm-fake.h"
#include "log.h"
#include "objects.h"
#include "main-request.h"
#include "shm-chan.h"
#include "util.h"
#include "vcpu-shm.h"
#include "vcpu.h"
#include "vm.h"

#define N_VCPUS 2u

struct fixture {
	struct host_config cfg;
	struct vm vm;
	size_t n_conns;
	int lowest_fd;
	Plugvm__MainResponse *resp; /* the last reply, as a client decodes it */
	int fds[WIRE_MAX_FDS];      /* its descriptors (duplicates, closed by the next call) */
	size_t nfds;
};

static char kvm_path[] = "/dev/kvm-fake";

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	close(fd);
	return fd;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	log_set_level(-1);
	f->lowest_fd = lowest_free_fd();
	f->cfg.cpus = N_VCPUS;
	f->cfg.kvm_device = kvm_path;
	assert_int_equal(vm_init_ops(&f->vm, &f->cfg, &kvm_ops_fake), 0);
	assert_int_equal(vcpus_prepare(&f->vm), 0);
	f->vm.kill_efd = eventfd(0, EFD_CLOEXEC);
	assert_true(f->vm.kill_efd >= 0);
	f->n_conns = 1;
	*state = f;
	return 0;
}

static void drop_reply(struct fixture *f)
{
	if (f->resp)
		plugvm__main_response__free_unpacked(f->resp, NULL);
	f->resp = NULL;
	wire_close_fds(f->fds, f->nfds);
	f->nfds = 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	drop_reply(f);
	vcpus_free(&f->vm);
	vm_release(&f->vm);
	kvm_fake_reset();
	assert_int_equal(lowest_free_fd(), f->lowest_fd);
	free(f);
	return 0;
}

/* The host's books and the fake kernel's must describe the same VM. */
static void check_books(struct vm *vm)
{
	struct kvm_fake_stats st;
	unsigned mem = 0, io = 0, irq = 0;

	for (size_t i = 0; i < vm->objects.n; i++) {
		mem += vm->objects.v[i].kind == OBJECT_MEMORY;
		io += vm->objects.v[i].kind == OBJECT_IO_EVENT;
		irq += vm->objects.v[i].kind == OBJECT_IRQ_EVENT;
	}
	kvm_fake_stats(&st);
	assert_int_equal(st.slots, mem);
	assert_int_equal(st.ioeventfds, io);
	assert_int_equal(st.irqfds, irq);
	assert_int_equal(st.slot_bytes, vm->guest_mem);
}

/*
 * Sends req (with fd_in, which the call closes) through the handler as
 * run.c would, and decodes the reply into f->resp.  Returns the errno.
 */
static int call(struct fixture *f, const Plugvm__MainRequest *req, int fd_in)
{
	struct main_ctx ctx = { .vm = &f->vm, .n_conns = f->n_conns, .new_conn_fd = -1 };
	struct main_reply reply;
	Plugvm__MainRequest *in;
	uint8_t *buf;
	size_t len;

	drop_reply(f);
	len = plugvm__main_request__get_packed_size(req);
	buf = malloc(len ? len : 1);
	assert_non_null(buf);
	plugvm__main_request__pack(req, buf);
	in = plugvm__main_request__unpack(NULL, len, buf);
	assert_non_null(in);
	free(buf);

	plugin_main_handle(&ctx, in, &fd_in, &reply);
	if (fd_in >= 0)
		close(fd_in);
	plugvm__main_request__free_unpacked(in, NULL);

	/* What goes on the wire: never empty, positive errno, fds only on success. */
	len = plugvm__main_response__get_packed_size(&reply.resp);
	assert_true(len > 0);
	buf = malloc(len);
	assert_non_null(buf);
	plugvm__main_response__pack(&reply.resp, buf);
	f->resp = plugvm__main_response__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(f->resp);
	assert_true(f->resp->errnum >= 0);
	assert_true(f->resp->errnum == 0 || reply.nfds == 0);
	/* The kernel duplicates sent descriptors; so do we. */
	for (size_t i = 0; i < reply.nfds; i++) {
		f->fds[i] = fcntl(reply.fds[i], F_DUPFD_CLOEXEC, 0);
		assert_true(f->fds[i] >= 0);
	}
	f->nfds = reply.nfds;
	main_reply_release(&reply);
	if (ctx.new_conn_fd >= 0) {
		close(ctx.new_conn_fd);
		f->n_conns++;
	}
	check_books(&f->vm);
	return f->resp->errnum;
}

static int make_memfd(uint64_t size, unsigned seals)
{
	int fd = memfd_create("test-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

/* ---- request builders ---- */

static int create_io_event(struct fixture *f, uint32_t id, uint32_t space, uint64_t addr,
			   uint32_t length, uint64_t datamatch)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Create c = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	Plugvm__MainRequest__Create__IoEvent io = PLUGVM__MAIN_REQUEST__CREATE__IO_EVENT__INIT;

	io.space = (Plugvm__AddressSpace)space;
	io.address = addr;
	io.length = length;
	io.datamatch = datamatch;
	c.id = id;
	c.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_IO_EVENT;
	c.io_event = &io;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CREATE;
	req.create = &c;
	return call(f, &req, -1);
}

static int create_memory(struct fixture *f, uint32_t id, int fd, uint64_t offset, uint64_t start,
			 uint64_t length, bool dirty_log)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Create c = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	Plugvm__MainRequest__Create__Memory m = PLUGVM__MAIN_REQUEST__CREATE__MEMORY__INIT;

	m.offset = offset;
	m.start = start;
	m.length = length;
	m.dirty_log = dirty_log;
	c.id = id;
	c.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_MEMORY;
	c.memory = &m;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CREATE;
	req.create = &c;
	return call(f, &req, fd);
}

static int create_irq_event(struct fixture *f, uint32_t id, uint32_t gsi)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Create c = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	Plugvm__MainRequest__Create__IrqEvent q = PLUGVM__MAIN_REQUEST__CREATE__IRQ_EVENT__INIT;

	q.irq_id = gsi;
	q.resample = false; /* ignored: resampling is always on */
	c.id = id;
	c.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_IRQ_EVENT;
	c.irq_event = &q;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CREATE;
	req.create = &c;
	return call(f, &req, -1);
}

static int destroy(struct fixture *f, uint32_t id)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Destroy d = PLUGVM__MAIN_REQUEST__DESTROY__INIT;

	d.id = id;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DESTROY;
	req.destroy = &d;
	return call(f, &req, -1);
}

static int reserve(struct fixture *f, uint32_t space, uint64_t start, uint64_t length)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__ReserveRange r = PLUGVM__MAIN_REQUEST__RESERVE_RANGE__INIT;

	r.space = (Plugvm__AddressSpace)space;
	r.start = start;
	r.length = length;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_RESERVE_RANGE;
	req.reserve_range = &r;
	return call(f, &req, -1);
}

/* A request whose member carries no fields. */
static int simple(struct fixture *f, Plugvm__MainRequest__MessageCase which)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__NewConnection empty = PLUGVM__MAIN_REQUEST__NEW_CONNECTION__INIT;

	/* Every empty member encodes alike; only the case differs. */
	req.message_case = which;
	req.new_connection = &empty;
	return call(f, &req, -1);
}

/* ---- tests ---- */

static void objects_create_destroy(void **state)
{
	struct fixture *f = *state;
	struct kvm_fake_stats st;

	assert_int_equal(create_io_event(f, 1, 0, 0x3f8, 1, 0x88), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_CREATE);
	assert_int_equal(f->nfds, 1);
	/* The id in use wins over everything else about the request. */
	assert_int_equal(create_io_event(f, 1, 7, 0, 3, 0), EEXIST);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_CREATE);

	assert_int_equal(create_irq_event(f, 2, 4), 0);
	assert_int_equal(f->nfds, 2); /* trigger, resample */
	assert_int_equal(create_memory(f, 3, make_memfd(0x10000, F_SEAL_SHRINK), 0, 0x100000,
				       0x10000, true),
			 0);
	assert_int_equal(f->nfds, 0);
	kvm_fake_stats(&st);
	assert_int_equal(st.slots, 1);
	assert_int_equal(st.slot_bytes, 0x10000);
	assert_int_equal(st.ioeventfds, 1);
	assert_int_equal(st.irqfds, 1);

	for (uint32_t id = 1; id <= 3; id++) {
		assert_int_equal(destroy(f, id), 0);
		assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_DESTROY);
	}
	assert_int_equal(destroy(f, 1), ENOENT);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_DESTROY);
	kvm_fake_stats(&st);
	assert_int_equal(st.slots + st.ioeventfds + st.irqfds, 0);
	/* Freed ids can be used again. */
	assert_int_equal(create_io_event(f, 1, 1, 0x10000, 0, 0), 0);
}

static void objects_create_errors(void **state)
{
	struct fixture *f = *state;
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Create c = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	int p[2];

	c.id = 9;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CREATE;
	req.create = &c;
	assert_int_equal(call(f, &req, -1), ENOTTY);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_CREATE);

	assert_int_equal(create_io_event(f, 9, 2, 0, 1, 0), EINVAL);
	assert_int_equal(create_io_event(f, 9, 0, 0, 3, 0), EINVAL);
	assert_int_equal(create_memory(f, 9, -1, 0, 0, 0x1000, false), EBADF);
	assert_int_equal(create_memory(f, 9, make_memfd(0x1000, 0), 0, 0, 0x1000, false), EPERM);
	assert_int_equal(create_memory(f, 9, make_memfd(0x1000, F_SEAL_SHRINK), UINT64_MAX, 0,
				       0x1000, false),
			 EOVERFLOW);
	assert_int_equal(create_memory(f, 9, make_memfd(0x1000, F_SEAL_SHRINK), 0, 0, 0x2000,
				       false),
			 EINVAL);
	assert_int_equal(create_memory(f, 9, make_memfd(0x2000, F_SEAL_SHRINK), 0,
				       UINT64_MAX - 0xfff, 0x2000, false),
			 EOVERFLOW);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[1]);
	assert_int_not_equal(create_memory(f, 9, p[0], 0, 0, 0x1000, false), 0);
	assert_int_equal(f->nfds, 0);
	/* Two slots may not overlap: the kernel's EEXIST passes through. */
	assert_int_equal(create_memory(f, 10, make_memfd(0x2000, F_SEAL_SHRINK), 0, 0, 0x2000,
				       false),
			 0);
	assert_int_equal(create_memory(f, 11, make_memfd(0x2000, F_SEAL_SHRINK), 0, 0x1000,
				       0x2000, false),
			 EEXIST);
	assert_int_equal(f->vm.objects.n, 1);
}

static void connections_and_eventfds(void **state)
{
	struct fixture *f = *state;
	struct stat a, b;
	int type = 0;
	socklen_t len = sizeof(type);

	assert_int_equal(simple(f, PLUGVM__MAIN_REQUEST__MESSAGE_NEW_CONNECTION), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_NEW_CONNECTION);
	assert_int_equal(f->nfds, 1);
	assert_int_equal(getsockopt(f->fds[0], SOL_SOCKET, SO_TYPE, &type, &len), 0);
	assert_int_equal(type, SOCK_SEQPACKET);
	f->n_conns = VM_MAX_CONNECTIONS;
	assert_int_equal(simple(f, PLUGVM__MAIN_REQUEST__MESSAGE_NEW_CONNECTION), EMFILE);
	assert_int_equal(f->nfds, 0);

	/* The same kill eventfd every time. */
	assert_int_equal(simple(f, PLUGVM__MAIN_REQUEST__MESSAGE_GET_SHUTDOWN_EVENTFD), 0);
	assert_int_equal(f->resp->message_case,
			 PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SHUTDOWN_EVENTFD);
	assert_int_equal(f->nfds, 1);
	assert_int_equal(fstat(f->fds[0], &a), 0);
	assert_int_equal(fstat(f->vm.kill_efd, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
}

static int check_extension(struct fixture *f, uint32_t ext)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__CheckExtension c = PLUGVM__MAIN_REQUEST__CHECK_EXTENSION__INIT;

	c.extension = ext;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CHECK_EXTENSION;
	req.check_extension = &c;
	assert_int_equal(call(f, &req, -1), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_CHECK_EXTENSION);
	return f->resp->check_extension->has_extension;
}

static void kvm_info(void **state)
{
	struct fixture *f = *state;
	struct kvm_cpuid_entry2 k[64];
	uint32_t count;

	assert_true(check_extension(f, KVM_CAP_IRQCHIP));
	/* A count above 1 reads as false (docs/protocol.md §3.10). */
	assert_false(check_extension(f, KVM_CAP_NR_MEMSLOTS));
	assert_false(check_extension(f, 0xffffff));

	assert_int_equal(simple(f, PLUGVM__MAIN_REQUEST__MESSAGE_GET_SUPPORTED_CPUID), 0);
	assert_int_equal(f->resp->message_case,
			 PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SUPPORTED_CPUID);
	assert_int_equal(f->resp->get_supported_cpuid->n_entries, 40);
	assert_int_equal(codec_cpuid_list_to_kvm(f->resp->get_supported_cpuid->entries,
						 f->resp->get_supported_cpuid->n_entries,
						 ARRAY_SIZE(k), k, &count),
			 0);
	/* The fake's pattern survives the trip: flags only where it set them. */
	for (uint32_t i = 0; i < count; i++) {
		assert_int_equal(k[i].eax, 0x1000u + i);
		assert_int_equal(k[i].edx, 0x4000u + i);
		assert_int_equal(k[i].index, i % 3);
		assert_int_equal(k[i].flags, i % 3 ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0);
	}
	assert_int_equal(simple(f, PLUGVM__MAIN_REQUEST__MESSAGE_GET_EMULATED_CPUID), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_GET_EMULATED_CPUID);
	assert_int_equal(f->resp->get_emulated_cpuid->n_entries, 3);

	assert_int_equal(simple(f, PLUGVM__MAIN_REQUEST__MESSAGE_GET_MSR_INDEX_LIST), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_GET_MSR_INDEX_LIST);
	assert_int_equal(f->resp->get_msr_index_list->n_indices, 48);
	assert_int_equal(f->resp->get_msr_index_list->indices[47], 0xc0000080u + 47);

	/* No tap: ENODATA, with the member. */
	assert_int_equal(simple(f, PLUGVM__MAIN_REQUEST__MESSAGE_GET_NET_CONFIG), ENODATA);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_GET_NET_CONFIG);
	assert_int_equal(f->nfds, 0);
}

static void ranges_worked_example(void **state)
{
	struct fixture *f = *state;
	/* docs/protocol.md §3.1, in order, on one space. */
	static const struct {
		uint64_t start, length;
		int err;
	} steps[] = {
		{ 0x10, 0, ENOENT },     { 0x10, 0x10, 0 },      { 0x0f, 0x10, EPERM },
		{ 0x10, 0x10, EPERM },   { 0x10, 0x15, EPERM },  { 0x12, 0x15, EPERM },
		{ 0x12, 0x01, EPERM },   { 0x00, 0x20, EPERM },  { 0x20, 0x05, 0 },
		{ 0x25, 0x05, 0 },       { 0x00, 0x10, 0 },
		/* More adjacent ranges; unreserving where nothing starts. */
		{ 0x2a, 0x10, 0 },       { 0x3a, 0x01, 0 },      { 0x3b, 0x01, 0 },
		{ 0x40, 0x0, ENOENT },
		/* A range ending exactly at 2^64 - 1 is valid, one beyond it is not. */
		{ UINT64_MAX, 1, 0 },    { UINT64_MAX - 1, 3, EINVAL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		assert_int_equal(reserve(f, 0, steps[i].start, steps[i].length), steps[i].err);
		assert_int_equal(f->resp->message_case,
				 PLUGVM__MAIN_RESPONSE__MESSAGE_RESERVE_RANGE);
	}
	/* The edge crosvm missed: a range starting exactly at the new one's last byte. */
	assert_int_equal(reserve(f, 1, 0x20, 5), 0);
	assert_int_equal(reserve(f, 1, 0x10, 0x11), EPERM);
	/* Unreserve by start only, then the space is free again. */
	assert_int_equal(reserve(f, 0, 0x21, 0), ENOENT);
	assert_int_equal(reserve(f, 0, 0x20, 0), 0);
	assert_int_equal(reserve(f, 0, 0x20, 5), 0);
	assert_int_equal(reserve(f, 2, 0x20, 5), EINVAL);
	assert_int_equal(f->vm.ranges[0].n, 8);
	assert_int_equal(f->vm.ranges[1].n, 1);
}

static void interrupts(void **state)
{
	struct fixture *f = *state;
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__SetIrq irq = PLUGVM__MAIN_REQUEST__SET_IRQ__INIT;
	Plugvm__MainRequest__SetIrqRouting rt = PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__INIT;
	Plugvm__MainRequest__SetIrqRouting__Route r[2], *rp[2] = { &r[0], &r[1] }, **many;
	Plugvm__MainRequest__SetIrqRouting__Route__Irqchip chip =
		PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__ROUTE__IRQCHIP__INIT;
	Plugvm__MainRequest__SetIrqRouting__Route__Msi msi =
		PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__ROUTE__MSI__INIT;

	irq.irq_id = 4;
	irq.active = true;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_IRQ;
	req.set_irq = &irq;
	assert_int_equal(call(f, &req, -1), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_IRQ);

	plugvm__main_request__set_irq_routing__route__init(&r[0]);
	plugvm__main_request__set_irq_routing__route__init(&r[1]);
	chip.irqchip = 0;
	chip.pin = 4;
	r[0].irq_id = 4;
	r[0].route_case = PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__ROUTE__ROUTE_IRQCHIP;
	r[0].irqchip = &chip;
	msi.address = 0xfee00000ull | (1ull << 32);
	msi.data = 0x41;
	r[1].irq_id = 24;
	r[1].route_case = PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__ROUTE__ROUTE_MSI;
	r[1].msi = &msi;
	rt.routes = rp;
	rt.n_routes = 2;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_IRQ_ROUTING;
	req.set_irq_routing = &rt;
	assert_int_equal(call(f, &req, -1), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_IRQ_ROUTING);
	/* An empty table is valid (it removes every route). */
	rt.n_routes = 0;
	assert_int_equal(call(f, &req, -1), 0);
	/* A route with neither kind. */
	r[1].route_case = PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__ROUTE__ROUTE__NOT_SET;
	rt.n_routes = 2;
	assert_int_equal(call(f, &req, -1), EINVAL);
	/* One more than the cap. */
	many = calloc(VM_MAX_ROUTES + 1, sizeof(*many));
	assert_non_null(many);
	for (size_t i = 0; i <= VM_MAX_ROUTES; i++)
		many[i] = &r[0];
	rt.routes = many;
	rt.n_routes = VM_MAX_ROUTES + 1;
	assert_int_equal(call(f, &req, -1), EINVAL);
	free(many);
}

static void vm_state(void **state)
{
	struct fixture *f = *state;
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__GetState gs = PLUGVM__MAIN_REQUEST__GET_STATE__INIT;
	Plugvm__MainRequest__SetState ss = PLUGVM__MAIN_REQUEST__SET_STATE__INIT;
	/* Outlives every call: the last request still names ss.state when it is packed. */
	struct kvm_clock_data clock = { .clock = 1, .flags = 0xffffffffu };
	uint8_t image[256];

	for (int set = 0; set <= PLUGVM__MAIN_REQUEST__STATE_SET__CLOCK; set++) {
		size_t size = codec_vm_state_size(set);

		gs.set = (Plugvm__MainRequest__StateSet)set;
		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_STATE;
		req.get_state = &gs;
		assert_int_equal(call(f, &req, -1), 0);
		assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_GET_STATE);
		assert_int_equal(f->resp->get_state->state.len, size);
		memcpy(image, f->resp->get_state->state.data, size);

		/* What Get returned, Set takes back; a byte more or less does not. */
		ss.set = (Plugvm__MainRequest__StateSet)set;
		ss.state = (ProtobufCBinaryData){ size, image };
		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_STATE;
		req.set_state = &ss;
		assert_int_equal(call(f, &req, -1), 0);
		assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_STATE);
		ss.state.len = size - 1;
		assert_int_equal(call(f, &req, -1), EINVAL);
		ss.state.len = size + 1;
		assert_int_equal(call(f, &req, -1), EINVAL);
	}
	/* A CLOCK image with flags is the kernel's EINVAL. */
	ss.set = PLUGVM__MAIN_REQUEST__STATE_SET__CLOCK;
	ss.state = (ProtobufCBinaryData){ sizeof(clock), (uint8_t *)&clock };
	assert_int_equal(call(f, &req, -1), EINVAL);
	gs.set = (Plugvm__MainRequest__StateSet)5;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_STATE;
	req.get_state = &gs;
	assert_int_equal(call(f, &req, -1), EINVAL);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_GET_STATE);
	ss.set = (Plugvm__MainRequest__StateSet)-1;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_STATE;
	req.set_state = &ss;
	assert_int_equal(call(f, &req, -1), EINVAL);
}

static void vcpus_and_start(void **state)
{
	struct fixture *f = *state;
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__SetIdentityMapAddr ima =
		PLUGVM__MAIN_REQUEST__SET_IDENTITY_MAP_ADDR__INIT;
	Plugvm__MainRequest__PauseVcpus pv = PLUGVM__MAIN_REQUEST__PAUSE_VCPUS__INIT;
	Plugvm__MainRequest__VcpuChannel ch = PLUGVM__MAIN_REQUEST__VCPU_CHANNEL__INIT;
	struct stat a, b;

	ima.address = 0xfffbc000u;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_IDENTITY_MAP_ADDR;
	req.set_identity_map_addr = &ima;
	assert_int_equal(call(f, &req, -1), 0);
	assert_int_equal(f->resp->message_case,
			 PLUGVM__MAIN_RESPONSE__MESSAGE_SET_IDENTITY_MAP_ADDR);

	/* Before Start nothing runs: the pause is dropped, with success. */
	pv.cpu_mask = ~0ull;
	pv.user = 7;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_PAUSE_VCPUS;
	req.pause_vcpus = &pv;
	assert_int_equal(call(f, &req, -1), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_PAUSE_VCPUS);
	for (unsigned i = 0; i < N_VCPUS; i++)
		assert_false(f->vm.vcpus[i].pause_pending);

	/* 2 descriptors per vcpu: to_host's write end, to_plugin's read end. */
	assert_int_equal(simple(f, PLUGVM__MAIN_REQUEST__MESSAGE_GET_VCPUS), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_GET_VCPUS);
	assert_int_equal(f->nfds, 2 * N_VCPUS);
	for (unsigned i = 0; i < N_VCPUS; i++) {
		assert_int_equal(fstat(f->fds[2 * i], &a), 0);
		assert_int_equal(fstat(f->vm.vcpus[i].to_host[1], &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
		assert_int_equal(fstat(f->fds[2 * i + 1], &a), 0);
		assert_int_equal(fstat(f->vm.vcpus[i].to_plugin[0], &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
	}

	/* The shared-memory channel: offered, then withdrawn again. */
	ch.version = 1;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_VCPU_CHANNEL;
	req.vcpu_channel = &ch;
	assert_int_equal(call(f, &req, -1), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_VCPU_CHANNEL);
	assert_int_equal(f->resp->vcpu_channel->version, SHM_CHAN_VERSION);
	assert_int_equal(f->resp->vcpu_channel->n_vcpus, N_VCPUS);
	assert_int_equal(f->resp->vcpu_channel->slot_size, SHM_SLOT_SIZE);
	assert_int_equal(f->resp->vcpu_channel->size, N_VCPUS * SHM_SLOT_SIZE);
	assert_int_equal(f->nfds, 1);
	assert_int_equal(fstat(f->fds[0], &a), 0);
	assert_int_equal(a.st_size, N_VCPUS * SHM_SLOT_SIZE);
	assert_true(fcntl(f->fds[0], F_GET_SEALS) & F_SEAL_SHRINK);
	assert_ptr_equal(f->vm.vcpus[1].chan, &vcpu_shm_channel);
	ch.version = 0;
	assert_int_equal(call(f, &req, -1), 0);
	assert_int_equal(f->nfds, 0);
	assert_ptr_equal(f->vm.vcpus[1].chan, &vcpu_pipe_channel);

	assert_int_equal(simple(f, PLUGVM__MAIN_REQUEST__MESSAGE_START), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_START);
	assert_true(f->vm.start_requested);
	assert_int_equal(simple(f, PLUGVM__MAIN_REQUEST__MESSAGE_START), EINVAL);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_START);
	ch.version = 1;
	assert_int_equal(call(f, &req, -1), EBUSY);
	assert_int_equal(f->nfds, 0);
}

static void call_hint(void **state)
{
	struct fixture *f = *state;
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__SetCallHint h = PLUGVM__MAIN_REQUEST__SET_CALL_HINT__INIT;
	Plugvm__MainRequest__SetCallHint__RegHint d =
		PLUGVM__MAIN_REQUEST__SET_CALL_HINT__REG_HINT__INIT;
	Plugvm__MainRequest__SetCallHint__RegHint **many;

	d.match_rax = true;
	d.rax = 0x77;
	d.send_sregs = true;
	h.space = PLUGVM__ADDRESS_SPACE__IOPORT;
	h.address = 0x500;
	h.on_write = true;
	h.hints = (Plugvm__MainRequest__SetCallHint__RegHint *[]){ &d };
	h.n_hints = 1;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_CALL_HINT;
	req.set_call_hint = &h;
	assert_int_equal(call(f, &req, -1), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_SET_CALL_HINT);
	assert_true(f->vm.hint.active);
	assert_int_equal(f->vm.hint.address, 0x500);
	assert_true(f->vm.hint.on_write);
	assert_int_equal(f->vm.hint.n_details, 1);
	assert_true(f->vm.hint.details[0].match[0]);
	assert_int_equal(f->vm.hint.details[0].value[0], 0x77);
	assert_true(f->vm.hint.details[0].send_sregs);
	assert_false(f->vm.hint.details[0].send_debugregs);

	/* Address 0 clears, whatever the rest says. */
	h.address = 0;
	assert_int_equal(call(f, &req, -1), 0);
	assert_false(f->vm.hint.active);
	assert_int_equal(f->vm.hint.n_details, 0);

	h.address = 0x500;
	h.space = (Plugvm__AddressSpace)2;
	assert_int_equal(call(f, &req, -1), EINVAL);
	h.space = PLUGVM__ADDRESS_SPACE__MMIO;
	many = calloc(VM_MAX_HINT_DETAILS + 1, sizeof(*many));
	assert_non_null(many);
	for (size_t i = 0; i <= VM_MAX_HINT_DETAILS; i++)
		many[i] = &d;
	h.hints = many;
	h.n_hints = VM_MAX_HINT_DETAILS + 1;
	assert_int_equal(call(f, &req, -1), EINVAL);
	h.n_hints = VM_MAX_HINT_DETAILS;
	assert_int_equal(call(f, &req, -1), 0);
	assert_int_equal(f->vm.hint.n_details, VM_MAX_HINT_DETAILS);
	free(many);
}

static int dirty_log(struct fixture *f, uint32_t id)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__MemoryDirtyLog d = PLUGVM__MAIN_REQUEST__MEMORY_DIRTY_LOG__INIT;

	d.id = id;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DIRTY_LOG;
	req.dirty_log = &d;
	return call(f, &req, -1);
}

static void dirty_logs(void **state)
{
	struct fixture *f = *state;

	/* 0x9000 bytes: 9 pages, 2 bitmap bytes (the kernel writes 8). */
	assert_int_equal(create_memory(f, 1, make_memfd(0x9000, F_SEAL_SHRINK), 0, 0, 0x9000, true),
			 0);
	assert_int_equal(dirty_log(f, 1), 0);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_DIRTY_LOG);
	assert_int_equal(f->resp->dirty_log->bitmap.len, 2);
	/* Without dirty logging the kernel refuses (ENOENT). */
	assert_int_equal(create_memory(f, 2, make_memfd(0x1000, F_SEAL_SHRINK), 0, 0x10000, 0x1000,
				       false),
			 0);
	assert_int_equal(dirty_log(f, 2), ENOENT);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE_DIRTY_LOG);
	/* Not a memory object, or no object at all. */
	assert_int_equal(create_io_event(f, 3, 0, 0x3f8, 0, 0), 0);
	assert_int_equal(dirty_log(f, 3), ENOENT);
	assert_int_equal(dirty_log(f, 4), ENOENT);
}

static void unknown_request(void **state)
{
	struct fixture *f = *state;
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;

	/* No member at all: the only reply without one (08 32). */
	assert_int_equal(call(f, &req, -1), ENOTTY);
	assert_int_equal(f->resp->message_case, PLUGVM__MAIN_RESPONSE__MESSAGE__NOT_SET);
	assert_int_equal(f->nfds, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(objects_create_destroy, setup, teardown),
		cmocka_unit_test_setup_teardown(objects_create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(connections_and_eventfds, setup, teardown),
		cmocka_unit_test_setup_teardown(kvm_info, setup, teardown),
		cmocka_unit_test_setup_teardown(ranges_worked_example, setup, teardown),
		cmocka_unit_test_setup_teardown(interrupts, setup, teardown),
		cmocka_unit_test_setup_teardown(vm_state, setup, teardown),
		cmocka_unit_test_setup_teardown(vcpus_and_start, setup, teardown),
		cmocka_unit_test_setup_teardown(call_hint, setup, teardown),
		cmocka_unit_test_setup_teardown(dirty_logs, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_request, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
