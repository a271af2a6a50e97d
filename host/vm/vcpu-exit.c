// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The vcpu state machine around KVM_RUN (docs/protocol.md §4.3, §4.5): the Init
 * handshake, exits turned into events, pauses, and the --stats table.
 */
#include "vcpu-internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ext-bits.h"

/*
 * INIT_PENDING: wait for the plugin's one Wait request, answer Init, and
 * serve until the Resume that carries the initial registers.  Shutdown and
 * the VM stopping end the handshake here too (docs/protocol.md §7.7).
 */
int vcpu_init_handshake(struct vcpu *v)
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

/* --stats (vcpu-internal.h): the names of the exit kinds in the table. */
static const char *const vcpu_stat_names[VSTAT_MAX] = {
	[VSTAT_IO_IN] = "pio in",       [VSTAT_IO_OUT] = "pio out",
	[VSTAT_MMIO_READ] = "mmio read", [VSTAT_MMIO_WRITE] = "mmio write",
	[VSTAT_HYPERV] = "hyper-v",      [VSTAT_KICK] = "kick (pause)",
	[VSTAT_OTHER] = "other",
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

void vcpu_run_loop(struct vcpu *v)
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
