// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * PIO and MMIO reads answered by the plugin, checked by the guest: 1, 2 and
 * 4-byte port reads, a 16-byte string read, MMIO reads and a write, and
 * unreserved reads (zeros).  Also the reserve_range error rules, and that
 * destroying memory really frees its guest physical range.
 */
#include "testlib.h"

GUEST_DECLARE(io_read);

#define PIO_BASE 0x300
#define MMIO_BASE 0x20000

struct io_read {
	uint8_t next_string_byte;
	unsigned string_bytes;
	uint32_t mmio_written;
	unsigned nr_mmio_writes;
};

static bool io_read_io(struct test_vcpu *tv, struct crosvm_vcpu_event *ev)
{
	struct io_read *s = tv->priv;
	uint64_t addr = ev->io_access.address;
	uint32_t len = ev->io_access.length;
	uint32_t v32;

	if (ev->io_access.address_space == CROSVM_ADDRESS_SPACE_IOPORT) {
		TEST_ASSERT(!ev->io_access.is_write, "unexpected PIO write at %#lx",
			    (unsigned long)addr);
		for (uint32_t i = 0; i < len; i++)
			TEST_ASSERT(ev->io_access.data[i] == 0, "read buffer not zeroed");
		if (addr == PIO_BASE) {
			static const uint8_t b = 0x5a;
			static const uint16_t w = 0x1234;
			static const uint32_t l = 0xdeadbeef;

			TEST_ASSERT(len == 1 || len == 2 || len == 4, "PIO read of %u bytes", len);
			memcpy(ev->io_access.data, len == 1 ? (const void *)&b :
						    len == 2 ? (const void *)&w : (const void *)&l,
			       len);
			return true;
		}
		if (addr == PIO_BASE + 4) {
			/* rep insb: KVM may hand over all 16 bytes at once or fewer per exit. */
			TEST_ASSERT(len >= 1 && s->string_bytes + len <= 16,
				    "string read of %u bytes after %u", len, s->string_bytes);
			for (uint32_t i = 0; i < len; i++)
				ev->io_access.data[i] = s->next_string_byte++;
			s->string_bytes += len;
			return true;
		}
		return false;
	}

	TEST_ASSERT(addr >= MMIO_BASE && addr < MMIO_BASE + 0x100, "MMIO at %#lx",
		    (unsigned long)addr);
	if (addr == MMIO_BASE + 0x40) {
		TEST_ASSERT(ev->io_access.is_write && len == 4, "MMIO 0x40: write %u len %u",
			    ev->io_access.is_write, len);
		memcpy(&s->mmio_written, ev->io_access.data, 4);
		s->nr_mmio_writes++;
		return true;
	}
	TEST_ASSERT(!ev->io_access.is_write, "MMIO write at %#lx", (unsigned long)addr);
	if (addr == MMIO_BASE + 0x10) {
		TEST_ASSERT(len == 1, "MMIO 0x10 read of %u bytes", len);
		ev->io_access.data[0] = 0xa5;
		return true;
	}
	if (addr == MMIO_BASE + 0x20) {
		TEST_ASSERT(len == 4, "MMIO 0x20 read of %u bytes", len);
		v32 = 0xcafef00d;
		memcpy(ev->io_access.data, &v32, 4);
		return true;
	}
	return false;
}

static const struct test_vcpu_ops io_read_ops = {
	.io = io_read_io,
};

static void check_reserve_rules(struct crosvm *c)
{
	const uint32_t pio = CROSVM_ADDRESS_SPACE_IOPORT;

	TEST_OK(crosvm_reserve_range(c, pio, PIO_BASE, 8));
	TEST_RET(-EPERM, crosvm_reserve_range(c, pio, PIO_BASE + 2, 1));
	TEST_RET(-EPERM, crosvm_reserve_range(c, pio, PIO_BASE - 2, 4));
	/*
	 * Ends exactly on the first byte of a range: the original missed this (docs/protocol.md
	 * §7.10).
	 */
	TEST_RET(-EPERM, crosvm_reserve_range(c, pio, PIO_BASE - 1, 2));
	TEST_RET(-EPERM, crosvm_reserve_range(c, pio, PIO_BASE, 8));
	TEST_RET(-EPERM, crosvm_reserve_async_write_range(c, pio, PIO_BASE + 7, 1));
	TEST_RET(-ENOENT, crosvm_reserve_range(c, pio, PIO_BASE + 1, 0));
	TEST_RET(-EINVAL, crosvm_reserve_range(c, 7, 0x1000, 1));
	TEST_RET(-EINVAL, crosvm_reserve_range(c, pio, UINT64_MAX, 2));
	/* Adjacent ranges are fine, and the same port in the other space is independent. */
	TEST_OK(crosvm_reserve_range(c, pio, PIO_BASE + 8, 1));
	TEST_OK(crosvm_reserve_range(c, pio, PIO_BASE + 8, 0));
	TEST_OK(crosvm_reserve_range(c, CROSVM_ADDRESS_SPACE_MMIO, PIO_BASE, 8));
	TEST_OK(crosvm_reserve_range(c, CROSVM_ADDRESS_SPACE_MMIO, PIO_BASE, 0));
	TEST_OK(crosvm_reserve_range(c, CROSVM_ADDRESS_SPACE_MMIO, MMIO_BASE, 0x100));
}

int main(void)
{
	struct io_read s = { 0 };
	struct crosvm_memory *again;
	struct test_vcpu tv;
	struct test_vm vm;

	test_init("io-read");
	test_vm_create(&vm, GUEST_CODE(io_read));
	check_reserve_rules(vm.crosvm);

	test_vcpu_setup(&tv, vm.crosvm, 0, &io_read_ops, &s);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);

	TEST_ASSERT(s.string_bytes == 16, "string read gave %u bytes", s.string_bytes);
	for (unsigned i = 0; i < 16; i++)
		TEST_ASSERT(vm.ram.ptr[GUEST_DATA + i] == i, "string byte %u is %u in the guest", i,
			    vm.ram.ptr[GUEST_DATA + i]);
	TEST_ASSERT(s.nr_mmio_writes == 1 && s.mmio_written == 0x8badf00d,
		    "MMIO writes %u, value %#x", s.nr_mmio_writes, s.mmio_written);

	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PIO_BASE, 0));
	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_MMIO, MMIO_BASE, 0));

	/* Overlapping guest memory is refused; after a destroy the range is free again. */
	TEST_RET(-EEXIST, crosvm_create_memory(vm.crosvm, vm.ram.fd, 0, 0x1000, 0x1000, false,
					       false, &again));
	TEST_OK(crosvm_destroy_memory(vm.crosvm, &vm.ram_obj));
	TEST_ASSERT(vm.ram_obj == NULL, "destroy_memory left the pointer");
	TEST_OK(crosvm_create_memory(vm.crosvm, vm.ram.fd, 0, GUEST_MEM_SIZE, 0, false, false,
				     &vm.ram_obj));
	test_vm_destroy(&vm);
	return 0;
}
