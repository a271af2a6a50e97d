// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Pausing (docs/protocol.md Appendix A), repeated to shake out deadlocks: a pause
 * of a spinning vcpu arrives as PAUSED with its user pointer; a second pause
 * while paused returns at once and is delivered right after the resume; a
 * pause issued right after a resume is not lost.  Setting rbx during the last
 * pause lets the guest leave its loop.  A pause before start does nothing,
 * and bits for vcpus that do not exist are ignored.
 */
#include <unistd.h>

#include "testlib.h"

GUEST_DECLARE(pause);

#define ROUNDS 10

static void *user(uintptr_t v)
{
	return (void *)v;
}

static void expect_paused(struct test_vcpu *tv, void *want)
{
	struct crosvm_vcpu_event ev;

	test_vcpu_expect(tv, &ev, CROSVM_VCPU_EVENT_KIND_PAUSED);
	TEST_ASSERT(ev.user == want, "paused with user %p, expected %p", ev.user, want);
}

int main(void)
{
	struct crosvm_vcpu_event ev;
	struct kvm_regs regs;
	struct test_vcpu tv;
	struct test_vm vm;

	test_init("pause");
	test_vm_create(&vm, GUEST_CODE(pause));
	test_vcpu_setup(&tv, vm.crosvm, 0, NULL, NULL);

	/* Before start there is nothing to pause; the request still succeeds. */
	TEST_OK(crosvm_pause_vcpus(vm.crosvm, 1, user(0xdead)));
	TEST_OK(crosvm_start(vm.crosvm));

	test_vcpu_expect(&tv, &ev, CROSVM_VCPU_EVENT_KIND_INIT);
	test_vcpu_set_real_mode(tv.vcpu, GUEST_LOAD, GUEST_STACK);
	TEST_OK(crosvm_vcpu_resume(tv.vcpu));
	test_vcpu_expect(&tv, &ev, CROSVM_VCPU_EVENT_KIND_IO_ACCESS);
	TEST_ASSERT(ev.io_access.address == PORT_STEP && ev.io_access.data[0] == 1,
		    "expected step 1, got an access at %#lx", (unsigned long)ev.io_access.address);
	TEST_OK(crosvm_vcpu_resume(tv.vcpu));

	for (uintptr_t r = 1; r <= ROUNDS; r++) {
		/* Let the guest spin for a while. */
		usleep(5000);
		TEST_OK(crosvm_pause_vcpus(vm.crosvm, 1 | (1ull << 5), user(0x100 + r)));
		expect_paused(&tv, user(0x100 + r));

		/* Paused already: the new request must neither block nor get lost. */
		TEST_OK(crosvm_pause_vcpus(vm.crosvm, 1, user(0x200 + r)));
		TEST_OK(crosvm_vcpu_resume(tv.vcpu));
		expect_paused(&tv, user(0x200 + r));

		TEST_OK(crosvm_vcpu_resume(tv.vcpu));
		TEST_OK(crosvm_pause_vcpus(vm.crosvm, 1, user(0x300 + r)));
		expect_paused(&tv, user(0x300 + r));

		TEST_OK(crosvm_vcpu_get_regs(tv.vcpu, &regs));
		TEST_ASSERT(regs.rbx == 0, "rbx %#llx while spinning", regs.rbx);
		TEST_OK(crosvm_vcpu_resume(tv.vcpu));
	}

	/* A mask without vcpu 0 pauses nothing, so the next event is the final pause. */
	TEST_OK(crosvm_pause_vcpus(vm.crosvm, 1ull << 63, user(0x999)));
	usleep(5000);
	TEST_OK(crosvm_pause_vcpus(vm.crosvm, 1, user(0x400)));
	expect_paused(&tv, user(0x400));
	TEST_OK(crosvm_vcpu_get_regs(tv.vcpu, &regs));
	regs.rbx = 0x4321;
	TEST_OK(crosvm_vcpu_set_regs(tv.vcpu, &regs));
	TEST_OK(crosvm_vcpu_resume(tv.vcpu));

	test_vcpu_expect(&tv, &ev, CROSVM_VCPU_EVENT_KIND_IO_ACCESS);
	if (ev.io_access.address == PORT_FAIL)
		TEST_ASSERT(false, "guest check %#x failed",
			    ev.io_access.data[0] | ev.io_access.data[1] << 8);
	TEST_ASSERT(ev.io_access.address == PORT_DONE, "access at %#lx",
		    (unsigned long)ev.io_access.address);
	test_vm_destroy(&vm);
	return 0;
}
