// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * vcpu state round trips, each set checked by a get and, where a real-mode
 * guest can see it, by the guest: regs (rbx), sregs (fs, CR4.OSXSAVE),
 * XCRs (xgetbv), MSRs (rdmsr), CPUID (a brand-string leaf),
 * LAPIC, MP state, and vcpu events (an injected interrupt that the guest
 * takes on re-entry with interrupts disabled).  The FPU is checked by read-back
 * only: the kernels we run on (6.18) keep KVM_SET_FPU's x87 control word from
 * the guest (KVM_GET_FPU shows it, fnstcw in the guest gives the reset
 * 0x37f), which a direct-ioctl program reproduces without plugvm.  Also the Hyper-V CPUID list
 * and the argument checks of crosvm_vcpu_enable_capability.
 */
#include "testlib.h"

GUEST_DECLARE(vcpu_state);

#define MSR_STAR 0xc0000081
#define MSR_TSC 0x10
#define STAR_VALUE 0x0023001000000000ull
#define FCW_VALUE 0x027f
#define BRAND_PLUG 0x67756c50 /* "Plug" */
#define CR4_OSXSAVE (1ull << 18)
#define APIC_LVTT 0x320
#define LVTT_VALUE 0x10031
#define INJECT_VECTOR 0x31

static struct kvm_cpuid_entry2 cpuid[256];
/* Whether KVM offers XSAVE to guests (some nested setups do not). */
static bool have_xsave;

static void set_cpuid(struct test_vcpu *tv, struct crosvm *c)
{
	uint32_t n = 0;
	bool found = false, sse_state = false;

	TEST_OK(crosvm_get_supported_cpuid(c, 256, cpuid, &n));
	for (uint32_t i = 0; i < n; i++) {
		if (cpuid[i].function == 1)
			have_xsave = cpuid[i].ecx & (1u << 26);
		if (cpuid[i].function == 0xd && cpuid[i].index == 0)
			sse_state = (cpuid[i].eax & 3) == 3;
		if (cpuid[i].function == 0x80000002) {
			cpuid[i].eax = BRAND_PLUG;
			found = true;
		}
	}
	if (!have_xsave)
		test_log("KVM offers no XSAVE to guests: the guest cannot read XCR0");
	TEST_ASSERT(found, "no brand-string leaf in the supported CPUID");
	if (!sse_state)
		test_skip("KVM's CPUID leaf 0xd offers no SSE state for XCR0");
	TEST_OK(crosvm_vcpu_set_cpuid(tv->vcpu, n, cpuid));
}

static void check_xcrs(struct test_vcpu *tv)
{
	struct kvm_xcrs xcrs;

	TEST_OK(crosvm_vcpu_get_xcrs(tv->vcpu, &xcrs));
	TEST_ASSERT(xcrs.nr_xcrs >= 1 && xcrs.xcrs[0].xcr == 0 && xcrs.xcrs[0].value == 1,
		    "reset XCR0: nr %u value %#llx", xcrs.nr_xcrs, xcrs.xcrs[0].value);
	xcrs.nr_xcrs = 1;
	/* AVX without SSE is invalid: KVM's verdict must come through. */
	xcrs.xcrs[0].value = 5;
	TEST_ASSERT(crosvm_vcpu_set_xcrs(tv->vcpu, &xcrs) < 0, "XCR0 = x87|AVX accepted");
	/* x87 | SSE: valid because the CPUID just set offers SSE state in leaf 0xd. */
	xcrs.xcrs[0].value = 3;
	TEST_OK(crosvm_vcpu_set_xcrs(tv->vcpu, &xcrs));
	memset(&xcrs, 0, sizeof(xcrs));
	TEST_OK(crosvm_vcpu_get_xcrs(tv->vcpu, &xcrs));
	TEST_ASSERT(xcrs.xcrs[0].value == 3, "XCR0 %#llx", xcrs.xcrs[0].value);
}

static void check_regs(struct test_vcpu *tv, uint8_t *ram)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	/* The real-mode state set on INIT is still deferred; a get flushes it first. */
	TEST_OK(crosvm_vcpu_get_regs(tv->vcpu, &regs));
	TEST_ASSERT(regs.rip == GUEST_LOAD && regs.rsp == GUEST_STACK, "rip %#llx rsp %#llx",
		    regs.rip, regs.rsp);
	regs.rbx = 0x1234;
	TEST_OK(crosvm_vcpu_set_regs(tv->vcpu, &regs));
	memset(&regs, 0, sizeof(regs));
	TEST_OK(crosvm_vcpu_get_regs(tv->vcpu, &regs));
	TEST_ASSERT(regs.rbx == 0x1234 && regs.rip == GUEST_LOAD, "rbx %#llx", regs.rbx);
	/* Tells the guest whether it may use xgetbv; a deferred set this time. */
	regs.rdi = have_xsave;
	TEST_OK(crosvm_vcpu_set_regs(tv->vcpu, &regs));

	TEST_OK(crosvm_vcpu_get_sregs(tv->vcpu, &sregs));
	TEST_ASSERT(sregs.cs.base == 0, "cs.base %#llx", sregs.cs.base);
	sregs.fs.base = GUEST_DATA;
	sregs.fs.selector = GUEST_DATA >> 4;
	if (have_xsave)
		sregs.cr4 |= CR4_OSXSAVE;
	ram[GUEST_DATA + 0x10] = 0x5a;
	TEST_OK(crosvm_vcpu_set_sregs(tv->vcpu, &sregs));
	memset(&sregs, 0, sizeof(sregs));
	TEST_OK(crosvm_vcpu_get_sregs(tv->vcpu, &sregs));
	TEST_ASSERT(sregs.fs.base == GUEST_DATA && !(sregs.cr4 & CR4_OSXSAVE) == !have_xsave,
		    "fs.base %#llx cr4 %#llx", sregs.fs.base, sregs.cr4);
}

static void check_fpu_dregs(struct test_vcpu *tv)
{
	struct kvm_debugregs dregs;
	struct kvm_fpu fpu;

	TEST_OK(crosvm_vcpu_get_fpu(tv->vcpu, &fpu));
	TEST_ASSERT(fpu.fcw == 0x37f, "reset fcw %#x", fpu.fcw);
	fpu.fcw = FCW_VALUE;
	TEST_OK(crosvm_vcpu_set_fpu(tv->vcpu, &fpu));
	memset(&fpu, 0, sizeof(fpu));
	TEST_OK(crosvm_vcpu_get_fpu(tv->vcpu, &fpu));
	TEST_ASSERT(fpu.fcw == FCW_VALUE, "fcw %#x", fpu.fcw);

	TEST_OK(crosvm_vcpu_get_debugregs(tv->vcpu, &dregs));
	dregs.db[1] = 0x5678;
	TEST_OK(crosvm_vcpu_set_debugregs(tv->vcpu, &dregs));
	memset(&dregs, 0, sizeof(dregs));
	TEST_OK(crosvm_vcpu_get_debugregs(tv->vcpu, &dregs));
	TEST_ASSERT(dregs.db[1] == 0x5678 && (dregs.dr7 & 0xffff) == 0x400, "dr1 %#llx dr7 %#llx",
		    dregs.db[1], dregs.dr7);
}

static void check_msrs(struct test_vcpu *tv)
{
	struct kvm_msr_entry set = { .index = MSR_STAR, .data = STAR_VALUE };
	struct kvm_msr_entry get[3] = {
		{ .index = MSR_STAR, .data = 1 },
		{ .index = 0x4b564dff, .data = 2 }, /* not an MSR: reading stops here */
		{ .index = MSR_TSC, .data = 3 },
	};
	uint32_t n = 99;

	TEST_OK(crosvm_vcpu_set_msrs(tv->vcpu, 1, &set));
	TEST_OK(crosvm_vcpu_get_msrs(tv->vcpu, 3, get, &n));
	TEST_ASSERT(n == 1, "read %u MSRs, expected 1 (stop at the bad index)", n);
	TEST_ASSERT(get[0].data == STAR_VALUE, "STAR %#llx", get[0].data);
	TEST_ASSERT(get[1].index == 0x4b564dff && get[1].data == 2 && get[2].data == 3,
		    "entries past the count were written");
	get[1].index = MSR_TSC;
	TEST_OK(crosvm_vcpu_get_msrs(tv->vcpu, 2, get, &n));
	TEST_ASSERT(n == 2 && get[1].data != 2, "TSC read: n %u", n);
}

static void check_lapic_mp(struct test_vcpu *tv)
{
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	uint32_t v;

	TEST_OK(crosvm_vcpu_get_lapic_state(tv->vcpu, &lapic));
	memcpy(&v, &lapic.regs[0x30], 4);
	TEST_ASSERT((v & 0xff) >= 0x10, "LAPIC version register %#x", v);
	v = LVTT_VALUE;
	memcpy(&lapic.regs[APIC_LVTT], &v, 4);
	TEST_OK(crosvm_vcpu_set_lapic_state(tv->vcpu, &lapic));
	memset(&lapic, 0, sizeof(lapic));
	TEST_OK(crosvm_vcpu_get_lapic_state(tv->vcpu, &lapic));
	memcpy(&v, &lapic.regs[APIC_LVTT], 4);
	TEST_ASSERT(v == LVTT_VALUE, "LVT timer %#x", v);

	memset(&mp, 0xff, sizeof(mp));
	TEST_OK(crosvm_vcpu_get_mp_state(tv->vcpu, &mp));
	TEST_ASSERT(mp.mp_state == KVM_MP_STATE_RUNNABLE, "BSP mp_state %u", mp.mp_state);
	TEST_OK(crosvm_vcpu_set_mp_state(tv->vcpu, &mp));
	mp.mp_state = 0x7777;
	TEST_ASSERT(crosvm_vcpu_set_mp_state(tv->vcpu, &mp) < 0, "mp_state 0x7777 accepted");
}

static void check_hyperv_and_caps(struct test_vcpu *tv, struct crosvm *c)
{
	uint64_t args[4] = { 0 };
	bool have = false;
	uint32_t n = 99;
	int ret;

	TEST_OK(crosvm_check_extension(c, KVM_CAP_HYPERV_CPUID, &have));
	ret = crosvm_get_hyperv_cpuid(tv->vcpu, 256, cpuid, &n);
	if (have) {
		TEST_ASSERT(ret == 0 && n > 1, "get_hyperv_cpuid: %d, %u entries", ret, n);
		TEST_ASSERT(cpuid[0].function >= 0x40000000 && cpuid[0].function < 0x40000100,
			    "first Hyper-V leaf %#x", cpuid[0].function);
	} else {
		/* KVM without Hyper-V support refuses the ioctl; that must come through. */
		TEST_ASSERT(ret < 0 && n == 0, "get_hyperv_cpuid without KVM support: %d, %u", ret,
			    n);
	}

	TEST_RET(-EINVAL, crosvm_vcpu_enable_capability(tv->vcpu, KVM_CAP_HYPERV_SYNIC, 1, args));
	args[3] = 1;
	TEST_RET(-EINVAL, crosvm_vcpu_enable_capability(tv->vcpu, KVM_CAP_HYPERV_SYNIC, 0, args));
	args[3] = 0;
	/* The host allows only the SynIC capabilities. */
	TEST_RET(-EINVAL, crosvm_vcpu_enable_capability(tv->vcpu, KVM_CAP_IRQCHIP, 0, args));
}

static uint8_t *guest_ram;

static void vs_init(struct test_vcpu *tv)
{
	struct crosvm *c = tv->priv;

	set_cpuid(tv, c);
	check_xcrs(tv);
	check_regs(tv, guest_ram);
	check_fpu_dregs(tv);
	check_msrs(tv);
	check_lapic_mp(tv);
	check_hyperv_and_caps(tv, c);
}

static void vs_step(struct test_vcpu *tv, uint32_t step)
{
	struct kvm_vcpu_events events;

	TEST_ASSERT(step == 1, "unknown step %u", step);
	TEST_OK(crosvm_vcpu_get_vcpu_events(tv->vcpu, &events));
	TEST_ASSERT(!events.interrupt.injected && !events.exception.injected,
		    "events pending at step 1");
	events.interrupt.injected = 1;
	events.interrupt.nr = INJECT_VECTOR;
	events.interrupt.soft = 0;
	TEST_OK(crosvm_vcpu_set_vcpu_events(tv->vcpu, &events));
	memset(&events, 0, sizeof(events));
	TEST_OK(crosvm_vcpu_get_vcpu_events(tv->vcpu, &events));
	TEST_ASSERT(events.interrupt.injected && events.interrupt.nr == INJECT_VECTOR,
		    "events: injected %u nr %#x", events.interrupt.injected, events.interrupt.nr);
}

static const struct test_vcpu_ops vs_ops = {
	.init = vs_init,
	.step = vs_step,
};

int main(void)
{
	static const uint64_t expected[] = {
		0, /* CR4 and XCR0: checked below */
		0, (uint32_t)STAR_VALUE, STAR_VALUE >> 32, BRAND_PLUG,
	};
	struct test_vcpu tv;
	struct test_vm vm;

	test_init("vcpu-state");
	test_vm_create(&vm, GUEST_CODE(vcpu_state));
	guest_ram = vm.ram.ptr;
	test_vcpu_setup(&tv, vm.crosvm, 0, &vs_ops, vm.crosvm);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);

	TEST_ASSERT(tv.nr_reports == 5, "%zu reports", tv.nr_reports);
	TEST_ASSERT(!(tv.reports[0] & CR4_OSXSAVE) == !have_xsave, "guest CR4 %#lx",
		    (unsigned long)tv.reports[0]);
	/* Without OSXSAVE the guest reports a placeholder 1 instead of running xgetbv. */
	TEST_ASSERT(tv.reports[1] == (have_xsave ? 3u : 1u), "guest XCR0 %#lx",
		    (unsigned long)tv.reports[1]);
	for (size_t i = 2; i < 5; i++)
		TEST_ASSERT(tv.reports[i] == expected[i], "guest report %zu: %#lx, expected %#lx", i,
			    (unsigned long)tv.reports[i], (unsigned long)expected[i]);
	test_vm_destroy(&vm);
	return 0;
}
