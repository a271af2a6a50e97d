// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * An i8042 keyboard controller with a keyboard and a mouse that never type
 * or move.  Enough for firmware to find, test and configure them: SeaBIOS
 * runs the controller self test, resets the keyboard (expecting ACK then
 * 0xaa) and sets the scancode set with the keyboard port enabled and the
 * other disabled, polling the status register for each reply byte.
 *
 * Replies wait in three queues (controller, keyboard, mouse) and move into
 * the single output buffer one at a time; a disabled port's replies stay
 * queued until it is enabled again, which is what the hardware does and
 * what firmware relies on when it disables one port to talk to the other.
 */
#include <errno.h>
#include <string.h>

#include "pc.h"
#include "snapshot.h"

#define STS_OBF 0x01
#define STS_SYS 0x04
#define STS_CMD 0x08
#define STS_UNLOCKED 0x10
#define STS_AUX 0x20

#define CTR_KBDINT 0x01
#define CTR_AUXINT 0x02
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE 0x40

#define OUT_RESET 0x01 /* active low */
#define OUT_A20 0x02

#define ACK 0xfa
#define NAK 0xfe

static void queue_push(struct ps2_queue *q, uint8_t v)
{
	if (q->count == PS2_QUEUE_SIZE)
		return; /* overrun: the device would drop the byte as well */
	q->buf[(q->head + q->count) % PS2_QUEUE_SIZE] = v;
	q->count++;
}

static uint8_t queue_pop(struct ps2_queue *q)
{
	uint8_t v = q->buf[q->head];

	q->head = (q->head + 1) % PS2_QUEUE_SIZE;
	q->count--;
	return v;
}

static void ps2_update(struct ps2 *p)
{
	bool irq1, irq12;

	if (!p->obf) {
		if (p->ctl.count) {
			p->out = queue_pop(&p->ctl);
			p->obf = true;
			p->obf_aux = false;
		} else if (p->kbd.count && !(p->ctr & CTR_KBDDIS)) {
			p->out = queue_pop(&p->kbd);
			p->obf = true;
			p->obf_aux = false;
		} else if (p->aux.count && !(p->ctr & CTR_AUXDIS)) {
			p->out = queue_pop(&p->aux);
			p->obf = true;
			p->obf_aux = true;
		}
	}
	irq1 = p->obf && !p->obf_aux && (p->ctr & CTR_KBDINT);
	irq12 = p->obf && p->obf_aux && (p->ctr & CTR_AUXINT);
	if (irq1 != p->irq1) {
		p->irq1 = irq1;
		p->env->set_irq(p->env->opaque, 1, irq1);
	}
	if (irq12 != p->irq12) {
		p->irq12 = irq12;
		p->env->set_irq(p->env->opaque, 12, irq12);
	}
}

static void ps2_kbd_reset(struct ps2 *p)
{
	p->kbd.count = 0;
	p->kbd_cmd = 0;
	p->kbd_scanning = true;
	p->scancode_set = 2;
}

void ps2_init(struct ps2 *p, const struct pc_env *env)
{
	memset(p, 0, sizeof(*p));
	p->env = env;
	p->ctr = CTR_KBDINT | CTR_AUXINT | CTR_XLATE;
	p->outport = OUT_RESET | OUT_A20;
	ps2_kbd_reset(p);
}

static void ps2_kbd_write(struct ps2 *p, uint8_t v)
{
	uint8_t cmd = p->kbd_cmd;

	if (cmd) {
		p->kbd_cmd = 0;
		queue_push(&p->kbd, ACK);
		if (cmd == 0xf0) {
			if (v == 0)
				queue_push(&p->kbd, p->scancode_set);
			else if (v <= 3)
				p->scancode_set = v;
		}
		return;
	}
	switch (v) {
	case 0xed: /* set LEDs */
	case 0xf3: /* set typematic rate */
	case 0xf0: /* get/set scancode set */
		queue_push(&p->kbd, ACK);
		p->kbd_cmd = v;
		break;
	case 0xee: /* echo */
		queue_push(&p->kbd, 0xee);
		break;
	case 0xf2: /* identify: an MF2 keyboard */
		queue_push(&p->kbd, ACK);
		queue_push(&p->kbd, 0xab);
		queue_push(&p->kbd, 0x83);
		break;
	case 0xf4:
		p->kbd_scanning = true;
		queue_push(&p->kbd, ACK);
		break;
	case 0xf5:
		ps2_kbd_reset(p);
		p->kbd_scanning = false;
		queue_push(&p->kbd, ACK);
		break;
	case 0xf6:
		ps2_kbd_reset(p);
		queue_push(&p->kbd, ACK);
		break;
	case 0xff: /* reset and basic assurance test */
		ps2_kbd_reset(p);
		queue_push(&p->kbd, ACK);
		queue_push(&p->kbd, 0xaa);
		break;
	default:
		queue_push(&p->kbd, NAK);
		break;
	}
}

static void ps2_aux_write(struct ps2 *p, uint8_t v)
{
	if (p->aux_cmd) {
		p->aux_cmd = 0;
		queue_push(&p->aux, ACK);
		return;
	}
	switch (v) {
	case 0xff: /* reset: ACK, BAT passed, device id */
		p->aux.count = 0;
		p->aux_reporting = false;
		queue_push(&p->aux, ACK);
		queue_push(&p->aux, 0xaa);
		queue_push(&p->aux, 0x00);
		break;
	case 0xf2: /* identify: standard mouse */
		queue_push(&p->aux, ACK);
		queue_push(&p->aux, 0x00);
		break;
	case 0xf3: /* sample rate */
	case 0xe8: /* resolution */
		queue_push(&p->aux, ACK);
		p->aux_cmd = v;
		break;
	case 0xf4:
		p->aux_reporting = true;
		queue_push(&p->aux, ACK);
		break;
	case 0xf5:
		p->aux_reporting = false;
		queue_push(&p->aux, ACK);
		break;
	case 0xe6:
	case 0xe7:
	case 0xea:
	case 0xf0:
	case 0xf6:
		queue_push(&p->aux, ACK);
		break;
	case 0xe9: /* status request: stream mode, resolution 2, 100 samples/s */
		queue_push(&p->aux, ACK);
		queue_push(&p->aux, p->aux_reporting ? 0x20 : 0x00);
		queue_push(&p->aux, 0x02);
		queue_push(&p->aux, 100);
		break;
	case 0xeb: /* read data: no movement */
		queue_push(&p->aux, ACK);
		queue_push(&p->aux, 0x08);
		queue_push(&p->aux, 0x00);
		queue_push(&p->aux, 0x00);
		break;
	default:
		queue_push(&p->aux, NAK);
		break;
	}
}

static void ps2_write_outport(struct ps2 *p, uint8_t v)
{
	p->outport = v;
	if (!(v & OUT_RESET))
		p->env->reset(p->env->opaque, "keyboard controller output port");
}

static void ps2_command(struct ps2 *p, uint8_t cmd)
{
	switch (cmd) {
	case 0x20:
		queue_push(&p->ctl, p->ctr);
		break;
	case 0x60:
	case 0xd1:
	case 0xd2:
	case 0xd3:
	case 0xd4:
		p->pending_cmd = cmd;
		break;
	case 0xa7:
		p->ctr |= CTR_AUXDIS;
		break;
	case 0xa8:
		p->ctr &= (uint8_t)~CTR_AUXDIS;
		break;
	case 0xa9: /* mouse interface test: passed */
	case 0xab: /* keyboard interface test: passed */
		queue_push(&p->ctl, 0x00);
		break;
	case 0xaa: /* controller self test */
		p->ctr |= CTR_SYS;
		queue_push(&p->ctl, 0x55);
		break;
	case 0xad:
		p->ctr |= CTR_KBDDIS;
		break;
	case 0xae:
		p->ctr &= (uint8_t)~CTR_KBDDIS;
		break;
	case 0xc0: /* input port: nothing strapped */
		queue_push(&p->ctl, 0x00);
		break;
	case 0xd0:
		queue_push(&p->ctl, (uint8_t)(p->outport | (p->obf && !p->obf_aux ? 0x10 : 0) |
					      (p->obf && p->obf_aux ? 0x20 : 0)));
		break;
	case 0xdd:
		p->outport &= (uint8_t)~OUT_A20;
		break;
	case 0xdf:
		p->outport |= OUT_A20;
		break;
	default:
		/* 0xf0-0xff pulse output lines low for a moment; bit 0 is CPU reset. */
		if (cmd >= 0xf0 && !(cmd & 0x01))
			p->env->reset(p->env->opaque, "keyboard controller reset pulse");
		break;
	}
}

static void ps2_data(struct ps2 *p, uint8_t v)
{
	uint8_t cmd = p->pending_cmd;

	p->pending_cmd = 0;
	switch (cmd) {
	case 0x60:
		p->ctr = v;
		break;
	case 0xd1:
		ps2_write_outport(p, v);
		break;
	case 0xd2:
		queue_push(&p->kbd, v);
		break;
	case 0xd3:
		queue_push(&p->aux, v);
		break;
	case 0xd4:
		ps2_aux_write(p, v);
		break;
	default:
		ps2_kbd_write(p, v);
		break;
	}
}

static uint8_t ps2_read8(void *dev, uint16_t port)
{
	struct ps2 *p = dev;
	uint8_t v;

	if (port == 0x64) {
		v = (uint8_t)(STS_UNLOCKED | (p->status & STS_CMD) |
			      (p->ctr & CTR_SYS ? STS_SYS : 0));
		if (p->obf)
			v |= STS_OBF | (p->obf_aux ? STS_AUX : 0);
		return v;
	}
	/* An empty buffer reads back the last byte, as on real controllers. */
	v = p->out;
	p->obf = false;
	ps2_update(p);
	return v;
}

static void ps2_write8(void *dev, uint16_t port, uint8_t val)
{
	struct ps2 *p = dev;

	if (port == 0x64) {
		p->status |= STS_CMD;
		ps2_command(p, val);
	} else {
		p->status &= (uint8_t)~STS_CMD;
		ps2_data(p, val);
	}
	ps2_update(p);
}

void ps2_io(struct ps2 *p, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	uint32_t i;

	/* 0x60 and 0x64 are not adjacent: treat every byte as an access to `port`. */
	for (i = 0; i < len; i++) {
		if (is_write)
			ps2_write8(p, port, data[i]);
		else
			data[i] = ps2_read8(p, port);
	}
}

/* ---- snapshot (section "PS2 ") ---- */

static void queue_save(const struct ps2_queue *q, struct snap_out *o)
{
	snap_put(o, q->buf, sizeof(q->buf));
	snap_put_u8(o, (uint8_t)q->head);
	snap_put_u8(o, (uint8_t)q->count);
}

static bool queue_load(struct ps2_queue *q, struct snap_in *in)
{
	snap_get(in, q->buf, sizeof(q->buf));
	q->head = snap_get_u8(in);
	q->count = snap_get_u8(in);
	return q->head < PS2_QUEUE_SIZE && q->count <= PS2_QUEUE_SIZE;
}

void ps2_save(const struct ps2 *p, struct snap_out *o)
{
	const uint8_t regs[] = { p->ctr,     p->status,  p->outport,	  p->pending_cmd,
				 p->kbd_cmd, p->aux_cmd, p->out,	  p->scancode_set,
				 p->obf,     p->obf_aux, p->kbd_scanning, p->aux_reporting,
				 p->irq1,    p->irq12 };

	snap_put(o, regs, sizeof(regs));
	queue_save(&p->ctl, o);
	queue_save(&p->kbd, o);
	queue_save(&p->aux, o);
}

int ps2_restore(struct ps2 *p, struct snap_in *in)
{
	struct ps2 t = *p;
	bool ok;

	t.ctr = snap_get_u8(in);
	t.status = snap_get_u8(in);
	t.outport = snap_get_u8(in);
	t.pending_cmd = snap_get_u8(in);
	t.kbd_cmd = snap_get_u8(in);
	t.aux_cmd = snap_get_u8(in);
	t.out = snap_get_u8(in);
	t.scancode_set = snap_get_u8(in);
	t.obf = snap_get_bool(in);
	t.obf_aux = snap_get_bool(in);
	t.kbd_scanning = snap_get_bool(in);
	t.aux_reporting = snap_get_bool(in);
	t.irq1 = snap_get_bool(in);
	t.irq12 = snap_get_bool(in);
	ok = queue_load(&t.ctl, in);
	ok &= queue_load(&t.kbd, in);
	ok &= queue_load(&t.aux, in);
	if (!ok || !snap_in_ok(in))
		return -EINVAL;
	*p = t;
	return 0;
}
