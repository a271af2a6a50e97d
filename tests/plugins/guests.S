// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The test guests: 16-bit real-mode code run with every segment base at 0.
 * Each lies between guest_<name>_start and guest_<name>_end; the plugins
 * copy those bytes to guest physical GUEST_LOAD (guest.h).  Jumps are
 * relative, and data addresses go through ADDR(), so the code runs at
 * GUEST_LOAD wherever the assembler placed it.  The section is plain data
 * in the plugin: nothing here ever runs on the host.
 */
#include "guest.h"

#define GUEST_BEGIN(name)                                                                          \
	.globl guest_##name##_start;                                                               \
	.type guest_##name##_start, @object;                                                       \
	guest_##name##_start:
#define GUEST_END(name)                                                                            \
	.globl guest_##name##_end;                                                                 \
	guest_##name##_end:
/* Guest physical address of `label` in guest `name` once loaded at GUEST_LOAD. */
#define ADDR(name, label) ((label) - guest_##name##_start + GUEST_LOAD)

	.section .rodata.plugvm_guests, "a"
	.code16

/* Tells the plugin the guest finished, then stops for good. */
.macro DONE
	outb	%al, $PORT_DONE
.Lhalt\@:
	cli
	hlt
	jmp	.Lhalt\@
.endm

/* Reports a failed check; the plugin fails the test and never resumes. */
.macro FAIL code
	movw	$\code, %ax
	outw	%ax, $PORT_FAIL
.Lstuck\@:
	cli
	hlt
	jmp	.Lstuck\@
.endm

/* Fails with `code` unless `reg` (or memory operand) equals `val`. */
.macro CHECK val, reg, code
	cmp	$\val, \reg
	je	.Lok\@
	FAIL	\code
.Lok\@:
.endm

.macro STEP n
	movb	$\n, %al
	outb	%al, $PORT_STEP
.endm

/* Points real-mode interrupt vector `vec` at guest address `addr` (the IVT is at 0). */
.macro SET_VECTOR vec, addr
	movw	$\addr, (\vec * 4)
	movw	$0, (\vec * 4 + 2)
.endm

/*
 * Programs the primary 8259: vectors 0x20-0x27, edge triggered, and the
 * given interrupt mask; the secondary stays fully masked.
 */
.macro PIC_INIT mask
	movb	$0x11, %al
	outb	%al, $0x20
	movb	$0x20, %al
	outb	%al, $0x21
	movb	$0x04, %al
	outb	%al, $0x21
	movb	$0x01, %al
	outb	%al, $0x21
	movb	$\mask, %al
	outb	%al, $0x21
	movb	$0xff, %al
	outb	%al, $0xa1
.endm

/* Fails with `code` unless the byte at `addr` equals `val`. */
.macro CHECKB val, addr, code
	cmpb	$\val, (\addr)
	je	.Lok\@
	FAIL	\code
.Lok\@:
.endm

/* Spins until the byte at `addr` equals `val`. */
.macro WAIT_BYTE addr, val
.Lwait\@:
	pause
	cmpb	$\val, (\addr)
	jne	.Lwait\@
.endm

/*
 * Adder (docs/protocol.md Appendix A): the plugin preloads al = 2 and bl = 7;
 * the guest prints the sum and a newline on 0x3f8, then writes 1 to 0x3f9.
 * Uses no stack and no memory, so it runs from a one-page memory object.
 */
GUEST_BEGIN(adder)
	movw	$0x3f8, %dx
	addb	%bl, %al
	addb	$'0', %al
	outb	%al, %dx
	movb	$'\n', %al
	outb	%al, %dx
	movw	$0x3f9, %dx
	movb	$1, %al
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b
GUEST_END(adder)

/*
 * Reads answered by the plugin: PIO 0x300 (1, 2 and 4 bytes), a string
 * read of 16 bytes from 0x304, MMIO reads and a write at 0x20000, and
 * unreserved PIO and MMIO reads, which must give zeros.
 */
GUEST_BEGIN(io_read)
	movw	$0x300, %dx
	inb	%dx, %al
	CHECK	0x5a, %al, 0x101
	inw	%dx, %ax
	CHECK	0x1234, %ax, 0x102
	inl	%dx, %eax
	CHECK	0xdeadbeef, %eax, 0x103
	movw	$0x310, %dx
	movb	$0xff, %al
	inb	%dx, %al
	CHECK	0, %al, 0x104
	movw	$0x304, %dx
	movw	$GUEST_DATA, %di
	movw	$16, %cx
	cld
	rep insb
	movw	$0x2000, %ax
	movw	%ax, %ds
	movb	(0x10), %al
	CHECK	0xa5, %al, 0x105
	movl	(0x20), %eax
	CHECK	0xcafef00d, %eax, 0x106
	movl	$0x8badf00d, (0x40)
	movb	$0xff, %al
	movb	(0x800), %al
	CHECK	0, %al, 0x107
	xorw	%ax, %ax
	movw	%ax, %ds
	DONE
GUEST_END(io_read)

/*
 * ioevents: writes that match a registered datamatch never exit, the others
 * reach the plugin only if reserved.  The 8-byte write is an MMX movq,
 * which KVM emulates as one 8-byte MMIO write.
 */
GUEST_BEGIN(ioevent)
	movw	$0x3f0, %dx
	movb	$0x42, %al
	outb	%al, %dx
	movw	$0x4243, %ax
	outw	%ax, %dx
	movw	$0x3f8, %dx
	movb	$0x88, %al
	outb	%al, %dx
	movb	$0x00, %al
	outb	%al, %dx
	movb	$0x88, %al
	outb	%al, %dx
	movw	$0x400, %dx
	movw	$0x1234, %ax
	outw	%ax, %dx
	movw	$0x1235, %ax
	outw	%ax, %dx
	movw	$0x1234, %ax
	outw	%ax, %dx
	movb	$0x34, %al
	outb	%al, %dx
	movw	$0x404, %dx
	movl	$0xdeadbeef, %eax
	outl	%eax, %dx
	xorl	%eax, %eax
	outl	%eax, %dx
	movw	$0x3000, %ax
	movw	%ax, %es
	movq	(ADDR(ioevent, 2f)), %mm0
	movq	%mm0, %es:(0)
	movq	(ADDR(ioevent, 3f)), %mm1
	movq	%mm1, %es:(0)
	xorw	%ax, %ax
	movw	%ax, %es
	DONE
	.balign 8
2:	.quad	0x1122334455667788
3:	.quad	0x1122334455667789
GUEST_END(ioevent)

/*
 * irqfd with resample: IRQ 5 arrives through the PIC as vector 0x25.  The
 * handler counts at GUEST_DATA and sends EOI, which must fire the resample
 * eventfd.  Step 1: the plugin raises the line; step 2: it checks the
 * resample and raises it again.
 */
GUEST_BEGIN(irqfd)
	cli
	SET_VECTOR 0x25, ADDR(irqfd, 9f)
	PIC_INIT 0xdf
	movb	$0, (GUEST_DATA)
	STEP	1
	sti
	WAIT_BYTE GUEST_DATA, 1
	/* A still-asserted line would interrupt again during this delay. */
	movw	$0x2000, %cx
1:	pause
	loop	1b
	cli
	movb	(GUEST_DATA), %al
	outb	%al, $PORT_REPORT
	STEP	2
	sti
	WAIT_BYTE GUEST_DATA, 2
	cli
	movb	(GUEST_DATA), %al
	outb	%al, $PORT_REPORT
	DONE
9:	incb	(GUEST_DATA)
	pushw	%ax
	movb	$0x20, %al
	outb	%al, $0x20
	popw	%ax
	iret
GUEST_END(irqfd)

/*
 * set_irq and routing: step 1 raises GSI 5 with the default routes (vector
 * 0x25); step 2 re-routes GSI 5 to PIC pin 6 (vector 0x26) and raises it
 * again; step 3 raises GSI 30, an MSI route to vector 0x40.  Each handler
 * counts in its own byte.
 */
GUEST_BEGIN(irq_routing)
	cli
	SET_VECTOR 0x25, ADDR(irq_routing, 5f)
	SET_VECTOR 0x26, ADDR(irq_routing, 6f)
	SET_VECTOR 0x40, ADDR(irq_routing, 7f)
	PIC_INIT 0x9f
	movw	$0, (GUEST_DATA)
	movb	$0, (GUEST_DATA + 2)
	sti
	STEP	1
	WAIT_BYTE GUEST_DATA, 1
	STEP	2
	WAIT_BYTE GUEST_DATA + 1, 1
	CHECKB	1, GUEST_DATA, 0x301
	STEP	3
	WAIT_BYTE GUEST_DATA + 2, 1
	cli
	CHECKB	1, GUEST_DATA, 0x302
	CHECKB	1, GUEST_DATA + 1, 0x303
	DONE
5:	incb	(GUEST_DATA)
	jmp	8f
6:	incb	(GUEST_DATA + 1)
8:	pushw	%ax
	movb	$0x20, %al
	outb	%al, $0x20
	popw	%ax
	iret
	/* No EOI for the MSI: the local APIC is out of reach in real mode. */
7:	incb	(GUEST_DATA + 2)
	iret
GUEST_END(irq_routing)

/*
 * Dirty log and read-only memory; uses no stack so that only the pages it
 * writes on purpose get dirty.  Writes page 8 (step 1), then reads the
 * read-only region at 0x20000, writes it (an MMIO exit), and writes page 2
 * (step 2).
 */
GUEST_BEGIN(dirty_log)
	movw	$0x800, %ax
	movw	%ax, %ds
	movb	$1, (0)
	xorw	%ax, %ax
	movw	%ax, %ds
	STEP	1
	movw	$0x2000, %ax
	movw	%ax, %ds
	movb	(0), %al
	CHECK	0x77, %al, 0x401
	movb	$0x55, (0)
	movb	(0), %al
	CHECK	0x77, %al, 0x402
	xorw	%ax, %ax
	movw	%ax, %ds
	movb	$1, (0x2000)
	STEP	2
	DONE
GUEST_END(dirty_log)

/*
 * A dirty log of a 64 GiB object at 1 MiB (test-dirty-log-huge.c): writes
 * its pages 0 and 5 (step 1), then page 15 (step 2), through segment 0xffff.
 */
GUEST_BEGIN(dirty_log_huge)
	movw	$0xffff, %ax
	movw	%ax, %ds
	movb	$1, (0x0010)
	movb	$1, (0x5010)
	xorw	%ax, %ax
	movw	%ax, %ds
	STEP	1
	movw	$0xffff, %ax
	movw	%ax, %ds
	movb	$1, (0xf010)
	xorw	%ax, %ax
	movw	%ax, %ds
	STEP	2
	DONE
GUEST_END(dirty_log_huge)

/* Three writes to an async range, then a read of it (which must give 0). */
GUEST_BEGIN(async_write)
	movw	$0x500, %dx
	movb	$1, %al
	outb	%al, %dx
	movb	$2, %al
	outb	%al, %dx
	movb	$3, %al
	outb	%al, %dx
	movb	$0xff, %al
	inb	%dx, %al
	CHECK	0, %al, 0x501
	DONE
GUEST_END(async_write)

/*
 * Hypercall hints on port 0x500 (writes): the first write matches the
 * detail (rax == 0x77), the second does not, the third comes after the hint
 * was cleared.  The plugin sets rbx = 0x1234 at the first.
 */
GUEST_BEGIN(hint)
	movw	$0x500, %dx
	xorw	%bx, %bx
	movw	$0x77, %ax
	outb	%al, %dx
	.globl guest_hint_after_out1
guest_hint_after_out1:
	CHECK	0x1234, %bx, 0x601
	movw	$0x66, %ax
	outb	%al, %dx
	movw	$0x77, %ax
	outb	%al, %dx
	DONE
GUEST_END(hint)

/* VM state: report the PIC mask the plugin set, then set another one. */
GUEST_BEGIN(vm_state)
	inb	$0x21, %al
	outb	%al, $PORT_REPORT
	movb	$0x5a, %al
	outb	%al, $0x21
	DONE
GUEST_END(vm_state)

/*
 * vcpu state set by the plugin at INIT, observed from inside: rbx, the fs
 * segment, CR4.OSXSAVE with XCR0 (if the plugin sets di), an MSR and a
 * CPUID leaf.  Step 1: the plugin injects vector 0x31 through the vcpu events.
 */
GUEST_BEGIN(vcpu_state)
	CHECK	0x1234, %bx, 0x701
	movb	%fs:(0x10), %al
	CHECK	0x5a, %al, 0x702
	movl	%cr4, %eax
	outl	%eax, $PORT_REPORT
	/* di != 0: CR4.OSXSAVE is on and xgetbv reads XCR0; else report a placeholder 1. */
	movl	$1, %eax
	testw	%di, %di
	jz	1f
	xorl	%ecx, %ecx
	xgetbv
1:	outl	%eax, $PORT_REPORT
	movl	$0xc0000081, %ecx
	rdmsr
	outl	%eax, $PORT_REPORT
	movl	%edx, %eax
	outl	%eax, $PORT_REPORT
	movl	$0x80000002, %eax
	cpuid
	outl	%eax, $PORT_REPORT
	cli
	SET_VECTOR 0x31, ADDR(vcpu_state, 9f)
	movb	$0, (GUEST_DATA + 0x200)
	STEP	1
	/* The injected interrupt is delivered on re-entry, before this check. */
	CHECKB	1, GUEST_DATA + 0x200, 0x703
	DONE
9:	incb	(GUEST_DATA + 0x200)
	iret
GUEST_END(vcpu_state)

/* Almost nothing: for tests that only need a running vcpu. */
GUEST_BEGIN(minimal)
	DONE
GUEST_END(minimal)

/*
 * Many vcpus: the plugin passes the vcpu id in bx and the vcpu count in cx.
 * All vcpus meet at a counter in memory (so they really run at once), then
 * each does 50 write/read round trips on its own port 0x600 + id: it writes
 * i and must read back 2 * i + id.
 */
GUEST_BEGIN(smp)
	lock incw (GUEST_DATA)
1:	pause
	cmpw	%cx, (GUEST_DATA)
	jne	1b
	movw	$0x600, %dx
	addw	%bx, %dx
	xorw	%si, %si
2:	movw	%si, %ax
	outw	%ax, %dx
	inw	%dx, %ax
	movw	%si, %di
	shlw	$1, %di
	addw	%bx, %di
	cmpw	%di, %ax
	je	3f
	FAIL	0x801
3:	incw	%si
	cmpw	$50, %si
	jne	2b
	DONE
GUEST_END(smp)

/*
 * Threads: 200 reads of port 0x600, each of which must return the previous
 * value plus one (the plugin counts), while other plugin threads use other
 * connections.
 */
GUEST_BEGIN(threads)
	movw	$0x600, %dx
	xorw	%si, %si
1:	inw	%dx, %ax
	cmpw	%si, %ax
	je	2f
	FAIL	0x901
2:	incw	%si
	cmpw	$200, %si
	jne	1b
	DONE
GUEST_END(threads)

/* Pause: spin until the plugin sets rbx during a pause. */
GUEST_BEGIN(pause)
	xorw	%bx, %bx
	STEP	1
1:	pause
	testw	%bx, %bx
	jz	1b
	CHECK	0x4321, %bx, 0xa01
	DONE
GUEST_END(pause)

/* SynIC: enable the controller, then the event and message pages. */
GUEST_BEGIN(hyperv)
	xorl	%edx, %edx
	movl	$0x40000080, %ecx
	movl	$1, %eax
	wrmsr
	movl	$0x40000082, %ecx
	movl	$0x5001, %eax
	wrmsr
	movl	$0x40000083, %ecx
	movl	$0x6001, %eax
	wrmsr
	DONE
GUEST_END(hyperv)

/*
 * Triple fault: an empty IDT, then protected mode (real-mode delivery goes
 * through the IVT whatever the IDT limit says), then #UD: it cannot be
 * delivered, nor can the #GP and #DF that follow, so the vcpu shuts down.
 */
GUEST_BEGIN(triple_fault)
	cli
	lidtw	(ADDR(triple_fault, 1f))
	movl	%cr0, %eax
	orb	$1, %al
	movl	%eax, %cr0
	ud2
	DONE
	.balign 8
1:	.word	0
	.long	0
GUEST_END(triple_fault)

	.code64
/*
 * Extensions (test-ext.c): CPUID leaf 0 (eax: highest basic leaf, then ebx,
 * the first four vendor bytes, as two words), then leaf 1's initial APIC id
 * (ebx bits 31-24), each sent to PORT_REPORT as a word (the ucall ports end
 * at PORT_STEP).  A vcpu without any CPUID reports zeros.
 */
	.code16
GUEST_BEGIN(ext_cpuid)
	xorl	%eax, %eax
	xorl	%ecx, %ecx
	cpuid
	outw	%ax, $PORT_REPORT
	movl	%ebx, %eax
	outw	%ax, $PORT_REPORT
	shrl	$16, %eax
	outw	%ax, $PORT_REPORT
	movl	$1, %eax
	xorl	%ecx, %ecx
	cpuid
	movl	%ebx, %eax
	shrl	$24, %eax
	outw	%ax, $PORT_REPORT
	DONE
GUEST_END(ext_cpuid)

/*
 * Kick and timed wait (test-ext.c): step 1, then spin without exits until
 * the plugin writes 1 to GUEST_DATA, then done.
 */
GUEST_BEGIN(ext_wait)
	movb	$0, (GUEST_DATA)
	STEP	1
	WAIT_BYTE GUEST_DATA, 1
	DONE
GUEST_END(ext_wait)

/*
 * Reset (test-ext.c): counts its boots in GUEST_DATA (RAM survives a
 * reset), reports the count, and triple-faults as triple_fault does until
 * the third boot, which is done.
 */
GUEST_BEGIN(ext_reset)
	cli
	incb	(GUEST_DATA)
	movb	(GUEST_DATA), %al
	outb	%al, $PORT_REPORT
	cmpb	$3, (GUEST_DATA)
	jae	2f
	lidtw	(ADDR(ext_reset, 1f))
	movl	%cr0, %eax
	orb	$1, %al
	movl	%eax, %cr0
	ud2
2:	DONE
	.balign 8
1:	.word	0
	.long	0
GUEST_END(ext_reset)

/*
 * I/O details (test-ext.c): "rep insw" of one word, then "rep insb" of two
 * bytes from port 0x300 (the same two bytes of data each), checks what the
 * plugin supplied, and writes the four bytes back with "rep outsw".
 */
GUEST_BEGIN(ext_io)
	cld
	movw	$0x300, %dx
	movw	$GUEST_DATA, %di
	movw	$1, %cx
	rep insw
	movw	$2, %cx
	rep insb
	movw	(GUEST_DATA), %ax
	CHECK	0x1234, %ax, 0x201
	movw	(GUEST_DATA + 2), %ax
	CHECK	0x7856, %ax, 0x202
	movw	$GUEST_DATA, %si
	movw	$2, %cx
	rep outsw
	DONE
GUEST_END(ext_io)

/*
 * Range mode (test-ext.c): three writes to port 0x310, whose writes are
 * asynchronous, then a read the plugin answers (0x5a), written back, and a
 * second read (0x5b).
 */
GUEST_BEGIN(ext_range)
	movw	$0x310, %dx
	movb	$0x11, %al
	outb	%al, %dx
	movb	$0x22, %al
	outb	%al, %dx
	movb	$0x33, %al
	outb	%al, %dx
	inb	%dx, %al
	CHECK	0x5a, %al, 0x301
	outb	%al, %dx
	inb	%dx, %al
	CHECK	0x5b, %al, 0x302
	DONE
GUEST_END(ext_range)

/*
 * Read-only toggling (test-ext.c, 2 vcpus, bx = vcpu index): memory object
 * M at 0x10000 holds 0xa5.  vcpu 0 reads M until the plugin sets
 * GUEST_DATA, checking every byte it reads; vcpu 1 waits for GUEST_DATA 1,
 * then writes 0x5a to M + 8, which is read-only by then, and after
 * GUEST_DATA 2 writes 0x5b to M + 9, by then another, writable memfd.
 */
GUEST_BEGIN(ext_mem)
	movw	$0x1000, %ax
	movw	%ax, %es
	cmpw	$0, %bx
	jne	2f
1:	movb	%es:(0), %al
	CHECK	0xa5, %al, 0x401
	cmpb	$0, (GUEST_DATA)
	je	1b
	DONE
2:	cmpb	$1, (GUEST_DATA)
	jb	2b
	movw	%es, %ax
	movw	%ax, %ds
	movb	$0x5a, (8)
	xorw	%ax, %ax
	movw	%ax, %ds
3:	cmpb	$2, (GUEST_DATA)
	jb	3b
	movw	%es, %ax
	movw	%ax, %ds
	movb	$0x5b, (9)
	xorw	%ax, %ax
	movw	%ax, %ds
	DONE
GUEST_END(ext_mem)

/*
 * XSAVE (test-xsave.c), where KVM offers guests AVX: 32-bit protected mode,
 * set up by the plugin through sregs (flat segments, CR4.OSFXSR and
 * OSXSAVE, XCR0 x87|SSE|AVX).  Loads all of YMM0 (XMM0 half 0x1111111N,
 * upper half 0x2222222N) and stops at step 1: the plugin reads the area and
 * writes XMM0 = 0x5555555N and the upper half 0x3333333N.  The guest checks
 * what it finds, and again after step 2 (the plugin's refused writes must
 * change nothing).
 */
.macro XSAVE_CHECK at, code
	vmovdqu	%ymm0, (\at)
	movl	(\at), %eax
	CHECK	0x55555551, %eax, \code
	movl	(\at + 12), %eax
	CHECK	0x55555554, %eax, \code + 1
	movl	(\at + 16), %eax
	CHECK	0x33333331, %eax, \code + 2
	movl	(\at + 28), %eax
	CHECK	0x33333334, %eax, \code + 3
.endm

GUEST_BEGIN(ext_xsave)
	.code32
	vmovdqu	ADDR(ext_xsave, 1f), %ymm0
	STEP	1
	XSAVE_CHECK GUEST_DATA, 0x901
	STEP	2
	XSAVE_CHECK GUEST_DATA + 32, 0x905
	DONE
	.balign	4
1:	.long	0x11111111, 0x11111112, 0x11111113, 0x11111114
	.long	0x22222221, 0x22222222, 0x22222223, 0x22222224
	.code16
GUEST_END(ext_xsave)

/*
 * The same without AVX (test-xsave.c, where KVM offers guests none): real
 * mode with CR4.OSFXSR, XMM0 only, through movdqu (which KVM's instruction
 * emulator knows: on the current machines it runs these guests).
 */
GUEST_BEGIN(ext_xsave_sse)
	movdqu	ADDR(ext_xsave_sse, 1f), %xmm0
	STEP	1
	movdqu	%xmm0, (GUEST_DATA)
	movl	(GUEST_DATA), %eax
	CHECK	0x55555551, %eax, 0x911
	movl	(GUEST_DATA + 12), %eax
	CHECK	0x55555554, %eax, 0x912
	STEP	2
	movdqu	%xmm0, (GUEST_DATA + 32)
	movl	(GUEST_DATA + 32), %eax
	CHECK	0x55555551, %eax, 0x913
	movl	(GUEST_DATA + 44), %eax
	CHECK	0x55555554, %eax, 0x914
	DONE
1:	.long	0x11111111, 0x11111112, 0x11111113, 0x11111114
GUEST_END(ext_xsave_sse)

	.section .note.GNU-stack, "", @progbits

