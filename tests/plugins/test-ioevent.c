// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * ioevents with every datamatch length: 0 (any write) and 1, 2, 4 and 8
 * bytes.  KVM signals the eventfd for matching writes without an exit; the
 * guest also writes non-matching values, which must not count.  Port 0x3f8
 * is reserved as well, so the plugin sees exactly the writes the ioevent
 * did not take.  Then: destroy frees the registration, and bad lengths are
 * refused.
 */
#include <fcntl.h>
#include <unistd.h>

#include "testlib.h"

GUEST_DECLARE(ioevent);

struct ioevent_case {
	const char *what;
	uint32_t space;
	uint64_t addr;
	uint32_t len;
	uint64_t datamatch;
	uint64_t expected;
	struct crosvm_io *io;
};

static struct ioevent_case cases[] = {
	{ "any write at PIO 0x3f0", CROSVM_ADDRESS_SPACE_IOPORT, 0x3f0, 0, 0, 2 },
	{ "byte 0x88 at PIO 0x3f8", CROSVM_ADDRESS_SPACE_IOPORT, 0x3f8, 1, 0x88, 2 },
	{ "word 0x1234 at PIO 0x400", CROSVM_ADDRESS_SPACE_IOPORT, 0x400, 2, 0x1234, 2 },
	{ "dword at PIO 0x404", CROSVM_ADDRESS_SPACE_IOPORT, 0x404, 4, 0xdeadbeef, 1 },
	{ "qword at MMIO 0x30000", CROSVM_ADDRESS_SPACE_MMIO, 0x30000, 8, 0x1122334455667788, 1 },
};

#define NR_CASES (sizeof(cases) / sizeof(cases[0]))

static void create_case(struct crosvm *c, struct ioevent_case *k)
{
	uint8_t dm[8];

	/* The library reads `len` little-endian bytes; the upper ones must be ignored. */
	memcpy(dm, &k->datamatch, sizeof(dm));
	if (k->len && k->len < 8)
		dm[k->len] ^= 0xff;
	TEST_OK(crosvm_create_io_event(c, k->space, k->addr, k->len, dm, &k->io));
	TEST_ASSERT(k->io != NULL, "%s: no object", k->what);
	TEST_ASSERT(crosvm_io_event_fd(k->io) >= 0, "%s: fd %d", k->what,
		    crosvm_io_event_fd(k->io));
}

int main(void)
{
	struct crosvm_io *bad = NULL;
	struct test_vcpu tv;
	struct test_vm vm;
	uint8_t dm[8] = { 0 };
	int fd;

	test_init("ioevent");
	test_vm_create(&vm, GUEST_CODE(ioevent));
	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_SERIAL, 1));
	for (size_t i = 0; i < NR_CASES; i++)
		create_case(vm.crosvm, &cases[i]);

	/* Same address, length and value twice: KVM refuses the duplicate. */
	TEST_RET(-EEXIST, crosvm_create_io_event(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, 0x3f8, 1,
						 (const uint8_t[]){ 0x88 }, &bad));
	TEST_RET(-EINVAL, crosvm_create_io_event(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, 0x3f8, 3,
						 dm, &bad));
	TEST_RET(-EINVAL, crosvm_create_io_event(vm.crosvm, 5, 0x3f8, 1, dm, &bad));
	TEST_ASSERT(bad == NULL, "failed create stored an object");

	test_vcpu_setup(&tv, vm.crosvm, 0, NULL, NULL);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);

	/* Only the non-matching 0x00 write reached the reserved port. */
	TEST_ASSERT(tv.serial_len == 1 && tv.serial[0] == 0, "port 0x3f8 saw %zu bytes",
		    tv.serial_len);
	for (size_t i = 0; i < NR_CASES; i++) {
		uint64_t n = test_eventfd_read(crosvm_io_event_fd(cases[i].io), 0);

		TEST_ASSERT(n == cases[i].expected, "%s: counter %lu, expected %lu",
			    cases[i].what, (unsigned long)n, (unsigned long)cases[i].expected);
	}

	for (size_t i = 0; i < NR_CASES; i++) {
		fd = crosvm_io_event_fd(cases[i].io);
		TEST_OK(crosvm_destroy_io_event(vm.crosvm, &cases[i].io));
		TEST_ASSERT(cases[i].io == NULL, "%s: destroy left the pointer", cases[i].what);
		TEST_ASSERT(fcntl(fd, F_GETFD) < 0 && errno == EBADF,
			    "%s: destroy left the eventfd open", cases[i].what);
	}
	/* Registering again works only because destroy removed the old registration. */
	create_case(vm.crosvm, &cases[1]);
	TEST_OK(crosvm_destroy_io_event(vm.crosvm, &cases[1].io));

	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_SERIAL, 0));
	test_vm_destroy(&vm);
	return 0;
}
