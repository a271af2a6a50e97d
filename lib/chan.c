// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * What both vcpu channels share above their ops (chan.h): the interruptible
 * receive of crosvm_vcpu_kick() and crosvm_vcpu_wait_timeout() (ext.c).
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "shm-chan.h"

int chan_recv_event(struct vcpu_chan *ch, bool interruptible, Plugvm__VcpuResponse **ret_resp)
{
	int ret;

	if (!interruptible)
		return chan_recv(ch, ret_resp);
	atomic_store(&ch->in_wait, true);
	ret = atomic_exchange(&ch->kicked, false) ? -EINTR : chan_recv(ch, ret_resp);
	atomic_store(&ch->in_wait, false);
	return ret;
}

int chan_wait_check(struct vcpu_chan *ch)
{
	if (atomic_exchange(&ch->kicked, false))
		return -EINTR;
	if (ch->deadline_ns && shm_now_ns() >= ch->deadline_ns)
		return -ETIMEDOUT;
	return 0;
}

uint64_t chan_wait_left_ns(const struct vcpu_chan *ch)
{
	uint64_t now;

	if (!ch->deadline_ns)
		return UINT64_MAX;
	now = shm_now_ns();
	return now >= ch->deadline_ns ? 0 : ch->deadline_ns - now;
}

/*
 * The kicker cannot change the word a shared-memory waiter sleeps on (the
 * host owns it), so a wake can fall just before the waiter's sleep; waking
 * again every 20 us until the waiter has seen the kick or left its wait
 * closes that window.  Both flags are sequentially consistent, so either
 * the waiter sees `kicked` or the kicker sees `in_wait`.
 */
void chan_kick(struct vcpu_chan *ch)
{
	const struct timespec pause_ts = { .tv_nsec = 20000 };
	uint32_t never = 0;

	atomic_store(&ch->kicked, true);
	while (atomic_load(&ch->in_wait) && atomic_load(&ch->kicked)) {
		ch->ops->wake(ch);
		/* A private futex nobody wakes: a short sleep crosvm's seccomp policy allows. */
		syscall(SYS_futex, &never, FUTEX_WAIT_PRIVATE, 0, &pause_ts, NULL, 0);
	}
}
