/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * MainRequest handlers (docs/protocol.md §2.4, §2.8, §3): one handle_<request>()
 * each, run on the main thread.  Transport-free: run.c receives and sends.
 */
#ifndef PLUGVM_HOST_PLUGIN_MAIN_H
#define PLUGVM_HOST_PLUGIN_MAIN_H

#include <stddef.h>

#include "plugin.pb-c.h"
#include "wire.h"

struct vm;

struct main_ctx {
	struct vm *vm;
	size_t n_conns;  /* open connections, for the cap on NewConnection */
	int new_conn_fd; /* out: host end of a connection made by NewConnection, or -1 */
};

/*
 * A reply under construction.  resp points into the storage below; fds are
 * sent with it (borrowed, not closed); close_after and free_after are
 * released by main_reply_release() once the reply went out.
 */
struct main_reply {
	Plugvm__MainResponse resp;
	union {
		Plugvm__MainResponse__Create create;
		Plugvm__MainResponse__Destroy destroy;
		Plugvm__MainResponse__NewConnection new_connection;
		Plugvm__MainResponse__GetShutdownEventfd get_shutdown_eventfd;
		Plugvm__MainResponse__CheckExtension check_extension;
		Plugvm__CpuidResponse cpuid;
		Plugvm__MainResponse__GetMsrIndexList get_msr_index_list;
		Plugvm__MainResponse__GetNetConfig get_net_config;
		Plugvm__MainResponse__ReserveRange reserve_range;
		Plugvm__MainResponse__SetIrq set_irq;
		Plugvm__MainResponse__SetIrqRouting set_irq_routing;
		Plugvm__MainResponse__GetState get_state;
		Plugvm__MainResponse__SetState set_state;
		Plugvm__MainResponse__SetIdentityMapAddr set_identity_map_addr;
		Plugvm__MainResponse__PauseVcpus pause_vcpus;
		Plugvm__MainResponse__GetVcpus get_vcpus;
		Plugvm__MainResponse__Start start;
		Plugvm__MainResponse__SetCallHint set_call_hint;
		Plugvm__MainResponse__MemoryDirtyLog dirty_log;
		Plugvm__MainResponse__VcpuChannel vcpu_channel;
		Plugvm__MainResponse__Extensions extensions;
		Plugvm__MainResponse__DefaultCpuid default_cpuid;
		Plugvm__MainResponse__ResetEvents reset_events;
		Plugvm__MainResponse__IoDetails io_details;
		Plugvm__MainResponse__ReserveRangeMode reserve_range_mode;
		Plugvm__MainResponse__MemoryReadOnly memory_read_only;
		Plugvm__MainResponse__MemoryReplace memory_replace;
	} u;
	uint8_t state[256]; /* GetState image (the largest VM state is 216 bytes) */
	uint8_t mac[6];
	int fds[WIRE_MAX_FDS];
	size_t nfds;
	int close_after[2];
	size_t n_close_after;
	void *free_after[2];
	size_t n_free_after;
};

/*
 * Handles one decoded request (req may be NULL for an undecodable one:
 * the caller closes the connection instead).  *fd_in is the descriptor that
 * came with the request or -1; the handler takes it (setting -1) when it
 * uses it.  The reply always has content (never an empty datagram).
 */
void plugin_main_handle(struct main_ctx *ctx, const Plugvm__MainRequest *req, int *fd_in,
			struct main_reply *reply);

/* Releases what a reply kept alive until it was sent. */
void main_reply_release(struct main_reply *reply);

#endif /* PLUGVM_HOST_PLUGIN_MAIN_H */
