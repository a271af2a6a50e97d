// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Fuzzes the host's vcpu side (host/vcpu.c): the Init handshake, the
 * SERVING state machine with every VcpuRequest, and the exit handlers
 * (PIO with fuzzed count x size and data offset, MMIO, Hyper-V, fatal
 * exits, pauses) against the fake KVM and a fake channel.
 *
 * vcpu.c calls ioctl() itself and keeps its handlers static, so this file
 * includes it with ioctl() routed to the fake KVM.  Once the vcpu side
 * calls KVM through kvm-ops.h like the rest, the define goes away.
 *
 * Input: records of [kind byte][length, 2 bytes LE][bytes]; kind % 4:
 * 0 = a request the plugin writes, 1 = a KVM exit to handle, 2 = a pause
 * to deliver, 3 = set the hint from the bytes.  The channel hands requests
 * to the host in order; when the next record is not a request the plugin
 * "sends Shutdown" (the channel reports EPIPE), as a real plugin may.
 * Every response the host sends must decode and fit the headroom contract.
 */
#include <sys/ioctl.h>

#include "kvm-fake.h"

#define ioctl(fd, req, arg) kvm_fake_raw_ioctl((fd), (req), (void *)(uintptr_t)(arg))
#include "../host/vcpu.c"
#undef ioctl

#include <sys/eventfd.h>

#include "fuzz-util.h"

struct fuzz_input {
	const uint8_t *data;
	size_t size;
	size_t pos;
};

static struct fuzz_input in;
static char kvm_path[] = "/dev/kvm-fake";
/* The vcpu's buffers (rx alone is 256 KiB) are made once and lent to every input's VM. */
static struct vcpu buffers;

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

static int fuzz_send(struct vcpu *v, uint8_t *msg, size_t len)
{
	Plugvm__VcpuResponse *resp;

	/* The channel may write its prefix in front of the message (VCPU_CHANNEL_HEADROOM). */
	memset(msg - VCPU_CHANNEL_HEADROOM, 0xa5, VCPU_CHANNEL_HEADROOM);
	FUZZ_CHECK(len > 0 && len <= WIRE_VCPU_MESSAGE_MAX, "response of %zu bytes", len);
	resp = plugvm__vcpu_response__unpack(NULL, len, msg);
	FUZZ_CHECK(resp, "response does not decode");
	FUZZ_CHECK(resp->errnum >= 0, "negative errnum");
	if (resp->message_case == PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT)
		FUZZ_CHECK(resp->wait->exit_case != PLUGVM__VCPU_RESPONSE__WAIT__EXIT__NOT_SET,
			   "Wait without a reason");
	plugvm__vcpu_response__free_unpacked(resp, NULL);
	(void)v;
	return 0;
}

static ssize_t fuzz_recv(struct vcpu *v, const uint8_t **ret_msg)
{
	const uint8_t *p;
	size_t len;

	if (next_kind() != 0)
		return -EPIPE;
	p = take_record(&len);
	/* A pipe read never returns 0 bytes while the host holds the write end. */
	if (len == 0)
		return -EPIPE;
	/* Through the vcpu's receive buffer, as the pipe channel does. */
	memcpy(v->rx, p, len);
	*ret_msg = v->rx;
	return (ssize_t)len;
}

static const struct vcpu_channel_ops fuzz_channel = {
	.send = fuzz_send,
	.recv = fuzz_recv,
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
	(void)argc;
	(void)argv;
	log_set_level(-1);
	if (vcpu_alloc_buffers(&buffers) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct host_config cfg;
	struct vm vm;
	struct vcpu *v;
	int probe = fuzz_lowest_free_fd(), r, steps = 0;

	in = (struct fuzz_input){ .data = data, .size = size };
	memset(&cfg, 0, sizeof(cfg));
	cfg.cpus = 1;
	cfg.kvm_device = kvm_path;
	FUZZ_CHECK(vm_init_ops(&vm, &cfg, &kvm_ops_fake) == 0, "vm_init");
	/* vcpus_prepare() without the pipes: the fuzzer is the channel. */
	vm.vcpus = calloc(1, sizeof(*vm.vcpus));
	FUZZ_CHECK(vm.vcpus, "calloc");
	v = &vm.vcpus[0];
	v->vm = &vm;
	v->fd = -1;
	v->to_host[0] = v->to_host[1] = v->to_plugin[0] = v->to_plugin[1] = -1;
	pthread_mutex_init(&v->pause_lock, NULL);
	vm.kill_efd = eventfd(0, EFD_CLOEXEC);
	ranges_reserve(&vm.ranges[VM_SPACE_PIO], 0x3f8, 2, false);
	ranges_reserve(&vm.ranges[VM_SPACE_PIO], 0x500, 2, true);
	ranges_reserve(&vm.ranges[VM_SPACE_MMIO], 0x10000, 0x1000, false);
	ranges_reserve(&vm.ranges[VM_SPACE_MMIO], 0x20000, 0x1000, true);

	r = vm.kvm->ioctl(vm.vm_fd, KVM_CREATE_VCPU, (void *)0ul);
	FUZZ_CHECK(r >= 0, "KVM_CREATE_VCPU");
	v->fd = r;
	v->run = vm.kvm->map_run(v->fd, vm.run_size);
	FUZZ_CHECK(v->run, "kvm_run");
	v->rx = buffers.rx;
	v->tx = buffers.tx;
	v->tx_cap = buffers.tx_cap;
	v->scratch = buffers.scratch;
	v->scratch_cap = buffers.scratch_cap;
	v->arena = buffers.arena;
	v->allocator = buffers.allocator;
	v->allocator.allocator_data = &v->arena;
	v->chan = &fuzz_channel;

	r = vcpu_init_handshake(v);
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
			/* A request record here arrived while the vcpu ran: the host does not read it. */
		}
	}

	vm.kvm->unmap_run(v->run, vm.run_size);
	/* vcpu_send() may have grown the transmit buffer: keep the new one. */
	buffers.tx = v->tx;
	buffers.tx_cap = v->tx_cap;
	close(v->fd);
	pthread_mutex_destroy(&v->pause_lock);
	free(vm.vcpus);
	vm.vcpus = NULL;
	vm_release(&vm);
	kvm_fake_reset();
	FUZZ_CHECK(fuzz_lowest_free_fd() == probe, "descriptor leak (lowest free fd %d, was %d)",
		   fuzz_lowest_free_fd(), probe);
	return 0;
}
