// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/* 1.5k lines: to be split along its seams (pipe channel, handlers, exits) after API 0.23 lands. */
#include "vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "ext-bits.h"
#include "ext.h"
#include "codec.h"
#include "hist.h"
#include "kvm-ops.h"
#include "plugin.pb-c.h"
#include "shm-chan.h"
#include "util.h"
#include "vcpu-shm.h"
#include "vcpu-xsave.h"
#include "vm.h"
#include "wire.h"

#ifndef PR_SCHED_CORE
#define PR_SCHED_CORE 62
#define PR_SCHED_CORE_CREATE 1
#endif
#define PIDTYPE_PID_VALUE 0

#define VCPU_PIPE_SIZE 0x40000
#define VCPU_TX_INITIAL (64u * 1024u)
#define VCPU_ARENA_SIZE (64u * 1024u)
/* The kernel takes at most this many MSRs or cpuid entries per ioctl (MAX_IO_MSRS, KVM_MAX_CPUID_ENTRIES). */
#define VCPU_MAX_MSRS 256u
#define VCPU_MAX_CPUID 256u
#define VCPU_SCRATCH_SIZE                                                                          \
	(sizeof(struct kvm_cpuid2) + VCPU_MAX_CPUID * sizeof(struct kvm_cpuid_entry2))

#define KVM_CAP_HYPERV_SYNIC_VALUE 123u
#define KVM_CAP_HYPERV_SYNIC2_VALUE 148u

/* Outcome of handling one exit. */
enum {
	VCPU_CONTINUE = 0,
	VCPU_STOP = 1,
};

/*
 * The kick handler needs the interrupted thread's kvm_run; a thread-local
 * pointer is async-signal safe for a static executable TLS model.
 */
static __thread struct kvm_run *tls_kick_run;

static void vcpu_kick_handler(int sig)
{
	struct kvm_run *run = tls_kick_run;

	(void)sig;
	if (run)
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_RELAXED);
}

static int vcpu_ioctl(struct vcpu *v, unsigned long req, void *arg)
{
	return v->vm->kvm->ioctl(v->fd, req, arg);
}

/* ---------------------------------------------------------------------------
 * Request decoding without malloc on the exit path: protobuf-c allocates from
 * a per-vcpu arena that is reset after each request, and falls back to malloc
 * for the rare request that does not fit.
 */

static void *arena_alloc(void *data, size_t size)
{
	struct vcpu_arena *a = data;
	size_t aligned = (size + 15) & ~(size_t)15;

	if (aligned >= size && aligned <= a->cap - a->used) {
		void *p = a->base + a->used;

		a->used += aligned;
		return p;
	}
	return malloc(size);
}

static void arena_free(void *data, void *p)
{
	struct vcpu_arena *a = data;
	uintptr_t u = (uintptr_t)p, b = (uintptr_t)a->base;

	if (u >= b && u < b + a->cap)
		return;
	free(p);
}

static void vcpu_request_free(struct vcpu *v, Plugvm__VcpuRequest *req)
{
	if (req)
		v->chan->release(v, req);
}

/* ---------------------------------------------------------------------------
 * The pipe channel.  The host's own ends (to_host read, to_plugin write) are
 * non-blocking so that every wait is a poll() that also watches stop_efd.
 */

static int vcpu_poll(struct vcpu *v, int fd, short events)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = events },
		{ .fd = v->vm->stop_efd, .events = POLLIN },
	};

	for (;;) {
		int r = poll(p, 2, -1);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents)
			return -EPIPE;
		if (p[0].revents & events)
			return 0;
		/* POLLERR/POLLHUP cannot happen while the host holds both ends. */
		if (p[0].revents)
			return -EPIPE;
	}
}

static int pipe_send(struct vcpu *v, const Plugvm__VcpuResponse *resp)
{
	size_t len = plugvm__vcpu_response__get_packed_size(resp), n, left;
	uint8_t prefix[10], *msg, *p;

	if (len > WIRE_VCPU_MESSAGE_MAX)
		return -EMSGSIZE;
	if (len > v->tx_cap) {
		uint8_t *nb = realloc(v->tx, VCPU_CHANNEL_HEADROOM + len);

		if (!nb)
			return -ENOMEM;
		v->tx = nb;
		v->tx_cap = len;
	}
	msg = v->tx + VCPU_CHANNEL_HEADROOM;
	plugvm__vcpu_response__pack(resp, msg);
	n = wire_varint_encode(len, prefix);
	if (n > VCPU_CHANNEL_HEADROOM)
		return -EMSGSIZE;
	/* One contiguous write keeps small messages atomic on the pipe. */
	p = msg - n;
	memcpy(p, prefix, n);
	left = n + len;
	while (left) {
		ssize_t w = write(v->to_plugin[1], p, left);

		if (w > 0) {
			p += w;
			left -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int r = vcpu_poll(v, v->to_plugin[1], POLLOUT);

			if (r < 0)
				return r;
			continue;
		}
		return w < 0 ? -errno : -EIO;
	}
	return 0;
}

/*
 * Spin-before-block on the pipe too: a poll() that sleeps costs a
 * cross-CPU wake-up of tens of microseconds in this nested VM, more than
 * the plugin usually needs to answer.  The spin state is the thread's own
 * (each vcpu thread serves one vcpu), sized like the shm channel's.
 */
static __thread struct shm_spin pipe_spin;
static __thread bool pipe_spin_ready;

struct pipe_probe {
	struct vcpu *v;
	ssize_t r;
	int err;
};

static int pipe_probe_read(void *arg)
{
	struct pipe_probe *pp = arg;

	if (atomic_load(&pp->v->vm->kill_signaled))
		return 1;
	pp->r = read(pp->v->to_host[0], pp->v->rx, WIRE_VCPU_MESSAGE_MAX);
	pp->err = pp->r < 0 ? errno : 0;
	return pp->r >= 0 || (pp->err != EAGAIN && pp->err != EINTR);
}

static int pipe_recv(struct vcpu *v, Plugvm__VcpuRequest **ret_req)
{
	struct pipe_probe pp = { .v = v };

	if (!pipe_spin_ready) {
		shm_spin_init(&pipe_spin, v->vm->n_vcpus, SHM_SIDE_HOST);
		pipe_spin_ready = true;
	}
	for (;;) {
		uint64_t start;

		if (atomic_load(&v->vm->kill_signaled))
			return -EPIPE;
		if (!shm_spin_probe(&pipe_spin, pipe_probe_read, &pp, &start)) {
			int p = vcpu_poll(v, v->to_host[0], POLLIN);

			if (p < 0)
				return p;
			/* The pipe carries no post time: the wake-up is the best estimate. */
			shm_spin_slept(&pipe_spin, start, 0);
			continue;
		}
		if (atomic_load(&v->vm->kill_signaled))
			return -EPIPE;
		if (pp.r > 0) {
			v->arena.used = 0;
			*ret_req = plugvm__vcpu_request__unpack(&v->allocator, (size_t)pp.r, v->rx);
			if (!*ret_req) {
				/*
				 * The pipe has no framing to find the next request by,
				 * so, as crosvm did, this ends the VM (docs/protocol.md).
				 */
				vm_fail(v->vm, "vcpu %u: undecodable request (%zd bytes): protocol "
					"violation, stopping the VM", v->id, pp.r);
				return -EBADMSG;
			}
			return 0;
		}
		if (pp.r == 0)
			return -EPIPE;
		return -pp.err;
	}
}

static void pipe_release(struct vcpu *v, Plugvm__VcpuRequest *req)
{
	plugvm__vcpu_request__free_unpacked(req, &v->allocator);
	v->arena.used = 0;
}

const struct vcpu_channel_ops vcpu_pipe_channel = {
	.send = pipe_send,
	.recv = pipe_recv,
	.release = pipe_release,
};

/* ---------------------------------------------------------------------------
 * Responses.
 */

static int vcpu_send(struct vcpu *v, const Plugvm__VcpuResponse *resp)
{
	return v->chan->send(v, resp);
}

static int vcpu_send_errno(struct vcpu *v, int err)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;

	resp.errnum = err;
	return vcpu_send(v, &resp);
}

static int vcpu_send_wait(struct vcpu *v, Plugvm__VcpuResponse__Wait *wait)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT;
	resp.wait = wait;
	return vcpu_send(v, &resp);
}

/* ---------------------------------------------------------------------------
 * Per-request handlers (SERVING state).  Each sends exactly one reply whose
 * oneof member matches the request, also on error.
 */

struct vcpu_state_desc {
	unsigned long get;
	unsigned long set;
	size_t size;
};

static const struct vcpu_state_desc vcpu_states[] = {
	[PLUGVM__VCPU_REQUEST__STATE_SET__REGS] = { KVM_GET_REGS, KVM_SET_REGS,
						    sizeof(struct kvm_regs) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__SREGS] = { KVM_GET_SREGS, KVM_SET_SREGS,
						     sizeof(struct kvm_sregs) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__FPU] = { KVM_GET_FPU, KVM_SET_FPU, sizeof(struct kvm_fpu) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__DEBUGREGS] = { KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS,
							 sizeof(struct kvm_debugregs) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__LAPIC] = { KVM_GET_LAPIC, KVM_SET_LAPIC,
						     sizeof(struct kvm_lapic_state) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__MP] = { KVM_GET_MP_STATE, KVM_SET_MP_STATE,
						  sizeof(struct kvm_mp_state) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__XCREGS] = { KVM_GET_XCRS, KVM_SET_XCRS,
						      sizeof(struct kvm_xcrs) },
	[PLUGVM__VCPU_REQUEST__STATE_SET__EVENTS] = { KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
						      sizeof(struct kvm_vcpu_events) },
};

static const struct vcpu_state_desc *vcpu_state_lookup(int set)
{
	if (set < 0 || (size_t)set >= ARRAY_SIZE(vcpu_states))
		return NULL;
	return &vcpu_states[set];
}

static int vcpu_set_state(struct vcpu *v, int set, const ProtobufCBinaryData *state)
{
	const struct vcpu_state_desc *d = vcpu_state_lookup(set);

	if (!d || state->len != d->size)
		return -EINVAL;
	/* Copy out of the decoder's buffer: it has no alignment guarantee for the kernel struct. */
	memcpy(v->scratch, state->data, d->size);
	return vcpu_ioctl(v, d->set, v->scratch);
}

static int handle_vcpu_get_state(struct vcpu *v, const Plugvm__VcpuRequest__GetState *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__GetState gs = PLUGVM__VCPU_RESPONSE__GET_STATE__INIT;
	const struct vcpu_state_desc *d = vcpu_state_lookup(req->set);
	int r = -EINVAL;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE;
	resp.get_state = &gs;
	if (d) {
		memset(v->scratch, 0, d->size);
		r = vcpu_ioctl(v, d->get, v->scratch);
		if (r >= 0) {
			gs.state.data = v->scratch;
			gs.state.len = d->size;
		}
	}
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

static int handle_vcpu_set_state(struct vcpu *v, const Plugvm__VcpuRequest__SetState *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__SetState ss = PLUGVM__VCPU_RESPONSE__SET_STATE__INIT;
	int r = vcpu_set_state(v, req->set, &req->state);

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE;
	resp.set_state = &ss;
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

static int handle_vcpu_get_msrs(struct vcpu *v, const Plugvm__VcpuRequest__GetMsrs *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__GetMsrs gm = PLUGVM__VCPU_RESPONSE__GET_MSRS__INIT;
	uint64_t data[VCPU_MAX_MSRS];
	struct kvm_msrs *msrs = (struct kvm_msrs *)(void *)v->scratch;
	size_t n = req->n_entry_indices;
	int r;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS;
	resp.get_msrs = &gm;
	if (n > VCPU_MAX_MSRS) {
		/* The kernel refuses this many too. */
		r = -E2BIG;
		goto out;
	}
	memset(msrs, 0, sizeof(*msrs) + n * sizeof(msrs->entries[0]));
	msrs->nmsrs = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		msrs->entries[i].index = req->entry_indices[i];
	r = vcpu_ioctl(v, KVM_GET_MSRS, msrs);
	if (r < 0)
		goto out;
	/* The kernel stops at the first MSR it cannot read; only what it read goes back. */
	if ((size_t)r > n)
		r = (int)n;
	for (int i = 0; i < r; i++)
		data[i] = msrs->entries[i].data;
	gm.entry_data = data;
	gm.n_entry_data = (size_t)r;
	r = 0;
out:
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

static int handle_vcpu_set_msrs(struct vcpu *v, const Plugvm__VcpuRequest__SetMsrs *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__SetMsrs sm = PLUGVM__VCPU_RESPONSE__SET_MSRS__INIT;
	struct kvm_msrs *msrs = (struct kvm_msrs *)(void *)v->scratch;
	size_t n = req->n_entries;
	int r;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_MSRS;
	resp.set_msrs = &sm;
	if (n > VCPU_MAX_MSRS) {
		r = -E2BIG;
		goto out;
	}
	memset(msrs, 0, sizeof(*msrs) + n * sizeof(msrs->entries[0]));
	msrs->nmsrs = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		msrs->entries[i].index = req->entries[i]->index;
		msrs->entries[i].data = req->entries[i]->data;
	}
	r = vcpu_ioctl(v, KVM_SET_MSRS, msrs);
	/*
	 * Like the original, a short count is not an error (docs/protocol.md §7.16):
	 * changing that would change what existing plugins see.
	 */
	if (r >= 0 && (size_t)r < n)
		log_debug("KVM_SET_MSRS set %d of %zu MSRs", r, n);
out:
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

static int handle_vcpu_set_cpuid(struct vcpu *v, const Plugvm__VcpuRequest__SetCpuid *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__SetCpuid sc = PLUGVM__VCPU_RESPONSE__SET_CPUID__INIT;
	struct kvm_cpuid2 *c = (struct kvm_cpuid2 *)(void *)v->scratch;
	size_t n = req->n_entries;
	int r;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_CPUID;
	resp.set_cpuid = &sc;
	if (n > VCPU_MAX_CPUID) {
		r = -E2BIG;
		goto out;
	}
	memset(c, 0, sizeof(*c) + n * sizeof(c->entries[0]));
	c->nent = (uint32_t)n;
	for (size_t i = 0; i < n; i++)
		codec_cpuid_to_kvm_set(req->entries[i], &c->entries[i]);
	r = vcpu_ioctl(v, KVM_SET_CPUID2, c);
out:
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

static int handle_vcpu_get_hyperv_cpuid(struct vcpu *v)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__CpuidResponse cr = PLUGVM__CPUID_RESPONSE__INIT;
	struct kvm_cpuid2 *c = (struct kvm_cpuid2 *)(void *)v->scratch;
	struct codec_cpuid_list list = { 0 };
	int r;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_HYPERV_CPUID;
	resp.get_hyperv_cpuid = &cr;
	memset(c, 0, VCPU_SCRATCH_SIZE);
	c->nent = VCPU_MAX_CPUID;
	r = vcpu_ioctl(v, KVM_GET_SUPPORTED_HV_CPUID, c);
	if (r < 0)
		goto out;
	if (c->nent > VCPU_MAX_CPUID)
		c->nent = VCPU_MAX_CPUID;
	r = codec_cpuid_list_from_kvm(c->entries, c->nent, &list);
	if (r < 0)
		goto out;
	cr.entries = list.ptrs;
	cr.n_entries = list.n;
out:
	resp.errnum = r < 0 ? -r : 0;
	r = vcpu_send(v, &resp);
	codec_cpuid_list_free(&list);
	return r;
}

static int handle_vcpu_enable_capability(struct vcpu *v,
					 const Plugvm__VcpuRequest__EnableCapability *req)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__EnableCapability ec = PLUGVM__VCPU_RESPONSE__ENABLE_CAPABILITY__INIT;
	struct kvm_enable_cap cap;
	int r = -EINVAL;

	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_ENABLE_CAPABILITY;
	resp.enable_capability = &ec;
	if (req->capability == KVM_CAP_HYPERV_SYNIC_VALUE ||
	    req->capability == KVM_CAP_HYPERV_SYNIC2_VALUE) {
		memset(&cap, 0, sizeof(cap));
		cap.cap = req->capability;
		r = vcpu_ioctl(v, KVM_ENABLE_CAP, &cap);
	}
	resp.errnum = r < 0 ? -r : 0;
	return vcpu_send(v, &resp);
}

/* Applies the deferred register sets of a Resume, in the order regs, sregs, debugregs. */
/* API 0.23 (ext.c); without the extension, the ENOTTY of any unknown request. */
static int handle_vcpu_reset(struct vcpu *v)
{
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__Reset m = PLUGVM__VCPU_RESPONSE__RESET__INIT;
	int r = ext_vcpu_reset(v);

	if (r == -ENOTTY)
		return vcpu_send_errno(v, ENOTTY);
	resp.errnum = r < 0 ? -r : 0;
	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_RESET;
	resp.reset = &m;
	return vcpu_send(v, &resp);
}

static int vcpu_apply_resume_regs(struct vcpu *v, const Plugvm__VcpuRequest__Resume *res)
{
	int r;

	if (res->regs.len) {
		r = vcpu_set_state(v, PLUGVM__VCPU_REQUEST__STATE_SET__REGS, &res->regs);
		if (r < 0)
			return r;
	}
	if (res->sregs.len) {
		r = vcpu_set_state(v, PLUGVM__VCPU_REQUEST__STATE_SET__SREGS, &res->sregs);
		if (r < 0)
			return r;
	}
	if (res->debugregs.len) {
		r = vcpu_set_state(v, PLUGVM__VCPU_REQUEST__STATE_SET__DEBUGREGS, &res->debugregs);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * SERVING state: the vcpu is stopped on an event already sent.  Serves
 * requests until Resume.  Returns 0 with *ret_resume set (free it with
 * vcpu_request_free()), -EPIPE on Shutdown or when the VM stops, -EIO if the
 * deferred registers of the Resume could not be applied, or another -errno
 * if the channel failed.
 */
static int vcpu_serve(struct vcpu *v, Plugvm__VcpuRequest **ret_resume)
{
	for (;;) {
		Plugvm__VcpuRequest *req;
		int r;

		/* -EBADMSG: a protocol violation, which the channel reported with vm_fail(). */
		r = v->chan->recv(v, &req);
		if (r < 0)
			return r;
		switch (req->message_case) {
		case PLUGVM__VCPU_REQUEST__MESSAGE_RESUME:
			r = vcpu_apply_resume_regs(v, req->resume);
			if (r < 0) {
				log_ratelimited(&v->rl, LOG_LEVEL_WARN,
						"registers in resume rejected: %s",
						strerror(-r));
				vcpu_request_free(v, req);
				return -EIO;
			}
			*ret_resume = req;
			return 0;
		case PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN:
			vcpu_request_free(v, req);
			return -EPIPE;
		case PLUGVM__VCPU_REQUEST__MESSAGE_WAIT:
			r = vcpu_send_errno(v, EPROTO);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE:
			r = handle_vcpu_get_state(v, req->get_state);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE:
			r = handle_vcpu_set_state(v, req->set_state);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS:
			r = handle_vcpu_get_msrs(v, req->get_msrs);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_SET_MSRS:
			r = handle_vcpu_set_msrs(v, req->set_msrs);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_SET_CPUID:
			r = handle_vcpu_set_cpuid(v, req->set_cpuid);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_GET_HYPERV_CPUID:
			r = handle_vcpu_get_hyperv_cpuid(v);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY:
			r = handle_vcpu_enable_capability(v, req->enable_capability);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_RESET:
			r = handle_vcpu_reset(v);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_GET_XSAVE:
			r = vcpu_handle_get_xsave(v);
			break;
		case PLUGVM__VCPU_REQUEST__MESSAGE_SET_XSAVE:
			r = vcpu_handle_set_xsave(v, req->set_xsave);
			break;
		default:
			r = vcpu_send_errno(v, ENOTTY);
			break;
		}
		vcpu_request_free(v, req);
		if (r < 0)
			return r;
	}
}

/*
 * INIT_PENDING: wait for the plugin's one Wait request, answer Init, and
 * serve until the Resume that carries the initial registers.  Shutdown and
 * the VM stopping end the handshake here too (docs/protocol.md §7.7).
 */
static int vcpu_init_handshake(struct vcpu *v)
{
	for (;;) {
		Plugvm__VcpuRequest *req = NULL;
		int r, kind;

		r = v->chan->recv(v, &req);
		if (r < 0)
			return r;
		kind = (int)req->message_case;
		vcpu_request_free(v, req);
		if (kind == PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN)
			return -EPIPE;
		if (kind == PLUGVM__VCPU_REQUEST__MESSAGE_WAIT) {
			Plugvm__VcpuResponse__Wait wait = PLUGVM__VCPU_RESPONSE__WAIT__INIT;
			Plugvm__VcpuResponse__Wait__Init init = PLUGVM__VCPU_RESPONSE__WAIT__INIT__INIT;
			Plugvm__VcpuRequest *resume = NULL;

			wait.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_INIT;
			wait.init = &init;
			r = vcpu_send_wait(v, &wait);
			if (r < 0)
				return r;
			r = vcpu_serve(v, &resume);
			vcpu_request_free(v, resume);
			return r;
		}
		r = vcpu_send_errno(v, EPROTO);
		if (r < 0)
			return r;
	}
}

/* ---------------------------------------------------------------------------
 * Exits.
 */

static bool hint_detail_matches(const struct hint_detail *d, const struct kvm_regs *regs)
{
	const uint64_t vals[4] = { regs->rax, regs->rbx, regs->rcx, regs->rdx };

	for (int i = 0; i < 4; i++)
		if (d->match[i] && d->value[i] != vals[i])
			return false;
	return true;
}

/* Fills the eager register fields of a hinted exit; called with io_lock held for reading. */
static void vcpu_fill_hint(struct vcpu *v, Plugvm__VcpuResponse__Wait__Io *io)
{
	const struct io_hint *h = &v->vm->hint;
	const struct hint_detail *d = NULL;

	if (vcpu_ioctl(v, KVM_GET_REGS, &v->hint_regs) < 0)
		return;
	io->regs.data = (uint8_t *)&v->hint_regs;
	io->regs.len = sizeof(v->hint_regs);
	for (size_t i = 0; i < h->n_details; i++) {
		if (hint_detail_matches(&h->details[i], &v->hint_regs)) {
			d = &h->details[i];
			break;
		}
	}
	if (!d)
		return;
	if (d->send_sregs && vcpu_ioctl(v, KVM_GET_SREGS, &v->hint_sregs) >= 0) {
		io->sregs.data = (uint8_t *)&v->hint_sregs;
		io->sregs.len = sizeof(v->hint_sregs);
	}
	if (d->send_debugregs && vcpu_ioctl(v, KVM_GET_DEBUGREGS, &v->hint_debugregs) >= 0) {
		io->debugregs.data = (uint8_t *)&v->hint_debugregs;
		io->debugregs.len = sizeof(v->hint_debugregs);
	}
}

/*
 * A PIO or MMIO access of size bytes at data (inside kvm_run).  Unreserved
 * accesses complete silently (reads as zeros); async ranges notify without
 * stopping; others stop the vcpu until Resume.
 */
static int vcpu_handle_io(struct vcpu *v, uint32_t space, uint64_t addr, bool is_write,
			  uint8_t *data, size_t size)
{
	struct vm *vm = v->vm;
	Plugvm__VcpuResponse__Wait wait = PLUGVM__VCPU_RESPONSE__WAIT__INIT;
	Plugvm__VcpuResponse__Wait__Io io = PLUGVM__VCPU_RESPONSE__WAIT__IO__INIT;
	Plugvm__VcpuRequest *resume = NULL;
	const struct range *range;
	bool async;
	int r;

	if (!is_write)
		memset(data, 0, size);
	pthread_rwlock_rdlock(&vm->io_lock);
	range = ranges_lookup(&vm->ranges[space], addr);
	if (!range || (range->async_write && !is_write && !range->sync_read)) {
		pthread_rwlock_unlock(&vm->io_lock);
		return VCPU_CONTINUE;
	}
	/* A sync_read range (API 0.23 range mode) stops on reads only. */
	async = range->async_write && is_write;
	io.space = (Plugvm__AddressSpace)space;
	io.address = addr;
	io.is_write = is_write;
	io.no_resume = async;
	/* Reads carry zeros of the access size: the plugin's buffer to fill. */
	io.data.data = data;
	io.data.len = size;
	/* API 0.23 IoDetails (docs/protocol.md §8.3): KVM's element size and count. */
	if (vm->io_details && space == VM_SPACE_PIO) {
		io.element_size = v->run->io.size;
		io.count = v->run->io.count;
	}
	if (!async && vm->hint.active && vm->hint.space == space && vm->hint.address == addr &&
	    vm->hint.on_write == is_write)
		vcpu_fill_hint(v, &io);
	pthread_rwlock_unlock(&vm->io_lock);

	wait.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_IO;
	wait.io = &io;
	r = vcpu_send_wait(v, &wait);
	if (r < 0)
		return VCPU_STOP;
	if (async)
		return VCPU_CONTINUE;

	r = vcpu_serve(v, &resume);
	if (r == 0) {
		if (!is_write) {
			const ProtobufCBinaryData *rd = &resume->resume->data;

			/*
			 * Short data is zero-filled (the buffer already is), extra ignored
			 * (docs/protocol.md §7.8).
			 */
			/* Empty bytes have data == NULL: no memcpy from it (UB even for 0). */
			if (rd->len)
				memcpy(data, rd->data, rd->len < size ? rd->len : size);
			if (rd->len < size)
				log_ratelimited(&v->rl, LOG_LEVEL_DEBUG,
						"resume data %zu bytes for a %zu-byte read",
						rd->len, size);
		}
		vcpu_request_free(v, resume);
		return VCPU_CONTINUE;
	}
	if (r == -EIO)
		return VCPU_CONTINUE;
	/* A plugin's Shutdown resumes without data; the stop path leaves. */
	if (r == -EPIPE && !atomic_load(&vm->kill_signaled))
		return VCPU_CONTINUE;
	return VCPU_STOP;
}

static int vcpu_handle_hyperv(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	Plugvm__VcpuResponse__Wait wait = PLUGVM__VCPU_RESPONSE__WAIT__INIT;
	Plugvm__VcpuResponse__Wait__HypervCall hc = PLUGVM__VCPU_RESPONSE__WAIT__HYPERV_CALL__INIT;
	Plugvm__VcpuResponse__Wait__HypervSynic sy = PLUGVM__VCPU_RESPONSE__WAIT__HYPERV_SYNIC__INIT;
	Plugvm__VcpuRequest *resume = NULL;
	int r;

	switch (run->hyperv.type) {
	case KVM_EXIT_HYPERV_HCALL:
		hc.input = run->hyperv.u.hcall.input;
		hc.params0 = run->hyperv.u.hcall.params[0];
		hc.params1 = run->hyperv.u.hcall.params[1];
		wait.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_CALL;
		wait.hyperv_call = &hc;
		break;
	case KVM_EXIT_HYPERV_SYNIC:
		sy.msr = run->hyperv.u.synic.msr;
		sy.control = run->hyperv.u.synic.control;
		sy.evt_page = run->hyperv.u.synic.evt_page;
		sy.msg_page = run->hyperv.u.synic.msg_page;
		wait.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_SYNIC;
		wait.hyperv_synic = &sy;
		break;
	default:
		log_ratelimited(&v->rl, LOG_LEVEL_WARN, "unhandled hyper-v exit type %u",
				run->hyperv.type);
		return VCPU_CONTINUE;
	}
	r = vcpu_send_wait(v, &wait);
	if (r < 0)
		return VCPU_STOP;
	r = vcpu_serve(v, &resume);
	if (run->hyperv.type == KVM_EXIT_HYPERV_HCALL) {
		uint8_t result[8] = { 0 };

		/*
		 * Exactly 8 bytes are expected; zero-fill or truncate anything else
		 * (docs/protocol.md §7.8).
		 */
		if (r == 0) {
			const ProtobufCBinaryData *rd = &resume->resume->data;

			if (rd->len)
				memcpy(result, rd->data, rd->len < 8 ? rd->len : 8);
			if (rd->len != 8)
				log_ratelimited(&v->rl, LOG_LEVEL_DEBUG,
						"hypercall result of %zu bytes",
						rd->len);
		}
		memcpy(&run->hyperv.u.hcall.result, result, 8);
	}
	vcpu_request_free(v, resume);
	if (r == 0 || r == -EIO || (r == -EPIPE && !atomic_load(&v->vm->kill_signaled)))
		return VCPU_CONTINUE;
	return VCPU_STOP;
}

/*
 * A reset the plugin asked to see (ResetEvents, ext.c): the vcpu stops with
 * a Wait.reset event and is served until Resume, like a synchronous I/O
 * exit; the plugin typically calls Reset before it resumes.
 */
static int vcpu_handle_reset(struct vcpu *v, uint32_t reason)
{
	Plugvm__VcpuResponse__Wait wait = PLUGVM__VCPU_RESPONSE__WAIT__INIT;
	Plugvm__VcpuResponse__Wait__Reset m = PLUGVM__VCPU_RESPONSE__WAIT__RESET__INIT;
	Plugvm__VcpuRequest *resume = NULL;
	int r;

	m.reason = reason;
	wait.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_RESET;
	wait.reset = &m;
	if (vcpu_send_wait(v, &wait) < 0)
		return VCPU_STOP;
	r = vcpu_serve(v, &resume);
	vcpu_request_free(v, resume);
	if (r == 0 || r == -EIO)
		return VCPU_CONTINUE;
	if (r == -EPIPE && !atomic_load(&v->vm->kill_signaled))
		return VCPU_CONTINUE;
	return VCPU_STOP;
}

static int vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vm *vm = v->vm;

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint64_t total = (uint64_t)run->io.size * run->io.count;

		/*
		 * String PIO passes the full count x size from the data page (docs/protocol.md
		 * §7.9).
		 */
		if (run->io.data_offset > vm->run_size || total > vm->run_size - run->io.data_offset) {
			vm_fail(v->vm, "vcpu %u: KVM I/O exit data outside kvm_run", v->id);
			return VCPU_STOP;
		}
		return vcpu_handle_io(v, VM_SPACE_PIO, run->io.port,
				      run->io.direction == KVM_EXIT_IO_OUT,
				      (uint8_t *)run + run->io.data_offset, (size_t)total);
	}
	case KVM_EXIT_MMIO: {
		size_t size = run->mmio.len < 8 ? run->mmio.len : 8;

		return vcpu_handle_io(v, VM_SPACE_MMIO, run->mmio.phys_addr, run->mmio.is_write,
				      run->mmio.data, size);
	}
	case KVM_EXIT_HYPERV:
		return vcpu_handle_hyperv(v);
	case KVM_EXIT_HLT:
		/* Like crosvm, a halted vcpu ends the VM; the plugin's status decides the result. */
		log_info("halted");
		return VCPU_STOP;
	case KVM_EXIT_SHUTDOWN:
		if (vm->reset_events)
			return vcpu_handle_reset(v, PLUGVM_RESET_TRIPLE_FAULT);
		vm_fail(v->vm, "guest triple fault (shutdown) on vcpu %u", v->id);
		return VCPU_STOP;
	case KVM_EXIT_INTERNAL_ERROR:
		log_debug("internal error data: %u words: %llx %llx %llx %llx",
			  run->internal.ndata,
			  (unsigned long long)(run->internal.ndata > 0 ? run->internal.data[0] : 0),
			  (unsigned long long)(run->internal.ndata > 1 ? run->internal.data[1] : 0),
			  (unsigned long long)(run->internal.ndata > 2 ? run->internal.data[2] : 0),
			  (unsigned long long)(run->internal.ndata > 3 ? run->internal.data[3] : 0));
		vm_fail(v->vm, "KVM internal error on vcpu %u (suberror %u)", v->id,
			run->internal.suberror);
		return VCPU_STOP;
	case KVM_EXIT_FAIL_ENTRY:
		/* Re-entering would fail the same way forever (docs/protocol.md §7.11). */
		vm_fail(v->vm, "KVM entry failure on vcpu %u (hardware reason 0x%llx)", v->id,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return VCPU_STOP;
	case KVM_EXIT_EXCEPTION:
	case KVM_EXIT_HYPERCALL:
	case KVM_EXIT_DEBUG:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
	case KVM_EXIT_INTR:
	case KVM_EXIT_SET_TPR:
	case KVM_EXIT_TPR_ACCESS:
	case KVM_EXIT_NMI:
	case KVM_EXIT_SYSTEM_EVENT:
	case KVM_EXIT_IOAPIC_EOI:
		log_ratelimited(&v->rl, LOG_LEVEL_WARN, "ignoring KVM exit %u",
				run->exit_reason);
		return VCPU_CONTINUE;
	default:
		vm_fail(v->vm, "unhandled KVM exit %u on vcpu %u", run->exit_reason, v->id);
		return VCPU_STOP;
	}
}

static bool vcpu_take_pause(struct vcpu *v, uint64_t *ret_user)
{
	bool pending;

	pthread_mutex_lock(&v->pause_lock);
	pending = v->pause_pending;
	v->pause_pending = false;
	*ret_user = v->pause_user;
	pthread_mutex_unlock(&v->pause_lock);
	return pending;
}

/* Consumes the kick that made KVM_RUN return EINTR, so the next run enters the guest. */
static void vcpu_clear_kick(struct vcpu *v)
{
	if (v->vm->immediate_exit) {
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_RELAXED);
	} else {
		const struct timespec zero = { 0 };
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGRTMIN);
		/* Real-time signals queue: drain every kick that arrived. */
		while (sigtimedwait(&set, NULL, &zero) >= 0)
			;
	}
}

static int vcpu_deliver_pause(struct vcpu *v, uint64_t user)
{
	Plugvm__VcpuResponse__Wait wait = PLUGVM__VCPU_RESPONSE__WAIT__INIT;
	Plugvm__VcpuResponse__Wait__User u = PLUGVM__VCPU_RESPONSE__WAIT__USER__INIT;
	Plugvm__VcpuRequest *resume = NULL;
	int r;

	u.user = user;
	wait.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER;
	wait.user = &u;
	r = vcpu_send_wait(v, &wait);
	if (r < 0)
		return VCPU_STOP;
	r = vcpu_serve(v, &resume);
	vcpu_request_free(v, resume);
	/* Shutdown during a pause ends the vcpu, as in the original. */
	return r == 0 || r == -EIO ? VCPU_CONTINUE : VCPU_STOP;
}

/*
 * --stats: what each exit was, and how long it kept the vcpu out of the guest
 * (from KVM_RUN's return to the next KVM_RUN, i.e. including the plugin's
 * round trip), plus the time spent in the guest.
 */
enum vcpu_stat_kind {
	VSTAT_IO_IN,
	VSTAT_IO_OUT,
	VSTAT_MMIO_READ,
	VSTAT_MMIO_WRITE,
	VSTAT_HYPERV,
	VSTAT_KICK,
	VSTAT_OTHER,
	VSTAT_MAX,
};

static const char *const vcpu_stat_names[VSTAT_MAX] = {
	[VSTAT_IO_IN] = "pio in",       [VSTAT_IO_OUT] = "pio out",
	[VSTAT_MMIO_READ] = "mmio read", [VSTAT_MMIO_WRITE] = "mmio write",
	[VSTAT_HYPERV] = "hyper-v",      [VSTAT_KICK] = "kick (pause)",
	[VSTAT_OTHER] = "other",
};

struct vcpu_stats {
	uint64_t guest_ns;
	struct hist exits[VSTAT_MAX];
};

static uint64_t vcpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static enum vcpu_stat_kind vcpu_stat_kind(const struct kvm_run *run, bool interrupted)
{
	if (interrupted)
		return VSTAT_KICK;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return run->io.direction == KVM_EXIT_IO_OUT ? VSTAT_IO_OUT : VSTAT_IO_IN;
	case KVM_EXIT_MMIO:
		return run->mmio.is_write ? VSTAT_MMIO_WRITE : VSTAT_MMIO_READ;
	case KVM_EXIT_HYPERV:
		return VSTAT_HYPERV;
	default:
		return VSTAT_OTHER;
	}
}

/* Leaves KVM_RUN; the last one out wakes a vcpus_hold() waiting for it. */
static void vcpu_hold_leave(struct vm *vm)
{
	if (atomic_fetch_sub(&vm->n_in_run, 1) == 1 && atomic_load(&vm->hold)) {
		pthread_mutex_lock(&vm->hold_lock);
		pthread_cond_broadcast(&vm->hold_cond);
		pthread_mutex_unlock(&vm->hold_lock);
	}
}

/*
 * Before KVM_RUN: counted in first, then checks `hold` (both sequentially
 * consistent), so either vcpus_hold() sees this vcpu counted and its kick,
 * sent after `hold` was set, ends the run at once, or the vcpu sees `hold`
 * and waits here until vcpus_release().
 */
static void vcpu_hold_enter(struct vm *vm)
{
	for (;;) {
		atomic_fetch_add(&vm->n_in_run, 1);
		if (!atomic_load(&vm->hold))
			return;
		vcpu_hold_leave(vm);
		pthread_mutex_lock(&vm->hold_lock);
		while (atomic_load(&vm->hold))
			pthread_cond_wait(&vm->hold_cond, &vm->hold_lock);
		pthread_mutex_unlock(&vm->hold_lock);
	}
}

static void vcpu_run_loop(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct vcpu_stats *st = v->stats;
	uint64_t t_exit = 0;
	enum vcpu_stat_kind kind = VSTAT_OTHER;

	for (;;) {
		bool interrupted = false;
		uint64_t user;
		int r;

		if (atomic_load(&vm->kill_signaled))
			return;
		vcpu_hold_enter(vm);
		if (st && t_exit) {
			uint64_t t_entry = vcpu_now_ns();

			hist_add(&st->exits[kind], t_entry - t_exit);
			r = vm->kvm->run(v->fd);
			t_exit = vcpu_now_ns();
			st->guest_ns += t_exit - t_entry;
		} else {
			r = vm->kvm->run(v->fd);
			if (st)
				t_exit = vcpu_now_ns();
		}
		vcpu_hold_leave(vm);
		if (st)
			kind = vcpu_stat_kind(v->run, r == -EINTR);
		if (r < 0) {
			if (r == -EINTR) {
				interrupted = true;
			} else if (r != -EAGAIN) {
				vm_fail(v->vm, "KVM_RUN failed on vcpu %u: %s", v->id, strerror(-r));
				return;
			}
		} else if (vcpu_handle_exit(v) != VCPU_CONTINUE) {
			return;
		}
		if (atomic_load(&vm->kill_signaled))
			return;
		if (!interrupted)
			continue;
		vcpu_clear_kick(v);
		if (vcpu_take_pause(v, &user) && vcpu_deliver_pause(v, user) != VCPU_CONTINUE)
			return;
	}
}

/* ---------------------------------------------------------------------------
 * Threads.
 */

/* Adds task id to the --vcpu-cgroup-path tasks file that vcpus_prepare() opened. */
static int cgroup_add_task(struct vm *vm, pid_t id)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", (int)id);

	/* One write per task id, as cgroup files want; at offset 0 for a plain file. */
	if (pwrite(vm->vcpu_cgroup_fd, buf, (size_t)n, 0) != n)
		return errno ? -errno : -EIO;
	return 0;
}

static int vcpu_set_kvm_sigmask(struct vcpu *v)
{
	/* struct kvm_signal_mask followed by its 8 bytes of sigset (a flexible array member). */
	union {
		struct kvm_signal_mask hdr;
		uint8_t bytes[sizeof(struct kvm_signal_mask) + 8];
	} mask;
	uint64_t bits = 0;
	sigset_t cur;

	/*
	 * Inside KVM_RUN only the kick is unblocked.  (The original used an
	 * empty set, which lets a process-directed SIGCHLD be taken, and lost,
	 * by a vcpu thread instead of reaching the main thread's signalfd.)
	 */
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(&cur, sig) == 1 && sig != SIGRTMIN)
			bits |= 1ull << (sig - 1);
	mask.hdr.len = 8;
	memcpy(mask.bytes + sizeof(struct kvm_signal_mask), &bits, 8);
	return vcpu_ioctl(v, KVM_SET_SIGNAL_MASK, &mask);
}


static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	int r;

	/* Every line this thread logs names its vcpu. */
	log_set_context("vcpu %u", v->id);

	if (!vm->immediate_exit) {
		r = vcpu_set_kvm_sigmask(v);
		if (r < 0) {
			vm_fail(v->vm, "vcpu %u: KVM_SET_SIGNAL_MASK: %s", v->id, strerror(-r));
			goto out_barrier;
		}
	}
	if (vm->vcpu_cgroup_fd >= 0) {
		r = cgroup_add_task(vm, gettid());
		if (r < 0) {
			vm_fail(v->vm, "vcpu %u: cannot join cgroup %s: %s", v->id,
				vm->cfg->vcpu_cgroup_path, strerror(-r));
			goto out_barrier;
		}
	}
	if (prctl(PR_SCHED_CORE, PR_SCHED_CORE_CREATE, 0, PIDTYPE_PID_VALUE, 0) < 0)
		log_debug("core scheduling unavailable: %m");
	{
		char name[32];

		/* Named by itself: naming another thread would open its /proc comm file. */
		snprintf(name, sizeof(name), "crosvm_vcpu%u", v->id);
		/* The kernel keeps 15 characters; at most 64 vcpus always fit. */
		name[15] = '\0';
		prctl(PR_SET_NAME, name, 0, 0, 0);
	}
	/* From here on the thread needs nothing its filter does not allow. */
	if (vm->vcpu_thread_hook && vm->vcpu_thread_hook(v->id) < 0) {
		vm_fail(v->vm, "vcpu %u: cannot install its seccomp filter", v->id);
		goto out_barrier;
	}

	if (vm->immediate_exit) {
		tls_kick_run = v->run;
		/* A pause may have been kicked before the handler could see this thread's kvm_run. */
		pthread_mutex_lock(&v->pause_lock);
		if (v->pause_pending)
			__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&v->pause_lock);
	}

	r = ext_vcpu_start(v);
	if (r < 0) {
		vm_fail(v->vm, "vcpu %u: power-on state or default CPUID: %s", v->id, strerror(-r));
		goto out_barrier;
	}
	r = vcpu_init_handshake(v);
	if (r == -EIO)
		vm_fail(v->vm, "vcpu %u: initial registers rejected", v->id);
	else if (r < 0 && r != -EPIPE && r != -EBADMSG) /* -EBADMSG: reported already */
		vm_fail(v->vm, "vcpu %u: init handshake failed: %s", v->id, strerror(-r));
	else if (r == -EPIPE && !atomic_load(&vm->kill_signaled))
		log_info("plugin shut the vcpu down during init");
	/* Nobody enters the guest before every vcpu has finished its handshake. */
	vm_barrier_wait(vm);
	if (r == 0)
		vcpu_run_loop(v);
	goto out;

out_barrier:
	vm_barrier_wait(vm);
out:
	tls_kick_run = NULL;
	/*
	 * The plugin's end of this channel sees EOF (its wait fails with EPIPE)
	 * as soon as the vcpu is gone, as with crosvm, whose vcpu threads closed
	 * their pipes: a plugin thread blocked in crosvm_vcpu_wait() can end
	 * within the grace period.  Only this thread ever writes to the pipe.
	 */
	if (v->to_plugin[1] >= 0) {
		close(v->to_plugin[1]);
		v->to_plugin[1] = -1;
	}
	if (efd_signal(vm->exit_efd) < 0)
		log_warn("eventfd write: %m");
	return NULL;
}

int vcpus_prepare(struct vm *vm)
{
	const char *cg = vm->cfg ? vm->cfg->vcpu_cgroup_path : NULL;

	if (cg) {
		/* Opened now: the host's seccomp filter allows no open() later. */
		char path[4096];

		if (snprintf(path, sizeof(path), "%s/tasks", cg) >= (int)sizeof(path)) {
			log_err("--vcpu-cgroup-path %s: path too long", cg);
			return -ENAMETOOLONG;
		}
		vm->vcpu_cgroup_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (vm->vcpu_cgroup_fd < 0) {
			int r = -errno;

			log_err("cannot open %s: %s", path, strerror(-r));
			return r;
		}
	}
	vm->vcpus = calloc(vm->n_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	vm->kick_vcpus = vcpus_kick;
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->vm = vm;
		v->id = i;
		v->fd = -1;
		v->to_host[0] = v->to_host[1] = v->to_plugin[0] = v->to_plugin[1] = -1;
		v->chan = &vcpu_pipe_channel;
		pthread_mutex_init(&v->pause_lock, NULL);
	}
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (pipe2(v->to_host, O_CLOEXEC) < 0 || pipe2(v->to_plugin, O_CLOEXEC) < 0) {
			int r = -errno;

			log_err("vcpu %u: pipe: %s", i, strerror(-r));
			return r;
		}
		if (fcntl(v->to_host[0], F_SETPIPE_SZ, VCPU_PIPE_SIZE) < 0 ||
		    fcntl(v->to_plugin[0], F_SETPIPE_SZ, VCPU_PIPE_SIZE) < 0)
			log_warn("vcpu %u: cannot grow pipes to %d bytes: %m", i, VCPU_PIPE_SIZE);
		/* Only the host's own ends: the plugin's ends share their file status flags. */
		if (fcntl(v->to_host[0], F_SETFL, O_NONBLOCK) < 0 ||
		    fcntl(v->to_plugin[1], F_SETFL, O_NONBLOCK) < 0) {
			int r = -errno;

			log_err("vcpu %u: fcntl: %s", i, strerror(-r));
			return r;
		}
	}
	return 0;
}

static int vcpu_alloc_buffers(struct vcpu *v)
{
	v->rx = malloc(WIRE_VCPU_MESSAGE_MAX);
	v->tx = malloc(VCPU_CHANNEL_HEADROOM + VCPU_TX_INITIAL);
	v->tx_cap = VCPU_TX_INITIAL;
	v->scratch_cap = VCPU_SCRATCH_SIZE;
	v->scratch = aligned_alloc(64, (VCPU_SCRATCH_SIZE + 63) & ~(size_t)63);
	v->arena.base = malloc(VCPU_ARENA_SIZE);
	v->arena.cap = VCPU_ARENA_SIZE;
	v->arena.used = 0;
	v->allocator.alloc = arena_alloc;
	v->allocator.free = arena_free;
	v->allocator.allocator_data = &v->arena;
	if (!v->rx || !v->tx || !v->scratch || !v->arena.base)
		return -ENOMEM;
	if (v->vm->cfg->stats) {
		v->stats = calloc(1, sizeof(*v->stats));
		if (!v->stats)
			return -ENOMEM;
	}
	return 0;
}

static int vcpus_setup_kick(struct vm *vm)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGRTMIN, &sa, NULL) < 0)
		return -errno;
	if (!vm->immediate_exit) {
		sigset_t set;

		/*
		 * Blocked everywhere, so a kick stays pending until the vcpu's
		 * next KVM_RUN; threads inherit this mask from the main thread.
		 */
		sigemptyset(&set);
		sigaddset(&set, SIGRTMIN);
		if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
			return -EINVAL;
	}
	return 0;
}

int vcpus_start(struct vm *vm)
{
	const char *cg = vm->cfg->vcpu_cgroup_path;
	int r;

	if (vm->vcpu_cgroup_fd >= 0) {
		r = cgroup_add_task(vm, getpid());
		if (r < 0) {
			vm_fail(vm, "cannot add the host to cgroup %s: %s", cg, strerror(-r));
			return r;
		}
	}
	r = vcpus_setup_kick(vm);
	if (r < 0) {
		vm_fail(vm, "cannot set up the vcpu kick signal: %s", strerror(-r));
		return r;
	}
	/*
	 * Every vcpu exists before any thread runs, so a failure cannot strand threads
	 * (docs/protocol.md §7.12).
	 */
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		void *run;

		r = vm->kvm->ioctl(vm->vm_fd, KVM_CREATE_VCPU, (void *)(unsigned long)i);
		if (r < 0) {
			vm_fail(vm, "KVM_CREATE_VCPU %u: %s", i, strerror(-r));
			return r;
		}
		v->fd = r;
		if (fcntl(v->fd, F_SETFD, FD_CLOEXEC) < 0) {
			r = -errno;
			vm_fail(vm, "vcpu %u: fcntl: %s", i, strerror(-r));
			return r;
		}
		run = vm->kvm->map_run(v->fd, vm->run_size);
		if (!run) {
			r = -errno;
			vm_fail(vm, "vcpu %u: mmap kvm_run: %s", i, strerror(-r));
			return r;
		}
		v->run = run;
		r = vcpu_alloc_buffers(v);
		if (r < 0) {
			vm_fail(vm, "vcpu %u: out of memory", i);
			return r;
		}
	}
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		r = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (r != 0) {
			vm_fail(vm, "cannot start the thread of vcpu %u: %s", i, strerror(r));
			return -r;
		}
		v->thread_started = true;
	}
	return 0;
}

void vcpus_pause(struct vm *vm, uint64_t mask, uint64_t user)
{
	for (unsigned i = 0; i < vm->n_vcpus && i < 64; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!(mask & (1ull << i)) || !v->thread_started)
			continue;
		pthread_mutex_lock(&v->pause_lock);
		v->pause_pending = true;
		v->pause_user = user;
		pthread_mutex_unlock(&v->pause_lock);
		pthread_kill(v->thread, SIGRTMIN);
	}
}

static void vcpus_hold_kick(struct vm *vm)
{
	for (unsigned i = 0; vm->vcpus && i < vm->n_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			pthread_kill(vm->vcpus[i].thread, SIGRTMIN);
}

void vcpus_hold(struct vm *vm)
{
	atomic_store(&vm->hold, true);
	vcpus_hold_kick(vm);
	pthread_mutex_lock(&vm->hold_lock);
	while (atomic_load(&vm->n_in_run)) {
		struct timespec ts;

		/*
		 * One kick suffices when the handler runs on delivery; a handler
		 * that runs late (a sanitizer defers signals) can miss the
		 * KVM_RUN it was meant for, so kick again every 5 ms.
		 */
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 5000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&vm->hold_cond, &vm->hold_lock, &ts) == ETIMEDOUT &&
		    atomic_load(&vm->n_in_run))
			vcpus_hold_kick(vm);
	}
	pthread_mutex_unlock(&vm->hold_lock);
}

void vcpus_release(struct vm *vm)
{
	pthread_mutex_lock(&vm->hold_lock);
	atomic_store(&vm->hold, false);
	pthread_cond_broadcast(&vm->hold_cond);
	pthread_mutex_unlock(&vm->hold_lock);
}

void vcpus_kick(struct vm *vm)
{
	for (unsigned i = 0; vm->vcpus && i < vm->n_vcpus; i++) {
		if (!vm->vcpus[i].thread_started)
			continue;
		pthread_kill(vm->vcpus[i].thread, SIGRTMIN);
		/* A thread asleep on the shared page does not see signals or stop_efd. */
		vcpu_shm_wake(&vm->vcpus[i]);
	}
}

void vcpus_join(struct vm *vm)
{
	for (unsigned i = 0; vm->vcpus && i < vm->n_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->thread_started)
			continue;
		pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
}

void vcpus_free(struct vm *vm)
{
	if (vm->vcpu_cgroup_fd >= 0)
		close(vm->vcpu_cgroup_fd);
	vm->vcpu_cgroup_fd = -1;
	if (!vm->vcpus)
		return;
	vcpus_shm_free(vm);
	for (unsigned i = 0; i < vm->n_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->run)
			vm->kvm->unmap_run(v->run, vm->run_size);
		if (v->fd >= 0)
			close(v->fd);
		wire_close_fds(v->to_host, 2);
		wire_close_fds(v->to_plugin, 2);
		free(v->rx);
		free(v->tx);
		free(v->scratch);
		free(v->arena.base);
		free(v->stats);
		ext_vcpu_free(v);
		pthread_mutex_destroy(&v->pause_lock);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->kick_vcpus = NULL;
}

void vcpus_print_stats(struct vm *vm)
{
	struct vcpu_stats *all;
	char line[256];
	int n;

	if (!vm->vcpus || !vm->cfg->stats)
		return;
	all = calloc(1, sizeof(*all));
	if (!all)
		return;
	/* stderr directly: the table was asked for, whatever the log level. */
	n = snprintf(line, sizeof(line),
		     "plugvm: vcpu exit statistics (handling = KVM_RUN return to re-entry), "
		     "times in microseconds:\n%-6s %-13s %10s %12s %9s %9s %9s %9s\n",
		     "vcpu", "exit", "count", "total", "mean", "p50", "p99", "max");
	(void)!write(STDERR_FILENO, line, (size_t)n);
	for (unsigned i = 0; i <= vm->n_vcpus; i++) {
		const struct vcpu_stats *st = i < vm->n_vcpus ? vm->vcpus[i].stats : all;
		char who[16];

		if (!st)
			continue;
		if (i < vm->n_vcpus) {
			snprintf(who, sizeof(who), "%u", i);
			all->guest_ns += st->guest_ns;
			for (unsigned k = 0; k < VSTAT_MAX; k++)
				hist_merge(&all->exits[k], &st->exits[k]);
		} else {
			snprintf(who, sizeof(who), "all");
		}
		for (unsigned k = 0; k < VSTAT_MAX; k++) {
			const struct hist *h = &st->exits[k];

			if (!h->count)
				continue;
			n = snprintf(line, sizeof(line),
				     "%-6s %-13s %10llu %12.1f %9.2f %9.2f %9.2f %9.2f\n", who,
				     vcpu_stat_names[k], (unsigned long long)h->count,
				     (double)h->total / 1e3, (double)h->total / (double)h->count / 1e3,
				     (double)hist_percentile(h, 50) / 1e3,
				     (double)hist_percentile(h, 99) / 1e3, (double)h->max / 1e3);
			(void)!write(STDERR_FILENO, line, (size_t)n);
		}
		n = snprintf(line, sizeof(line), "%-6s %-13s %10s %12.1f\n", who, "in guest", "",
			     (double)st->guest_ns / 1e3);
		(void)!write(STDERR_FILENO, line, (size_t)n);
	}
	free(all);
}
