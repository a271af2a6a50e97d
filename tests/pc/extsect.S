// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

	.text
	.code16
	.global	start
/*
 * A boot sector for the pc example's use of API 0.23 (tests/pc/run-pc-test.sh,
 * case ext-*).  After SeaBIOS has probed the debug console once, it reads
 * port 0x402 again: with the split trap mode (CROSVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ)
 * the read stops the vcpu and returns 0xe9 as the first did; the 0.22 workaround
 * (an async write range after the first read) reads zeros.  Then it writes
 * 0x5a to COM1's scratch register (0x3ff) and reads it back with `rep insb`
 * of two bytes: with the element size in the event (crosvm_enable_io_details)
 * those are two reads of the scratch register; without it the plugin must
 * guess and takes the two bytes for one access to 0x3ff and 0x400.  It prints
 *   plugvm ext: debugcon reads XX
 *   plugvm ext: rep insb from 0x3ff: XX XX
 *   plugvm ext: done
 * on COM1 and halts.
 */
start:
	xorw	%ax, %ax
	cli
	movw	%ax, %ss
	movw	%ax, %ds
	movw	%ax, %es
	movw	$0x7c00, %sp
	cld

	movw	$msg_debugcon, %si
	call	puts
	movw	$0x402, %dx
	inb	%dx, %al
	call	puthex
	movw	$msg_crlf, %si
	call	puts

	movw	$0x3ff, %dx
	movb	$0x5a, %al
	outb	%al, %dx
	movw	$buf, %di
	movw	$2, %cx
	rep insb
	movw	$msg_insb, %si
	call	puts
	movb	buf, %al
	call	puthex
	movb	$' ', %al
	call	putc
	movb	buf + 1, %al
	call	puthex
	movw	$msg_crlf, %si
	call	puts

	movw	$msg_done, %si
	call	puts
halt:
	hlt
	jmp	halt

/* Prints %al as two hex digits. */
puthex:
	pushw	%ax
	shrb	$4, %al
	call	hexdigit
	popw	%ax
	andb	$0x0f, %al
hexdigit:
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	1f
	addb	$'a' - '9' - 1, %al
1:	jmp	putc

#include "com1.inc"

msg_debugcon:	.asciz	"plugvm ext: debugcon reads "
msg_insb:	.asciz	"plugvm ext: rep insb from 0x3ff: "
msg_done:	.asciz	"plugvm ext: done\r\n"
msg_crlf:	.asciz	"\r\n"
buf:		.word	0

	.org	510
	.byte	0x55, 0xaa
