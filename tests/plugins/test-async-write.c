// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Async write ranges: three `out`s to port 0x500 arrive as three no_resume
 * events, read back to back without any resume (the guest never stopped),
 * in order; a read of the range behaves as unreserved and gives 0.
 */
#include "testlib.h"

GUEST_DECLARE(async_write);

#define ASYNC_PORT 0x500

struct async {
	uint8_t values[8];
	unsigned n;
};

static bool async_io(struct test_vcpu *tv, struct crosvm_vcpu_event *ev)
{
	struct async *a = tv->priv;

	TEST_ASSERT(ev->io_access.address_space == CROSVM_ADDRESS_SPACE_IOPORT &&
			    ev->io_access.address == ASYNC_PORT,
		    "access at %#lx", (unsigned long)ev->io_access.address);
	TEST_ASSERT(ev->io_access.is_write && ev->io_access.no_resume && ev->io_access.length == 1,
		    "write %u no_resume %u length %u", ev->io_access.is_write,
		    ev->io_access.no_resume, ev->io_access.length);
	TEST_ASSERT(a->n < sizeof(a->values), "too many async writes");
	a->values[a->n++] = ev->io_access.data[0];
	return true;
}

static const struct test_vcpu_ops async_ops = {
	.io = async_io,
};

int main(void)
{
	struct test_vcpu tv;
	struct test_vm vm;
	struct async a = { 0 };

	test_init("async-write");
	test_vm_create(&vm, GUEST_CODE(async_write));
	TEST_OK(crosvm_reserve_async_write_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT,
						 ASYNC_PORT, 1));
	TEST_RET(-EPERM, crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, ASYNC_PORT,
					      1));
	TEST_RET(-EINVAL, crosvm_reserve_async_write_range(vm.crosvm, 9, ASYNC_PORT, 1));

	test_vcpu_setup(&tv, vm.crosvm, 0, &async_ops, &a);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);

	TEST_ASSERT(a.n == 3 && a.values[0] == 1 && a.values[1] == 2 && a.values[2] == 3,
		    "async writes: %u (%u %u %u)", a.n, a.values[0], a.values[1], a.values[2]);
	/* INIT, three async writes and PORT_DONE; nothing else stopped the guest. */
	TEST_ASSERT(tv.nr_events[CROSVM_VCPU_EVENT_KIND_IO_ACCESS] == 4, "%u io events",
		    tv.nr_events[CROSVM_VCPU_EVENT_KIND_IO_ACCESS]);

	TEST_OK(crosvm_reserve_async_write_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT,
						 ASYNC_PORT, 0));
	TEST_RET(-ENOENT, crosvm_reserve_async_write_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT,
							   ASYNC_PORT, 0));
	test_vm_destroy(&vm);
	return 0;
}
