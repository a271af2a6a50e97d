// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The doorbell guest: 16-bit real-mode code that drives the plugin's
 * "uppercase" device the way a driver would drive a real one.
 *
 * For each string in its table it
 *   1. copies the string into the request buffer and prints it;
 *   2. fills in the mailbox (sequence number, length, buffer address);
 *   3. rings the doorbell: one write to DOORBELL_PORT.  That port is an
 *      ioeventfd: KVM signals the plugin's eventfd and the vcpu carries on
 *      without ever leaving the kernel;
 *   4. sleeps in HLT with interrupts enabled until its interrupt handler
 *      has seen the device finish this request;
 *   5. prints the device's answer and checks it (the sum of the bytes, and
 *      no lower-case letter left).
 * Then it prints how many interrupts it took and powers off, handing the
 * plugin the number of failed checks.
 *
 * Interrupts: the device raises ISA line 5 on the 8259 PIC, which the
 * guest programs to deliver it as vector 0x25 through the real-mode
 * interrupt vector table at address 0.  The handler acknowledges the device
 * (clears the mailbox isr byte) and only then sends the PIC its EOI: at the
 * EOI, KVM lowers the line and tells the device, which raises it again if
 * it still has something to report.
 *
 * As in hello-serial, the plugin copies the bytes between doorbell_guest_start
 * and doorbell_guest_end to DB_LOAD and runs them with every segment base
 * at 0; ADDR() turns a label into the guest physical address it ends up at.
 * The plugin prefixes every line this guest prints with "guest: ".
 */
#include "doorbell.h"

#define ADDR(label) ((label) - doorbell_guest_start + DB_LOAD)

/* The guest's variables, in its own page. */
#define IRQ_COUNT (DB_GUEST_VARS + 0) /* u16: interrupt handler runs */
#define DONE_SEQ (DB_GUEST_VARS + 2) /* u16: the last request the device completed */
#define FAILED (DB_GUEST_VARS + 4) /* u8: replies that were refused or wrong */

	.section .rodata.doorbell_guest, "a"
	.code16

	.globl doorbell_guest_start
doorbell_guest_start:
	cli
	cld
	movw	$0, (IRQ_COUNT)
	movw	$0, (DONE_SEQ)
	movb	$0, (FAILED)

	/* IVT entry for the device's vector: offset, then segment. */
	movw	$ADDR(irq_handler), (DOORBELL_VECTOR * 4)
	movw	$0, (DOORBELL_VECTOR * 4 + 2)

	/*
	 * Program the primary 8259: ICW1 (initialise, ICW4 follows), ICW2
	 * (vector base), ICW3 (secondary PIC on line 2), ICW4 (8086 mode,
	 * normal EOI), then the mask: only the doorbell line open.  The
	 * secondary PIC stays fully masked.
	 */
	movb	$0x11, %al
	outb	%al, $0x20
	movb	$PIC_VECTOR_BASE, %al
	outb	%al, $0x21
	movb	$0x04, %al
	outb	%al, $0x21
	movb	$0x01, %al
	outb	%al, $0x21
	movb	$(~(1 << DOORBELL_IRQ) & 0xff), %al
	outb	%al, $0x21
	movb	$0xff, %al
	outb	%al, $0xa1
	/* ELCR: line 5 is level-triggered, like a PCI INTx line. */
	movw	$0x4d0, %dx
	movb	$(1 << DOORBELL_IRQ), %al
	outb	%al, %dx

	movw	$ADDR(msg_banner), %si
	call	puts

	movw	$ADDR(requests), %bx	/* bx: next entry of the string table */
	movw	$1, %bp			/* bp: request number */
next_request:
	movw	(%bx), %si
	testw	%si, %si
	jz	all_done

	/* "request N: text" */
	pushw	%si
	movw	$ADDR(msg_request), %si
	call	puts
	movw	%bp, %ax
	call	putdigit
	movw	$ADDR(msg_colon), %si
	call	puts
	popw	%si
	pushw	%si
	call	puts
	movb	$'\n', %al
	call	putc
	popw	%si

	/* Copy the string into the request buffer; cx counts its length. */
	movw	$DB_BUFFER, %di
	xorw	%cx, %cx
1:	lodsb
	stosb
	testb	%al, %al
	jz	2f
	incw	%cx
	jmp	1b
2:
	movw	%bp, (DB_MAILBOX + MB_SEQ)
	movw	%cx, (DB_MAILBOX + MB_LEN)
	movw	$DB_BUFFER, (DB_MAILBOX + MB_BUF)

	/* Ring the doorbell.  The value does not matter; the vcpu does not stop. */
	movw	$DOORBELL_PORT, %dx
	outb	%al, %dx

	/*
	 * Sleep until the handler has recorded this request as done.  "sti;
	 * hlt" cannot lose a wake-up: sti takes effect only after the next
	 * instruction, so an interrupt that is already pending wakes the hlt.
	 */
3:	cli
	cmpw	%bp, (DONE_SEQ)
	je	4f
	sti
	hlt
	jmp	3b
4:
	/* "reply N: TEXT  sum 0xSSSS ok" */
	movw	$ADDR(msg_reply), %si
	call	puts
	movw	%bp, %ax
	call	putdigit
	cmpb	$MB_STATUS_OK, (DB_MAILBOX + MB_STATUS)
	je	5f
	incb	(FAILED)
	movw	$ADDR(msg_refused), %si
	call	puts
	jmp	9f
5:	movw	$ADDR(msg_colon), %si
	call	puts
	movw	$DB_BUFFER, %si
	call	puts
	movw	$ADDR(msg_sum), %si
	call	puts
	movw	(DB_MAILBOX + MB_SUM), %ax
	call	puthex16

	/* Check the answer: dx = sum of the bytes, di = 1 if a lower-case letter is left. */
	movw	$DB_BUFFER, %si
	movw	(DB_MAILBOX + MB_LEN), %cx
	xorw	%dx, %dx
	xorw	%di, %di
	xorb	%ah, %ah
6:	jcxz	8f
	lodsb
	addw	%ax, %dx
	decw	%cx
	cmpb	$'a', %al
	jb	6b
	cmpb	$'z', %al
	ja	6b
	movw	$1, %di
	jmp	6b
8:	movw	$ADDR(msg_ok), %si
	cmpw	(DB_MAILBOX + MB_SUM), %dx
	jne	7f
	testw	%di, %di
	jz	9f
7:	incb	(FAILED)
	movw	$ADDR(msg_wrong), %si
9:	call	puts

	incw	%bp
	addw	$2, %bx
	jmp	next_request

all_done:
	/* "interrupts taken: N"; one per request when the device behaves. */
	movw	$ADDR(msg_irqs), %si
	call	puts
	movw	(IRQ_COUNT), %ax
	call	putdigit
	movb	$'\n', %al
	call	putc

	/*
	 * Power off, with the number of failed checks as the value: the
	 * plugin turns a nonzero value into a failing exit status.
	 */
	movb	(FAILED), %al
	outb	%al, $POWER_OFF_PORT
halt:
	cli
	hlt
	jmp	halt

/*
 * The device's interrupt.  Runs with interrupts disabled (the CPU cleared
 * IF on entry) on the guest's stack; preserves every register it uses.
 */
irq_handler:
	pushw	%ax
	/* Ours only if the device says so: a level-triggered line can be shared. */
	cmpb	$0, (DB_MAILBOX + MB_ISR)
	je	1f
	movw	(DB_MAILBOX + MB_SEQ), %ax
	movw	%ax, (DONE_SEQ)
	/* Acknowledge the device before the EOI, or it would raise the line again. */
	movb	$0, (DB_MAILBOX + MB_ISR)
1:	incw	(IRQ_COUNT)
	/* Non-specific EOI to the primary PIC. */
	movb	$0x20, %al
	outb	%al, $0x20
	popw	%ax
	iret

/* Prints the NUL-terminated string at si.  Clobbers al and si. */
puts:
	lodsb
	testb	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

/*
 * Prints al.  The plugin's UART is always ready to transmit, so unlike
 * hello-serial this guest does not poll the line status register first.
 */
putc:
	pushw	%dx
	movw	$(UART_BASE + UART_THR), %dx
	outb	%al, %dx
	popw	%dx
	ret

/* Prints ax (0 to 9) as one decimal digit.  Clobbers al. */
putdigit:
	addb	$'0', %al
	jmp	putc

/* Prints ax as four hexadecimal digits.  Clobbers ax. */
puthex16:
	pushw	%cx
	movw	$4, %cx
1:	rolw	$4, %ax
	pushw	%ax
	andb	$0x0f, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	2f
	addb	$('a' - '9' - 1), %al
2:	call	putc
	popw	%ax
	loop	1b
	popw	%cx
	ret

msg_banner:
	.asciz	"three requests for the uppercase device\n"
msg_request:
	.asciz	"request "
msg_reply:
	.asciz	"reply "
msg_colon:
	.asciz	": "
msg_refused:
	.asciz	": refused by the device\n"
msg_sum:
	.asciz	"  sum 0x"
msg_ok:
	.asciz	" ok\n"
msg_wrong:
	.asciz	" WRONG\n"
msg_irqs:
	.asciz	"interrupts taken: "
str_1:
	.asciz	"hello, doorbell"
str_2:
	.asciz	"ringing the doorbell did not stop this vcpu"
str_3:
	.asciz	"irqfd in, resample out"

	.balign	2
requests:
	.word	ADDR(str_1), ADDR(str_2), ADDR(str_3), 0

	.globl doorbell_guest_end
doorbell_guest_end:

	.code64
	.section .note.GNU-stack, "", @progbits
