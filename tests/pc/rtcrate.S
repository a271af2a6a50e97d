// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

	.text
	.code16
	.global	start
/*
 * A boot sector that measures the rate of the RTC's periodic interrupt:
 * it programs the RTC to 64 Hz (register A rate 10, register B PIE), takes
 * IRQ 8 (int 70h) itself, and counts its interrupts during two seconds of the
 * RTC's clock (from one change of its seconds register to the second change
 * after it: 128 interrupts at the right rate).  The PIT is no reference: the
 * in-kernel PIT re-injects the ticks the guest missed with interrupts off.
 * It prints
 *   plugvm rtc rate: NNN interrupts in 2 s
 * on COM1 and halts.
 */
start:
	xorw	%ax, %ax
	cli
	movw	%ax, %ss
	movw	$0x7c00, %sp
	/* The vector of IRQ 8 (int 70h) at 0:rtc_irq. */
	movw	%ax, %ds
	movw	%ax, 0x70 * 4 + 2
	movw	$rtc_irq, 0x70 * 4
	/* 64 Hz, periodic interrupt on, flags cleared; IRQ 8 and the cascade unmasked. */
	movb	$0x0a, %al
	outb	%al, $0x70
	movb	$0x2a, %al
	outb	%al, $0x71
	movb	$0x0b, %al
	outb	%al, $0x70
	inb	$0x71, %al
	orb	$0x40, %al
	movb	%al, %ah
	movb	$0x0b, %al
	outb	%al, $0x70
	movb	%ah, %al
	outb	%al, $0x71
	movb	$0x0c, %al
	outb	%al, $0x70
	inb	$0x71, %al
	inb	$0xa1, %al
	andb	$0xfe, %al
	outb	%al, $0xa1
	inb	$0x21, %al
	andb	$0xfb, %al
	outb	%al, $0x21
	/*
	 * Count from an edge of the RTC's seconds to the second edge after it
	 * (2 s), halted between interrupts: the RTC interrupt (and the PIT's)
	 * wakes the vcpu.
	 */
	call	seconds
	movb	%al, %bl
1:	sti
	hlt
	call	seconds
	cmpb	%al, %bl
	je	1b
	movw	$0, count
	movb	$2, %bh
2:	movb	%al, %bl
3:	sti
	hlt
	call	seconds
	cmpb	%al, %bl
	je	3b
	decb	%bh
	jnz	2b
	movw	count, %di
	movw	$msg_ok, %si
	call	puts
	movw	%di, %ax
	call	putdec
	movw	$msg_end, %si
	call	puts
	cli
halt:
	hlt
	jmp	halt

/* %al = the RTC's seconds register (interrupts off: int 70h selects register C). */
seconds:
	cli
	xorb	%al, %al
	outb	%al, $0x70
	inb	$0x71, %al
	ret

/* int 70h: one RTC interrupt (register C read to clear its flags, then EOI to both PICs). */
rtc_irq:
	pushw	%ax
	movb	$0x0c, %al
	outb	%al, $0x70
	inb	$0x71, %al
	incw	%cs:count
	movb	$0x20, %al
	outb	%al, $0xa0
	outb	%al, $0x20
	popw	%ax
	iret

/* Prints %ax (below 1000) as three decimal digits. */
putdec:
	movb	$100, %cl
	divb	%cl			/* al = hundreds, ah = rest */
	movb	%ah, %ch
	addb	$'0', %al
	call	putc
	movb	%ch, %al
	xorb	%ah, %ah
	movb	$10, %cl
	divb	%cl
	movb	%ah, %ch
	addb	$'0', %al
	call	putc
	movb	%ch, %al
	addb	$'0', %al
	jmp	putc

#include "com1.inc"

msg_ok:		.asciz	"plugvm rtc rate: "
msg_end:	.asciz	" interrupts in 2 s\r\n"
count:		.word	0

	.org	510
	.byte	0x55, 0xaa
