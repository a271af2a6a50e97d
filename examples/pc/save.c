// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's save and restore (--save, --restore; the file format is in
 * snapshot.h and README.md): parking the vcpus, writing and checking the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <crosvm.h>

#include "machine.h"
#include "memory.h"
#include "pc.h"
#include "snapshot.h"
#include "vmstate.h"

/* ---- snapshots (--save, --restore; the format is in snapshot.h and README.md) ---- */

#define TAG_MACH SNAP_TAG('M', 'A', 'C', 'H')
#define TAG_CPU SNAP_TAG('C', 'P', 'U', ' ')
#define TAG_VM SNAP_TAG('V', 'M', ' ', ' ')
#define TAG_CMOS SNAP_TAG('C', 'M', 'O', 'S')
#define TAG_UART SNAP_TAG('U', 'A', 'R', 'T')
#define TAG_PS2 SNAP_TAG('P', 'S', '2', ' ')
#define TAG_P92 SNAP_TAG('P', '9', '2', ' ')
#define TAG_P61 SNAP_TAG('P', '6', '1', ' ')
#define TAG_PCI SNAP_TAG('P', 'C', 'I', ' ')
#define TAG_FWCF SNAP_TAG('F', 'W', 'C', 'F')
#define TAG_ATA SNAP_TAG('A', 'T', 'A', ' ')
#define TAG_DISK SNAP_TAG('D', 'I', 'S', 'K')
#define TAG_ROM SNAP_TAG('R', 'O', 'M', ' ')
#define TAG_RAM SNAP_TAG('R', 'A', 'M', ' ')

/* MACH flags. */
#define MACH_NO_FWCFG 0x01
#define MACH_DISK 0x02
#define MACH_DISK_FILE 0x04 /* --disk-writable: the image file holds the disk, not the snapshot */
#define MACH_FWCFG_DMA 0x08
#define MACH_DEBUGCON_ASYNC 0x10
#define MACH_FLAGS 0x1f

#define PARK_TIMEOUT_S 5

double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The plugin's view of guest RAM, mapped once and kept (fw_cfg DMA uses it too). */
int map_guest_ram(struct pc *pc)
{
	void *p;

	if (pc->ram_map)
		return 0;
	p = mmap(NULL, pc->mem.ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, pc->mem.ram_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	pc->ram_map = p;
	return 0;
}

static uint32_t machine_flags(const struct pc *pc)
{
	return (pc->opt.no_fwcfg ? MACH_NO_FWCFG : 0) | (pc->have_disk ? MACH_DISK : 0) |
	       (pc->disk_fd >= 0 ? MACH_DISK_FILE : 0) |
	       (pc->fwcfg.guest_ptr ? MACH_FWCFG_DMA : 0) |
	       (pc->debugcon_async ? MACH_DEBUGCON_ASYNC : 0);
}

/* One device model's section: its X_save() into a buffer, then into the file. */
#define SAVE_DEVICE(w, tag, save, dev)                  \
	do {                                            \
		struct snap_out o_ = { 0 };             \
		save(dev, &o_);                         \
		snap_write_section(w, tag, 1, &o_);     \
		snap_out_free(&o_);                     \
	} while (0)

/*
 * Writes the whole machine to `fd` (vcpus parked, models locked); without
 * `with_ram` the RAM section is empty (a migration sent RAM already).
 */
int write_machine(struct pc *pc, const struct vm_state *vm, int fd, bool with_ram)
{
	struct snap_writer w;
	struct snap_out o = { 0 };
	uint8_t *rom;
	unsigned int i;
	int r;

	r = map_guest_ram(pc);
	if (r < 0)
		return r;
	rom = mmap(NULL, pc->mem.rom_size, PROT_READ, MAP_SHARED, pc->mem.rom_fd, 0);
	if (rom == MAP_FAILED)
		return -errno;
	snap_write_begin(&w, fd);
	snap_put_u32(&o, pc->nvcpus);
	snap_put_u64(&o, pc->mem.ram_size);
	snap_put_u64(&o, pc->mem.rom_size);
	snap_put_u32(&o, machine_flags(pc));
	snap_put_u64(&o, pc->have_disk ? pc->ata.nsectors : 0);
	snap_write_section(&w, TAG_MACH, 1, &o);
	snap_out_free(&o);
	for (i = 0; i < pc->nvcpus; i++) {
		snap_put_u32(&o, i);
		vcpu_state_save(&pc->vcpus[i].saved, &o);
		snap_write_section(&w, TAG_CPU, 1, &o);
		snap_out_free(&o);
	}
	vm_state_save(vm, &o);
	snap_write_section(&w, TAG_VM, 1, &o);
	snap_out_free(&o);
	SAVE_DEVICE(&w, TAG_CMOS, cmos_save, &pc->cmos);
	SAVE_DEVICE(&w, TAG_UART, uart_save, &pc->uart);
	SAVE_DEVICE(&w, TAG_PS2, ps2_save, &pc->ps2);
	SAVE_DEVICE(&w, TAG_P92, port92_save, &pc->port92);
	SAVE_DEVICE(&w, TAG_P61, port61_save, &pc->port61);
	SAVE_DEVICE(&w, TAG_PCI, pci_save, &pc->pci);
	if (!pc->opt.no_fwcfg)
		SAVE_DEVICE(&w, TAG_FWCF, fwcfg_save, &pc->fwcfg);
	if (pc->have_disk) {
		SAVE_DEVICE(&w, TAG_ATA, ata_save, &pc->ata);
		if (pc->disk_fd < 0)
			vmstate_save_memory(&w, TAG_DISK, pc->ata.disk, pc->ata.nsectors * ATA_SECTOR,
					    -1);
	}
	vmstate_save_memory(&w, TAG_ROM, rom, pc->mem.rom_size, pc->mem.rom_fd);
	vmstate_save_memory(&w, TAG_RAM, pc->ram_map, with_ram ? pc->mem.ram_size : 0,
			    pc->mem.ram_fd);
	r = snap_write_finish(&w);
	munmap(rom, pc->mem.rom_size);
	return r;
}

static int write_snapshot(struct pc *pc, const struct vm_state *vm, char *err, size_t errlen)
{
	const char *path = pc->opt.save;
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "snapshot %s: cannot create: %s", path, strerror(errno));
		return r;
	}
	r = write_machine(pc, vm, fd, true);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r < 0)
		snprintf(err, errlen, "snapshot %s: writing: %s", path, strerror(-r));
	return r;
}

void unpark(struct pc *pc, int how)
{
	pthread_mutex_lock(&pc->park_lock);
	pc->park_release = how;
	pthread_cond_broadcast(&pc->park_cond);
	pthread_mutex_unlock(&pc->park_lock);
}

/*
 * Stops every vcpu in a PAUSED event, where each reads its own state.
 * Returns 0 with all of them parked, or an error (they are resumed).
 */
int park_vcpus(struct pc *pc, char *err, size_t errlen)
{
	struct timespec deadline;
	uint64_t mask = 0;
	unsigned int i, n = 0;
	int r;

	if (!pc->msr_list) {
		r = vmstate_msr_list(pc->crosvm, &pc->msr_list, &pc->nmsr);
		if (r < 0) {
			snprintf(err, errlen, "snapshot: MSR index list: %s", strerror(-r));
			return r;
		}
	}
	for (i = 0; i < pc->nvcpus; i++)
		if (pc->vcpus[i].started) {
			mask |= 1ull << i;
			n++;
		}
	pthread_mutex_lock(&pc->park_lock);
	pc->park_release = PARK_HOLD;
	pc->park_err = 0;
	pthread_mutex_unlock(&pc->park_lock);
	if (n != pc->nvcpus) {
		snprintf(err, errlen, "snapshot: not every vcpu is running");
		return -EAGAIN;
	}
	r = crosvm_pause_vcpus(pc->crosvm, mask, &park_token);
	if (r < 0) {
		snprintf(err, errlen, "snapshot: pause_vcpus: %s", strerror(-r));
		unpark(pc, PARK_RESUME);
		return r;
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += PARK_TIMEOUT_S;
	r = 0;
	pthread_mutex_lock(&pc->park_lock);
	while (pc->parked < n && r == 0)
		r = pthread_cond_timedwait(&pc->park_cond, &pc->park_lock, &deadline);
	if (pc->parked < n) {
		snprintf(err, errlen, "snapshot: %u of %u vcpus stopped within %d s", pc->parked, n,
			 PARK_TIMEOUT_S);
		r = -ETIMEDOUT;
	} else if (pc->park_err) {
		r = pc->park_err;
		snprintf(err, errlen, "snapshot: reading vcpu state: %s", strerror(-r));
	}
	pthread_mutex_unlock(&pc->park_lock);
	if (r < 0)
		unpark(pc, PARK_RESUME);
	return r;
}

/* --save: park, write, and on success end the run with status 0; else the guest goes on. */
int save_machine(struct pc *pc)
{
	struct vm_state vm;
	char err[300];
	double t0 = now_s(), t1;
	int r;

	r = park_vcpus(pc, err, sizeof(err));
	if (r < 0) {
		say("%s; the guest goes on", err);
		return r;
	}
	t1 = now_s();
	pthread_mutex_lock(&pc->lock);
	r = vm_state_get(pc->crosvm, &vm);
	if (r < 0)
		snprintf(err, sizeof(err), "snapshot: reading the VM state: %s", strerror(-r));
	else
		r = write_snapshot(pc, &vm, err, sizeof(err));
	pthread_mutex_unlock(&pc->lock);
	if (r < 0) {
		unpark(pc, PARK_RESUME);
		say("%s; the guest goes on", err);
		return r;
	}
	pc->saved = true;
	unpark(pc, PARK_LEAVE);
	say("saved the machine to %s at %.3f s: vcpus stopped in %.1f ms, written in %.1f ms",
	    pc->opt.save, elapsed(pc), (t1 - t0) * 1e3, (now_s() - t1) * 1e3);
	return 0;
}

volatile sig_atomic_t save_signal_fd = -1;

void save_signal(int sig)
{
	uint64_t one = 1;

	(void)sig;
	if (save_signal_fd >= 0 && write(save_signal_fd, &one, sizeof(one)) < 0)
		return;
}

/* ---- restoring: the whole file is checked before anything reaches KVM ---- */

static int bad_section(const char *path, uint32_t tag, char *err, size_t errlen)
{
	char t[5];

	snprintf(err, errlen, "%s: corrupted snapshot (section %s does not hold what it should)",
		 path, snap_tag_name(tag, t));
	return -EINVAL;
}

/* A device model's section into its X_restore(); a refusal is a corrupted file. */
#define RESTORE_DEVICE(pc, tag, load, dev, err, errlen)                               \
	({                                                                               \
		const struct snap_section *s_ = snap_find(&(pc)->snap, tag, 0);           \
		struct snap_in in_;                                                      \
		snap_in_init(&in_, s_->data, s_->len);                                   \
		load(dev, &in_) < 0 ? bad_section((pc)->opt.restore, tag, err, errlen) : 0; \
	})

/* Which sections a machine with `flags` has, and how many of each. */
static unsigned int sections_wanted(uint32_t tag, uint32_t flags, uint32_t ncpu)
{
	switch (tag) {
	case TAG_MACH:
	case TAG_VM:
	case TAG_CMOS:
	case TAG_UART:
	case TAG_PS2:
	case TAG_P92:
	case TAG_P61:
	case TAG_PCI:
	case TAG_ROM:
	case TAG_RAM:
	case SNAP_TAG_END:
		return 1;
	case TAG_CPU:
		return ncpu;
	case TAG_FWCF:
		return !(flags & MACH_NO_FWCFG);
	case TAG_ATA:
		return (flags & MACH_DISK) != 0;
	case TAG_DISK:
		return (flags & MACH_DISK) && !(flags & MACH_DISK_FILE);
	default:
		return 0;
	}
}

static int check_sections(struct pc *pc, uint32_t flags, uint32_t ncpu, char *err, size_t errlen)
{
	static const uint32_t tags[] = { TAG_MACH, TAG_CPU,  TAG_VM,  TAG_CMOS, TAG_UART,
					 TAG_PS2,  TAG_P92,  TAG_P61, TAG_PCI,	TAG_FWCF,
					 TAG_ATA,  TAG_DISK, TAG_ROM, TAG_RAM,	SNAP_TAG_END };
	const char *path = pc->opt.restore;
	unsigned int i, j, known;
	char t[5];

	for (i = 0; i < pc->snap.nsect; i++) {
		const struct snap_section *s = &pc->snap.sect[i];

		for (j = 0, known = 0; j < sizeof(tags) / sizeof(tags[0]); j++)
			known |= tags[j] == s->tag;
		if (!known || s->version != 1) {
			snprintf(err, errlen, "%s: section %s version %u is not one this pc knows",
				 path, snap_tag_name(s->tag, t), s->version);
			return -EINVAL;
		}
	}
	for (j = 0; j < sizeof(tags) / sizeof(tags[0]); j++) {
		unsigned int want = sections_wanted(tags[j], flags, ncpu);

		if (snap_count(&pc->snap, tags[j]) != want) {
			snprintf(err, errlen, "%s: corrupted snapshot (%u %s sections, expected %u)",
				 path, snap_count(&pc->snap, tags[j]), snap_tag_name(tags[j], t),
				 want);
			return -EINVAL;
		}
	}
	return 0;
}

/* The disk of a restored machine: the snapshot's copy, or the image file given again. */
static int restore_disk(struct pc *pc, uint32_t flags, uint64_t nsect, char *err, size_t errlen)
{
	const char *path = pc->opt.restore;
	uint8_t *disk;
	int r;

	if (flags & MACH_DISK_FILE) {
		if (!pc->opt.disk || !pc->opt.disk_writable) {
			snprintf(err, errlen,
				 "%s: the machine wrote through to its disk image: give it again with "
				 "--disk IMAGE --disk-writable",
				 path);
			return -EINVAL;
		}
		r = load_disk(pc, err, errlen);
		if (r < 0)
			return r;
		if (pc->ata.nsectors != nsect) {
			snprintf(err, errlen, "disk %s: %" PRIu64 " sectors, the snapshot's disk had %" PRIu64,
				 pc->opt.disk, pc->ata.nsectors, nsect);
			return -EINVAL;
		}
		return 0;
	}
	if (pc->opt.disk) {
		snprintf(err, errlen, "%s: the snapshot carries its own disk: drop --disk", path);
		return -EINVAL;
	}
	if (vmstate_check_memory(snap_find(&pc->snap, TAG_DISK, 0), nsect * ATA_SECTOR) < 0)
		return bad_section(path, TAG_DISK, err, errlen);
	disk = calloc(nsect, ATA_SECTOR);
	if (!disk) {
		snprintf(err, errlen, "out of memory for the disk");
		return -ENOMEM;
	}
	vmstate_load_memory(snap_find(&pc->snap, TAG_DISK, 0), disk);
	ata_init(&pc->ata, &pc->env, disk, nsect);
	return 0;
}

int load_snapshot(struct pc *pc, char *err, size_t errlen)
{
	const char *path = pc->opt.restore;
	const struct snap_section *s;
	struct snap_in in;
	uint64_t ram, rom, nsect;
	uint32_t ncpu, flags, i;
	uint8_t *rom_map;
	int r;

	r = snap_open(path, &pc->snap, err, errlen);
	if (r < 0)
		return r;
	s = snap_find(&pc->snap, TAG_MACH, 0);
	if (!s)
		return bad_section(path, TAG_MACH, err, errlen);
	snap_in_init(&in, s->data, s->len);
	ncpu = snap_get_u32(&in);
	ram = snap_get_u64(&in);
	rom = snap_get_u64(&in);
	flags = snap_get_u32(&in);
	nsect = snap_get_u64(&in);
	if (!snap_in_ok(&in) || !ncpu || ncpu > MAX_VCPUS || ram < (16ull << 20) ||
	    ram > (1ull << 40) || ram % (1u << 20) || rom < 0x10000 || rom > (16u << 20) ||
	    rom % 4096 || (flags & ~MACH_FLAGS) ||
	    (!!(flags & MACH_DISK) != !!nsect) || nsect > MAX_DISK / ATA_SECTOR + 16 * 63 ||
	    nsect % (16 * 63))
		return bad_section(path, TAG_MACH, err, errlen);
	r = check_sections(pc, flags, ncpu, err, errlen);
	if (r < 0)
		return r;
	if (vmstate_check_memory(snap_find(&pc->snap, TAG_RAM, 0), ram) < 0)
		return bad_section(path, TAG_RAM, err, errlen);
	if (vmstate_check_memory(snap_find(&pc->snap, TAG_ROM, 0), rom) < 0)
		return bad_section(path, TAG_ROM, err, errlen);

	pc->cpu_restore = calloc(ncpu, sizeof(*pc->cpu_restore));
	if (!pc->cpu_restore) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pc->snap_vcpus = ncpu;
	for (i = 0; i < ncpu; i++) {
		struct vcpu_state st;
		uint32_t id;

		s = snap_find(&pc->snap, TAG_CPU, i);
		snap_in_init(&in, s->data, s->len);
		id = snap_get_u32(&in);
		r = vcpu_state_restore(&st, &in);
		if (r < 0 || id >= ncpu || pc->cpu_restore[id].cpuid) {
			vcpu_state_free(&st);
			return bad_section(path, TAG_CPU, err, errlen);
		}
		pc->cpu_restore[id] = st;
	}
	s = snap_find(&pc->snap, TAG_VM, 0);
	snap_in_init(&in, s->data, s->len);
	if (vm_state_restore(&pc->vm_restore, &in) < 0)
		return bad_section(path, TAG_VM, err, errlen);

	/* The models, built as at power-on and then given their saved registers. */
	pc->opt.no_fwcfg = flags & MACH_NO_FWCFG;
	pc->have_disk = flags & MACH_DISK;
	pc->debugcon_async = flags & MACH_DEBUGCON_ASYNC;
	pc->opt.mem_mib = ram >> 20;
	cmos_init(&pc->cmos, &pc->env, ram < PC_PCI_HOLE ? ram : PC_PCI_HOLE,
		  ram < PC_PCI_HOLE ? 0 : ram - PC_PCI_HOLE, ncpu, pc->have_disk);
	uart_init(&pc->uart, &pc->env);
	ps2_init(&pc->ps2, &pc->env);
	port92_init(&pc->port92, &pc->env);
	pci_init(&pc->pci, &pc->env, pc->have_disk);
	r = RESTORE_DEVICE(pc, TAG_CMOS, cmos_restore, &pc->cmos, err, errlen);
	if (!r)
		r = RESTORE_DEVICE(pc, TAG_UART, uart_restore, &pc->uart, err, errlen);
	if (!r)
		r = RESTORE_DEVICE(pc, TAG_PS2, ps2_restore, &pc->ps2, err, errlen);
	if (!r)
		r = RESTORE_DEVICE(pc, TAG_P92, port92_restore, &pc->port92, err,
				   errlen);
	if (!r)
		r = RESTORE_DEVICE(pc, TAG_P61, port61_restore, &pc->port61, err,
				   errlen);
	if (!r)
		r = RESTORE_DEVICE(pc, TAG_PCI, pci_restore, &pc->pci, err, errlen);
	if (!r && !pc->opt.no_fwcfg)
		r = RESTORE_DEVICE(pc, TAG_FWCF, fwcfg_restore, &pc->fwcfg, err,
				   errlen);
	if (!r && pc->have_disk) {
		r = restore_disk(pc, flags, nsect, err, errlen);
		if (!r)
			r = RESTORE_DEVICE(pc, TAG_ATA, ata_restore, &pc->ata, err,
					   errlen);
	}
	if (r < 0)
		return r;

	/* Guest memory: fresh zeroed memfds (or those a migration filled), then the saved pages. */
	if (pc->mem.ram_fd >= 0 && (pc->mem.ram_size != ram || pc->mem.rom_size != rom))
		return bad_section(path, TAG_MACH, err, errlen);
	r = pc->mem.ram_fd >= 0 ? 0 : memory_create(&pc->mem, ram, rom);
	if (r == 0)
		r = map_guest_ram(pc);
	if (r < 0) {
		snprintf(err, errlen, "guest memory for the snapshot: %s", strerror(-r));
		return r;
	}
	vmstate_load_memory(snap_find(&pc->snap, TAG_RAM, 0), pc->ram_map);
	rom_map = mmap(NULL, rom, PROT_READ | PROT_WRITE, MAP_SHARED, pc->mem.rom_fd, 0);
	if (rom_map == MAP_FAILED) {
		snprintf(err, errlen, "mapping the firmware: %s", strerror(errno));
		return -ENOMEM;
	}
	vmstate_load_memory(snap_find(&pc->snap, TAG_ROM, 0), rom_map);
	munmap(rom_map, rom);
	if (flags & MACH_FWCFG_DMA) {
		pc->fwcfg.guest_ptr = guest_ram;
		pc->fwcfg.guest_ptr_opaque = pc;
	}
	snap_close(&pc->snap);
	pc->restoring = true;
	return 0;
}

/* Before crosvm_start(): the irqchip, PIT and clock, and the lines the models hold high. */
int restore_vm(struct pc *pc, char *err, size_t errlen)
{
	const struct { bool high; unsigned int irq; } lines[] = {
		{ pc->uart.irq_level, 4 },
		{ pc->ps2.irq1, 1 },
		{ pc->ps2.irq12, 12 },
		{ pc->have_disk && pc->ata.irq_level, 14 },
	};
	unsigned int i;
	int r;

	if (pc->nvcpus != pc->snap_vcpus) {
		snprintf(err, errlen,
			 "the snapshot has %u vcpus but the host gave %u (plugvm run --cpus %u)",
			 pc->snap_vcpus, pc->nvcpus, pc->snap_vcpus);
		return -EINVAL;
	}
	r = memory_pam_apply(&pc->mem, pc->crosvm, pc->pci.pam);
	if (r < 0) {
		snprintf(err, errlen, "mapping the shadow area as saved: %s", strerror(-r));
		return r;
	}
	r = vm_state_set(pc->crosvm, &pc->vm_restore);
	if (r < 0) {
		snprintf(err, errlen, "restoring the irqchip, PIT and clock: %s", strerror(-r));
		return r;
	}
	/*
	 * KVM keeps each line's level outside the irqchip state.  A level-
	 * triggered line the models hold high must be raised again; an edge-
	 * triggered one must not (its edge is already in IRR or ISR), and the
	 * model's next change reaches KVM as usual.
	 */
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (!lines[i].high || !vm_state_line_is_level(&pc->vm_restore, lines[i].irq))
			continue;
		r = crosvm_set_irq(pc->crosvm, lines[i].irq, true);
		if (r < 0) {
			snprintf(err, errlen, "raising IRQ %u again: %s", lines[i].irq, strerror(-r));
			return r;
		}
	}
	return 0;
}
