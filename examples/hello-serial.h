/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * What the hello-serial plugin and its guest agree on; included from C and
 * from the guest's assembly.
 */
#ifndef PLUGVM_EXAMPLES_HELLO_SERIAL_H
#define PLUGVM_EXAMPLES_HELLO_SERIAL_H

/* Guest RAM is [0, HELLO_RAM_SIZE); the guest code is copied to HELLO_LOAD. */
#define HELLO_RAM_SIZE 0x10000
#define HELLO_LOAD 0x1000

/* The 16550 UART "COM1": eight consecutive ports. */
#define UART_BASE 0x3f8
#define UART_PORTS 8
#define UART_THR 0 /* transmitter holding register (write) */
#define UART_LSR 5 /* line status register (read) */
#define UART_LSR_THRE 0x20 /* the transmitter can take a byte */
#define UART_LSR_TEMT 0x40 /* the transmitter is idle */

/* Writing here asks the board to power off (like QEMU's isa-debug-exit port). */
#define POWER_OFF_PORT 0xf4

#endif /* PLUGVM_EXAMPLES_HELLO_SERIAL_H */
