/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Shared by the fuzz targets of the client library (fuzz-lib-response,
 * fuzz-lib-shm): a scripted host end that connects the library with one
 * vcpu, and one entry point that drives a vcpu call chosen by the input.
 */
#ifndef PLUGVM_FUZZ_LIB_HARNESS_H
#define PLUGVM_FUZZ_LIB_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crosvm.h"

struct fuzz_lib {
	struct crosvm *c;
	struct crosvm_vcpu *vcpu;
	int host_sock;  /* our end of the first connection */
	int lib_sock;   /* the descriptor number the library uses for its connection */
	int lib_req_w;  /* the library's to_host write end (vcpu 0) */
	int lib_resp_r; /* the library's to_plugin read end (vcpu 0) */
	int req_r;      /* our read end of to_host (non-blocking) */
	int resp_w;     /* our write end of to_plugin, or -1 once closed */
};

/*
 * Connects the library as a host would for one vcpu: GetVcpus with the two
 * vcpu pipes, then `chan_reply` (chan_len bytes, with the n_chan_fds
 * descriptors chan_fds, which stay the caller's) as the answer to the VcpuChannel request, then a
 * well-formed reply for the take-back request the library sends when it
 * cannot use the channel.  Unused replies are dropped with the connection
 * the next fuzz_lib_queue_main() replaces.  Returns crosvm_connect()'s
 * value; on success f is filled in and vcpu 0 is fetched.  If keep_resp_w
 * is false our end of the response pipe is closed at once.
 */
int fuzz_lib_connect(struct fuzz_lib *f, const uint8_t *chan_reply, size_t chan_len,
		     const int *chan_fds, size_t n_chan_fds, bool keep_resp_w);

/* Reads and drops whatever the library sent on the main connection, then closes our end. */
void fuzz_lib_drain_main(struct fuzz_lib *f);

/* Reads and drops whatever the library wrote to vcpu 0's request pipe. */
void fuzz_lib_drain_vcpu(struct fuzz_lib *f);

/*
 * Queues one datagram with nfds (at most 4) eventfds on a fresh connection
 * swapped in under the library's descriptor, followed by EOF.
 */
void fuzz_lib_queue_main(struct fuzz_lib *f, const uint8_t *p, size_t len, unsigned nfds);

/* One step of an input: [op][arg][extra][length, 2 bytes LE][bytes]. */
struct fuzz_record {
	uint8_t op, arg, extra;
	const uint8_t *p;
	size_t len; /* cut to what the input has left */
};

/*
 * Takes the next record at *pos of data, if a whole header is left and
 * fewer than 64 records were taken (*steps counts them).
 */
bool fuzz_lib_next_record(const uint8_t *data, size_t size, size_t *pos, int *steps,
			  struct fuzz_record *r);

/* Calls one of the vcpu functions of crosvm.h, chosen by op, with arguments from arg. */
void fuzz_lib_vcpu_call(struct fuzz_lib *f, uint8_t op, uint8_t arg);

/* Destroys the connection and closes the harness's descriptors. */
void fuzz_lib_close(struct fuzz_lib *f);

#endif /* PLUGVM_FUZZ_LIB_HARNESS_H */
