// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The API 0.23 extensions (docs/api.md "Extensions (0.23)",
 * docs/protocol.md "Extensions"): those on the main connection, and the
 * vcpu kick and timed wait, which live in the library alone and work over
 * both vcpu channels with any host (their receive side is chan.c's).
 * crosvm_create_edge_irq_event() lives with the other irq event calls in
 * objects.c.
 */
#include <errno.h>
#include <unistd.h>

#include "chan.h"
#include "ext-bits.h"
#include "private.h"
#include "shm-chan.h"

_Static_assert(CROSVM_EXTENSION_EDGE_IRQ_EVENT == PLUGVM_EXT_EDGE_IRQ_EVENT, "bit differs");
_Static_assert(CROSVM_EXTENSION_DEFAULT_CPUID == PLUGVM_EXT_DEFAULT_CPUID, "bit differs");
_Static_assert(CROSVM_EXTENSION_RESET == PLUGVM_EXT_RESET, "bit differs");
_Static_assert(CROSVM_EXTENSION_IO_DETAILS == PLUGVM_EXT_IO_DETAILS, "bit differs");
_Static_assert(CROSVM_EXTENSION_RANGE_MODE == PLUGVM_EXT_RANGE_MODE, "bit differs");
_Static_assert(CROSVM_EXTENSION_MEMORY_READ_ONLY == PLUGVM_EXT_MEMORY_READ_ONLY, "bit differs");
_Static_assert(CROSVM_EXTENSION_XSAVE == PLUGVM_EXT_XSAVE, "bit differs");
_Static_assert(CROSVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ == PLUGVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ,
	       "mode differs");
_Static_assert(CROSVM_RESET_TRIPLE_FAULT == PLUGVM_RESET_TRIPLE_FAULT, "reason differs");
_Static_assert((PLUGVM_EXT_ALL & CROSVM_EXTENSION_VCPU_KICK) == 0, "a host bit is the library's");

/* What this library offers by itself, whatever the host says. */
#define LIBRARY_EXTENSIONS CROSVM_EXTENSION_VCPU_KICK

EXPORT int crosvm_get_extensions(struct crosvm *self, uint64_t *mask)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Extensions m = PLUGVM__MAIN_REQUEST__EXTENSIONS__INIT;
	struct conn_reply r;
	int ret;

	if (!self || !mask)
		return -EINVAL;
	*mask = 0;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_EXTENSIONS;
	req.extensions = &m;
	ret = conn_transact(self, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	/* A host that does not know the request has no extensions. */
	if (ret == -ENOTTY) {
		*mask = LIBRARY_EXTENSIONS;
		return 0;
	}
	if (ret)
		return ret;
	if (r.msg->message_case != PLUGVM__MAIN_RESPONSE__MESSAGE_EXTENSIONS)
		ret = -EPROTO;
	else
		*mask = (r.msg->extensions->mask & ~LIBRARY_EXTENSIONS) | LIBRARY_EXTENSIONS;
	reply_release(&r);
	return ret;
}

EXPORT int crosvm_enable_default_cpuid(struct crosvm *self)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__DefaultCpuid m = PLUGVM__MAIN_REQUEST__DEFAULT_CPUID__INIT;

	if (!self)
		return -EINVAL;
	m.enable = true;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_DEFAULT_CPUID;
	req.default_cpuid = &m;
	return conn_simple(self, &req);
}

EXPORT int crosvm_enable_reset_events(struct crosvm *self)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__ResetEvents m = PLUGVM__MAIN_REQUEST__RESET_EVENTS__INIT;

	if (!self)
		return -EINVAL;
	m.enable = true;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_RESET_EVENTS;
	req.reset_events = &m;
	return conn_simple(self, &req);
}

EXPORT int crosvm_enable_io_details(struct crosvm *self)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__IoDetails m = PLUGVM__MAIN_REQUEST__IO_DETAILS__INIT;

	if (!self)
		return -EINVAL;
	m.enable = true;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_IO_DETAILS;
	req.io_details = &m;
	return conn_simple(self, &req);
}

EXPORT int crosvm_reserve_range_mode(struct crosvm *self, uint32_t space, uint64_t start,
				     uint64_t length, uint32_t mode)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__ReserveRangeMode m = PLUGVM__MAIN_REQUEST__RESERVE_RANGE_MODE__INIT;

	if (!self)
		return -EINVAL;
	m.space = (Plugvm__AddressSpace)space;
	m.start = start;
	m.length = length;
	m.mode = mode;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_RESERVE_RANGE_MODE;
	req.reserve_range_mode = &m;
	return conn_simple(self, &req);
}

EXPORT int crosvm_memory_set_read_only(struct crosvm *self, struct crosvm_memory *mem,
				       bool read_only)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__MemoryReadOnly m = PLUGVM__MAIN_REQUEST__MEMORY_READ_ONLY__INIT;

	if (!self || !mem)
		return -EINVAL;
	m.id = mem->id;
	m.read_only = read_only;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_MEMORY_READ_ONLY;
	req.memory_read_only = &m;
	return conn_simple(self, &req);
}

EXPORT int crosvm_memory_replace(struct crosvm *self, struct crosvm_memory *mem, int fd,
				 uint64_t offset, bool read_only)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__MemoryReplace m = PLUGVM__MAIN_REQUEST__MEMORY_REPLACE__INIT;
	struct conn_reply r;
	int ret;

	if (!self || !mem || offset % 4096)
		return -EINVAL;
	if (fd < 0)
		return -EBADF;
	m.id = mem->id;
	m.offset = offset;
	m.read_only = read_only;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_MEMORY_REPLACE;
	req.memory_replace = &m;
	ret = conn_transact(self, &req, &fd, 1, WIRE_MAIN_RESPONSE_MAX, &r);
	if (ret)
		return ret;
	reply_release(&r);
	return 0;
}

EXPORT int crosvm_vcpu_kick(struct crosvm_vcpu *v)
{
	if (!v)
		return -EINVAL;
	chan_kick(v->chan);
	return 0;
}

EXPORT int crosvm_vcpu_wait_timeout(struct crosvm_vcpu *v, struct crosvm_vcpu_event *ev,
				    int64_t timeout_ns)
{
	int ret;

	if (!v || !ev)
		return -EINVAL;
	/* Negative: no deadline; 0 still looks once.  deadline_ns 0 means none, so never 0. */
	v->chan->deadline_ns = timeout_ns < 0 ? 0 : shm_now_ns() + (uint64_t)timeout_ns;
	ret = crosvm_vcpu_wait(v, ev);
	v->chan->deadline_ns = 0;
	return ret;
}
