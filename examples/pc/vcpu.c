// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's vcpu threads: INIT (CPUID, or a restored state), the event loop,
 * and parking for a snapshot.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <crosvm.h>

#include "machine.h"
#include "vmstate.h"

/* ---- vcpus ---- */

/* The pause token that parks vcpus for a snapshot. */
int park_token;

/* At INIT of a restored machine: the saved state instead of the reset state. */
static int vcpu_restore(struct vcpu_ctx *v)
{
	struct vcpu_state *st = &v->pc->cpu_restore[v->id];
	int r;

	v->cpuid = calloc(st->ncpuid, sizeof(*v->cpuid));
	if (!v->cpuid)
		return -ENOMEM;
	memcpy(v->cpuid, st->cpuid, st->ncpuid * sizeof(*v->cpuid));
	v->ncpuid = st->ncpuid;
	r = vcpu_state_set(v->vcpu, st);
	vcpu_state_free(st);
	return r;
}

/*
 * A PAUSED event for a snapshot: read this vcpu's state, report it, and
 * wait (stopped) until the main thread says whether to resume or leave.
 */
static int vcpu_park(struct vcpu_ctx *v)
{
	struct pc *pc = v->pc;
	const uint32_t *msr_list;
	uint32_t nmsr;
	int r, release;

	/*
	 * The main thread set the MSR list before it asked the host to pause
	 * us; that order runs through another process, so take it from
	 * under the lock the main thread held after writing it.
	 */
	pthread_mutex_lock(&pc->park_lock);
	msr_list = pc->msr_list;
	nmsr = pc->nmsr;
	pthread_mutex_unlock(&pc->park_lock);
	r = vcpu_state_get(v->vcpu, msr_list, nmsr, &v->saved);
	if (!r) {
		free(v->saved.cpuid);
		v->saved.cpuid = calloc(v->ncpuid ? v->ncpuid : 1, sizeof(*v->cpuid));
		if (v->saved.cpuid && v->ncpuid)
			memcpy(v->saved.cpuid, v->cpuid, v->ncpuid * sizeof(*v->cpuid));
		v->saved.ncpuid = v->ncpuid;
		if (!v->saved.cpuid || !v->ncpuid)
			r = -ENODATA;
	}
	pthread_mutex_lock(&pc->park_lock);
	if (r < 0 && !pc->park_err)
		pc->park_err = r;
	pc->parked++;
	pthread_cond_broadcast(&pc->park_cond);
	while (pc->park_release == PARK_HOLD)
		pthread_cond_wait(&pc->park_cond, &pc->park_lock);
	release = pc->park_release;
	pc->parked--;
	pthread_cond_broadcast(&pc->park_cond);
	pthread_mutex_unlock(&pc->park_lock);
	return release;
}

static int vcpu_init(struct vcpu_ctx *v)
{
	struct pc *pc = v->pc;
	struct kvm_cpuid_entry2 *e;
	uint32_t i;
	int r;

	e = calloc(pc->ncpuid, sizeof(*e));
	if (!e)
		return -ENOMEM;
	memcpy(e, pc->cpuid, pc->ncpuid * sizeof(*e));
	/* Firmware counts processors by their initial APIC ids: make each one unique. */
	for (i = 0; i < pc->ncpuid; i++) {
		if (e[i].function == 1)
			e[i].ebx = (e[i].ebx & 0x00ffffff) | (v->id << 24);
		if (e[i].function == 0xb || e[i].function == 0x1f)
			e[i].edx = v->id;
	}
	r = crosvm_vcpu_set_cpuid(v->vcpu, pc->ncpuid, e);
	free(v->cpuid);
	v->cpuid = e;
	v->ncpuid = pc->ncpuid;
	return r;
}

void *vcpu_thread(void *arg)
{
	struct vcpu_ctx *v = arg;
	struct pc *pc = v->pc;
	struct crosvm_vcpu_event ev;
	struct rtc_clock rc = { 0, 0 };
	int r;

	tls_conn = v->conn;
	tls_vcpu = v->id;
	for (;;) {
		memset(&ev, 0, sizeof(ev));
		if (v->id == 0 && pc->rtc_on_vcpu0)
			r = vcpu0_wait(v, &rc, &ev);
		else
			r = crosvm_vcpu_wait(v->vcpu, &ev);
		if (r < 0) {
			if (!atomic_load(&pc->stopping)) {
				say("vcpu %u: wait: %s", v->id, strerror(-r));
				pc_finish(pc, atomic_load(&pc->matched) ? 0 : 1);
			}
			break;
		}
		switch (ev.kind) {
		case CROSVM_VCPU_EVENT_KIND_INIT:
			/* The registers stay at KVM's reset state: only CPUID is ours to give. */
			r = pc->restoring ? vcpu_restore(v) : vcpu_init(v);
			if (r < 0) {
				say("vcpu %u: %s: %s", v->id,
				    pc->restoring ? "restoring its state" : "set_cpuid", strerror(-r));
				pc_finish(pc, 1);
			}
			break;
		case CROSVM_VCPU_EVENT_KIND_IO_ACCESS:
			handle_io(pc, &ev);
			if (ev.io_access.no_resume)
				continue;
			/* A reset port: the access is complete, the machine reboots. */
			if (atomic_exchange(&pc->reset_requested, false))
				machine_reset(v);
			break;
		case CROSVM_VCPU_EVENT_KIND_PAUSED:
			/* Leaving without resuming keeps the vcpu stopped for good. */
			if (ev.user == &stop_token)
				return NULL;
			if (ev.user == &park_token && vcpu_park(v) == PARK_LEAVE)
				return NULL;
			if (ev.user == &reset_token)
				vcpu_join_reset(v);
			break;
		case CROSVM_VCPU_EVENT_KIND_RESET:
			/* Only with crosvm_enable_reset_events(): a triple fault resets the machine. */
			say("triple fault on vcpu %u at %.3f s; rebooting", v->id, elapsed(pc));
			machine_reset(v);
			break;
		default:
			break;
		}
		r = crosvm_vcpu_resume(v->vcpu);
		if (r < 0) {
			if (!atomic_load(&pc->stopping)) {
				say("vcpu %u: resume: %s", v->id, strerror(-r));
				pc_finish(pc, 1);
			}
			break;
		}
	}
	return NULL;
}
