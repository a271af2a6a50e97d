// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * A boot sector for the snapshot tests (tests/pc/snapshot-test.py): proof
 * that a machine continues after save, restore and migration.
 *
 * It programs PIT channel 0 for 100 Hz and takes IRQ 0 through the PIC
 * (vector 8 in SeaBIOS's real-mode layout) to count ticks.  Meanwhile it
 * keeps rewriting the 64 KiB at 0x10000 (words at a stride of 7919), with a
 * running 16-bit sum of all of it.  Every 10 ticks it prints on COM1
 *
 *     n=NNNN t=TTTT s=SSSS ok
 *
 * n: the line number (1, 2, ...), t: the tick count, s: the running sum,
 * then "ok" if a fresh sum over the whole buffer equals the running one
 * (memory and registers agree) and the vector registers still hold what the
 * guest put there at boot, or "BAD".  After a restore, n must go on from
 * the last line, t must not go back, and every line must say ok.
 *
 * The vector registers: XMM0 (SSE, with CR4.OSFXSR); built with -DAVX,
 * also the upper half of YMM0, loaded with XRSTOR from an image the guest
 * builds (legal in real mode, where VEX instructions are not) and read back
 * with XSAVE.  kvm_fpu has no room for that half: only the XSAVE area (API
 * 0.23) carries it across a snapshot or a migration.  (Not in the -DSWEEP
 * build, which has no room for it below the partition table.)
 *
 * Built with -DSWEEP, each step also writes one word in the next of the 128
 * pages at 0x20000-0x9ffff, so that all of them are dirty all the time: a
 * live migration of it cannot converge and must hit its stop-and-copy bound.
 */
	.code16
	.text
	.globl start
start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movw	%ax, %ss
	movw	$0x7c00, %sp
	movw	$0x1000, %ax
	movw	%ax, %es

	movw	$irq0, 0x20		/* IVT entry 8 */
	movw	%ds, 0x22
	movb	$0x34, %al		/* channel 0, lobyte/hibyte, mode 2 */
	outb	%al, $0x43
	movw	$11932, %ax		/* 1193182 Hz / 100 */
	outb	%al, $0x40
	movb	%ah, %al
	outb	%al, $0x40
	inb	$0x21, %al
	andb	$0xfe, %al		/* IRQ 0 unmasked */
	outb	%al, $0x21

#ifndef SWEEP
	call	vinit
#endif
	call	checksum
	movw	%ax, sum
	movw	$10, next
	sti

loop:
	/* One step of memory work: buf[idx] += ticks + 1, the sum follows. */
	movw	idx, %di
	addw	$(7919 * 2), %di
	andw	$0xfffe, %di
	movw	%di, idx
	movw	%es:(%di), %bx
	movw	ticks, %ax
	incw	%ax
	addw	%bx, %ax
	movw	%ax, %es:(%di)
	subw	%bx, sum
	addw	%ax, sum
#ifdef SWEEP
	movw	sweep, %ax
	movw	%ax, %fs
	incw	%fs:0
	addw	$0x100, %ax		/* the next 4 KiB page */
	cmpw	$0xa000, %ax
	jb	5f
	movw	$0x2000, %ax
5:	movw	%ax, sweep
#endif

	movw	ticks, %ax
	subw	next, %ax
	js	loop
	addw	$10, next
	incw	count
	call	report
	jmp	loop

/* A tick: count it and acknowledge the PIC. */
irq0:
	incw	%cs:ticks
	pushw	%ax
	movb	$0x20, %al
	outb	%al, $0x20
	popw	%ax
	iret

/* %ax = 16-bit sum of the 32768 words at %es:0. */
checksum:
	xorw	%ax, %ax
	xorw	%si, %si
1:	addw	%es:(%si), %ax
	addw	$2, %si
	jnz	1b
	ret

report:
	movw	$msg_n, %si
	movw	count, %ax
	call	field
	movw	$msg_t, %si
	movw	ticks, %ax
	call	field
	movw	$msg_s, %si
	movw	sum, %ax
	call	field
	call	checksum
	cmpw	sum, %ax
	jne	2f
#ifndef SWEEP
	call	vcheck			/* uses %si and %di */
	jne	2f
#endif
	movw	$msg_ok, %si
	jmp	puts
2:	movw	$msg_bad, %si
	jmp	puts

#ifndef SWEEP
/*
 * The vector registers' values are this sector's first 32 bytes: XMM0 gets
 * bytes 0-15, with -DAVX the upper half of YMM0 bytes 16-31.  XAREA
 * (64-byte aligned) holds the XSAVE image (512 legacy bytes, XSTATE_BV at
 * 512, the AVX half at 576) and, at XCOPY, XMM0 as read back.  Without AVX
 * only movdqu touches vector registers and the comparison is integer code:
 * KVM's instruction emulator, which runs real mode where the CPU cannot (as
 * on the current machines), knows movdqu and little more of SSE.  The AVX
 * build needs a CPU that runs real mode itself, and KVM offering AVX and
 * XSAVE to guests (snapshot-test.py checks before it runs it).
 */
#define XAREA 0x8000
#define XCOPY (XAREA + 2048)

/* Loads XMM0, and with -DAVX YMM0's upper half (CR0: the BIOS's). */
vinit:
	movl	%cr4, %eax
#ifdef AVX
	orl	$0x40600, %eax		/* OSXSAVE, OSXMMEXCPT, OSFXSR */
#else
	orw	$0x0600, %ax		/* OSXMMEXCPT, OSFXSR */
#endif
	movl	%eax, %cr4
	movdqu	start, %xmm0
#ifdef AVX
	xorl	%ecx, %ecx
	xorl	%edx, %edx
	movl	$7, %eax		/* XCR0 = x87 | SSE | AVX */
	xsetbv
	xsave	XAREA			/* a valid image to start from */
	movdqu	start + 16, %xmm1
	movdqu	%xmm1, XAREA + 576
	orb	$4, XAREA + 512
	xrstor	XAREA
#endif
	ret

/* ZF set if XMM0 (and with -DAVX YMM0's upper half) hold what vinit loaded. */
vcheck:
	movdqu	%xmm0, XCOPY
	movw	$start, %si
	movw	$XCOPY, %di
#ifdef AVX
	call	same16
	jne	8f
	/* Cleared first: an AVX half in its initial state is not written by XSAVE. */
	pxor	%xmm2, %xmm2
	movdqu	%xmm2, XAREA + 576
	xorl	%edx, %edx
	movl	$4, %eax		/* the AVX component only */
	xsave	XAREA
	movw	$start + 16, %si
	movw	$XAREA + 576, %di
#endif
/* ZF set if the 16 bytes at %si and %di are the same. */
same16:
	pushw	%es
	pushw	%ds
	popw	%es
	movw	$8, %cx
	repe cmpsw
	popw	%es
8:	ret
#endif

/* Prints the string at %si, then %ax as four hex digits. */
field:
	pushw	%ax
	call	puts
	popw	%ax
	pushw	%ax
	movb	%ah, %al
	call	puthex
	popw	%ax
puthex:
	pushw	%ax
	shrb	$4, %al
	call	nibble
	popw	%ax
nibble:
	andb	$0x0f, %al
	addb	$'0', %al
	cmpb	$'9', %al
	jbe	putc
	addb	$('a' - '9' - 1), %al
putc:
	pushw	%dx
	movb	%al, %ah
	movw	$0x3fd, %dx
3:	inb	%dx, %al
	testb	$0x20, %al
	jz	3b
	movw	$0x3f8, %dx
	movb	%ah, %al
	outb	%al, %dx
	popw	%dx
	ret

puts:
	lodsb
	testb	%al, %al
	jz	4f
	call	putc
	jmp	puts
4:	ret

msg_n:		.asciz	"n="
msg_t:		.asciz	" t="
msg_s:		.asciz	" s="
msg_ok:		.asciz	" ok\r\n"
msg_bad:	.asciz	" BAD\r\n"
ticks:		.word	0
next:		.word	0
count:		.word	0
sum:		.word	0
idx:		.word	0
#ifdef SWEEP
sweep:		.word	0x2000
#endif

	.org	510
	.byte	0x55, 0xaa
