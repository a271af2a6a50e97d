// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * A 16550A UART as COM1.  Transmission is instantaneous, so THR is always
 * empty again by the time the guest can look; the transmitter interrupt is
 * modelled because firmware probes the port by enabling it and expecting IIR
 * to report it (SeaBIOS's detect_serial does exactly that).
 *
 * The receiver is the 16550A's: a one-byte holding register, or in FIFO mode
 * a 16-byte FIFO whose data-available interrupt waits for the trigger level
 * (1, 4, 8 or 14 bytes) and otherwise comes as a character timeout once the
 * line has been idle; overruns (only possible in loopback, since input from
 * the host waits for room instead of being dropped) set OE and raise the
 * line status interrupt.
 */
#include <string.h>

#include "pc.h"

enum {
	UART_RBR = 0, /* read, DLAB=0 */
	UART_THR = 0, /* write, DLAB=0 */
	UART_IER = 1,
	UART_IIR = 2, /* read */
	UART_FCR = 2, /* write */
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08
#define IIR_NONE 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_CTI 0x0c
#define IIR_FIFO 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_TRIGGER 0xc0
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_DELTA 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

/* Modem status lines as seen by the guest: a terminal is always attached. */
static uint8_t uart_lines(const struct uart *u)
{
	uint8_t m = u->mcr;

	if (!(m & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	return (uint8_t)(((m & MCR_DTR) ? MSR_DSR : 0) | ((m & MCR_RTS) ? MSR_CTS : 0) |
			 ((m & MCR_OUT1) ? MSR_RI : 0) | ((m & MCR_OUT2) ? MSR_DCD : 0));
}

static void uart_set_lines(struct uart *u)
{
	uint8_t old = u->msr & (uint8_t)~MSR_DELTA, now = uart_lines(u);
	uint8_t delta = u->msr & MSR_DELTA;

	if ((old ^ now) & MSR_CTS)
		delta |= 0x01;
	if ((old ^ now) & MSR_DSR)
		delta |= 0x02;
	if ((old & MSR_RI) && !(now & MSR_RI))
		delta |= 0x04; /* trailing edge of RI */
	if ((old ^ now) & MSR_DCD)
		delta |= 0x08;
	u->msr = now | delta;
}

static unsigned int uart_rx_capacity(const struct uart *u)
{
	return (u->fcr & FCR_ENABLE) ? UART_RX_SIZE : 1;
}

static unsigned int uart_rx_trigger(const struct uart *u)
{
	static const uint8_t level[4] = { 1, 4, 8, 14 };

	return (u->fcr & FCR_ENABLE) ? level[(u->fcr & FCR_TRIGGER) >> 6] : 1;
}

/* Highest-priority pending interrupt, as the 16550A ranks them. */
static uint8_t uart_iir(const struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->ier & IER_RLSI) && u->lsr_errors)
		return IIR_RLSI | fifo;
	if ((u->ier & IER_RDI) && u->rx_count >= uart_rx_trigger(u))
		return IIR_RDI | fifo;
	if ((u->ier & IER_RDI) && u->rx_count && u->rx_timeout)
		return IIR_CTI | fifo;
	if ((u->ier & IER_THRI) && u->iir_thri_pending)
		return IIR_THRI | fifo;
	if ((u->ier & IER_MSI) && (u->msr & MSR_DELTA))
		return IIR_MSI | fifo;
	return IIR_NONE | fifo;
}

static void uart_update_irq(struct uart *u)
{
	/* On a PC the UART's interrupt output reaches the PIC only through OUT2. */
	bool level = !(uart_iir(u) & IIR_NONE) && (u->mcr & MCR_OUT2) && !(u->mcr & MCR_LOOP);

	if (level != u->irq_level) {
		u->irq_level = level;
		u->env->set_irq(u->env->opaque, 4, level);
	}
}

void uart_init(struct uart *u, const struct pc_env *env)
{
	memset(u, 0, sizeof(*u));
	u->env = env;
	u->lcr = 0x03; /* 8N1 */
	u->dll = 0x0c; /* 9600 baud */
	u->msr = uart_lines(u);
}

/* A byte arrives at the receiver; a full FIFO (or holding register) overruns. */
static void uart_rx_push(struct uart *u, uint8_t b)
{
	if (u->rx_count >= uart_rx_capacity(u)) {
		u->lsr_errors |= LSR_OE;
		/* Without the FIFO the new byte overwrites the holding register. */
		if (!(u->fcr & FCR_ENABLE))
			u->rx[u->rx_head] = b;
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_RX_SIZE] = b;
	u->rx_count++;
	u->rx_timeout = false;
}

size_t uart_rx_room(const struct uart *u)
{
	if (u->mcr & MCR_LOOP)
		return 0; /* the receiver is disconnected from the line */
	return uart_rx_capacity(u) - u->rx_count;
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n = 0, room = uart_rx_room(u);

	while (n < len && n < room)
		uart_rx_push(u, buf[n++]);
	if (n)
		uart_update_irq(u);
	return n;
}

void uart_rx_idle(struct uart *u)
{
	if (u->rx_count && !u->rx_timeout) {
		u->rx_timeout = true;
		uart_update_irq(u);
	}
}

static void uart_rx_reset(struct uart *u)
{
	u->rx_head = u->rx_count = 0;
	u->rx_timeout = false;
	if (u->rx_space)
		u->rx_space(u->rx_space_opaque);
}

static uint8_t uart_read8(void *dev, uint16_t port)
{
	struct uart *u = dev;
	uint8_t v = 0;

	switch (port & 7) {
	case UART_RBR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % UART_RX_SIZE;
			u->rx_count--;
			/* A read restarts the timeout; the line must be idle again. */
			u->rx_timeout = false;
			if (u->rx_space)
				u->rx_space(u->rx_space_opaque);
		}
		break;
	case UART_IER:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case UART_IIR:
		v = uart_iir(u);
		/* Reading IIR while it reports THRI acknowledges that interrupt. */
		if ((v & 0x0f) == IIR_THRI)
			u->iir_thri_pending = 0;
		break;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		/* Reading LSR clears the error bits and with them the line status interrupt. */
		v = (uint8_t)(LSR_THRE | LSR_TEMT | u->lsr_errors | (u->rx_count ? LSR_DR : 0));
		u->lsr_errors = 0;
		break;
	case UART_MSR:
		v = u->msr;
		u->msr &= (uint8_t)~MSR_DELTA;
		break;
	case UART_SCR:
		return u->scr;
	}
	uart_update_irq(u);
	return v;
}

static void uart_write8(void *dev, uint16_t port, uint8_t val)
{
	struct uart *u = dev;

	switch (port & 7) {
	case UART_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = val;
			return;
		}
		if (u->mcr & MCR_LOOP)
			uart_rx_push(u, val);
		else
			u->env->console(u->env->opaque, PC_CONSOLE_UART, &val, 1);
		/* Sent at once: the holding register is empty again. */
		u->iir_thri_pending = 1;
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = val;
			return;
		}
		/* Enabling THRI while THR is empty raises it, as on a real 16550. */
		if ((val & IER_THRI) && !(u->ier & IER_THRI))
			u->iir_thri_pending = 1;
		u->ier = val & 0x0f;
		break;
	case UART_FCR:
		/* Switching the FIFOs on or off empties them, as does the clear bit. */
		if ((val ^ u->fcr) & FCR_ENABLE || (val & FCR_CLEAR_RX))
			uart_rx_reset(u);
		u->fcr = (val & FCR_ENABLE) ? (uint8_t)(val & (FCR_ENABLE | FCR_TRIGGER)) : 0;
		break;
	case UART_LCR:
		u->lcr = val;
		return;
	case UART_MCR:
		if ((u->mcr ^ val) & MCR_LOOP && u->rx_space)
			u->rx_space(u->rx_space_opaque); /* the line may be connected again */
		u->mcr = val & 0x1f;
		uart_set_lines(u);
		break;
	case UART_LSR:
	case UART_MSR:
		return; /* read-only */
	case UART_SCR:
		u->scr = val;
		return;
	}
	uart_update_irq(u);
}

void uart_io(struct uart *u, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	pc_io_bytewise(u, port, data, len, is_write, uart_read8, uart_write8);
}
