/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Tap devices given on the command line.
 */
#ifndef PLUGVM_HOST_NET_H
#define PLUGVM_HOST_NET_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/*
 * Opens (and for TAP_KIND_HOST_IP creates and configures) every tap of
 * cfg->taps, in order.  On success *ret_fds holds cfg->n_taps descriptors
 * (O_NONBLOCK, O_CLOEXEC), owned by the caller.  Returns 0 or -errno after
 * logging one line naming the tap that failed.
 */
int net_open_taps(const struct host_config *cfg, int **ret_fds);

/*
 * Queries a tap for the GetNetConfig reply: its MAC (must be ARPHRD_ETHER,
 * else -EINVAL), IPv4 address and netmask as sin_addr.s_addr values.
 * Returns 0 or -errno (e.g. -EADDRNOTAVAIL if it has no address).
 */
int net_query(int tap_fd, uint8_t ret_mac[6], uint32_t *ret_ip, uint32_t *ret_netmask);

/*
 * Asks now and remembers the answer for tap_fd, so that later net_query()
 * calls for it need no socket (the host's seccomp filter allows none): the
 * tap's configuration as it was when the VM started.
 */
void net_prefetch(int tap_fd);

#endif /* PLUGVM_HOST_NET_H */
