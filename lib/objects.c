// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "private.h"

#define PAGE_SIZE 4096u

/* Sends Create{id, <constructor>} and frees the id again if that fails. */
static int create_object(struct crosvm *self, Plugvm__MainRequest__Create *create, const int *fds,
			 size_t nfds, struct conn_reply *r)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	int ret;

	ret = ids_alloc(self->fam, &create->id);
	if (ret)
		return ret;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CREATE;
	req.create = create;
	ret = conn_transact(self, &req, fds, nfds, WIRE_MAIN_RESPONSE_MAX, r);
	if (ret)
		ids_free(self->fam, create->id);
	return ret;
}

static int destroy_object(struct crosvm *self, uint32_t id)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Destroy m = PLUGVM__MAIN_REQUEST__DESTROY__INIT;
	int ret;

	m.id = id;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DESTROY;
	req.destroy = &m;
	ret = conn_simple(self, &req);
	if (ret == 0)
		ids_free(self->fam, id);
	return ret;
}

EXPORT int crosvm_create_io_event(struct crosvm *self, uint32_t space, uint64_t addr, uint32_t len,
				  const uint8_t *datamatch, struct crosvm_io **out)
{
	Plugvm__MainRequest__Create create = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	Plugvm__MainRequest__Create__IoEvent m = PLUGVM__MAIN_REQUEST__CREATE__IO_EVENT__INIT;
	struct conn_reply r;
	struct crosvm_io *io;
	uint64_t dm = 0;
	int ret, fd;

	if (!self || !out || space > CROSVM_ADDRESS_SPACE_MMIO)
		return -EINVAL;
	if (len != 0 && len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	if (len > 0) {
		if (!datamatch)
			return -EINVAL;
		/* The guest's value as KVM compares it: len bytes, little endian, any alignment. */
		memcpy(&dm, datamatch, len);
	}
	io = calloc(1, sizeof(*io));
	if (!io)
		return -ENOMEM;

	m.space = (Plugvm__AddressSpace)space;
	m.address = addr;
	m.length = len;
	m.datamatch = dm;
	create.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_IO_EVENT;
	create.io_event = &m;
	ret = create_object(self, &create, NULL, 0, &r);
	if (ret)
		goto err_free;
	fd = reply_take_last_fd(&r);
	reply_release(&r);
	if (fd < 0) {
		/* The host has the object; we cannot use it without its eventfd. */
		ret = fd;
		goto err_free;
	}
	io->id = create.id;
	io->fd = fd;
	*out = io;
	return 0;

err_free:
	free(io);
	return ret;
}

EXPORT int crosvm_destroy_io_event(struct crosvm *self, struct crosvm_io **io)
{
	int ret;

	if (!self || !io || !*io)
		return -EINVAL;
	ret = destroy_object(self, (*io)->id);
	if (ret)
		return ret;
	close((*io)->fd);
	free(*io);
	*io = NULL;
	return 0;
}

EXPORT int crosvm_io_event_fd(struct crosvm_io *io)
{
	if (!io)
		return -EINVAL;
	return io->fd;
}

EXPORT int crosvm_create_memory(struct crosvm *self, int fd, uint64_t offset, uint64_t length,
				uint64_t start, bool read_only, bool dirty_log,
				struct crosvm_memory **out)
{
	Plugvm__MainRequest__Create create = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	Plugvm__MainRequest__Create__Memory m = PLUGVM__MAIN_REQUEST__CREATE__MEMORY__INIT;
	struct crosvm_memory *mem;
	struct conn_reply r;
	int ret;

	if (!self || !out)
		return -EINVAL;
	if ((offset & (PAGE_SIZE - 1)) || (length & (PAGE_SIZE - 1)))
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;

	m.offset = offset;
	m.start = start;
	m.length = length;
	m.read_only = read_only;
	m.dirty_log = dirty_log;
	create.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_MEMORY;
	create.memory = &m;
	ret = create_object(self, &create, &fd, 1, &r);
	if (ret) {
		free(mem);
		return ret;
	}
	reply_release(&r);
	mem->id = create.id;
	mem->length = length;
	mem->dirty_fd = -1;
	pthread_mutex_init(&mem->dirty_lock, NULL);
	*out = mem;
	return 0;
}

EXPORT int crosvm_destroy_memory(struct crosvm *self, struct crosvm_memory **mem)
{
	int ret;

	if (!self || !mem || !*mem)
		return -EINVAL;
	ret = destroy_object(self, (*mem)->id);
	if (ret)
		return ret;
	if ((*mem)->dirty_map)
		munmap((*mem)->dirty_map, (size_t)(*mem)->dirty_bytes);
	if ((*mem)->dirty_fd >= 0)
		close((*mem)->dirty_fd);
	pthread_mutex_destroy(&(*mem)->dirty_lock);
	free(*mem);
	*mem = NULL;
	return 0;
}

/* ceil(ceil(length / 4096) / 8): one bit per page (docs/protocol.md §3.4). */
static uint64_t dirty_log_size(uint64_t length)
{
	uint64_t pages = length / PAGE_SIZE + (length % PAGE_SIZE != 0);

	return pages / 8 + (pages % 8 != 0);
}

/*
 * Logs from this size up travel in a shared memfd when the host offers it
 * (plugvm extension; docs/protocol.md, "Dirty logs in shared memory"): 16 KiB
 * of bitmap, 512 MiB of guest memory.  Smaller ones go inline, byte for byte
 * as with crosvm.  CROSVM_DIRTY_LOG=shared or inline forces either way.
 */
#define DIRTY_SHARED_MIN (16u * 1024)

static bool dirty_use_shared(struct crosvm *self, uint64_t size)
{
	const char *env = getenv("CROSVM_DIRTY_LOG");

	if (atomic_load(&self->fam->no_shared_dirty))
		return false;
	if (env && !strcmp(env, "shared"))
		return true;
	if (env && !strcmp(env, "inline"))
		return false;
	return size >= DIRTY_SHARED_MIN;
}

/* The memfd KVM writes whole 64-bit words into; made once per memory object. */
static int dirty_map_get(struct crosvm_memory *mem, uint64_t size)
{
	uint64_t bytes = (size + 7) / 8 * 8;
	void *map;
	int fd;

	if (mem->dirty_map)
		return 0;
	if (bytes > SIZE_MAX)
		return -E2BIG;
	fd = memfd_create("crosvm-dirty-log", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)bytes) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	map = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		int r = -errno;

		close(fd);
		return r;
	}
	mem->dirty_fd = fd;
	mem->dirty_map = map;
	mem->dirty_bytes = bytes;
	return 0;
}

EXPORT int crosvm_memory_get_dirty_log(struct crosvm *self, struct crosvm_memory *mem,
				       uint8_t *log)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__MemoryDirtyLog m = PLUGVM__MAIN_REQUEST__MEMORY_DIRTY_LOG__INIT;
	const Plugvm__MainResponse__MemoryDirtyLog *d;
	uint64_t size;
	size_t max_reply;
	struct conn_reply r;
	bool shared;
	int ret;

	if (!self || !mem || !log)
		return -EINVAL;
	/*
	 * An inline reply holds the bitmap plus a few bytes of framing; size the
	 * receive limit from the object so that whatever the host sends fits.
	 */
	size = dirty_log_size(mem->length);
	if (size > SIZE_MAX - 64)
		return -E2BIG;
	max_reply = size + 64 > WIRE_MAIN_RESPONSE_MAX ? size + 64 : WIRE_MAIN_RESPONSE_MAX;
	m.id = mem->id;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DIRTY_LOG;
	req.dirty_log = &m;
	shared = dirty_use_shared(self, size);
	pthread_mutex_lock(&mem->dirty_lock);
	if (shared) {
		ret = dirty_map_get(mem, size);
		if (ret)
			goto out;
		m.shared = true;
	}
	ret = conn_transact(self, &req, shared ? &mem->dirty_fd : NULL, shared ? 1 : 0, max_reply,
			    &r);
	if (ret)
		goto out;
	d = r.msg->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE_DIRTY_LOG ? r.msg->dirty_log :
									      NULL;
	if (d && shared && d->shared && !d->bitmap.len) {
		memcpy(log, mem->dirty_map, size);
	} else if (d && !d->shared && d->bitmap.len == size) {
		/* A host without the extension ignored it and answered inline. */
		if (shared)
			atomic_store(&self->fam->no_shared_dirty, true);
		if (size)
			memcpy(log, d->bitmap.data, size);
	} else {
		ret = -EPROTO;
	}
	reply_release(&r);
out:
	pthread_mutex_unlock(&mem->dirty_lock);
	return ret;
}

/*
 * An irq event: with resample (crosvm's kind) the reply's last two
 * descriptors are [trigger, resample]; an edge one (the API 0.23 extension,
 * Create constructor 1000) brings the trigger alone.  Extras are closed.
 */
static int create_irq_event(struct crosvm *self, uint32_t irq_id, bool edge,
			    struct crosvm_irq **out)
{
	Plugvm__MainRequest__Create create = PLUGVM__MAIN_REQUEST__CREATE__INIT;
	Plugvm__MainRequest__Create__IrqEvent m = PLUGVM__MAIN_REQUEST__CREATE__IRQ_EVENT__INIT;
	struct conn_reply r;
	struct crosvm_irq *irq;
	int ret;

	if (!self || !out)
		return -EINVAL;
	irq = calloc(1, sizeof(*irq));
	if (!irq)
		return -ENOMEM;

	m.irq_id = irq_id;
	if (edge) {
		create.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_EDGE_IRQ_EVENT;
		create.edge_irq_event = &m;
	} else {
		m.resample = true;
		create.constructor_case = PLUGVM__MAIN_REQUEST__CREATE__CONSTRUCTOR_IRQ_EVENT;
		create.irq_event = &m;
	}
	ret = create_object(self, &create, NULL, 0, &r);
	if (ret)
		goto err_free;
	if (r.nfds < (edge ? 1u : 2u)) {
		reply_release(&r);
		ret = -EPROTO;
		goto err_free;
	}
	irq->resample_fd = edge ? -1 : reply_take_last_fd(&r);
	irq->trigger_fd = reply_take_last_fd(&r);
	reply_release(&r);
	irq->id = create.id;
	*out = irq;
	return 0;

err_free:
	free(irq);
	return ret;
}

EXPORT int crosvm_create_irq_event(struct crosvm *self, uint32_t irq_id, struct crosvm_irq **out)
{
	return create_irq_event(self, irq_id, false, out);
}

EXPORT int crosvm_create_edge_irq_event(struct crosvm *self, uint32_t irq_id,
					struct crosvm_irq **out)
{
	return create_irq_event(self, irq_id, true, out);
}

EXPORT int crosvm_destroy_irq_event(struct crosvm *self, struct crosvm_irq **irq)
{
	int ret;

	if (!self || !irq || !*irq)
		return -EINVAL;
	ret = destroy_object(self, (*irq)->id);
	if (ret)
		return ret;
	close((*irq)->trigger_fd);
	if ((*irq)->resample_fd >= 0)
		close((*irq)->resample_fd);
	free(*irq);
	*irq = NULL;
	return 0;
}

EXPORT int crosvm_irq_event_get_fd(const struct crosvm_irq *irq)
{
	if (!irq)
		return -EINVAL;
	return irq->trigger_fd;
}

EXPORT int crosvm_irq_event_get_resample_fd(const struct crosvm_irq *irq)
{
	if (!irq)
		return -EINVAL;
	return irq->resample_fd;
}
