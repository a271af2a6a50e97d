// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "host-seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "log.h"

#ifndef PR_SCHED_CORE
#define PR_SCHED_CORE 62
#endif

/*
 * Sanitizer runtimes make calls of their own (LeakSanitizer's exit-time
 * tracer clones a non-thread task and ptraces the host; reports open files):
 * exactly what the filters take away, so in those builds the filters are off
 * (docs/sandbox.md).
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HOST_SECCOMP_SANITIZER 1
#else
#define HOST_SECCOMP_SANITIZER 0
#endif

static atomic_int refused_nr = -1;
static const char *_Atomic refused_thread;
static int refused_efd = -1;
static atomic_bool active;
static __thread const char *tls_thread = "main";
static __thread char tls_thread_buf[24];

static void sigsys_handler(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	int expected = -1;
	uint64_t one = 1;
	ssize_t ignored;

	(void)sig;
	/* The call did not run; to its caller it failed. */
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
	if (atomic_compare_exchange_strong(&refused_nr, &expected, si->si_syscall)) {
		atomic_store(&refused_thread, tls_thread);
		if (refused_efd >= 0)
			ignored = write(refused_efd, &one, sizeof(one));
		(void)ignored;
	}
}

struct rule {
	const char *name;
	unsigned n;              /* argument comparisons */
	struct scmp_arg_cmp cmp[2];
};

#define ALLOW(call) { #call, 0, { { 0 } } }
#define ALLOW_IF(call, c0) { #call, 1, { c0 } }
#define ALLOW_IF2(call, c0, c1) { #call, 2, { c0, c1 } }

/* Both kinds of thread: memory, locks, time, signals, the channels, logging. */
static const struct rule common_rules[] = {
	ALLOW(read),
	ALLOW(write),
	ALLOW(readv),
	ALLOW(writev),
	ALLOW(pread64),
	ALLOW(pwrite64),
	ALLOW(poll),
	ALLOW(ppoll),
	ALLOW(futex),
	ALLOW(sched_yield),
	ALLOW(sched_getaffinity),
	ALLOW(clock_gettime),
	ALLOW(clock_nanosleep),
	ALLOW(nanosleep),
	ALLOW(gettid),
	ALLOW(getpid),
	ALLOW(tgkill),
	ALLOW(rt_sigreturn),
	ALLOW(rt_sigprocmask),
	ALLOW(restart_syscall),
	ALLOW(brk),
	ALLOW(munmap),
	ALLOW(madvise),
	ALLOW(mremap),
	/* Never executable memory. */
	ALLOW_IF(mmap, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
	ALLOW_IF(mprotect, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)),
	/* KVM's ioctls (type KVMIO) only. */
	ALLOW_IF(ioctl, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, KVMIO << 8)),
	/* Logging to an already connected syslog socket. */
	ALLOW(sendto),
	ALLOW(exit),
};

/* The main thread: serving main requests, the plugin's life, starting vcpus. */
static const struct rule main_rules[] = {
	ALLOW(close),
	ALLOW(lseek),
	ALLOW(fcntl),
	ALLOW(fstat),
	/* fstat() of a descriptor (glibc's form); no path lookups. */
	ALLOW_IF(newfstatat, SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH)),
	ALLOW(recvmsg),
	ALLOW(sendmsg),
	ALLOW(recvfrom),
	ALLOW_IF(socketpair, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
	ALLOW(eventfd2),
	ALLOW(memfd_create),
	ALLOW(ftruncate),
	ALLOW(dup),
	ALLOW(dup3),
	ALLOW(pipe2),
	/* The seccomp listener's notifications (SECCOMP_IOCTL_NOTIF_*, type '!'). */
	ALLOW_IF(ioctl, SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, '!' << 8)),
	/* Putting the terminal's mode back after a plugin that used it (tcsetattr). */
	ALLOW_IF(ioctl, SCMP_A1(SCMP_CMP_EQ, TCSETS)),
	/* Threads only; clone3 keeps its flags in memory, so glibc must fall back to clone. */
	ALLOW_IF(clone, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
	ALLOW(set_robust_list),
	ALLOW(rseq),
	ALLOW(rt_sigaction),
	ALLOW(sigaltstack),
	/* Thread names and vcpu core scheduling. */
	ALLOW_IF(prctl, SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME)),
	ALLOW_IF(prctl, SCMP_A0(SCMP_CMP_EQ, PR_SCHED_CORE)),
	/* Each vcpu thread stacks its own filter on this one: it can only take more away. */
	ALLOW_IF(seccomp, SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER)),
	ALLOW(sched_getaffinity),
	/* The plugin and what it left behind (subreaper). */
	ALLOW(kill),
	ALLOW(pidfd_send_signal),
	ALLOW(wait4),
	ALLOW(waitid),
	/* The jail's pid cgroup, removed at exit. */
	ALLOW(rmdir),
	ALLOW(exit_group),
	ALLOW(getrandom),
};

/* The vcpu threads: KVM_RUN, their channel, their eventfds; no new descriptors. */
static const struct rule vcpu_rules[] = {
	ALLOW(close),
};

static int add_rules(scmp_filter_ctx ctx, const struct rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(rules[i].name);
		int r;

		if (nr == __NR_SCMP_ERROR)
			return -EINVAL;
		r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, rules[i].n, rules[i].cmp);
		if (r < 0)
			return r;
	}
	return 0;
}

#define ADD(ctx, rules) add_rules(ctx, rules, sizeof(rules) / sizeof(rules[0]))

static int build_and_load(bool main_thread)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int r;

	if (!ctx)
		return -ENOMEM;
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* no_new_privs is set already (host_drop_privileges()); libseccomp must not need it. */
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r == 0 && main_thread)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r == 0)
		(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r == 0)
		r = ADD(ctx, common_rules);
	if (r == 0)
		r = main_thread ? ADD(ctx, main_rules) : ADD(ctx, vcpu_rules);
	if (r == 0 && main_thread) {
		/* Refused quietly: glibc's syslog() reconnects on its own (see the header). */
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 0);
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(connect), 0);
		/* So that pthread_create() falls back to clone(), whose flags can be checked. */
		if (r == 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	}
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

int host_seccomp_main(int exit_efd)
{
	struct sigaction sa;
	int r;

	if (HOST_SECCOMP_SANITIZER) {
		/* LeakSanitizer's exit-time tracer and the reports need far more (docs/sandbox.md). */
		log_info("sanitizer build: the host's seccomp filters are off");
		return -EOPNOTSUPP;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		r = -errno;
		log_warn("host seccomp filter: sigaction: %s", strerror(-r));
		return r;
	}
	refused_efd = exit_efd;
	/* Whatever glibc loads lazily, load it now: the time zone for log lines. */
	tzset();
	r = build_and_load(true);
	if (r < 0) {
		log_warn("cannot install the host's seccomp filter: %s", strerror(-r));
		return r;
	}
	atomic_store(&active, true);
	return 0;
}

int host_seccomp_vcpu(unsigned id)
{
	int r;

	if (!atomic_load(&active))
		return 0;
	snprintf(tls_thread_buf, sizeof(tls_thread_buf), "crosvm_vcpu%u", id);
	tls_thread = tls_thread_buf;
	r = build_and_load(false);
	if (r < 0)
		log_warn("cannot install the vcpu thread's seccomp filter: %s", strerror(-r));
	return r;
}

bool host_seccomp_active(void)
{
	return atomic_load(&active);
}

bool host_seccomp_refused(char *buf, size_t len)
{
	int nr = atomic_load(&refused_nr);
	const char *thread = atomic_load(&refused_thread);
	char *name;

	if (nr < 0)
		return false;
	name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	snprintf(buf, len, "%s (%d) in thread %s", name ? name : "?", nr,
		 thread ? thread : "?");
	free(name);
	return true;
}

void host_seccomp_test_hook(const char *thread)
{
	const char *want = getenv("PLUGVM_TEST_HOST_FORBIDDEN");
	int fd;

	if (!want || strcmp(want, thread) != 0)
		return;
	fd = openat(AT_FDCWD, "/", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
}
