// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

	.text
	.code16
	.global	start
/*
 * A boot sector (two vcpus, tests/pc/run-pc-test.sh case pam-smp*) that
 * changes PAM while another vcpu reads the memory it covers.  The BSP wakes
 * the AP again (INIT, SIPI to 0x7000), and the AP reads the dword at
 * f000:fff0 (the BIOS's reset vector, in the PAM0 segment 0xf0000-0xfffff)
 * in a loop, counting reads and reads that differ from what the BSP read
 * there first.  The BSP then switches PAM0 between read/write (0x30) and
 * read-only (0x10) PAM_CHANGES times, stops the AP and prints
 *   plugvm pam: PAM_CHANGES changes, AP reads XXXXXXXX, wrong XXXXXXXX, done
 * on COM1 (hex) and halts.  A PAM change that no running vcpu can observe
 * (crosvm_memory_set_read_only()) gives no wrong read; destroying and
 * re-creating the segment's slot leaves a moment in which the AP reads a
 * hole (zeros from the host).
 */
#define PAM_CHANGES 400
#define STR_(x) #x
#define STR(x) STR_(x)

start:
	xorw	%ax, %ax
	cli
	movw	%ax, %ss
	movw	%ax, %ds
	movw	%ax, %es
	movw	$0x7c00, %sp
	/* Big real mode for %fs (the LAPIC is at 0xfee00000): one flat data segment. */
	lgdt	gdt_desc
	movl	%cr0, %eax
	orb	$1, %al
	movl	%eax, %cr0
	movw	$8, %bx
	movw	%bx, %fs
	andb	$0xfe, %al
	movl	%eax, %cr0
	xorw	%ax, %ax
	movw	%ax, %fs

	/* What the AP must keep reading, and its entry: `ljmp $0, $ap` at 0x7000 (SIPI vector 7). */
	movl	$0xffff0, %ebx
	movl	%fs:(%ebx), %eax
	movl	%eax, expect
	movb	$0xea, 0x7000
	movw	$ap, 0x7001
	movw	$0, 0x7003

	/* INIT, then SIPI twice, to all but ourselves (ICR low at 0xfee00300). */
	movl	$0xfee00300, %ebx
	movl	$0x000c4500, %fs:(%ebx)
	call	delay
	movl	$0x000c4607, %fs:(%ebx)
	call	delay
	movl	$0x000c4607, %fs:(%ebx)

	/* Wait for the AP's first reads (at most about 2^32 looks). */
	xorl	%ecx, %ecx
1:	cmpl	$0, ap_reads
	jne	2f
	pause
	loopl	1b
	movw	$msg_noap, %si
	call	puts
	jmp	halt
2:
	/* PAM0 (00:00.0 register 0x59): through CONFIG_ADDRESS 0x58, the byte at 0xcfd. */
	movw	$PAM_CHANGES, %di
3:	movw	$0xcf8, %dx
	movl	$0x80000058, %eax
	outl	%eax, %dx
	movw	$0xcfd, %dx
	movb	$0x30, %al
	testw	$1, %di
	jz	4f
	movb	$0x10, %al
4:	outb	%al, %dx
	decw	%di
	jnz	3b
	movb	$1, ap_stop
5:	cmpb	$0, ap_done
	je	5b

	movw	$msg_pam, %si
	call	puts
	movl	ap_reads, %eax
	call	puthex32
	movw	$msg_wrong, %si
	call	puts
	movl	ap_wrong, %eax
	call	puthex32
	movw	$msg_crlf, %si
	call	puts
halt:
	cli
	hlt
	jmp	halt

/* A few microseconds: writes to port 0x80 complete in the host. */
delay:
	movw	$2000, %cx
1:	outb	%al, $0x80
	loop	1b
	ret

/* The AP, from 0x7000 in real mode: read f000:fff0 until told to stop. */
ap:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	$0xf000, %ax
	movw	%ax, %es
1:	movl	%es:0xfff0, %eax
	cmpl	expect, %eax
	je	2f
	incl	ap_wrong
2:	incl	ap_reads
	cmpb	$0, ap_stop
	je	1b
	movb	$1, ap_done
3:	hlt
	jmp	3b

/* Prints %eax as eight hex digits. */
puthex32:
	movw	$8, %cx
1:	roll	$4, %eax
	pushl	%eax
	andb	$0x0f, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	2f
	addb	$'a' - '9' - 1, %al
2:	call	putc
	popl	%eax
	loop	1b
	ret

#include "com1.inc"

	.p2align 3
gdt:		.quad	0
		.quad	0x00cf92000000ffff	/* flat 4 GiB data */
gdt_desc:	.word	gdt_desc - gdt - 1
		.long	gdt
expect:		.long	0
ap_reads:	.long	0
ap_wrong:	.long	0
ap_stop:	.byte	0
ap_done:	.byte	0
msg_noap:	.asciz	"plugvm pam: the AP did not start\r\n"
msg_pam:	.ascii	"plugvm pam: "
		.ascii	STR(PAM_CHANGES)
		.asciz	" changes, AP reads "
msg_wrong:	.asciz	", wrong "
msg_crlf:	.asciz	", done\r\n"

	.org	510
	.byte	0x55, 0xaa
