/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The VM's id -> object table (io events, memory, irq events), shared by all
 * main connections, and the memory slot allocator.  Pure bookkeeping: the
 * KVM side of each object lives in vm.c.  Used by the main thread only.
 */
#ifndef PLUGVM_HOST_OBJECTS_H
#define PLUGVM_HOST_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum object_kind {
	OBJECT_IO_EVENT,
	OBJECT_MEMORY,
	OBJECT_IRQ_EVENT,
	OBJECT_KIND_MAX,
};

struct object {
	uint32_t id;
	enum object_kind kind;
	union {
		struct {
			int fd; /* the eventfd, also sent to the plugin */
			uint64_t addr;
			uint32_t len;
			uint64_t datamatch;
			bool pio;
		} io;
		struct {
			void *map;
			uint64_t length;
			uint64_t start;
			uint32_t slot;
			bool dirty_log;
			/* The plugin's shared dirty-log memfd, mapped on first use (vm.c). */
			void *log_map;
			uint64_t log_bytes;
			dev_t log_dev;
			ino_t log_ino;
		} mem;
		struct {
			int fd; /* the trigger eventfd; the resample fd is not kept */
			uint32_t gsi;
		} irq;
	};
};

struct objects {
	struct object *v; /* sorted by id */
	size_t n;
	size_t cap;
	size_t max;
	uint64_t *slots; /* bit set = slot in use */
	uint32_t max_slots;
};

int objects_init(struct objects *objs, size_t max_objects, uint32_t max_slots);
/* Frees the table only; the caller releases each object's resources first. */
void objects_free(struct objects *objs);

struct object *objects_find(struct objects *objs, uint32_t id);

/* Copies *obj into the table.  Returns 0, -EEXIST, -ENOSPC (cap) or -ENOMEM. */
int objects_insert(struct objects *objs, const struct object *obj);

/* Returns 0 or -ENOSPC when the table is full, without changing anything. */
int objects_check_room(const struct objects *objs);

/* Removes the object with that id, if any. */
void objects_remove(struct objects *objs, uint32_t id);

/* Takes the lowest free memory slot.  Returns it, or -ENOSPC. */
int objects_slot_alloc(struct objects *objs);
void objects_slot_free(struct objects *objs, uint32_t slot);

#endif /* PLUGVM_HOST_OBJECTS_H */
