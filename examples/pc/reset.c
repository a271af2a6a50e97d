// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's machine reset (API 0.23 reset extension): every vcpu back to its
 * power-on state, the devices to theirs, RAM kept.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <crosvm.h>

#include "machine.h"
#include "memory.h"
#include "pc.h"

/* ---- machine reset ---- */

/*
 * The devices as at power-on, with pc->lock held: the shadow area's DRAM
 * back to its power-on content and PAM to 0 (write-protected), chipset, CMOS (its shutdown status 0, so the
 * firmware runs a full POST), keyboard controller, UART, disk registers and
 * fw_cfg, the in-kernel PIC, IOAPIC and PIT, and the debug console trapped
 * synchronously again (the firmware probes it with a read).  RAM is kept,
 * as on a real warm reset.
 */
static int devices_reset(struct pc *pc, struct crosvm *conn)
{
	static const uint8_t pam_reset[7];
	void (*rx_space)(void *) = pc->uart.rx_space;
	void *rx_opaque = pc->uart.rx_space_opaque;
	struct ata saved = pc->ata;
	int r;

	pci_init(&pc->pci, &pc->env, pc->have_disk);
	r = memory_shadow_reset(&pc->mem);
	if (r == 0)
		r = memory_pam_apply(&pc->mem, conn, pam_reset);
	if (r < 0) {
		say("reset: restoring the BIOS area: %s", strerror(-r));
		return r;
	}
	cmos_init(&pc->cmos, &pc->env, pc->mem.below_4g, pc->mem.above_4g, pc->nvcpus,
		  pc->have_disk);
	rtc_rate_changed(pc);
	ps2_init(&pc->ps2, &pc->env);
	port92_init(&pc->port92, &pc->env);
	memset(&pc->port61, 0, sizeof(pc->port61));
	uart_init(&pc->uart, &pc->env);
	pc->uart.rx_space = rx_space;
	pc->uart.rx_space_opaque = rx_opaque;
	if (pc->have_disk) {
		ata_init(&pc->ata, &pc->env, saved.disk, saved.nsectors);
		pc->ata.sector_written = saved.sector_written;
		pc->ata.sector_written_opaque = saved.sector_written_opaque;
	}
	pc->fwcfg.selector = 0;
	pc->fwcfg.offset = 0;
	memset(pc->fwcfg.dma_addr, 0, sizeof(pc->fwcfg.dma_addr));
	if (pc->have_chip_state) {
		r = crosvm_set_pic_state(conn, false, &pc->pic0);
		if (r == 0)
			r = crosvm_set_pic_state(conn, true, &pc->pic1);
		if (r == 0)
			r = crosvm_set_ioapic_state(conn, &pc->ioapic);
		if (r == 0)
			r = crosvm_set_pit_state(conn, &pc->pit);
		if (r < 0) {
			say("reset: interrupt controllers and PIT: %s", strerror(-r));
			return r;
		}
	}
	/* Only the 0.22 way changed the reservation (a split one stays as it is). */
	if (pc->debugcon_async) {
		pc->debugcon_async = false;
		r = crosvm_reserve_range(conn, CROSVM_ADDRESS_SPACE_IOPORT, 0x402, 0);
		if (r == 0)
			r = crosvm_reserve_range(conn, CROSVM_ADDRESS_SPACE_IOPORT, 0x402, 1);
		if (r < 0)
			say("reset: debug console: %s", strerror(-r));
	}
	return 0;
}

/* Waits on reset_cond (reset_lock held) for at most 100 ms: stopping must be noticed. */
static void reset_cond_wait(struct pc *pc)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 100000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&pc->reset_cond, &pc->reset_lock, &ts);
}

/*
 * Another vcpu is resetting the machine (its reset_token pause, or this
 * vcpu asked for a reset at the same time): reset this vcpu, report it, and
 * wait until the devices are back before resuming.  A pause left over from
 * a reset that is already over is ignored.
 */
void vcpu_join_reset(struct vcpu_ctx *v)
{
	struct pc *pc = v->pc;
	unsigned int gen;
	int r;

	pthread_mutex_lock(&pc->reset_lock);
	if (!pc->resetting) {
		pthread_mutex_unlock(&pc->reset_lock);
		return;
	}
	gen = pc->reset_gen;
	pthread_mutex_unlock(&pc->reset_lock);
	r = crosvm_vcpu_reset(v->vcpu);
	if (r < 0) {
		say("vcpu %u: reset: %s", v->id, strerror(-r));
		pc_finish(pc, 1);
	}
	pthread_mutex_lock(&pc->reset_lock);
	pc->reset_seen++;
	pthread_cond_broadcast(&pc->reset_cond);
	while (pc->reset_gen == gen && !atomic_load(&pc->stopping))
		reset_cond_wait(pc);
	pthread_mutex_unlock(&pc->reset_lock);
}

/*
 * A machine reset from vcpu v's thread, v stopped: stop and reset every
 * other vcpu (a pause with reset_token), reset the devices and v itself.
 * All vcpus then resume at their power-on state: the first at f000:fff0 in
 * the BIOS ROM, the others waiting for INIT/SIPI.
 */
void machine_reset(struct vcpu_ctx *v)
{
	struct pc *pc = v->pc;
	uint64_t others = 0;
	unsigned int i, n = 0;
	int r;

	pthread_mutex_lock(&pc->reset_lock);
	if (pc->resetting) {
		pthread_mutex_unlock(&pc->reset_lock);
		vcpu_join_reset(v);
		return;
	}
	pc->resetting = true;
	pc->reset_seen = 0;
	pthread_mutex_unlock(&pc->reset_lock);

	for (i = 0; i < pc->nvcpus; i++) {
		if (i != v->id && atomic_load(&pc->vcpus[i].started)) {
			others |= 1ull << i;
			n++;
		}
	}
	if (others) {
		r = crosvm_pause_vcpus(v->conn, others, &reset_token);
		if (r < 0) {
			say("reset: pause_vcpus: %s", strerror(-r));
			pc_finish(pc, 1);
		}
	}
	pthread_mutex_lock(&pc->reset_lock);
	while (pc->reset_seen < n && !atomic_load(&pc->stopping))
		reset_cond_wait(pc);
	pthread_mutex_unlock(&pc->reset_lock);

	pthread_mutex_lock(&pc->lock);
	r = devices_reset(pc, v->conn);
	pthread_mutex_unlock(&pc->lock);
	if (r == 0)
		r = crosvm_vcpu_reset(v->vcpu);
	if (r < 0) {
		say("vcpu %u: machine reset: %s", v->id, strerror(-r));
		pc_finish(pc, 1);
	}

	pthread_mutex_lock(&pc->reset_lock);
	pc->resetting = false;
	pc->reset_gen++;
	pthread_cond_broadcast(&pc->reset_cond);
	pthread_mutex_unlock(&pc->reset_lock);
}
