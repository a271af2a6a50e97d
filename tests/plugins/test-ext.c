// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The API 0.23 extensions (docs/api.md "Extensions (0.23)") under real KVM,
 * one mode per run (the first parameter):
 *   edge-irq       crosvm_create_edge_irq_event(): the irqfd guest's handler
 *                  runs once per trigger write, and there is no resample fd.
 *   default-cpuid  (--cpus 2) crosvm_enable_default_cpuid(): vcpu 0 sees
 *                  KVM's supported CPUID with APIC id 0; vcpu 1 replaces it
 *                  with crosvm_vcpu_set_cpuid() (APIC id 7), which must win.
 *                  After crosvm_start() the call answers -EBUSY.
 *   kick           crosvm_vcpu_kick() and crosvm_vcpu_wait_timeout().
 *   reset          crosvm_enable_reset_events() and crosvm_vcpu_reset(): the
 *                  guest triple-faults twice; each time the plugin sees a
 *                  reset event, puts the vcpu back in its power-on state
 *                  (checked: registers, segments, LAPIC, MP state, events)
 *                  and boots it again; RAM keeps the guest's boot count.
 *   io-details     crosvm_enable_io_details(): "rep insw" of one word and
 *                  "rep insb" of two bytes reach the plugin with their
 *                  element size and count, and so does "rep outsw" of two
 *                  words; -EBUSY after crosvm_start().
 *   range-mode     crosvm_reserve_range_mode(): on a range whose writes are
 *                  asynchronous and reads synchronous, the guest's writes
 *                  arrive as no_resume events (resume refused) and its reads
 *                  stop it until the plugin supplies the value the guest
 *                  checks; bad modes, spaces and overlaps are refused.
 *   memory-ro      (--cpus 2) crosvm_memory_set_read_only() and
 *                  crosvm_memory_replace(): vcpu 0 keeps reading a memory
 *                  object while the plugin toggles it read-only and swaps
 *                  its memfd 400 times, and never sees an exit or wrong
 *                  data; vcpu 1's write once it is read-only is an MMIO
 *                  write exit and does not reach the memory; after a last
 *                  replace by a writable memfd its write lands there.
 *   off            (host --no-extensions) every host extension answers
 *                  -ENOTTY (the XSAVE calls too, with the size 0), the mask
 *                  is 0, and the VM is crosvm's: a vcpu
 *                  has no CPUID (the guest reads zeros).
 * Each on-mode also checks the negotiated mask.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

GUEST_DECLARE(irqfd);
GUEST_DECLARE(ext_cpuid);
GUEST_DECLARE(ext_wait);
GUEST_DECLARE(ext_reset);
GUEST_DECLARE(ext_io);
GUEST_DECLARE(ext_range);
GUEST_DECLARE(ext_mem);

#define IRQ 5
#define HOST_EXTENSIONS                                                                            \
	(CROSVM_EXTENSION_EDGE_IRQ_EVENT | CROSVM_EXTENSION_DEFAULT_CPUID | CROSVM_EXTENSION_RESET | \
	 CROSVM_EXTENSION_IO_DETAILS | CROSVM_EXTENSION_RANGE_MODE |                              \
	 CROSVM_EXTENSION_MEMORY_READ_ONLY | CROSVM_EXTENSION_XSAVE)

static struct crosvm_irq *irq;

static void check_mask(struct crosvm *crosvm, bool on)
{
	uint64_t mask = ~0ull;

	TEST_RET(-EINVAL, crosvm_get_extensions(crosvm, NULL));
	TEST_OK(crosvm_get_extensions(crosvm, &mask));
	/* The library's own extensions are there whatever the host offers. */
	TEST_ASSERT((mask & CROSVM_EXTENSION_VCPU_KICK) != 0, "mask %#llx lacks the kick",
		    (unsigned long long)mask);
	mask &= ~CROSVM_EXTENSION_VCPU_KICK;
	TEST_ASSERT(mask == (on ? HOST_EXTENSIONS : 0), "host mask %#llx, expected %#llx",
		    (unsigned long long)mask, (unsigned long long)(on ? HOST_EXTENSIONS : 0));
}

static void edge_step(struct test_vcpu *tv, uint32_t step)
{
	int trigger = crosvm_irq_event_get_fd(irq);

	if (step == 2)
		TEST_ASSERT(tv->nr_reports == 1 && tv->reports[0] == 1,
			    "handler ran %lu times after the first trigger",
			    (unsigned long)(tv->nr_reports ? tv->reports[0] : 0));
	else
		TEST_ASSERT(step == 1, "unknown step %u", step);
	test_eventfd_signal(trigger);
}

static const struct test_vcpu_ops edge_ops = {
	.step = edge_step,
};

static void edge_irq(void)
{
	struct test_vcpu tv;
	struct test_vm vm;
	int trigger;

	test_vm_create(&vm, GUEST_CODE(irqfd));
	check_mask(vm.crosvm, true);
	TEST_RET(-EINVAL, crosvm_create_edge_irq_event(vm.crosvm, IRQ, NULL));
	TEST_OK(crosvm_create_edge_irq_event(vm.crosvm, IRQ, &irq));
	TEST_ASSERT(irq != NULL, "no irq object");
	trigger = crosvm_irq_event_get_fd(irq);
	TEST_ASSERT(trigger >= 0, "trigger fd %d", trigger);
	TEST_ASSERT(crosvm_irq_event_get_resample_fd(irq) == -1, "an edge event has a resample fd %d",
		    crosvm_irq_event_get_resample_fd(irq));

	test_vcpu_setup(&tv, vm.crosvm, 0, &edge_ops, NULL);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);
	TEST_ASSERT(tv.nr_reports == 2 && tv.reports[1] == 2, "handler count %lu after two edges",
		    (unsigned long)(tv.nr_reports == 2 ? tv.reports[1] : 0));

	TEST_OK(crosvm_destroy_irq_event(vm.crosvm, &irq));
	TEST_ASSERT(irq == NULL, "destroy left the pointer");
	TEST_ASSERT(fcntl(trigger, F_GETFD) < 0, "destroy left the trigger open");
	test_vm_destroy(&vm);
}

struct cpuid_vcpu {
	struct test_vcpu tv;
	struct kvm_cpuid_entry2 *supported;
	uint32_t n_supported;
	pthread_t thread;
};

static void cpuid_init(struct test_vcpu *tv)
{
	struct cpuid_vcpu *c = tv->priv;
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

	if (tv->id == 0)
		return;
	TEST_OK(crosvm_vcpu_set_mp_state(tv->vcpu, &mp));
	for (uint32_t i = 0; i < c->n_supported; i++)
		if (c->supported[i].function == 1)
			c->supported[i].ebx = (c->supported[i].ebx & 0x00ffffffu) | 7u << 24;
	TEST_OK(crosvm_vcpu_set_cpuid(tv->vcpu, c->n_supported, c->supported));
}

static const struct test_vcpu_ops cpuid_ops = {
	.init = cpuid_init,
};

static void *cpuid_thread(void *arg)
{
	struct cpuid_vcpu *c = arg;

	test_vcpu_run(&c->tv);
	return NULL;
}

static const struct kvm_cpuid_entry2 *find_leaf(const struct kvm_cpuid_entry2 *e, uint32_t n,
						uint32_t function)
{
	for (uint32_t i = 0; i < n; i++)
		if (e[i].function == function && e[i].index == 0)
			return &e[i];
	return NULL;
}

static void default_cpuid(void)
{
	static struct kvm_cpuid_entry2 entries[2][256];
	static struct cpuid_vcpu vcpus[2];
	const struct kvm_cpuid_entry2 *leaf0;
	struct test_vm vm;
	uint32_t n;

	test_vm_create(&vm, GUEST_CODE(ext_cpuid));
	TEST_ASSERT(vm.nr_vcpus == 2, "%u vcpus (run with --cpus 2)", vm.nr_vcpus);
	check_mask(vm.crosvm, true);
	TEST_OK(crosvm_get_supported_cpuid(vm.crosvm, 256, entries[0], &n));
	leaf0 = find_leaf(entries[0], n, 0);
	TEST_ASSERT(leaf0 && leaf0->eax > 0, "KVM supports no CPUID leaf 0");
	memcpy(entries[1], entries[0], sizeof(entries[0]));
	TEST_OK(crosvm_enable_default_cpuid(vm.crosvm));
	/* Asking twice is the same as asking once. */
	TEST_OK(crosvm_enable_default_cpuid(vm.crosvm));

	for (uint32_t i = 0; i < 2; i++) {
		test_vcpu_setup(&vcpus[i].tv, vm.crosvm, i, &cpuid_ops, &vcpus[i]);
		vcpus[i].supported = entries[i];
		vcpus[i].n_supported = n;
		vcpus[i].tv.stay_stopped = true;
		vcpus[i].tv.done_fd = vm.kill_fd;
	}
	TEST_OK(crosvm_start(vm.crosvm));
	TEST_RET(-EBUSY, crosvm_enable_default_cpuid(vm.crosvm));
	for (uint32_t i = 0; i < 2; i++)
		TEST_ASSERT(pthread_create(&vcpus[i].thread, NULL, cpuid_thread, &vcpus[i]) == 0,
			    "pthread_create");
	for (uint32_t i = 0; i < 2; i++)
		TEST_ASSERT(pthread_join(vcpus[i].thread, NULL) == 0, "pthread_join");
	for (uint32_t i = 0; i < 2; i++) {
		struct test_vcpu *tv = &vcpus[i].tv;

		uint64_t ebx;

		TEST_ASSERT(tv->nr_reports == 4, "vcpu %u: %lu reports", i,
			    (unsigned long)tv->nr_reports);
		ebx = tv->reports[1] | tv->reports[2] << 16;
		TEST_ASSERT(tv->reports[0] == leaf0->eax && ebx == leaf0->ebx,
			    "vcpu %u: leaf 0 %#lx %#lx (%#lx %#lx %#lx), KVM supports %#x %#x", i,
			    (unsigned long)tv->reports[0], (unsigned long)ebx, (unsigned long)tv->reports[1], (unsigned long)tv->reports[2], (unsigned long)tv->reports[3], leaf0->eax, leaf0->ebx);
		TEST_ASSERT(tv->reports[3] == (i == 0 ? 0 : 7), "vcpu %u: APIC id %lu", i,
			    (unsigned long)tv->reports[3]);
	}
	test_vm_destroy(&vm);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *kicker(void *arg)
{
	struct crosvm_vcpu *vcpu = arg;

	usleep(30 * 1000);
	TEST_OK(crosvm_vcpu_kick(vcpu));
	return NULL;
}

/*
 * The guest spins without exits after step 1, so every wait below would
 * block forever without its timeout or kick (and the watchdog would fail
 * the test).
 */
static void kick(void)
{
	struct crosvm_vcpu_event ev;
	struct test_vcpu tv;
	struct test_vm vm;
	pthread_t thread;
	uint64_t t0;

	test_vm_create(&vm, GUEST_CODE(ext_wait));
	check_mask(vm.crosvm, true);
	test_vcpu_setup(&tv, vm.crosvm, 0, NULL, NULL);
	TEST_RET(-EINVAL, crosvm_vcpu_kick(NULL));
	TEST_RET(-EINVAL, crosvm_vcpu_wait_timeout(tv.vcpu, NULL, 0));
	TEST_OK(crosvm_start(vm.crosvm));

	/* A timed wait that gets its event in time is a plain wait. */
	TEST_OK(crosvm_vcpu_wait_timeout(tv.vcpu, &ev, 5000000000ll));
	TEST_ASSERT(ev.kind == CROSVM_VCPU_EVENT_KIND_INIT, "first event %u", ev.kind);
	test_vcpu_set_real_mode(tv.vcpu, GUEST_LOAD, GUEST_STACK);
	/* Stopped, the vcpu's reply to a request is never cut short by a kick. */
	TEST_OK(crosvm_vcpu_kick(tv.vcpu));
	{
		struct kvm_regs regs;

		TEST_OK(crosvm_vcpu_get_regs(tv.vcpu, &regs));
		TEST_ASSERT(regs.rip == GUEST_LOAD, "rip %#llx", (unsigned long long)regs.rip);
	}
	TEST_OK(crosvm_vcpu_resume(tv.vcpu));
	/* The pending kick ends the next wait at once, and only that one. */
	TEST_RET(-EINTR, crosvm_vcpu_wait(tv.vcpu, &ev));
	TEST_OK(crosvm_vcpu_wait(tv.vcpu, &ev));
	TEST_ASSERT(ev.kind == CROSVM_VCPU_EVENT_KIND_IO_ACCESS && ev.io_access.address == PORT_STEP,
		    "event %u at %#lx, expected step 1", ev.kind,
		    (unsigned long)ev.io_access.address);
	TEST_OK(crosvm_vcpu_resume(tv.vcpu));

	/* The guest now spins: a timed wait times out, no sooner than asked. */
	t0 = now_ms();
	TEST_RET(-ETIMEDOUT, crosvm_vcpu_wait_timeout(tv.vcpu, &ev, 50000000));
	TEST_ASSERT(now_ms() - t0 >= 50, "timed out after %lu ms of 50",
		    (unsigned long)(now_ms() - t0));
	TEST_RET(-ETIMEDOUT, crosvm_vcpu_wait_timeout(tv.vcpu, &ev, 0));

	/* A kick from another thread ends a blocked wait. */
	t0 = now_ms();
	TEST_ASSERT(pthread_create(&thread, NULL, kicker, tv.vcpu) == 0, "pthread_create");
	TEST_RET(-EINTR, crosvm_vcpu_wait(tv.vcpu, &ev));
	TEST_ASSERT(now_ms() - t0 >= 30, "the wait ended after %lu ms, before the kick",
		    (unsigned long)(now_ms() - t0));
	TEST_ASSERT(pthread_join(thread, NULL) == 0, "pthread_join");
	/* ... and a timed one. */
	TEST_ASSERT(pthread_create(&thread, NULL, kicker, tv.vcpu) == 0, "pthread_create");
	TEST_RET(-EINTR, crosvm_vcpu_wait_timeout(tv.vcpu, &ev, 5000000000ll));
	TEST_ASSERT(pthread_join(thread, NULL) == 0, "pthread_join");

	/* Nothing was lost: the guest's next exit is still delivered. */
	__atomic_store_n(&vm.ram.ptr[GUEST_DATA], 1, __ATOMIC_SEQ_CST);
	TEST_OK(crosvm_vcpu_wait_timeout(tv.vcpu, &ev, 5000000000ll));
	TEST_ASSERT(ev.kind == CROSVM_VCPU_EVENT_KIND_IO_ACCESS && ev.io_access.address == PORT_DONE,
		    "event %u at %#lx, expected done", ev.kind,
		    (unsigned long)ev.io_access.address);
	test_vm_destroy(&vm);
}

/* The LAPIC's LVT timer register: masked (bit 16) at power-on. */
#define LAPIC_LVTT 0x320

static uint32_t lapic_reg(const struct kvm_lapic_state *l, unsigned off)
{
	uint32_t v;

	memcpy(&v, &l->regs[off], sizeof(v));
	return v;
}

/* After crosvm_vcpu_reset(): what KVM gives a new vcpu, whatever the guest and plugin did. */
static void check_power_on(struct crosvm_vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	TEST_OK(crosvm_vcpu_get_regs(vcpu, &regs));
	TEST_ASSERT(regs.rip == 0xfff0 && regs.rflags == 2 && regs.rbx == 0 && regs.rsp == 0,
		    "regs after reset: rip %#llx rflags %#llx rbx %#llx rsp %#llx",
		    (unsigned long long)regs.rip, (unsigned long long)regs.rflags,
		    (unsigned long long)regs.rbx, (unsigned long long)regs.rsp);
	TEST_OK(crosvm_vcpu_get_sregs(vcpu, &sregs));
	TEST_ASSERT(sregs.cs.selector == 0xf000 && sregs.cs.base == 0xffff0000 &&
			    sregs.ds.base == 0 && (sregs.cr0 & 1) == 0 && sregs.idt.limit == 0xffff,
		    "sregs after reset: cs %#x base %#llx cr0 %#llx idt limit %#x", sregs.cs.selector,
		    (unsigned long long)sregs.cs.base, (unsigned long long)sregs.cr0,
		    sregs.idt.limit);
	TEST_OK(crosvm_vcpu_get_lapic_state(vcpu, &lapic));
	TEST_ASSERT(lapic_reg(&lapic, LAPIC_LVTT) == 0x10000, "LAPIC LVT timer %#x after reset",
		    lapic_reg(&lapic, LAPIC_LVTT));
	TEST_OK(crosvm_vcpu_get_mp_state(vcpu, &mp));
	TEST_ASSERT(mp.mp_state == KVM_MP_STATE_RUNNABLE, "mp_state %u after reset", mp.mp_state);
	TEST_OK(crosvm_vcpu_get_vcpu_events(vcpu, &events));
	TEST_ASSERT(!events.exception.injected && !events.exception.pending &&
			    !events.nmi.pending && !events.interrupt.injected,
		    "events pending after reset");
}

/* On INIT and after each reset: real mode at the guest, and state the reset must undo. */
static void reset_boot(struct crosvm_vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	struct kvm_regs regs;

	test_vcpu_set_real_mode(vcpu, GUEST_LOAD, GUEST_STACK);
	TEST_OK(crosvm_vcpu_get_regs(vcpu, &regs));
	regs.rbx = 0x1234;
	TEST_OK(crosvm_vcpu_set_regs(vcpu, &regs));
	TEST_OK(crosvm_vcpu_get_lapic_state(vcpu, &lapic));
	memcpy(&lapic.regs[LAPIC_LVTT], &(uint32_t){ 0x40 }, sizeof(uint32_t));
	TEST_OK(crosvm_vcpu_set_lapic_state(vcpu, &lapic));
}

static void reset(void)
{
	struct crosvm_vcpu_event ev;
	struct test_vcpu tv;
	struct test_vm vm;
	unsigned resets = 0, reports = 0;

	test_vm_create(&vm, GUEST_CODE(ext_reset));
	check_mask(vm.crosvm, true);
	test_vcpu_setup(&tv, vm.crosvm, 0, NULL, NULL);
	TEST_RET(-EINVAL, crosvm_enable_reset_events(NULL));
	TEST_RET(-EINVAL, crosvm_vcpu_reset(NULL));
	/* Before its INIT event the vcpu is not stopped. */
	TEST_RET(-EINVAL, crosvm_vcpu_reset(tv.vcpu));
	TEST_OK(crosvm_enable_reset_events(vm.crosvm));
	TEST_OK(crosvm_start(vm.crosvm));
	TEST_RET(-EBUSY, crosvm_enable_reset_events(vm.crosvm));

	test_vcpu_expect(&tv, &ev, CROSVM_VCPU_EVENT_KIND_INIT);
	/* Reset works at INIT too: the state is KVM's, untouched so far. */
	TEST_OK(crosvm_vcpu_reset(tv.vcpu));
	check_power_on(tv.vcpu);
	reset_boot(tv.vcpu);
	TEST_OK(crosvm_vcpu_resume(tv.vcpu));
	for (;;) {
		memset(&ev, 0xa5, sizeof(ev));
		TEST_OK(crosvm_vcpu_wait(tv.vcpu, &ev));
		if (ev.kind == CROSVM_VCPU_EVENT_KIND_RESET) {
			TEST_ASSERT(ev.reset.reason == CROSVM_RESET_TRIPLE_FAULT, "reset reason %u",
				    ev.reset.reason);
			TEST_ASSERT(resets + 1 == reports, "reset %u after %u boots", resets + 1,
				    reports);
			resets++;
			TEST_OK(crosvm_vcpu_reset(tv.vcpu));
			check_power_on(tv.vcpu);
			reset_boot(tv.vcpu);
		} else {
			TEST_ASSERT(ev.kind == CROSVM_VCPU_EVENT_KIND_IO_ACCESS && ev.io_access.is_write,
				    "event %u", ev.kind);
			if (ev.io_access.address == PORT_DONE)
				break;
			TEST_ASSERT(ev.io_access.address == PORT_REPORT, "port %#lx",
				    (unsigned long)ev.io_access.address);
			/* Not asked for: no io details. */
			TEST_ASSERT(ev.io_access.element_size == 0 && ev.io_access.count == 0,
				    "io details %u x %u", ev.io_access.element_size,
				    ev.io_access.count);
			reports++;
			TEST_ASSERT(ev.io_access.data[0] == reports, "boot %u reported %u", reports,
				    ev.io_access.data[0]);
		}
		TEST_OK(crosvm_vcpu_resume(tv.vcpu));
	}
	TEST_ASSERT(resets == 2 && reports == 3, "%u resets, %u boots", resets, reports);
	test_vm_destroy(&vm);
}

#define IO_PORT 0x300

/* What the guest's string I/O at IO_PORT looked like: elements seen per element size. */
struct io_seen {
	unsigned reads[5], writes[5];
	size_t in_pos, out_pos;
	uint8_t out[4];
};

static bool io_details_io(struct test_vcpu *tv, struct crosvm_vcpu_event *ev)
{
	static const uint8_t in[4] = { 0x34, 0x12, 0x56, 0x78 };
	struct io_seen *s = tv->priv;
	uint32_t size = ev->io_access.element_size, count = ev->io_access.count;

	if (ev->io_access.address_space != CROSVM_ADDRESS_SPACE_IOPORT ||
	    ev->io_access.address != IO_PORT)
		return false;
	TEST_ASSERT((size == 1 || size == 2) && count >= 1 && size * count == ev->io_access.length,
		    "io details %u x %u for %u bytes", size, count, ev->io_access.length);
	if (ev->io_access.is_write) {
		TEST_ASSERT(s->out_pos + ev->io_access.length <= sizeof(s->out), "extra write");
		memcpy(s->out + s->out_pos, ev->io_access.data, ev->io_access.length);
		s->out_pos += ev->io_access.length;
		s->writes[size] += count;
	} else {
		/* The word comes first: the plugin must see size 2 before any size 1. */
		TEST_ASSERT(size == (s->in_pos == 0 ? 2u : 1u), "read %zu has element size %u",
			    s->in_pos, size);
		TEST_ASSERT(s->in_pos + ev->io_access.length <= sizeof(in), "extra read");
		memcpy(ev->io_access.data, in + s->in_pos, ev->io_access.length);
		s->in_pos += ev->io_access.length;
		s->reads[size] += count;
	}
	return true;
}

static const struct test_vcpu_ops io_details_ops = {
	.io = io_details_io,
};

static void io_details(void)
{
	struct io_seen s = { 0 };
	struct test_vcpu tv;
	struct test_vm vm;

	test_vm_create(&vm, GUEST_CODE(ext_io));
	check_mask(vm.crosvm, true);
	TEST_RET(-EINVAL, crosvm_enable_io_details(NULL));
	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, IO_PORT, 1));
	TEST_OK(crosvm_enable_io_details(vm.crosvm));
	test_vcpu_setup(&tv, vm.crosvm, 0, &io_details_ops, &s);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	TEST_RET(-EBUSY, crosvm_enable_io_details(vm.crosvm));
	test_vcpu_run(&tv);
	TEST_ASSERT(s.reads[2] == 1 && s.reads[1] == 2, "read %u words and %u bytes", s.reads[2],
		    s.reads[1]);
	TEST_ASSERT(s.writes[2] == 2 && s.writes[1] == 0, "wrote %u words and %u bytes",
		    s.writes[2], s.writes[1]);
	TEST_ASSERT(!memcmp(s.out, "\x34\x12\x56\x78", 4),
		    "the guest wrote back %02x %02x %02x %02x", s.out[0], s.out[1], s.out[2], s.out[3]);
	test_vm_destroy(&vm);
}

#define RANGE_PORT 0x310

struct range_seen {
	uint8_t writes[8];
	unsigned nr_writes, nr_reads;
};

static bool range_mode_io(struct test_vcpu *tv, struct crosvm_vcpu_event *ev)
{
	struct range_seen *s = tv->priv;

	if (ev->io_access.address_space != CROSVM_ADDRESS_SPACE_IOPORT ||
	    ev->io_access.address != RANGE_PORT)
		return false;
	TEST_ASSERT(ev->io_access.length == 1, "%u-byte access", ev->io_access.length);
	if (ev->io_access.is_write) {
		/* Asynchronous: the vcpu did not stop, so there is nothing to resume. */
		TEST_ASSERT(ev->io_access.no_resume, "a write stopped the vcpu");
		TEST_RET(-EINVAL, crosvm_vcpu_resume(tv->vcpu));
		TEST_ASSERT(s->nr_writes < sizeof(s->writes), "extra write");
		s->writes[s->nr_writes++] = ev->io_access.data[0];
	} else {
		TEST_ASSERT(!ev->io_access.no_resume, "a read did not stop the vcpu");
		/* All earlier writes arrived before the read (one ordered stream). */
		TEST_ASSERT(s->nr_writes == (s->nr_reads ? 4u : 3u), "read %u after %u writes",
			    s->nr_reads, s->nr_writes);
		ev->io_access.data[0] = (uint8_t)(0x5a + s->nr_reads++);
	}
	return true;
}

static const struct test_vcpu_ops range_mode_ops = {
	.io = range_mode_io,
};

static void range_mode(void)
{
	const uint32_t pio = CROSVM_ADDRESS_SPACE_IOPORT;
	struct range_seen s = { 0 };
	struct test_vcpu tv;
	struct test_vm vm;

	test_vm_create(&vm, GUEST_CODE(ext_range));
	check_mask(vm.crosvm, true);
	TEST_RET(-EINVAL, crosvm_reserve_range_mode(NULL, pio, RANGE_PORT, 1, 0));
	TEST_RET(-EINVAL, crosvm_reserve_range_mode(vm.crosvm, pio, RANGE_PORT, 1, 3));
	TEST_RET(-EINVAL, crosvm_reserve_range_mode(vm.crosvm, 2, RANGE_PORT, 1, 2));
	TEST_OK(crosvm_reserve_range_mode(vm.crosvm, pio, RANGE_PORT, 1,
					  CROSVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ));
	/* The usual overlap rules, against ranges of any mode. */
	TEST_RET(-EPERM, crosvm_reserve_range(vm.crosvm, pio, RANGE_PORT, 1));
	TEST_RET(-EPERM, crosvm_reserve_range_mode(vm.crosvm, pio, RANGE_PORT - 1, 2,
						   CROSVM_RANGE_MODE_SYNC));
	/* Length 0 removes a range of any mode. */
	TEST_OK(crosvm_reserve_range_mode(vm.crosvm, pio, 0x320, 1, CROSVM_RANGE_MODE_ASYNC_WRITE));
	TEST_OK(crosvm_reserve_range_mode(vm.crosvm, pio, 0x320, 0, 0));
	TEST_RET(-ENOENT, crosvm_reserve_range_mode(vm.crosvm, pio, 0x320, 0, 0));
	test_vcpu_setup(&tv, vm.crosvm, 0, &range_mode_ops, &s);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);
	TEST_ASSERT(s.nr_reads == 2 && s.nr_writes == 4, "%u reads, %u writes", s.nr_reads,
		    s.nr_writes);
	TEST_ASSERT(!memcmp(s.writes, "\x11\x22\x33\x5a", 4), "writes %02x %02x %02x %02x",
		    s.writes[0], s.writes[1], s.writes[2], s.writes[3]);
	test_vm_destroy(&vm);
}

#define MEM_BASE 0x10000

struct mem_vcpu {
	struct test_vcpu tv;
	pthread_t thread;
	unsigned mmio_writes;
};

static void mem_init(struct test_vcpu *tv)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
	struct kvm_regs regs;

	/* vcpu 1 would otherwise wait for INIT/SIPI. */
	TEST_OK(crosvm_vcpu_set_mp_state(tv->vcpu, &mp));
	TEST_OK(crosvm_vcpu_get_regs(tv->vcpu, &regs));
	regs.rbx = tv->id;
	TEST_OK(crosvm_vcpu_set_regs(tv->vcpu, &regs));
}

static bool mem_io(struct test_vcpu *tv, struct crosvm_vcpu_event *ev)
{
	struct mem_vcpu *m = tv->priv;

	if (ev->io_access.address_space != CROSVM_ADDRESS_SPACE_MMIO)
		return false;
	/* The reader must never leave the guest for the memory: no hole, no exit. */
	TEST_ASSERT(tv->id == 1 && ev->io_access.is_write && ev->io_access.address == MEM_BASE + 8 &&
			    ev->io_access.length == 1 && ev->io_access.data[0] == 0x5a,
		    "vcpu %u: MMIO %s at %#lx", tv->id, ev->io_access.is_write ? "write" : "read",
		    (unsigned long)ev->io_access.address);
	__atomic_fetch_add(&m->mmio_writes, 1, __ATOMIC_SEQ_CST);
	return true;
}

static const struct test_vcpu_ops mem_ops = {
	.init = mem_init,
	.io = mem_io,
};

static void *mem_thread(void *arg)
{
	struct mem_vcpu *m = arg;

	test_vcpu_run(&m->tv);
	return NULL;
}

static void memory_ro(void)
{
	static struct mem_vcpu vcpus[2];
	struct crosvm_memory *mem;
	struct test_memfd mfd, other;
	struct test_vm vm;
	int spins = 0;

	test_vm_create(&vm, GUEST_CODE(ext_mem));
	TEST_ASSERT(vm.nr_vcpus == 2, "%u vcpus (run with --cpus 2)", vm.nr_vcpus);
	check_mask(vm.crosvm, true);
	test_memfd_create(&mfd, 0x1000);
	memset(mfd.ptr, 0xa5, 0x1000);
	/* The replacement: the same bytes from its second page. */
	test_memfd_create(&other, 0x2000);
	memset(other.ptr, 0xa5, 0x2000);
	TEST_OK(crosvm_create_memory(vm.crosvm, mfd.fd, 0, 0x1000, MEM_BASE, false, false, &mem));
	/* Any exit at the memory reaches the plugin (mem_io), not zeros. */
	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_MMIO, MEM_BASE, 0x1000));
	TEST_RET(-EINVAL, crosvm_memory_set_read_only(vm.crosvm, NULL, true));
	TEST_RET(-EINVAL, crosvm_memory_replace(vm.crosvm, mem, other.fd, 0x800, false));
	TEST_RET(-EBADF, crosvm_memory_replace(vm.crosvm, mem, -1, 0, false));
	/* The host's checks: past the end of the memfd, a memfd without the shrink seal. */
	TEST_RET(-EINVAL, crosvm_memory_replace(vm.crosvm, mem, other.fd, 0x2000, false));
	{
		int fd = memfd_create("unsealed", MFD_CLOEXEC);

		TEST_ASSERT(fd >= 0 && ftruncate(fd, 0x1000) == 0, "memfd");
		TEST_RET(-EPERM, crosvm_memory_replace(vm.crosvm, mem, fd, 0, false));
		close(fd);
	}
	TEST_OK(crosvm_memory_set_read_only(vm.crosvm, mem, true));
	for (uint32_t i = 0; i < 2; i++) {
		test_vcpu_setup(&vcpus[i].tv, vm.crosvm, i, &mem_ops, &vcpus[i]);
		vcpus[i].tv.stay_stopped = true;
	}
	TEST_OK(crosvm_start(vm.crosvm));
	for (uint32_t i = 0; i < 2; i++)
		TEST_ASSERT(pthread_create(&vcpus[i].thread, NULL, mem_thread, &vcpus[i]) == 0,
			    "pthread_create");
	/*
	 * 400 changes while vcpu 0 reads: read-only on and off, and the memfd
	 * swapped; the last one leaves the first memfd mapped read-only.
	 */
	for (int i = 0; i < 400; i++) {
		if (i % 4 == 1)
			TEST_OK(crosvm_memory_replace(vm.crosvm, mem, other.fd, 0x1000, false));
		else if (i % 4 == 3)
			TEST_OK(crosvm_memory_replace(vm.crosvm, mem, mfd.fd, 0, true));
		else
			TEST_OK(crosvm_memory_set_read_only(vm.crosvm, mem, i % 4 == 0));
	}
	__atomic_store_n(&vm.ram.ptr[GUEST_DATA], 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&vcpus[1].mmio_writes, __ATOMIC_SEQ_CST) == 0) {
		TEST_ASSERT(++spins < 5000, "no MMIO write from vcpu 1");
		usleep(1000);
	}
	TEST_OK(crosvm_memory_replace(vm.crosvm, mem, other.fd, 0x1000, false));
	__atomic_store_n(&vm.ram.ptr[GUEST_DATA], 2, __ATOMIC_SEQ_CST);
	for (uint32_t i = 0; i < 2; i++)
		TEST_ASSERT(pthread_join(vcpus[i].thread, NULL) == 0, "pthread_join");
	TEST_ASSERT(vcpus[1].mmio_writes == 1 && vcpus[0].mmio_writes == 0,
		    "MMIO writes: vcpu 0 %u, vcpu 1 %u", vcpus[0].mmio_writes, vcpus[1].mmio_writes);
	TEST_ASSERT(mfd.ptr[8] == 0xa5, "a write to read-only memory landed (%#x)", mfd.ptr[8]);
	TEST_ASSERT(other.ptr[0x1009] == 0x5b && mfd.ptr[9] == 0xa5,
		    "the write after the replace went to %#x/%#x", other.ptr[0x1009], mfd.ptr[9]);
	test_memfd_destroy(&other);
	TEST_OK(crosvm_destroy_memory(vm.crosvm, &mem));
	test_memfd_destroy(&mfd);
	test_vm_destroy(&vm);
}

/* crosvm's host answers the unknown vcpu request ENOTTY, and the vcpu runs on. */
static void off_init(struct test_vcpu *tv)
{
	static uint8_t area[8192];
	uint32_t size = 1;

	TEST_RET(-ENOTTY, crosvm_vcpu_reset(tv->vcpu));
	TEST_RET(-ENOTTY, crosvm_vcpu_get_xsave(tv->vcpu, area, sizeof(area), &size));
	TEST_ASSERT(size == 0, "XSAVE size %u from a host without the extension", size);
	TEST_RET(-ENOTTY, crosvm_vcpu_set_xsave(tv->vcpu, area, 4096));
}

static const struct test_vcpu_ops off_ops = {
	.init = off_init,
};

/* The extensions switched off: everything answers as crosvm's host would. */
static void off(void)
{
	struct crosvm_irq *none = NULL;
	struct test_vcpu tv;
	struct test_vm vm;

	test_vm_create(&vm, GUEST_CODE(ext_cpuid));
	check_mask(vm.crosvm, false);
	/* The library's own extension works with any host. */
	test_vcpu_setup(&tv, vm.crosvm, 0, &off_ops, NULL);
	TEST_OK(crosvm_vcpu_kick(tv.vcpu));
	TEST_RET(-ENOTTY, crosvm_create_edge_irq_event(vm.crosvm, IRQ, &none));
	TEST_ASSERT(none == NULL, "a refused edge irq event left an object");
	TEST_RET(-ENOTTY, crosvm_enable_default_cpuid(vm.crosvm));
	TEST_RET(-ENOTTY, crosvm_enable_reset_events(vm.crosvm));
	TEST_RET(-ENOTTY, crosvm_enable_io_details(vm.crosvm));
	TEST_RET(-ENOTTY, crosvm_reserve_range_mode(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, 0x310, 1,
						    CROSVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ));
	TEST_RET(-ENOTTY, crosvm_memory_set_read_only(vm.crosvm, vm.ram_obj, true));
	TEST_RET(-ENOTTY, crosvm_memory_replace(vm.crosvm, vm.ram_obj, vm.ram.fd, 0, false));
	/* crosvm's irq events still work. */
	TEST_OK(crosvm_create_irq_event(vm.crosvm, IRQ, &irq));
	TEST_ASSERT(crosvm_irq_event_get_resample_fd(irq) >= 0, "no resample fd");
	TEST_OK(crosvm_destroy_irq_event(vm.crosvm, &irq));

	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	TEST_RET(-EINTR, crosvm_vcpu_wait(tv.vcpu, &(struct crosvm_vcpu_event){ 0 }));
	test_vcpu_run(&tv);
	TEST_ASSERT(tv.nr_reports == 4 && tv.reports[0] == 0 && tv.reports[1] == 0 &&
			    tv.reports[2] == 0 && tv.reports[3] == 0,
		    "without CPUID the guest read %lu reports, leaf 0 eax %#lx",
		    (unsigned long)tv.nr_reports, (unsigned long)tv.reports[0]);
	test_vm_destroy(&vm);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	test_init(mode);
	if (!strcmp(mode, "edge-irq"))
		edge_irq();
	else if (!strcmp(mode, "default-cpuid"))
		default_cpuid();
	else if (!strcmp(mode, "reset"))
		reset();
	else if (!strcmp(mode, "kick"))
		kick();
	else if (!strcmp(mode, "io-details"))
		io_details();
	else if (!strcmp(mode, "range-mode"))
		range_mode();
	else if (!strcmp(mode, "memory-ro"))
		memory_ro();
	else if (!strcmp(mode, "off"))
		off();
	else
		TEST_ASSERT(false, "unknown mode \"%s\" (argc %d)", mode, argc);
	return 0;
}
