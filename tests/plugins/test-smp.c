// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Four vcpus (host run with --cpus 4) running at once, each driven by its
 * own plugin thread: the guests meet at a counter in shared memory, then
 * each does 50 write/read round trips on its own port.  The application
 * processors start out waiting for INIT/SIPI, so the plugin makes them
 * runnable through their MP state on INIT.  Each vcpu thread signals the
 * shutdown eventfd when its guest is done; the main thread waits for all
 * four, then tears down.
 */
#include <pthread.h>
#include <string.h>

#include "testlib.h"

GUEST_DECLARE(smp);

#define NR_VCPUS 4
#define PORT_BASE 0x600

struct smp_vcpu {
	struct test_vcpu tv;
	uint32_t nr_vcpus;
	uint16_t expect_write;
	unsigned round_trips;
	pthread_t thread;
};

static void smp_init(struct test_vcpu *tv)
{
	struct smp_vcpu *s = tv->priv;
	struct kvm_mp_state mp;
	struct kvm_regs regs;

	memset(&mp, 0xff, sizeof(mp));
	TEST_OK(crosvm_vcpu_get_mp_state(tv->vcpu, &mp));
	if (tv->id == 0) {
		TEST_ASSERT(mp.mp_state == KVM_MP_STATE_RUNNABLE, "BSP mp_state %u", mp.mp_state);
	} else {
		TEST_ASSERT(mp.mp_state == KVM_MP_STATE_UNINITIALIZED, "AP %u mp_state %u",
			    tv->id, mp.mp_state);
		mp.mp_state = KVM_MP_STATE_RUNNABLE;
		TEST_OK(crosvm_vcpu_set_mp_state(tv->vcpu, &mp));
	}
	TEST_OK(crosvm_vcpu_get_regs(tv->vcpu, &regs));
	regs.rbx = tv->id;
	regs.rcx = s->nr_vcpus;
	TEST_OK(crosvm_vcpu_set_regs(tv->vcpu, &regs));
}

static bool smp_io(struct test_vcpu *tv, struct crosvm_vcpu_event *ev)
{
	struct smp_vcpu *s = tv->priv;
	uint16_t v;

	TEST_ASSERT(ev->io_access.address == PORT_BASE + tv->id,
		    "vcpu %u accessed port %#lx", tv->id, (unsigned long)ev->io_access.address);
	TEST_ASSERT(ev->io_access.length == 2, "vcpu %u: %u bytes", tv->id, ev->io_access.length);
	if (ev->io_access.is_write) {
		memcpy(&v, ev->io_access.data, 2);
		TEST_ASSERT(v == s->expect_write, "vcpu %u wrote %u, expected %u", tv->id, v,
			    s->expect_write);
		return true;
	}
	v = (uint16_t)(2 * s->expect_write + tv->id);
	memcpy(ev->io_access.data, &v, 2);
	s->expect_write++;
	s->round_trips++;
	return true;
}

static const struct test_vcpu_ops smp_ops = {
	.init = smp_init,
	.io = smp_io,
};

static void *vcpu_thread(void *arg)
{
	struct smp_vcpu *s = arg;

	test_vcpu_run(&s->tv);
	return NULL;
}

int main(void)
{
	static struct smp_vcpu vcpus[NR_VCPUS];
	struct crosvm_vcpu *none;
	struct test_vm vm;
	uint64_t done = 0;
	uint16_t meetings;

	test_init("smp");
	test_vm_create(&vm, GUEST_CODE(smp));
	TEST_ASSERT(vm.nr_vcpus == NR_VCPUS, "%u vcpus (run with --cpus %d)", vm.nr_vcpus,
		    NR_VCPUS);
	TEST_RET(-ENOENT, crosvm_get_vcpu(vm.crosvm, NR_VCPUS, &none));
	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_BASE, NR_VCPUS));

	for (uint32_t i = 0; i < NR_VCPUS; i++) {
		test_vcpu_setup(&vcpus[i].tv, vm.crosvm, i, &smp_ops, &vcpus[i]);
		vcpus[i].nr_vcpus = NR_VCPUS;
		vcpus[i].tv.done_fd = vm.kill_fd;
		vcpus[i].tv.stay_stopped = true;
	}
	/* All four are distinct handles. */
	for (uint32_t i = 1; i < NR_VCPUS; i++)
		TEST_ASSERT(vcpus[i].tv.vcpu != vcpus[i - 1].tv.vcpu, "vcpu handles repeat");

	TEST_OK(crosvm_start(vm.crosvm));
	for (uint32_t i = 0; i < NR_VCPUS; i++)
		TEST_ASSERT(pthread_create(&vcpus[i].thread, NULL, vcpu_thread, &vcpus[i]) == 0,
			    "pthread_create");

	while (done < NR_VCPUS) {
		uint64_t n = test_eventfd_read(vm.kill_fd, 6000);

		TEST_ASSERT(n > 0, "only %lu of %d vcpus finished", (unsigned long)done, NR_VCPUS);
		done += n;
	}
	for (uint32_t i = 0; i < NR_VCPUS; i++) {
		TEST_ASSERT(pthread_join(vcpus[i].thread, NULL) == 0, "pthread_join");
		TEST_ASSERT(vcpus[i].round_trips == 50, "vcpu %u: %u round trips", i,
			    vcpus[i].round_trips);
	}
	memcpy(&meetings, vm.ram.ptr + GUEST_DATA, sizeof(meetings));
	TEST_ASSERT(meetings == NR_VCPUS, "meeting counter %u", meetings);

	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_BASE, 0));
	test_vm_destroy(&vm);
	return 0;
}
