// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * irqfd with resample: the guest programs the PIC and an IVT entry for IRQ 5
 * (vector 0x25); at step 1 the plugin writes the trigger eventfd, and the
 * guest's handler runs once (the line is level-triggered and must be
 * lowered on EOI, or the handler would run again).  The EOI must fire the
 * resample eventfd, which step 2 checks before raising the line again.
 */
#include <fcntl.h>
#include <unistd.h>

#include "testlib.h"

GUEST_DECLARE(irqfd);

#define IRQ 5

static struct crosvm_irq *irq;

static void irqfd_step(struct test_vcpu *tv, uint32_t step)
{
	int resample = crosvm_irq_event_get_resample_fd(irq);
	int trigger = crosvm_irq_event_get_fd(irq);

	switch (step) {
	case 1:
		TEST_ASSERT(!test_eventfd_pending(resample), "resample fired before any interrupt");
		test_eventfd_signal(trigger);
		break;
	case 2:
		TEST_ASSERT(tv->nr_reports == 1 && tv->reports[0] == 1,
			    "handler ran %lu times after the first trigger",
			    (unsigned long)(tv->nr_reports ? tv->reports[0] : 0));
		TEST_ASSERT(test_eventfd_read(resample, 1000) == 1,
			    "resample eventfd did not fire after EOI");
		test_eventfd_signal(trigger);
		break;
	default:
		TEST_ASSERT(false, "unknown step %u", step);
	}
}

static const struct test_vcpu_ops irqfd_ops = {
	.step = irqfd_step,
};

int main(void)
{
	struct test_vcpu tv;
	struct test_vm vm;
	int trigger, resample;

	test_init("irqfd");
	test_vm_create(&vm, GUEST_CODE(irqfd));
	TEST_OK(crosvm_create_irq_event(vm.crosvm, IRQ, &irq));
	TEST_ASSERT(irq != NULL, "no irq object");
	trigger = crosvm_irq_event_get_fd(irq);
	resample = crosvm_irq_event_get_resample_fd(irq);
	TEST_ASSERT(trigger >= 0 && resample >= 0 && trigger != resample, "fds %d %d", trigger,
		    resample);

	test_vcpu_setup(&tv, vm.crosvm, 0, &irqfd_ops, NULL);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);

	TEST_ASSERT(tv.nr_reports == 2 && tv.reports[1] == 2, "handler count %lu after two triggers",
		    (unsigned long)(tv.nr_reports == 2 ? tv.reports[1] : 0));
	TEST_ASSERT(test_eventfd_read(resample, 1000) == 1, "second EOI did not resample");

	TEST_OK(crosvm_destroy_irq_event(vm.crosvm, &irq));
	TEST_ASSERT(irq == NULL, "destroy left the pointer");
	TEST_ASSERT(fcntl(trigger, F_GETFD) < 0 && fcntl(resample, F_GETFD) < 0,
		    "destroy left the eventfds open");
	test_vm_destroy(&vm);
	return 0;
}
