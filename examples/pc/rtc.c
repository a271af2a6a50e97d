// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's RTC periodic interrupt: timed on vcpu 0's thread with
 * crosvm_vcpu_wait_timeout() (API 0.23), or on a thread of its own (--rtc-thread).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <crosvm.h>

#include "machine.h"
#include "pc.h"

/* The RTC's periodic rate may have changed: the thread that times it recomputes it. */
void rtc_rate_changed(struct pc *pc)
{
	uint64_t one = 1;
	int r;

	if (pc->rtc_on_vcpu0) {
		r = crosvm_vcpu_kick(pc->vcpus[0].vcpu);
		if (r < 0)
			say("cannot kick vcpu 0 for the RTC: %s", strerror(-r));
	} else if (write(pc->rtc_kick_fd, &one, sizeof(one)) < 0) {
		say("cannot wake the RTC thread: %s", strerror(errno));
	}
}

/* ---- RTC periodic interrupt ---- */

/*
 * One periodic tick.  The flag and its interrupt go together under the lock,
 * so that a snapshot never holds one without the other.  Ticks while the
 * line is still raised are lost, as on real chips.
 */
static void rtc_tick(struct pc *pc)
{
	uint64_t one = 1;

	pthread_mutex_lock(&pc->lock);
	if (cmos_periodic_tick(&pc->cmos) &&
	    write(crosvm_irq_event_get_fd(pc->rtc_irq), &one, sizeof(one)) < 0)
		say("RTC: irqfd: %s", strerror(errno));
	pthread_mutex_unlock(&pc->lock);
}

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/*
 * vcpu 0's wait for its next event (pc.rtc_on_vcpu0): crosvm_vcpu_wait_timeout()
 * up to the RTC's next periodic tick, which fires here.  A kick (a rate change,
 * rtc_rate_changed()) only makes it look at the rate again.  Ticks that a long
 * event handler made it miss fire once, as the timerfd of the RTC thread does.
 */
int vcpu0_wait(struct vcpu_ctx *v, struct rtc_clock *rc, struct crosvm_vcpu_event *ev)
{
	struct pc *pc = v->pc;
	int64_t now, period, timeout;
	unsigned int hz;
	int r;

	for (;;) {
		pthread_mutex_lock(&pc->lock);
		hz = cmos_periodic_hz(&pc->cmos);
		pthread_mutex_unlock(&pc->lock);
		now = mono_ns();
		timeout = -1;
		if (hz) {
			period = 1000000000 / hz;
			if (hz != rc->hz) {
				rc->next = now + period;
			} else if (now >= rc->next) {
				rtc_tick(pc);
				rc->next += period;
				if (rc->next <= now)
					rc->next = now + period;
			}
			timeout = rc->next - now;
		}
		rc->hz = hz;
		r = crosvm_vcpu_wait_timeout(v->vcpu, ev, timeout);
		if (r != -ETIMEDOUT && r != -EINTR)
			return r;
	}
}

/* The RTC's periodic ticks on a thread of their own (--rtc-thread). */
void *rtc_thread(void *arg)
{
	struct pc *pc = arg;
	struct itimerspec its = { 0 };
	struct pollfd pfd[2];
	unsigned int hz = 0, now;
	uint64_t n;
	int tfd;

	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (tfd < 0) {
		say("RTC: timerfd: %s", strerror(errno));
		return NULL;
	}
	pfd[0].fd = pc->rtc_kick_fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = tfd;
	pfd[1].events = POLLIN;
	while (!atomic_load(&pc->stopping)) {
		if (poll(pfd, 2, 200) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN)
			if (read(pc->rtc_kick_fd, &n, sizeof(n)) < 0)
				break;
		if (pfd[1].revents & POLLIN) {
			if (read(tfd, &n, sizeof(n)) < 0)
				continue;
			rtc_tick(pc);
		}
		pthread_mutex_lock(&pc->lock);
		now = cmos_periodic_hz(&pc->cmos);
		pthread_mutex_unlock(&pc->lock);
		if (now != hz) {
			hz = now;
			its.it_value.tv_sec = 0;
			its.it_value.tv_nsec = hz ? 1000000000L / hz : 0;
			its.it_interval = its.it_value;
			timerfd_settime(tfd, 0, &its, NULL);
		}
	}
	close(tfd);
	return NULL;
}
