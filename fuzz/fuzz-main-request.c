// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Fuzzes the host's main-request handling (host/vm/main-request.c and the VM
 * side of host/vm/vm.c) against the fake KVM: a sequence of requests, each
 * decoded as run.c decodes it, handled, and its reply packed and checked.
 *
 * Input: a first byte (the vcpu count in bits 0-1, the host's
 * --no-extensions in bit 6), then records of [fd byte][length, 2 bytes
 * LE][request bytes].  The fd
 * byte picks the descriptor sent with the request (a sealed, unsealed,
 * write-sealed or 1 TiB sparse memfd, a pipe, an eventfd, or none) and
 * whether the connection count sits at the cap.
 *
 * After every request the host's books must agree with the "kernel": one
 * slot per memory object, one ioeventfd per io event, one irqfd per irq
 * event, guest bytes equal.  After every input no descriptor may leak.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "kvm-fake.h"
#include "log.h"
#include "objects.h"
#include "main-request.h"
#include "vcpu-shm.h"
#include "vcpu.h"
#include "vm.h"

enum { FD_SEALED, FD_UNSEALED, FD_WSEALED, FD_HUGE, FD_PIPE, FD_EVENT, FD_KINDS };

static int templates[FD_KINDS];
static char kvm_path[] = "/dev/kvm-fake";
/*
 * The vcpus' pipes (256 KiB each) cost more than everything else an input
 * does, and no main request changes them: made once, lent to every VM.
 */
#define FUZZ_MAX_VCPUS 4u
static struct vm pipes_vm;

static int make_memfd(uint64_t size, unsigned seals)
{
	int fd = memfd_create("fuzz-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		abort();
	if (seals && fcntl(fd, F_ADD_SEALS, seals) < 0)
		abort();
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int p[2];

	(void)argc;
	(void)argv;
	log_set_level(-1);
	templates[FD_SEALED] = make_memfd(0x40000, F_SEAL_SHRINK);
	templates[FD_UNSEALED] = make_memfd(0x10000, 0);
	templates[FD_WSEALED] = make_memfd(0x4000, F_SEAL_SHRINK | F_SEAL_WRITE);
	templates[FD_HUGE] = make_memfd(1ull << 40, F_SEAL_SHRINK | F_SEAL_GROW);
	if (pipe2(p, O_CLOEXEC) < 0)
		abort();
	templates[FD_PIPE] = p[0];
	templates[FD_EVENT] = eventfd(0, EFD_CLOEXEC);
	pipes_vm.n_vcpus = FUZZ_MAX_VCPUS;
	if (vcpus_prepare(&pipes_vm) < 0)
		abort();
	return 0;
}

/* The host's object table and the fake kernel must describe the same VM. */
static void check_books(struct vm *vm)
{
	struct kvm_fake_stats st;
	unsigned mem = 0, io = 0, irq = 0;

	for (size_t i = 0; i < vm->objects.n; i++) {
		switch (vm->objects.v[i].kind) {
		case OBJECT_MEMORY:
			mem++;
			break;
		case OBJECT_IO_EVENT:
			io++;
			break;
		case OBJECT_IRQ_EVENT:
			irq++;
			break;
		default:
			FUZZ_CHECK(0, "object of kind %d", vm->objects.v[i].kind);
		}
	}
	kvm_fake_stats(&st);
	FUZZ_CHECK(st.slots == mem, "%u slots, %u memory objects", st.slots, mem);
	FUZZ_CHECK(st.ioeventfds == io, "%u ioeventfds, %u io events", st.ioeventfds, io);
	FUZZ_CHECK(st.irqfds == irq, "%u irqfds, %u irq events", st.irqfds, irq);
	FUZZ_CHECK(st.slot_bytes == vm->guest_mem, "%llu slot bytes, %llu accounted",
		   (unsigned long long)st.slot_bytes, (unsigned long long)vm->guest_mem);
	FUZZ_CHECK(vm->guest_mem <= VM_MAX_GUEST_MEMORY, "guest memory over the cap");
	FUZZ_CHECK(vm->objects.n <= VM_MAX_OBJECTS, "objects over the cap");
}

static void check_reply(const struct main_reply *reply, int msg_case)
{
	size_t len = plugvm__main_response__get_packed_size(&reply->resp);
	uint8_t *buf = malloc(len ? len : 1);
	Plugvm__MainResponse *back;

	FUZZ_CHECK(buf, "malloc");
	plugvm__main_response__pack(&reply->resp, buf);
	/* The host never sends an empty datagram: it would read as EOF (docs/protocol.md §2.1). */
	FUZZ_CHECK(len > 0, "empty reply to request case %d", msg_case);
	back = plugvm__main_response__unpack(NULL, len, buf);
	FUZZ_CHECK(back, "reply does not decode");
	FUZZ_CHECK(back->errnum >= 0, "negative errnum %d", back->errnum);
	if (back->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE__NOT_SET)
		FUZZ_CHECK(back->errnum != 0, "a reply without member must carry an errno");
	FUZZ_CHECK(reply->nfds <= WIRE_MAX_FDS, "%zu fds", reply->nfds);
	FUZZ_CHECK(back->errnum == 0 || reply->nfds == 0, "fds with an error reply");
	for (size_t i = 0; i < reply->nfds; i++)
		FUZZ_CHECK(fcntl(reply->fds[i], F_GETFD) >= 0, "reply fd %d not open",
			   reply->fds[i]);
	plugvm__main_response__free_unpacked(back, NULL);
	free(buf);
}

/* With --no-extensions every API 0.23 request gets crosvm's answer: ENOTTY, no member. */
static void check_no_extension(const Plugvm__MainRequest *req, const struct main_reply *reply)
{
	bool ext = req->message_case == PLUGVM__MAIN_REQUEST__MESSAGE_EXTENSIONS ||
		   req->message_case == PLUGVM__MAIN_REQUEST__MESSAGE_DEFAULT_CPUID ||
		   req->message_case == PLUGVM__MAIN_REQUEST__MESSAGE_RESET_EVENTS ||
		   req->message_case == PLUGVM__MAIN_REQUEST__MESSAGE_IO_DETAILS ||
		   req->message_case == PLUGVM__MAIN_REQUEST__MESSAGE_RESERVE_RANGE_MODE ||
		   req->message_case == PLUGVM__MAIN_REQUEST__MESSAGE_MEMORY_READ_ONLY ||
		   req->message_case == PLUGVM__MAIN_REQUEST__MESSAGE_MEMORY_REPLACE ||
		   (req->message_case == PLUGVM__MAIN_REQUEST__MESSAGE_CREATE &&
		    req->create->constructor_case ==
			    PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_EDGE_IRQ_EVENT);

	if (!ext)
		return;
	/*
	 * A Create whose constructor the host does not know is a Create with no
	 * constructor: an id in use is reported first (docs/protocol.md §2.8).
	 */
	FUZZ_CHECK(reply->resp.errnum == ENOTTY ||
			   (req->message_case == PLUGVM__MAIN_REQUEST__MESSAGE_CREATE &&
			    reply->resp.errnum == EEXIST),
		   "extension case %d answered errno %d with them off",
		   (int)req->message_case, reply->resp.errnum);
	FUZZ_CHECK(req->message_case == PLUGVM__MAIN_REQUEST__MESSAGE_CREATE ||
			   reply->resp.message_case == PLUGVM__MAIN_RESPONSE__MESSAGE__NOT_SET,
		   "extension case %d answered with a member with them off",
		   (int)req->message_case);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct host_config cfg;
	struct vm vm;
	size_t pos = 1, n_conns = 1;
	int probe = fuzz_lowest_free_fd();

	if (size < 1)
		return 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.cpus = 1 + data[0] % FUZZ_MAX_VCPUS;
	cfg.no_extensions = (data[0] & 0x40) != 0;
	cfg.kvm_device = kvm_path;
	FUZZ_CHECK(vm_init_ops(&vm, &cfg, &kvm_ops_fake) == 0, "vm_init");
	vm.vcpus = pipes_vm.vcpus;
	vm.kill_efd = eventfd(0, EFD_CLOEXEC);

	while (size - pos >= 3) {
		uint8_t sel = data[pos];
		size_t len = (size_t)data[pos + 1] | (size_t)data[pos + 2] << 8;
		struct main_ctx ctx = { .vm = &vm, .n_conns = n_conns, .new_conn_fd = -1 };
		struct main_reply reply;
		Plugvm__MainRequest *req;
		int fd_in = -1;

		pos += 3;
		if (len > size - pos)
			len = size - pos;
		req = plugvm__main_request__unpack(NULL, len, data + pos);
		pos += len;
		/* run.c closes the connection on an undecodable request: nothing to handle. */
		if (!req)
			continue;
		if (sel % 8 < FD_KINDS)
			fd_in = fcntl(templates[sel % 8], F_DUPFD_CLOEXEC, 0);
		if (sel & 0x80)
			ctx.n_conns = VM_MAX_CONNECTIONS;
		plugin_main_handle(&ctx, req, &fd_in, &reply);
		if (fd_in >= 0)
			close(fd_in);
		check_reply(&reply, (int)req->message_case);
		if (cfg.no_extensions)
			check_no_extension(req, &reply);
		main_reply_release(&reply);
		if (ctx.new_conn_fd >= 0) {
			FUZZ_CHECK(ctx.n_conns < VM_MAX_CONNECTIONS, "connection over the cap");
			close(ctx.new_conn_fd);
			n_conns++;
		}
		plugvm__main_request__free_unpacked(req, NULL);
		check_books(&vm);
	}

	for (unsigned i = 0; i < vm.n_vcpus; i++)
		FUZZ_CHECK(!vm.vcpus[i].thread_started, "a vcpu thread started");
	/* A negotiated shared-memory channel belongs to this VM, not to the lent pipes. */
	vcpus_shm_free(&vm);
	vm.vcpus = NULL;
	vm_release(&vm);
	kvm_fake_reset();
	FUZZ_CHECK(fuzz_lowest_free_fd() == probe, "descriptor leak (lowest free fd %d, was %d)",
		   fuzz_lowest_free_fd(), probe);
	return 0;
}
