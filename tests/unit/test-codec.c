// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Unit tests of the codec layer both peers share (common/codec.h,
 * common/shm-proto.h, common/util.h): every converter is driven both ways and
 * the result compared with what went in, byte for byte where a protobuf
 * message is involved (both sides packed with protobuf-c); and every bound
 * a decoder enforces on a hostile header is hit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec.h"
#include "plugin.pb-c.h"
#include "shm-chan.h"
#include "shm-proto.h"
#include "util.h"

/* ---------------------------------------------------------------------------
 * Helpers.
 */

/* Packs a protobuf-c message into a fresh buffer; *len gets its size. */
static uint8_t *pack_msg(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(m, buf), *len);
	return buf;
}

/* Both messages encode to the same bytes. */
static void assert_same_wire(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la, lb;
	uint8_t *pa = pack_msg(a, &la), *pb = pack_msg(b, &lb);

	assert_int_equal(la, lb);
	assert_memory_equal(pa, pb, la);
	free(pa);
	free(pb);
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static struct kvm_cpuid_entry2 kvm_entry(uint32_t fn, uint32_t index, uint32_t flags)
{
	struct kvm_cpuid_entry2 k;

	memset(&k, 0, sizeof(k));
	k.function = fn;
	k.index = index;
	k.flags = flags;
	k.eax = fn ^ 0x11111111u;
	k.ebx = fn ^ 0x22222222u;
	k.ecx = fn ^ 0x33333333u;
	k.edx = fn ^ 0x44444444u;
	return k;
}

/* ---------------------------------------------------------------------------
 * State image sizes.
 */

static void state_sizes(void **state)
{
	(void)state;
	assert_int_equal(codec_vcpu_state_size(PLUGVM__VCPU_REQUEST__STATE_SET__REGS),
			 sizeof(struct kvm_regs));
	assert_int_equal(codec_vcpu_state_size(PLUGVM__VCPU_REQUEST__STATE_SET__SREGS),
			 sizeof(struct kvm_sregs));
	assert_int_equal(codec_vcpu_state_size(PLUGVM__VCPU_REQUEST__STATE_SET__FPU),
			 sizeof(struct kvm_fpu));
	assert_int_equal(codec_vcpu_state_size(PLUGVM__VCPU_REQUEST__STATE_SET__DEBUGREGS),
			 sizeof(struct kvm_debugregs));
	assert_int_equal(codec_vcpu_state_size(PLUGVM__VCPU_REQUEST__STATE_SET__LAPIC),
			 sizeof(struct kvm_lapic_state));
	assert_int_equal(codec_vcpu_state_size(PLUGVM__VCPU_REQUEST__STATE_SET__MP),
			 sizeof(struct kvm_mp_state));
	assert_int_equal(codec_vcpu_state_size(PLUGVM__VCPU_REQUEST__STATE_SET__XCREGS),
			 sizeof(struct kvm_xcrs));
	assert_int_equal(codec_vcpu_state_size(PLUGVM__VCPU_REQUEST__STATE_SET__EVENTS),
			 sizeof(struct kvm_vcpu_events));
	assert_int_equal(codec_vcpu_state_size(-1), 0);
	assert_int_equal(codec_vcpu_state_size(8), 0);
	assert_int_equal(codec_vcpu_state_size(1 << 30), 0);

	assert_int_equal(codec_vm_state_size(PLUGVM__MAIN_REQUEST__STATE_SET__PIC0), 16);
	assert_int_equal(codec_vm_state_size(PLUGVM__MAIN_REQUEST__STATE_SET__PIC1), 16);
	assert_int_equal(codec_vm_state_size(PLUGVM__MAIN_REQUEST__STATE_SET__IOAPIC), 216);
	assert_int_equal(codec_vm_state_size(PLUGVM__MAIN_REQUEST__STATE_SET__PIT), 112);
	assert_int_equal(codec_vm_state_size(PLUGVM__MAIN_REQUEST__STATE_SET__CLOCK), 48);
	assert_int_equal(codec_vm_state_size(-1), 0);
	assert_int_equal(codec_vm_state_size(5), 0);
	/* The layout's bound is the largest image. */
	assert_int_equal(SHM_STATE_MAX, sizeof(struct kvm_lapic_state));
}

/* ---------------------------------------------------------------------------
 * CPUID entries.
 */

static void cpuid_entry_roundtrip(void **state)
{
	/* Flags other than the significant-index bit never survive; index always does. */
	const struct kvm_cpuid_entry2 in[] = {
		kvm_entry(0, 0, 0),
		kvm_entry(7, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX),
		kvm_entry(0xd, 3, KVM_CPUID_FLAG_SIGNIFCANT_INDEX | 0x6),
		kvm_entry(0x80000001u, 0x55, 0x6), /* an index without the flag */
		kvm_entry(UINT32_MAX, UINT32_MAX, UINT32_MAX),
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		struct kvm_cpuid_entry2 out, set;
		Plugvm__CpuidEntry c;
		bool has_index = (in[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) != 0;

		codec_cpuid_from_kvm(&in[i], &c);
		assert_int_equal(c.function, in[i].function);
		assert_int_equal(c.has_index, has_index);
		assert_int_equal(c.index, in[i].index);
		assert_int_equal(c.eax, in[i].eax);
		assert_int_equal(c.edx, in[i].edx);

		/* The library's direction: everything back, flags reduced, padding zero. */
		memset(&out, 0xa5, sizeof(out));
		codec_cpuid_to_kvm(&c, &out);
		assert_int_equal(out.function, in[i].function);
		assert_int_equal(out.index, in[i].index);
		assert_int_equal(out.flags, has_index ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0);
		assert_int_equal(out.eax, in[i].eax);
		assert_int_equal(out.ebx, in[i].ebx);
		assert_int_equal(out.ecx, in[i].ecx);
		assert_int_equal(out.edx, in[i].edx);
		for (size_t k = 0; k < ARRAY_SIZE(out.padding); k++)
			assert_int_equal(out.padding[k], 0);

		/* The host's SetCpuid: the index only with has_index. */
		memset(&set, 0xa5, sizeof(set));
		codec_cpuid_to_kvm_set(&c, &set);
		assert_int_equal(set.index, has_index ? in[i].index : 0);
		assert_int_equal(set.flags, has_index ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0);
		assert_int_equal(set.function, in[i].function);
		assert_int_equal(set.ecx, in[i].ecx);
		for (size_t k = 0; k < ARRAY_SIZE(set.padding); k++)
			assert_int_equal(set.padding[k], 0);
	}
}

static void cpuid_list_roundtrip(void **state)
{
	struct kvm_cpuid_entry2 in[5], out[5], keep;
	struct codec_cpuid_list list;
	Plugvm__CpuidResponse resp = PLUGVM__CPUID_RESPONSE__INIT, *back;
	uint8_t *buf;
	size_t len;
	uint32_t count = 0;

	(void)state;
	for (uint32_t i = 0; i < ARRAY_SIZE(in); i++)
		in[i] = kvm_entry(i * 3, i, i % 2 ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0);

	/* Through the wire and back, as host and library do it. */
	assert_int_equal(codec_cpuid_list_from_kvm(in, ARRAY_SIZE(in), &list), 0);
	assert_int_equal(list.n, ARRAY_SIZE(in));
	resp.entries = list.ptrs;
	resp.n_entries = list.n;
	buf = pack_msg(&resp.base, &len);
	back = plugvm__cpuid_response__unpack(NULL, len, buf);
	assert_non_null(back);
	memset(out, 0, sizeof(out));
	assert_int_equal(codec_cpuid_list_to_kvm(back->entries, back->n_entries, ARRAY_SIZE(out),
						 out, &count),
			 0);
	assert_int_equal(count, ARRAY_SIZE(in));
	assert_memory_equal(in, out, sizeof(in));

	/* Too little room: the count is still told, nothing is copied. */
	memset(out, 0x5a, sizeof(out));
	keep = out[0];
	count = 0;
	assert_int_equal(codec_cpuid_list_to_kvm(back->entries, back->n_entries, 4, out, &count),
			 -E2BIG);
	assert_int_equal(count, 5);
	assert_memory_equal(&out[0], &keep, sizeof(keep));
	plugvm__cpuid_response__free_unpacked(back, NULL);
	free(buf);
	codec_cpuid_list_free(&list);
	assert_null(list.entries);
	assert_null(list.ptrs);
	assert_int_equal(list.n, 0);

	/* An empty list still has arrays (a repeated field may point at them). */
	assert_int_equal(codec_cpuid_list_from_kvm(NULL, 0, &list), 0);
	assert_non_null(list.entries);
	assert_non_null(list.ptrs);
	assert_int_equal(list.n, 0);
	codec_cpuid_list_free(&list);
	assert_int_equal(codec_cpuid_list_to_kvm(NULL, 0, 0, NULL, &count), 0);
	assert_int_equal(count, 0);
}

static void shm_cpuid_roundtrip(void **state)
{
	Plugvm__CpuidEntry c = PLUGVM__CPUID_ENTRY__INIT, back;
	struct shm_cpuid_entry e;

	(void)state;
	c.function = 0x40000001u;
	c.has_index = 1;
	c.index = 9;
	c.eax = 1;
	c.ebx = 2;
	c.ecx = 3;
	c.edx = 4;
	e = shm_cpuid_from_proto(&c);
	assert_int_equal(e.flags, 1);
	assert_int_equal(e.pad, 0);
	shm_cpuid_to_proto(&e, &back);
	assert_same_wire(&c.base, &back.base);

	c.has_index = 0;
	e = shm_cpuid_from_proto(&c);
	assert_int_equal(e.flags, 0);
	assert_int_equal(e.index, 9);
	shm_cpuid_to_proto(&e, &back);
	assert_same_wire(&c.base, &back.base);

	/* Hostile flags: only bit 0 means anything. */
	e.flags = 0xfffffffeu;
	shm_cpuid_to_proto(&e, &back);
	assert_false(back.has_index);
}

/* ---------------------------------------------------------------------------
 * Register images.
 */

static void shm_images_roundtrip(void **state)
{
	uint8_t regs[VCPU_STATE_REGS_SIZE], sregs[VCPU_STATE_SREGS_SIZE];
	uint8_t dregs[VCPU_STATE_DEBUGREGS_SIZE];
	uint8_t s_regs[VCPU_STATE_REGS_SIZE], s_sregs[VCPU_STATE_SREGS_SIZE];
	uint8_t s_dregs[VCPU_STATE_DEBUGREGS_SIZE];
	uint8_t c_regs[VCPU_STATE_REGS_SIZE], c_sregs[VCPU_STATE_SREGS_SIZE];
	uint8_t c_dregs[VCPU_STATE_DEBUGREGS_SIZE];
	ProtobufCBinaryData f[3] = { { sizeof(regs), regs }, { 0, NULL },
				      { sizeof(dregs), dregs } };
	ProtobufCBinaryData g[3] = { { 0, NULL }, { 0, NULL }, { 0, NULL } };
	uint8_t *const slot[3] = { s_regs, s_sregs, s_dregs };
	bool odd = true;
	uint32_t mask;

	(void)state;
	fill_pattern(regs, sizeof(regs), 1);
	fill_pattern(sregs, sizeof(sregs), 2);
	fill_pattern(dregs, sizeof(dregs), 3);
	mask = shm_images_out(slot, (const ProtobufCBinaryData *const[3]){ &f[0], &f[1], &f[2] },
			      &odd);
	assert_int_equal(mask, SHM_F_REGS | SHM_F_DEBUGREGS);
	assert_false(odd);
	shm_images_in((const uint8_t *const[3]){ s_regs, s_sregs, s_dregs },
		      (uint8_t *const[3]){ c_regs, c_sregs, c_dregs },
		      (ProtobufCBinaryData *const[3]){ &g[0], &g[1], &g[2] }, mask);
	assert_int_equal(g[0].len, sizeof(regs));
	assert_memory_equal(g[0].data, regs, sizeof(regs));
	assert_int_equal(g[1].len, 0);
	assert_null(g[1].data);
	assert_int_equal(g[2].len, sizeof(dregs));
	assert_memory_equal(g[2].data, dregs, sizeof(dregs));
	assert_ptr_equal(g[0].data, c_regs); /* the private copy, not the slot */

	/* An image of another size is not copied and is reported. */
	f[1] = (ProtobufCBinaryData){ sizeof(sregs) - 1, sregs };
	mask = shm_images_out(slot, (const ProtobufCBinaryData *const[3]){ &f[0], &f[1], &f[2] },
			      &odd);
	assert_true(odd);
	assert_int_equal(mask, SHM_F_REGS | SHM_F_DEBUGREGS);
	f[1].len = sizeof(sregs);
	mask = shm_images_out(slot, (const ProtobufCBinaryData *const[3]){ &f[0], &f[1], &f[2] },
			      NULL);
	assert_int_equal(mask, SHM_F_ALL_REGS);
	assert_memory_equal(s_sregs, sregs, sizeof(sregs));
}

/* ---------------------------------------------------------------------------
 * Requests through the slot: library encode, host decode.
 */

struct req_fixture {
	struct shm_request *rq;
	struct shm_req_copy *c;
};

static int req_setup(void **state)
{
	struct req_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->rq = calloc(1, sizeof(*f->rq));
	f->c = calloc(1, sizeof(*f->c));
	assert_non_null(f->rq);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int req_teardown(void **state)
{
	struct req_fixture *f = *state;

	free(f->rq);
	free(f->c);
	free(f);
	return 0;
}

/* Encodes req into the slot, publishes the header as a plugin would, decodes it as the host. */
static const Plugvm__VcpuRequest *req_through(struct req_fixture *f, const Plugvm__VcpuRequest *req)
{
	struct shm_req_hdr h;

	memset(f->rq, 0xcc, sizeof(*f->rq)); /* stale bytes must not leak through */
	memset(&h, 0, sizeof(h));
	assert_int_equal(shm_request_encode(f->rq, &h, req), 0);
	memcpy(&f->rq->h, &h, sizeof(h));
	assert_int_equal(shm_request_decode(f->c, f->rq), 0);
	assert_int_equal(f->c->req.message_case, req->message_case);
	return &f->c->req;
}

static void request_roundtrip(void **state)
{
	struct req_fixture *f = *state;
	Plugvm__VcpuRequest req;
	uint8_t data[SHM_IO_MAX], regs[VCPU_STATE_REGS_SIZE], sregs[VCPU_STATE_SREGS_SIZE];
	uint8_t dregs[VCPU_STATE_DEBUGREGS_SIZE], lapic[VCPU_STATE_LAPIC_SIZE];
	uint32_t indices[SHM_MSRS_MAX];
	Plugvm__VcpuRequest__MsrEntry msr[3], *msrp[3];
	Plugvm__CpuidEntry cpuid[SHM_CPUID_MAX], *cpuidp[SHM_CPUID_MAX];

	fill_pattern(data, sizeof(data), 9);
	fill_pattern(regs, sizeof(regs), 10);
	fill_pattern(sregs, sizeof(sregs), 11);
	fill_pattern(dregs, sizeof(dregs), 12);
	fill_pattern(lapic, sizeof(lapic), 13);
	for (uint32_t i = 0; i < SHM_MSRS_MAX; i++)
		indices[i] = 0xc0000080u + i;
	for (uint32_t i = 0; i < 3; i++) {
		plugvm__vcpu_request__msr_entry__init(&msr[i]);
		msr[i].index = 0x10 + i;
		msr[i].data = 0x0123456789abcdefull * (i + 1);
		msrp[i] = &msr[i];
	}
	for (uint32_t i = 0; i < SHM_CPUID_MAX; i++) {
		struct kvm_cpuid_entry2 k = kvm_entry(i, i * 2, i % 3 ? 0 : 1);

		codec_cpuid_from_kvm(&k, &cpuid[i]);
		cpuidp[i] = &cpuid[i];
	}

	{
		Plugvm__VcpuRequest__Wait m = PLUGVM__VCPU_REQUEST__WAIT__INIT;

		plugvm__vcpu_request__init(&req);
		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_WAIT;
		req.wait = &m;
		assert_same_wire(&req.base, &req_through(f, &req)->base);
	}
	{
		Plugvm__VcpuRequest__Shutdown m = PLUGVM__VCPU_REQUEST__SHUTDOWN__INIT;

		plugvm__vcpu_request__init(&req);
		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SHUTDOWN;
		req.shutdown = &m;
		assert_same_wire(&req.base, &req_through(f, &req)->base);
	}
	{
		Plugvm__CpuidRequest m = PLUGVM__CPUID_REQUEST__INIT;

		plugvm__vcpu_request__init(&req);
		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_HYPERV_CPUID;
		req.get_hyperv_cpuid = &m;
		assert_same_wire(&req.base, &req_through(f, &req)->base);
	}
	/* Resume: empty, with data only, with every image, with the largest data. */
	{
		Plugvm__VcpuRequest__Resume m = PLUGVM__VCPU_REQUEST__RESUME__INIT;

		plugvm__vcpu_request__init(&req);
		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_RESUME;
		req.resume = &m;
		assert_same_wire(&req.base, &req_through(f, &req)->base);
		assert_int_equal(f->c->hdr.regs_mask, 0);
		m.data = (ProtobufCBinaryData){ 2, data };
		assert_same_wire(&req.base, &req_through(f, &req)->base);
		m.regs = (ProtobufCBinaryData){ sizeof(regs), regs };
		m.sregs = (ProtobufCBinaryData){ sizeof(sregs), sregs };
		m.debugregs = (ProtobufCBinaryData){ sizeof(dregs), dregs };
		assert_same_wire(&req.base, &req_through(f, &req)->base);
		assert_int_equal(f->c->hdr.regs_mask, SHM_F_ALL_REGS);
		m.data = (ProtobufCBinaryData){ SHM_IO_MAX, data };
		m.sregs = (ProtobufCBinaryData){ 0, NULL };
		assert_same_wire(&req.base, &req_through(f, &req)->base);
		assert_int_equal(f->c->hdr.regs_mask, SHM_F_REGS | SHM_F_DEBUGREGS);
		/* The decoded request points into the private copy, never into the slot. */
		assert_ptr_equal(f->c->req.resume->data.data, f->c->raw.data);
		assert_ptr_equal(f->c->req.resume->regs.data, f->c->img.regs);
	}
	{
		Plugvm__VcpuRequest__GetState m = PLUGVM__VCPU_REQUEST__GET_STATE__INIT;

		plugvm__vcpu_request__init(&req);
		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_STATE;
		req.get_state = &m;
		for (int set = 0; set < 8; set++) {
			m.set = (Plugvm__VcpuRequest__StateSet)set;
			assert_same_wire(&req.base, &req_through(f, &req)->base);
		}
	}
	{
		Plugvm__VcpuRequest__SetState m = PLUGVM__VCPU_REQUEST__SET_STATE__INIT;

		plugvm__vcpu_request__init(&req);
		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE;
		req.set_state = &m;
		m.set = PLUGVM__VCPU_REQUEST__STATE_SET__LAPIC;
		m.state = (ProtobufCBinaryData){ sizeof(lapic), lapic };
		assert_same_wire(&req.base, &req_through(f, &req)->base);
		m.set = PLUGVM__VCPU_REQUEST__STATE_SET__MP;
		m.state = (ProtobufCBinaryData){ 4, lapic };
		assert_same_wire(&req.base, &req_through(f, &req)->base);
	}
	{
		Plugvm__VcpuRequest__GetMsrs m = PLUGVM__VCPU_REQUEST__GET_MSRS__INIT;

		plugvm__vcpu_request__init(&req);
		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS;
		req.get_msrs = &m;
		assert_same_wire(&req.base, &req_through(f, &req)->base);
		m.entry_indices = indices;
		m.n_entry_indices = SHM_MSRS_MAX;
		assert_same_wire(&req.base, &req_through(f, &req)->base);
	}
	{
		Plugvm__VcpuRequest__SetMsrs m = PLUGVM__VCPU_REQUEST__SET_MSRS__INIT;

		plugvm__vcpu_request__init(&req);
		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_MSRS;
		req.set_msrs = &m;
		m.entries = msrp;
		m.n_entries = 3;
		assert_same_wire(&req.base, &req_through(f, &req)->base);
	}
	{
		Plugvm__VcpuRequest__SetCpuid m = PLUGVM__VCPU_REQUEST__SET_CPUID__INIT;

		plugvm__vcpu_request__init(&req);
		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_CPUID;
		req.set_cpuid = &m;
		m.entries = cpuidp;
		m.n_entries = SHM_CPUID_MAX;
		assert_same_wire(&req.base, &req_through(f, &req)->base);
	}
	{
		Plugvm__VcpuRequest__EnableCapability m =
			PLUGVM__VCPU_REQUEST__ENABLE_CAPABILITY__INIT;

		plugvm__vcpu_request__init(&req);
		req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_ENABLE_CAPABILITY;
		req.enable_capability = &m;
		m.capability = 123;
		assert_same_wire(&req.base, &req_through(f, &req)->base);
	}
}

static void request_encode_bounds(void **state)
{
	struct req_fixture *f = *state;
	Plugvm__VcpuRequest req = PLUGVM__VCPU_REQUEST__INIT;
	Plugvm__VcpuRequest__Resume res = PLUGVM__VCPU_REQUEST__RESUME__INIT;
	Plugvm__VcpuRequest__SetState ss = PLUGVM__VCPU_REQUEST__SET_STATE__INIT;
	Plugvm__VcpuRequest__GetMsrs gm = PLUGVM__VCPU_REQUEST__GET_MSRS__INIT;
	static uint8_t big[SHM_IO_MAX + 1];
	static uint32_t idx[SHM_MSRS_MAX + 1];
	struct shm_req_hdr h;

	memset(&h, 0, sizeof(h));
	/* No member: nothing the layout could carry. */
	assert_int_equal(shm_request_encode(f->rq, &h, &req), -EINVAL);

	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_RESUME;
	req.resume = &res;
	res.data = (ProtobufCBinaryData){ sizeof(big), big };
	assert_int_equal(shm_request_encode(f->rq, &h, &req), -E2BIG);
	res.data = (ProtobufCBinaryData){ 1, big };
	res.sregs = (ProtobufCBinaryData){ 10, big };
	assert_int_equal(shm_request_encode(f->rq, &h, &req), -EINVAL);

	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_SET_STATE;
	req.set_state = &ss;
	ss.state = (ProtobufCBinaryData){ SHM_STATE_MAX + 1, big };
	assert_int_equal(shm_request_encode(f->rq, &h, &req), -E2BIG);

	req.message_case = PLUGVM__VCPU_REQUEST__MESSAGE_GET_MSRS;
	req.get_msrs = &gm;
	gm.entry_indices = idx;
	gm.n_entry_indices = SHM_MSRS_MAX + 1;
	assert_int_equal(shm_request_encode(f->rq, &h, &req), -E2BIG);
}

/* The host's side of a hostile slot: every header that names too much is a protocol violation. */
static void request_decode_hostile(void **state)
{
	struct req_fixture *f = *state;
	const struct {
		uint32_t kind, len, mask;
	} bad[] = {
		{ SHM_REQ_RESUME, SHM_IO_MAX + 1, 0 },
		{ SHM_REQ_RESUME, UINT32_MAX, 0 },
		{ SHM_REQ_RESUME, 0, 0x20 },
		{ SHM_REQ_RESUME, 0, SHM_F_IS_WRITE },
		{ SHM_REQ_SET_STATE, SHM_STATE_MAX + 1, 0 },
		{ SHM_REQ_GET_MSRS, SHM_MSRS_MAX + 1, 0 },
		{ SHM_REQ_SET_MSRS, SHM_MSRS_MAX + 1, 0 },
		{ SHM_REQ_SET_CPUID, SHM_CPUID_MAX + 1, 0 },
		{ SHM_REQ_SET_CPUID, UINT32_MAX, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&f->rq->h, 0, sizeof(f->rq->h));
		f->rq->h.kind = bad[i].kind;
		f->rq->h.len = bad[i].len;
		f->rq->h.regs_mask = bad[i].mask;
		assert_int_equal(shm_request_decode(f->c, f->rq), -EBADMSG);
		/* The copy the host reports from is the header it looked at. */
		assert_int_equal(f->c->hdr.kind, bad[i].kind);
		assert_int_equal(f->c->hdr.len, bad[i].len);
	}
	/* Exactly at the bounds is fine. */
	f->rq->h = (struct shm_req_hdr){ .kind = SHM_REQ_SET_STATE, .len = SHM_STATE_MAX };
	assert_int_equal(shm_request_decode(f->c, f->rq), 0);
	assert_int_equal(f->c->req.set_state->state.len, SHM_STATE_MAX);
	/* Unknown kinds decode to a request without a member (answered ENOTTY). */
	f->rq->h = (struct shm_req_hdr){ .kind = 0 };
	assert_int_equal(shm_request_decode(f->c, f->rq), 0);
	assert_int_equal(f->c->req.message_case, PLUGVM__VCPU_REQUEST__MESSAGE__NOT_SET);
	f->rq->h = (struct shm_req_hdr){ .kind = 11, .len = UINT32_MAX };
	assert_int_equal(shm_request_decode(f->c, f->rq), 0);
	assert_int_equal(f->c->req.message_case, PLUGVM__VCPU_REQUEST__MESSAGE__NOT_SET);
	/* A state set the handler does not know is passed on, for it to refuse. */
	f->rq->h = (struct shm_req_hdr){ .kind = SHM_REQ_GET_STATE, .set = 0xffffffffu };
	assert_int_equal(shm_request_decode(f->c, f->rq), 0);
	assert_int_equal((int)f->c->req.get_state->set, -1);
}

/* ---------------------------------------------------------------------------
 * Messages through the slot: host encode, library decode.
 */

struct msg_fixture {
	struct shm_msg *m;
	union shm_reply *reply;
	struct shm_msg_copy *c;
};

static int msg_setup(void **state)
{
	struct msg_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->m = calloc(1, sizeof(*f->m));
	f->reply = calloc(1, sizeof(*f->reply));
	f->c = calloc(1, sizeof(*f->c));
	assert_non_null(f->m);
	assert_non_null(f->reply);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int msg_teardown(void **state)
{
	struct msg_fixture *f = *state;

	free(f->m);
	free(f->reply);
	free(f->c);
	free(f);
	return 0;
}

static const Plugvm__VcpuResponse *msg_through(struct msg_fixture *f,
					       const Plugvm__VcpuResponse *resp)
{
	struct shm_msg_hdr h;

	memset(f->m, 0xcc, sizeof(*f->m));
	memset(f->reply, 0xcc, sizeof(*f->reply));
	memset(&h, 0, sizeof(h));
	assert_int_equal(shm_msg_encode(f->m, f->reply, &h, resp), 0);
	memcpy(&f->m->h, &h, sizeof(h));
	assert_int_equal(shm_msg_decode(f->c, f->m, f->reply), 0);
	assert_int_equal(f->c->resp.message_case, resp->message_case);
	return &f->c->resp;
}

static void msg_wait_roundtrip(void **state)
{
	struct msg_fixture *f = *state;
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__Wait w = PLUGVM__VCPU_RESPONSE__WAIT__INIT;
	uint8_t data[SHM_IO_MAX], regs[VCPU_STATE_REGS_SIZE], sregs[VCPU_STATE_SREGS_SIZE];
	uint8_t dregs[VCPU_STATE_DEBUGREGS_SIZE];

	fill_pattern(data, sizeof(data), 21);
	fill_pattern(regs, sizeof(regs), 22);
	fill_pattern(sregs, sizeof(sregs), 23);
	fill_pattern(dregs, sizeof(dregs), 24);
	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT;
	resp.wait = &w;
	{
		Plugvm__VcpuResponse__Wait__Init x = PLUGVM__VCPU_RESPONSE__WAIT__INIT__INIT;

		w.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_INIT;
		w.init = &x;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
	}
	{
		Plugvm__VcpuResponse__Wait__Io x = PLUGVM__VCPU_RESPONSE__WAIT__IO__INIT;

		w.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_IO;
		w.io = &x;
		x.space = PLUGVM__ADDRESS_SPACE__IOPORT;
		x.address = 0x3f8;
		x.is_write = 1;
		x.data = (ProtobufCBinaryData){ 1, data };
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		/* An async write, the largest string PIO, a read with every eager image. */
		x.no_resume = 1;
		x.data = (ProtobufCBinaryData){ SHM_IO_MAX, data };
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		/* API 0.23 io details (u[0], u[1]): a string write of 2-byte elements. */
		x.element_size = 2;
		x.count = SHM_IO_MAX / 2;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		assert_int_equal(f->c->resp.wait->io->count, SHM_IO_MAX / 2);
		x.element_size = 0;
		x.count = 0;
		x.space = PLUGVM__ADDRESS_SPACE__MMIO;
		x.address = UINT64_MAX - 7;
		x.is_write = 0;
		x.no_resume = 0;
		x.data = (ProtobufCBinaryData){ 8, data };
		x.regs = (ProtobufCBinaryData){ sizeof(regs), regs };
		x.sregs = (ProtobufCBinaryData){ sizeof(sregs), sregs };
		x.debugregs = (ProtobufCBinaryData){ sizeof(dregs), dregs };
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		assert_ptr_equal(f->c->resp.wait->io->regs.data, f->c->img.regs);
		/* An empty I/O (a zero-length read never happens, but it must not break). */
		x.data = (ProtobufCBinaryData){ 0, NULL };
		x.sregs = (ProtobufCBinaryData){ 0, NULL };
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		/* An eager image of the wrong size is left out. */
		x.sregs = (ProtobufCBinaryData){ 5, sregs };
		msg_through(f, &resp);
		assert_int_equal(f->c->resp.wait->io->sregs.len, 0);
		assert_int_equal(f->c->resp.wait->io->regs.len, sizeof(regs));
	}
	{
		Plugvm__VcpuResponse__Wait__User x = PLUGVM__VCPU_RESPONSE__WAIT__USER__INIT;

		w.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_USER;
		w.user = &x;
		x.user = 0xfeedfacecafebeefull;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
	}
	{
		Plugvm__VcpuResponse__Wait__HypervCall x =
			PLUGVM__VCPU_RESPONSE__WAIT__HYPERV_CALL__INIT;

		w.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_CALL;
		w.hyperv_call = &x;
		x.input = 1;
		x.params0 = 2;
		x.params1 = UINT64_MAX;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
	}
	{
		Plugvm__VcpuResponse__Wait__HypervSynic x =
			PLUGVM__VCPU_RESPONSE__WAIT__HYPERV_SYNIC__INIT;

		w.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_HYPERV_SYNIC;
		w.hyperv_synic = &x;
		x.msr = 0x40000080u;
		x.control = 1;
		x.evt_page = 0x2000;
		x.msg_page = 0x3000;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
	}
}

static void msg_reply_roundtrip(void **state)
{
	struct msg_fixture *f = *state;
	Plugvm__VcpuResponse resp;
	uint8_t lapic[VCPU_STATE_LAPIC_SIZE];
	uint64_t msr_data[SHM_MSRS_MAX];
	struct kvm_cpuid_entry2 k[SHM_CPUID_MAX];
	struct codec_cpuid_list list;

	fill_pattern(lapic, sizeof(lapic), 31);
	for (uint32_t i = 0; i < SHM_MSRS_MAX; i++)
		msr_data[i] = 0x8000000000000000ull | i;
	for (uint32_t i = 0; i < SHM_CPUID_MAX; i++)
		k[i] = kvm_entry(0x40000000u + i, i, i & 1);

	/* errno alone, with the positive errno of the wire. */
	plugvm__vcpu_response__init(&resp);
	resp.errnum = EPROTO;
	assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
	{
		Plugvm__VcpuResponse__GetState m = PLUGVM__VCPU_RESPONSE__GET_STATE__INIT;

		plugvm__vcpu_response__init(&resp);
		resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE;
		resp.get_state = &m;
		m.state = (ProtobufCBinaryData){ sizeof(lapic), lapic };
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		/* An error reply: the member, no image. */
		m.state = (ProtobufCBinaryData){ 0, NULL };
		resp.errnum = EINVAL;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
	}
	{
		Plugvm__VcpuResponse__GetMsrs m = PLUGVM__VCPU_RESPONSE__GET_MSRS__INIT;

		plugvm__vcpu_response__init(&resp);
		resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_MSRS;
		resp.get_msrs = &m;
		m.entry_data = msr_data;
		m.n_entry_data = SHM_MSRS_MAX;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		m.n_entry_data = 0;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
	}
	{
		Plugvm__CpuidResponse m = PLUGVM__CPUID_RESPONSE__INIT;

		assert_int_equal(codec_cpuid_list_from_kvm(k, SHM_CPUID_MAX, &list), 0);
		plugvm__vcpu_response__init(&resp);
		resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_HYPERV_CPUID;
		resp.get_hyperv_cpuid = &m;
		m.entries = list.ptrs;
		m.n_entries = list.n;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		codec_cpuid_list_free(&list);
	}
	{
		Plugvm__VcpuResponse__SetState a = PLUGVM__VCPU_RESPONSE__SET_STATE__INIT;
		Plugvm__VcpuResponse__SetMsrs b = PLUGVM__VCPU_RESPONSE__SET_MSRS__INIT;
		Plugvm__VcpuResponse__SetCpuid c = PLUGVM__VCPU_RESPONSE__SET_CPUID__INIT;
		Plugvm__VcpuResponse__EnableCapability d =
			PLUGVM__VCPU_RESPONSE__ENABLE_CAPABILITY__INIT;

		plugvm__vcpu_response__init(&resp);
		resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_STATE;
		resp.set_state = &a;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_MSRS;
		resp.set_msrs = &b;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_SET_CPUID;
		resp.set_cpuid = &c;
		resp.errnum = E2BIG;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
		resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_ENABLE_CAPABILITY;
		resp.enable_capability = &d;
		assert_same_wire(&resp.base, &msg_through(f, &resp)->base);
	}
}

static void msg_encode_bounds(void **state)
{
	struct msg_fixture *f = *state;
	Plugvm__VcpuResponse resp = PLUGVM__VCPU_RESPONSE__INIT;
	Plugvm__VcpuResponse__Wait w = PLUGVM__VCPU_RESPONSE__WAIT__INIT;
	Plugvm__VcpuResponse__Wait__Io io = PLUGVM__VCPU_RESPONSE__WAIT__IO__INIT;
	Plugvm__VcpuResponse__GetState gs = PLUGVM__VCPU_RESPONSE__GET_STATE__INIT;
	static uint8_t big[SHM_IO_MAX + 1];
	struct shm_msg_hdr h;

	memset(&h, 0, sizeof(h));
	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT;
	resp.wait = &w;
	/* A Wait without a reason has no slot form. */
	assert_int_equal(shm_msg_encode(f->m, f->reply, &h, &resp), -EINVAL);
	w.exit_case = PLUGVM__VCPU_RESPONSE__WAIT__EXIT_IO;
	w.io = &io;
	io.data = (ProtobufCBinaryData){ sizeof(big), big };
	assert_int_equal(shm_msg_encode(f->m, f->reply, &h, &resp), -EMSGSIZE);
	resp.message_case = PLUGVM__VCPU_RESPONSE__MESSAGE_GET_STATE;
	resp.get_state = &gs;
	gs.state = (ProtobufCBinaryData){ SHM_STATE_MAX + 1, big };
	assert_int_equal(shm_msg_encode(f->m, f->reply, &h, &resp), -EMSGSIZE);
	/* Member 3 (the old resume reply) is never sent. */
	resp.message_case = (Plugvm__VcpuResponse__MessageCase)3;
	assert_int_equal(shm_msg_encode(f->m, f->reply, &h, &resp), -EINVAL);
}

static void msg_decode_hostile(void **state)
{
	struct msg_fixture *f = *state;
	const struct {
		uint32_t kind, exit, len;
	} bad[] = {
		{ SHM_MSG_WAIT, SHM_EXIT_IO, SHM_IO_MAX + 1 },
		{ SHM_MSG_GET_STATE, 0, SHM_STATE_MAX + 1 },
		{ SHM_MSG_GET_MSRS, 0, SHM_MSRS_MAX + 1 },
		{ SHM_MSG_GET_HYPERV_CPUID, 0, SHM_CPUID_MAX + 1 },
		{ SHM_MSG_GET_HYPERV_CPUID, 0, UINT32_MAX },
		{ 3, 0, 0 },
		{ 11, 0, 0 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&f->m->h, 0, sizeof(f->m->h));
		f->m->h.kind = bad[i].kind;
		f->m->h.exit = bad[i].exit;
		f->m->h.len = bad[i].len;
		assert_int_equal(shm_msg_decode(f->c, f->m, f->reply), -EINVAL);
	}
	/* An unknown wait reason: a Wait without one, for the vcpu code to refuse. */
	f->m->h = (struct shm_msg_hdr){ .kind = SHM_MSG_WAIT, .exit = 9 };
	assert_int_equal(shm_msg_decode(f->c, f->m, f->reply), 0);
	assert_int_equal(f->c->resp.message_case, PLUGVM__VCPU_RESPONSE__MESSAGE_WAIT);
	assert_int_equal(f->c->resp.wait->exit_case, PLUGVM__VCPU_RESPONSE__WAIT__EXIT__NOT_SET);
	/* Unknown flag bits on an I/O exit name no image. */
	f->m->h = (struct shm_msg_hdr){ .kind = SHM_MSG_WAIT, .exit = SHM_EXIT_IO, .len = 1,
					.flags = ~SHM_F_ALL_REGS };
	assert_int_equal(shm_msg_decode(f->c, f->m, f->reply), 0);
	assert_int_equal(f->c->resp.wait->io->regs.len, 0);
	assert_true(f->c->resp.wait->io->is_write);
	assert_true(f->c->resp.wait->io->no_resume);
}

/* ---------------------------------------------------------------------------
 * util.h.
 */

static void util_helpers(void **state)
{
	int arr[7];
	size_t cap = 0;
	uint32_t *v = NULL, *nv;
	uint64_t count = 0;
	int fd;

	(void)state;
	assert_int_equal(ARRAY_SIZE(arr), 7);

	/* Doubling from the first capacity, contents kept. */
	nv = grow_array(v, &cap, 1, sizeof(*v), 4);
	assert_non_null(nv);
	assert_int_equal(cap, 4);
	v = nv;
	for (uint32_t i = 0; i < 4; i++)
		v[i] = i * 10;
	assert_ptr_equal(grow_array(v, &cap, 4, sizeof(*v), 4), v);
	assert_int_equal(cap, 4);
	nv = grow_array(v, &cap, 9, sizeof(*v), 4);
	assert_non_null(nv);
	assert_int_equal(cap, 16);
	v = nv;
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(v[i], i * 10);
	/* Overflow: refused, nothing changed. */
	assert_null(grow_array(v, &cap, SIZE_MAX / 2, sizeof(*v), 4));
	assert_null(grow_array(v, &cap, SIZE_MAX, 1, 4));
	assert_int_equal(cap, 16);
	assert_int_equal(v[3], 30);
	free(v);
	cap = 0;
	v = grow_array(NULL, &cap, 3, sizeof(*v), 0);
	assert_non_null(v);
	assert_int_equal(cap, 4);
	free(v);

	fd = eventfd(0, EFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(efd_signal(fd), 0);
	assert_int_equal(efd_signal(fd), 0);
	assert_int_equal(read(fd, &count, sizeof(count)), sizeof(count));
	assert_int_equal(count, 2);
	close(fd);
	assert_int_equal(efd_signal(fd), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(state_sizes),
		cmocka_unit_test(cpuid_entry_roundtrip),
		cmocka_unit_test(cpuid_list_roundtrip),
		cmocka_unit_test(shm_cpuid_roundtrip),
		cmocka_unit_test(shm_images_roundtrip),
		cmocka_unit_test_setup_teardown(request_roundtrip, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(request_encode_bounds, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(request_decode_hostile, req_setup, req_teardown),
		cmocka_unit_test_setup_teardown(msg_wait_roundtrip, msg_setup, msg_teardown),
		cmocka_unit_test_setup_teardown(msg_reply_roundtrip, msg_setup, msg_teardown),
		cmocka_unit_test_setup_teardown(msg_encode_bounds, msg_setup, msg_teardown),
		cmocka_unit_test_setup_teardown(msg_decode_hostile, msg_setup, msg_teardown),
		cmocka_unit_test(util_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
