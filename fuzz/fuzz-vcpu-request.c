// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Fuzzes the host's vcpu side (host/vm/vcpu*.c, the vcpu module): the Init
 * handshake, the SERVING state machine with every VcpuRequest, and the exit
 * handlers (PIO with fuzzed count x size and data offset, MMIO, Hyper-V,
 * fatal exits, pauses) against the fake KVM, through the real channels:
 *
 * - pipe: each request record is written into the real to_host pipe right
 *   before the host's own pipe_recv() reads it (one read = one message, as
 *   with a plugin), and every response pipe_send() frames is read back from
 *   to_plugin, unframed and decoded;
 * - shared memory: the VM negotiates the channel, each request record is
 *   copied raw into the slot's request area (header and payload as the
 *   plugin would write them, any values) before shm_recv() copies it out,
 *   the fuzzer may scribble on the slot's ring counter, and every message
 *   shm_send() posts is checked against the slot's bounds.
 *
 * The handlers are static, so this file includes the module's sources.
 *
 * Input: byte 0 picks the channel (bit 0) and whether the plugin asked for
 * reset events (bit 1, API 0.23: a shutdown exit is then served like an
 * event, and Reset requests restore the recorded power-on state), io
 * details (bit 2) and a fake kernel with a 12 KiB XSAVE area (bit 3, for
 * GetXsave/SetXsave); then records of [kind byte]
 * [length, 2 bytes LE][bytes]; kind % 4: 0 = a request the plugin sends,
 * 1 = a KVM exit to handle, 2 = a pause to deliver, 3 = set the hint from
 * the bytes.  When the next record is not a request the plugin "sends
 * Shutdown" (the channel reports EPIPE), as a real plugin may.  A request
 * that does not decode (pipe) or cannot be taken apart (slot) must end
 * serving with a VM failure, never an answer.
 */
#include "../host/vm/vcpu.c"
#include "../host/vm/vcpu-pipe.c"
#include "../host/vm/vcpu-req.c"
#include "../host/vm/vcpu-exit.c"
#include "../host/vm/vcpu-ext.c"
#include "../host/vm/vcpu-shm.c"

#include <sys/eventfd.h>

#include "fuzz-util.h"
#include "kvm-fake.h"

struct fuzz_input {
	const uint8_t *data;
	size_t size;
	size_t pos;
};

static struct fuzz_input in;
static char kvm_path[] = "/dev/kvm-fake";
/* The vcpu's buffers (rx alone is 256 KiB) and pipes are made once and lent to every input. */
static struct vcpu keep;
static struct wire_frames frames;

/* Peeks the next record; returns its kind (0..3) or -1 at the end. */
static int next_kind(void)
{
	if (in.size - in.pos < 3)
		return -1;
	return in.data[in.pos] % 4;
}

static const uint8_t *take_record(size_t *ret_len)
{
	size_t len = (size_t)in.data[in.pos + 1] | (size_t)in.data[in.pos + 2] << 8;
	const uint8_t *p;

	in.pos += 3;
	if (len > in.size - in.pos)
		len = in.size - in.pos;
	p = in.data + in.pos;
	in.pos += len;
	*ret_len = len;
	return p;
}

static void check_response(const uint8_t *msg, size_t len)
{
	Plugvm__VcpuResponse *resp;

	FUZZ_CHECK(len <= WIRE_VCPU_MESSAGE_MAX, "response of %zu bytes", len);
	resp = plugvm__vcpu_response__unpack(NULL, len, msg);
	FUZZ_CHECK(resp, "response does not decode");
	FUZZ_CHECK(resp->errnum >= 0, "negative errnum");
	if (resp->message_case == PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT)
		FUZZ_CHECK(resp->wait->exit_case != PLUGVM__VCPU_RESPONSE__WAIT__EXIT__NOT_SET,
			   "Wait without a reason");
	plugvm__vcpu_response__free_unpacked(resp, NULL);
}

/* ---- through the pipes ---- */

static int fuzz_pipe_send(struct vcpu *v, const Plugvm__VcpuResponse *resp)
{
	int r = vcpu_pipe_channel.send(v, resp);

	/* Read back everything framed so far, as the plugin's library would. */
	for (;;) {
		const uint8_t *msg;
		size_t len;
		int n = wire_frames_next(&frames, &msg, &len);

		FUZZ_CHECK(n >= 0, "the host framed a response badly");
		if (n == 1) {
			check_response(msg, len);
			continue;
		}
		if (wire_frames_fill(&frames, v->to_plugin[0]) <= 0)
			break;
	}
	return r;
}

static int fuzz_pipe_recv(struct vcpu *v, Plugvm__VcpuRequest **ret_req)
{
	const uint8_t *p;
	size_t len;

	if (next_kind() != 0)
		return -EPIPE;
	p = take_record(&len);
	/* A zero-byte write is no message on a pipe: the plugin sent nothing. */
	if (len == 0)
		return -EPIPE;
	if (len > 60000)
		len = 60000;
	FUZZ_CHECK(write(v->to_host[1], p, len) == (ssize_t)len, "pipe write");
	return vcpu_pipe_channel.recv(v, ret_req);
}

static void fuzz_pipe_release(struct vcpu *v, Plugvm__VcpuRequest *req)
{
	vcpu_pipe_channel.release(v, req);
}

static const struct vcpu_chan_ops fuzz_pipe = {
	.send = fuzz_pipe_send,
	.recv = fuzz_pipe_recv,
	.release = fuzz_pipe_release,
};

/* ---- through the shared-memory slot ---- */

static uint32_t scribble; /* the plugin's ring counter, as the input sets it */

static int fuzz_shm_send(struct vcpu *v, const Plugvm__VcpuResponse *resp)
{
	struct shm_slot *slot = v->shm->slot;
	uint32_t head = v->shm->ev_head, used;
	const struct shm_msg *m;
	int r;

	/*
	 * The plugin has consumed everything, or claims something odd.  A ring
	 * that looks exactly full would make the host wait for the plugin
	 * (correctly, but forever here), so that one value is avoided.
	 */
	used = head - scribble;
	if (used == SHM_RING)
		scribble = head;
	slot->ev_tail.seq = scribble;
	r = vcpu_shm_channel.send(v, resp);
	if (r < 0) {
		/*
		 * A ring counter the plugin broke, or PIO data beyond the slot's
		 * 4 KiB (KVM keeps PIO within one page; the fake kvm_run is 3).
		 */
		FUZZ_CHECK((r == -EPROTO && head - scribble > SHM_RING) || r == -EMSGSIZE,
			   "send failed: %d", r);
		scribble = v->shm->ev_head;
		return r;
	}
	FUZZ_CHECK(v->shm->ev_head == head + 1 && slot->ev_head.seq == head + 1,
		   "one message per send");
	m = &slot->ring[head % SHM_RING];
	FUZZ_CHECK(m->h.kind == (uint32_t)resp->message_case, "message kind %u", m->h.kind);
	if (m->h.kind == SHM_MSG_WAIT && m->h.exit == SHM_EXIT_IO)
		FUZZ_CHECK(m->h.len <= SHM_IO_MAX, "io length %u", m->h.len);
	if (m->h.kind == SHM_MSG_GET_STATE)
		FUZZ_CHECK(m->h.len <= SHM_STATE_MAX, "state length %u", m->h.len);
	scribble = v->shm->ev_head;
	return 0;
}

static int fuzz_shm_recv(struct vcpu *v, Plugvm__VcpuRequest **ret_req)
{
	struct shm_slot *slot = v->shm->slot;
	const uint8_t *p;
	size_t len;

	if (next_kind() != 0)
		return -EPIPE;
	p = take_record(&len);
	/* Any bytes into the request area; the record's last bytes set the counters. */
	memcpy(&slot->req, p, len < sizeof(slot->req) ? len : sizeof(slot->req));
	if (len >= 4)
		memcpy(&scribble, p + len - 4, 4);
	slot->req_head.seq = v->shm->req_tail + 1 + (len > 8 ? p[len - 5] % 3 : 0);
	return vcpu_shm_channel.recv(v, ret_req);
}

static void fuzz_shm_release(struct vcpu *v, Plugvm__VcpuRequest *req)
{
	vcpu_shm_channel.release(v, req);
}

static const struct vcpu_chan_ops fuzz_shm = {
	.send = fuzz_shm_send,
	.recv = fuzz_shm_recv,
	.release = fuzz_shm_release,
};

static uint64_t get_u64(const uint8_t *p, size_t len, size_t off)
{
	uint64_t v = 0;

	if (off < len)
		memcpy(&v, p + off, len - off < 8 ? len - off : 8);
	return v;
}

/* Ports and addresses near the reserved ranges, so that most exits reach the plugin. */
static const uint64_t hot_addrs[] = { 0x3f8, 0x3f9, 0x500, 0x501, 0x10000, 0x10ff8, 0x20000,
				      0xffff };

static int run_exit(struct vcpu *v, const uint8_t *p, size_t len)
{
	struct kvm_run *run = v->run;
	uint8_t sel = len ? p[0] : 0;
	uint64_t a = get_u64(p, len, 1), b = get_u64(p, len, 9), c = get_u64(p, len, 17);

	memset(run, 0, sizeof(*run));
	switch (sel % 12) {
	case 0:
	case 1:
	case 2:
		run->exit_reason = KVM_EXIT_IO;
		run->io.direction = (uint8_t)(a & 1);
		run->io.size = (uint8_t)(1u << ((a >> 1) & 3));
		run->io.port = (uint16_t)(sel & 0x10 ? hot_addrs[(a >> 8) % 8] : a >> 8);
		run->io.count = sel & 0x20 ? (uint32_t)b : 1 + (uint32_t)(b % 4);
		run->io.data_offset = sel & 0x40 ? c : 4096 + c % 64;
		break;
	case 3:
	case 4:
	case 5:
		run->exit_reason = KVM_EXIT_MMIO;
		run->mmio.phys_addr = sel & 0x10 ? hot_addrs[a % 8] : a;
		memcpy(run->mmio.data, &b, 8);
		run->mmio.len = sel & 0x20 ? (uint32_t)c : 1u << (c % 4);
		run->mmio.is_write = (uint8_t)(c >> 32 & 1);
		break;
	case 6:
		run->exit_reason = KVM_EXIT_HYPERV;
		run->hyperv.type = (uint32_t)(a % 3);
		run->hyperv.u.hcall.input = b;
		run->hyperv.u.hcall.params[0] = c;
		break;
	case 7:
		run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
		run->internal.suberror = (uint32_t)a;
		run->internal.ndata = (uint32_t)b;
		break;
	case 8:
		run->exit_reason = KVM_EXIT_FAIL_ENTRY;
		break;
	case 9:
		run->exit_reason = (uint32_t)a;
		break;
	case 10:
		run->exit_reason = KVM_EXIT_HLT;
		break;
	default:
		run->exit_reason = KVM_EXIT_SHUTDOWN;
		break;
	}
	return vcpu_handle_exit(v);
}

static void set_hint(struct vm *vm, const uint8_t *p, size_t len)
{
	size_t n = len / 4;

	if (n > 8)
		n = 8;
	free(vm->hint.details);
	vm->hint.details = NULL;
	vm->hint.n_details = 0;
	vm->hint.active = len > 0;
	vm->hint.space = len && p[0] & 1 ? VM_SPACE_MMIO : VM_SPACE_PIO;
	vm->hint.address = hot_addrs[len > 1 ? p[1] % 8 : 0];
	vm->hint.on_write = len > 2 && (p[2] & 1);
	if (n) {
		vm->hint.details = calloc(n, sizeof(*vm->hint.details));
		FUZZ_CHECK(vm->hint.details, "calloc");
		for (size_t i = 0; i < n; i++) {
			struct hint_detail *d = &vm->hint.details[i];
			uint8_t b = p[4 * i + 3];

			d->match[0] = b & 1;
			d->value[0] = p[4 * i];
			d->send_sregs = b & 2;
			d->send_debugregs = b & 4;
		}
		vm->hint.n_details = n;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Defaults: no --stats, so no per-vcpu statistics buffers. */
	static const struct host_config no_options;
	struct vm pipes_vm;

	(void)argc;
	(void)argv;
	log_set_level(-1);
	setenv("SHM_SPIN_NS", "0", 1);
	memset(&pipes_vm, 0, sizeof(pipes_vm));
	pipes_vm.n_vcpus = 1;
	pipes_vm.cfg = &no_options;
	if (vcpus_prepare(&pipes_vm) < 0 || vcpu_alloc_buffers(&pipes_vm.vcpus[0]) < 0 ||
	    wire_frames_init(&frames, WIRE_VCPU_MESSAGE_MAX) < 0)
		abort();
	keep = pipes_vm.vcpus[0];
	/* The plugin's read end: the fuzzer drains it without blocking. */
	if (fcntl(keep.to_plugin[0], F_SETFL, O_NONBLOCK) < 0)
		abort();
	free(pipes_vm.vcpus);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct host_config cfg;
	struct vcpu_channel_info info;
	struct vm vm;
	struct vcpu *v;
	bool shm;
	int probe = fuzz_lowest_free_fd(), r, steps = 0;

	if (size < 1)
		return 0;
	shm = data[0] & 1;
	in = (struct fuzz_input){ .data = data, .size = size, .pos = 1 };
	memset(&cfg, 0, sizeof(cfg));
	cfg.cpus = 1;
	cfg.kvm_device = kvm_path;
	FUZZ_CHECK(vm_init_ops(&vm, &cfg, &kvm_ops_fake) == 0, "vm_init");
	/* The pipes and buffers made once; the rest of the vcpu fresh. */
	vm.vcpus = calloc(1, sizeof(*vm.vcpus));
	FUZZ_CHECK(vm.vcpus, "calloc");
	v = &vm.vcpus[0];
	*v = keep;
	v->vm = &vm;
	v->arena.used = 0;
	v->allocator.allocator_data = &v->arena;
	pthread_mutex_init(&v->pause_lock, NULL);
	v->chan = &fuzz_pipe;
	vm.kill_efd = eventfd(0, EFD_CLOEXEC);
	ranges_reserve(&vm.ranges[VM_SPACE_PIO], 0x3f8, 2, false);
	ranges_reserve(&vm.ranges[VM_SPACE_PIO], 0x500, 2, true);
	ranges_reserve(&vm.ranges[VM_SPACE_MMIO], 0x10000, 0x1000, false);
	ranges_reserve(&vm.ranges[VM_SPACE_MMIO], 0x20000, 0x1000, true);
	if (shm) {
		FUZZ_CHECK(vcpus_negotiate_channel(&vm, 1, &info) == 0 && info.fd >= 0,
			   "shared-memory channel");
		v->chan = &fuzz_shm;
		scribble = 0;
	}

	r = vm.kvm->ioctl(vm.vm_fd, KVM_CREATE_VCPU, (void *)0ul);
	FUZZ_CHECK(r >= 0, "KVM_CREATE_VCPU");
	v->fd = r;
	v->run = vm.kvm->map_run(v->fd, vm.run_size);
	FUZZ_CHECK(v->run, "kvm_run");

	vm.reset_events = (data[0] & 2) != 0;
	vm.io_details = (data[0] & 4) != 0;
	/* Bit 3: a kernel with KVM_CAP_XSAVE2 and a 12 KiB area (more than the slot holds). */
	kvm_fake_set_xsave2((data[0] & 8) ? 12288 : 0);
	FUZZ_CHECK(ext_vcpu_start(v) == 0, "power-on state");
	r = vcpu_init_handshake(v);
	/* An undecodable request is a protocol violation: it must have stopped the VM. */
	FUZZ_CHECK(r != -EBADMSG || vm.failed, "undecodable request without a VM failure");
	if (r == 0) {
		/* Past Init: exits, pauses and hint changes in input order. */
		while (next_kind() >= 0 && steps++ < 256) {
			int kind = next_kind();
			const uint8_t *p;
			size_t len;

			p = take_record(&len);
			if (kind == 1)
				run_exit(v, p, len);
			else if (kind == 2)
				vcpu_deliver_pause(v, get_u64(p, len, 0));
			else if (kind == 3)
				set_hint(&vm, p, len);
			/* A request here came while the vcpu ran: the host does not read it. */
		}
	}

	/* Nothing may be left in the pipes for the next input. */
	while (read(v->to_host[0], v->rx, WIRE_VCPU_MESSAGE_MAX) > 0)
		;
	{
		uint8_t sink[4096];

		while (read(v->to_plugin[0], sink, sizeof(sink)) > 0)
			;
		wire_frames_free(&frames);
		FUZZ_CHECK(wire_frames_init(&frames, WIRE_VCPU_MESSAGE_MAX) == 0, "frames");
	}
	vcpus_shm_free(&vm);
	vm.kvm->unmap_run(v->run, vm.run_size);
	/* pipe_send() may have grown the transmit buffer: keep the new one. */
	keep.tx = v->tx;
	keep.tx_cap = v->tx_cap;
	close(v->fd);
	ext_vcpu_free(v);
	pthread_mutex_destroy(&v->pause_lock);
	free(vm.vcpus);
	vm.vcpus = NULL;
	vm_release(&vm);
	kvm_fake_reset();
	FUZZ_CHECK(fuzz_lowest_free_fd() == probe, "descriptor leak (lowest free fd %d, was %d)",
		   fuzz_lowest_free_fd(), probe);
	return 0;
}
