// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * LD_PRELOAD recorder for fuzz corpora: loaded into a plugin (it stays
 * inert in any process without CROSVM_SOCKET, i.e. in the host), it logs
 * every main request and response and every vcpu request and response byte
 * the plugin exchanges, to $PLUGVM_RECORD_DIR/<pid>.rec.
 *
 * Record: [kind][n fds][length, 4 bytes LE][bytes], kind 'M' main request
 * sent, 'm' main response received, 'V' vcpu request written, 'v' vcpu
 * response bytes read.  fuzz/corpus-from-records.py turns recordings into
 * seeds for each target.  Debug tooling only: never installed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int rec_fd = -1;
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);

__attribute__((constructor)) static void rec_init(void)
{
	const char *dir = getenv("PLUGVM_RECORD_DIR");
	char path[4096];

	real_sendmsg = (ssize_t(*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
	real_recvmsg = (ssize_t(*)(int, struct msghdr *, int))dlsym(RTLD_NEXT, "recvmsg");
	real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	real_read = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	real_writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	if (!dir || !getenv("CROSVM_SOCKET"))
		return;
	snprintf(path, sizeof(path), "%s/%d.rec", dir, (int)getpid());
	rec_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

static int count_fds(const struct msghdr *m)
{
	int n = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			n += (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
	return n;
}

static void rec_put(char kind, int nfds, const struct iovec *iov, int iovcnt, size_t total)
{
	uint8_t hdr[6] = { (uint8_t)kind, (uint8_t)nfds };
	uint32_t len = (uint32_t)total;
	size_t left = total;

	memcpy(hdr + 2, &len, 4);
	pthread_mutex_lock(&rec_lock);
	real_write(rec_fd, hdr, sizeof(hdr));
	for (int i = 0; i < iovcnt && left; i++) {
		size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;

		real_write(rec_fd, iov[i].iov_base, n);
		left -= n;
	}
	pthread_mutex_unlock(&rec_lock);
}

static int is_pipe(int fd)
{
	struct stat st;

	return fd > 2 && fd != rec_fd && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	ssize_t r = real_sendmsg(fd, m, flags);

	if (rec_fd >= 0 && r > 0)
		rec_put('M', count_fds(m), m->msg_iov, (int)m->msg_iovlen, (size_t)r);
	return r;
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	ssize_t r = real_recvmsg(fd, m, flags);

	if (rec_fd >= 0 && r > 0 && !(flags & MSG_PEEK))
		rec_put('m', count_fds(m), m->msg_iov, (int)m->msg_iovlen, (size_t)r);
	return r;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	ssize_t r = real_write(fd, buf, len);

	if (rec_fd >= 0 && r > 0 && is_pipe(fd)) {
		struct iovec iov = { (void *)buf, (size_t)r };

		rec_put('V', 0, &iov, 1, (size_t)r);
	}
	return r;
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	ssize_t r = real_writev(fd, iov, iovcnt);

	if (rec_fd >= 0 && r > 0 && is_pipe(fd))
		rec_put('V', 0, iov, iovcnt, (size_t)r);
	return r;
}

ssize_t read(int fd, void *buf, size_t len)
{
	ssize_t r = real_read(fd, buf, len);

	if (rec_fd >= 0 && r > 0 && is_pipe(fd)) {
		struct iovec iov = { buf, (size_t)r };

		rec_put('v', 0, &iov, 1, (size_t)r);
	}
	return r;
}
