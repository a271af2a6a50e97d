// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/* The vcpus' lifecycle: pipes, KVM vcpus, threads, kick, hold, stop (vcpu-internal.h lists the rest). */
#include "vcpu-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "wire.h"

#ifndef PR_SCHED_CORE
#define PR_SCHED_CORE 62
#define PR_SCHED_CORE_CREATE 1
#endif
#define PIDTYPE_PID_VALUE 0

#define VCPU_PIPE_SIZE 0x40000
#define VCPU_TX_INITIAL (64u * 1024u)
#define VCPU_ARENA_SIZE (64u * 1024u)

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
	v->allocator.alloc = vcpu_arena_alloc;
	v->allocator.free = vcpu_arena_free;
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
