// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "objects.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int objects_init(struct objects *objs, size_t max_objects, uint32_t max_slots)
{
	memset(objs, 0, sizeof(*objs));
	objs->max = max_objects;
	objs->max_slots = max_slots;
	objs->slots = calloc((max_slots + 63) / 64, sizeof(uint64_t));
	return objs->slots ? 0 : -ENOMEM;
}

void objects_free(struct objects *objs)
{
	free(objs->v);
	free(objs->slots);
	memset(objs, 0, sizeof(*objs));
}

/* Index of the first object with id >= id. */
static size_t objects_lower(const struct objects *objs, uint32_t id)
{
	size_t lo = 0, hi = objs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (objs->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct object *objects_find(struct objects *objs, uint32_t id)
{
	size_t i = objects_lower(objs, id);

	return i < objs->n && objs->v[i].id == id ? &objs->v[i] : NULL;
}

int objects_check_room(const struct objects *objs)
{
	return objs->n >= objs->max ? -ENOSPC : 0;
}

int objects_insert(struct objects *objs, const struct object *obj)
{
	size_t i = objects_lower(objs, obj->id);
	struct object *nv;

	if (i < objs->n && objs->v[i].id == obj->id)
		return -EEXIST;
	if (objs->n >= objs->max)
		return -ENOSPC;
	nv = grow_array(objs->v, &objs->cap, objs->n + 1, sizeof(*objs->v), 16);
	if (!nv)
		return -ENOMEM;
	objs->v = nv;
	memmove(&objs->v[i + 1], &objs->v[i], (objs->n - i) * sizeof(*objs->v));
	objs->v[i] = *obj;
	objs->n++;
	return 0;
}

void objects_remove(struct objects *objs, uint32_t id)
{
	size_t i = objects_lower(objs, id);

	if (i >= objs->n || objs->v[i].id != id)
		return;
	memmove(&objs->v[i], &objs->v[i + 1], (objs->n - i - 1) * sizeof(*objs->v));
	objs->n--;
}

int objects_slot_alloc(struct objects *objs)
{
	for (uint32_t w = 0; w < (objs->max_slots + 63) / 64; w++) {
		uint64_t free_bits = ~objs->slots[w];
		uint32_t slot;

		if (!free_bits)
			continue;
		slot = w * 64 + (uint32_t)__builtin_ctzll(free_bits);
		if (slot >= objs->max_slots)
			break;
		objs->slots[w] |= 1ull << (slot % 64);
		return (int)slot;
	}
	return -ENOSPC;
}

void objects_slot_free(struct objects *objs, uint32_t slot)
{
	if (slot < objs->max_slots)
		objs->slots[slot / 64] &= ~(1ull << (slot % 64));
}
