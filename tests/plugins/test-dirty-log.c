// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Dirty logging and read-only memory.  Guest RAM is a 0x9000-byte region at
 * 0 with dirty logging (docs/protocol.md Appendix A): after the guest writes
 * 0x8000 the 2-byte bitmap is {0x00, 0x01}, and reading it clears it.  A
 * read-only region at 0x20000 reads as its memfd contents, and a guest
 * write to it is an MMIO exit (reserved here, so the plugin sees it) that
 * leaves the memory unchanged.
 */
#include "testlib.h"

GUEST_DECLARE(dirty_log);

#define RAM_SIZE 0x9000
#define ROM_BASE 0x20000

struct dirty {
	struct crosvm *c;
	struct crosvm_memory *ram;
	unsigned nr_rom_writes;
};

static void expect_log(struct dirty *d, uint8_t b0, uint8_t b1)
{
	/* Poisoned, and one byte longer than the log, to catch short and long copies. */
	uint8_t log[3] = { 0xee, 0xee, 0xee };

	TEST_OK(crosvm_memory_get_dirty_log(d->c, d->ram, log));
	TEST_ASSERT(log[0] == b0 && log[1] == b1 && log[2] == 0xee,
		    "dirty log %02x %02x (%02x), expected %02x %02x", log[0], log[1], log[2], b0,
		    b1);
}

static void dirty_step(struct test_vcpu *tv, uint32_t step)
{
	struct dirty *d = tv->priv;

	switch (step) {
	case 1:
		expect_log(d, 0x00, 0x01);
		expect_log(d, 0x00, 0x00);
		break;
	case 2:
		TEST_ASSERT(d->nr_rom_writes == 1, "%u writes to read-only memory seen",
			    d->nr_rom_writes);
		expect_log(d, 0x04, 0x00);
		break;
	default:
		TEST_ASSERT(false, "unknown step %u", step);
	}
}

static bool dirty_io(struct test_vcpu *tv, struct crosvm_vcpu_event *ev)
{
	struct dirty *d = tv->priv;

	if (ev->io_access.address_space != CROSVM_ADDRESS_SPACE_MMIO ||
	    ev->io_access.address != ROM_BASE)
		return false;
	TEST_ASSERT(ev->io_access.is_write && ev->io_access.length == 1 &&
			    ev->io_access.data[0] == 0x55,
		    "read-only access: write %u length %u", ev->io_access.is_write,
		    ev->io_access.length);
	d->nr_rom_writes++;
	return true;
}

static const struct test_vcpu_ops dirty_ops = {
	.step = dirty_step,
	.io = dirty_io,
};

int main(void)
{
	struct crosvm_memory *rom;
	struct test_memfd ram, romfd;
	struct test_vcpu tv;
	struct dirty d = { 0 };
	uint8_t log[2];

	test_init("dirty-log");
	TEST_OK(crosvm_connect(&d.c));
	test_memfd_create(&ram, RAM_SIZE);
	memcpy(ram.ptr + GUEST_LOAD, GUEST_CODE(dirty_log));
	TEST_OK(crosvm_create_memory(d.c, ram.fd, 0, RAM_SIZE, 0, false, true, &d.ram));

	/* The read-only region comes from the second page of its memfd. */
	test_memfd_create(&romfd, 0x2000);
	romfd.ptr[0x1000] = 0x77;
	TEST_RET(-EINVAL, crosvm_create_memory(d.c, romfd.fd, 0x800, 0x1000, ROM_BASE, true, false,
					       &rom));
	TEST_RET(-EINVAL, crosvm_create_memory(d.c, romfd.fd, 0x2000, 0x1000, ROM_BASE, true, false,
					       &rom));
	TEST_OK(crosvm_create_memory(d.c, romfd.fd, 0x1000, 0x1000, ROM_BASE, true, false, &rom));
	TEST_RET(-ENOENT, crosvm_memory_get_dirty_log(d.c, rom, log));

	TEST_OK(crosvm_reserve_range(d.c, CROSVM_ADDRESS_SPACE_IOPORT, PORT_DONE,
				     PORT_STEP - PORT_DONE + 1));
	TEST_OK(crosvm_reserve_range(d.c, CROSVM_ADDRESS_SPACE_MMIO, ROM_BASE, 0x1000));

	test_vcpu_setup(&tv, d.c, 0, &dirty_ops, &d);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(d.c));
	test_vcpu_run(&tv);
	TEST_ASSERT(romfd.ptr[0x1000] == 0x77, "guest changed read-only memory");
	TEST_ASSERT(ram.ptr[0x8000] == 1 && ram.ptr[0x2000] == 1, "guest writes not in the memfd");

	TEST_OK(crosvm_destroy_memory(d.c, &rom));
	TEST_OK(crosvm_destroy_memory(d.c, &d.ram));
	TEST_OK(crosvm_reserve_range(d.c, CROSVM_ADDRESS_SPACE_MMIO, ROM_BASE, 0));
	TEST_OK(crosvm_reserve_range(d.c, CROSVM_ADDRESS_SPACE_IOPORT, PORT_DONE, 0));
	test_memfd_destroy(&ram);
	test_memfd_destroy(&romfd);
	TEST_OK(crosvm_destroy_connection(&d.c));
	return 0;
}
