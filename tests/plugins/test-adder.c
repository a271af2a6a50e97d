// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The adder (docs/protocol.md Appendix A): one page of sealed memfd at guest
 * physical 0x1000 holding code that prints 2 + 7 on port 0x3f8 and writes 1
 * to port 0x3f9.  Everything after connecting goes through a second
 * connection, the vcpu runs on its own thread, and the main thread tears
 * down (destroy memory, unreserve both ports) once the shutdown eventfd
 * fires.  Also checks that destroying a connection releases its socket.
 */
#include <pthread.h>
#include <unistd.h>

#include "testlib.h"

GUEST_DECLARE(adder);

#define ADDER_PORT 0x3f8
#define KILL_PORT 0x3f9

struct adder {
	struct crosvm_vcpu *vcpu;
	int kill_fd;
	char out[16];
	size_t out_len;
};

static void *vcpu_thread(void *arg)
{
	struct adder *a = arg;
	struct crosvm_vcpu_event ev;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	TEST_OK(crosvm_vcpu_wait(a->vcpu, &ev));
	TEST_ASSERT(ev.kind == CROSVM_VCPU_EVENT_KIND_INIT, "first event %u", ev.kind);
	TEST_OK(crosvm_vcpu_get_sregs(a->vcpu, &sregs));
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.es.base = 0;
	sregs.es.selector = 0;
	TEST_OK(crosvm_vcpu_set_sregs(a->vcpu, &sregs));
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x1000;
	regs.rflags = 2;
	regs.rax = 2;
	regs.rbx = 7;
	/* Deferred: both sets travel in the Resume. */
	TEST_OK(crosvm_vcpu_set_regs(a->vcpu, &regs));
	TEST_OK(crosvm_vcpu_resume(a->vcpu));

	for (;;) {
		TEST_OK(crosvm_vcpu_wait(a->vcpu, &ev));
		TEST_ASSERT(ev.kind == CROSVM_VCPU_EVENT_KIND_IO_ACCESS, "event kind %u", ev.kind);
		TEST_ASSERT(ev.io_access.address_space == CROSVM_ADDRESS_SPACE_IOPORT, "space %u",
			    ev.io_access.address_space);
		TEST_ASSERT(ev.io_access.is_write && ev.io_access.length == 1 &&
				    !ev.io_access.no_resume,
			    "access at %#lx: write %u length %u", (unsigned long)ev.io_access.address,
			    ev.io_access.is_write, ev.io_access.length);
		if (ev.io_access.address == KILL_PORT) {
			TEST_ASSERT(ev.io_access.data[0] == 1, "kill value %u",
				    ev.io_access.data[0]);
			/*
			 * The guest is done: tell the main thread, as a board's power
			 * switch would.  The vcpu stays stopped: were it resumed, the
			 * main thread could pull the memory from under its next
			 * instruction fetch.
			 */
			test_eventfd_signal(a->kill_fd);
			return NULL;
		}
		TEST_ASSERT(ev.io_access.address == ADDER_PORT, "port %#lx",
			    (unsigned long)ev.io_access.address);
		TEST_ASSERT(a->out_len < sizeof(a->out), "too much output");
		a->out[a->out_len++] = (char)ev.io_access.data[0];
		TEST_OK(crosvm_vcpu_resume(a->vcpu));
	}
}

int main(void)
{
	struct crosvm *crosvm, *conn2, *conn3;
	struct crosvm_memory *mem;
	struct crosvm_vcpu *vcpu2;
	struct test_memfd m;
	struct adder a = { 0 };
	pthread_t thread;
	int nfds;

	test_init("adder");
	TEST_OK(crosvm_connect(&crosvm));
	TEST_OK(crosvm_new_connection(crosvm, &conn2));
	TEST_ASSERT(conn2 != NULL && conn2 != crosvm, "new connection %p", (void *)conn2);

	/* A destroyed connection gives back its socket and clears the caller's pointer. */
	nfds = test_count_fds();
	TEST_OK(crosvm_new_connection(crosvm, &conn3));
	TEST_ASSERT(test_count_fds() == nfds + 1, "new connection opened %d fds",
		    test_count_fds() - nfds);
	TEST_OK(crosvm_destroy_connection(&conn3));
	TEST_ASSERT(conn3 == NULL, "destroy_connection left the pointer");
	TEST_ASSERT(test_count_fds() == nfds, "destroy_connection left %d fds",
		    test_count_fds() - nfds);

	test_memfd_create(&m, 0x1000);
	memcpy(m.ptr, GUEST_CODE(adder));
	TEST_OK(crosvm_create_memory(conn2, m.fd, 0, 0x1000, 0x1000, false, false, &mem));
	TEST_OK(crosvm_reserve_range(conn2, CROSVM_ADDRESS_SPACE_IOPORT, ADDER_PORT, 1));
	TEST_OK(crosvm_reserve_range(conn2, CROSVM_ADDRESS_SPACE_IOPORT, KILL_PORT, 1));
	a.kill_fd = crosvm_get_shutdown_eventfd(conn2);
	TEST_ASSERT(a.kill_fd >= 0, "get_shutdown_eventfd: %d", a.kill_fd);

	/* Both connections hand out the same vcpu handles. */
	TEST_OK(crosvm_get_vcpu(crosvm, 0, &a.vcpu));
	TEST_OK(crosvm_get_vcpu(conn2, 0, &vcpu2));
	TEST_ASSERT(a.vcpu == vcpu2, "vcpu handles differ: %p %p", (void *)a.vcpu, (void *)vcpu2);

	TEST_OK(crosvm_start(conn2));
	TEST_ASSERT(pthread_create(&thread, NULL, vcpu_thread, &a) == 0, "pthread_create");

	TEST_ASSERT(test_eventfd_read(a.kill_fd, 5000) >= 1, "no shutdown event");
	TEST_ASSERT(pthread_join(thread, NULL) == 0, "pthread_join");
	TEST_ASSERT(a.out_len == 2 && memcmp(a.out, "9\n", 2) == 0,
		    "guest printed \"%.*s\" (%zu bytes), expected \"9\\n\"", (int)a.out_len, a.out,
		    a.out_len);
	printf("adder: guest printed %.*s", (int)a.out_len, a.out);

	TEST_OK(crosvm_destroy_memory(conn2, &mem));
	TEST_ASSERT(mem == NULL, "destroy_memory left the pointer");
	TEST_OK(crosvm_reserve_range(conn2, CROSVM_ADDRESS_SPACE_IOPORT, ADDER_PORT, 0));
	TEST_OK(crosvm_reserve_range(conn2, CROSVM_ADDRESS_SPACE_IOPORT, KILL_PORT, 0));
	/* A second unreserve proves the first one removed the range. */
	TEST_RET(-ENOENT, crosvm_reserve_range(conn2, CROSVM_ADDRESS_SPACE_IOPORT, KILL_PORT, 0));
	close(a.kill_fd);
	test_memfd_destroy(&m);
	TEST_OK(crosvm_destroy_connection(&conn2));
	TEST_OK(crosvm_destroy_connection(&crosvm));
	return 0;
}
