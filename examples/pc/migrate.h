// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's live-migration stream (examples/pc/README.md, "Live
 * migration"), over a connected unix stream socket.  The source sends
 * "PLUGVMMG", then messages of a 16-byte header { u32 type, u32 count,
 * u64 offset } and their payload; the destination answers one message.
 * All integers little-endian.
 */
#ifndef PLUGVM_EXAMPLES_PC_MIGRATE_H
#define PLUGVM_EXAMPLES_PC_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_MAGIC "PLUGVMMG"
#define MIG_VERSION 1u
#define MIG_PAGE 4096u
/* Most pages in one MIG_PAGES message. */
#define MIG_MAX_RUN 256u

enum mig_type {
	MIG_HELLO = 1, /* count: version, offset: guest RAM bytes */
	MIG_PAGES,     /* count pages at RAM offset `offset` follow */
	MIG_ZERO,      /* count pages at `offset` are zero now */
	MIG_STATE,     /* a snapshot file (without RAM) of `offset` bytes follows: the end */
	MIG_RUNNING,   /* destination to source: the guest runs here now */
};

struct mig_hdr {
	uint32_t type, count;
	uint64_t offset;
};

/* All of buf, waiting at most timeout_ms for each step; 0 or -errno (-ETIMEDOUT, -EPIPE). */
int mig_send(int fd, const void *buf, size_t len, int timeout_ms);
/* Exactly len bytes; -ECONNRESET on end of stream. */
int mig_recv(int fd, void *buf, size_t len, int timeout_ms);
int mig_send_hdr(int fd, uint32_t type, uint32_t count, uint64_t offset, int timeout_ms);
int mig_recv_hdr(int fd, struct mig_hdr *h, int timeout_ms);

/* A listening socket at `path` / a connection to it; -errno. */
int mig_listen(const char *path);
int mig_connect(const char *path);
/* The first connection on a listening socket, within timeout_ms (-1: no limit). */
int mig_accept(int lfd, int timeout_ms);

#endif /* PLUGVM_EXAMPLES_PC_MIGRATE_H */
