// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's guest I/O dispatch: the port map, the pc_env callbacks the models
 * call (interrupts, PAM, reset requests), the debug console's trap mode and port B.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <crosvm.h>

#include "machine.h"
#include "memory.h"
#include "pc.h"

/* ---- pc_env callbacks (called with pc->lock held) ---- */

void env_set_irq(void *opaque, unsigned int irq, bool level)
{
	int r;

	(void)opaque;
	if (!tls_conn)
		return;
	r = crosvm_set_irq(tls_conn, irq, level);
	if (r < 0)
		say("set_irq(%u, %d): %s", irq, level, strerror(-r));
}

void env_pam_changed(void *opaque, const uint8_t pam[7])
{
	struct pc *pc = opaque;
	unsigned long in_place = pc->mem.pam_in_place, remapped = pc->mem.pam_remapped;
	double t;
	int r;

	if (!tls_conn)
		return;
	t = elapsed(pc);
	r = memory_pam_apply(&pc->mem, tls_conn, pam);
	if (pc->opt.verbose)
		say("PAM %02x %02x %02x %02x %02x %02x %02x at %.3f s: %lu segments switched in "
		    "place, %lu remapped, in %.3f s",
		    pam[0], pam[1], pam[2], pam[3], pam[4], pam[5], pam[6], t,
		    pc->mem.pam_in_place - in_place, pc->mem.pam_remapped - remapped,
		    elapsed(pc) - t);
	if (r < 0) {
		say("remapping the BIOS shadow area after a PAM change: %s", strerror(-r));
		pc_finish(pc, 1);
	}
}

void env_reset(void *opaque, const char *why)
{
	struct pc *pc = opaque;

	if (pc->can_reboot) {
		/* The vcpu thread that made the access reboots once the access is done. */
		say("guest requested a reset (%s) at %.3f s; rebooting", why, elapsed(pc));
		atomic_store(&pc->reset_requested, true);
		return;
	}
	/* No reboot (--no-reboot, or a host without the reset extension): the run ends. */
	say("guest requested a reset (%s) at %.3f s; powering off", why, elapsed(pc));
	pc_finish(pc, atomic_load(&pc->matched) ? 0 : 1);
}

/* ---- guest I/O dispatch ---- */

static void debugcon_go_async(struct pc *pc)
{
	int r;

	/*
	 * The debug console needs a synchronous read once (the firmware checks
	 * for the 0xe9 readback), after which it is write-only.  Async writes
	 * do not stop the vcpu, which makes the firmware's log nearly free.
	 */
	pc->debugcon_async = true;
	r = crosvm_reserve_range(tls_conn, CROSVM_ADDRESS_SPACE_IOPORT, 0x402, 0);
	if (r < 0)
		return;
	r = crosvm_reserve_async_write_range(tls_conn, CROSVM_ADDRESS_SPACE_IOPORT, 0x402, 1);
	if (r < 0) {
		say("debug console stays synchronous: %s", strerror(-r));
		crosvm_reserve_range(tls_conn, CROSVM_ADDRESS_SPACE_IOPORT, 0x402, 1);
	}
}

/*
 * Port B.  The in-kernel PIT counts channel 2 but does not serve this port
 * here, so its output (bit 5, which GRUB polls to calibrate the TSC) is
 * computed from the PIT's state.  The gate bit is only remembered: in the
 * modes firmware uses for delays, KVM's PIT counts regardless.
 */
static void port61_io(struct pc *pc, uint8_t *data, uint32_t len, bool is_write)
{
	struct kvm_pit_state2 st;
	struct pit_channel ch2 = { 0 };
	struct timespec now;
	uint32_t i;
	int r;

	if (is_write) {
		for (i = 0; i < len; i++)
			port61_write(&pc->port61, data[i]);
		return;
	}
	r = crosvm_get_pit_state(tls_conn, &st);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (r == 0) {
		ch2.mode = st.channels[2].mode;
		ch2.count = st.channels[2].count;
		ch2.load_ns = st.channels[2].count_load_time;
	}
	for (i = 0; i < len; i++)
		data[i] = port61_read(&pc->port61, &ch2,
				      (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
}

static void pc_io(struct pc *pc, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	unsigned int hz;

	if (port >= 0x3f8 && port <= 0x3ff)
		uart_io(&pc->uart, port, data, len, is_write);
	else if (port >= 0xcf8 && port <= 0xcff)
		pci_io(&pc->pci, port, data, len, is_write);
	else if (port == 0x402) {
		debugcon_io(&pc->env, port, data, len, is_write);
		if (!is_write && !pc->debugcon_async && !pc->debugcon_split &&
		    !pc->opt.sync_debugcon)
			debugcon_go_async(pc);
	} else if (port == 0x60 || port == 0x64)
		ps2_io(&pc->ps2, port, data, len, is_write);
	else if (port == 0x70 || port == 0x71) {
		hz = cmos_periodic_hz(&pc->cmos);
		cmos_io(&pc->cmos, port, data, len, is_write);
		if (cmos_periodic_hz(&pc->cmos) != hz)
			rtc_rate_changed(pc);
	} else if (port == 0x92)
		port92_io(&pc->port92, port, data, len, is_write);
	else if (port == 0x61)
		port61_io(pc, data, len, is_write);
	else if (port == 0x510 || port == 0x511)
		fwcfg_io(&pc->fwcfg, port, data, len, is_write);
	else if (port >= 0x514 && port <= 0x51b)
		fwcfg_dma_io(&pc->fwcfg, port, data, len, is_write);
	else if (pc->have_disk && ((port >= 0x1f0 && port <= 0x1f7) || port == 0x3f6))
		ata_io(&pc->ata, port, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
}

void handle_io(struct pc *pc, struct crosvm_vcpu_event *ev)
{
	uint8_t *data = ev->io_access.data;
	uint32_t len = ev->io_access.length, size, count, i;
	uint16_t port;

	if (ev->io_access.address_space != CROSVM_ADDRESS_SPACE_IOPORT ||
	    ev->io_access.address > 0xffff || !data) {
		/* We trap no MMIO; anything else reads as a floating bus. */
		if (data && !ev->io_access.is_write)
			memset(data, 0xff, len);
		return;
	}
	port = (uint16_t)ev->io_access.address;
	size = ev->io_access.element_size;
	count = ev->io_access.count;
	pthread_mutex_lock(&pc->lock);
	if (port == 0x402 && !ev->io_access.is_write) {
		pc->debugcon_reads++;
	} else if (port == 0x402) {
		pc->debugcon_writes++;
		if (!ev->io_access.no_resume)
			pc->debugcon_sync_writes++;
	}
	/*
	 * String I/O with its element size known (crosvm_enable_io_details()):
	 * `count` accesses of `size` bytes, each to the same port, so an 8-bit
	 * port sees `rep insb` of two bytes as two reads of itself, not as one
	 * 16-bit access to it and the next port.  The byte streams (the ATA
	 * and fw_cfg data ports) take the whole string at once either way.
	 * Without the details the models guess from the length (pc_io_bytewise()).
	 */
	if (size && count > 1 && (uint64_t)size * count == len && port != 0x1f0 &&
	    port != 0x511) {
		pc->io_strings++;
		for (i = 0; i < count; i++)
			pc_io(pc, port, data + (size_t)i * size, size, ev->io_access.is_write);
	} else {
		pc_io(pc, port, data, len, ev->io_access.is_write);
	}
	pthread_mutex_unlock(&pc->lock);
}
