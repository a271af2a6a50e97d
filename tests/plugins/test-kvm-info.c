// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * VM-wide queries: supported and emulated CPUID and the MSR index list
 * (-E2BIG with room for one entry, then the full list, compared with what
 * /dev/kvm says directly when the plugin can open it), check_extension,
 * enable_capability (always -EINVAL), the identity map address (accepted
 * before start, refused once vcpus exist), and net config without a tap.
 * The plugin then exits with the guest halted inside KVM_RUN and everything
 * still allocated: the host must stop that vcpu and clean up on its own.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "testlib.h"

GUEST_DECLARE(minimal);

#define MAX_ENTRIES 256

/* The plugin leaves its objects to the host on purpose (see above); LeakSanitizer would object. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}

/* The same list straight from KVM, or -1 when /dev/kvm is out of reach (a jail). */
static int kvm_cpuid(unsigned long ioctl_nr, struct kvm_cpuid_entry2 *out)
{
	struct kvm_cpuid2 *c;
	int fd, n = -1;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	c = calloc(1, sizeof(*c) + MAX_ENTRIES * sizeof(c->entries[0]));
	TEST_ASSERT(c != NULL, "calloc");
	c->nent = MAX_ENTRIES;
	if (ioctl(fd, ioctl_nr, c) == 0) {
		memcpy(out, c->entries, c->nent * sizeof(c->entries[0]));
		n = (int)c->nent;
	}
	free(c);
	close(fd);
	return n;
}

static int kvm_msr_list(uint32_t *out)
{
	struct kvm_msr_list *l;
	int fd, n = -1;

	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	l = calloc(1, sizeof(*l) + 1024 * sizeof(l->indices[0]));
	TEST_ASSERT(l != NULL, "calloc");
	l->nmsrs = 1024;
	if (ioctl(fd, KVM_GET_MSR_INDEX_LIST, l) == 0) {
		memcpy(out, l->indices, l->nmsrs * sizeof(l->indices[0]));
		n = (int)l->nmsrs;
	}
	free(l);
	close(fd);
	return n;
}

/*
 * Register bits that describe the CPU the query ran on (APIC ids), which
 * differ between the host's thread and ours.
 */
static void mask_per_cpu(struct kvm_cpuid_entry2 *e)
{
	switch (e->function) {
	case 0x1:
		e->ebx &= 0x00ffffff;
		break;
	case 0xb:
	case 0x1f:
		e->edx = 0;
		break;
	case 0x8000001e:
		e->eax = e->ebx = 0;
		break;
	default:
		break;
	}
}

static void check_cpuid(const char *what, int (*get)(struct crosvm *, uint32_t,
						     struct kvm_cpuid_entry2 *, uint32_t *),
			struct crosvm *c, unsigned long ioctl_nr, uint32_t min_entries)
{
	static struct kvm_cpuid_entry2 got[MAX_ENTRIES], want[MAX_ENTRIES];
	struct kvm_cpuid_entry2 one;
	uint32_t n = 0, total = 0;
	int direct;

	memset(&one, 0xee, sizeof(one));
	TEST_RET(-E2BIG, get(c, 1, &one, &total));
	TEST_ASSERT(total > 1, "%s: E2BIG with count %u", what, total);
	TEST_ASSERT(one.function == 0xeeeeeeee, "%s: E2BIG still copied entries", what);

	memset(got, 0xee, sizeof(got));
	TEST_OK(get(c, MAX_ENTRIES, got, &n));
	TEST_ASSERT(n == total && n >= min_entries, "%s: %u entries, %u before", what, n, total);
	TEST_ASSERT(got[n].function == 0xeeeeeeee, "%s: wrote past the count", what);
	for (uint32_t i = 0; i < n; i++)
		TEST_ASSERT((got[i].flags & ~1u) == 0 && got[i].padding[0] == 0,
			    "%s: entry %u flags %#x", what, i, got[i].flags);

	direct = kvm_cpuid(ioctl_nr, want);
	if (direct < 0)
		return;
	TEST_ASSERT((uint32_t)direct == n, "%s: %u entries, KVM says %d", what, n, direct);
	for (uint32_t i = 0; i < n; i++) {
		mask_per_cpu(&got[i]);
		mask_per_cpu(&want[i]);
		TEST_ASSERT(got[i].function == want[i].function &&
				    got[i].eax == want[i].eax && got[i].ebx == want[i].ebx &&
				    got[i].ecx == want[i].ecx && got[i].edx == want[i].edx,
			    "%s: entry %u (leaf %#x) differs from KVM's", what, i, want[i].function);
		if (want[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)
			TEST_ASSERT(got[i].flags == 1 && got[i].index == want[i].index,
				    "%s: entry %u index", what, i);
	}
}

static void check_msr_list(struct crosvm *c)
{
	static uint32_t got[1024], want[1024];
	uint32_t n = 0, total = 0, one = 0xeeeeeeee;
	bool has_tsc = false;
	int direct;

	TEST_RET(-E2BIG, crosvm_get_msr_index_list(c, 1, &one, &total));
	TEST_ASSERT(total > 1 && one == 0xeeeeeeee, "MSR list E2BIG: count %u", total);
	TEST_OK(crosvm_get_msr_index_list(c, 1024, got, &n));
	TEST_ASSERT(n == total, "MSR list: %u entries, %u before", n, total);
	for (uint32_t i = 0; i < n; i++)
		has_tsc |= got[i] == 0x10;
	TEST_ASSERT(has_tsc, "MSR list lacks the TSC");

	direct = kvm_msr_list(want);
	if (direct < 0)
		return;
	TEST_ASSERT((uint32_t)direct == n && memcmp(got, want, n * sizeof(got[0])) == 0,
		    "MSR list differs from KVM's (%u vs %d entries)", n, direct);
}

int main(void)
{
	struct crosvm_net_config net;
	uint64_t args[4] = { 0 };
	struct test_vcpu tv;
	struct test_vm vm;
	bool has;

	test_init("kvm-info");
	test_vm_create(&vm, GUEST_CODE(minimal));

	check_cpuid("supported CPUID", crosvm_get_supported_cpuid, vm.crosvm,
		    KVM_GET_SUPPORTED_CPUID, 10);
	check_cpuid("emulated CPUID", crosvm_get_emulated_cpuid, vm.crosvm, KVM_GET_EMULATED_CPUID,
		    2);
	check_msr_list(vm.crosvm);

	has = false;
	TEST_OK(crosvm_check_extension(vm.crosvm, KVM_CAP_IRQCHIP, &has));
	TEST_ASSERT(has, "KVM_CAP_IRQCHIP reads false");
	has = true;
	TEST_OK(crosvm_check_extension(vm.crosvm, KVM_CAP_S390_PSW, &has));
	TEST_ASSERT(!has, "KVM_CAP_S390_PSW reads true");

	TEST_RET(-EINVAL, crosvm_enable_capability(vm.crosvm, KVM_CAP_IRQCHIP, 0, args));

	memset(&net, 0xee, sizeof(net));
	TEST_RET(-ENODATA, crosvm_net_get_config(vm.crosvm, &net));
	TEST_ASSERT(net.tap_fd == (int)0xeeeeeeee, "net config written on error");

	TEST_OK(crosvm_set_identity_map_addr(vm.crosvm, 0xfffbc000));

	test_vcpu_setup(&tv, vm.crosvm, 0, NULL, NULL);
	TEST_OK(crosvm_start(vm.crosvm));
	TEST_RET(-EINVAL, crosvm_start(vm.crosvm));
	test_vcpu_run(&tv);
	/* vcpus exist now, so KVM refuses to move the identity map. */
	TEST_RET(-EINVAL, crosvm_set_identity_map_addr(vm.crosvm, 0xfffbc000));
	/* The guest was resumed after PORT_DONE and sits in cli; hlt. */
	return 0;
}
