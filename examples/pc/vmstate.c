// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Reading and writing KVM's part of the pc machine through crosvm.h, and
 * its snapshot encoding (see vmstate.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmstate.h"

/* KVM takes at most this many MSRs per KVM_GET_MSRS / KVM_SET_MSRS. */
#define MSR_CHUNK 256u
#define MAX_MSRS 4096u
#define MAX_CPUID 4096u
#define PAGE 4096u
#define MSR_IA32_TSC_DEADLINE 0x6e0u
/* An XSAVE area is 4 KiB, about 11 KiB with AMX; more is not a real one. */
#define MAX_XSAVE (1u << 20)

int vmstate_msr_list(struct crosvm *c, uint32_t **list, uint32_t *n)
{
	uint32_t cap = 256, got = 0;
	uint32_t *l = NULL;
	int r;

	for (;;) {
		free(l);
		l = calloc(cap, sizeof(*l));
		if (!l)
			return -ENOMEM;
		r = crosvm_get_msr_index_list(c, cap, l, &got);
		if (r == -E2BIG && got > cap && got <= MAX_MSRS) {
			cap = got;
			continue;
		}
		if (r < 0) {
			free(l);
			return r;
		}
		*list = l;
		*n = got;
		return 0;
	}
}

/*
 * Reads `n` MSRs into `out` (index set by the caller), dropping those KVM
 * cannot read: KVM stops at the first one, which is skipped.  Returns how
 * many entries of `out` hold readable MSRs, or an error.
 */
static int get_msrs(struct crosvm_vcpu *v, struct kvm_msr_entry *out, uint32_t n)
{
	uint32_t done = 0, kept = 0;

	while (done < n) {
		uint32_t chunk = n - done > MSR_CHUNK ? MSR_CHUNK : n - done, got = 0;
		int r;

		/* Compact as we go: entries [kept, kept + chunk) are the next to read. */
		memmove(&out[kept], &out[done], chunk * sizeof(*out));
		r = crosvm_vcpu_get_msrs(v, chunk, &out[kept], &got);
		if (r < 0)
			return r;
		if (got > chunk)
			return -EPROTO;
		kept += got;
		done += got;
		if (got < chunk)
			done++; /* the unreadable one */
	}
	return (int)kept;
}

/*
 * The whole XSAVE area (API 0.23): AVX, AVX-512 and PKRU are not in
 * kvm_fpu.  A host without the extension (-ENOTTY) leaves st->xsave NULL,
 * and the FPU and SSE state travel in st->fpu alone.
 */
static int get_xsave(struct crosvm_vcpu *v, struct vcpu_state *st)
{
	uint32_t size = 0;
	int r;

	free(st->xsave);
	st->xsave = NULL;
	st->xsave_size = 0;
	r = crosvm_vcpu_get_xsave(v, NULL, 0, &size);
	if (r == -ENOTTY)
		return 0;
	if (r != -E2BIG || size < CROSVM_XSAVE_MIN_SIZE || size > MAX_XSAVE)
		return r < 0 && r != -E2BIG ? r : -EPROTO;
	st->xsave = malloc(size);
	if (!st->xsave)
		return -ENOMEM;
	r = crosvm_vcpu_get_xsave(v, st->xsave, size, &st->xsave_size);
	if (r < 0) {
		free(st->xsave);
		st->xsave = NULL;
		st->xsave_size = 0;
	}
	return r;
}

/*
 * Writes the saved area back; after XCR0 (KVM checks XSTATE_BV against the
 * features CPUID and XCR0 allow).  A host whose area is larger (AMX) gets
 * the saved one with zeros after it: the components it does not name are
 * in their initial state.  Without the extension: -ENOTTY, and the caller
 * keeps what set_fpu wrote.
 */
static int set_xsave(struct crosvm_vcpu *v, const struct vcpu_state *st)
{
	uint32_t size = 0;
	uint8_t *area;
	int r;

	r = crosvm_vcpu_get_xsave(v, NULL, 0, &size);
	if (r != -E2BIG)
		return r < 0 ? r : -EPROTO;
	if (size == st->xsave_size)
		return crosvm_vcpu_set_xsave(v, st->xsave, size);
	if (size < st->xsave_size || size > MAX_XSAVE)
		return -EINVAL;
	area = calloc(1, size);
	if (!area)
		return -ENOMEM;
	memcpy(area, st->xsave, st->xsave_size);
	r = crosvm_vcpu_set_xsave(v, area, size);
	free(area);
	return r;
}

/*
 * A state without an XSAVE area (a version 1 snapshot): kvm_fpu goes into
 * the legacy region of the vcpu's area (the FXSAVE layout) with XSTATE_BV
 * saying x87 and SSE are in use.  KVM_SET_FPU alone is not enough: on a
 * vcpu that has not run yet, what it writes can be lost to the area's
 * initial state (seen on the current machines: XMM0-15 came back zero).
 */
static int fpu_to_xsave(struct crosvm_vcpu *v, const struct kvm_fpu *fpu)
{
	struct vcpu_state tmp = { 0 };
	uint8_t *a;
	int r = get_xsave(v, &tmp);

	if (r < 0 || !tmp.xsave)
		return r;
	a = tmp.xsave;
	memcpy(a + 0, &fpu->fcw, 2);
	memcpy(a + 2, &fpu->fsw, 2);
	a[4] = fpu->ftwx;
	memcpy(a + 6, &fpu->last_opcode, 2);
	memcpy(a + 8, &fpu->last_ip, 8);
	memcpy(a + 16, &fpu->last_dp, 8);
	memcpy(a + 24, &fpu->mxcsr, 4);
	memcpy(a + 32, fpu->fpr, sizeof(fpu->fpr));
	memcpy(a + 160, fpu->xmm, sizeof(fpu->xmm));
	a[512] |= 3; /* XSTATE_BV: x87, SSE */
	r = crosvm_vcpu_set_xsave(v, a, tmp.xsave_size);
	free(tmp.xsave);
	return r;
}

int vcpu_state_get(struct crosvm_vcpu *v, const uint32_t *msr_list, uint32_t nmsr,
		   struct vcpu_state *st)
{
	uint32_t i;
	int r;

	r = crosvm_vcpu_get_regs(v, &st->regs);
	if (!r)
		r = crosvm_vcpu_get_sregs(v, &st->sregs);
	if (!r)
		r = crosvm_vcpu_get_debugregs(v, &st->dregs);
	if (!r)
		r = crosvm_vcpu_get_fpu(v, &st->fpu);
	if (!r)
		r = crosvm_vcpu_get_lapic_state(v, &st->lapic);
	if (!r)
		r = crosvm_vcpu_get_mp_state(v, &st->mp);
	if (!r)
		r = crosvm_vcpu_get_vcpu_events(v, &st->events);
	if (r < 0)
		return r;
	/* Without XSAVE there are no XCRs to carry. */
	st->have_xcrs = crosvm_vcpu_get_xcrs(v, &st->xcrs) == 0;
	r = get_xsave(v, st);
	if (r < 0)
		return r;
	free(st->msrs);
	st->msrs = calloc(nmsr ? nmsr : 1, sizeof(*st->msrs));
	if (!st->msrs)
		return -ENOMEM;
	for (i = 0; i < nmsr; i++)
		st->msrs[i].index = msr_list[i];
	r = get_msrs(v, st->msrs, nmsr);
	if (r < 0)
		return r;
	st->nmsrs = (uint32_t)r;
	return 0;
}

static int set_msrs(struct crosvm_vcpu *v, const struct kvm_msr_entry *e, uint32_t n)
{
	uint32_t done;
	int r;

	for (done = 0; done < n; done += MSR_CHUNK) {
		r = crosvm_vcpu_set_msrs(v, n - done > MSR_CHUNK ? MSR_CHUNK : n - done, &e[done]);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * KVM_SET_MSRS stops at the first MSR it refuses, and crosvm.h does not
 * say where.  So what did not read back as written is written again one by
 * one (a moving counter such as the TSC just gets its value a second time).
 */
static int set_msrs_checked(struct crosvm_vcpu *v, const struct kvm_msr_entry *e, uint32_t n)
{
	struct kvm_msr_entry *back;
	uint32_t i, j = 0, nback;
	int r;

	r = set_msrs(v, e, n);
	if (r < 0 || !n)
		return r;
	back = calloc(n, sizeof(*back));
	if (!back)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		back[i].index = e[i].index;
	r = get_msrs(v, back, n);
	if (r < 0)
		goto out;
	nback = (uint32_t)r;
	r = 0;
	for (i = 0; i < n && !r; i++) {
		/* back[] is e[] without the MSRs that could not be read. */
		if (j < nback && back[j].index == e[i].index) {
			bool same = back[j++].data == e[i].data;

			if (same)
				continue;
		}
		r = crosvm_vcpu_set_msrs(v, 1, &e[i]);
	}
out:
	free(back);
	return r;
}

int vcpu_state_set(struct crosvm_vcpu *v, const struct vcpu_state *st)
{
	struct kvm_sregs flushed;
	uint32_t i;
	int r;

	r = crosvm_vcpu_set_cpuid(v, st->ncpuid, st->cpuid);
	if (r < 0)
		return r;
	/* Special registers first (APIC base, EFER, CR4), and really written: a get flushes them. */
	crosvm_vcpu_set_sregs(v, &st->sregs);
	r = crosvm_vcpu_get_sregs(v, &flushed);
	if (r < 0)
		return r;
	r = crosvm_vcpu_set_fpu(v, &st->fpu);
	if (!r && st->have_xcrs)
		r = crosvm_vcpu_set_xcrs(v, &st->xcrs);
	/* The XSAVE area after XCR0; a host without it keeps the FPU and SSE state above. */
	if (!r) {
		r = st->xsave ? set_xsave(v, st) : fpu_to_xsave(v, &st->fpu);
		if (r == -ENOTTY)
			r = 0;
	}
	if (!r)
		r = set_msrs_checked(v, st->msrs, st->nmsrs);
	if (!r)
		r = crosvm_vcpu_set_mp_state(v, &st->mp);
	if (!r)
		r = crosvm_vcpu_set_lapic_state(v, &st->lapic);
	/* Writing the LAPIC stops its timer; the TSC deadline goes in after it. */
	for (i = 0; !r && i < st->nmsrs; i++)
		if (st->msrs[i].index == MSR_IA32_TSC_DEADLINE)
			r = crosvm_vcpu_set_msrs(v, 1, &st->msrs[i]);
	if (!r) {
		struct kvm_vcpu_events ev = st->events;

		/* Say which parts are meant: pending NMI and SIPI vector too. */
		ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
		r = crosvm_vcpu_set_vcpu_events(v, &ev);
	}
	if (r < 0)
		return r;
	/* Deferred to the resume, which follows. */
	crosvm_vcpu_set_regs(v, &st->regs);
	crosvm_vcpu_set_debugregs(v, &st->dregs);
	return 0;
}

static void put_blob(struct snap_out *o, const void *p, uint32_t n)
{
	snap_put_u32(o, n);
	snap_put(o, p, n);
}

/* A blob of exactly `n` bytes, or `bad`. */
static void get_blob(struct snap_in *in, void *p, uint32_t n)
{
	if (snap_get_u32(in) != n)
		in->bad = true;
	snap_get(in, p, n);
}

void vcpu_state_save(const struct vcpu_state *st, struct snap_out *o)
{
	uint32_t i;

	put_blob(o, &st->regs, sizeof(st->regs));
	put_blob(o, &st->sregs, sizeof(st->sregs));
	put_blob(o, &st->dregs, sizeof(st->dregs));
	put_blob(o, &st->fpu, sizeof(st->fpu));
	snap_put_u8(o, st->have_xcrs);
	put_blob(o, &st->xcrs, sizeof(st->xcrs));
	put_blob(o, &st->lapic, sizeof(st->lapic));
	put_blob(o, &st->mp, sizeof(st->mp));
	put_blob(o, &st->events, sizeof(st->events));
	snap_put_u32(o, st->nmsrs);
	for (i = 0; i < st->nmsrs; i++) {
		snap_put_u32(o, st->msrs[i].index);
		snap_put_u64(o, st->msrs[i].data);
	}
	snap_put_u32(o, st->ncpuid);
	for (i = 0; i < st->ncpuid; i++)
		snap_put(o, &st->cpuid[i], sizeof(st->cpuid[i]));
	/* Format version 2: u8 has-XSAVE, (u32 size, bytes), size 0 without. */
	snap_put_u8(o, st->xsave != NULL);
	put_blob(o, st->xsave, st->xsave ? st->xsave_size : 0);
}

int vcpu_state_restore(struct vcpu_state *st, struct snap_in *in)
{
	uint32_t i;

	memset(st, 0, sizeof(*st));
	get_blob(in, &st->regs, sizeof(st->regs));
	get_blob(in, &st->sregs, sizeof(st->sregs));
	get_blob(in, &st->dregs, sizeof(st->dregs));
	get_blob(in, &st->fpu, sizeof(st->fpu));
	st->have_xcrs = snap_get_bool(in);
	get_blob(in, &st->xcrs, sizeof(st->xcrs));
	get_blob(in, &st->lapic, sizeof(st->lapic));
	get_blob(in, &st->mp, sizeof(st->mp));
	get_blob(in, &st->events, sizeof(st->events));
	st->nmsrs = snap_get_u32(in);
	if (in->bad || st->nmsrs > MAX_MSRS)
		return -EINVAL;
	st->msrs = calloc(st->nmsrs ? st->nmsrs : 1, sizeof(*st->msrs));
	if (!st->msrs)
		return -ENOMEM;
	for (i = 0; i < st->nmsrs; i++) {
		st->msrs[i].index = snap_get_u32(in);
		st->msrs[i].data = snap_get_u64(in);
	}
	st->ncpuid = snap_get_u32(in);
	if (in->bad || st->ncpuid > MAX_CPUID || !st->ncpuid)
		return -EINVAL;
	st->cpuid = calloc(st->ncpuid, sizeof(*st->cpuid));
	if (!st->cpuid)
		return -ENOMEM;
	for (i = 0; i < st->ncpuid; i++)
		snap_get(in, &st->cpuid[i], sizeof(st->cpuid[i]));
	/* A version 1 file ends here: its vcpus carry kvm_fpu only. */
	if (!in->bad && in->off < in->len) {
		bool have = snap_get_bool(in);
		uint32_t size = snap_get_u32(in);

		if (in->bad || have != (size != 0) ||
		    (have && (size < CROSVM_XSAVE_MIN_SIZE || size > MAX_XSAVE)))
			return -EINVAL;
		if (have) {
			st->xsave = malloc(size);
			if (!st->xsave)
				return -ENOMEM;
			st->xsave_size = size;
			snap_get(in, st->xsave, size);
		}
	}
	return snap_in_ok(in) ? 0 : -EINVAL;
}

void vcpu_state_free(struct vcpu_state *st)
{
	free(st->msrs);
	free(st->cpuid);
	free(st->xsave);
	st->msrs = NULL;
	st->cpuid = NULL;
	st->xsave = NULL;
	st->xsave_size = 0;
	st->nmsrs = st->ncpuid = 0;
}

int vm_state_get(struct crosvm *c, struct vm_state *st)
{
	int r;

	memset(st, 0, sizeof(*st));
	r = crosvm_get_pic_state(c, true, &st->pic[0]);
	if (!r)
		r = crosvm_get_pic_state(c, false, &st->pic[1]);
	if (!r)
		r = crosvm_get_ioapic_state(c, &st->ioapic);
	if (!r)
		r = crosvm_get_pit_state(c, &st->pit);
	if (!r)
		r = crosvm_get_clock(c, &st->clock);
	return r;
}

int vm_state_set(struct crosvm *c, const struct vm_state *st)
{
	struct kvm_clock_data clock = { .clock = st->clock.clock };
	int r;

	r = crosvm_set_pic_state(c, true, &st->pic[0]);
	if (!r)
		r = crosvm_set_pic_state(c, false, &st->pic[1]);
	if (!r)
		r = crosvm_set_ioapic_state(c, &st->ioapic);
	/* KVM_SET_PIT2 reloads each channel's count: a period restarts at its beginning. */
	if (!r)
		r = crosvm_set_pit_state(c, &st->pit);
	if (!r)
		r = crosvm_set_clock(c, &clock);
	return r;
}

void vm_state_save(const struct vm_state *st, struct snap_out *o)
{
	put_blob(o, &st->pic[0], sizeof(st->pic[0]));
	put_blob(o, &st->pic[1], sizeof(st->pic[1]));
	put_blob(o, &st->ioapic, sizeof(st->ioapic));
	put_blob(o, &st->pit, sizeof(st->pit));
	put_blob(o, &st->clock, sizeof(st->clock));
}

int vm_state_restore(struct vm_state *st, struct snap_in *in)
{
	memset(st, 0, sizeof(*st));
	get_blob(in, &st->pic[0], sizeof(st->pic[0]));
	get_blob(in, &st->pic[1], sizeof(st->pic[1]));
	get_blob(in, &st->ioapic, sizeof(st->ioapic));
	get_blob(in, &st->pit, sizeof(st->pit));
	get_blob(in, &st->clock, sizeof(st->clock));
	return snap_in_ok(in) ? 0 : -EINVAL;
}

bool vm_state_line_is_level(const struct vm_state *st, unsigned int irq)
{
	const struct kvm_pic_state *pic = &st->pic[irq >= 8];

	if (irq >= 16)
		return false;
	return ((pic->elcr >> (irq & 7)) & 1) || st->ioapic.redirtbl[irq].fields.trig_mode;
}

bool vmstate_page_is_zero(const uint8_t *p)
{
	const uint64_t *q = (const uint64_t *)(const void *)p;
	unsigned int i;

	for (i = 0; i < PAGE / 8; i++)
		if (q[i])
			return false;
	return true;
}

void vmstate_data_extent(int fd, uint64_t off, uint64_t size, uint64_t *start, uint64_t *end)
{
	off_t d, h;

	*start = off;
	*end = size;
	if (fd < 0)
		return;
	/* A memfd's holes were never written: they read as zeros without touching them. */
	d = lseek(fd, (off_t)off, SEEK_DATA);
	if (d < 0) {
		*start = errno == ENXIO ? size : off;
		return;
	}
	h = lseek(fd, d, SEEK_HOLE);
	*start = (uint64_t)d & ~(uint64_t)(PAGE - 1);
	if (h >= 0 && (uint64_t)h < size)
		*end = ((uint64_t)h + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

void vmstate_save_memory(struct snap_writer *w, uint32_t tag, const uint8_t *mem, uint64_t size,
			 int fd)
{
	uint64_t off = 0, ext_end = 0;

	snap_section_begin(w, tag, 1);
	while (off < size && !w->err) {
		uint64_t start, len;
		uint8_t hdr[16];
		struct snap_out o = { .buf = hdr, .cap = sizeof(hdr) };

		if (off >= ext_end) {
			vmstate_data_extent(fd, off, size, &off, &ext_end);
			if (off >= size)
				break;
		}
		if (vmstate_page_is_zero(mem + off)) {
			off += PAGE;
			continue;
		}
		start = off;
		while (off < ext_end && !vmstate_page_is_zero(mem + off))
			off += PAGE;
		len = off - start;
		snap_put_u64(&o, start);
		snap_put_u64(&o, len);
		snap_section_data(w, hdr, sizeof(hdr));
		snap_section_data(w, mem + start, len);
	}
	snap_section_end(w);
}

int vmstate_check_memory(const struct snap_section *s, uint64_t size)
{
	struct snap_in in;
	uint64_t end = 0;

	snap_in_init(&in, s->data, s->len);
	while (!in.bad && in.off < in.len) {
		uint64_t start = snap_get_u64(&in), len = snap_get_u64(&in);

		if (in.bad || start < end || start % PAGE || len % PAGE || !len || start > size ||
		    len > size - start || !snap_get_ptr(&in, len))
			return -EINVAL;
		end = start + len;
	}
	return snap_in_ok(&in) ? 0 : -EINVAL;
}

void vmstate_load_memory(const struct snap_section *s, uint8_t *mem)
{
	struct snap_in in;

	snap_in_init(&in, s->data, s->len);
	while (in.off < in.len) {
		uint64_t start = snap_get_u64(&in), len = snap_get_u64(&in);

		memcpy(mem + start, snap_get_ptr(&in, len), len);
	}
}
