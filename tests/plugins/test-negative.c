// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Plugins that go wrong, one per mode (the first parameter); the runner
 * checks the host's exit status and error line:
 *   crash         a write to a PROT_NONE page after connecting: the host names the signal.
 *   exit3         exit(3): "plugin exited with error: 3".
 *   triple-fault  the guest triple-faults; the host must end the vcpu, signal
 *                 the shutdown eventfd and still serve the plugin's clean-up
 *                 during the grace period; it exits 1 naming the fault.
 *   hang          as triple-fault, but the plugin ignores the shutdown and
 *                 sleeps: the host must SIGKILL it after the grace period.
 *   stopped-wait  as triple-fault, with the vcpu thread left in
 *                 crosvm_vcpu_wait(): once the VM is stopped the wait must fail
 *                 (as crosvm's did when its vcpu threads closed their pipes), so
 *                 the plugin can join the thread and exit within the grace period.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "testlib.h"

GUEST_DECLARE(triple_fault);

/* Returns the first failing wait's result. */
static void *waiting_vcpu_thread(void *arg)
{
	struct test_vcpu *tv = arg;
	struct crosvm_vcpu_event ev;
	int r;

	test_vcpu_expect(tv, &ev, CROSVM_VCPU_EVENT_KIND_INIT);
	test_vcpu_set_real_mode(tv->vcpu, GUEST_LOAD, GUEST_STACK);
	TEST_OK(crosvm_vcpu_resume(tv->vcpu));
	r = crosvm_vcpu_wait(tv->vcpu, &ev);
	TEST_ASSERT(r < 0, "the wait after the triple fault returned an event of kind %u", ev.kind);
	return (void *)(intptr_t)r;
}

enum after_fault { AFTER_CLEAN_UP, AFTER_HANG, AFTER_JOIN };

static void triple_fault(enum after_fault after)
{
	struct test_vcpu tv;
	struct test_vm vm;
	pthread_t thread;
	void *ret;

	test_vm_create(&vm, GUEST_CODE(triple_fault));
	test_vcpu_setup(&tv, vm.crosvm, 0, NULL, NULL);
	TEST_OK(crosvm_start(vm.crosvm));
	TEST_ASSERT(pthread_create(&thread, NULL, waiting_vcpu_thread, &tv) == 0,
		    "pthread_create");

	/* The host signals this when the vcpu dies; the vcpu thread's wait then fails. */
	TEST_ASSERT(test_eventfd_read(vm.kill_fd, 5000) >= 1, "no shutdown event after the fault");
	switch (after) {
	case AFTER_HANG:
		/* Only the host's SIGKILL may end this process now. */
		alarm(0);
		for (;;)
			pause();
	case AFTER_JOIN:
		/* Ends within the host's grace period, or the host kills us and says so. */
		TEST_ASSERT(pthread_join(thread, &ret) == 0, "pthread_join");
		fprintf(stderr, "the blocked wait returned %s\n", test_strerror((int)(intptr_t)ret));
		break;
	case AFTER_CLEAN_UP:
		/* The host is dying but must still answer until the grace period ends. */
		TEST_OK(crosvm_destroy_memory(vm.crosvm, &vm.ram_obj));
		TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_DONE, 0));
		TEST_RET(-ENOENT, crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT,
						       PORT_DONE, 0));
		break;
	}
	exit(0);
}

int main(int argc, char **argv)
{
	struct crosvm *crosvm;
	const char *mode = argc > 1 ? argv[1] : "";

	test_init(mode);
	if (!strcmp(mode, "crash")) {
		TEST_OK(crosvm_connect(&crosvm));
		/*
		 * Die by a real fault, even where a sanitizer installed a handler.  Not
		 * raise(): jailed, the plugin is its pid namespace's init, which ignores
		 * signals it sends itself; a fault is delivered regardless.
		 */
		signal(SIGSEGV, SIG_DFL);
		{
			volatile int *guard = mmap(NULL, 4096, PROT_NONE,
						   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			TEST_ASSERT(guard != MAP_FAILED, "mmap: %m");
			*guard = 1;
		}
	} else if (!strcmp(mode, "exit3")) {
		TEST_OK(crosvm_connect(&crosvm));
		exit(3);
	} else if (!strcmp(mode, "triple-fault")) {
		triple_fault(AFTER_CLEAN_UP);
	} else if (!strcmp(mode, "hang")) {
		triple_fault(AFTER_HANG);
	} else if (!strcmp(mode, "stopped-wait")) {
		triple_fault(AFTER_JOIN);
	}
	TEST_ASSERT(false, "unknown mode \"%s\" (argc %d)", mode, argc);
}
