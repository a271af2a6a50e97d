/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Internals of libcrosvm_plugin shared by its source files.  Nothing here is
 * exported: the library is built with hidden visibility and only functions
 * marked EXPORT (the 71 of crosvm.h) leave the shared object.
 */
#ifndef PLUGVM_LIB_PRIVATE_H
#define PLUGVM_LIB_PRIVATE_H

#include <pthread.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "crosvm.h"
#include "plugin.pb-c.h"
#include "util.h"
#include "wire.h"

#define EXPORT __attribute__((visibility("default")))

struct vcpu_chan;

/*
 * The three register sets that are cached: `get` means `bytes` holds what KVM
 * has (sent eagerly with an event), `set` means `bytes` holds a write that
 * has not reached KVM yet.  Never both.  `bad` marks eager data of the wrong
 * size: the event is still delivered, but reading the copy fails.
 */
struct reg_cache {
	bool get;
	bool set;
	bool bad;
	uint8_t bytes[VCPU_STATE_SREGS_SIZE]; /* the largest of the three */
};

enum reg_set {
	REG_REGS,
	REG_SREGS,
	REG_DEBUGREGS,
	REG_MAX,
};

struct crosvm_vcpu {
	struct family *fam;
	struct vcpu_chan *chan;
	/* The Init handshake's Wait request goes out once per handle. */
	bool wait_sent;
	/*
	 * Set while the host holds the vcpu stopped for us (an event without
	 * no_resume was returned and not yet resumed), i.e. while the host
	 * reads our requests.  A Resume or state request sent at any other
	 * time after Init would be read by the host only at some later event.
	 */
	bool stopped;
	struct reg_cache regs[REG_MAX];
	/*
	 * Data returned to the host with the next Resume: the io access bytes
	 * the plugin may have filled in, or the hypercall result.
	 */
	uint8_t *io_data;
	size_t io_cap;
	size_t resume_len;
	bool resume_hcall;
	uint64_t hcall_result;
};

/*
 * State shared by every connection derived from one crosvm_connect(): the
 * object id counter and the vcpu handles.  Freed with the last connection.
 */
struct family {
	atomic_uint refs;
	/* Next id to hand out; see ids_alloc(). */
	atomic_uint_least64_t next_id;
	uint32_t nvcpus;
	struct crosvm_vcpu *vcpus;
	/* The host answered a shared dirty log inline: it lacks the extension. */
	atomic_bool no_shared_dirty;
};

struct crosvm {
	int sock;
	struct family *fam;
	/* Receive buffer for responses, grown to the largest seen so far. */
	uint8_t *rbuf;
	size_t rcap;
};

struct crosvm_io {
	uint32_t id;
	int fd;
};

struct crosvm_memory {
	uint32_t id;
	uint64_t length;
	/* The dirty log's memfd and our mapping of it (lib/objects.c), made on first use. */
	pthread_mutex_t dirty_lock;
	int dirty_fd;
	void *dirty_map;
	uint64_t dirty_bytes;
};

struct crosvm_irq {
	uint32_t id;
	int trigger_fd;
	int resample_fd;
};

/*
 * What conn_transact() received: a decoded main response and the descriptors
 * that came with it (not the host's struct main_reply, host/vm/main-request.h,
 * which is a reply under construction).
 */
struct conn_reply {
	Plugvm__MainResponse *msg;
	int fds[WIRE_MAX_FDS];
	size_t nfds;
};

/*
 * Sends `req` (with `nfds` descriptors attached) on the connection and
 * receives the reply, accepting replies of up to `max_reply` bytes.
 * Returns 0 with `r` filled when the host reported success; otherwise
 * -errno with `r` already released.  Requests that do not fit the
 * original host's 4096-byte buffer fail with -E2BIG without being sent.
 */
int conn_transact(struct crosvm *c, const Plugvm__MainRequest *req, const int *fds, size_t nfds,
		  size_t max_reply, struct conn_reply *r);

/* Takes the last received descriptor out of `r` (the caller owns it), or returns -EPROTO. */
int reply_take_last_fd(struct conn_reply *r);

/* Frees the decoded message and closes every descriptor not taken. */
void reply_release(struct conn_reply *r);

/* Sends a request whose reply carries nothing but an errno. */
int conn_simple(struct crosvm *c, const Plugvm__MainRequest *req);

/* Object ids (docs/protocol.md §2.7).  Returns 0 or -ENOSPC when the 32-bit space is used up. */
int ids_alloc(struct family *fam, uint32_t *ret_id);
void ids_free(struct family *fam, uint32_t id);

/*
 * A family lives while a connection or an in-progress vcpu call holds it.
 * vcpu calls take a reference for their duration, so a plugin that destroys
 * its last connection while a vcpu thread is blocked in crosvm_vcpu_wait()
 * does not pull the pipes and memory out from under that thread.  Defined in
 * vcpu.c, which owns the vcpus the last reference releases (so vcpu.c needs
 * nothing from conn.c).
 */
void family_get(struct family *fam);
void family_put(struct family *fam);

/* Converts a kernel errno carried in a response (positive) into our return value. */
static inline int errnum_to_ret(int32_t errnum)
{
	/*
	 * The wire carries positive errno values.  Anything else comes from a
	 * broken host; never hand a positive or out-of-range value to C.
	 */
	if (errnum > 0 && errnum < 4096)
		return -errnum;
	return -EPROTO;
}

#endif /* PLUGVM_LIB_PRIVATE_H */
