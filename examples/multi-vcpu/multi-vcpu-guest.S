// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The multi-vcpu guest: every vcpu runs this same loop of 16-bit
 * real-mode code, keeping all its state in registers, which the plugin
 * sets at INIT and reads and changes while the vcpu is paused:
 *
 *   ecx  the loop counter (starts at 0)
 *   ebp  a "poke" from the plugin: when nonzero, the guest reports it on
 *        PORT_ACK and clears it
 *   edi  nonzero means "stop": the guest reports its counter on PORT_DONE
 *        and halts
 *
 * Every PROGRESS_EVERY iterations it also reports the counter on
 * PORT_PROGRESS.  Each of those port writes stops the vcpu until the
 * plugin resumes it; between them the loop runs inside KVM without the
 * plugin's involvement, which is where the plugin's pauses catch it.
 *
 * It uses no memory and no stack, so all the vcpus can share it.
 */
#include "multi-vcpu.h"

	.section .rodata.multi_vcpu_guest, "a"
	.code16

	.globl multi_vcpu_guest_start
multi_vcpu_guest_start:
	cli
loop:
	incl	%ecx
	testl	$(PROGRESS_EVERY - 1), %ecx
	jnz	1f
	movl	%ecx, %eax
	movw	$PORT_PROGRESS, %dx
	outl	%eax, %dx
1:	testl	%ebp, %ebp
	jz	2f
	movl	%ebp, %eax
	movw	$PORT_ACK, %dx
	outl	%eax, %dx
	xorl	%ebp, %ebp
2:	testl	%edi, %edi
	jz	loop

	movl	%ecx, %eax
	movw	$PORT_DONE, %dx
	outl	%eax, %dx
halt:
	cli
	hlt
	jmp	halt

	.globl multi_vcpu_guest_end
multi_vcpu_guest_end:

	.code64
	.section .note.GNU-stack, "", @progbits
