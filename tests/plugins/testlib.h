/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Helpers shared by the KVM integration test plugins: assertions that make
 * the plugin (and therefore the host) fail, guest memory set-up, real-mode
 * vcpu initialisation and a vcpu event loop that understands the ucall ports
 * of guest.h.
 *
 * Failure reporting: a failed check prints one line starting with
 * "TEST FAIL" to stderr (the host relays it with its "minijail/plugin: "
 * prefix) and exits 1, so the host exits 1 too; the runner treats any
 * "TEST FAIL" line as a failure even when the host's status looks right.
 * A missing feature prints "TEST SKIP: why" and exits 77; the runner turns
 * the host's "plugin exited with error: 77" into a meson skip.
 */
#ifndef PLUGVM_TESTS_TESTLIB_H
#define PLUGVM_TESTS_TESTLIB_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <crosvm.h>

#include "guest.h"

#define TEST_EXIT_SKIP 77

/* Seconds a test plugin may run before its watchdog fails it. */
#define TEST_WATCHDOG_SECONDS 8

__attribute__((noreturn, format(printf, 4, 5)))
void test_fail(const char *file, int line, const char *expr, const char *fmt, ...);

__attribute__((noreturn, format(printf, 1, 2)))
void test_skip(const char *fmt, ...);

__attribute__((format(printf, 1, 2)))
void test_log(const char *fmt, ...);

#define TEST_ASSERT(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
	} while (0)

/* Checks that a crosvm_* call returned `want` (0 or a negative errno). */
#define TEST_RET(want, expr)                                                                       \
	do {                                                                                       \
		int test_ret_ = (expr);                                                            \
		int test_want_ = (want);                                                           \
		if (test_ret_ != test_want_)                                                       \
			test_fail(__FILE__, __LINE__, #expr, "returned %d (%s), expected %d (%s)", \
				  test_ret_, test_strerror(test_ret_), test_want_,                 \
				  test_strerror(test_want_));                                      \
	} while (0)

#define TEST_OK(expr) TEST_RET(0, expr)

/* Extracts a guest from guests.S: GUEST_CODE(adder) gives pointer and length. */
#define GUEST_DECLARE(name) extern const uint8_t guest_##name##_start[], guest_##name##_end[]
#define GUEST_CODE(name) guest_##name##_start, (size_t)(guest_##name##_end - guest_##name##_start)

const char *test_strerror(int ret);

/*
 * Arms the watchdog (TEST_WATCHDOG_SECONDS) and line-buffers stdout.  Call
 * first in main().  PLUGVM_TEST_TIME_SCALE=N in the environment (set by
 * tests/hostile/valgrind-host.sh) makes the watchdog and every
 * test_eventfd_read() timeout N times longer, for slow hosts.
 */
void test_init(const char *name);

/*
 * Marks the host process as SIGSTOPped by the test (or no longer), so the
 * watchdog continues it before failing instead of leaving it stopped.
 */
void test_set_host_stopped(bool stopped);

/* A memfd of `size` bytes with F_SEAL_SHRINK, mapped shared into the plugin. */
struct test_memfd {
	int fd;
	uint8_t *ptr;
	size_t size;
};

void test_memfd_create(struct test_memfd *m, size_t size);
void test_memfd_destroy(struct test_memfd *m);

/* One VM as most tests use it: a connection, guest RAM at 0, the ucall ports. */
struct test_vm {
	struct crosvm *crosvm;
	struct test_memfd ram;
	struct crosvm_memory *ram_obj;
	int kill_fd;
	uint32_t nr_vcpus;
};

/*
 * Connects, counts vcpus, creates GUEST_MEM_SIZE bytes of RAM at guest
 * physical 0 holding `code` at GUEST_LOAD, reserves the ucall ports
 * (PORT_DONE..PORT_STEP) and fetches the shutdown eventfd.
 */
void test_vm_create(struct test_vm *vm, const uint8_t *code, size_t len);

/*
 * Undoes test_vm_create(): destroys the RAM object, unreserves the ucall
 * ports, closes the shutdown eventfd and the connection, all checked.
 */
void test_vm_destroy(struct test_vm *vm);

/* Counts the vcpus a connection exposes (crosvm_get_vcpu until -ENOENT). */
uint32_t test_count_vcpus(struct crosvm *crosvm);

/* Adds 1 to an eventfd. */
void test_eventfd_signal(int fd);
/*
 * Waits up to timeout_ms for an eventfd to become readable and returns its
 * counter (which the read resets), or 0 on timeout.
 */
uint64_t test_eventfd_read(int fd, int timeout_ms);
/* True if an eventfd has a nonzero counter right now (nothing is consumed). */
bool test_eventfd_pending(int fd);

/* Number of open descriptors of this process. */
int test_count_fds(void);

/*
 * Deferred real-mode start state: every segment base and selector 0 (flat
 * first 64 KiB), rip, rsp, rflags = 2 (interrupts off).  Called on INIT.
 */
void test_vcpu_set_real_mode(struct crosvm_vcpu *vcpu, uint64_t rip, uint64_t rsp);

struct test_vcpu;

/* Per-test hooks for test_vcpu_run(); any may be NULL. */
struct test_vcpu_ops {
	/* On INIT, after the real-mode state was set (it can be overridden). */
	void (*init)(struct test_vcpu *tv);
	/*
	 * On an IO_ACCESS that is not a ucall or serial port.  Returns true
	 * if handled; unhandled accesses fail the test.  Fill ev->io_access.data
	 * for reads.  The loop resumes afterwards unless no_resume is set.
	 */
	bool (*io)(struct test_vcpu *tv, struct crosvm_vcpu_event *ev);
	/* On PORT_STEP with the step number the guest sent. */
	void (*step)(struct test_vcpu *tv, uint32_t step);
	/* On PAUSED; without a hook a pause fails the test. */
	void (*paused)(struct test_vcpu *tv, struct crosvm_vcpu_event *ev);
	/* On HYPERV_SYNIC / HYPERV_HCALL; without a hook they fail the test. */
	void (*hyperv)(struct test_vcpu *tv, struct crosvm_vcpu_event *ev);
};

struct test_vcpu {
	struct crosvm_vcpu *vcpu;
	uint32_t id;
	const struct test_vcpu_ops *ops;
	void *priv;
	/* Bytes the guest wrote to PORT_SERIAL. */
	char serial[512];
	size_t serial_len;
	/* Values the guest sent to PORT_REPORT, in order. */
	uint64_t reports[64];
	size_t nr_reports;
	/* Events seen, by kind. */
	unsigned nr_events[5];
	/* If set, the loop does not resume after PORT_DONE (the vcpu stays stopped). */
	bool stay_stopped;
	/* If >= 0, PORT_DONE adds 1 to this eventfd (the shutdown eventfd). */
	int done_fd;
};

void test_vcpu_setup(struct test_vcpu *tv, struct crosvm *crosvm, uint32_t id,
		     const struct test_vcpu_ops *ops, void *priv);

/*
 * Drives one vcpu from INIT until the guest writes PORT_DONE.  The INIT
 * handler puts the vcpu in real mode at GUEST_LOAD with the stack at
 * GUEST_STACK, then calls ops->init.
 */
void test_vcpu_run(struct test_vcpu *tv);

/* Waits for the next event and fails unless it is of kind `kind`. */
void test_vcpu_expect(struct test_vcpu *tv, struct crosvm_vcpu_event *ev, uint32_t kind);

#endif /* PLUGVM_TESTS_TESTLIB_H */
