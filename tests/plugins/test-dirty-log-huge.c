// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The dirty log of a 64 GiB memory object (a 2 MiB bitmap, far over what one
 * reply datagram carries): the library asks for it in a shared memfd
 * (docs/protocol.md, "Dirty logs in shared memory").  The guest writes pages
 * 0 and 5 of the object, then page 15; each read shows exactly those and
 * clears them.  Forced inline (CROSVM_DIRTY_LOG=inline), the same request is
 * what crosvm's protocol allows: the host refuses it with E2BIG.
 */
#include <stdlib.h>

#include "testlib.h"

GUEST_DECLARE(dirty_log_huge);

#define HUGE_BASE 0x100000ull
#define HUGE_SIZE (64ull << 30)
#define HUGE_PAGES (HUGE_SIZE / 4096)

struct huge {
	struct crosvm *c;
	struct crosvm_memory *mem;
	uint8_t *log;
};

static void expect_pages(struct huge *h, const unsigned *pages, size_t n)
{
	size_t bytes = HUGE_PAGES / 8, set = 0;

	memset(h->log, 0xee, bytes + 1);
	TEST_OK(crosvm_memory_get_dirty_log(h->c, h->mem, h->log));
	TEST_ASSERT(h->log[bytes] == 0xee, "the log overran its %zu bytes", bytes);
	for (size_t i = 0; i < n; i++) {
		TEST_ASSERT(h->log[pages[i] / 8] & (1u << (pages[i] % 8)), "page %u not dirty",
			    pages[i]);
		h->log[pages[i] / 8] &= (uint8_t)~(1u << (pages[i] % 8));
	}
	for (size_t i = 0; i < bytes; i++)
		if (h->log[i])
			set++;
	TEST_ASSERT(set == 0, "%zu bytes of the log have pages the guest did not write", set);
}

static void huge_step(struct test_vcpu *tv, uint32_t step)
{
	static const unsigned first[] = { 0, 5 }, second[] = { 15 };
	struct huge *h = tv->priv;

	switch (step) {
	case 1:
		expect_pages(h, first, 2);
		expect_pages(h, NULL, 0); /* reading cleared it */
		break;
	case 2:
		setenv("CROSVM_DIRTY_LOG", "inline", 1);
		TEST_RET(-E2BIG, crosvm_memory_get_dirty_log(h->c, h->mem, h->log));
		unsetenv("CROSVM_DIRTY_LOG");
		/* The refusal came before KVM_GET_DIRTY_LOG: page 15 is still dirty. */
		expect_pages(h, second, 1);
		break;
	default:
		TEST_ASSERT(false, "unknown step %u", step);
	}
}

static const struct test_vcpu_ops huge_ops = {
	.step = huge_step,
};

int main(void)
{
	struct test_memfd big;
	struct test_vcpu tv;
	struct test_vm vm;
	struct huge h = { 0 };

	test_init("dirty-log-huge");
	unsetenv("CROSVM_DIRTY_LOG");
	test_vm_create(&vm, GUEST_CODE(dirty_log_huge));
	h.c = vm.crosvm;
	test_memfd_create(&big, HUGE_SIZE); /* sparse: only the written pages exist */
	TEST_OK(crosvm_create_memory(h.c, big.fd, 0, HUGE_SIZE, HUGE_BASE, false, true, &h.mem));
	h.log = malloc(HUGE_PAGES / 8 + 1);
	TEST_ASSERT(h.log, "malloc");

	test_vcpu_setup(&tv, h.c, 0, &huge_ops, &h);
	tv.stay_stopped = true;
	TEST_OK(crosvm_start(h.c));
	test_vcpu_run(&tv);
	TEST_ASSERT(big.ptr[0] == 1 && big.ptr[0x5000] == 1 && big.ptr[0xf000] == 1,
		    "guest writes not in the memfd");

	TEST_OK(crosvm_destroy_memory(h.c, &h.mem));
	test_memfd_destroy(&big);
	free(h.log);
	test_vm_destroy(&vm);
	return 0;
}
