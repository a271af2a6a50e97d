// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The API 0.23 extensions on the main connection (docs/api.md "Extensions
 * (0.23)", docs/protocol.md "Extensions").  crosvm_create_edge_irq_event()
 * lives with the other irq event calls in objects.c.
 */
#include <errno.h>

#include "ext-bits.h"
#include "private.h"

_Static_assert(CROSVM_EXTENSION_EDGE_IRQ_EVENT == PLUGVM_EXT_EDGE_IRQ_EVENT, "bit differs");
_Static_assert(CROSVM_EXTENSION_DEFAULT_CPUID == PLUGVM_EXT_DEFAULT_CPUID, "bit differs");

EXPORT int crosvm_get_extensions(struct crosvm *self, uint64_t *mask)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Extensions m = PLUGVM__MAIN_REQUEST__EXTENSIONS__INIT;
	struct main_reply r;
	int ret;

	if (!self || !mask)
		return -EINVAL;
	*mask = 0;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_EXTENSIONS;
	req.extensions = &m;
	ret = conn_transact(self, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	/* A host that does not know the request has no extensions. */
	if (ret == -ENOTTY)
		return 0;
	if (ret)
		return ret;
	if (r.msg->message_case != PLUGVM__MAIN_RESPONSE__MESSAGE_EXTENSIONS)
		ret = -EPROTO;
	else
		*mask = r.msg->extensions->mask;
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
