/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Running one VM with its plugin, from KVM setup to the plugin's exit.
 */
#ifndef PLUGVM_HOST_RUN_H
#define PLUGVM_HOST_RUN_H

#include "config.h"

/*
 * Creates the VM, spawns the plugin, serves it until it exits or the VM
 * stops, and cleans up (no threads, children or descriptors left).
 * Returns the process exit status: 0 if the plugin exited 0 and nothing
 * failed; 1 otherwise, after logging one error line naming the cause.
 */
int run_vm(const struct host_config *cfg);

#endif /* PLUGVM_HOST_RUN_H */
