// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * hello-serial: the smallest complete plugvm plugin.
 *
 *   plugvm run --plugin build/examples/hello-serial
 *
 * The host (plugvm) owns /dev/kvm and nothing else.  This program, the
 * plugin, builds the whole machine through crosvm.h:
 *
 *   - 64 KiB of guest RAM, a sealed memfd shared with the host, holding a
 *     few bytes of real-mode code (hello-serial-guest.S);
 *   - a 16550-style serial port at 0x3f8: the guest's port accesses there
 *     stop the vcpu and come to us as events; we print what it transmits;
 *   - a power-off port at 0xf4;
 *   - one vcpu, set up in real mode at the guest code.
 *
 * One thread drives the vcpu; the main thread waits on the host's shutdown
 * eventfd.  When the guest writes the power-off port, the vcpu thread adds
 * to that same eventfd (it is shared: the host signals it too when the VM
 * stops for any other reason), and the main thread then releases what it
 * created and exits 0, which makes plugvm exit 0.
 *
 * Error handling is deliberately blunt: any failure prints one line and
 * exits 1, which plugvm reports as "plugin exited with error: 1".
 */
/* memfd_create() is a GNU extension; our build defines this already, a plain `cc` does not. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <crosvm.h>

#include "hello-serial.h"

/* The guest code, assembled into this program as data. */
extern const uint8_t hello_guest_start[], hello_guest_end[];

static void check(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "hello-serial: %s: %s\n", what, strerror(-ret));
		exit(1);
	}
}

/* The vcpu thread's view of the machine. */
struct board {
	struct crosvm_vcpu *vcpu;
	int shutdown_fd;
	atomic_bool powered_off; /* the vcpu thread saw the power-off and is done */
};

/*
 * The INIT event comes once, before the vcpu ever runs.  A fresh x86 vcpu
 * starts like a real CPU at reset (cs base 0xffff0000, rip 0xfff0, where
 * firmware would be); point it at our code instead.  These sets are
 * deferred: the library sends them along with the next resume.
 */
static void vcpu_setup(struct crosvm_vcpu *vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	check(crosvm_vcpu_get_sregs(vcpu, &sregs), "get_sregs");
	/* Real mode with every segment at 0: guest addresses are physical addresses. */
	sregs.cs.base = sregs.ds.base = sregs.es.base = 0;
	sregs.fs.base = sregs.gs.base = sregs.ss.base = 0;
	sregs.cs.selector = sregs.ds.selector = sregs.es.selector = 0;
	sregs.fs.selector = sregs.gs.selector = sregs.ss.selector = 0;
	check(crosvm_vcpu_set_sregs(vcpu, &sregs), "set_sregs");

	memset(&regs, 0, sizeof(regs));
	regs.rip = HELLO_LOAD;
	regs.rsp = HELLO_RAM_SIZE - 0x10;
	regs.rflags = 2; /* bit 1 is always set; interrupts off */
	check(crosvm_vcpu_set_regs(vcpu, &regs), "set_regs");
}

/*
 * Our 16550: transmitted bytes go to stdout, the line status register always
 * says "ready to send", and every other register reads as 0 and ignores
 * writes (no interrupts, no receiver).  Returns true on a power-off request.
 */
static bool handle_io(struct crosvm_vcpu_event *ev)
{
	uint64_t port = ev->io_access.address;

	if (port == POWER_OFF_PORT)
		return ev->io_access.is_write;

	if (ev->io_access.is_write) {
		if (port == UART_BASE + UART_THR) {
			fwrite(ev->io_access.data, 1, ev->io_access.length, stdout);
			fflush(stdout);
		}
		return false;
	}

	/* A read: whatever we leave in data[] is what the guest's `in` returns. */
	memset(ev->io_access.data, 0, ev->io_access.length);
	if (port == UART_BASE + UART_LSR)
		ev->io_access.data[0] = UART_LSR_THRE | UART_LSR_TEMT;
	return false;
}

static void *vcpu_thread(void *arg)
{
	struct board *b = arg;
	struct crosvm_vcpu_event ev;
	uint64_t one = 1;

	for (;;) {
		/* Blocks until the guest needs us; the vcpu stays stopped until the resume. */
		check(crosvm_vcpu_wait(b->vcpu, &ev), "vcpu_wait");
		switch (ev.kind) {
		case CROSVM_VCPU_EVENT_KIND_INIT:
			vcpu_setup(b->vcpu);
			break;
		case CROSVM_VCPU_EVENT_KIND_IO_ACCESS:
			if (handle_io(&ev)) {
				/* Power off: wake the main thread through the shutdown eventfd. */
				atomic_store(&b->powered_off, true);
				if (write(b->shutdown_fd, &one, sizeof(one)) != sizeof(one))
					check(-errno, "signal shutdown");
				/*
				 * Leave the vcpu stopped: the VM is going away, and
				 * the host stops it for good when we exit.
				 */
				return NULL;
			}
			break;
		default:
			/* Pauses and Hyper-V exits never happen with this guest. */
			fprintf(stderr, "hello-serial: unexpected vcpu event %u\n", ev.kind);
			exit(1);
		}
		check(crosvm_vcpu_resume(b->vcpu), "vcpu_resume");
	}
}

/* Guest RAM: a memfd the host can map but never shrink (the seal), with the code in it. */
static int make_guest_ram(void)
{
	size_t code_len = (size_t)(hello_guest_end - hello_guest_start);
	uint8_t *ram;
	int fd;

	fd = memfd_create("hello-serial-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, HELLO_RAM_SIZE) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		check(-errno, "guest RAM");
	ram = mmap(NULL, HELLO_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ram == MAP_FAILED)
		check(-errno, "mmap guest RAM");
	memcpy(ram + HELLO_LOAD, hello_guest_start, code_len);
	munmap(ram, HELLO_RAM_SIZE);
	return fd;
}

int main(void)
{
	struct crosvm_memory *ram_obj;
	struct crosvm *crosvm;
	struct board board;
	struct pollfd pfd;
	pthread_t thread;
	uint64_t count;
	int ram_fd;

	/* The host passed us a socket in CROSVM_SOCKET; this also fetches the vcpus. */
	check(crosvm_connect(&crosvm), "connect");

	ram_fd = make_guest_ram();
	check(crosvm_create_memory(crosvm, ram_fd, 0, HELLO_RAM_SIZE, 0, false, false, &ram_obj),
	      "create_memory");
	/* The host mapped the memfd; our descriptor is no longer needed. */
	close(ram_fd);

	/* Trap the UART and the power-off port: accesses there become vcpu events. */
	check(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, UART_BASE, UART_PORTS),
	      "reserve UART");
	check(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, POWER_OFF_PORT, 1),
	      "reserve power-off port");

	board.shutdown_fd = crosvm_get_shutdown_eventfd(crosvm);
	check(board.shutdown_fd, "get_shutdown_eventfd");
	/*
	 * One vcpu, the default of plugvm's --cpus.  With more, this plugin
	 * would hang: no vcpu runs until every vcpu has been resumed from its
	 * INIT event (examples/multi-vcpu serves them all).
	 */
	check(crosvm_get_vcpu(crosvm, 0, &board.vcpu), "get_vcpu");

	/* Setup is complete: the host creates the vcpus, and each reports INIT. */
	check(crosvm_start(crosvm), "start");
	if (pthread_create(&thread, NULL, vcpu_thread, &board) != 0) {
		fprintf(stderr, "hello-serial: cannot start the vcpu thread\n");
		return 1;
	}

	/* Sleep until the guest powers off or the host tells us the VM is stopping. */
	pfd.fd = board.shutdown_fd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, -1) < 0)
		if (errno != EINTR)
			check(-errno, "poll");
	if (read(board.shutdown_fd, &count, sizeof(count)) != sizeof(count))
		check(-errno, "read shutdown eventfd");

	/*
	 * After a power-off the vcpu thread has returned.  If the host stopped
	 * the VM on its own, the thread may still be blocked waiting for an
	 * event: exiting the process ends it.
	 */
	if (atomic_load(&board.powered_off))
		pthread_join(thread, NULL);
	else
		pthread_detach(thread);

	/*
	 * Tidy up what we created.  The host serves these requests even while
	 * it is stopping, and our exit status becomes plugvm's.
	 */
	check(crosvm_destroy_memory(crosvm, &ram_obj), "destroy_memory");
	check(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, UART_BASE, 0),
	      "unreserve UART");
	check(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, POWER_OFF_PORT, 0),
	      "unreserve power-off port");
	close(board.shutdown_fd);
	crosvm_destroy_connection(&crosvm);
	return 0;
}
