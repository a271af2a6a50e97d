// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "private.h"

static_assert(sizeof(struct kvm_pic_state) == 16, "kvm_pic_state image size");
static_assert(sizeof(struct kvm_ioapic_state) == 216, "kvm_ioapic_state image size");
static_assert(sizeof(struct kvm_pit_state2) == 112, "kvm_pit_state2 image size");
static_assert(sizeof(struct kvm_clock_data) == 48, "kvm_clock_data image size");

/*
 * Every set-valued request serialises at least 4 bytes per element, so a
 * longer list can never fit the 4096-byte request limit.  Checking this early
 * keeps a huge count from turning into a huge allocation.
 */
#define MAX_LIST_ELEMS (WIRE_ORIG_REQUEST_MAX / 4)

EXPORT int crosvm_get_shutdown_eventfd(struct crosvm *self)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__GetShutdownEventfd m =
		PLUGVM__MAIN_REQUEST__GET_SHUTDOWN_EVENTFD__INIT;
	struct conn_reply r;
	int ret;

	if (!self)
		return -EINVAL;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_SHUTDOWN_EVENTFD;
	req.get_shutdown_eventfd = &m;
	ret = conn_transact(self, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	if (ret)
		return ret;
	ret = reply_take_last_fd(&r);
	reply_release(&r);
	return ret;
}

EXPORT int crosvm_check_extension(struct crosvm *self, uint32_t extension, bool *has_extension)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__CheckExtension m = PLUGVM__MAIN_REQUEST__CHECK_EXTENSION__INIT;
	struct conn_reply r;
	int ret;

	if (!self || !has_extension)
		return -EINVAL;
	m.extension = extension;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_CHECK_EXTENSION;
	req.check_extension = &m;
	ret = conn_transact(self, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	if (ret)
		return ret;
	if (r.msg->message_case != PLUGVM__MAIN_RESPONSE__MESSAGE_CHECK_EXTENSION) {
		ret = -EPROTO;
	} else {
		*has_extension = r.msg->check_extension->has_extension;
	}
	reply_release(&r);
	return ret;
}

EXPORT int crosvm_enable_capability(struct crosvm *self, uint32_t capability, uint32_t flags,
				    uint64_t args[4])
{
	/* No VM-wide capability may be enabled by a plugin (crosvm never sent one). */
	(void)self;
	(void)capability;
	(void)flags;
	(void)args;
	return -EINVAL;
}

static int cpuid_list(struct crosvm *self, bool emulated, uint32_t n,
		      struct kvm_cpuid_entry2 *entries, uint32_t *out_count)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__CpuidRequest m = PLUGVM__CPUID_REQUEST__INIT;
	const Plugvm__CpuidResponse *resp;
	struct conn_reply r;
	int ret;

	if (!out_count)
		return -EINVAL;
	*out_count = 0;
	if (!self || (n > 0 && !entries))
		return -EINVAL;
	if (emulated) {
		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_EMULATED_CPUID;
		req.get_emulated_cpuid = &m;
	} else {
		req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_SUPPORTED_CPUID;
		req.get_supported_cpuid = &m;
	}
	ret = conn_transact(self, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	if (ret)
		return ret;
	if (emulated && r.msg->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE_GET_EMULATED_CPUID)
		resp = r.msg->get_emulated_cpuid;
	else if (!emulated &&
		 r.msg->message_case == PLUGVM__MAIN_RESPONSE__MESSAGE_GET_SUPPORTED_CPUID)
		resp = r.msg->get_supported_cpuid;
	else
		resp = NULL;
	ret = resp ? codec_cpuid_list_to_kvm(resp->entries, resp->n_entries, n, entries, out_count)
		   : -EPROTO;
	reply_release(&r);
	return ret;
}

EXPORT int crosvm_get_supported_cpuid(struct crosvm *self, uint32_t entry_count,
				      struct kvm_cpuid_entry2 *cpuid_entries, uint32_t *out_count)
{
	return cpuid_list(self, false, entry_count, cpuid_entries, out_count);
}

EXPORT int crosvm_get_emulated_cpuid(struct crosvm *self, uint32_t entry_count,
				     struct kvm_cpuid_entry2 *cpuid_entries, uint32_t *out_count)
{
	return cpuid_list(self, true, entry_count, cpuid_entries, out_count);
}

EXPORT int crosvm_get_msr_index_list(struct crosvm *self, uint32_t entry_count,
				     uint32_t *msr_indices, uint32_t *out_count)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__MsrListRequest m = PLUGVM__MAIN_REQUEST__MSR_LIST_REQUEST__INIT;
	const Plugvm__MainResponse__GetMsrIndexList *list;
	struct conn_reply r;
	int ret;

	if (!out_count)
		return -EINVAL;
	*out_count = 0;
	if (!self || (entry_count > 0 && !msr_indices))
		return -EINVAL;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_MSR_INDEX_LIST;
	req.get_msr_index_list = &m;
	ret = conn_transact(self, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	if (ret)
		return ret;
	if (r.msg->message_case != PLUGVM__MAIN_RESPONSE__MESSAGE_GET_MSR_INDEX_LIST) {
		ret = -EPROTO;
		goto out;
	}
	list = r.msg->get_msr_index_list;
	*out_count = list->n_indices > UINT32_MAX ? UINT32_MAX : (uint32_t)list->n_indices;
	if (list->n_indices > entry_count) {
		ret = -E2BIG;
		goto out;
	}
	if (list->n_indices)
		memcpy(msr_indices, list->indices, list->n_indices * sizeof(uint32_t));
out:
	reply_release(&r);
	return ret;
}

EXPORT int crosvm_net_get_config(struct crosvm *self, struct crosvm_net_config *config)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__GetNetConfig m = PLUGVM__MAIN_REQUEST__GET_NET_CONFIG__INIT;
	const Plugvm__MainResponse__GetNetConfig *nc;
	struct conn_reply r;
	int ret, fd;

	if (!self || !config)
		return -EINVAL;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_NET_CONFIG;
	req.get_net_config = &m;
	ret = conn_transact(self, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	if (ret)
		return ret;
	if (r.msg->message_case != PLUGVM__MAIN_RESPONSE__MESSAGE_GET_NET_CONFIG) {
		ret = -EPROTO;
		goto out;
	}
	nc = r.msg->get_net_config;
	if (nc->host_mac_address.len != sizeof(config->host_mac_address)) {
		ret = -EPROTO;
		goto out;
	}
	fd = reply_take_last_fd(&r);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	memset(config, 0, sizeof(*config));
	config->tap_fd = fd;
	/*
	 * The wire value is s_addr read as a native u32; stored unchanged (docs/protocol.md §3.12).
	 */
	config->host_ip = nc->host_ipv4_address;
	config->netmask = nc->netmask;
	memcpy(config->host_mac_address, nc->host_mac_address.data,
	       sizeof(config->host_mac_address));
out:
	reply_release(&r);
	return ret;
}

static int reserve(struct crosvm *self, uint32_t space, uint64_t start, uint64_t length,
		   bool async_write)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__ReserveRange m = PLUGVM__MAIN_REQUEST__RESERVE_RANGE__INIT;

	if (!self || space > CROSVM_ADDRESS_SPACE_MMIO)
		return -EINVAL;
	m.space = (Plugvm__AddressSpace)space;
	m.start = start;
	m.length = length;
	m.async_write = async_write;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_RESERVE_RANGE;
	req.reserve_range = &m;
	return conn_simple(self, &req);
}

EXPORT int crosvm_reserve_range(struct crosvm *self, uint32_t space, uint64_t start,
				uint64_t length)
{
	return reserve(self, space, start, length, false);
}

EXPORT int crosvm_reserve_async_write_range(struct crosvm *self, uint32_t space, uint64_t start,
					    uint64_t length)
{
	return reserve(self, space, start, length, true);
}

EXPORT int crosvm_set_irq(struct crosvm *self, uint32_t irq_id, bool active)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__SetIrq m = PLUGVM__MAIN_REQUEST__SET_IRQ__INIT;

	if (!self)
		return -EINVAL;
	m.irq_id = irq_id;
	m.active = active;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_IRQ;
	req.set_irq = &m;
	return conn_simple(self, &req);
}

EXPORT int crosvm_set_irq_routing(struct crosvm *self, uint32_t route_count,
				  const struct crosvm_irq_route *routes)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__SetIrqRouting m = PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__INIT;
	Plugvm__MainRequest__SetIrqRouting__Route *rt = NULL, **ptrs = NULL;
	Plugvm__MainRequest__SetIrqRouting__Route__Irqchip *chips = NULL;
	Plugvm__MainRequest__SetIrqRouting__Route__Msi *msis = NULL;
	int ret;

	if (!self || (route_count > 0 && !routes))
		return -EINVAL;
	for (uint32_t i = 0; i < route_count; i++) {
		if (routes[i].kind != CROSVM_IRQ_ROUTE_IRQCHIP &&
		    routes[i].kind != CROSVM_IRQ_ROUTE_MSI)
			return -EINVAL;
	}
	if (route_count > MAX_LIST_ELEMS)
		return -E2BIG;
	if (route_count > 0) {
		rt = calloc(route_count, sizeof(*rt));
		ptrs = calloc(route_count, sizeof(*ptrs));
		chips = calloc(route_count, sizeof(*chips));
		msis = calloc(route_count, sizeof(*msis));
		if (!rt || !ptrs || !chips || !msis) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (uint32_t i = 0; i < route_count; i++) {
		const struct crosvm_irq_route *src = &routes[i];

		plugvm__main_request__set_irq_routing__route__init(&rt[i]);
		rt[i].irq_id = src->irq_id;
		if (src->kind == CROSVM_IRQ_ROUTE_IRQCHIP) {
			plugvm__main_request__set_irq_routing__route__irqchip__init(&chips[i]);
			chips[i].irqchip = src->irqchip.irqchip;
			chips[i].pin = src->irqchip.pin;
			rt[i].route_case =
				PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__ROUTE__ROUTE_IRQCHIP;
			rt[i].irqchip = &chips[i];
		} else {
			plugvm__main_request__set_irq_routing__route__msi__init(&msis[i]);
			msis[i].address = src->msi.address;
			msis[i].data = src->msi.data;
			rt[i].route_case = PLUGVM__MAIN_REQUEST__SET_IRQ_ROUTING__ROUTE__ROUTE_MSI;
			rt[i].msi = &msis[i];
		}
		ptrs[i] = &rt[i];
	}
	m.n_routes = route_count;
	m.routes = ptrs;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_IRQ_ROUTING;
	req.set_irq_routing = &m;
	ret = conn_simple(self, &req);
out:
	free(msis);
	free(chips);
	free(ptrs);
	free(rt);
	return ret;
}

static int hint_check(const struct crosvm_hint *h)
{
	if (h->hint_version != 0 || h->_reserved != 0 || h->address == 0)
		return -EINVAL;
	if (h->address_flags != 0 && h->address_flags != CROSVM_HINT_ON_WRITE)
		return -EINVAL;
	if (h->details_count > CROSVM_MAX_HINT_DETAIL_COUNT)
		return -EINVAL;
	if (h->address_space > CROSVM_ADDRESS_SPACE_MMIO)
		return -EINVAL;
	if (h->details_count > 0 && !h->details)
		return -EINVAL;
	return 0;
}

EXPORT int crosvm_set_hypercall_hint(struct crosvm *self, uint32_t hints_count,
				     const struct crosvm_hint *hints)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__SetCallHint m = PLUGVM__MAIN_REQUEST__SET_CALL_HINT__INIT;
	Plugvm__MainRequest__SetCallHint__RegHint rh[CROSVM_MAX_HINT_DETAIL_COUNT];
	Plugvm__MainRequest__SetCallHint__RegHint *ptrs[CROSVM_MAX_HINT_DETAIL_COUNT];
	int ret;

	if (!self || hints_count > CROSVM_MAX_HINT_COUNT || (hints_count > 0 && !hints))
		return -EINVAL;
	/* hints_count 0 clears the hint: space 0, address 0, no details. */
	if (hints_count == 1) {
		const struct crosvm_hint *h = &hints[0];

		ret = hint_check(h);
		if (ret)
			return ret;
		m.space = (Plugvm__AddressSpace)h->address_space;
		m.address = h->address;
		m.on_write = h->address_flags == CROSVM_HINT_ON_WRITE;
		for (uint16_t i = 0; i < h->details_count; i++) {
			const struct crosvm_hint_detail *d = &h->details[i];

			plugvm__main_request__set_call_hint__reg_hint__init(&rh[i]);
			rh[i].match_rax = d->match_rax;
			rh[i].match_rbx = d->match_rbx;
			rh[i].match_rcx = d->match_rcx;
			rh[i].match_rdx = d->match_rdx;
			rh[i].rax = d->rax;
			rh[i].rbx = d->rbx;
			rh[i].rcx = d->rcx;
			rh[i].rdx = d->rdx;
			rh[i].send_sregs = d->send_sregs;
			rh[i].send_debugregs = d->send_debugregs;
			ptrs[i] = &rh[i];
		}
		m.n_hints = h->details_count;
		m.hints = ptrs;
	}
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_CALL_HINT;
	req.set_call_hint = &m;
	return conn_simple(self, &req);
}

static int vm_get_state(struct crosvm *self, Plugvm__MainRequest__StateSet set, void *out,
			size_t size)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__GetState m = PLUGVM__MAIN_REQUEST__GET_STATE__INIT;
	struct conn_reply r;
	int ret;

	if (!self || !out)
		return -EINVAL;
	m.set = set;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_GET_STATE;
	req.get_state = &m;
	ret = conn_transact(self, &req, NULL, 0, WIRE_MAIN_RESPONSE_MAX, &r);
	if (ret)
		return ret;
	if (r.msg->message_case != PLUGVM__MAIN_RESPONSE__MESSAGE_GET_STATE ||
	    r.msg->get_state->state.len != size)
		ret = -EPROTO;
	else
		memcpy(out, r.msg->get_state->state.data, size);
	reply_release(&r);
	return ret;
}

static int vm_set_state(struct crosvm *self, Plugvm__MainRequest__StateSet set, const void *in,
			size_t size)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__SetState m = PLUGVM__MAIN_REQUEST__SET_STATE__INIT;

	if (!self || !in)
		return -EINVAL;
	m.set = set;
	m.state.data = (uint8_t *)in;
	m.state.len = size;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_STATE;
	req.set_state = &m;
	return conn_simple(self, &req);
}

EXPORT int crosvm_get_pic_state(struct crosvm *self, bool primary, struct kvm_pic_state *state)
{
	return vm_get_state(self,
			    primary ? PLUGVM__MAIN_REQUEST__STATE_SET__PIC0 :
				      PLUGVM__MAIN_REQUEST__STATE_SET__PIC1,
			    state, sizeof(*state));
}

EXPORT int crosvm_set_pic_state(struct crosvm *self, bool primary,
				const struct kvm_pic_state *state)
{
	return vm_set_state(self,
			    primary ? PLUGVM__MAIN_REQUEST__STATE_SET__PIC0 :
				      PLUGVM__MAIN_REQUEST__STATE_SET__PIC1,
			    state, sizeof(*state));
}

EXPORT int crosvm_get_ioapic_state(struct crosvm *self, struct kvm_ioapic_state *state)
{
	return vm_get_state(self, PLUGVM__MAIN_REQUEST__STATE_SET__IOAPIC, state, sizeof(*state));
}

EXPORT int crosvm_set_ioapic_state(struct crosvm *self, const struct kvm_ioapic_state *state)
{
	return vm_set_state(self, PLUGVM__MAIN_REQUEST__STATE_SET__IOAPIC, state, sizeof(*state));
}

EXPORT int crosvm_get_pit_state(struct crosvm *self, struct kvm_pit_state2 *state)
{
	return vm_get_state(self, PLUGVM__MAIN_REQUEST__STATE_SET__PIT, state, sizeof(*state));
}

EXPORT int crosvm_set_pit_state(struct crosvm *self, const struct kvm_pit_state2 *state)
{
	return vm_set_state(self, PLUGVM__MAIN_REQUEST__STATE_SET__PIT, state, sizeof(*state));
}

EXPORT int crosvm_get_clock(struct crosvm *self, struct kvm_clock_data *clock_data)
{
	return vm_get_state(self, PLUGVM__MAIN_REQUEST__STATE_SET__CLOCK, clock_data,
			    sizeof(*clock_data));
}

EXPORT int crosvm_set_clock(struct crosvm *self, const struct kvm_clock_data *clock_data)
{
	return vm_set_state(self, PLUGVM__MAIN_REQUEST__STATE_SET__CLOCK, clock_data,
			    sizeof(*clock_data));
}

EXPORT int crosvm_set_identity_map_addr(struct crosvm *self, uint32_t addr)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__SetIdentityMapAddr m =
		PLUGVM__MAIN_REQUEST__SET_IDENTITY_MAP_ADDR__INIT;

	if (!self)
		return -EINVAL;
	m.address = addr;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_SET_IDENTITY_MAP_ADDR;
	req.set_identity_map_addr = &m;
	return conn_simple(self, &req);
}

EXPORT int crosvm_pause_vcpus(struct crosvm *self, uint64_t cpu_mask, void *user)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__PauseVcpus m = PLUGVM__MAIN_REQUEST__PAUSE_VCPUS__INIT;

	if (!self)
		return -EINVAL;
	m.cpu_mask = cpu_mask;
	m.user = (uint64_t)(uintptr_t)user;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_PAUSE_VCPUS;
	req.pause_vcpus = &m;
	return conn_simple(self, &req);
}

EXPORT int crosvm_start(struct crosvm *self)
{
	Plugvm__MainRequest req = PLUGVM__MAIN_REQUEST__INIT;
	Plugvm__MainRequest__Start m = PLUGVM__MAIN_REQUEST__START__INIT;

	if (!self)
		return -EINVAL;
	req.message_case = PLUGVM__MAIN_REQUEST__MESSAGE_START;
	req.start = &m;
	return conn_simple(self, &req);
}
