/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The vcpu module's two channel ops tables (vcpu-pipe.c, vcpu-shm.c) and the
 * shared-memory channel's hooks into the vcpu lifecycle (vcpu.c).  Part of
 * vcpu-internal.h; tests and fuzzers that look at a vcpu's channel include
 * it alone.
 */
#ifndef PLUGVM_HOST_VCPU_SHM_H
#define PLUGVM_HOST_VCPU_SHM_H

#include "vcpu.h"

extern const struct vcpu_chan_ops vcpu_pipe_channel;
extern const struct vcpu_chan_ops vcpu_shm_channel;

/* Wakes v's thread if it sleeps on its slot (the stop path, after kill_signaled). */
void vcpu_shm_wake(struct vcpu *v);

/* Unmaps and closes the shared memory and frees every vcpu's private copies. */
void vcpus_shm_free(struct vm *vm);

#endif /* PLUGVM_HOST_VCPU_SHM_H */
