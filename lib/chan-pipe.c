// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "shm-chan.h"
#include "wire.h"

/*
 * Live pipe channels in this process, one per vcpu: the VM's vcpu count for
 * the spin policy.  Read when a channel first receives, by which time
 * crosvm_connect has made all of them.
 */
static atomic_uint pipe_chans;

struct pipe_chan {
	struct vcpu_chan base;
	int req_fd;
	int resp_fd;
	struct wire_frames frames;
	struct shm_spin spin;
	bool spin_ready;
	/*
	 * An eventfd that chan_kick() writes to end a poll() inside a wait;
	 * made by the owner before its first wait sleeps, -1 until then.
	 */
	atomic_int kick_fd;
};

static struct pipe_chan *to_pipe(struct vcpu_chan *ch)
{
	return (struct pipe_chan *)ch;
}

/*
 * A write to a pipe whose reader is gone raises SIGPIPE, which kills a
 * plugin with the default disposition.  The signal is thread-directed, so
 * blocking it in this thread around the write and then consuming the one the
 * write raised keeps it away from the plugin without touching process-wide
 * signal state.  A SIGPIPE that was already pending (the plugin had it
 * blocked) is left alone.
 */
static int write_nosigpipe(int fd, const void *buf, size_t len)
{
	sigset_t pipe_set, old_set, pending;
	bool was_pending = false;
	int ret;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	ret = -pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	if (ret)
		return ret;
	if (sigismember(&old_set, SIGPIPE) && sigpending(&pending) == 0)
		was_pending = sigismember(&pending, SIGPIPE);

	ret = wire_write_all(fd, buf, len);

	if (ret == -EPIPE && !was_pending) {
		const struct timespec zero = { 0, 0 };

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	return ret;
}

static int pipe_send(struct vcpu_chan *ch, const Plugvm__VcpuRequest *req)
{
	uint8_t stack_buf[1024], *buf = stack_buf;
	size_t len;
	int ret;

	/*
	 * The host decodes whatever one read() returns as one message, so a
	 * request must go out in one piece and fit its read buffer.
	 */
	len = plugvm__vcpu_request__get_packed_size(req);
	if (len > WIRE_VCPU_MESSAGE_MAX)
		return -E2BIG;
	if (len > sizeof(stack_buf)) {
		buf = malloc(len);
		if (!buf)
			return -ENOMEM;
	}
	plugvm__vcpu_request__pack(req, buf);
	ret = write_nosigpipe(to_pipe(ch)->req_fd, buf, len);
	if (buf != stack_buf)
		free(buf);
	return ret;
}

struct pipe_probe {
	struct pipe_chan *pc;
	ssize_t n;
};

static int pipe_probe_fill(void *arg)
{
	struct pipe_probe *pp = arg;

	pp->n = wire_frames_fill(&pp->pc->frames, pp->pc->resp_fd);
	return pp->n != -EAGAIN;
}

/*
 * Sleeps until resp_fd is readable.  Inside a wait (in_wait) the kick
 * eventfd ends the poll too, and so does the deadline: then the kick or
 * timeout is returned (chan_wait_check()).
 */
static int pipe_sleep(struct pipe_chan *pc)
{
	struct pollfd p[2] = { { .fd = pc->resp_fd, .events = POLLIN },
			       { .fd = -1, .events = POLLIN } };
	bool in_wait = atomic_load(&pc->base.in_wait);
	uint64_t left = UINT64_MAX;
	int timeout = -1, r, kfd;

	if (in_wait) {
		kfd = atomic_load(&pc->kick_fd);
		if (kfd < 0) {
			/* Published before the check below, which the kicker's store precedes. */
			kfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			atomic_store(&pc->kick_fd, kfd);
		}
		p[1].fd = kfd;
		r = chan_wait_check(&pc->base);
		if (r)
			return r;
		left = chan_wait_left_ns(&pc->base);
		if (left != UINT64_MAX)
			timeout = (left + 999999u) / 1000000u > INT_MAX
					  ? INT_MAX
					  : (int)((left + 999999u) / 1000000u);
		/* Without the eventfd (EMFILE), look at the kick every millisecond. */
		if (kfd < 0 && (timeout < 0 || timeout > 1))
			timeout = 1;
	}
	/*
	 * POLLHUP (the host is gone) also ends the poll; the next read then
	 * sees EOF.  poll(), not ppoll(): crosvm's own plugin policies allow
	 * only poll, so a timed wait over the pipes rounds up to the next
	 * millisecond (never early; the shared-memory channel waits to the ns).
	 */
	if (poll(p, 2, timeout) < 0 && errno != EINTR)
		return -errno;
	if (p[1].fd >= 0 && (p[1].revents & POLLIN)) {
		uint64_t v;

		if (read(p[1].fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return -errno;
	}
	return in_wait ? chan_wait_check(&pc->base) : 0;
}

static void pipe_wake(struct vcpu_chan *ch)
{
	int kfd = atomic_load(&to_pipe(ch)->kick_fd);
	uint64_t one = 1;

	if (kfd >= 0 && write(kfd, &one, sizeof(one)) < 0) {
		/* A full counter is still readable: the waiter wakes anyway. */
	}
}

/*
 * resp_fd is non-blocking (see chan_pipe_new), so a read either gets bytes
 * or says EAGAIN: spin on it for the adaptive budget before sleeping in
 * poll(), because a sleeping wake-up of this thread costs tens of
 * microseconds in a nested VM, more than a guest exit usually takes.
 */
static ssize_t pipe_fill(struct pipe_chan *pc)
{
	struct pipe_probe pp = { .pc = pc };
	uint64_t start;
	int r;

	if (!pc->spin_ready) {
		shm_spin_init(&pc->spin, atomic_load(&pipe_chans), SHM_SIDE_PLUGIN);
		pc->spin_ready = true;
	}
	while (!shm_spin_probe(&pc->spin, pipe_probe_fill, &pp, &start)) {
		r = pipe_sleep(pc);
		if (r < 0)
			return r;
		shm_spin_slept(&pc->spin, start, 0);
	}
	return pp.n;
}

static int pipe_recv(struct vcpu_chan *ch, Plugvm__VcpuResponse **ret_resp)
{
	struct pipe_chan *pc = to_pipe(ch);

	for (;;) {
		const uint8_t *msg;
		size_t len;
		ssize_t n;
		int r;

		/* Several framed responses can arrive in one read: drain the buffer first. */
		r = wire_frames_next(&pc->frames, &msg, &len);
		if (r > 0) {
			*ret_resp = plugvm__vcpu_response__unpack(NULL, len, msg);
			return *ret_resp ? 0 : -EINVAL;
		}
		if (r < 0)
			return -EINVAL;
		n = pipe_fill(pc);
		if (n == 0)
			return -EPIPE;
		if (n == -EPROTO)
			return -EINVAL;
		if (n < 0)
			return (int)n;
	}
}

static void pipe_release(struct vcpu_chan *ch, Plugvm__VcpuResponse *resp)
{
	(void)ch;
	plugvm__vcpu_response__free_unpacked(resp, NULL);
}

static void pipe_destroy(struct vcpu_chan *ch)
{
	struct pipe_chan *pc = to_pipe(ch);

	close(pc->req_fd);
	close(pc->resp_fd);
	if (atomic_load(&pc->kick_fd) >= 0)
		close(atomic_load(&pc->kick_fd));
	wire_frames_free(&pc->frames);
	free(pc);
	atomic_fetch_sub(&pipe_chans, 1);
}

static const struct vcpu_chan_ops pipe_ops = {
	.send = pipe_send,
	.recv = pipe_recv,
	.release = pipe_release,
	.destroy = pipe_destroy,
	.wake = pipe_wake,
};

int chan_pipe_new(int req_fd, int resp_fd, struct vcpu_chan **ret_chan)
{
	struct pipe_chan *pc = calloc(1, sizeof(*pc));
	int fl;

	if (!pc)
		goto err_close;
	if (wire_frames_init(&pc->frames, WIRE_VCPU_MESSAGE_MAX) < 0)
		goto err_free;
	/*
	 * Non-blocking reads let pipe_recv() spin before it sleeps.  The flag
	 * lives in the open file description, which the host's copy of this
	 * read end shares (SCM_RIGHTS passes the description), but neither our
	 * host nor crosvm's ever reads that end; it only keeps it open.  The
	 * bytes on the pipe do not change.  If the flag cannot be set, reads
	 * block as before, and the spin is a single blocking probe.
	 */
	fl = fcntl(resp_fd, F_GETFL);
	if (fl >= 0 && !(fl & O_NONBLOCK))
		fcntl(resp_fd, F_SETFL, fl | O_NONBLOCK);
	pc->base.ops = &pipe_ops;
	atomic_init(&pc->kick_fd, -1);
	pc->req_fd = req_fd;
	pc->resp_fd = resp_fd;
	atomic_fetch_add(&pipe_chans, 1);
	*ret_chan = &pc->base;
	return 0;

err_free:
	free(pc);
err_close:
	close(req_fd);
	close(resp_fd);
	return -ENOMEM;
}
