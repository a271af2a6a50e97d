// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Linkage and layout test: takes the address of every function through
 * crosvm.h (so each must resolve at link time, against the .so or the .a)
 * and checks the public structs against the ABI of crosvm's API 0.22.
 */
#include <stddef.h>
#include <stdio.h>

#include "crosvm.h"

static int failures;

#define CHECK_EQ(a, b)                                                                       \
	do {                                                                                 \
		unsigned long long a_ = (unsigned long long)(a), b_ = (unsigned long long)(b); \
		if (a_ != b_) {                                                              \
			fprintf(stderr, "%s:%d: %s == %llu, expected %llu\n", __FILE__,      \
				__LINE__, #a, a_, b_);                                        \
			failures++;                                                          \
		}                                                                            \
	} while (0)

typedef void (*any_fn)(void);

#define FN(name) { #name, (any_fn)name }

static const struct {
	const char *name;
	any_fn fn;
} functions[] = {
	FN(crosvm_connect),
	FN(crosvm_new_connection),
	FN(crosvm_destroy_connection),
	FN(crosvm_get_shutdown_eventfd),
	FN(crosvm_check_extension),
	FN(crosvm_enable_capability),
	FN(crosvm_get_supported_cpuid),
	FN(crosvm_get_emulated_cpuid),
	FN(crosvm_get_hyperv_cpuid),
	FN(crosvm_get_msr_index_list),
	FN(crosvm_net_get_config),
	FN(crosvm_reserve_range),
	FN(crosvm_reserve_async_write_range),
	FN(crosvm_set_irq),
	FN(crosvm_set_irq_routing),
	FN(crosvm_set_hypercall_hint),
	FN(crosvm_get_pic_state),
	FN(crosvm_set_pic_state),
	FN(crosvm_get_ioapic_state),
	FN(crosvm_set_ioapic_state),
	FN(crosvm_get_pit_state),
	FN(crosvm_set_pit_state),
	FN(crosvm_get_clock),
	FN(crosvm_set_clock),
	FN(crosvm_set_identity_map_addr),
	FN(crosvm_pause_vcpus),
	FN(crosvm_start),
	FN(crosvm_create_io_event),
	FN(crosvm_destroy_io_event),
	FN(crosvm_io_event_fd),
	FN(crosvm_create_memory),
	FN(crosvm_destroy_memory),
	FN(crosvm_memory_get_dirty_log),
	FN(crosvm_create_irq_event),
	FN(crosvm_destroy_irq_event),
	FN(crosvm_irq_event_get_fd),
	FN(crosvm_irq_event_get_resample_fd),
	FN(crosvm_get_vcpu),
	FN(crosvm_vcpu_wait),
	FN(crosvm_vcpu_resume),
	FN(crosvm_vcpu_get_regs),
	FN(crosvm_vcpu_set_regs),
	FN(crosvm_vcpu_get_sregs),
	FN(crosvm_vcpu_set_sregs),
	FN(crosvm_vcpu_get_fpu),
	FN(crosvm_vcpu_set_fpu),
	FN(crosvm_vcpu_get_debugregs),
	FN(crosvm_vcpu_set_debugregs),
	FN(crosvm_vcpu_get_xcrs),
	FN(crosvm_vcpu_set_xcrs),
	FN(crosvm_vcpu_get_msrs),
	FN(crosvm_vcpu_set_msrs),
	FN(crosvm_vcpu_set_cpuid),
	FN(crosvm_vcpu_enable_capability),
	FN(crosvm_vcpu_get_lapic_state),
	FN(crosvm_vcpu_set_lapic_state),
	FN(crosvm_vcpu_get_mp_state),
	FN(crosvm_vcpu_set_mp_state),
	FN(crosvm_vcpu_get_vcpu_events),
	FN(crosvm_vcpu_set_vcpu_events),
	FN(crosvm_get_extensions),
	FN(crosvm_create_edge_irq_event),
	FN(crosvm_enable_default_cpuid),
	FN(crosvm_vcpu_kick),
	FN(crosvm_vcpu_wait_timeout),
	FN(crosvm_enable_reset_events),
	FN(crosvm_vcpu_reset),
	FN(crosvm_enable_io_details),
	FN(crosvm_reserve_range_mode),
	FN(crosvm_memory_set_read_only),
	FN(crosvm_memory_replace),
	FN(crosvm_vcpu_get_xsave),
	FN(crosvm_vcpu_set_xsave),
};

static void check_functions(void)
{
	CHECK_EQ(sizeof(functions) / sizeof(functions[0]), 73);
	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
		if (!functions[i].fn) {
			fprintf(stderr, "%s has no address\n", functions[i].name);
			failures++;
		}
		for (size_t j = 0; j < i; j++) {
			if (functions[i].fn == functions[j].fn) {
				fprintf(stderr, "%s and %s share an address\n", functions[i].name,
					functions[j].name);
				failures++;
			}
		}
	}
}

static void check_layouts(void)
{
	struct crosvm_vcpu_event ev;
	struct crosvm_irq_route rt;

	CHECK_EQ(CROSVM_API_MAJOR, 0);
	CHECK_EQ(CROSVM_API_MINOR, 23);
	CHECK_EQ(CROSVM_API_PATCH, 0);
	CHECK_EQ(CROSVM_EXTENSION_EDGE_IRQ_EVENT, 1);
	CHECK_EQ(CROSVM_EXTENSION_DEFAULT_CPUID, 2);
	CHECK_EQ(CROSVM_ADDRESS_SPACE_IOPORT, 0);
	CHECK_EQ(CROSVM_ADDRESS_SPACE_MMIO, 1);
	CHECK_EQ(CROSVM_IRQ_ROUTE_IRQCHIP, 0);
	CHECK_EQ(CROSVM_IRQ_ROUTE_MSI, 1);
	CHECK_EQ(CROSVM_MAX_HINT_COUNT, 1);
	CHECK_EQ(CROSVM_MAX_HINT_DETAIL_COUNT, 32);
	CHECK_EQ(CROSVM_HINT_ON_WRITE, 1);
	CHECK_EQ(CROSVM_VCPU_EVENT_KIND_INIT, 0);
	CHECK_EQ(CROSVM_VCPU_EVENT_KIND_IO_ACCESS, 1);
	CHECK_EQ(CROSVM_VCPU_EVENT_KIND_PAUSED, 2);
	CHECK_EQ(CROSVM_VCPU_EVENT_KIND_HYPERV_HCALL, 3);
	CHECK_EQ(CROSVM_VCPU_EVENT_KIND_HYPERV_SYNIC, 4);

	CHECK_EQ(sizeof(struct crosvm_net_config), 20);
	CHECK_EQ(offsetof(struct crosvm_net_config, tap_fd), 0);
	CHECK_EQ(offsetof(struct crosvm_net_config, host_ip), 4);
	CHECK_EQ(offsetof(struct crosvm_net_config, netmask), 8);
	CHECK_EQ(offsetof(struct crosvm_net_config, host_mac_address), 12);
	CHECK_EQ(offsetof(struct crosvm_net_config, _padding), 18);

	CHECK_EQ(sizeof(struct crosvm_irq_route), 24);
	CHECK_EQ(offsetof(struct crosvm_irq_route, irq_id), 0);
	CHECK_EQ(offsetof(struct crosvm_irq_route, kind), 4);
	CHECK_EQ((char *)&rt.irqchip.irqchip - (char *)&rt, 8);
	CHECK_EQ((char *)&rt.irqchip.pin - (char *)&rt, 12);
	CHECK_EQ((char *)&rt.msi.address - (char *)&rt, 8);
	CHECK_EQ((char *)&rt.msi.data - (char *)&rt, 16);

	CHECK_EQ(sizeof(struct crosvm_hint_detail), 48);
	CHECK_EQ(offsetof(struct crosvm_hint_detail, match_rax), 0);
	CHECK_EQ(offsetof(struct crosvm_hint_detail, match_rdx), 3);
	CHECK_EQ(offsetof(struct crosvm_hint_detail, rax), 8);
	CHECK_EQ(offsetof(struct crosvm_hint_detail, rbx), 16);
	CHECK_EQ(offsetof(struct crosvm_hint_detail, rcx), 24);
	CHECK_EQ(offsetof(struct crosvm_hint_detail, rdx), 32);
	CHECK_EQ(offsetof(struct crosvm_hint_detail, send_sregs), 40);
	CHECK_EQ(offsetof(struct crosvm_hint_detail, send_debugregs), 41);

	CHECK_EQ(sizeof(struct crosvm_hint), 32);
	CHECK_EQ(offsetof(struct crosvm_hint, hint_version), 0);
	CHECK_EQ(offsetof(struct crosvm_hint, _reserved), 4);
	CHECK_EQ(offsetof(struct crosvm_hint, address_space), 8);
	CHECK_EQ(offsetof(struct crosvm_hint, address_flags), 12);
	CHECK_EQ(offsetof(struct crosvm_hint, details_count), 14);
	CHECK_EQ(offsetof(struct crosvm_hint, address), 16);
	CHECK_EQ(offsetof(struct crosvm_hint, details), 24);

	CHECK_EQ(sizeof(struct crosvm_vcpu_event), 72);
	CHECK_EQ(offsetof(struct crosvm_vcpu_event, kind), 0);
	CHECK_EQ((char *)&ev.io_access - (char *)&ev, 8);
	CHECK_EQ((char *)&ev.io_access.address_space - (char *)&ev, 8);
	CHECK_EQ((char *)&ev.io_access.address - (char *)&ev, 16);
	CHECK_EQ((char *)&ev.io_access.data - (char *)&ev, 24);
	CHECK_EQ((char *)&ev.io_access.length - (char *)&ev, 32);
	CHECK_EQ((char *)&ev.io_access.is_write - (char *)&ev, 36);
	CHECK_EQ((char *)&ev.io_access.no_resume - (char *)&ev, 37);
	CHECK_EQ((char *)&ev.io_access.element_size - (char *)&ev, 40);
	CHECK_EQ((char *)&ev.io_access.count - (char *)&ev, 44);
	CHECK_EQ((char *)&ev.user - (char *)&ev, 8);
	CHECK_EQ((char *)&ev.hyperv_call.input - (char *)&ev, 8);
	CHECK_EQ((char *)&ev.hyperv_call.result - (char *)&ev, 16);
	CHECK_EQ((char *)&ev.hyperv_call.params - (char *)&ev, 24);
	CHECK_EQ((char *)&ev.hyperv_synic.msr - (char *)&ev, 8);
	CHECK_EQ((char *)&ev.hyperv_synic.control - (char *)&ev, 16);
	CHECK_EQ((char *)&ev.hyperv_synic.evt_page - (char *)&ev, 24);
	CHECK_EQ((char *)&ev.hyperv_synic.msg_page - (char *)&ev, 32);
	CHECK_EQ(sizeof(ev._reserved), 64);
}

/* Behaviour that needs no host at all, so that a linked call is really made. */
static void check_calls(void)
{
	struct crosvm *c = NULL;

	CHECK_EQ(crosvm_enable_capability(NULL, 0, 0, NULL), (unsigned long long)-22);
	CHECK_EQ(crosvm_destroy_connection(&c), 0);
}

int main(void)
{
	check_functions();
	check_layouts();
	check_calls();
	if (failures) {
		fprintf(stderr, "%d failure(s)\n", failures);
		return 1;
	}
	printf("73 functions linked, layouts match\n");
	return 0;
}
