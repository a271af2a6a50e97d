// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Why the shadow area is RAM from the start: the i440FX decodes
 * 0xc0000-0xfffff either to the ROM (PAM read enable off) or to DRAM.
 * KVM cannot switch a range between two backings without remapping, and
 * SeaBIOS only ever switches from "ROM" to "DRAM, then copy the ROM into it"
 * (make_bios_writable copies from the 4 GiB alias when PAM0 said DRAM was
 * off).  So the DRAM already holds that copy at reset, and only the write
 * enable is modelled, with read-only memory slots: a write-protected
 * segment drops guest writes exactly like ROM (or like DRAM with write
 * enable off after make_bios_readonly).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory.h"

#define SHADOW_START 0xc0000ull
#define SHADOW_END 0x100000ull
#define LOWMEM_END 0xa0000ull
#define ISA_BIOS_MAX 0x20000ull

static void pam_segment(unsigned int i, uint64_t *start, uint64_t *len)
{
	if (i == 0) {
		*start = 0xf0000;
		*len = 0x10000;
	} else {
		*start = SHADOW_START + (uint64_t)(i - 1) * 0x4000;
		*len = 0x4000;
	}
}

/* Write enable of segment i: PAM0 high nibble for 0xf0000, then PAM1 low, PAM1 high, ... */
static bool pam_writable(const uint8_t pam[7], unsigned int i)
{
	uint8_t v;

	if (i == 0)
		return (pam[0] >> 4) & 0x2;
	v = pam[1 + (i - 1) / 2];
	return ((i - 1) % 2 ? v >> 4 : v) & 0x2;
}

static int memfd_sealed(const char *name, uint64_t size)
{
	int fd, r;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		goto err_errno;
	/* The host maps these; a shrink would SIGBUS it, so it insists on this seal. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		goto err_errno;
	return fd;

err_errno:
	r = -errno;
	close(fd);
	return r;
}

static int write_all(int fd, const uint8_t *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int read_file(const char *path, uint8_t **ret_buf, size_t *ret_len, size_t max)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto err_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto err_close;
	}
	if ((uint64_t)st.st_size > max) {
		r = -EFBIG;
		goto err_close;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		r = -ENOMEM;
		goto err_close;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			free(buf);
			goto err_close;
		}
		done += (size_t)n;
	}
	close(fd);
	*ret_buf = buf;
	*ret_len = done;
	return 0;

err_close:
	close(fd);
	return r;
}

static void memory_sizes(struct pc_memory *m, uint64_t ram_size)
{
	memset(m, 0, sizeof(*m));
	m->ram_fd = m->rom_fd = -1;
	m->ram_size = ram_size;
	m->below_4g = ram_size < PC_PCI_HOLE ? ram_size : PC_PCI_HOLE;
	m->above_4g = ram_size - m->below_4g;
}

int memory_create(struct pc_memory *m, uint64_t ram_size, uint64_t rom_size)
{
	int r;

	memory_sizes(m, ram_size);
	m->rom_size = rom_size;
	r = memfd_sealed("pc-rom", m->rom_size);
	if (r < 0)
		return r;
	m->rom_fd = r;
	r = memfd_sealed("pc-ram", m->ram_size);
	if (r < 0) {
		memory_free(m);
		return r;
	}
	m->ram_fd = r;
	return 0;
}

int memory_init(struct pc_memory *m, uint64_t ram_size, const char *bios_path, char *err,
		size_t errlen)
{
	uint8_t *rom = NULL;
	size_t rom_len = 0, isa;
	int r;

	memory_sizes(m, ram_size);
	r = read_file(bios_path, &rom, &rom_len, 16 << 20);
	if (r < 0) {
		snprintf(err, errlen, "cannot read %s: %s", bios_path, strerror(-r));
		return r;
	}
	if (rom_len < 0x10000 || rom_len % 4096) {
		snprintf(err, errlen,
			 "%s: %zu bytes; expected a multiple of 4 KiB, at least 64 KiB", bios_path,
			 rom_len);
		r = -EINVAL;
		goto err_rom;
	}
	r = memory_create(m, ram_size, rom_len);
	if (r < 0)
		goto err_msg;
	r = write_all(m->rom_fd, rom, rom_len, 0);
	if (r < 0)
		goto err_msg;
	/* The ISA BIOS alias: the image's last 128 KiB end at 1 MiB, as the chipset decodes it. */
	isa = rom_len < ISA_BIOS_MAX ? rom_len : ISA_BIOS_MAX;
	r = write_all(m->ram_fd, rom + rom_len - isa, isa, (off_t)(SHADOW_END - isa));
	if (r < 0)
		goto err_msg;
	free(rom);
	return 0;

err_msg:
	snprintf(err, errlen, "guest memory setup: %s", strerror(-r));
err_rom:
	free(rom);
	memory_free(m);
	return r;
}

/*
 * With `log` (RAM outside the shadow area, when dirty_log is set) KVM tracks
 * written pages.  The shadow segments come and go with PAM: a migration
 * sends them whole at the end instead.
 */
static int map_ram(struct pc_memory *m, struct crosvm *c, uint64_t off, uint64_t len,
		   uint64_t gpa, bool ro, bool log, struct crosvm_memory **ret)
{
	return crosvm_create_memory(c, m->ram_fd, off, len, gpa, ro, log && m->dirty_log, ret);
}

int memory_map(struct pc_memory *m, struct crosvm *c)
{
	uint64_t start, len;
	unsigned int i;
	int r;

	r = map_ram(m, c, 0, LOWMEM_END, 0, false, true, &m->low);
	if (r < 0)
		return r;
	for (i = 0; i < PAM_SEGMENTS; i++) {
		pam_segment(i, &start, &len);
		r = map_ram(m, c, start, len, start, true, false, &m->pam[i]);
		if (r < 0)
			return r;
		m->pam_ro[i] = true;
	}
	if (m->below_4g > SHADOW_END) {
		r = map_ram(m, c, SHADOW_END, m->below_4g - SHADOW_END, SHADOW_END, false, true,
			    &m->mid);
		if (r < 0)
			return r;
	}
	if (m->above_4g) {
		r = map_ram(m, c, m->below_4g, m->above_4g, PC_4G, false, true, &m->high);
		if (r < 0)
			return r;
	}
	return crosvm_create_memory(c, m->rom_fd, 0, m->rom_size, PC_4G - m->rom_size, true, false,
				    &m->rom);
}

int memory_pam_apply(struct pc_memory *m, struct crosvm *c, const uint8_t pam[7])
{
	uint64_t start, len;
	unsigned int i;
	int r;

	for (i = 0; i < PAM_SEGMENTS; i++) {
		bool ro = !pam_writable(pam, i);

		if (ro == m->pam_ro[i] && m->pam[i])
			continue;
		/*
		 * API 0.23: the host changes the slot's flags while it holds every
		 * vcpu out of the guest, so none sees the segment half-changed.  The
		 * memfd stays the same (only write enable is modelled), so
		 * crosvm_memory_replace() is not needed.
		 */
		if (m->ro_in_place && m->pam[i]) {
			r = crosvm_memory_set_read_only(c, m->pam[i], ro);
			if (r == 0) {
				m->pam_ro[i] = ro;
				m->pam_in_place++;
				continue;
			}
			if (r != -ENOTTY)
				return r;
			m->ro_in_place = false; /* not there after all: the 0.22 way from now on */
		}
		/*
		 * Without the extension a memory slot's flags cannot change in place:
		 * remove and re-add.  The vcpu that wrote PAM is stopped in our
		 * handler; other vcpus touching the segment in between would see a
		 * hole for a moment.
		 */
		if (m->pam[i]) {
			r = crosvm_destroy_memory(c, &m->pam[i]);
			if (r < 0)
				return r;
		}
		pam_segment(i, &start, &len);
		r = map_ram(m, c, start, len, start, ro, false, &m->pam[i]);
		if (r < 0)
			return r;
		m->pam_ro[i] = ro;
		m->pam_remapped++;
	}
	return 0;
}

int memory_shadow_reset(struct pc_memory *m)
{
	size_t isa = m->rom_size < ISA_BIOS_MAX ? m->rom_size : ISA_BIOS_MAX;
	uint8_t *buf = calloc(1, SHADOW_END - SHADOW_START);
	ssize_t n;
	int r;

	if (!buf)
		return -ENOMEM;
	/* Zeros below the ISA BIOS alias, then the image's last 128 KiB, as memory_init() left it. */
	n = pread(m->rom_fd, buf + (SHADOW_END - SHADOW_START) - isa, isa,
		  (off_t)(m->rom_size - isa));
	if (n != (ssize_t)isa) {
		free(buf);
		return n < 0 ? -errno : -EIO;
	}
	r = write_all(m->ram_fd, buf, SHADOW_END - SHADOW_START, (off_t)SHADOW_START);
	free(buf);
	return r;
}

void memory_unmap(struct pc_memory *m, struct crosvm *c)
{
	unsigned int i;

	if (m->low)
		crosvm_destroy_memory(c, &m->low);
	for (i = 0; i < PAM_SEGMENTS; i++)
		if (m->pam[i])
			crosvm_destroy_memory(c, &m->pam[i]);
	if (m->mid)
		crosvm_destroy_memory(c, &m->mid);
	if (m->high)
		crosvm_destroy_memory(c, &m->high);
	if (m->rom)
		crosvm_destroy_memory(c, &m->rom);
}

void memory_free(struct pc_memory *m)
{
	if (m->ram_fd >= 0)
		close(m->ram_fd);
	if (m->rom_fd >= 0)
		close(m->rom_fd);
	m->ram_fd = m->rom_fd = -1;
}
