// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Plugins that go wrong, one per mode (the first parameter); the runner
 * checks the host's exit status and error line:
 *   crash         raise(SIGSEGV) after connecting: the host names the signal.
 *   exit3         exit(3): "plugin exited with error: 3".
 *   triple-fault  the guest triple-faults; the host must end the vcpu, signal
 *                 the shutdown eventfd and still serve the plugin's clean-up
 *                 during the grace period; it exits 1 naming the fault.
 *   hang          as triple-fault, but the plugin ignores the shutdown and
 *                 sleeps: the host must SIGKILL it after the grace period.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "testlib.h"

GUEST_DECLARE(triple_fault);

static void *vcpu_thread(void *arg)
{
	struct test_vcpu *tv = arg;

	/* Returns only if the guest got as far as PORT_DONE, which it must not. */
	test_vcpu_run(tv);
	TEST_ASSERT(false, "the guest survived its triple fault");
}

static void triple_fault(bool hang)
{
	struct test_vcpu tv;
	struct test_vm vm;
	pthread_t thread;

	test_vm_create(&vm, GUEST_CODE(triple_fault));
	test_vcpu_setup(&tv, vm.crosvm, 0, NULL, NULL);
	TEST_OK(crosvm_start(vm.crosvm));
	TEST_ASSERT(pthread_create(&thread, NULL, vcpu_thread, &tv) == 0, "pthread_create");

	/* The host signals this when the vcpu dies; the vcpu thread stays blocked in wait. */
	TEST_ASSERT(test_eventfd_read(vm.kill_fd, 5000) >= 1, "no shutdown event after the fault");
	if (hang) {
		/* Only the host's SIGKILL may end this process now. */
		alarm(0);
		for (;;)
			pause();
	}
	/*
	 * The host is dying but must still answer until the grace period ends.
	 * The connection stays open: the vcpu thread is still blocked on its
	 * channel, and exiting ends it.
	 */
	TEST_OK(crosvm_destroy_memory(vm.crosvm, &vm.ram_obj));
	TEST_OK(crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_DONE, 0));
	TEST_RET(-ENOENT, crosvm_reserve_range(vm.crosvm, CROSVM_ADDRESS_SPACE_IOPORT, PORT_DONE,
					       0));
	exit(0);
}

int main(int argc, char **argv)
{
	struct crosvm *crosvm;
	const char *mode = argc > 1 ? argv[1] : "";

	test_init(mode);
	if (!strcmp(mode, "crash")) {
		TEST_OK(crosvm_connect(&crosvm));
		/* Die by the signal itself, even where a sanitizer installed a handler. */
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
	} else if (!strcmp(mode, "exit3")) {
		TEST_OK(crosvm_connect(&crosvm));
		exit(3);
	} else if (!strcmp(mode, "triple-fault")) {
		triple_fault(false);
	} else if (!strcmp(mode, "hang")) {
		triple_fault(true);
	}
	TEST_ASSERT(false, "unknown mode \"%s\" (argc %d)", mode, argc);
}
