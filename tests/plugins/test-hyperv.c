// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Hyper-V SynIC (docs/protocol.md Appendix A): after INIT the plugin enables
 * KVM_CAP_HYPERV_SYNIC on the vcpu and gives it KVM's Hyper-V CPUID leaves;
 * the guest's writes to SCONTROL, SIEFP and SIMP (0x40000080/82/83) arrive
 * as three HYPERV_SYNIC events carrying the values written so far.  Skipped
 * when KVM was built without Hyper-V support.
 */
#include "testlib.h"

GUEST_DECLARE(hyperv);

struct synic_expect {
	uint32_t msr;
	uint64_t control, evt_page, msg_page;
};

static const struct synic_expect expected[] = {
	{ 0x40000080, 1, 0, 0 },
	{ 0x40000082, 1, 0x5001, 0 },
	{ 0x40000083, 1, 0x5001, 0x6001 },
};

static unsigned nr_synic;

static void hv_init(struct test_vcpu *tv)
{
	static struct kvm_cpuid_entry2 entries[256];
	struct kvm_cpuid_entry2 one;
	uint64_t args[4] = { 0 };
	uint32_t n = 0, total = 0;

	TEST_RET(-E2BIG, crosvm_get_hyperv_cpuid(tv->vcpu, 1, &one, &total));
	TEST_ASSERT(total > 1, "Hyper-V CPUID E2BIG count %u", total);
	TEST_OK(crosvm_get_hyperv_cpuid(tv->vcpu, 256, entries, &n));
	TEST_ASSERT(n == total, "Hyper-V CPUID: %u entries, then %u", total, n);
	for (uint32_t i = 0; i < n; i++)
		TEST_ASSERT(entries[i].function >= 0x40000000 && entries[i].function < 0x40000100,
			    "Hyper-V CPUID leaf %#x", entries[i].function);
	TEST_OK(crosvm_vcpu_set_cpuid(tv->vcpu, n, entries));
	TEST_OK(crosvm_vcpu_enable_capability(tv->vcpu, KVM_CAP_HYPERV_SYNIC, 0, args));
}

static void hv_event(struct test_vcpu *tv, struct crosvm_vcpu_event *ev)
{
	const struct synic_expect *e;

	TEST_ASSERT(ev->kind == CROSVM_VCPU_EVENT_KIND_HYPERV_SYNIC, "Hyper-V event %u",
		    ev->kind);
	TEST_ASSERT(nr_synic < 3, "more than three SynIC events");
	e = &expected[nr_synic++];
	TEST_ASSERT(ev->hyperv_synic.msr == e->msr && ev->hyperv_synic.control == e->control &&
			    ev->hyperv_synic.evt_page == e->evt_page &&
			    ev->hyperv_synic.msg_page == e->msg_page,
		    "vcpu %u SynIC event %u: msr %#x control %#lx evt %#lx msg %#lx", tv->id,
		    nr_synic, ev->hyperv_synic.msr, (unsigned long)ev->hyperv_synic.control,
		    (unsigned long)ev->hyperv_synic.evt_page,
		    (unsigned long)ev->hyperv_synic.msg_page);
}

static const struct test_vcpu_ops hv_ops = {
	.init = hv_init,
	.hyperv = hv_event,
};

int main(void)
{
	struct test_vcpu tv;
	struct test_vm vm;
	bool synic = false, hv_cpuid = false;

	test_init("hyperv");
	test_vm_create(&vm, GUEST_CODE(hyperv));
	TEST_OK(crosvm_check_extension(vm.crosvm, KVM_CAP_HYPERV_SYNIC, &synic));
	TEST_OK(crosvm_check_extension(vm.crosvm, KVM_CAP_HYPERV_CPUID, &hv_cpuid));
	if (!synic || !hv_cpuid)
		test_skip("KVM lacks Hyper-V SynIC (%d) or KVM_GET_SUPPORTED_HV_CPUID (%d); "
			  "it was probably built without CONFIG_KVM_HYPERV",
			  synic, hv_cpuid);

	test_vcpu_setup(&tv, vm.crosvm, 0, &hv_ops, NULL);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);
	TEST_ASSERT(nr_synic == 3, "%u SynIC events", nr_synic);
	test_vm_destroy(&vm);
	return 0;
}
