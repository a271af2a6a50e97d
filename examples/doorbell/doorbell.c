// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * doorbell: a device that works without stopping the vcpu.
 *
 *   plugvm run --plugin build/examples/doorbell/doorbell
 *
 * hello-serial showed the slow path: every access to a reserved port stops
 * the vcpu until the plugin resumes it.  Real devices avoid that on their
 * hot path.  This plugin builds an "uppercase" device out of the two KVM
 * shortcuts the plugin API exposes:
 *
 *   - an io event (ioeventfd) on DOORBELL_PORT: a guest write there only
 *     signals an eventfd inside KVM; the vcpu keeps running;
 *   - an irq event (irqfd with resample) on ISA line 5: writing its
 *     trigger eventfd raises the line inside KVM; when the guest's EOI
 *     lowers it again, KVM signals the resample eventfd.
 *
 * The device has no registers of its own beyond the doorbell: the guest
 * puts a request in a mailbox in guest RAM (doorbell.h), rings, and sleeps;
 * the device thread, polling the two eventfds, uppercases the request in
 * place through its own mapping of guest RAM, writes the result into the
 * mailbox and raises the interrupt.  The guest's interrupt handler wakes
 * it up and it prints the answer through the same kind of serial port as
 * hello-serial (port accesses that do stop the vcpu; fine for a console).
 *
 * Threads: the vcpu thread (INIT setup, serial port, power-off), the
 * device thread (doorbell and resample), and the main thread, which sets
 * everything up, waits on the shutdown eventfd and tears down.
 *
 * Output, with the guest's lines prefixed "guest: " by the plugin:
 *
 *   guest: three requests for the uppercase device
 *   guest: request 1: hello, doorbell
 *   device: request 1: 15 bytes at 0x8100, sum 0x0413, raising IRQ 5
 *   guest: reply 1: HELLO, DOORBELL  sum 0x0413 ok
 *   ...
 *   guest: interrupts taken: 3
 *   device: 3 requests, 3 interrupts raised, 3 EOIs seen, 0 raised again
 *
 * Error handling is as blunt as in hello-serial: print one line, exit 1.
 * The guest checks every reply, and a wrong one also makes us exit 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <crosvm.h>

#include "doorbell.h"

/* The guest code, assembled into this program as data. */
extern const uint8_t doorbell_guest_start[], doorbell_guest_end[];

/* The mailbox as C sees it; the asserts keep it in step with the offsets the guest uses. */
struct mailbox {
	uint16_t seq;
	uint16_t len;
	uint16_t buf;
	uint16_t sum;
	uint8_t isr;
	uint8_t status;
};
_Static_assert(offsetof(struct mailbox, seq) == MB_SEQ, "mailbox layout");
_Static_assert(offsetof(struct mailbox, len) == MB_LEN, "mailbox layout");
_Static_assert(offsetof(struct mailbox, buf) == MB_BUF, "mailbox layout");
_Static_assert(offsetof(struct mailbox, sum) == MB_SUM, "mailbox layout");
_Static_assert(offsetof(struct mailbox, isr) == MB_ISR, "mailbox layout");
_Static_assert(offsetof(struct mailbox, status) == MB_STATUS, "mailbox layout");
_Static_assert(sizeof(struct mailbox) <= MB_SIZE, "mailbox layout");

static void check(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "doorbell: %s: %s\n", what, strerror(-ret));
		exit(1);
	}
}

struct board {
	struct crosvm_vcpu *vcpu;
	int shutdown_fd;
	atomic_bool powered_off; /* the vcpu thread saw the power-off and is done */

	/*
	 * Our own mapping of guest RAM.  The guest writes it while we read it,
	 * so the device goes through volatile pointers and trusts nothing it
	 * finds there.
	 */
	uint8_t *ram;

	/* The device. */
	struct crosvm_io *doorbell;
	struct crosvm_irq *irq;
	int stop_fd; /* the main thread's "exit now" to the device thread */
	unsigned requests, raised, eois, reraised;

	/* What the guest wrote to the power-off port: how many of its checks failed. */
	uint8_t guest_failures;

	/* The serial port collects a line before printing it, see uart_write(). */
	char line[128];
	size_t line_len;
};

/* ---- the device thread ---- */

/* Reads an eventfd's counter: how many times it was signalled since the last read. */
static uint64_t eventfd_drain(int fd)
{
	uint64_t count;

	if (read(fd, &count, sizeof(count)) != sizeof(count))
		check(-errno, "read eventfd");
	return count;
}

static void raise_irq(struct board *b)
{
	uint64_t one = 1;

	/* KVM asserts the line at once; it stays asserted until the guest's EOI. */
	if (write(crosvm_irq_event_get_fd(b->irq), &one, sizeof(one)) != sizeof(one))
		check(-errno, "raise IRQ");
	b->raised++;
}

/* The doorbell rang: serve the request in the mailbox. */
static void device_serve(struct board *b)
{
	volatile struct mailbox *mb = (volatile struct mailbox *)(void *)(b->ram + DB_MAILBOX);
	volatile uint8_t *data;
	uint16_t seq, len, buf, sum = 0;
	uint8_t status = MB_STATUS_OK;

	/* Read each field once: the guest could change it between a check and a use. */
	seq = mb->seq;
	len = mb->len;
	buf = mb->buf;

	/* The request is guest input: never touch memory outside guest RAM. */
	if ((uint32_t)buf + len > DB_RAM_SIZE) {
		status = MB_STATUS_BAD_BUFFER;
	} else {
		data = b->ram + buf;
		for (uint16_t i = 0; i < len; i++) {
			uint8_t c = data[i];

			if (c >= 'a' && c <= 'z')
				c = (uint8_t)(c - 'a' + 'A');
			data[i] = c;
			sum = (uint16_t)(sum + c);
		}
	}
	mb->sum = sum;
	mb->status = status;
	b->requests++;
	printf("device: request %u: %u bytes at %#x, sum 0x%04x, raising IRQ %d\n", seq, len, buf,
	       sum, DOORBELL_IRQ);
	fflush(stdout);

	/*
	 * isr last, as a release store: once the guest sees it, sum and status
	 * must be there.  x86 keeps stores in order, but the compiler must not
	 * reorder them either.
	 */
	__atomic_store_n(&mb->isr, 1, __ATOMIC_RELEASE);
	raise_irq(b);
}

/*
 * The guest sent its EOI (eois of them since we last looked), and KVM
 * lowered the line.  A level-triggered device must keep its line up for as
 * long as it has an unacknowledged event: if the guest's handler returned
 * without clearing isr (it was not looking at this device, say), raise the
 * line again so the event is not lost.  Without resample we could not tell
 * when the line went down.
 */
static void device_eoi(struct board *b, uint64_t eois)
{
	volatile struct mailbox *mb = (volatile struct mailbox *)(void *)(b->ram + DB_MAILBOX);

	b->eois += (unsigned)eois;
	if (mb->isr) {
		b->reraised++;
		printf("device: EOI but request %u is not acknowledged, raising IRQ %d again\n",
		       mb->seq, DOORBELL_IRQ);
		fflush(stdout);
		raise_irq(b);
	}
}

static void *device_thread(void *arg)
{
	struct board *b = arg;
	struct pollfd pfd[3] = {
		{ .fd = crosvm_io_event_fd(b->doorbell), .events = POLLIN },
		{ .fd = crosvm_irq_event_get_resample_fd(b->irq), .events = POLLIN },
		{ .fd = b->stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			check(-errno, "poll");
		}
		/*
		 * EOIs first: one seen together with a new ring belongs to the
		 * previous request (the guest EOIs before it rings again), and
		 * serving the new one first would make that EOI look like an
		 * unacknowledged event.  Several EOIs may come before we look:
		 * the counter has them all.
		 */
		if (pfd[1].revents & POLLIN)
			device_eoi(b, eventfd_drain(pfd[1].fd));
		/*
		 * An eventfd counts: several rings before we look are one
		 * wake-up.  That is fine, the mailbox holds one request.
		 */
		if (pfd[0].revents & POLLIN) {
			eventfd_drain(pfd[0].fd);
			device_serve(b);
		}
		/*
		 * Stop last: the guest's final EOI happened before it powered
		 * off, so it is already counted by the time we are told to stop.
		 */
		if (pfd[2].revents & POLLIN)
			return NULL;
	}
}

/* ---- the vcpu thread ---- */

/* Real mode, every segment at 0, at the guest code: as in hello-serial. */
static void vcpu_setup(struct crosvm_vcpu *vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	check(crosvm_vcpu_get_sregs(vcpu, &sregs), "get_sregs");
	sregs.cs.base = sregs.ds.base = sregs.es.base = 0;
	sregs.fs.base = sregs.gs.base = sregs.ss.base = 0;
	sregs.cs.selector = sregs.ds.selector = sregs.es.selector = 0;
	sregs.fs.selector = sregs.gs.selector = sregs.ss.selector = 0;
	check(crosvm_vcpu_set_sregs(vcpu, &sregs), "set_sregs");

	memset(&regs, 0, sizeof(regs));
	regs.rip = DB_LOAD;
	regs.rsp = DB_STACK;
	regs.rflags = 2; /* interrupts off until the guest has its IVT and PIC ready */
	check(crosvm_vcpu_set_regs(vcpu, &regs), "set_regs");
}

/*
 * The guest's bytes arrive one port write at a time, while the device
 * thread prints too: collect whole lines so the two never mix mid-line.
 */
static void uart_write(struct board *b, uint8_t c)
{
	if (c != '\n' && b->line_len < sizeof(b->line))
		b->line[b->line_len++] = (char)c;
	if (c == '\n' || b->line_len == sizeof(b->line)) {
		printf("guest: %.*s\n", (int)b->line_len, b->line);
		fflush(stdout);
		b->line_len = 0;
	}
}

/* Returns true on a power-off request. */
static bool handle_io(struct board *b, struct crosvm_vcpu_event *ev)
{
	uint64_t port = ev->io_access.address;

	if (port == POWER_OFF_PORT) {
		if (!ev->io_access.is_write)
			return false;
		/* data[] always holds at least length bytes; a zero-length write means 0. */
		b->guest_failures = ev->io_access.length ? ev->io_access.data[0] : 0;
		return true;
	}

	if (ev->io_access.is_write) {
		if (port == UART_BASE + UART_THR)
			for (uint32_t i = 0; i < ev->io_access.length; i++)
				uart_write(b, ev->io_access.data[i]);
		return false;
	}
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
		check(crosvm_vcpu_wait(b->vcpu, &ev), "vcpu_wait");
		switch (ev.kind) {
		case CROSVM_VCPU_EVENT_KIND_INIT:
			vcpu_setup(b->vcpu);
			break;
		case CROSVM_VCPU_EVENT_KIND_IO_ACCESS:
			/*
			 * Only the serial port and the power-off port come
			 * here.  The doorbell never does: it is not reserved,
			 * and KVM handles it through the io event.
			 */
			if (handle_io(b, &ev)) {
				atomic_store(&b->powered_off, true);
				if (write(b->shutdown_fd, &one, sizeof(one)) != sizeof(one))
					check(-errno, "signal shutdown");
				/* Leave the vcpu stopped: the VM is going away. */
				return NULL;
			}
			break;
		default:
			fprintf(stderr, "doorbell: unexpected vcpu event %u\n", ev.kind);
			exit(1);
		}
		check(crosvm_vcpu_resume(b->vcpu), "vcpu_resume");
	}
}

/* ---- setup and teardown ---- */

/* Guest RAM: a sealed memfd with the guest code in it, which we keep mapped for the device. */
static int make_guest_ram(uint8_t **ram_out)
{
	size_t code_len = (size_t)(doorbell_guest_end - doorbell_guest_start);
	uint8_t *ram;
	int fd;

	fd = memfd_create("doorbell-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, DB_RAM_SIZE) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		check(-errno, "guest RAM");
	ram = mmap(NULL, DB_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ram == MAP_FAILED)
		check(-errno, "mmap guest RAM");
	memcpy(ram + DB_LOAD, doorbell_guest_start, code_len);
	*ram_out = ram;
	return fd;
}

int main(void)
{
	pthread_t vcpu_tid, device_tid;
	struct crosvm_memory *ram_obj;
	struct crosvm *crosvm;
	struct board board = { 0 };
	struct pollfd pfd;
	uint64_t one = 1, count;
	int ram_fd;

	check(crosvm_connect(&crosvm), "connect");

	ram_fd = make_guest_ram(&board.ram);
	check(crosvm_create_memory(crosvm, ram_fd, 0, DB_RAM_SIZE, 0, false, false, &ram_obj),
	      "create_memory");
	close(ram_fd);

	/* The slow, stopping path: console and power-off, as in hello-serial. */
	check(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, UART_BASE, UART_PORTS),
	      "reserve UART");
	check(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, POWER_OFF_PORT, 1),
	      "reserve power-off port");

	/*
	 * The fast path.  Length 0 means "any write to this port, whatever its
	 * size and value"; a length of 1, 2, 4 or 8 with a datamatch value
	 * would signal only for that exact write.
	 */
	check(crosvm_create_io_event(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, DOORBELL_PORT, 0, NULL,
				     &board.doorbell),
	      "create_io_event");
	/* The interrupt: an irqfd on GSI 5, which the default routes send to PIC line 5. */
	check(crosvm_create_irq_event(crosvm, DOORBELL_IRQ, &board.irq), "create_irq_event");

	board.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (board.stop_fd < 0)
		check(-errno, "eventfd");
	board.shutdown_fd = crosvm_get_shutdown_eventfd(crosvm);
	check(board.shutdown_fd, "get_shutdown_eventfd");
	check(crosvm_get_vcpu(crosvm, 0, &board.vcpu), "get_vcpu");

	/* The device is ready before the guest can ring it. */
	if (pthread_create(&device_tid, NULL, device_thread, &board) != 0) {
		fprintf(stderr, "doorbell: cannot start the device thread\n");
		return 1;
	}
	check(crosvm_start(crosvm), "start");
	if (pthread_create(&vcpu_tid, NULL, vcpu_thread, &board) != 0) {
		fprintf(stderr, "doorbell: cannot start the vcpu thread\n");
		return 1;
	}

	/* Sleep until the guest powers off or the host stops the VM. */
	pfd.fd = board.shutdown_fd;
	pfd.events = POLLIN;
	while (poll(&pfd, 1, -1) < 0)
		if (errno != EINTR)
			check(-errno, "poll");
	if (read(board.shutdown_fd, &count, sizeof(count)) != sizeof(count))
		check(-errno, "read shutdown eventfd");

	/* Stop the device before destroying what it uses. */
	if (write(board.stop_fd, &one, sizeof(one)) != sizeof(one))
		check(-errno, "stop the device");
	pthread_join(device_tid, NULL);
	/* The vcpu thread is done after a power-off; otherwise exiting ends it. */
	if (atomic_load(&board.powered_off))
		pthread_join(vcpu_tid, NULL);
	else
		pthread_detach(vcpu_tid);
	printf("device: %u requests, %u interrupts raised, %u EOIs seen, %u raised again\n",
	       board.requests, board.raised, board.eois, board.reraised);
	fflush(stdout);

	/*
	 * Teardown, as in hello-serial; the vcpu is stopped (or the host has
	 * stopped it), so nothing runs on the memory we destroy.  Destroying
	 * the io and irq events unregisters them from KVM and closes their
	 * eventfds.
	 */
	check(crosvm_destroy_io_event(crosvm, &board.doorbell), "destroy_io_event");
	check(crosvm_destroy_irq_event(crosvm, &board.irq), "destroy_irq_event");
	check(crosvm_destroy_memory(crosvm, &ram_obj), "destroy_memory");
	check(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, UART_BASE, 0),
	      "unreserve UART");
	check(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, POWER_OFF_PORT, 0),
	      "unreserve power-off port");
	munmap(board.ram, DB_RAM_SIZE);
	close(board.stop_fd);
	close(board.shutdown_fd);
	crosvm_destroy_connection(&crosvm);

	if (board.guest_failures) {
		fprintf(stderr, "doorbell: the guest saw %u wrong replies\n", board.guest_failures);
		return 1;
	}
	return 0;
}
