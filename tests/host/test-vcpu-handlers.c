// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Every vcpu request handler and the vcpu state machine (host/vm/vcpu-req.c,
 * host/vm/vcpu-exit.c, docs/protocol.md §4.3 to §4.5, §4.7) driven through the fake KVM, over both
 * transports: crosvm's pipes (the real pipe channel, a scripted plugin
 * writing encoded requests into to_host and reading the framed responses
 * back) and the shared-memory slot (the real slot channel, the scripted
 * plugin using the library's slot encoder and decoder, common/shm-proto.c).
 * Every test runs once per transport.  No /dev/kvm, no threads: the exits
 * are set up in the vcpu's kvm_run by hand, as KVM would leave them.
 *
 * The vcpu module's sources (host/vm/vcpu*.c, listed in vcpu-internal.h)
 * are included, not linked, to reach the state machine's static functions.
 */
#include "../../host/vm/vcpu.c"
#include "../../host/vm/vcpu-pipe.c"
#include "../../host/vm/vcpu-req.c"
#include "../../host/vm/vcpu-exit.c"
#include "../../host/vm/vcpu-ext.c"
#include "../../host/vm/vcpu-shm.c"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/eventfd.h>

#include <cmocka.h>

#include "codec.h"
#include "kvm-fake.h"
#include "shm-proto.h"
#include "util.h"

#define MAX_STEPS 64

/* One step of the scripted plugin: a request, or raw bytes / a raw slot header. */
struct step {
	const Plugvm__VcpuRequest *req;
	const uint8_t *raw; /* pipe: bytes written as they are */
	size_t raw_len;
	const struct shm_req_hdr *raw_hdr; /* slot: a header posted as it is */
};

struct fixture {
	bool shm;
	struct host_config cfg;
	struct vm vm;
	struct vcpu *v;
	int lowest_fd;
	struct step steps[MAX_STEPS];
	size_t n_steps, pos;
	Plugvm__VcpuResponse *got[MAX_STEPS]; /* what the plugin read, decoded */
	size_t n_got;
	struct wire_frames frames;
	struct shm_msg_copy *in; /* the plugin's decoded slot message */
	uint32_t req_head, ev_tail; /* the plugin's slot counters */
};

static struct fixture *F;
static char kvm_path[] = "/dev/kvm-fake";

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	close(fd);
	return fd;
}

static void got_packed(const uint8_t *msg, size_t len)
{
	Plugvm__VcpuResponse *resp = plugvm__vcpu_response__unpack(NULL, len, msg);

	assert_non_null(resp);
	assert_true(resp->errnum >= 0);
	assert_true(F->n_got < MAX_STEPS);
	F->got[F->n_got++] = resp;
}

/* ---- the plugin's side of the pipes ---- */

static int t_pipe_send(struct vcpu *v, const Plugvm__VcpuResponse *resp)
{
	int r = vcpu_pipe_channel.send(v, resp);

	for (;;) {
		const uint8_t *msg;
		size_t len;
		int n = wire_frames_next(&F->frames, &msg, &len);

		assert_true(n >= 0);
		if (n == 1) {
			got_packed(msg, len);
			continue;
		}
		if (wire_frames_fill(&F->frames, v->to_plugin[0]) <= 0)
			break;
	}
	return r;
}

static int t_pipe_recv(struct vcpu *v, Plugvm__VcpuRequest **ret_req)
{
	const struct step *s;
	static uint8_t buf[WIRE_VCPU_MESSAGE_MAX];
	size_t len;

	/* The script is over: the plugin is gone (reads as Shutdown). */
	if (F->pos == F->n_steps)
		return -EPIPE;
	s = &F->steps[F->pos++];
	if (s->req) {
		len = plugvm__vcpu_request__get_packed_size(s->req);
		assert_true(len <= sizeof(buf));
		plugvm__vcpu_request__pack(s->req, buf);
		assert_int_equal(write(v->to_host[1], buf, len), (ssize_t)len);
	} else {
		assert_int_equal(write(v->to_host[1], s->raw, s->raw_len), (ssize_t)s->raw_len);
	}
	return vcpu_pipe_channel.recv(v, ret_req);
}

static void t_pipe_release(struct vcpu *v, Plugvm__VcpuRequest *req)
{
	vcpu_pipe_channel.release(v, req);
}

static const struct vcpu_chan_ops test_pipe = {
	.send = t_pipe_send,
	.recv = t_pipe_recv,
	.release = t_pipe_release,
};

/* ---- the plugin's side of the slot ---- */

static int t_shm_send(struct vcpu *v, const Plugvm__VcpuResponse *resp)
{
	struct shm_slot *slot = v->shm->slot;
	int r = vcpu_shm_channel.send(v, resp);
	uint8_t *buf;
	size_t len;

	if (r < 0)
		return r;
	assert_int_equal(shm_load(&slot->ev_head.seq), F->ev_tail + 1);
	assert_int_equal(shm_msg_decode(F->in, &slot->ring[F->ev_tail % SHM_RING], &slot->reply),
			 0);
	F->ev_tail++;
	shm_post(&slot->ev_tail, F->ev_tail);
	len = plugvm__vcpu_response__get_packed_size(&F->in->resp);
	buf = malloc(len ? len : 1);
	assert_non_null(buf);
	plugvm__vcpu_response__pack(&F->in->resp, buf);
	got_packed(buf, len);
	free(buf);
	return 0;
}

static int t_shm_recv(struct vcpu *v, Plugvm__VcpuRequest **ret_req)
{
	struct shm_slot *slot = v->shm->slot;
	const struct step *s;
	struct shm_req_hdr h;

	if (F->pos == F->n_steps)
		return -EPIPE;
	s = &F->steps[F->pos++];
	memset(&h, 0, sizeof(h));
	if (s->req)
		assert_int_equal(shm_request_encode(&slot->req, &h, s->req), 0);
	else
		h = *s->raw_hdr;
	memcpy(&slot->req.h, &h, sizeof(h));
	shm_post(&slot->req_head, ++F->req_head);
	return vcpu_shm_channel.recv(v, ret_req);
}

static void t_shm_release(struct vcpu *v, Plugvm__VcpuRequest *req)
{
	vcpu_shm_channel.release(v, req);
}

static const struct vcpu_chan_ops test_shm = {
	.send = t_shm_send,
	.recv = t_shm_recv,
	.release = t_shm_release,
};

/* ---- fixture ---- */

static int setup(void **state, bool shm)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vcpu_channel_info info;
	int r;

	assert_non_null(f);
	F = f;
	log_set_level(-1);
	setenv("SHM_SPIN_NS", "0", 1);
	f->shm = shm;
	f->lowest_fd = lowest_free_fd();
	f->cfg.cpus = 1;
	f->cfg.kvm_device = kvm_path;
	assert_int_equal(vm_init_ops(&f->vm, &f->cfg, &kvm_ops_fake), 0);
	assert_int_equal(vcpus_prepare(&f->vm), 0);
	f->vm.kill_efd = eventfd(0, EFD_CLOEXEC);
	f->v = &f->vm.vcpus[0];
	assert_int_equal(vcpu_alloc_buffers(f->v), 0);
	/* The scripted plugin drains its end without blocking. */
	assert_int_equal(fcntl(f->v->to_plugin[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(wire_frames_init(&f->frames, WIRE_VCPU_MESSAGE_MAX), 0);
	r = f->vm.kvm->ioctl(f->vm.vm_fd, KVM_CREATE_VCPU, (void *)0ul);
	assert_true(r >= 0);
	f->v->fd = r;
	f->v->run = f->vm.kvm->map_run(f->v->fd, f->vm.run_size);
	assert_non_null(f->v->run);
	f->in = calloc(1, sizeof(*f->in));
	assert_non_null(f->in);
	if (shm) {
		assert_int_equal(vcpus_negotiate_channel(&f->vm, 1, &info), 0);
		assert_true(info.fd >= 0);
		f->v->chan = &test_shm;
	} else {
		f->v->chan = &test_pipe;
	}
	/* Ranges as a plugin would reserve them. */
	assert_int_equal(ranges_reserve(&f->vm.ranges[VM_SPACE_PIO], 0x3f8, 2, false), 0);
	assert_int_equal(ranges_reserve(&f->vm.ranges[VM_SPACE_PIO], 0x500, 1, true), 0);
	assert_int_equal(ranges_reserve(&f->vm.ranges[VM_SPACE_MMIO], 0x10000, 0x1000, false), 0);
	*state = f;
	return 0;
}

static int setup_pipe(void **state)
{
	return setup(state, false);
}

static int setup_shm(void **state)
{
	return setup(state, true);
}

static void drop_got(struct fixture *f)
{
	for (size_t i = 0; i < f->n_got; i++)
		plugvm__vcpu_response__free_unpacked(f->got[i], NULL);
	f->n_got = 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	drop_got(f);
	wire_frames_free(&f->frames);
	free(f->in);
	vcpus_free(&f->vm);
	vm_release(&f->vm);
	kvm_fake_reset();
	assert_int_equal(lowest_free_fd(), f->lowest_fd);
	free(f);
	F = NULL;
	return 0;
}

/* ---- script builders (the requests live in a pool that lasts one test) ---- */

struct pool {
	Plugvm__VcpuRequest req[MAX_STEPS];
	union {
		Plugvm__VcpuRequest__Wait wait;
		Plugvm__VcpuRequest__Resume resume;
		Plugvm__VcpuRequest__GetState get_state;
		Plugvm__VcpuRequest__SetState set_state;
		Plugvm__VcpuRequest__GetMsrs get_msrs;
		Plugvm__VcpuRequest__SetMsrs set_msrs;
		Plugvm__VcpuRequest__SetCpuid set_cpuid;
		Plugvm__VcpuRequest__Shutdown shutdown;
		Plugvm__CpuidRequest get_hyperv_cpuid;
		Plugvm__VcpuRequest__EnableCapability enable_capability;
		Plugvm__VcpuRequest__GetXsave get_xsave;
		Plugvm__VcpuRequest__SetXsave set_xsave;
	} m[MAX_STEPS];
	size_t n;
};

static struct pool P;

static Plugvm__VcpuRequest *push(Plugvm__VcpuRequest__MessageCase which)
{
	Plugvm__VcpuRequest *req;

	assert_true(F->n_steps < MAX_STEPS && P.n < MAX_STEPS);
	req = &P.req[P.n];
	plugvm__vcpu_request__init(req);
	req->message_case = which;
	/* Every member pointer aliases the same storage; message_case picks one. */
	req->wait = &P.m[P.n].wait;
	memset(&P.m[P.n], 0, sizeof(P.m[P.n]));
	switch (which) {
	case PLUGVM__VCPU_REQUEST__MESSAGE_WAIT:
		plugvm__vcpu_request__wait__init(&P.m[P.n].wait);
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_RESUME:
		plugvm__vcpu_request__resume__init(&P.m[P.n].resume);
		req->resume = &P.m[P.n].resume;
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE:
		plugvm__vcpu_request__get_state__init(&P.m[P.n].get_state);
		req->get_state = &P.m[P.n].get_state;
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE:
		plugvm__vcpu_request__set_state__init(&P.m[P.n].set_state);
		req->set_state = &P.m[P.n].set_state;
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS:
		plugvm__vcpu_request__get_msrs__init(&P.m[P.n].get_msrs);
		req->get_msrs = &P.m[P.n].get_msrs;
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_SET_MSRS:
		plugvm__vcpu_request__set_msrs__init(&P.m[P.n].set_msrs);
		req->set_msrs = &P.m[P.n].set_msrs;
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_SET_CPUID:
		plugvm__vcpu_request__set_cpuid__init(&P.m[P.n].set_cpuid);
		req->set_cpuid = &P.m[P.n].set_cpuid;
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN:
		plugvm__vcpu_request__shutdown__init(&P.m[P.n].shutdown);
		req->shutdown = &P.m[P.n].shutdown;
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_GET_HYPERV_CPUID:
		plugvm__cpuid_request__init(&P.m[P.n].get_hyperv_cpuid);
		req->get_hyperv_cpuid = &P.m[P.n].get_hyperv_cpuid;
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY:
		plugvm__vcpu_request__enable_capability__init(&P.m[P.n].enable_capability);
		req->enable_capability = &P.m[P.n].enable_capability;
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE:
		plugvm__vcpu_request__get_xsave__init(&P.m[P.n].get_xsave);
		req->get_xsave = &P.m[P.n].get_xsave;
		break;
	case PLUGVM__VCPU_REQUEST__MESSAGE_SET_XSAVE:
		plugvm__vcpu_request__set_xsave__init(&P.m[P.n].set_xsave);
		req->set_xsave = &P.m[P.n].set_xsave;
		break;
	default:
		break;
	}
	F->steps[F->n_steps++] = (struct step){ .req = req };
	P.n++;
	return req;
}

static void push_get_state(int set)
{
	push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE)->get_state->set =
		(Plugvm__VcpuRequest__StateSet)set;
}

static void push_set_state(int set, const void *image, size_t len)
{
	Plugvm__VcpuRequest *r = push(PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE);

	r->set_state->set = (Plugvm__VcpuRequest__StateSet)set;
	r->set_state->state = (ProtobufCBinaryData){ len, (uint8_t *)(uintptr_t)image };
}

static Plugvm__VcpuRequest__Resume *push_resume(const void *data, size_t len)
{
	Plugvm__VcpuRequest *r = push(PLUGVM__VCPU_REQUEST__MESSAGE_RESUME);

	r->resume->data = (ProtobufCBinaryData){ len, (uint8_t *)(uintptr_t)data };
	return r->resume;
}

static void start_script(void)
{
	F->n_steps = F->pos = 0;
	P.n = 0;
	drop_got(F);
}

/* The i-th response the plugin read: its member and errno. */
static const Plugvm__VcpuResponse *got(size_t i, Plugvm__VcpuResponse__MessageCase which, int err)
{
	assert_true(i < F->n_got);
	assert_int_equal(F->got[i]->message_case, which);
	assert_int_equal(F->got[i]->errnum, err);
	return F->got[i];
}

/* Init: the plugin's Wait, answered Init, then Resume. */
static void handshake(void)
{
	start_script();
	push(PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	push_resume(NULL, 0);
	assert_int_equal(vcpu_init_handshake(F->v), 0);
	got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0);
	assert_int_equal(F->got[0]->wait->exit_case, PLUGVM__VCPU_RESPONSE__WAIT__EXIT_INIT);
	assert_int_equal(F->n_got, 1);
	start_script();
}

/* ---- tests ---- */

static void init_handshake_requests(void **state)
{
	struct fixture *f = *state;
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2, .rax = 0x1234 };
	struct kvm_sregs sregs;
	uint8_t image[VCPU_STATE_MAX_SIZE];
	static uint32_t indices[] = { 1, 2, 100 };
	static uint32_t indices2[] = { 1, 2 };
	static const uint8_t unknown[] = { 0x58, 0x01 };
	static const struct shm_req_hdr unknown_hdr = { .kind = 11 };
	Plugvm__VcpuRequest__MsrEntry msr[2], *msrp[2] = { &msr[0], &msr[1] };
	Plugvm__CpuidEntry cpuid[2], *cpuidp[2] = { &cpuid[0], &cpuid[1] };
	Plugvm__VcpuRequest *r;
	Plugvm__VcpuRequest__Resume *res;
	size_t k = 0;

	memset(&sregs, 0, sizeof(sregs));
	sregs.cs.selector = 0x10;
	for (int i = 0; i < 2; i++) {
		struct kvm_cpuid_entry2 e = { .function = (uint32_t)i, .index = 1,
					       .flags = (uint32_t)i };

		codec_cpuid_from_kvm(&e, &cpuid[i]);
		plugvm__vcpu_request__msr_entry__init(&msr[i]);
		msr[i].index = (uint32_t)i + 1;
		msr[i].data = 0x50u + (uint32_t)i;
	}

	start_script();
	/* INIT_PENDING: anything but Wait is EPROTO, the state stays. */
	push_get_state(PLUGVM__VCPU_REQUEST__STATE_SET__REGS);
	push_resume(NULL, 0);
	push(PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	/* SERVING: every request gets one reply with its own member. */
	push_set_state(PLUGVM__VCPU_REQUEST__STATE_SET__SREGS, &sregs, sizeof(sregs));
	push_get_state(PLUGVM__VCPU_REQUEST__STATE_SET__SREGS);
	push_set_state(PLUGVM__VCPU_REQUEST__STATE_SET__SREGS, &sregs, sizeof(sregs) - 1);
	push_get_state(99);
	r = push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS);
	r->get_msrs->entry_indices = indices;
	r->get_msrs->n_entry_indices = 3;
	r = push(PLUGVM__VCPU_REQUEST__MESSAGE_SET_MSRS);
	r->set_msrs->entries = msrp;
	r->set_msrs->n_entries = 2;
	r = push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS);
	r->get_msrs->entry_indices = indices2;
	r->get_msrs->n_entry_indices = 2;
	r = push(PLUGVM__VCPU_REQUEST__MESSAGE_SET_CPUID);
	r->set_cpuid->entries = cpuidp;
	r->set_cpuid->n_entries = 2;
	push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_HYPERV_CPUID);
	push(PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY)->enable_capability->capability = 123;
	push(PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY)->enable_capability->capability = 148;
	push(PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY)->enable_capability->capability = 5;
	push(PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	/* A member the host does not know: field 11 on the pipe, kind 11 in the slot. */
	f->steps[f->n_steps++] = (struct step){ .raw = unknown, .raw_len = sizeof(unknown),
						 .raw_hdr = &unknown_hdr };
	/* The Resume that ends Init carries the initial registers. */
	res = push_resume(NULL, 0);
	res->regs = (ProtobufCBinaryData){ sizeof(regs), (uint8_t *)&regs };
	assert_int_equal(vcpu_init_handshake(f->v), 0);
	assert_int_equal(f->pos, f->n_steps);

	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE__NOT_SET, EPROTO);
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE__NOT_SET, EPROTO);
	assert_int_equal(got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait->exit_case,
			 PLUGVM__VCPU_RESPONSE__WAIT__EXIT_INIT);
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE, 0);
	{
		const Plugvm__VcpuResponse *g =
			got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE, 0);

		assert_int_equal(g->get_state->state.len, sizeof(sregs));
		assert_memory_equal(g->get_state->state.data, &sregs, sizeof(sregs));
	}
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE, EINVAL);
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE, EINVAL);
	{
		/* The fake has MSRs 0..63: the read stops at index 100, which is no error. */
		const Plugvm__VcpuResponse *g =
			got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS, 0);

		assert_int_equal(g->get_msrs->n_entry_data, 2);
	}
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_MSRS, 0);
	{
		const Plugvm__VcpuResponse *g =
			got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS, 0);

		assert_int_equal(g->get_msrs->n_entry_data, 2);
		assert_int_equal(g->get_msrs->entry_data[0], 0x50);
		assert_int_equal(g->get_msrs->entry_data[1], 0x51);
	}
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_CPUID, 0);
	assert_int_equal(got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_HYPERV_CPUID, 0)
				 ->get_hyperv_cpuid->n_entries,
			 11);
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_ENABLE_CAPABILITY, 0);
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_ENABLE_CAPABILITY, 0);
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE_ENABLE_CAPABILITY, EINVAL);
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE__NOT_SET, EPROTO); /* Wait: nothing pending */
	got(k++, PLUGVM__VCPU_RESPONSE__MESSAGE__NOT_SET, ENOTTY);
	/* Resume is never answered. */
	assert_int_equal(f->n_got, k);

	/* The registers of the Resume reached the vcpu. */
	memset(image, 0, sizeof(image));
	assert_int_equal(vcpu_ioctl(f->v, KVM_GET_REGS, image), 0);
	assert_memory_equal(image, &regs, sizeof(regs));
	assert_false(f->vm.failed);
}

static void every_state_set(void **state)
{
	struct fixture *f = *state;
	static uint8_t images[8][VCPU_STATE_MAX_SIZE];

	handshake();
	/* Get each image, set it back, a byte short is EINVAL; until Resume. */
	for (int set = 0; set < 8; set++)
		push_get_state(set);
	for (int set = 0; set < 8; set++)
		push_set_state(set, images[set], codec_vcpu_state_size(set) - 1);
	push_resume(NULL, 0);
	/* The exit the vcpu stopped on: a write to a reserved port. */
	f->v->run->exit_reason = KVM_EXIT_IO;
	f->v->run->io.direction = KVM_EXIT_IO_OUT;
	f->v->run->io.size = 1;
	f->v->run->io.count = 1;
	f->v->run->io.port = 0x3f8;
	f->v->run->io.data_offset = 4096;
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	assert_int_equal(f->n_got, 1 + 16);
	for (int set = 0; set < 8; set++) {
		const Plugvm__VcpuResponse *g =
			got(1 + (size_t)set, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE, 0);

		assert_int_equal(g->get_state->state.len, codec_vcpu_state_size(set));
		memcpy(images[set], g->get_state->state.data, g->get_state->state.len);
		got(9 + (size_t)set, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE, EINVAL);
	}

	/* Now with the exact sizes, during a pause. */
	start_script();
	for (int set = 0; set < 8; set++)
		push_set_state(set, images[set], codec_vcpu_state_size(set));
	push_resume(NULL, 0);
	assert_int_equal(vcpu_deliver_pause(f->v, 42), VCPU_CONTINUE);
	assert_int_equal(got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait->user->user, 42);
	for (int set = 0; set < 8; set++)
		got(1 + (size_t)set, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE, 0);
}

static void set_io_exit(struct vcpu *v, bool out, uint16_t port, uint8_t size, uint32_t count)
{
	memset(v->run, 0, sizeof(*v->run));
	v->run->exit_reason = KVM_EXIT_IO;
	v->run->io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
	v->run->io.port = port;
	v->run->io.size = size;
	v->run->io.count = count;
	v->run->io.data_offset = 4096;
}

static uint8_t *io_data(struct vcpu *v)
{
	return (uint8_t *)v->run + v->run->io.data_offset;
}

static void io_exits(void **state)
{
	struct fixture *f = *state;
	const Plugvm__VcpuResponse__Wait__Io *io;
	static const uint8_t in_data[] = { 0x41, 0x42, 0x43, 0x44, 0x45 };

	handshake();
	/* A port write: the bytes go out, the Resume's data is ignored. */
	set_io_exit(f->v, true, 0x3f8, 1, 1);
	io_data(f->v)[0] = '9';
	push_resume(in_data, 1);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	io = got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait->io;
	assert_int_equal(io->space, PLUGVM__ADDRESS_SPACE__IOPORT);
	assert_int_equal(io->address, 0x3f8);
	assert_true(io->is_write);
	assert_false(io->no_resume);
	assert_int_equal(io->data.len, 1);
	assert_int_equal(io->data.data[0], '9');
	assert_int_equal(io->regs.len, 0);
	assert_int_equal(io_data(f->v)[0], '9');

	/* A string read of 4 x 1 byte: zeros go out, the Resume's bytes come back. */
	start_script();
	set_io_exit(f->v, false, 0x3f9, 1, 4);
	memset(io_data(f->v), 0xee, 4);
	push_resume(in_data, 5); /* one byte more than asked: ignored */
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	io = got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait->io;
	assert_false(io->is_write);
	assert_int_equal(io->data.len, 4);
	assert_memory_equal(io->data.data, "\0\0\0\0", 4);
	assert_memory_equal(io_data(f->v), in_data, 4);

	/* Short read data is zero-filled (docs/protocol.md §7.8). */
	start_script();
	set_io_exit(f->v, false, 0x3f8, 2, 1);
	memset(io_data(f->v), 0xee, 2);
	push_resume(in_data, 1);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	assert_int_equal(io_data(f->v)[0], 0x41);
	assert_int_equal(io_data(f->v)[1], 0);
	start_script();
	set_io_exit(f->v, false, 0x3f8, 2, 2);
	memset(io_data(f->v), 0xee, 4);
	push_resume(in_data, 3);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	assert_memory_equal(io_data(f->v), "ABC\0", 4);

	/* An async range: the event has no_resume and nothing is read from the plugin. */
	start_script();
	set_io_exit(f->v, true, 0x500, 1, 1);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	assert_true(got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait->io->no_resume);
	assert_int_equal(f->pos, 0);
	/* ...and a read there is as unreserved: zeros, no event. */
	start_script();
	set_io_exit(f->v, false, 0x500, 1, 1);
	io_data(f->v)[0] = 0xee;
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	assert_int_equal(f->n_got, 0);
	assert_int_equal(io_data(f->v)[0], 0);
	/* An unreserved write: nothing either. */
	set_io_exit(f->v, true, 0x80, 1, 1);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	assert_int_equal(f->n_got, 0);

	/* MMIO: at most 8 bytes, the read data lands in mmio.data. */
	start_script();
	memset(f->v->run, 0, sizeof(*f->v->run));
	f->v->run->exit_reason = KVM_EXIT_MMIO;
	f->v->run->mmio.phys_addr = 0x10ff8;
	f->v->run->mmio.len = 4;
	push_resume(in_data, 4);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	io = got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait->io;
	assert_int_equal(io->space, PLUGVM__ADDRESS_SPACE__MMIO);
	assert_int_equal(io->address, 0x10ff8);
	assert_int_equal(io->data.len, 4);
	assert_memory_equal(f->v->run->mmio.data, in_data, 4);

	/* A Shutdown instead of the Resume: resumed without data, the guest goes on. */
	start_script();
	set_io_exit(f->v, false, 0x3f8, 1, 1);
	push(PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	assert_int_equal(io_data(f->v)[0], 0);
	assert_false(f->vm.failed);
}

static void hinted_exit(void **state)
{
	struct fixture *f = *state;
	struct hint_detail *d = calloc(1, sizeof(*d));
	struct kvm_regs regs = { .rax = 0x77, .rip = 0x2000 };
	const Plugvm__VcpuResponse__Wait__Io *io;

	assert_non_null(d);
	*d = (struct hint_detail){ .match = { true }, .value = { 0x77 }, .send_sregs = true };
	handshake();
	assert_int_equal(vcpu_ioctl(f->v, KVM_SET_REGS, &regs), 0);
	/* vm_release() frees the details. */
	f->vm.hint = (struct io_hint){ .active = true, .space = VM_SPACE_PIO, .address = 0x3f8,
				       .on_write = true, .details = d, .n_details = 1 };
	set_io_exit(f->v, true, 0x3f8, 1, 1);
	push_resume(NULL, 0);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	io = got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait->io;
	assert_int_equal(io->regs.len, sizeof(regs));
	assert_memory_equal(io->regs.data, &regs, sizeof(regs));
	assert_int_equal(io->sregs.len, sizeof(struct kvm_sregs));
	assert_int_equal(io->debugregs.len, 0);

	/* rax no longer matches: the detail does not apply, only regs go. */
	start_script();
	regs.rax = 1;
	assert_int_equal(vcpu_ioctl(f->v, KVM_SET_REGS, &regs), 0);
	set_io_exit(f->v, true, 0x3f8, 1, 1);
	push_resume(NULL, 0);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	io = got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait->io;
	assert_int_equal(io->regs.len, sizeof(regs));
	assert_int_equal(io->sregs.len, 0);

	/* A read at the hinted port does not match on_write. */
	start_script();
	set_io_exit(f->v, false, 0x3f8, 1, 1);
	push_resume(NULL, 0);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	assert_int_equal(got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait->io->regs.len, 0);
}

static void hyperv_and_stops(void **state)
{
	struct fixture *f = *state;
	const Plugvm__VcpuResponse__Wait *w;
	static const uint8_t result[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint64_t want;

	handshake();
	memset(f->v->run, 0, sizeof(*f->v->run));
	f->v->run->exit_reason = KVM_EXIT_HYPERV;
	f->v->run->hyperv.type = KVM_EXIT_HYPERV_HCALL;
	f->v->run->hyperv.u.hcall.input = 0x11;
	f->v->run->hyperv.u.hcall.params[0] = 0x22;
	f->v->run->hyperv.u.hcall.params[1] = 0x33;
	push_resume(result, 8);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	w = got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait;
	assert_int_equal(w->exit_case, PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_CALL);
	assert_int_equal(w->hyperv_call->input, 0x11);
	assert_int_equal(w->hyperv_call->params0, 0x22);
	assert_int_equal(w->hyperv_call->params1, 0x33);
	memcpy(&want, result, 8);
	assert_int_equal(f->v->run->hyperv.u.hcall.result, want);
	/* A short result is zero-filled. */
	start_script();
	push_resume(result, 3);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	want = 0;
	memcpy(&want, result, 3);
	assert_int_equal(f->v->run->hyperv.u.hcall.result, want);

	start_script();
	memset(f->v->run, 0, sizeof(*f->v->run));
	f->v->run->exit_reason = KVM_EXIT_HYPERV;
	f->v->run->hyperv.type = KVM_EXIT_HYPERV_SYNIC;
	f->v->run->hyperv.u.synic.msr = 0x40000080u;
	f->v->run->hyperv.u.synic.control = 1;
	f->v->run->hyperv.u.synic.evt_page = 0x2000;
	f->v->run->hyperv.u.synic.msg_page = 0x3000;
	push_resume(NULL, 0);
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_CONTINUE);
	w = got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait;
	assert_int_equal(w->exit_case, PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_SYNIC);
	assert_int_equal(w->hyperv_synic->msr, 0x40000080u);
	assert_int_equal(w->hyperv_synic->evt_page, 0x2000);
	assert_int_equal(w->hyperv_synic->msg_page, 0x3000);

	/* HLT ends the vcpu without a failure; a triple fault records one. */
	start_script();
	memset(f->v->run, 0, sizeof(*f->v->run));
	f->v->run->exit_reason = KVM_EXIT_HLT;
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_STOP);
	assert_false(f->vm.failed);
	assert_int_equal(f->n_got, 0);
	f->v->run->exit_reason = KVM_EXIT_SHUTDOWN;
	assert_int_equal(vcpu_handle_exit(f->v), VCPU_STOP);
	assert_true(f->vm.failed);
	assert_non_null(strstr(f->vm.fail_msg, "triple fault"));
}

static void shutdown_during_init(void **state)
{
	struct fixture *f = *state;

	/* Honoured before Init (docs/protocol.md §7.7): no reply, the handshake ends. */
	start_script();
	push(PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN);
	assert_int_equal(vcpu_init_handshake(f->v), -EPIPE);
	assert_int_equal(f->n_got, 0);
	assert_false(f->vm.failed);
}

static void pause_then_shutdown(void **state)
{
	struct fixture *f = *state;

	handshake();
	/* A Shutdown during a pause ends the vcpu. */
	push(PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN);
	assert_int_equal(vcpu_deliver_pause(f->v, 5), VCPU_STOP);
	assert_int_equal(got(0, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT, 0)->wait->exit_case,
			 PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER);
	assert_false(f->vm.failed);
}

static void push_set_xsave(const void *area, size_t len)
{
	Plugvm__VcpuRequest *r = push(PLUGVM__VCPU_REQUEST__MESSAGE_SET_XSAVE);

	r->set_xsave->state = (ProtobufCBinaryData){ len, (uint8_t *)(uintptr_t)area };
}

/* Serves the script during a pause; the replies start at got(1). */
static void serve_paused(void)
{
	push_resume(NULL, 0);
	assert_int_equal(vcpu_deliver_pause(F->v, 7), VCPU_CONTINUE);
	assert_int_equal(F->got[0]->wait->exit_case, PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER);
}

static const ProtobufCBinaryData *got_xsave(size_t i, int err)
{
	return &got(i, PLUGVM__VCPU_RESPONSE__MESSAGE_GET_XSAVE, err)->get_xsave->state;
}

/*
 * GetXsave/SetXsave (API 0.23, host/vm/vcpu-xsave.c): the area's size is
 * the kernel's (4 KiB, or KVM_CAP_XSAVE2's), a set of any other size is
 * EINVAL before any ioctl, the kernel's refusal (an XSTATE_BV bit it does
 * not offer, MXCSR reserved bits) is the reply's errno and changes nothing.
 */
static void xsave_requests(void **state)
{
	struct fixture *f = *state;
	static uint8_t area[16384], back[16384];
	uint64_t bv;

	handshake();
	push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE);
	serve_paused();
	assert_int_equal(got_xsave(1, 0)->len, 4096);
	memcpy(area, got_xsave(1, 0)->data, 4096);

	/* XMM0 and YMM0's upper half, XSTATE_BV x87 | SSE | AVX. */
	memset(area + 160, 0x5a, 16);
	memset(area + 576, 0xa5, 16);
	bv = 7;
	memcpy(area + 512, &bv, 8);
	memcpy(back, area, 4096);
	bv = 7 | 1u << 9; /* PKRU: not offered by the fake */
	memcpy(back + 512, &bv, 8);
	start_script();
	push_set_xsave(area, 4096);
	push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE);
	push_set_xsave(area, 4095);
	push_set_xsave(area, 4097);
	push_set_xsave(area, 0);
	push_set_xsave(back, 4096);
	back[26] = 1; /* MXCSR bit 16, reserved */
	bv = 7;
	memcpy(back + 512, &bv, 8);
	push_set_xsave(back, 4096);
	push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE);
	serve_paused();
	got(1, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE, 0);
	assert_int_equal(got_xsave(2, 0)->len, 4096);
	assert_memory_equal(got_xsave(2, 0)->data, area, 4096);
	for (size_t i = 3; i <= 7; i++)
		got(i, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE, EINVAL);
	/* Refused sets changed nothing. */
	assert_memory_equal(got_xsave(8, 0)->data, area, 4096);
	assert_int_equal(f->n_got, 9);

	/* KVM_CAP_XSAVE2 (AMX and the like): KVM_GET_XSAVE2 with the kernel's size. */
	kvm_fake_set_xsave2(6144);
	start_script();
	push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE);
	push_set_xsave(area, 4096);
	memset(area + 5000, 0x33, 8);
	push_set_xsave(area, 6144);
	push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE);
	serve_paused();
	assert_int_equal(got_xsave(1, 0)->len, 6144);
	got(2, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE, EINVAL);
	got(3, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE, 0);
	assert_int_equal(got_xsave(4, 0)->len, 6144);
	assert_memory_equal(got_xsave(4, 0)->data, area, 6144);

	/* Larger than the slot holds: E2BIG there (with the member), served on the pipes. */
	kvm_fake_set_xsave2(12288);
	start_script();
	push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE);
	if (!f->shm)
		push_set_xsave(area, 12288);
	serve_paused();
	if (f->shm) {
		assert_int_equal(got_xsave(1, E2BIG)->len, 0);
	} else {
		assert_int_equal(got_xsave(1, 0)->len, 12288);
		got(2, PLUGVM__VCPU_RESPONSE__MESSAGE_SET_XSAVE, 0);
	}
	assert_false(f->vm.failed);
}

/* Without the extension both are unknown requests: ENOTTY, no member, nothing changes. */
static void xsave_without_extension(void **state)
{
	struct fixture *f = *state;
	static uint8_t area[4096];

	f->cfg.no_extensions = true;
	handshake();
	push(PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE);
	push_set_xsave(area, sizeof(area));
	serve_paused();
	got(1, PLUGVM__VCPU_RESPONSE__MESSAGE__NOT_SET, ENOTTY);
	got(2, PLUGVM__VCPU_RESPONSE__MESSAGE__NOT_SET, ENOTTY);
	assert_int_equal(f->n_got, 3);
}

static void protocol_violation(void **state)
{
	struct fixture *f = *state;
	/* A length-delimited field that claims more bytes than follow. */
	static const uint8_t garbage[] = { 0x12, 0x7f, 0x01 };
	static const struct shm_req_hdr bad = { .kind = SHM_REQ_RESUME, .len = SHM_IO_MAX + 1 };

	start_script();
	push(PLUGVM__VCPU_REQUEST__MESSAGE_WAIT);
	if (f->shm)
		f->steps[f->n_steps++] = (struct step){ .raw_hdr = &bad };
	else
		f->steps[f->n_steps++] =
			(struct step){ .raw = garbage, .raw_len = sizeof(garbage) };
	push(PLUGVM__VCPU_REQUEST__MESSAGE_WAIT); /* never read */
	assert_int_equal(vcpu_init_handshake(f->v), -EBADMSG);
	/* Init was answered; the violation was not: it stops the VM (docs/protocol.md §4.7). */
	assert_int_equal(f->n_got, 1);
	assert_int_equal(f->pos, 2);
	assert_true(f->vm.failed);
	assert_non_null(strstr(f->vm.fail_msg, "protocol violation"));
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_prestate_setup_teardown(fn, setup_pipe, teardown, NULL),                  \
		cmocka_unit_test_prestate_setup_teardown(fn, setup_shm, teardown, NULL)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(init_handshake_requests), BOTH(every_state_set), BOTH(io_exits),
		BOTH(hinted_exit),	       BOTH(hyperv_and_stops), BOTH(shutdown_during_init),
		BOTH(pause_then_shutdown),     BOTH(protocol_violation),
		BOTH(xsave_requests),	       BOTH(xsave_without_extension),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
