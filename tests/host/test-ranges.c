// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/* Unit tests of the reserved-range set and the object table (no KVM needed). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "objects.h"
#include "ranges.h"

/* The worked examples of docs/protocol.md §3.1, in order, on one space. */
static void test_worked_examples(void **state)
{
	struct ranges rs;

	(void)state;
	ranges_init(&rs, 100);
	assert_int_equal(ranges_reserve(&rs, 0x10, 0, false), -EINVAL);
	assert_int_equal(ranges_reserve(&rs, 0x10, 0x10, false), 0);
	assert_int_equal(ranges_reserve(&rs, 0x0f, 0x10, false), -EPERM);
	assert_int_equal(ranges_reserve(&rs, 0x10, 0x10, false), -EPERM);
	assert_int_equal(ranges_reserve(&rs, 0x10, 0x15, false), -EPERM);
	assert_int_equal(ranges_reserve(&rs, 0x12, 0x15, false), -EPERM);
	assert_int_equal(ranges_reserve(&rs, 0x12, 0x01, false), -EPERM);
	assert_int_equal(ranges_reserve(&rs, 0x00, 0x20, false), -EPERM);
	assert_int_equal(ranges_reserve(&rs, 0x20, 0x05, false), 0);
	assert_int_equal(ranges_reserve(&rs, 0x25, 0x05, false), 0);
	assert_int_equal(ranges_reserve(&rs, 0x00, 0x10, false), 0);
	assert_int_equal(rs.n, 4);
	for (size_t i = 1; i < rs.n; i++)
		assert_true(rs.v[i - 1].start + rs.v[i - 1].length <= rs.v[i].start);
	ranges_free(&rs);
}

/*
 * The original let [0x10, len 0x11] overlap [0x20, len 5] at 0x20 (docs/protocol.md §7.10); we
 * refuse.
 */
static void test_off_by_one_rejected(void **state)
{
	struct ranges rs;

	(void)state;
	ranges_init(&rs, 100);
	assert_int_equal(ranges_reserve(&rs, 0x20, 5, false), 0);
	assert_int_equal(ranges_reserve(&rs, 0x10, 0x11, false), -EPERM);
	assert_int_equal(ranges_reserve(&rs, 0x10, 0x10, false), 0);
	ranges_free(&rs);
}

static void test_lookup(void **state)
{
	struct ranges rs;
	const struct range *r;

	(void)state;
	ranges_init(&rs, 100);
	assert_null(ranges_lookup(&rs, 0));
	assert_int_equal(ranges_reserve(&rs, 0x3f8, 8, true), 0);
	assert_int_equal(ranges_reserve(&rs, 0x100, 1, false), 0);
	assert_null(ranges_lookup(&rs, 0xff));
	r = ranges_lookup(&rs, 0x100);
	assert_non_null(r);
	assert_int_equal(r->start, 0x100);
	assert_false(r->async_write);
	assert_null(ranges_lookup(&rs, 0x101));
	r = ranges_lookup(&rs, 0x3ff);
	assert_non_null(r);
	assert_true(r->async_write);
	assert_null(ranges_lookup(&rs, 0x400));
	ranges_free(&rs);
}

static void test_unreserve(void **state)
{
	struct ranges rs;

	(void)state;
	ranges_init(&rs, 100);
	assert_int_equal(ranges_unreserve(&rs, 5), -ENOENT);
	assert_int_equal(ranges_reserve(&rs, 0x10, 0x10, true), 0);
	assert_int_equal(ranges_unreserve(&rs, 0x11), -ENOENT);
	assert_int_equal(ranges_unreserve(&rs, 0x10), 0);
	assert_int_equal(ranges_unreserve(&rs, 0x10), -ENOENT);
	assert_null(ranges_lookup(&rs, 0x10));
	ranges_free(&rs);
}

static void test_top_of_space(void **state)
{
	struct ranges rs;

	(void)state;
	ranges_init(&rs, 100);
	/* Ending exactly at 2^64 is representable and accepted (documented deviation). */
	assert_int_equal(ranges_reserve(&rs, UINT64_MAX - 0xf, 0x10, false), 0);
	assert_non_null(ranges_lookup(&rs, UINT64_MAX));
	assert_int_equal(ranges_reserve(&rs, UINT64_MAX - 0x20, 0x30, false), -EINVAL);
	assert_int_equal(ranges_reserve(&rs, 0, UINT64_MAX, false), -EPERM);
	assert_int_equal(ranges_reserve(&rs, 0, UINT64_MAX - 0xf, false), 0);
	ranges_free(&rs);
}

static void test_cap(void **state)
{
	struct ranges rs;

	(void)state;
	ranges_init(&rs, 3);
	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(ranges_reserve(&rs, i * 10, 1, false), 0);
	assert_int_equal(ranges_reserve(&rs, 100, 1, false), -ENOSPC);
	ranges_free(&rs);
}

static void test_objects(void **state)
{
	struct objects objs;
	struct object o = { .kind = OBJECT_IRQ_EVENT };

	(void)state;
	assert_int_equal(objects_init(&objs, 3, 70), 0);
	for (uint32_t id = 3; id > 0; id--) {
		o.id = id * 100;
		assert_int_equal(objects_insert(&objs, &o), 0);
	}
	assert_int_equal(objects_insert(&objs, &o), -EEXIST);
	o.id = 7;
	assert_int_equal(objects_check_room(&objs), -ENOSPC);
	assert_int_equal(objects_insert(&objs, &o), -ENOSPC);
	assert_non_null(objects_find(&objs, 200));
	assert_null(objects_find(&objs, 201));
	objects_remove(&objs, 200);
	assert_null(objects_find(&objs, 200));
	assert_non_null(objects_find(&objs, 100));
	assert_non_null(objects_find(&objs, 300));
	assert_int_equal(objects_insert(&objs, &o), 0);

	/* Slots: lowest free first, across the 64-bit word boundary, up to the cap. */
	for (int s = 0; s < 70; s++)
		assert_int_equal(objects_slot_alloc(&objs), s);
	assert_int_equal(objects_slot_alloc(&objs), -ENOSPC);
	objects_slot_free(&objs, 65);
	objects_slot_free(&objs, 3);
	assert_int_equal(objects_slot_alloc(&objs), 3);
	assert_int_equal(objects_slot_alloc(&objs), 65);
	objects_free(&objs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_examples),
		cmocka_unit_test(test_off_by_one_rejected),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_unreserve),
		cmocka_unit_test(test_top_of_space),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_objects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
