/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Helpers of the hostile plugin: a raw-protocol client (no client library,
 * so it can send anything) with checks that print one line and count.
 */
#ifndef PLUGVM_TESTS_HOSTILE_H
#define PLUGVM_TESTS_HOSTILE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.pb-c.h"
#include "wire.h"

#define H_MAX_VCPUS 8

extern int h_sock;
extern size_t h_nvcpus;
extern int h_vcpu_w[H_MAX_VCPUS];
extern int h_vcpu_r[H_MAX_VCPUS];
extern int h_failures;

#define CHECK(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			h_check_failed(__FILE__, __LINE__, #cond);                                 \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
		}                                                                                  \
	} while (0)

void h_check_failed(const char *file, int line, const char *expr);
__attribute__((noreturn, format(printf, 1, 2))) void h_die(const char *fmt, ...);

/* Writes our pid (and later any child's) where the runner checks none survives. */
void h_note_pid(int pid);

/* ---- main connection ---- */

struct h_reply {
	Plugvm__MainResponse *resp;
	int fds[WIRE_MAX_FDS];
	size_t nfds;
};

void h_reply_free(struct h_reply *r);
/* Sends raw bytes with fds; dies on a send error. */
void h_send_raw(int sock, const void *buf, size_t len, const int *fds, size_t nfds);
/* Receives one reply; returns 1, or 0 on EOF (the host closed the connection). Dies on timeout. */
int h_recv(int sock, struct h_reply *out);
void h_call_on(int sock, const Plugvm__MainRequest *req, const int *fds, size_t nfds,
	       struct h_reply *out);
/* errnum of the reply, checking that its member is expect_case. */
int h_errno_on(int sock, const Plugvm__MainRequest *req, const int *fds, size_t nfds,
	       int expect_case);
/* A request with an empty sub-message (every empty one has the same layout). */
int h_simple(int sock, Plugvm__MainRequest__MessageCase c, int expect_case, struct h_reply *out);
/* True if the host closed this connection (EOF within ms). */
bool h_conn_closed(int sock, int ms);

void h_connect(void);
int h_new_connection(void);
int h_kill_eventfd(void);
int h_reserve(uint32_t space, uint64_t start, uint64_t len, bool async);
int h_create_memory_fds(uint32_t id, const int *fds, size_t nfds, uint64_t off, uint64_t start,
			uint64_t len, bool dirty);
int h_create_memory(uint32_t id, int fd, uint64_t off, uint64_t start, uint64_t len);
int h_create_irq_event(uint32_t id, uint32_t gsi);
int h_create_io_event(uint32_t id, uint64_t addr);
int h_destroy(uint32_t id);
int h_start(void);
void h_pause(uint64_t mask, uint64_t user);
int h_guest_memfd(const uint8_t *code, size_t len, size_t size);

/* ---- vcpu channel ---- */

void h_vsend_raw(size_t v, const void *buf, size_t len);
void h_vsend(size_t v, const Plugvm__VcpuRequest *req);
void h_vsend_simple(size_t v, Plugvm__VcpuRequest__MessageCase c);
/* Next response; NULL on EOF; dies after ms without one. */
Plugvm__VcpuResponse *h_vrecv(size_t v, int ms);
void h_vfree(Plugvm__VcpuResponse *r);
/* Reads one response and returns its errnum, checking its member (-1 for none). */
int h_vexpect(size_t v, int expect_case);
void h_vresume(size_t v, const void *data, size_t len, const void *regs, size_t regs_len,
	       const void *sregs, size_t sregs_len);
/* Init handshake into real mode at rip with cs = ds = 0: the Wait, then regs in the Resume. */
void h_vinit(size_t v, uint64_t rip);
void h_vinit_wait(size_t v);
void h_vinit_finish(size_t v, uint64_t rip);
/* Expects an io event at addr; returns 0 or -1. */
int h_expect_io(size_t v, uint64_t addr, int ms);

bool h_wait_readable(int fd, int ms);

#endif /* PLUGVM_TESTS_HOSTILE_H */

/* ---- the shared-memory vcpu channel (common/shm-chan.h), driven by hand ---- */

struct shm_slot;
struct shm_req_hdr;
struct shm_msg;

struct h_shm {
	struct shm_slot *slot; /* vcpu 0's */
	void *base;
	size_t size;
	uint32_t req_head; /* requests posted */
	uint32_t ev_tail;  /* messages consumed */
};

/* VcpuChannel{version}: returns the errnum; on success with an fd, maps the slots. */
int h_shm_negotiate(struct h_shm *s, uint32_t version, uint32_t *ret_version, uint64_t *ret_size);
/* Writes a request (header, then len payload bytes into the data area) and posts it. */
void h_shm_post(struct h_shm *s, const struct shm_req_hdr *h, const void *payload, size_t len);
/* Takes the next message into *out; returns 0, or -1 after ms without one. */
int h_shm_next(struct h_shm *s, struct shm_msg *out, int ms);
