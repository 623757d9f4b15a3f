/*
 * i8042.c: the PC keyboard controller (ports 0x60 and 0x64) with a PS/2
 * keyboard behind it, and system control port B (0x61).  It is there for
 * two things: the reset line (command 0xFE, or the output port's bit 0),
 * which ends the VM with "reboot", and Ctrl-Alt-Del, which the worker
 * sends to ask the guest to shut down.  Around those it answers what
 * drivers ask at probe (Linux i8042 and atkbd): controller self-test and
 * interface tests, the configuration byte, the output port, and the
 * keyboard's reset, identify, LED, scan code set, typematic and enable
 * commands.
 *
 * The controller has no auxiliary (mouse) port.  Its AUX interface test
 * reports a stuck clock line (0x02), and the AUX loop and write commands
 * answer 0xFE as keyboard data, so that a driver gives up on the port at
 * once instead of waiting for time-outs.
 *
 * Data from the keyboard passes through a queue (its internal buffer) and
 * then the controller's one-byte output buffer; with translation on
 * (configuration bit 6) the controller turns scan code set 2 into set 1
 * on the way, as the real one does.  Replies of the controller itself go
 * first and are never translated; a new command replaces a reply nobody
 * read (Linux leaves the answer to a failed AUX loop test unread and
 * sends the AUX interface test next).  IRQ 1 follows "output buffer full"
 * while the keyboard interrupt is enabled (configuration bit 0).
 *
 * Locking: k->lock guards everything; bus accesses come from vcpu
 * threads, Ctrl-Alt-Del from the main thread.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

#define I8042_DATA_PORT		0x60
#define I8042_CMD_PORT		0x64
#define I8042_PORTB		0x61
#define I8042_IRQ_KBD		1

/* Status register (read at 0x64). */
#define STS_OBF			0x01	/* output buffer full */
#define STS_SYS			0x04	/* system flag */
#define STS_A2			0x08	/* last write was a command */
#define STS_UNLOCKED		0x10	/* keyboard not inhibited */

/* Configuration byte (controller RAM byte 0). */
#define CTR_KBDINT		0x01
#define CTR_SYS			0x04
#define CTR_KBDDIS		0x10
#define CTR_AUXDIS		0x20
#define CTR_XLATE		0x40
/* What a BIOS leaves: translation, keyboard interrupt, no AUX device. */
#define CTR_RESET		(CTR_XLATE | CTR_AUXDIS | CTR_SYS | CTR_KBDINT)

/* Output port (commands 0xD0, 0xD1). */
#define OUT_RESET		0x01	/* 0: system reset asserted */
#define OUT_A20			0x02
#define OUT_OBF			0x10
#define OUT_RESET_VALUE		0xCF	/* reset off, A20 on, lines high */

/* Keyboard replies. */
#define KBD_ACK			0xFA
#define KBD_RESEND		0xFE
#define KBD_BAT_OK		0xAA
#define KBD_ECHO		0xEE
#define KBD_BREAK		0xF0	/* set 2 and 3 break prefix */

#define I8042_RAM_SIZE		32
#define I8042_CQ_SIZE		4	/* controller replies */
#define I8042_KQ_SIZE		32	/* the keyboard's buffer */

/* Port B (0x61): bits 0-3 are read back, 4 and 5 are inputs. */
#define PORTB_RW		0x0F
#define PORTB_REFRESH		0x10
#define PORTB_OUT2		0x20
#define PORTB_REFRESH_NS	15085	/* DRAM refresh request period */

struct i8042_queue {
	uint8_t *buf;
	unsigned int size, head, count;
};

struct i8042 {
	struct vm *vm;
	pthread_mutex_t lock;

	uint8_t ram[I8042_RAM_SIZE];	/* ram[0]: configuration byte */
	uint8_t ob;			/* output buffer */
	bool obf;
	bool ob_reply;			/* ob is a controller reply */
	bool a2;
	bool sys;
	uint8_t outport;
	uint8_t data_cmd;		/* command awaiting its data byte */
	bool xlate_break;		/* translation saw a break prefix */
	int irq_level;

	uint8_t cq_buf[I8042_CQ_SIZE];
	struct i8042_queue cq;		/* controller replies */

	/* The keyboard. */
	uint8_t kq_buf[I8042_KQ_SIZE];
	struct i8042_queue kq;
	bool scanning;
	uint8_t set;			/* scan code set, 1-3 */
	uint8_t leds;
	uint8_t kbd_cmd;		/* command awaiting its parameter */
	uint8_t kbd_last;		/* for the resend command */

	uint8_t portb;
};

/*
 * Scan code set 2 to set 1, as the controller translates (bytes 0x80 and
 * up pass unchanged but for two keys).  Hardware data: IBM PS/2 Hardware
 * Interface Technical Reference, keyboard controller, "scan code
 * translation".
 */
static const uint8_t i8042_xlate[0x80] = {
	0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58,
	0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
	0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a,
	0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
	0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c,
	0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
	0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e,
	0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
	0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60,
	0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
	0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e,
	0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
	0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b,
	0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
	0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45,
	0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
};

/* Ctrl-Alt-Del: press Ctrl, Alt, Delete, release them in reverse. */
static const uint8_t cad_set1[] = {
	0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d
};
static const uint8_t cad_set2[] = {
	0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14
};
static const uint8_t cad_set3[] = {
	0x11, 0x19, 0x64, 0xf0, 0x64, 0xf0, 0x19, 0xf0, 0x11
};

static const struct {
	const uint8_t *seq;
	size_t len;
} cad_seq[4] = {
	[1] = { cad_set1, sizeof(cad_set1) },
	[2] = { cad_set2, sizeof(cad_set2) },
	[3] = { cad_set3, sizeof(cad_set3) },
};

/* ------------------------------------------------------------------------ */
/* Queues and the output buffer (lock held). */

static void
q_clear(struct i8042_queue *q)
{
	q->head = 0;
	q->count = 0;
}

static unsigned int
q_room(const struct i8042_queue *q)
{
	return q->size - q->count;
}

/* Append b; a full queue drops it (false). */
static bool
q_push(struct i8042_queue *q, uint8_t b)
{
	if (q->count == q->size)
		return false;
	q->buf[(q->head + q->count) % q->size] = b;
	q->count++;
	return true;
}

static uint8_t
q_pop(struct i8042_queue *q)
{
	uint8_t b = q->buf[q->head];

	q->head = (q->head + 1) % q->size;
	q->count--;
	return b;
}

static uint8_t
i8042_xlate_byte(uint8_t b)
{
	if (b < 0x80)
		return i8042_xlate[b];
	if (b == 0x83)		/* F7 */
		return 0x41;
	if (b == 0x84)		/* Alt-SysRq */
		return 0x54;
	return b;
}

/*
 * The next keyboard byte for the output buffer, translated if asked; a
 * set 2 break prefix is folded into the byte after it.  False if there is
 * none yet.
 */
static bool
i8042_kbd_next(struct i8042 *k, uint8_t *out)
{
	uint8_t b;

	while (k->kq.count > 0) {
		b = q_pop(&k->kq);
		if ((k->ram[0] & CTR_XLATE) == 0) {
			*out = b;
			return true;
		}
		if (b == KBD_BREAK) {
			k->xlate_break = true;
			continue;
		}
		*out = i8042_xlate_byte(b) | (k->xlate_break ? 0x80 : 0);
		k->xlate_break = false;
		return true;
	}
	return false;
}

/* Fill an empty output buffer: controller replies first. */
static void
i8042_refill(struct i8042 *k)
{
	if (k->obf)
		return;
	if (k->cq.count > 0) {
		k->ob = q_pop(&k->cq);
		k->obf = true;
		k->ob_reply = true;
	} else if ((k->ram[0] & CTR_KBDDIS) == 0 &&
	    i8042_kbd_next(k, &k->ob)) {
		k->obf = true;
		k->ob_reply = false;
	}
}

static void
i8042_update_irq(struct i8042 *k)
{
	int level = k->obf && (k->ram[0] & CTR_KBDINT) != 0;

	if (level != k->irq_level) {
		k->irq_level = level;
		vm_irq_line(k->vm, I8042_IRQ_KBD, level);
	}
}

static void
i8042_reply(struct i8042 *k, uint8_t b)
{
	if (!q_push(&k->cq, b))
		log_debug("i8042: reply 0x%02x dropped", b);
}

static void
kbd_send(struct i8042 *k, uint8_t b)
{
	k->kbd_last = b;
	if (!q_push(&k->kq, b))
		log_debug("i8042: keyboard byte 0x%02x dropped", b);
}

/* ------------------------------------------------------------------------ */
/* The keyboard's commands (written to 0x60), table-driven. */

typedef void kbd_fn(struct i8042 *, uint8_t);

struct kbd_cmd {
	kbd_fn *fn;		/* the command */
	kbd_fn *param;		/* its parameter byte, if it takes one */
};

static void
kbd_defaults(struct i8042 *k)
{
	k->set = 2;
	k->kbd_cmd = 0;
}

static void
kbd_ack(struct i8042 *k, uint8_t cmd)
{
	kbd_send(k, KBD_ACK);
}

static void
kbd_echo(struct i8042 *k, uint8_t cmd)
{
	kbd_send(k, KBD_ECHO);
}

static void
kbd_leds(struct i8042 *k, uint8_t v)
{
	k->leds = v & 0x07;
	kbd_send(k, KBD_ACK);
}

/* Scan code set: 0 asks which, 1-3 select one. */
static void
kbd_set(struct i8042 *k, uint8_t v)
{
	if (v > 3) {
		kbd_send(k, KBD_RESEND);
		return;
	}
	kbd_send(k, KBD_ACK);
	if (v == 0)
		kbd_send(k, k->set);
	else
		k->set = v;
}

/* An MF2 keyboard; the controller's translation turns 0x83 into 0x41. */
static void
kbd_identify(struct i8042 *k, uint8_t cmd)
{
	kbd_send(k, KBD_ACK);
	kbd_send(k, 0xAB);
	kbd_send(k, 0x83);
}

static void
kbd_enable(struct i8042 *k, uint8_t cmd)
{
	q_clear(&k->kq);
	k->scanning = true;
	kbd_send(k, KBD_ACK);
}

static void
kbd_disable(struct i8042 *k, uint8_t cmd)
{
	q_clear(&k->kq);
	kbd_defaults(k);
	k->scanning = false;
	kbd_send(k, KBD_ACK);
}

static void
kbd_set_default(struct i8042 *k, uint8_t cmd)
{
	q_clear(&k->kq);
	kbd_defaults(k);
	kbd_send(k, KBD_ACK);
}

static void
kbd_resend(struct i8042 *k, uint8_t cmd)
{
	kbd_send(k, k->kbd_last);
}

/* Reset: acknowledge, then the basic assurance test passed. */
static void
kbd_reset(struct i8042 *k, uint8_t cmd)
{
	q_clear(&k->kq);
	kbd_defaults(k);
	k->leds = 0;
	k->scanning = true;
	kbd_send(k, KBD_ACK);
	kbd_send(k, KBD_BAT_OK);
}

static const struct kbd_cmd kbd_cmds[256] = {
	[0xED] = { kbd_ack, kbd_leds },
	[0xEE] = { kbd_echo, NULL },
	[0xF0] = { kbd_ack, kbd_set },
	[0xF2] = { kbd_identify, NULL },
	[0xF3] = { kbd_ack, kbd_ack },		/* typematic rate */
	[0xF4] = { kbd_enable, NULL },
	[0xF5] = { kbd_disable, NULL },
	[0xF6] = { kbd_set_default, NULL },
	[0xF7 ... 0xFD] = { kbd_ack, NULL },	/* set 3 key types */
	[0xFE] = { kbd_resend, NULL },
	[0xFF] = { kbd_reset, NULL },
};

/*
 * A byte for the keyboard.  Parameters are below 0x80; a command byte
 * where a parameter was expected starts the new command instead.
 */
static void
kbd_write(struct i8042 *k, uint8_t v)
{
	const struct kbd_cmd *c;

	if (k->kbd_cmd != 0 && v < 0x80) {
		c = &kbd_cmds[k->kbd_cmd];
		k->kbd_cmd = 0;
		c->param(k, v);
		return;
	}
	k->kbd_cmd = 0;
	c = &kbd_cmds[v];
	if (c->fn == NULL) {
		kbd_send(k, KBD_RESEND);
		return;
	}
	c->fn(k, v);
	if (c->param != NULL)
		k->kbd_cmd = v;
}

/* ------------------------------------------------------------------------ */
/* The controller's commands (written to 0x64), table-driven. */

typedef void ctl_fn(struct i8042 *, uint8_t cmd);
typedef void ctl_data_fn(struct i8042 *, uint8_t cmd, uint8_t v);

struct ctl_cmd {
	ctl_fn *fn;		/* run when the command is written */
	ctl_data_fn *data;	/* run with the next byte written to 0x60 */
};

static void
ctl_reset_line(struct i8042 *k)
{
	vm_request_exit(k->vm, WORKER_EXIT_REBOOT, 0,
	    "guest reset through the i8042");
}

static void
ctl_read_ram(struct i8042 *k, uint8_t cmd)
{
	i8042_reply(k, k->ram[cmd & (I8042_RAM_SIZE - 1)]);
}

static void
ctl_write_ram(struct i8042 *k, uint8_t cmd, uint8_t v)
{
	unsigned int i = cmd & (I8042_RAM_SIZE - 1);

	k->ram[i] = v;
	if (i == 0)
		k->sys = (v & CTR_SYS) != 0;
}

static void
ctl_no_password(struct i8042 *k, uint8_t cmd)
{
	i8042_reply(k, 0xF1);
}

static void
ctl_aux_disable(struct i8042 *k, uint8_t cmd)
{
	k->ram[0] |= CTR_AUXDIS;
}

static void
ctl_aux_enable(struct i8042 *k, uint8_t cmd)
{
	k->ram[0] &= ~CTR_AUXDIS;
}

/* No AUX port: its clock line is "stuck high". */
static void
ctl_aux_test(struct i8042 *k, uint8_t cmd)
{
	i8042_reply(k, 0x02);
}

static void
ctl_self_test(struct i8042 *k, uint8_t cmd)
{
	k->sys = true;
	i8042_reply(k, 0x55);
}

static void
ctl_kbd_test(struct i8042 *k, uint8_t cmd)
{
	i8042_reply(k, 0x00);
}

static void
ctl_kbd_disable(struct i8042 *k, uint8_t cmd)
{
	k->ram[0] |= CTR_KBDDIS;
}

static void
ctl_kbd_enable(struct i8042 *k, uint8_t cmd)
{
	k->ram[0] &= ~CTR_KBDDIS;
}

/* Input port: keyboard not inhibited. */
static void
ctl_read_input(struct i8042 *k, uint8_t cmd)
{
	i8042_reply(k, 0x80);
}

static void
ctl_read_output(struct i8042 *k, uint8_t cmd)
{
	i8042_reply(k, k->outport | (k->obf ? OUT_OBF : 0));
}

/* Bit 0 low asserts the reset line; A20 is always on here. */
static void
ctl_write_output(struct i8042 *k, uint8_t cmd, uint8_t v)
{
	k->outport = v | OUT_RESET;
	if ((v & OUT_RESET) == 0)
		ctl_reset_line(k);
}

/* The byte appears as if the keyboard had sent it (untranslated). */
static void
ctl_write_kbd_ob(struct i8042 *k, uint8_t cmd, uint8_t v)
{
	i8042_reply(k, v);
}

/* AUX loop or write: there is no AUX port; see the top of the file. */
static void
ctl_aux_write(struct i8042 *k, uint8_t cmd, uint8_t v)
{
	i8042_reply(k, KBD_RESEND);
}

static void
ctl_a20(struct i8042 *k, uint8_t cmd)
{
	if (cmd == 0xDF)
		k->outport |= OUT_A20;
	else
		k->outport &= ~OUT_A20;
}

static void
ctl_test_inputs(struct i8042 *k, uint8_t cmd)
{
	i8042_reply(k, 0x00);
}

/* Pulse output port bits 0-3 low where cmd has zeros: bit 0 is reset. */
static void
ctl_pulse(struct i8042 *k, uint8_t cmd)
{
	if ((cmd & OUT_RESET) == 0)
		ctl_reset_line(k);
}

static const struct ctl_cmd ctl_cmds[256] = {
	[0x20 ... 0x3F] = { ctl_read_ram, NULL },
	[0x60 ... 0x7F] = { NULL, ctl_write_ram },
	[0xA4] = { ctl_no_password, NULL },
	[0xA7] = { ctl_aux_disable, NULL },
	[0xA8] = { ctl_aux_enable, NULL },
	[0xA9] = { ctl_aux_test, NULL },
	[0xAA] = { ctl_self_test, NULL },
	[0xAB] = { ctl_kbd_test, NULL },
	[0xAD] = { ctl_kbd_disable, NULL },
	[0xAE] = { ctl_kbd_enable, NULL },
	[0xC0] = { ctl_read_input, NULL },
	[0xD0] = { ctl_read_output, NULL },
	[0xD1] = { NULL, ctl_write_output },
	[0xD2] = { NULL, ctl_write_kbd_ob },
	[0xD3] = { NULL, ctl_aux_write },
	[0xD4] = { NULL, ctl_aux_write },
	[0xDD] = { ctl_a20, NULL },
	[0xDF] = { ctl_a20, NULL },
	[0xE0] = { ctl_test_inputs, NULL },
	[0xF0 ... 0xFF] = { ctl_pulse, NULL },
};

static void
i8042_command(struct i8042 *k, uint8_t cmd)
{
	const struct ctl_cmd *c = &ctl_cmds[cmd];

	k->a2 = true;
	k->data_cmd = 0;
	q_clear(&k->cq);
	if (k->obf && k->ob_reply)
		k->obf = false;
	if (c->fn == NULL && c->data == NULL) {
		log_debug("i8042: unknown command 0x%02x ignored", cmd);
		return;
	}
	if (c->fn != NULL)
		c->fn(k, cmd);
	if (c->data != NULL)
		k->data_cmd = cmd;
}

static void
i8042_data_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->data_cmd;

	k->a2 = false;
	k->data_cmd = 0;
	if (cmd != 0)
		ctl_cmds[cmd].data(k, cmd, v);
	else
		kbd_write(k, v);
}

/* Reading the data port empties the output buffer (else: the old byte). */
static uint8_t
i8042_data_read(struct i8042 *k)
{
	uint8_t v = k->ob;

	if (k->obf) {
		k->obf = false;
		/* Lower the line before the next byte: a new edge for it. */
		i8042_update_irq(k);
	}
	return v;
}

static uint8_t
i8042_status(const struct i8042 *k)
{
	return (k->obf ? STS_OBF : 0) | (k->sys ? STS_SYS : 0) |
	    (k->a2 ? STS_A2 : 0) | STS_UNLOCKED;
}

/*
 * One byte at port 0x60 (off 0) or 0x64 (off 4); the ports between are
 * not the controller's.  Lock held.
 */
static void
i8042_byte(struct i8042 *k, uint64_t off, uint8_t *b, bool write)
{
	switch (off) {
	case 0:
		if (write)
			i8042_data_write(k, *b);
		else
			*b = i8042_data_read(k);
		break;
	case I8042_CMD_PORT - I8042_DATA_PORT:
		if (write)
			i8042_command(k, *b);
		else
			*b = i8042_status(k);
		break;
	default:
		if (!write)
			*b = 0xFF;
		break;
	}
}

/*
 * The bus handler for 0x60 and 0x64, registered as two one-byte ranges;
 * a wider access is split into bytes at consecutive ports (the ones that
 * are not ours read as all ones).  Vcpu threads.
 */
static void
i8042_access(void *dev, uint64_t off, uint8_t *data, unsigned int size,
    bool write)
{
	struct i8042 *k = dev;
	unsigned int i;

	pthread_mutex_lock(&k->lock);
	for (i = 0; i < size; i++)
		i8042_byte(k, off + i, &data[i], write);
	i8042_refill(k);
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

/* Both the controller's ports are one device, one offset apart by 4. */
static void
i8042_access_cmd(void *dev, uint64_t off, uint8_t *data, unsigned int size,
    bool write)
{
	i8042_access(dev, off + (I8042_CMD_PORT - I8042_DATA_PORT), data, size,
	    write);
}

/*
 * Port B.  Without a PIT there is no timer 2: its output (bit 5) reads
 * as expired, so that a loop waiting for it ends at once.  Bit 4 toggles
 * with the DRAM refresh period, for delay loops that count it.
 */
static void
i8042_portb_access(void *dev, uint64_t off, uint8_t *data, unsigned int size,
    bool write)
{
	struct i8042 *k = dev;
	unsigned int i;

	pthread_mutex_lock(&k->lock);
	for (i = 0; i < size; i++) {
		if (off + i != 0) {
			if (!write)
				data[i] = 0xFF;
		} else if (write)
			k->portb = data[i] & PORTB_RW;
		else
			data[i] = k->portb | PORTB_OUT2 |
			    (((vm_now_ns() / PORTB_REFRESH_NS) & 1) ?
			    PORTB_REFRESH : 0);
	}
	pthread_mutex_unlock(&k->lock);
}

/* ------------------------------------------------------------------------ */

void
i8042_ctrl_alt_del(struct i8042 *k)
{
	const uint8_t *seq;
	size_t len, i;
	bool sent = false;

	pthread_mutex_lock(&k->lock);
	seq = cad_seq[k->set].seq;
	len = cad_seq[k->set].len;
	if (k->scanning && q_room(&k->kq) >= len) {
		for (i = 0; i < len; i++)
			(void)q_push(&k->kq, seq[i]);
		sent = true;
	}
	i8042_refill(k);
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
	if (!sent)
		log_info("Ctrl-Alt-Del not delivered: the guest's keyboard is "
		    "disabled or busy");
}

/* Power-on state, lock held. */
static void
i8042_reset_locked(struct i8042 *k)
{
	memset(k->ram, 0, sizeof(k->ram));
	k->ram[0] = CTR_RESET;
	k->obf = false;
	k->ob_reply = false;
	k->ob = 0;
	k->a2 = false;
	k->sys = true;
	k->outport = OUT_RESET_VALUE;
	k->data_cmd = 0;
	k->xlate_break = false;
	q_clear(&k->cq);
	q_clear(&k->kq);
	kbd_defaults(k);
	k->scanning = true;
	k->leds = 0;
	k->kbd_last = 0;
	k->portb = 0;
	i8042_update_irq(k);
}

static void
i8042_reset(void *dev)
{
	struct i8042 *k = dev;

	pthread_mutex_lock(&k->lock);
	i8042_reset_locked(k);
	pthread_mutex_unlock(&k->lock);
}

static void
i8042_destroy(void *dev)
{
	struct i8042 *k = dev;

	if (k->vm->i8042 == k)
		k->vm->i8042 = NULL;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static const struct vm_device_ops i8042_ops = {
	.name = "i8042",
	.reset = i8042_reset,
	.destroy = i8042_destroy,
};

/*
 * With the in-kernel PIT, KVM serves port 0x61 itself (libvmm creates it
 * with KVM_PIT_SPEAKER_DUMMY); otherwise it is ours.
 */
static bool
i8042_owns_portb(const struct vm *vm)
{
	return !(vm_has_irqchip(vm) && vm->def->pit);
}

int
i8042_create(struct vm *vm)
{
	struct i8042 *k;
	int error;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return -ENOMEM;
	k->vm = vm;
	k->cq = (struct i8042_queue){ k->cq_buf, I8042_CQ_SIZE, 0, 0 };
	k->kq = (struct i8042_queue){ k->kq_buf, I8042_KQ_SIZE, 0, 0 };
	pthread_mutex_init(&k->lock, NULL);
	i8042_reset_locked(k);
	if ((error = vm_device_add(vm, &i8042_ops, k)) != 0) {
		pthread_mutex_destroy(&k->lock);
		free(k);
		return error;
	}
	/* Owned by the device list from here: vm_fini frees it. */
	vm->i8042 = k;
	if ((error = bus_register(vm, BUS_PIO, I8042_DATA_PORT, 1, "i8042",
	    i8042_access, k)) != 0)
		return error;
	if ((error = bus_register(vm, BUS_PIO, I8042_CMD_PORT, 1, "i8042",
	    i8042_access_cmd, k)) != 0)
		return error;
	if (i8042_owns_portb(vm) && (error = bus_register(vm, BUS_PIO,
	    I8042_PORTB, 1, "port-b", i8042_portb_access, k)) != 0)
		return error;
	return 0;
}
