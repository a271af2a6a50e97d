// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *test_name = "plugin";
static volatile sig_atomic_t host_stopped;

const char *test_strerror(int ret)
{
	if (ret >= 0)
		return "ok";
	return strerrorname_np(-ret) ? strerrorname_np(-ret) : "?";
}

void test_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A stopped host would never reap us, and the runner would only see a timeout. */
	if (host_stopped)
		kill(getppid(), SIGCONT);
	fprintf(stderr, "TEST FAIL: %s: %s:%d: %s: %s\n", test_name, file, line, expr, msg);
	fflush(stderr);
	_exit(1);
}

void test_skip(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "TEST SKIP: %s: %s\n", test_name, msg);
	fflush(stderr);
	_exit(TEST_EXIT_SKIP);
}

void test_log(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "test %s: ", test_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void watchdog_fired(int sig)
{
	static const char msg[] = "TEST FAIL: watchdog: the plugin did not finish in time\n";
	ssize_t ignored;

	(void)sig;
	if (host_stopped)
		kill(getppid(), SIGCONT);
	ignored = write(2, msg, sizeof(msg) - 1);
	(void)ignored;
	_exit(1);
}

/* PLUGVM_TEST_TIME_SCALE (1 to 100): how many times longer every wait may take. */
static unsigned time_scale(void)
{
	static unsigned scale;
	const char *s;

	if (!scale) {
		s = getenv("PLUGVM_TEST_TIME_SCALE");
		scale = s ? (unsigned)strtoul(s, NULL, 10) : 1;
		if (scale < 1 || scale > 100)
			scale = 1;
	}
	return scale;
}

void test_init(const char *name)
{
	struct sigaction sa = { .sa_handler = watchdog_fired };

	test_name = name;
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGALRM, &sa, NULL);
	alarm(TEST_WATCHDOG_SECONDS * time_scale());
}

void test_set_host_stopped(bool stopped)
{
	host_stopped = stopped;
}

void test_memfd_create(struct test_memfd *m, size_t size)
{
	m->fd = memfd_create("plugvm-test-guest", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	TEST_ASSERT(m->fd >= 0, "memfd_create: %m");
	TEST_ASSERT(ftruncate(m->fd, (off_t)size) == 0, "ftruncate: %m");
	/* The host refuses memory that could shrink under its mapping. */
	TEST_ASSERT(fcntl(m->fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0, "F_ADD_SEALS: %m");
	m->ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	TEST_ASSERT(m->ptr != MAP_FAILED, "mmap: %m");
	m->size = size;
}

void test_memfd_destroy(struct test_memfd *m)
{
	if (m->ptr && m->ptr != MAP_FAILED)
		munmap(m->ptr, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->ptr = NULL;
	m->fd = -1;
}

uint32_t test_count_vcpus(struct crosvm *crosvm)
{
	struct crosvm_vcpu *vcpu;
	uint32_t n = 0;

	while (crosvm_get_vcpu(crosvm, n, &vcpu) == 0) {
		TEST_ASSERT(vcpu != NULL, "vcpu %u is NULL", n);
		n++;
		TEST_ASSERT(n < 1024, "endless vcpu list");
	}
	return n;
}

void test_vm_create(struct test_vm *vm, const uint8_t *code, size_t len)
{
	memset(vm, 0, sizeof(*vm));
	TEST_OK(crosvm_connect(&vm->crosvm));
	TEST_ASSERT(vm->crosvm != NULL, "crosvm_connect gave NULL");
	vm->nr_vcpus = test_count_vcpus(vm->crosvm);
	TEST_ASSERT(vm->nr_vcpus >= 1, "no vcpus");

	test_memfd_create(&vm->ram, GUEST_MEM_SIZE);
	TEST_ASSERT(len <= GUEST_DATA - GUEST_LOAD, "guest code too large: %zu", len);
	memcpy(vm->ram.ptr + GUEST_LOAD, code, len);
	TEST_OK(crosvm_create_memory(vm->crosvm, vm->ram.fd, 0, GUEST_MEM_SIZE, 0, false, false,
				     &vm->ram_obj));
	TEST_ASSERT(vm->ram_obj != NULL, "no memory object");

	TEST_OK(crosvm_reserve_range(vm->crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_DONE,
				     PORT_STEP - PORT_DONE + 1));
	vm->kill_fd = crosvm_get_shutdown_eventfd(vm->crosvm);
	TEST_ASSERT(vm->kill_fd >= 0, "crosvm_get_shutdown_eventfd: %d", vm->kill_fd);
}

void test_vm_destroy(struct test_vm *vm)
{
	TEST_OK(crosvm_destroy_memory(vm->crosvm, &vm->ram_obj));
	TEST_ASSERT(vm->ram_obj == NULL, "destroy_memory left the pointer");
	TEST_OK(crosvm_reserve_range(vm->crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_DONE, 0));
	close(vm->kill_fd);
	vm->kill_fd = -1;
	test_memfd_destroy(&vm->ram);
	TEST_OK(crosvm_destroy_connection(&vm->crosvm));
	TEST_ASSERT(vm->crosvm == NULL, "destroy_connection left the pointer");
}

void test_eventfd_signal(int fd)
{
	uint64_t one = 1;

	TEST_ASSERT(write(fd, &one, sizeof(one)) == sizeof(one), "eventfd write: %m");
}

uint64_t test_eventfd_read(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t v = 0;
	int r;

	if (timeout_ms > 0)
		timeout_ms *= (int)time_scale();
	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	TEST_ASSERT(r >= 0, "poll: %m");
	if (r == 0)
		return 0;
	TEST_ASSERT(read(fd, &v, sizeof(v)) == sizeof(v), "eventfd read: %m");
	return v;
}

bool test_eventfd_pending(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1;
}

int test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	TEST_ASSERT(d != NULL, "opendir /proc/self/fd: %m");
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	/* Minus the directory's own descriptor. */
	return n - 1;
}

void test_vcpu_set_real_mode(struct crosvm_vcpu *vcpu, uint64_t rip, uint64_t rsp)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_segment *segs[] = { &sregs.cs, &sregs.ds, &sregs.es,
				       &sregs.fs, &sregs.gs, &sregs.ss };

	TEST_OK(crosvm_vcpu_get_sregs(vcpu, &sregs));
	/* Reset state has cs.base 0xffff0000; flatten everything to the first 64 KiB. */
	for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
		segs[i]->base = 0;
		segs[i]->selector = 0;
	}
	TEST_OK(crosvm_vcpu_set_sregs(vcpu, &sregs));

	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rsp = rsp;
	regs.rflags = 2;
	TEST_OK(crosvm_vcpu_set_regs(vcpu, &regs));
}

void test_vcpu_setup(struct test_vcpu *tv, struct crosvm *crosvm, uint32_t id,
		     const struct test_vcpu_ops *ops, void *priv)
{
	static const struct test_vcpu_ops no_ops;

	memset(tv, 0, sizeof(*tv));
	TEST_OK(crosvm_get_vcpu(crosvm, id, &tv->vcpu));
	tv->id = id;
	tv->ops = ops ? ops : &no_ops;
	tv->priv = priv;
	tv->done_fd = -1;
}

static uint64_t io_value(const struct crosvm_vcpu_event *ev)
{
	uint64_t v = 0;

	memcpy(&v, ev->io_access.data,
	       ev->io_access.length < sizeof(v) ? ev->io_access.length : sizeof(v));
	return v;
}

void test_vcpu_expect(struct test_vcpu *tv, struct crosvm_vcpu_event *ev, uint32_t kind)
{
	memset(ev, 0xa5, sizeof(*ev));
	TEST_OK(crosvm_vcpu_wait(tv->vcpu, ev));
	TEST_ASSERT(ev->kind == kind, "vcpu %u: event kind %u, expected %u", tv->id, ev->kind,
		    kind);
	if (ev->kind < 5)
		tv->nr_events[ev->kind]++;
}

/* Returns true when the guest reported PORT_DONE. */
static bool handle_io(struct test_vcpu *tv, struct crosvm_vcpu_event *ev)
{
	uint64_t addr = ev->io_access.address;
	uint64_t v;

	TEST_ASSERT(ev->io_access.data != NULL || ev->io_access.length == 0, "NULL io data");
	if (ev->io_access.address_space == CROSVM_ADDRESS_SPACE_IOPORT && ev->io_access.is_write &&
	    !ev->io_access.no_resume) {
		v = io_value(ev);
		switch (addr) {
		case PORT_DONE:
			return true;
		case PORT_FAIL:
			test_fail(__FILE__, __LINE__, "guest check", "vcpu %u: guest check %#lx failed",
				  tv->id, (unsigned long)v);
		case PORT_REPORT:
			TEST_ASSERT(tv->nr_reports < sizeof(tv->reports) / sizeof(tv->reports[0]),
				    "too many reports");
			tv->reports[tv->nr_reports++] = v;
			return false;
		case PORT_STEP:
			TEST_ASSERT(tv->ops->step, "vcpu %u: unexpected step %lu", tv->id,
				    (unsigned long)v);
			tv->ops->step(tv, (uint32_t)v);
			return false;
		case PORT_SERIAL:
			for (uint32_t i = 0; i < ev->io_access.length; i++)
				if (tv->serial_len < sizeof(tv->serial) - 1)
					tv->serial[tv->serial_len++] = (char)ev->io_access.data[i];
			return false;
		default:
			break;
		}
	}
	TEST_ASSERT(tv->ops->io && tv->ops->io(tv, ev),
		    "vcpu %u: unhandled %s %s at %#lx, %u bytes%s", tv->id,
		    ev->io_access.address_space ? "MMIO" : "PIO",
		    ev->io_access.is_write ? "write" : "read", (unsigned long)addr,
		    ev->io_access.length, ev->io_access.no_resume ? " (no_resume)" : "");
	return false;
}

void test_vcpu_run(struct test_vcpu *tv)
{
	struct crosvm_vcpu_event ev;
	bool done = false;

	test_vcpu_expect(tv, &ev, CROSVM_VCPU_EVENT_KIND_INIT);
	test_vcpu_set_real_mode(tv->vcpu, GUEST_LOAD, GUEST_STACK);
	if (tv->ops->init)
		tv->ops->init(tv);
	TEST_OK(crosvm_vcpu_resume(tv->vcpu));

	while (!done) {
		memset(&ev, 0xa5, sizeof(ev));
		TEST_OK(crosvm_vcpu_wait(tv->vcpu, &ev));
		TEST_ASSERT(ev.kind < 5, "vcpu %u: unknown event kind %u", tv->id, ev.kind);
		tv->nr_events[ev.kind]++;
		switch (ev.kind) {
		case CROSVM_VCPU_EVENT_KIND_IO_ACCESS:
			done = handle_io(tv, &ev);
			if (ev.io_access.no_resume)
				continue;
			break;
		case CROSVM_VCPU_EVENT_KIND_PAUSED:
			TEST_ASSERT(tv->ops->paused, "vcpu %u: unexpected pause %p", tv->id,
				    ev.user);
			tv->ops->paused(tv, &ev);
			break;
		case CROSVM_VCPU_EVENT_KIND_HYPERV_HCALL:
		case CROSVM_VCPU_EVENT_KIND_HYPERV_SYNIC:
			TEST_ASSERT(tv->ops->hyperv, "vcpu %u: unexpected Hyper-V event %u",
				    tv->id, ev.kind);
			tv->ops->hyperv(tv, &ev);
			break;
		default:
			TEST_ASSERT(false, "vcpu %u: unexpected event kind %u", tv->id, ev.kind);
		}
		if (done) {
			if (tv->done_fd >= 0)
				test_eventfd_signal(tv->done_fd);
			if (tv->stay_stopped)
				break;
		}
		TEST_OK(crosvm_vcpu_resume(tv->vcpu));
	}
}
