// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * VM state round trips (docs/protocol.md Appendix A): secondary PIC auto_eoi,
 * IOAPIC id and the PIT's HPET_LEGACY flag read back as set; the clock
 * accepts flags 0 and refuses -1.  The primary PIC's mask is also checked
 * from the guest in both directions: the guest reads the mask the plugin
 * set, then sets one the plugin reads back.
 */
#include "testlib.h"

GUEST_DECLARE(vm_state);

static void check_pic(struct crosvm *c)
{
	struct kvm_pic_state pic, back;

	TEST_OK(crosvm_get_pic_state(c, false, &pic));
	pic.auto_eoi = !pic.auto_eoi;
	TEST_OK(crosvm_set_pic_state(c, false, &pic));
	memset(&back, 0xee, sizeof(back));
	TEST_OK(crosvm_get_pic_state(c, false, &back));
	TEST_ASSERT(back.auto_eoi == pic.auto_eoi, "secondary PIC auto_eoi %u, set %u",
		    back.auto_eoi, pic.auto_eoi);

	TEST_OK(crosvm_get_pic_state(c, true, &pic));
	pic.imr = 0xa5;
	TEST_OK(crosvm_set_pic_state(c, true, &pic));
	/* The two PICs are distinct: the secondary did not get the primary's mask. */
	TEST_OK(crosvm_get_pic_state(c, false, &back));
	TEST_ASSERT(back.imr != 0xa5, "primary PIC state landed on the secondary");
}

static void check_ioapic(struct crosvm *c)
{
	struct kvm_ioapic_state ioapic, back;

	TEST_OK(crosvm_get_ioapic_state(c, &ioapic));
	TEST_ASSERT(ioapic.base_address == 0xfec00000, "IOAPIC base %#llx",
		    (unsigned long long)ioapic.base_address);
	ioapic.id = 7;
	TEST_OK(crosvm_set_ioapic_state(c, &ioapic));
	memset(&back, 0, sizeof(back));
	TEST_OK(crosvm_get_ioapic_state(c, &back));
	TEST_ASSERT(back.id == 7, "IOAPIC id %u", back.id);
}

static void check_pit(struct crosvm *c)
{
	struct kvm_pit_state2 pit, back;

	TEST_OK(crosvm_get_pit_state(c, &pit));
	TEST_ASSERT(!(pit.flags & KVM_PIT_FLAGS_HPET_LEGACY), "PIT starts in HPET legacy mode");
	pit.flags |= KVM_PIT_FLAGS_HPET_LEGACY;
	TEST_OK(crosvm_set_pit_state(c, &pit));
	memset(&back, 0, sizeof(back));
	TEST_OK(crosvm_get_pit_state(c, &back));
	TEST_ASSERT(back.flags & KVM_PIT_FLAGS_HPET_LEGACY, "PIT flags %#x", back.flags);
	back.flags &= ~KVM_PIT_FLAGS_HPET_LEGACY;
	TEST_OK(crosvm_set_pit_state(c, &back));
}

static void check_clock(struct crosvm *c)
{
	struct kvm_clock_data clock, back;
	const uint64_t target = 1ull << 40;

	TEST_OK(crosvm_get_clock(c, &clock));
	memset(&clock, 0, sizeof(clock));
	clock.clock = target;
	TEST_OK(crosvm_set_clock(c, &clock));
	TEST_OK(crosvm_get_clock(c, &back));
	/* The clock keeps running, but not for minutes. */
	TEST_ASSERT(back.clock >= target && back.clock - target < 60ull * 1000000000,
		    "clock %llu after setting %llu", (unsigned long long)back.clock,
		    (unsigned long long)target);
	clock.flags = (uint32_t)-1;
	TEST_ASSERT(crosvm_set_clock(c, &clock) < 0, "clock with flags -1 accepted");
}

int main(void)
{
	struct kvm_pic_state pic;
	struct test_vcpu tv;
	struct test_vm vm;

	test_init("vm-state");
	test_vm_create(&vm, GUEST_CODE(vm_state));
	check_pic(vm.crosvm);
	check_ioapic(vm.crosvm);
	check_pit(vm.crosvm);
	check_clock(vm.crosvm);

	test_vcpu_setup(&tv, vm.crosvm, 0, NULL, NULL);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);

	TEST_ASSERT(tv.nr_reports == 1 && tv.reports[0] == 0xa5, "guest read PIC mask %#lx",
		    (unsigned long)(tv.nr_reports ? tv.reports[0] : 0));
	TEST_OK(crosvm_get_pic_state(vm.crosvm, true, &pic));
	TEST_ASSERT(pic.imr == 0x5a, "guest-set PIC mask reads %#x", pic.imr);
	test_vm_destroy(&vm);
	return 0;
}
