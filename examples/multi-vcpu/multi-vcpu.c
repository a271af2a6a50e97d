// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * multi-vcpu: several vcpus, one plugin thread each, and a main thread
 * that pauses them all to look at (and change) their state.
 *
 *   plugvm run --cpus 2 --plugin build/examples/multi-vcpu/multi-vcpu
 *
 * Every vcpu runs the same counting loop (multi-vcpu-guest.S), reporting
 * progress through a port now and then.  The plugin:
 *
 *   - finds out how many vcpus the host made (--cpus) by asking for vcpu
 *     0, 1, 2, ... until crosvm_get_vcpu() says -ENOENT;
 *   - gives each vcpu its own thread, which answers its port accesses and
 *     its pause events; only that thread ever calls crosvm_vcpu_*() on it;
 *   - from the main thread, every 100 ms, pauses every vcpu with one
 *     crosvm_pause_vcpus() call.  Each vcpu thread then gets a PAUSED
 *     event, reads its vcpu's registers and parks.  Once all of them are
 *     parked, no guest code runs anywhere, so the registers form a
 *     consistent snapshot of the whole machine: the main thread prints it,
 *     checks it against the progress reports, and changes one register of
 *     one vcpu (a "poke" in ebp, which that guest acknowledges through a
 *     port).  Then every vcpu thread writes back what changed and resumes;
 *   - in the last pause sets edi on every vcpu, which makes each guest
 *     report its final count and halt; then tears everything down.
 *
 * Output (the counts vary from run to run and machine to machine; these
 * are from a nested, software-assisted KVM that emulates real-mode code,
 * so they are small):
 *
 *   multi-vcpu: 2 vcpus
 *   snapshot 1: all 2 vcpus paused
 *     vcpu 0: rip 0x1017 ecx      8512, 2 progress reports, last 8192
 *     vcpu 1: rip 0x1001 ecx      9370, 2 progress reports, last 8192
 *     poking vcpu 0: ebp = 1
 *   vcpu 0: the guest acknowledged poke 1
 *   ...
 *   snapshot 5: all 2 vcpus paused
 *     ...
 *     stopping every vcpu: edi = 1
 *   vcpu 0: stopped after 39306 iterations
 *   vcpu 1: stopped after 42147 iterations
 *   multi-vcpu: 5 snapshots of 2 vcpus, 4 pokes acknowledged
 *
 * The application processors (every vcpu but 0) start, as on a real PC,
 * waiting for the boot processor to wake them with INIT and SIPI
 * interrupts; this guest has no such code, so the plugin makes them
 * runnable directly through their MP state.
 *
 * Error handling is blunt: print one line, exit 1.  So is a failed
 * consistency check, which makes the example double as a test.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <crosvm.h>

#include "multi-vcpu.h"

extern const uint8_t multi_vcpu_guest_start[], multi_vcpu_guest_end[];

#define SNAPSHOTS 5
#define SNAPSHOT_INTERVAL_MS 100
/* How long the main thread waits for the vcpu threads before it gives up. */
#define VCPU_TIMEOUT_S 5

static void check(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "multi-vcpu: %s: %s\n", what, strerror(-ret));
		exit(1);
	}
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("multi-vcpu: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* One per vcpu.  Fields marked (lock) are shared with the main thread under machine.lock. */
struct vcpu {
	struct machine *m;
	struct crosvm_vcpu *vcpu;
	uint32_t id;
	pthread_t thread;

	/* Written only by this vcpu's thread. */
	uint32_t reports; /* PORT_PROGRESS writes */
	uint32_t last_progress; /* the last value written there */
	uint32_t acks; /* PORT_ACK writes */

	struct kvm_regs regs; /* (lock) the snapshot; the main thread may change it */
	bool regs_changed; /* (lock) set by the main thread: write regs back */
	uint32_t poke; /* (lock) the poke this vcpu was given and has not acknowledged, or 0 */
	uint32_t final_count; /* (lock) what the guest wrote to PORT_DONE */
};

struct machine {
	uint32_t nr_vcpus;
	struct vcpu *vcpus;

	/*
	 * The pause handshake.  The main thread bumps `round` and pauses
	 * everyone; each vcpu thread, on its PAUSED event, takes its snapshot,
	 * counts itself in `parked` and sleeps until `released` reaches the
	 * round.  `done` counts guests that finished.
	 */
	pthread_mutex_t lock;
	pthread_cond_t parked_cond; /* vcpu threads -> main thread */
	pthread_cond_t release_cond; /* main thread -> vcpu threads */
	uintptr_t round;
	uintptr_t released;
	uint32_t parked;
	uint32_t done;
	uint32_t pokes_acked;
};

/* ---- vcpu threads ---- */

static void vcpu_setup(struct vcpu *v)
{
	struct kvm_mp_state mp;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	/* Application processors wait for INIT/SIPI; let them run straight away. */
	if (v->id != 0) {
		check(crosvm_vcpu_get_mp_state(v->vcpu, &mp), "get_mp_state");
		mp.mp_state = KVM_MP_STATE_RUNNABLE;
		check(crosvm_vcpu_set_mp_state(v->vcpu, &mp), "set_mp_state");
	}

	/* Real mode with every segment at 0, as in hello-serial. */
	check(crosvm_vcpu_get_sregs(v->vcpu, &sregs), "get_sregs");
	sregs.cs.base = sregs.ds.base = sregs.es.base = 0;
	sregs.fs.base = sregs.gs.base = sregs.ss.base = 0;
	sregs.cs.selector = sregs.ds.selector = sregs.es.selector = 0;
	sregs.fs.selector = sregs.gs.selector = sregs.ss.selector = 0;
	check(crosvm_vcpu_set_sregs(v->vcpu, &sregs), "set_sregs");

	/* ecx = 0 (counter), ebp = 0 (no poke), edi = 0 (keep going): all zero. */
	memset(&regs, 0, sizeof(regs));
	regs.rip = MV_LOAD;
	regs.rflags = 2;
	check(crosvm_vcpu_set_regs(v->vcpu, &regs), "set_regs");
}

/* Returns true when the guest is done. */
static bool vcpu_io(struct vcpu *v, const struct crosvm_vcpu_event *ev)
{
	struct machine *m = v->m;
	uint32_t value = 0;

	/* The guest only ever writes 4 bytes to our ports; anything else is a bug worth seeing. */
	if (!ev->io_access.is_write || ev->io_access.length != 4)
		fail("vcpu %u: unexpected %u-byte %s at port %#" PRIx64, v->id,
		     ev->io_access.length, ev->io_access.is_write ? "write" : "read",
		     ev->io_access.address);
	memcpy(&value, ev->io_access.data, 4);

	switch (ev->io_access.address) {
	case PORT_PROGRESS:
		v->reports++;
		v->last_progress = value;
		return false;
	case PORT_ACK:
		pthread_mutex_lock(&m->lock);
		if (value == 0 || value != v->poke)
			fail("vcpu %u acknowledged poke %u, but its poke was %u", v->id, value,
			     v->poke);
		v->poke = 0;
		m->pokes_acked++;
		pthread_mutex_unlock(&m->lock);
		v->acks++;
		printf("vcpu %u: the guest acknowledged poke %u\n", v->id, value);
		fflush(stdout);
		return false;
	case PORT_DONE:
		pthread_mutex_lock(&m->lock);
		v->final_count = value;
		m->done++;
		pthread_cond_signal(&m->parked_cond);
		pthread_mutex_unlock(&m->lock);
		return true;
	default:
		fail("vcpu %u: write to unexpected port %#" PRIx64, v->id, ev->io_access.address);
	}
}

/*
 * A pause: snapshot the registers, park until the main thread has looked
 * at every vcpu, then write back whatever it changed.  The register calls
 * are legal only here, while the vcpu is stopped in an event, and only
 * from this thread: a vcpu handle is not meant to be used by two threads
 * at once.
 */
static void vcpu_pause(struct vcpu *v, void *user)
{
	struct machine *m = v->m;
	struct kvm_regs regs;
	uintptr_t round;

	check(crosvm_vcpu_get_regs(v->vcpu, &regs), "get_regs");

	pthread_mutex_lock(&m->lock);
	round = m->round;
	/* The pointer given to crosvm_pause_vcpus() comes back with the event. */
	if ((uintptr_t)user != round)
		fail("vcpu %u: paused for round %" PRIuPTR " during round %" PRIuPTR, v->id,
		     (uintptr_t)user, round);
	v->regs = regs;
	v->regs_changed = false;
	m->parked++;
	pthread_cond_signal(&m->parked_cond);
	while (m->released < round)
		pthread_cond_wait(&m->release_cond, &m->lock);
	regs = v->regs;
	pthread_mutex_unlock(&m->lock);

	/* Deferred: the library sends the new registers with the resume. */
	if (v->regs_changed)
		check(crosvm_vcpu_set_regs(v->vcpu, &regs), "set_regs");
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct crosvm_vcpu_event ev;

	for (;;) {
		check(crosvm_vcpu_wait(v->vcpu, &ev), "vcpu_wait");
		switch (ev.kind) {
		case CROSVM_VCPU_EVENT_KIND_INIT:
			vcpu_setup(v);
			break;
		case CROSVM_VCPU_EVENT_KIND_IO_ACCESS:
			/* Done: leave the vcpu stopped for good, as hello-serial does. */
			if (vcpu_io(v, &ev))
				return NULL;
			break;
		case CROSVM_VCPU_EVENT_KIND_PAUSED:
			vcpu_pause(v, ev.user);
			break;
		default:
			fail("vcpu %u: unexpected event %u", v->id, ev.kind);
		}
		check(crosvm_vcpu_resume(v->vcpu), "vcpu_resume");
	}
}

/* ---- the main thread ---- */

static struct timespec deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += VCPU_TIMEOUT_S;
	return ts;
}

/* Waits (with m->lock held) until `*count` reaches `want`. */
static void wait_for(struct machine *m, const uint32_t *count, uint32_t want, const char *what)
{
	struct timespec ts = deadline();

	while (*count < want)
		if (pthread_cond_timedwait(&m->parked_cond, &m->lock, &ts) == ETIMEDOUT)
			fail("only %u of %u vcpus %s within %d s", *count, want, what,
			     VCPU_TIMEOUT_S);
}

/*
 * Sleeps for the snapshot interval, watching the shutdown eventfd: if the
 * host signals it, the VM is stopping under us (a vcpu crashed, say), and
 * there is nothing left to do but leave.
 */
static void sleep_watching(int shutdown_fd, int ms)
{
	struct pollfd pfd = { .fd = shutdown_fd, .events = POLLIN };
	int ret;

	do
		ret = poll(&pfd, 1, ms);
	while (ret < 0 && errno == EINTR);
	if (ret < 0)
		check(-errno, "poll");
	if (ret > 0)
		fail("the host is stopping the VM");
}

/* Prints and checks one snapshot, then decides what to change.  All vcpus are parked. */
static void snapshot(struct machine *m, uintptr_t round)
{
	printf("snapshot %" PRIuPTR ": all %u vcpus paused\n", round, m->nr_vcpus);
	for (uint32_t i = 0; i < m->nr_vcpus; i++) {
		struct vcpu *v = &m->vcpus[i];
		uint32_t ecx = (uint32_t)v->regs.rcx;

		printf("  vcpu %u: rip %#llx ecx %9u, %u progress reports, last %u\n", i,
		       v->regs.rip, ecx, v->reports, v->last_progress);
		/*
		 * The guest reports every PROGRESS_EVERY iterations, and its
		 * report stops it until its thread has recorded the value.  So a
		 * paused vcpu's counter is at most PROGRESS_EVERY ahead of its
		 * last report: otherwise the snapshot or the reports are wrong.
		 */
		if (ecx < v->last_progress || ecx - v->last_progress > PROGRESS_EVERY ||
		    v->last_progress != v->reports * (uint32_t)PROGRESS_EVERY)
			fail("vcpu %u: counter %u does not match %u reports (last %u)", i, ecx,
			     v->reports, v->last_progress);
	}

	if (round < SNAPSHOTS) {
		/* Poke one vcpu per round, round-robin. */
		struct vcpu *v = &m->vcpus[(round - 1) % m->nr_vcpus];

		printf("  poking vcpu %u: ebp = %" PRIuPTR "\n", v->id, round);
		v->regs.rbp = round;
		v->poke = (uint32_t)round;
		v->regs_changed = true;
	} else {
		printf("  stopping every vcpu: edi = 1\n");
		for (uint32_t i = 0; i < m->nr_vcpus; i++) {
			m->vcpus[i].regs.rdi = 1;
			m->vcpus[i].regs_changed = true;
		}
	}
	fflush(stdout);
}

static int make_guest_ram(void)
{
	size_t code_len = (size_t)(multi_vcpu_guest_end - multi_vcpu_guest_start);
	uint8_t *ram;
	int fd;

	fd = memfd_create("multi-vcpu-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, MV_RAM_SIZE) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		check(-errno, "guest RAM");
	ram = mmap(NULL, MV_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ram == MAP_FAILED)
		check(-errno, "mmap guest RAM");
	memcpy(ram + MV_LOAD, multi_vcpu_guest_start, code_len);
	munmap(ram, MV_RAM_SIZE);
	return fd;
}

int main(void)
{
	struct machine m = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.parked_cond = PTHREAD_COND_INITIALIZER,
		.release_cond = PTHREAD_COND_INITIALIZER,
	};
	struct crosvm_memory *ram_obj;
	struct crosvm_vcpu *vcpu;
	struct crosvm *crosvm;
	uint64_t all;
	int ram_fd, shutdown_fd, ret;

	check(crosvm_connect(&crosvm), "connect");

	/* The host made --cpus vcpus; the library fetched them all in crosvm_connect(). */
	while ((ret = crosvm_get_vcpu(crosvm, m.nr_vcpus, &vcpu)) == 0)
		m.nr_vcpus++;
	if (ret != -ENOENT)
		check(ret, "get_vcpu");
	/* crosvm_pause_vcpus() takes a 64-bit mask, and the host allows at most 64 vcpus. */
	if (m.nr_vcpus == 0 || m.nr_vcpus > 64)
		fail("%u vcpus", m.nr_vcpus);
	all = m.nr_vcpus == 64 ? UINT64_MAX : (UINT64_C(1) << m.nr_vcpus) - 1;
	printf("multi-vcpu: %u vcpus\n", m.nr_vcpus);
	fflush(stdout);

	m.vcpus = calloc(m.nr_vcpus, sizeof(*m.vcpus));
	if (!m.vcpus)
		fail("out of memory");
	for (uint32_t i = 0; i < m.nr_vcpus; i++) {
		m.vcpus[i].m = &m;
		m.vcpus[i].id = i;
		check(crosvm_get_vcpu(crosvm, i, &m.vcpus[i].vcpu), "get_vcpu");
	}

	ram_fd = make_guest_ram();
	check(crosvm_create_memory(crosvm, ram_fd, 0, MV_RAM_SIZE, 0, false, false, &ram_obj),
	      "create_memory");
	close(ram_fd);
	check(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_PROGRESS, MV_PORTS),
	      "reserve ports");
	shutdown_fd = crosvm_get_shutdown_eventfd(crosvm);
	check(shutdown_fd, "get_shutdown_eventfd");

	check(crosvm_start(crosvm), "start");
	for (uint32_t i = 0; i < m.nr_vcpus; i++)
		if (pthread_create(&m.vcpus[i].thread, NULL, vcpu_thread, &m.vcpus[i]) != 0)
			fail("cannot start vcpu thread %u", i);

	for (uintptr_t round = 1; round <= SNAPSHOTS; round++) {
		sleep_watching(shutdown_fd, SNAPSHOT_INTERVAL_MS);

		pthread_mutex_lock(&m.lock);
		m.round = round;
		m.parked = 0;
		pthread_mutex_unlock(&m.lock);
		/*
		 * One request pauses them all.  A vcpu stopped in an event
		 * right now (a progress report) gets its pause as soon as its
		 * thread resumes it, so every thread sees exactly one PAUSED.
		 */
		check(crosvm_pause_vcpus(crosvm, all, (void *)round), "pause_vcpus");

		pthread_mutex_lock(&m.lock);
		wait_for(&m, &m.parked, m.nr_vcpus, "paused");
		snapshot(&m, round);
		m.released = round;
		pthread_cond_broadcast(&m.release_cond);
		pthread_mutex_unlock(&m.lock);
	}

	/* The last snapshot set edi everywhere: wait for every guest to report its count. */
	pthread_mutex_lock(&m.lock);
	wait_for(&m, &m.done, m.nr_vcpus, "finished");
	pthread_mutex_unlock(&m.lock);
	for (uint32_t i = 0; i < m.nr_vcpus; i++) {
		struct vcpu *v = &m.vcpus[i];

		pthread_join(v->thread, NULL);
		printf("vcpu %u: stopped after %u iterations\n", i, v->final_count);
		if (v->final_count < v->last_progress || v->poke)
			fail("vcpu %u: final count %u after a report of %u, poke %u pending", i,
			     v->final_count, v->last_progress, v->poke);
	}
	if (m.pokes_acked != SNAPSHOTS - 1)
		fail("%u pokes acknowledged, expected %d", m.pokes_acked, SNAPSHOTS - 1);
	printf("multi-vcpu: %d snapshots of %u vcpus, %u pokes acknowledged\n", SNAPSHOTS,
	       m.nr_vcpus, m.pokes_acked);
	fflush(stdout);

	/* Every vcpu is stopped in its PORT_DONE event, so nothing runs on what we destroy. */
	check(crosvm_destroy_memory(crosvm, &ram_obj), "destroy_memory");
	check(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_PROGRESS, 0),
	      "unreserve ports");
	close(shutdown_fd);
	crosvm_destroy_connection(&crosvm);
	free(m.vcpus);
	return 0;
}
