/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The XSAVE extension's vcpu requests (API 0.23, docs/protocol.md §8.3):
 * GetXsave and SetXsave, served on the vcpu's own thread while it is
 * stopped.  Each handler sends exactly one reply, over either channel.
 */
#ifndef PLUGVM_HOST_VCPU_XSAVE_H
#define PLUGVM_HOST_VCPU_XSAVE_H

#include "plugin.pb-c.h"

struct vcpu;

/* The largest XSAVE area the host hands out (KVM's is 4 KiB, about 11 KiB with AMX). */
#define VCPU_XSAVE_MAX (64u * 1024u)

/*
 * GetXsave: the whole area, KVM_GET_XSAVE2 (with KVM_CAP_XSAVE2's size) or
 * KVM_GET_XSAVE.  SetXsave: exactly that size, else EINVAL; KVM_SET_XSAVE's
 * errors as the reply's errno.  Without the extension, ENOTTY with no member,
 * as any unknown request.  Return the channel's result (0 or -errno).
 */
int vcpu_handle_get_xsave(struct vcpu *v);
int vcpu_handle_set_xsave(struct vcpu *v, const Plugvm__VcpuRequest__SetXsave *req);

#endif /* PLUGVM_HOST_VCPU_XSAVE_H */
