// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's console: guest output to stdout by line (and the --expect match), COM1's
 * input from stdin, raw terminal mode and the Ctrl-A escape keys.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "machine.h"
#include "pc.h"

void write_out(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a closed stdout must not stop the guest */
		p += n;
		len -= (size_t)n;
	}
}

void flush_line(struct pc *pc, unsigned int stream)
{
	struct line *l = &pc->lines[stream];

	if (!pc->opt.quiet && l->len) {
		write_out(l->buf, l->len);
		pc->mid_line = l->buf[l->len - 1] != '\n';
	}
	l->len = 0;
}

void env_console(void *opaque, enum pc_console_source src, const uint8_t *buf, size_t len)
{
	struct pc *pc = opaque;
	unsigned int stream = src == PC_CONSOLE_DEBUGCON && tls_vcpu
				      ? PC_CONSOLE_MAX + tls_vcpu - 1
				      : (unsigned int)src;
	struct line *out = &pc->lines[stream], *m = &pc->match[stream];
	size_t elen = strlen(pc->opt.expect);
	size_t i;

	for (i = 0; i < len; i++) {
		char ch = (char)buf[i];

		/* Output is passed on by line (the UART at once: it may be interactive). */
		if (out->len == sizeof(out->buf))
			flush_line(pc, stream);
		out->buf[out->len++] = ch;
		if (ch == '\n' || src == PC_CONSOLE_UART)
			flush_line(pc, stream);

		/* Matching looks at the current line only; a longer one keeps its tail. */
		if (ch == '\n') {
			m->len = 0;
			continue;
		}
		if (m->len == sizeof(m->buf)) {
			memmove(m->buf, m->buf + sizeof(m->buf) / 2, sizeof(m->buf) / 2);
			m->len = sizeof(m->buf) / 2;
		}
		m->buf[m->len++] = ch;
		if (elen && !atomic_load(&pc->matched) && m->len >= elen &&
		    !memcmp(m->buf + m->len - elen, pc->opt.expect, elen)) {
			atomic_store(&pc->matched, true);
			flush_line(pc, stream);
			say("saw \"%s\" after %.3f s", pc->opt.expect, elapsed(pc));
			if (!pc->opt.stay)
				pc_finish(pc, 0);
		}
	}
}

/* ---- COM1 input from stdin ---- */

/* The terminal's mode before raw mode; restored on every way out, signals included. */
static struct termios saved_tty;
static volatile sig_atomic_t tty_raw;

void tty_restore(void)
{
	if (tty_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
		tty_raw = 0;
	}
}

static void tty_signal(int sig)
{
	/* tcsetattr is async-signal-safe; then die of the signal as if it had no handler. */
	tty_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Raw input (every key goes to the guest, Ctrl-C included), output still
 * post-processed so that the plugin's own messages end their lines.
 */
int tty_make_raw(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS,
				    SIGFPE, SIGILL };
	struct termios t;
	unsigned int i;

	if (tcgetattr(STDIN_FILENO, &saved_tty) < 0)
		return -errno;
	t = saved_tty;
	t.c_iflag &= (tcflag_t) ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= (tcflag_t) ~(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	atexit(tty_restore);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], tty_signal);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0)
		return -errno;
	tty_raw = 1;
	return 0;
}

#define ESCAPE_CHAR 0x01 /* Ctrl-A, as in QEMU */

void input_kick(void *opaque)
{
	struct pc *pc = opaque;
	uint64_t one = 1;

	if (write(pc->input_kick_fd, &one, sizeof(one)) < 0)
		say("cannot wake the console input thread: %s", strerror(errno));
}

/*
 * Feeds stdin to COM1.  Bytes wait here while the receive FIFO is full (no
 * input is lost), and once the line is idle with data below the FIFO's
 * trigger level, the UART gets its character timeout.  On a terminal,
 * Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, and Ctrl-A h lists these.
 */
void *input_thread(void *arg)
{
	struct pc *pc = arg;
	bool terminal = isatty(STDIN_FILENO), escape = false, eof = false;
	uint8_t in[256], buf[512];
	size_t len = 0, off = 0, n, i;
	struct pollfd pfd[2];
	ssize_t got;
	uint64_t kicks;

	tls_conn = pc->input_conn;
	while (!atomic_load(&pc->stopping)) {
		bool idle_due;
		int r;

		pthread_mutex_lock(&pc->lock);
		if (off < len) {
			n = uart_receive(&pc->uart, buf + off, len - off);
			off += n;
		}
		idle_due = pc->uart.rx_count && !pc->uart.rx_timeout;
		pthread_mutex_unlock(&pc->lock);
		if (off == len)
			off = len = 0;

		pfd[0] = (struct pollfd){ .fd = pc->input_kick_fd, .events = POLLIN };
		/* Read more only when what was read has gone into the FIFO. */
		pfd[1] = (struct pollfd){ .fd = (len || eof) ? -1 : STDIN_FILENO, .events = POLLIN };
		/* Four characters at 115200 baud take about 0.35 ms; a millisecond is close. */
		r = poll(pfd, 2, idle_due ? 1 : -1);
		if (r < 0 && errno != EINTR)
			break;
		if (r == 0) {
			pthread_mutex_lock(&pc->lock);
			uart_rx_idle(&pc->uart);
			pthread_mutex_unlock(&pc->lock);
			continue;
		}
		if (pfd[0].revents & POLLIN)
			if (read(pc->input_kick_fd, &kicks, sizeof(kicks)) < 0)
				break;
		if (!(pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = read(STDIN_FILENO, in, sizeof(in));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0) {
			/* End of input: the guest keeps running, as with a closed serial line. */
			eof = true;
			continue;
		}
		for (i = 0; i < (size_t)got; i++) {
			uint8_t ch = in[i];

			if (terminal && escape) {
				escape = false;
				if (ch == 'x' || ch == 'X') {
					say("quit from the console (Ctrl-A x) after %.3f s", elapsed(pc));
					pc_finish(pc, 0);
					return NULL;
				}
				if (ch == 'h' || ch == 'H') {
					say("console keys: Ctrl-A x quit, Ctrl-A Ctrl-A send Ctrl-A");
					continue;
				}
				if (ch != ESCAPE_CHAR)
					buf[len++] = ESCAPE_CHAR;
			} else if (terminal && ch == ESCAPE_CHAR) {
				escape = true;
				continue;
			}
			buf[len++] = ch;
		}
	}
	return NULL;
}
