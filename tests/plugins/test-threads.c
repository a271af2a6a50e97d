// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Connections made with crosvm_new_connection and used from other threads
 * while the guest runs: each worker thread has its own connection and
 * hammers the host with reservations, io events (whose ids come from the
 * shared counter, so a collision would show up as -EEXIST), extension
 * checks and PIC reads, while the main thread answers the guest's 200 port
 * reads.  Also: the workers see the same vcpu handles.
 */
#include <pthread.h>

#include "testlib.h"

GUEST_DECLARE(threads);

#define NR_WORKERS 3
#define ITERATIONS 40
#define GUEST_PORT 0x600

struct worker {
	struct crosvm *conn;
	struct crosvm_vcpu *vcpu0;
	unsigned index;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct crosvm_vcpu *vcpu;
	struct crosvm_io *io[4];
	struct kvm_pic_state pic;
	uint64_t port = 0x700 + 0x10 * w->index;
	uint8_t dm = (uint8_t)w->index;
	bool has;

	TEST_OK(crosvm_get_vcpu(w->conn, 0, &vcpu));
	TEST_ASSERT(vcpu == w->vcpu0, "worker %u: vcpu handle differs", w->index);
	for (unsigned i = 0; i < ITERATIONS; i++) {
		TEST_OK(crosvm_reserve_range(w->conn, CROSVM_ADDRESS_SPACE_IOPORT, port, 4));
		for (unsigned k = 0; k < 4; k++)
			TEST_OK(crosvm_create_io_event(w->conn, CROSVM_ADDRESS_SPACE_IOPORT,
						       port + 8 + k, 1, &dm, &io[k]));
		has = false;
		TEST_OK(crosvm_check_extension(w->conn, KVM_CAP_IRQCHIP, &has));
		TEST_ASSERT(has, "worker %u: no irqchip", w->index);
		TEST_OK(crosvm_get_pic_state(w->conn, true, &pic));
		for (unsigned k = 0; k < 4; k++)
			TEST_OK(crosvm_destroy_io_event(w->conn, &io[k]));
		TEST_OK(crosvm_reserve_range(w->conn, CROSVM_ADDRESS_SPACE_IOPORT, port, 0));
	}
	TEST_OK(crosvm_destroy_connection(&w->conn));
	return NULL;
}

static uint16_t next_value;

static bool threads_io(struct test_vcpu *tv, struct crosvm_vcpu_event *ev)
{
	(void)tv;
	if (ev->io_access.address != GUEST_PORT || ev->io_access.is_write ||
	    ev->io_access.length != 2)
		return false;
	memcpy(ev->io_access.data, &next_value, 2);
	next_value++;
	return true;
}

static const struct test_vcpu_ops threads_ops = {
	.io = threads_io,
};

int main(void)
{
	struct worker workers[NR_WORKERS];
	pthread_t threads[NR_WORKERS];
	struct test_vcpu tv;
	struct test_vm vm;

	test_init("threads");
	test_vm_create(&vm, GUEST_CODE(threads));
	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, GUEST_PORT, 2));
	test_vcpu_setup(&tv, vm.crosvm, 0, &threads_ops, NULL);
	tv.stay_stopped = true;

	for (unsigned i = 0; i < NR_WORKERS; i++) {
		workers[i].index = i;
		workers[i].vcpu0 = tv.vcpu;
		TEST_OK(crosvm_new_connection(vm.crosvm, &workers[i].conn));
	}
	TEST_OK(crosvm_start(vm.crosvm));
	for (unsigned i = 0; i < NR_WORKERS; i++)
		TEST_ASSERT(pthread_create(&threads[i], NULL, worker_main, &workers[i]) == 0,
			    "pthread_create");
	test_vcpu_run(&tv);
	for (unsigned i = 0; i < NR_WORKERS; i++)
		TEST_ASSERT(pthread_join(threads[i], NULL) == 0, "pthread_join");

	TEST_ASSERT(next_value == 200, "%u guest reads", next_value);
	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, GUEST_PORT, 0));
	test_vm_destroy(&vm);
	return 0;
}
