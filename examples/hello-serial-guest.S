// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The hello-serial guest: 16-bit real-mode code that prints a greeting on
 * the first PC serial port (a 16550 UART at 0x3f8), the way firmware would,
 * then asks to be powered off and halts.
 *
 * The plugin copies the bytes between hello_guest_start and hello_guest_end
 * to guest physical HELLO_LOAD and starts the vcpu there with every segment
 * base at 0, so the code addresses its data as (label - start + HELLO_LOAD).
 * Only relative jumps are used, so nothing depends on where the assembler
 * put the code.
 */
#include "hello-serial.h"

	.section .rodata.hello_guest, "a"
	.code16

	.globl hello_guest_start
hello_guest_start:
	cld
	movw	$(greeting - hello_guest_start + HELLO_LOAD), %si
next_char:
	lodsb				/* al = *si++ */
	testb	%al, %al
	jz	power_off
	movb	%al, %bl
	/* Wait until the transmitter holding register is empty (LSR bit 5). */
	movw	$(UART_BASE + UART_LSR), %dx
wait_thre:
	inb	%dx, %al
	testb	$UART_LSR_THRE, %al
	jz	wait_thre
	movw	$(UART_BASE + UART_THR), %dx
	movb	%bl, %al
	outb	%al, %dx
	jmp	next_char

power_off:
	/* Any value will do; the plugin treats a write here as "switch me off". */
	movb	$0, %al
	outb	%al, $POWER_OFF_PORT
halt:
	cli
	hlt
	jmp	halt

greeting:
	.asciz	"Hello from a plugvm guest!\n"
	.globl hello_guest_end
hello_guest_end:

	.code64
	.section .note.GNU-stack, "", @progbits
