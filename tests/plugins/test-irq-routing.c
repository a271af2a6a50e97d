// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * crosvm_set_irq and crosvm_set_irq_routing, observed by the guest: GSI 5
 * first reaches vector 0x25 through KVM's default routes; after the plugin
 * routes GSI 5 to PIC pin 6 it reaches vector 0x26 instead; GSI 30, routed
 * as an MSI to vector 0x40, reaches the guest once its local APIC is
 * software-enabled.
 */
#include "testlib.h"

GUEST_DECLARE(irq_routing);

#define GSI 5
#define MSI_GSI 30
#define MSI_VECTOR 0x40
#define APIC_SPIV 0xf0

static void routing_step(struct test_vcpu *tv, uint32_t step)
{
	struct crosvm *c = tv->priv;
	struct crosvm_irq_route routes[2];
	struct kvm_lapic_state lapic;
	uint32_t spiv;

	switch (step) {
	case 1:
		TEST_OK(crosvm_set_irq(c, GSI, true));
		break;
	case 2:
		TEST_OK(crosvm_set_irq(c, GSI, false));
		memset(routes, 0, sizeof(routes));
		routes[0].irq_id = GSI;
		routes[0].kind = CROSVM_IRQ_ROUTE_IRQCHIP;
		routes[0].irqchip.irqchip = KVM_IRQCHIP_PIC_MASTER;
		routes[0].irqchip.pin = 6;
		routes[1].irq_id = MSI_GSI;
		routes[1].kind = CROSVM_IRQ_ROUTE_MSI;
		routes[1].msi.address = 0xfee00000;
		routes[1].msi.data = MSI_VECTOR;
		/* An unknown kind is refused before anything is sent. */
		routes[1].kind = 7;
		TEST_RET(-EINVAL, crosvm_set_irq_routing(c, 2, routes));
		routes[1].kind = CROSVM_IRQ_ROUTE_MSI;
		TEST_OK(crosvm_set_irq_routing(c, 2, routes));
		TEST_OK(crosvm_set_irq(c, GSI, true));
		break;
	case 3:
		TEST_OK(crosvm_set_irq(c, GSI, false));
		/* MSIs go through the local APIC, which is software-disabled at reset. */
		TEST_OK(crosvm_vcpu_get_lapic_state(tv->vcpu, &lapic));
		memcpy(&spiv, &lapic.regs[APIC_SPIV], 4);
		spiv |= 0x1ff;
		memcpy(&lapic.regs[APIC_SPIV], &spiv, 4);
		TEST_OK(crosvm_vcpu_set_lapic_state(tv->vcpu, &lapic));
		TEST_OK(crosvm_set_irq(c, MSI_GSI, true));
		break;
	default:
		TEST_ASSERT(false, "unknown step %u", step);
	}
}

static const struct test_vcpu_ops routing_ops = {
	.step = routing_step,
};

int main(void)
{
	struct test_vcpu tv;
	struct test_vm vm;

	test_init("irq-routing");
	test_vm_create(&vm, GUEST_CODE(irq_routing));
	test_vcpu_setup(&tv, vm.crosvm, 0, &routing_ops, vm.crosvm);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);

	/* An empty table (which drops even the default routes) is a valid request. */
	TEST_OK(crosvm_set_irq_routing(vm.crosvm, 0, NULL));
	test_vm_destroy(&vm);
	return 0;
}
