// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * PCI configuration mechanism #1 with the functions SeaBIOS looks for on a
 * QEMU "pc" machine: the i440FX host bridge (SeaBIOS finds it by id, reads
 * its subsystem id to decide it runs on QEMU, and unlocks the BIOS shadow
 * through its PAM registers) and the PIIX3 ISA bridge (PIRQ routing).  With
 * a disk, a PIIX3 IDE function in legacy mode makes SeaBIOS probe the
 * primary ATA channel.  No function has BARs: everything sits at fixed ISA
 * addresses.
 */
#include <errno.h>
#include <string.h>

#include "pc.h"
#include "snapshot.h"

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION 0x08
#define PCI_PROG_IF 0x09
#define PCI_SUBCLASS 0x0a
#define PCI_CLASS 0x0b
#define PCI_CACHE_LINE 0x0c
#define PCI_LATENCY 0x0d
#define PCI_HEADER_TYPE 0x0e
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_SUBSYS_ID 0x2e
#define PCI_INTERRUPT_LINE 0x3c

#define CONFIG_ENABLE 0x80000000u

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static struct pci_func *pci_add(struct pci *p, uint8_t devfn, uint16_t vendor, uint16_t device,
				uint8_t class, uint8_t subclass, uint8_t prog_if, uint8_t rev)
{
	struct pci_func *fn = &p->funcs[p->nfuncs++];

	memset(fn, 0, sizeof(*fn));
	fn->devfn = devfn;
	put16(&fn->cfg[PCI_VENDOR_ID], vendor);
	put16(&fn->cfg[PCI_DEVICE_ID], device);
	fn->cfg[PCI_REVISION] = rev;
	fn->cfg[PCI_PROG_IF] = prog_if;
	fn->cfg[PCI_SUBCLASS] = subclass;
	fn->cfg[PCI_CLASS] = class;
	/* Red Hat / "QEMU virtual machine": SeaBIOS's test for running under QEMU. */
	put16(&fn->cfg[PCI_SUBSYS_VENDOR], 0x1af4);
	put16(&fn->cfg[PCI_SUBSYS_ID], 0x1100);
	put16(&fn->cfg[PCI_STATUS], 0x0280); /* fast back-to-back, medium DEVSEL */
	put16(&fn->wmask[PCI_COMMAND], 0x0147);
	fn->wmask[PCI_CACHE_LINE] = 0xff;
	fn->wmask[PCI_LATENCY] = 0xff;
	fn->wmask[PCI_INTERRUPT_LINE] = 0xff;
	/* Device-specific registers: plain storage unless refined below. */
	memset(&fn->wmask[0x40], 0xff, 0xc0);
	return fn;
}

static void host_bridge_written(struct pci_func *fn, void *opaque, unsigned int off,
				unsigned int len)
{
	struct pci *p = opaque;

	if (off + len <= PAM_REG0 || off >= PAM_REG0 + 7)
		return;
	if (!memcmp(p->pam, &fn->cfg[PAM_REG0], 7))
		return;
	memcpy(p->pam, &fn->cfg[PAM_REG0], 7);
	p->env->pam_changed(p->env->opaque, p->pam);
}

void pci_init(struct pci *p, const struct pc_env *env, bool ide)
{
	struct pci_func *fn;
	unsigned int i;

	memset(p, 0, sizeof(*p));
	p->env = env;

	/* 00:00.0 i440FX PMC.  PAM registers reset to 0: the shadow area reads as ROM. */
	fn = pci_add(p, 0x00, 0x8086, 0x1237, 0x06, 0x00, 0x00, 0x02);
	put16(&fn->cfg[PCI_COMMAND], 0x0006);
	fn->wmask[PAM_REG0] = 0x30; /* only the F-segment's enables exist in PAM0 */
	for (i = 1; i < 7; i++)
		fn->wmask[PAM_REG0 + i] = 0x33;
	fn->cfg[0x72] = 0x02; /* SMRAM: compatible SMRAM at 0xa0000, closed */
	fn->wmask[0x72] = 0x78;
	fn->written = host_bridge_written;
	fn->opaque = p;

	/* 00:01.0 PIIX3 PCI-to-ISA bridge, multi-function. */
	fn = pci_add(p, 0x08, 0x8086, 0x7000, 0x06, 0x01, 0x00, 0x00);
	put16(&fn->cfg[PCI_COMMAND], 0x0007);
	fn->cfg[PCI_HEADER_TYPE] = 0x80;
	for (i = 0; i < 4; i++)
		fn->cfg[0x60 + i] = 0x80; /* PIRQ[A-D] routing disabled */

	if (ide) {
		/* 00:01.1 PIIX3 IDE, both channels in ISA compatibility mode, no bus master. */
		fn = pci_add(p, 0x09, 0x8086, 0x7010, 0x01, 0x01, 0x00, 0x00);
		fn->cfg[0x41] = 0x80; /* IDETIM: primary channel decode enabled */
		fn->cfg[0x43] = 0x80; /* IDETIM: secondary channel decode enabled */
	}
}

struct pci_func *pci_find(struct pci *p, uint8_t devfn)
{
	unsigned int i;

	for (i = 0; i < p->nfuncs; i++)
		if (p->funcs[i].devfn == devfn)
			return &p->funcs[i];
	return NULL;
}

static void pci_config_access(struct pci *p, unsigned int lane, uint8_t *data, uint32_t len,
			      bool is_write)
{
	struct pci_func *fn = NULL;
	unsigned int reg, n, i;

	/* A config cycle covers one dword; bytes beyond it go nowhere. */
	n = len < 4 - lane ? len : 4 - lane;
	if (!is_write)
		memset(data, 0xff, len);
	if (!(p->addr & CONFIG_ENABLE))
		return;
	if (((p->addr >> 16) & 0xff) == 0)
		fn = pci_find(p, (uint8_t)(p->addr >> 8));
	if (!fn)
		return; /* master abort: reads all ones */
	reg = (p->addr & 0xfc) + lane;
	for (i = 0; i < n; i++) {
		if (is_write)
			fn->cfg[reg + i] = (uint8_t)((fn->cfg[reg + i] & ~fn->wmask[reg + i]) |
						     (data[i] & fn->wmask[reg + i]));
		else
			data[i] = fn->cfg[reg + i];
	}
	if (is_write && fn->written)
		fn->written(fn, fn->opaque, reg, n);
}

void pci_io(struct pci *p, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	uint32_t v;

	if (port >= 0xcfc && port <= 0xcff) {
		pci_config_access(p, port - 0xcfc, data, len, is_write);
		return;
	}
	if (port == 0xcf8 && len == 4) {
		/* Only a full dword access reaches CONFIG_ADDRESS. */
		if (is_write) {
			memcpy(&v, data, 4);
			p->addr = v & 0x80fffffcu;
		} else {
			memcpy(data, &p->addr, 4);
		}
		return;
	}
	if (port == 0xcf9 && len == 1) {
		/* PIIX reset control: a 0-to-1 edge of "reset CPU" resets the machine. */
		if (!is_write) {
			data[0] = p->rcr;
			return;
		}
		if ((data[0] & 0x04) && !(p->rcr & 0x04))
			p->env->reset(p->env->opaque, "PIIX reset control register");
		p->rcr = data[0] & 0x02;
		return;
	}
	if (!is_write)
		memset(data, 0xff, len);
}

/* ---- snapshot (section "PCI ") ---- */

void pci_save(const struct pci *p, struct snap_out *o)
{
	unsigned int i;

	snap_put_u32(o, p->addr);
	snap_put_u8(o, p->rcr);
	snap_put(o, p->pam, sizeof(p->pam));
	snap_put_u8(o, (uint8_t)p->nfuncs);
	for (i = 0; i < p->nfuncs; i++) {
		snap_put_u8(o, p->funcs[i].devfn);
		snap_put(o, p->funcs[i].cfg, sizeof(p->funcs[i].cfg));
	}
}

/*
 * `p` comes from pci_init() with the same functions: only the
 * configuration bytes and the mechanism's registers are taken.  The PAM copy
 * is loaded but not reported; the caller maps the shadow area to match.
 */
int pci_restore(struct pci *p, struct snap_in *in)
{
	uint8_t cfg[PCI_MAX_FUNCS][256], pam[7], rcr;
	unsigned int i, n;
	uint32_t addr;

	addr = snap_get_u32(in);
	rcr = snap_get_u8(in);
	snap_get(in, pam, sizeof(pam));
	n = snap_get_u8(in);
	if (n != p->nfuncs)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (snap_get_u8(in) != p->funcs[i].devfn)
			return -EINVAL;
		snap_get(in, cfg[i], sizeof(cfg[i]));
		/* What the guest cannot write must be what pci_init() put there. */
		for (unsigned int j = 0; j < 256; j++)
			if ((cfg[i][j] ^ p->funcs[i].cfg[j]) & ~p->funcs[i].wmask[j])
				return -EINVAL;
	}
	if (!snap_in_ok(in) || memcmp(pam, &cfg[0][PAM_REG0], sizeof(pam)))
		return -EINVAL;
	p->addr = addr;
	p->rcr = rcr;
	memcpy(p->pam, pam, sizeof(pam));
	for (i = 0; i < n; i++)
		memcpy(p->funcs[i].cfg, cfg[i], sizeof(cfg[i]));
	return 0;
}
