// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * A boot sector that resets the machine: it counts its boots in RAM (a
 * magic word and a counter at 32 MiB, which a warm reset keeps; SeaBIOS's
 * POST clears the memory below 640 KiB, so the sector reaches up there in
 * "unreal mode": %fs keeps a 4 GiB limit from a brief switch to protected
 * mode), prints the count on COM1, and until boot BOOTS resets
 * the machine the way RESET_VIA says; the last boot prints its line and
 * halts.  Built once per way (examples/pc/meson.build):
 *   RESET_VIA 1  PIIX reset control, port 0xcf9 (6 after 2)
 *   RESET_VIA 2  keyboard controller command 0xfe (pulse the reset line)
 *   RESET_VIA 3  system control port A, 0x92 bit 0 (fast reset)
 *   RESET_VIA 4  triple fault (empty IDT, protected mode, ud2)
 */
#ifndef RESET_VIA
#define RESET_VIA 1
#endif
#ifndef BOOTS
#define BOOTS 2
#endif
#define MAGIC 0x7670 /* "pv" */
#define COUNTER 0x2000000 /* 32 MiB */

	.code16
	.text
	.globl start
start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %ss
	movw	$0x7c00, %sp
	/* Unreal mode: load %fs from a flat descriptor in protected mode, then go back. */
	lgdtw	gdt_desc
	movl	%cr0, %eax
	orb	$1, %al
	movl	%eax, %cr0
	jmp	5f
5:	movw	$8, %bx
	movw	%bx, %fs
	andb	$0xfe, %al
	movl	%eax, %cr0
	jmp	6f
6:	movl	$COUNTER, %ebx
	/* A first boot finds no magic: start counting. */
	addr32 cmpw	$MAGIC, %fs:(%ebx)
	je	1f
	addr32 movw	$MAGIC, %fs:(%ebx)
	addr32 movw	$0, %fs:2(%ebx)
1:	addr32 incw	%fs:2(%ebx)
	addr32 movw	%fs:2(%ebx), %di
	movw	$msg_boot, %si
	call	puts
	movw	%di, %ax
	addb	$'0', %al
	call	putc
	cmpw	$BOOTS, %di
	jae	last
	movw	$msg_reset, %si
	call	puts
	call	reset
	/* A reset that did not happen. */
	movw	$msg_noreset, %si
	call	puts
	jmp	halt
last:
	movw	$msg_last, %si
	call	puts
	addr32 movw	$0, %fs:(%ebx)
halt:
	cli
	hlt
	jmp	halt

reset:
#if RESET_VIA == 1
	movw	$0xcf9, %dx
	movb	$0x02, %al
	outb	%al, %dx
	movb	$0x06, %al
	outb	%al, %dx
#elif RESET_VIA == 2
	movb	$0xfe, %al
	outb	%al, $0x64
#elif RESET_VIA == 3
	inb	$0x92, %al
	andb	$0xfe, %al
	outb	%al, $0x92
	orb	$0x01, %al
	outb	%al, $0x92
#else
	lidtw	empty_idt
	movl	%cr0, %eax
	orb	$1, %al
	movl	%eax, %cr0
	ud2
#endif
	/* Give the reset a moment to arrive. */
	movw	$0xffff, %cx
2:	pause
	loop	2b
	ret

#include "com1.inc"

	.balign	8
gdt:		.quad	0
		.quad	0x00cf92000000ffff /* flat 4 GiB data */
gdt_desc:	.word	15
		.long	gdt
empty_idt:	.word	0
		.long	0
msg_boot:	.asciz	"plugvm reset sector: boot "
msg_reset:	.asciz	", resetting\r\n"
msg_last:	.asciz	", done\r\n"
msg_noreset:	.asciz	"plugvm reset sector: the reset did not happen\r\n"

	.org	510
	.byte	0x55, 0xaa
