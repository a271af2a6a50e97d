// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * A 512-byte boot sector for the pc example's disk.  SeaBIOS loads it at
 * 0:0x7c00 with the boot drive in %dl.  It sleeps 20 ms with int 15h/86h,
 * which SeaBIOS implements with the RTC's periodic interrupt, so reaching
 * the message proves that IRQ 8 gets through the in-kernel PIC; then it
 * writes one line straight to COM1 (int 10h output would go to a screen we
 * do not have) and halts with interrupts off.
 */
	.code16
	.text
	.globl start
start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	$0x7c00, %sp
	movb	%dl, drive
	sti

	movb	$0x86, %ah
	xorw	%cx, %cx
	movw	$20000, %dx		/* CX:DX microseconds */
	int	$0x15
	jnc	1f
	movw	$msg_nowait, %si
	call	puts
	jmp	halt
1:
	movw	$msg_ok, %si
	call	puts
	movb	drive, %al
	call	puthex
	movw	$msg_end, %si
	call	puts
halt:
	cli
	hlt
	jmp	halt

/* Prints %al as two hex digits. */
puthex:
	pushw	%ax
	shrb	$4, %al
	call	nibble
	popw	%ax
	andb	$0x0f, %al
nibble:
	andb	$0x0f, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	putc
	addb	$('a' - '9' - 1), %al
	jmp	putc

#include "com1.inc"

msg_ok:		.asciz	"plugvm boot sector: slept 20 ms, booted from drive 0x"
msg_end:	.asciz	"\r\n"
msg_nowait:	.asciz	"plugvm boot sector: int 15h/86h failed\r\n"
drive:		.byte	0

	.org	510
	.byte	0x55, 0xaa
