/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * What the doorbell plugin and its guest agree on: the guest memory map,
 * the mailbox layout, the ports and the interrupt line.  Included from C
 * and from the guest's assembly, so only #defines live here.
 */
#ifndef PLUGVM_EXAMPLES_DOORBELL_H
#define PLUGVM_EXAMPLES_DOORBELL_H

/*
 * Guest physical memory, all of it one 64 KiB memfd at address 0:
 *
 *   0x0000 - 0x03ff  real-mode interrupt vector table (the guest fills it)
 *   0x1000 -         guest code (doorbell-guest.S), copied there by the plugin
 *   0x7000 -         the guest's own variables
 *   0x8000 - 0x800f  the mailbox, shared by guest and device
 *   0x8100 - 0x81ff  the request buffer the mailbox points at
 *   ...     0xfff0   the guest's stack, growing down
 */
#define DB_RAM_SIZE 0x10000
#define DB_LOAD 0x1000
#define DB_STACK 0xfff0
#define DB_GUEST_VARS 0x7000
#define DB_MAILBOX 0x8000
#define DB_BUFFER 0x8100
#define DB_BUFFER_SIZE 0x100

/*
 * The mailbox.  The guest fills in seq, len and buf and rings the doorbell;
 * the device uppercases the len bytes at guest physical address buf in
 * place, stores their 16-bit sum in sum and a status, then sets isr and
 * raises the interrupt.  The guest's interrupt handler acknowledges by
 * clearing isr before its EOI.
 */
#define MB_SEQ 0 /* u16: request number, echoed back in the guest's report */
#define MB_LEN 2 /* u16: request length in bytes */
#define MB_BUF 4 /* u16: guest physical address of the request bytes */
#define MB_SUM 6 /* u16: the device's answer, sum of the uppercased bytes */
#define MB_ISR 8 /* u8: interrupt status, 1 = request done; the guest writes 0 to acknowledge */
#define MB_STATUS 9 /* u8: MB_STATUS_OK or MB_STATUS_BAD_BUFFER */
#define MB_SIZE 16

#define MB_STATUS_OK 0
#define MB_STATUS_BAD_BUFFER 1

/* Any write to this port rings the doorbell.  Not a PC port, so nothing else claims it. */
#define DOORBELL_PORT 0x700

/*
 * The device's interrupt: ISA line 5 on the primary 8259 PIC.  The guest
 * programs the PIC to deliver lines 0-7 as vectors 0x20-0x27 and line 5 as
 * level-triggered (the ELCR register at 0x4d0).
 */
#define DOORBELL_IRQ 5
#define PIC_VECTOR_BASE 0x20
#define DOORBELL_VECTOR (PIC_VECTOR_BASE + DOORBELL_IRQ)

/* The 16550 UART "COM1"; only the transmitter is emulated. */
#define UART_BASE 0x3f8
#define UART_PORTS 8
#define UART_THR 0 /* transmitter holding register (write) */
#define UART_LSR 5 /* line status register (read) */
#define UART_LSR_THRE 0x20 /* the transmitter can take a byte */
#define UART_LSR_TEMT 0x40 /* the transmitter is idle */

/* Writing here asks the board to power off. */
#define POWER_OFF_PORT 0xf4

#endif /* PLUGVM_EXAMPLES_DOORBELL_H */
