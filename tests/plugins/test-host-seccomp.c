// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The host's own seccomp filters are on every one of its threads while a VM
 * runs (host run unjailed with --cpus 2, so that the plugin can read the
 * host's /proc): with both vcpus stopped on their guest's last port, every
 * task of the parent shows "Seccomp: 2" (filter mode), the main thread at
 * least one filter and each vcpu thread at least two (its own stacked on
 * the main thread's).
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"

GUEST_DECLARE(minimal);

#define NR_VCPUS 2

struct hs_vcpu {
	struct test_vcpu tv;
	pthread_t thread;
};

static void hs_init(struct test_vcpu *tv)
{
	struct kvm_mp_state mp;

	TEST_OK(crosvm_vcpu_get_mp_state(tv->vcpu, &mp));
	mp.mp_state = KVM_MP_STATE_RUNNABLE;
	TEST_OK(crosvm_vcpu_set_mp_state(tv->vcpu, &mp));
}

static const struct test_vcpu_ops hs_ops = {
	.init = hs_init,
};

static void *vcpu_thread(void *arg)
{
	test_vcpu_run(&((struct hs_vcpu *)arg)->tv);
	return NULL;
}

/* Reads "Key:\tvalue" lines of one task's status file. */
static void task_status(pid_t pid, const char *tid, char name[32], int *mode, int *filters)
{
	char path[320], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, tid);
	f = fopen(path, "re");
	TEST_ASSERT(f != NULL, "open %s: %m", path);
	*mode = *filters = -1;
	name[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "Name:\t%31s", name);
		sscanf(line, "Seccomp:\t%d", mode);
		sscanf(line, "Seccomp_filters:\t%d", filters);
	}
	fclose(f);
}

int main(void)
{
	static struct hs_vcpu vcpus[NR_VCPUS];
	struct test_vm vm;
	uint64_t done = 0;
	pid_t host = getppid();
	char path[64];
	struct dirent *de;
	int tasks = 0, vcpu_tasks = 0;
	DIR *d;

	test_init("host-seccomp");
	test_vm_create(&vm, GUEST_CODE(minimal));
	TEST_ASSERT(vm.nr_vcpus == NR_VCPUS, "%u vcpus (run with --cpus %d)", vm.nr_vcpus,
		    NR_VCPUS);
	for (uint32_t i = 0; i < NR_VCPUS; i++) {
		test_vcpu_setup(&vcpus[i].tv, vm.crosvm, i, &hs_ops, &vcpus[i]);
		vcpus[i].tv.done_fd = vm.kill_fd;
		vcpus[i].tv.stay_stopped = true;
	}
	TEST_OK(crosvm_start(vm.crosvm));
	for (uint32_t i = 0; i < NR_VCPUS; i++)
		TEST_ASSERT(pthread_create(&vcpus[i].thread, NULL, vcpu_thread, &vcpus[i]) == 0,
			    "pthread_create");
	while (done < NR_VCPUS) {
		uint64_t n = test_eventfd_read(vm.kill_fd, 6000);

		TEST_ASSERT(n > 0, "only %lu of %d vcpus finished", (unsigned long)done, NR_VCPUS);
		done += n;
	}

	/* Both vcpus are stopped in the host now: every thread of it exists. */
	snprintf(path, sizeof(path), "/proc/%d/task", (int)host);
	d = opendir(path);
	TEST_ASSERT(d != NULL, "opendir %s: %m", path);
	while ((de = readdir(d))) {
		char name[32];
		int mode, filters;

		if (de->d_name[0] == '.')
			continue;
		task_status(host, de->d_name, name, &mode, &filters);
		tasks++;
		TEST_ASSERT(mode == 2, "host task %s (%s): Seccomp %d, expected 2 (filter)",
			    de->d_name, name, mode);
		if (!strncmp(name, "crosvm_vcpu", 11)) {
			vcpu_tasks++;
			TEST_ASSERT(filters < 0 || filters >= 2,
				    "vcpu thread %s: %d filters, expected its own on the main one",
				    name, filters);
		} else {
			TEST_ASSERT(filters < 0 || filters >= 1, "host task %s (%s): %d filters",
				    de->d_name, name, filters);
		}
	}
	closedir(d);
	TEST_ASSERT(vcpu_tasks == NR_VCPUS, "%d vcpu threads among %d host tasks", vcpu_tasks,
		    tasks);
	test_log("%d host threads, all filtered", tasks);

	for (uint32_t i = 0; i < NR_VCPUS; i++)
		TEST_ASSERT(pthread_join(vcpus[i].thread, NULL) == 0, "pthread_join");
	test_vm_destroy(&vm);
	return 0;
}
