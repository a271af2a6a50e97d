// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's machine setup: disk, kernel and fw_cfg items, then the VM
 * (vcpus, memory, port reservations, extensions, connections).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <crosvm.h>

#include "machine.h"
#include "memory.h"
#include "pc.h"

/* ---- setup ---- */

static int setup_fwcfg(struct pc *pc)
{
	struct fwcfg *f = &pc->fwcfg;
	uint64_t ram = pc->mem.ram_size;
	uint16_t ncpu = (uint16_t)pc->nvcpus, menu = pc->opt.boot_menu, nographic = pc->opt.sercon;
	uint32_t id = FWCFG_ID_TRADITIONAL, fail_wait = 0xffffffffu;
	struct __attribute__((packed)) {
		uint64_t addr, len;
		uint32_t type;
	} e820[3];
	unsigned int n = 0;
	int r = 0;

	r |= fwcfg_add(f, FWCFG_SIGNATURE, "QEMU", 4);
	if (f->guest_ptr)
		id |= FWCFG_ID_DMA;
	r |= fwcfg_add(f, FWCFG_ID, &id, sizeof(id));
	r |= fwcfg_add(f, FWCFG_RAM_SIZE, &ram, sizeof(ram));
	r |= fwcfg_add(f, FWCFG_NOGRAPHIC, &nographic, sizeof(nographic));
	r |= fwcfg_add(f, FWCFG_NB_CPUS, &ncpu, sizeof(ncpu));
	r |= fwcfg_add(f, FWCFG_MAX_CPUS, &ncpu, sizeof(ncpu));
	r |= fwcfg_add(f, FWCFG_BOOT_MENU, &menu, sizeof(menu));
	/* Wait forever after "No bootable device." instead of rebooting after 60 s. */
	r |= fwcfg_add_file(f, "etc/boot-fail-wait", &fail_wait, sizeof(fail_wait));
	e820[n++] = (typeof(e820[0])){ 0, pc->mem.below_4g, 1 };
	if (pc->mem.above_4g)
		e820[n++] = (typeof(e820[0])){ PC_4G, pc->mem.above_4g, 1 };
	e820[n++] = (typeof(e820[0])){ IDENTITY_MAP_ADDR, 0x4000, 2 };
	r |= fwcfg_add_file(f, "etc/e820", e820, (uint32_t)(n * sizeof(e820[0])));
	return r ? -EINVAL : 0;
}

/* --disk-writable: every sector the guest writes goes to the image file at once. */
static int disk_write_back(void *opaque, uint64_t lba, const uint8_t *data)
{
	struct pc *pc = opaque;
	ssize_t n;

	if (lba >= pc->disk_file_sectors)
		return 0; /* the padding up to a whole cylinder exists only in memory */
	n = pwrite(pc->disk_fd, data, ATA_SECTOR, (off_t)(lba * ATA_SECTOR));
	if (n != ATA_SECTOR) {
		say("writing sector %" PRIu64 " of %s: %s", lba, pc->opt.disk,
		    n < 0 ? strerror(errno) : "short write");
		return -EIO;
	}
	return 0;
}

/*
 * Reads the disk image, refusing what cannot be one: not a regular file, a
 * size that is no whole number of sectors, no MBR boot signature, or a
 * partition table that points past the end of the file (a truncated copy).
 */
int load_disk(struct pc *pc, char *err, size_t errlen)
{
	const char *path = pc->opt.disk;
	uint64_t size, nsect, cyl = 16 * 63;
	struct stat st;
	uint8_t *disk;
	unsigned int i;
	ssize_t got;
	int fd;

	fd = open(path, (pc->opt.disk_writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "disk %s: cannot open%s: %s", path,
			 pc->opt.disk_writable ? " for writing" : "", strerror(errno));
		return -ENOENT;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "disk %s: not a regular file", path);
		goto bad;
	}
	size = (uint64_t)st.st_size;
	if (size < ATA_SECTOR || size % ATA_SECTOR) {
		snprintf(err, errlen,
			 "disk %s: %" PRIu64 " bytes is not a whole number of 512-byte sectors "
			 "(truncated?)",
			 path, size);
		goto bad;
	}
	if (size > MAX_DISK) {
		snprintf(err, errlen, "disk %s: %" PRIu64 " bytes is more than the %llu MiB allowed",
			 path, size, MAX_DISK >> 20);
		goto bad;
	}
	/* Whole cylinders of 16 heads x 63 sectors, so CHS and LBA agree on the size. */
	nsect = (size / ATA_SECTOR + cyl - 1) / cyl * cyl;
	disk = calloc(nsect, ATA_SECTOR);
	if (!disk) {
		snprintf(err, errlen, "out of memory for the disk");
		close(fd);
		return -ENOMEM;
	}
	for (uint64_t off = 0; off < size; off += (uint64_t)got) {
		got = pread(fd, disk + off, size - off, (off_t)off);
		if (got <= 0) {
			snprintf(err, errlen, "disk %s: read error: %s", path,
				 got < 0 ? strerror(errno) : "unexpected end of file");
			free(disk);
			goto bad;
		}
	}
	if (disk[510] != 0x55 || disk[511] != 0xaa) {
		snprintf(err, errlen, "disk %s: not a disk image (no 55 aa boot signature in sector 0)",
			 path);
		free(disk);
		goto bad;
	}
	for (i = 0; i < 4; i++) {
		const uint8_t *e = disk + 446 + 16 * i;
		uint32_t first = (uint32_t)e[8] | (uint32_t)e[9] << 8 | (uint32_t)e[10] << 16 |
				 (uint32_t)e[11] << 24;
		uint32_t count = (uint32_t)e[12] | (uint32_t)e[13] << 8 | (uint32_t)e[14] << 16 |
				 (uint32_t)e[15] << 24;

		/* A GPT's protective entry may claim all of a bigger disk. */
		if (!e[4] || !count || (e[4] == 0xee && count == 0xffffffffu))
			continue;
		if ((uint64_t)first + count > size / ATA_SECTOR) {
			snprintf(err, errlen,
				 "disk %s: partition %u ends at sector %" PRIu64 " but the file has "
				 "%" PRIu64 " sectors (truncated?)",
				 path, i + 1, (uint64_t)first + count, size / ATA_SECTOR);
			free(disk);
			goto bad;
		}
	}
	ata_init(&pc->ata, &pc->env, disk, nsect);
	if (pc->opt.disk_writable) {
		pc->disk_fd = fd;
		pc->disk_file_sectors = size / ATA_SECTOR;
		pc->ata.sector_written = disk_write_back;
		pc->ata.sector_written_opaque = pc;
	} else {
		close(fd);
	}
	return 0;
bad:
	close(fd);
	return -EINVAL;
}

/* Reads a whole regular file of at most `max` bytes; one line in `err` otherwise. */
static int read_file(const char *what, const char *path, size_t max, uint8_t **ret,
		     size_t *ret_size, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s %s: cannot open: %s", what, path, strerror(errno));
		return -ENOENT;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s %s: %lld bytes is more than the %zu MiB allowed", what,
			 path, (long long)st.st_size, max >> 20);
		close(fd);
		return -E2BIG;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		snprintf(err, errlen, "%s %s: out of memory", what, path);
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)st.st_size) {
		n = pread(fd, buf + off, (size_t)st.st_size - off, (off_t)off);
		if (n <= 0) {
			snprintf(err, errlen, "%s %s: read error: %s", what, path,
				 n < 0 ? strerror(errno) : "file shrank");
			free(buf);
			close(fd);
			return -EIO;
		}
		off += (size_t)n;
	}
	close(fd);
	*ret = buf;
	*ret_size = off;
	return 0;
}

/* fw_cfg DMA's view of guest RAM: below 4 GiB the memfd offset is the address. */
void *guest_ram(void *opaque, uint64_t gpa, uint64_t len)
{
	struct pc *pc = opaque;
	const struct pc_memory *m = &pc->mem;
	uint64_t off;

	if (gpa < m->below_4g && len <= m->below_4g - gpa)
		off = gpa;
	else if (gpa >= PC_4G && gpa - PC_4G < m->above_4g && len <= m->above_4g - (gpa - PC_4G))
		off = m->below_4g + (gpa - PC_4G);
	else
		return NULL;
	mark_plugin_dirty(pc, off, len);
	return pc->ram_map + off;
}

/*
 * --kernel: the bzImage, initrd and command line go to fw_cfg's kernel
 * items, and QEMU's linuxboot option ROM (which SeaBIOS finds in fw_cfg's
 * "genroms/" and boots first, as "bootorder" says) loads and starts them.
 */
int setup_kernel(struct pc *pc, char *err, size_t errlen)
{
	const char *append = pc->opt.append ? pc->opt.append : "";
	static const char bootorder[] = "/rom@genroms/linuxboot_dma.bin\n";
	uint8_t *kernel = NULL, *initrd = NULL, *rom = NULL;
	size_t kernel_size, initrd_size = 0, rom_size, alen = strlen(append);
	struct linux_layout l;
	char why[200];
	uint32_t v;
	int r;

	r = read_file("kernel", pc->opt.kernel, MAX_KERNEL, &kernel, &kernel_size, err, errlen);
	if (r < 0)
		return r;
	if (pc->opt.initrd) {
		r = read_file("initrd", pc->opt.initrd, pc->mem.below_4g, &initrd, &initrd_size,
			      err, errlen);
		if (r < 0) {
			if (r == -E2BIG)
				snprintf(err, errlen, "initrd %s: does not fit in %" PRIu64 " MiB of RAM",
					 pc->opt.initrd, pc->opt.mem_mib);
			goto out;
		}
	}
	r = read_file("option ROM", pc->opt.linuxboot_rom, 1u << 20, &rom, &rom_size, err,
		      errlen);
	if (r < 0)
		goto out;
	r = linux_prepare(kernel, kernel_size, initrd_size, alen, pc->mem.below_4g, &l, why,
			  sizeof(why));
	if (r == 0) {
		/* linuxboot_dma copies through fw_cfg DMA, into RAM the plugin maps too. */
		pc->ram_map = mmap(NULL, pc->mem.ram_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				   pc->mem.ram_fd, 0);
		if (pc->ram_map == MAP_FAILED) {
			pc->ram_map = NULL;
			snprintf(err, errlen, "mapping guest RAM for fw_cfg DMA: %s",
				 strerror(errno));
			r = -ENOMEM;
			goto out;
		}
		pc->fwcfg.guest_ptr = guest_ram;
		pc->fwcfg.guest_ptr_opaque = pc;
	}
	if (r < 0) {
		if (r == -E2BIG && pc->opt.initrd && strstr(why, "do not fit"))
			snprintf(err, errlen, "initrd %s: %s", pc->opt.initrd, why);
		else
			snprintf(err, errlen, "kernel %s: %s", pc->opt.kernel, why);
		goto out;
	}
	r = 0;
	v = l.setup_addr;
	r |= fwcfg_add(&pc->fwcfg, FWCFG_SETUP_ADDR, &v, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_SETUP_SIZE, &l.setup_size, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_SETUP_DATA, kernel, l.setup_size);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_KERNEL_ADDR, &l.kernel_addr, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_KERNEL_SIZE, &l.kernel_size, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_KERNEL_DATA, kernel + l.setup_size, l.kernel_size);
	v = (uint32_t)alen + 1;
	r |= fwcfg_add(&pc->fwcfg, FWCFG_CMDLINE_ADDR, &l.cmdline_addr, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_CMDLINE_SIZE, &v, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_CMDLINE_DATA, append, v);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_INITRD_ADDR, &l.initrd_addr, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_INITRD_SIZE, &l.initrd_size, 4);
	if (initrd_size)
		r |= fwcfg_add(&pc->fwcfg, FWCFG_INITRD_DATA, initrd, l.initrd_size);
	r |= fwcfg_add_file(&pc->fwcfg, "genroms/linuxboot_dma.bin", rom, (uint32_t)rom_size);
	r |= fwcfg_add_file(&pc->fwcfg, "bootorder", bootorder, sizeof(bootorder) - 1);
	if (r) {
		snprintf(err, errlen, "kernel %s: fw_cfg has no room for it", pc->opt.kernel);
		r = -ENOMEM;
	}
out:
	free(kernel);
	free(initrd);
	free(rom);
	return r;
}

static int fetch_cpuid(struct pc *pc)
{
	uint32_t cap = 128, n = 0;
	int r;

	for (;;) {
		free(pc->cpuid);
		pc->cpuid = calloc(cap, sizeof(*pc->cpuid));
		if (!pc->cpuid)
			return -ENOMEM;
		r = crosvm_get_supported_cpuid(pc->crosvm, cap, pc->cpuid, &n);
		if (r == -E2BIG && n > cap && cap < 4096) {
			cap = n;
			continue;
		}
		if (r < 0)
			return r;
		pc->ncpuid = n;
		return 0;
	}
}

struct range {
	uint16_t start, len;
	bool fwcfg, disk, dma;
};

static const struct range ranges[] = {
	{ 0x60, 1 },	     { 0x61, 1 },		   { 0x64, 1 },
	{ 0x70, 2 },
	{ 0x92, 1 },	     { 0x3f8, 8 },		   { 0x402, 1 },
	{ 0xcf8, 8 },	     { 0x510, 2, .fwcfg = true }, { 0x514, 8, .dma = true },
	{ 0x1f0, 8, .disk = true },
	{ 0x3f6, 1, .disk = true },
};

int setup_vm(struct pc *pc, char *err, size_t errlen)
{
	unsigned int i;
	int r;

	while (pc->nvcpus < MAX_VCPUS) {
		struct crosvm_vcpu *v;

		r = crosvm_get_vcpu(pc->crosvm, pc->nvcpus, &v);
		if (r < 0)
			break;
		pc->vcpus[pc->nvcpus].vcpu = v;
		pc->nvcpus++;
	}
	if (!pc->nvcpus) {
		snprintf(err, errlen, "the host gave no vcpus");
		return -ENODEV;
	}
	/* API 0.23: what the host has; a 0.22 host (or --no-extensions) gives no host bits. */
	if (crosvm_get_extensions(pc->crosvm, &pc->ext) < 0)
		pc->ext = 0;
	pc->mem.ro_in_place = pc->ext & CROSVM_EXTENSION_MEMORY_READ_ONLY;
	if (pc->ext & CROSVM_EXTENSION_IO_DETAILS) {
		r = crosvm_enable_io_details(pc->crosvm);
		if (r < 0)
			say("I/O details: %s; string I/O sizes are guessed", strerror(-r));
		pc->io_details = r == 0;
	}
	pc->debugcon_split = !pc->opt.sync_debugcon && (pc->ext & CROSVM_EXTENSION_RANGE_MODE);
	if (pc->debugcon_split)
		pc->debugcon_async = false; /* a snapshot's flag from a 0.22 host means nothing here */

	if (!pc->restoring) {
		cmos_init(&pc->cmos, &pc->env, pc->mem.below_4g, pc->mem.above_4g, pc->nvcpus,
			  pc->have_disk);
		uart_init(&pc->uart, &pc->env);
		ps2_init(&pc->ps2, &pc->env);
		port92_init(&pc->port92, &pc->env);
		pci_init(&pc->pci, &pc->env, pc->have_disk);
	}
	pc->uart.rx_space = input_kick;
	pc->uart.rx_space_opaque = pc;
	if (!pc->opt.no_fwcfg && !pc->restoring) {
		r = setup_fwcfg(pc);
		if (r < 0) {
			snprintf(err, errlen, "fw_cfg setup failed");
			return r;
		}
	}

	r = memory_map(&pc->mem, pc->crosvm);
	if (r < 0) {
		snprintf(err, errlen, "mapping guest memory: %s", strerror(-r));
		return r;
	}
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		if ((ranges[i].fwcfg && pc->opt.no_fwcfg) || (ranges[i].disk && !pc->have_disk) ||
		    (ranges[i].dma && !pc->fwcfg.guest_ptr))
			continue;
		/*
		 * The debug console's reads stop the vcpu (the firmware probes it for
		 * 0xe9), its writes do not.  Without the split mode, a restored debug
		 * console is write-only again at once (see debugcon_go_async).
		 */
		if (ranges[i].start == 0x402 && pc->debugcon_split)
			r = crosvm_reserve_range_mode(pc->crosvm, CROSVM_ADDRESS_SPACE_IOPORT, 0x402,
						      1, CROSVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ);
		else if (ranges[i].start == 0x402 && pc->debugcon_async)
			r = crosvm_reserve_async_write_range(pc->crosvm, CROSVM_ADDRESS_SPACE_IOPORT,
							     0x402, 1);
		else
			r = crosvm_reserve_range(pc->crosvm, CROSVM_ADDRESS_SPACE_IOPORT,
						 ranges[i].start, ranges[i].len);
		if (r < 0) {
			snprintf(err, errlen, "reserving ports 0x%x+%u: %s", ranges[i].start,
				 ranges[i].len, strerror(-r));
			return r;
		}
	}
	r = crosvm_create_irq_event(pc->crosvm, 8, &pc->rtc_irq);
	if (r < 0) {
		snprintf(err, errlen, "irq event for the RTC: %s", strerror(-r));
		return r;
	}
	if (pc->restoring) {
		r = restore_vm(pc, err, errlen);
		if (r < 0)
			return r;
	}
	r = fetch_cpuid(pc);
	if (r < 0) {
		snprintf(err, errlen, "supported CPUID: %s", strerror(-r));
		return r;
	}
	/*
	 * The RTC on vcpu 0's thread needs crosvm_vcpu_wait_timeout() and
	 * crosvm_vcpu_kick(), which the library (API 0.23) provides with any host.
	 */
	if (!pc->opt.rtc_thread) {
		if (pc->ext & CROSVM_EXTENSION_VCPU_KICK)
			pc->rtc_on_vcpu0 = true;
		else
			say("the library cannot kick vcpus: the RTC runs on a thread of its own");
	}
	/*
	 * Reboots need the host's reset extension (API 0.23); without it (crosvm's
	 * host) a reset ends the run and a triple fault ends the VM, as before.
	 */
	if (!pc->opt.no_reboot) {
		if ((pc->ext & CROSVM_EXTENSION_RESET) && crosvm_enable_reset_events(pc->crosvm) == 0)
			pc->can_reboot = true;
		else
			say("the host cannot reset vcpus: a guest reset powers off");
	}
	if (pc->can_reboot) {
		r = crosvm_get_pic_state(pc->crosvm, false, &pc->pic0);
		if (r == 0)
			r = crosvm_get_pic_state(pc->crosvm, true, &pc->pic1);
		if (r == 0)
			r = crosvm_get_ioapic_state(pc->crosvm, &pc->ioapic);
		if (r == 0)
			r = crosvm_get_pit_state(pc->crosvm, &pc->pit);
		if (r < 0)
			say("interrupt controller state: %s; a reset keeps it", strerror(-r));
		pc->have_chip_state = r == 0;
	}
	/* Only Intel without unrestricted guest needs it for real mode; elsewhere it is inert. */
	r = crosvm_set_identity_map_addr(pc->crosvm, IDENTITY_MAP_ADDR);
	if (r < 0)
		say("set_identity_map_addr: %s (ignored)", strerror(-r));

	if (!pc->opt.no_stdin) {
		r = crosvm_new_connection(pc->crosvm, &pc->input_conn);
		if (r < 0) {
			snprintf(err, errlen, "connection for the console input: %s", strerror(-r));
			return r;
		}
	}
	for (i = 0; i < pc->nvcpus; i++) {
		struct vcpu_ctx *v = &pc->vcpus[i];

		v->pc = pc;
		v->id = i;
		r = crosvm_new_connection(pc->crosvm, &v->conn);
		if (r < 0) {
			snprintf(err, errlen, "connection for vcpu %u: %s", i, strerror(-r));
			return r;
		}
	}
	return 0;
}
