/*
 * test_devices.c: the legacy devices (uart_16550.c, i8042.c,
 * rtc_mc146818.c, debug_exit.c).  First each device alone, driven through
 * bus_access on a VM built for the test (vm_init, a console on a pipe, no
 * machine: interrupt lines are not driven), with exact register values;
 * the RTC reads a clock the test sets.  Then the real vmm-worker running
 * the tests/guests/dev_*.S guests on KVM: console bytes, the RTC against
 * the host clock, exit statuses, Ctrl-Alt-Del through the control socket
 * and SIGTERM, and the UART's and RTC's interrupts through the in-kernel
 * PIC.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "control.h"
#include "vmtest.h"
#include "worker.h"
#include "workertest.h"

#define COM1		0x3F8
#define WT_TIMEOUT	20000
#define NS		1000000000LL

/* ------------------------------------------------------------------------ */
/* A VM without a machine: loop, console on a pipe, the devices asked for. */

struct env {
	struct vmdef def;
	struct vm vm;
	int rd;				/* the console pipe's read end */
	int wr;
	int64_t wall, mono;		/* the RTC's clock, when set */
};

static int
env_setup(void **state)
{
	struct env *e;
	int p[2];

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->def.name = (char *)(uintptr_t)"dev";
	e->def.vcpus = 1;
	e->def.memory_mib = 64;
	if (vm_init(&e->vm, &e->def) != 0 || pipe2(p, O_CLOEXEC) != 0)
		return -1;
	e->rd = p[0];
	e->wr = p[1];
	fcntl(e->rd, F_SETFL, O_NONBLOCK);
	if (console_create(&e->vm, e->wr, 4096) != 0)
		return -1;
	*state = e;
	return 0;
}

/*
 * For a test that loops over cases: a fresh environment in *st, freed by
 * env_teardown(st).
 */
static struct env *
env_new(void **st)
{
	assert_int_equal(env_setup(st), 0);
	return *st;
}

static void
close_handle(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	/* Deferred calls and timers run before the devices go away. */
	uv_run(&e->vm.loop, UV_RUN_NOWAIT);
	vm_fini(&e->vm);
	/* Then the loop ends: the devices' timers are freed as they close. */
	uv_walk(&e->vm.loop, close_handle, NULL);
	uv_run(&e->vm.loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&e->vm.loop), 0);
	console_destroy(e->vm.console);
	close(e->rd);
	close(e->wr);
	free(e);
	return 0;
}

static uint8_t
inb(struct env *e, uint16_t port)
{
	uint8_t b = 0;

	bus_access(&e->vm, BUS_PIO, port, &b, 1, false);
	return b;
}

static void
outb(struct env *e, uint16_t port, uint8_t v)
{
	bus_access(&e->vm, BUS_PIO, port, &v, 1, true);
}

/* What the guest wrote to the console so far (NUL-terminated). */
static size_t
console_take(struct env *e, char *buf, size_t len)
{
	ssize_t n = read(e->rd, buf, len - 1);

	n = n < 0 ? 0 : n;
	buf[n] = '\0';
	return (size_t)n;
}

/* ------------------------------------------------------------------------ */
/* UART */

enum { RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR };
#define FCR IIR
#define DLL RBR
#define DLM IER

static uint8_t
uin(struct env *e, unsigned int reg)
{
	return inb(e, COM1 + reg);
}

static void
uout(struct env *e, unsigned int reg, uint8_t v)
{
	outb(e, COM1 + reg, v);
}

static void
uart_env(struct env *e)
{
	assert_int_equal(uart_create(&e->vm, COM1, 4), 0);
	assert_non_null(e->vm.uart);
}

static void
host_input(struct env *e, const char *s, size_t len)
{
	assert_int_equal(console_input(e->vm.console, (const uint8_t *)s,
	    len), 0);
}

static void
test_uart_reset_values(void **state)
{
	struct env *e = *state;
	static const struct {
		unsigned int reg;
		uint8_t v;
	} regs[] = {
		{ IER, 0x00 }, { IIR, 0x01 }, { LCR, 0x00 }, { MCR, 0x00 },
		{ LSR, 0x60 }, { MSR, 0xB0 }, { SCR, 0x00 },
	};
	size_t i;

	uart_env(e);
	for (i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		assert_int_equal(uin(e, regs[i].reg), regs[i].v);
	/* The divisor starts at 12 (9600 baud). */
	uout(e, LCR, 0x80);
	assert_int_equal(uin(e, DLL), 12);
	assert_int_equal(uin(e, DLM), 0);
	/* Nothing to read: RBR gives the old byte (0), no DR. */
	uout(e, LCR, 0x00);
	assert_int_equal(uin(e, RBR), 0);
	assert_int_equal(uin(e, LSR), 0x60);
}

static void
test_uart_divisor_latch(void **state)
{
	struct env *e = *state;

	uart_env(e);
	uout(e, LCR, 0x83);
	uout(e, DLL, 0x01);
	uout(e, DLM, 0x02);
	assert_int_equal(uin(e, DLL), 0x01);
	assert_int_equal(uin(e, DLM), 0x02);
	assert_int_equal(uin(e, LCR), 0x83);
	/* DLAB off: offsets 0 and 1 are RBR/THR and IER again. */
	uout(e, LCR, 0x03);
	assert_int_equal(uin(e, IER), 0x00);
	uout(e, IER, 0xFF);
	assert_int_equal(uin(e, IER), 0x0F);	/* bits 4-7 are zero */
	uout(e, IER, 0x00);
	uout(e, RBR, 'x');			/* THR: goes out */
	uout(e, LCR, 0x83);
	assert_int_equal(uin(e, DLL), 0x01);	/* untouched */
	assert_int_equal(uin(e, DLM), 0x02);
	/* The scratch register keeps anything. */
	uout(e, SCR, 0xA5);
	assert_int_equal(uin(e, SCR), 0xA5);
}

static void
test_uart_output(void **state)
{
	struct env *e = *state;
	char buf[64];

	uart_env(e);
	/* The first byte is out at once, THR and the shifter empty. */
	uout(e, RBR, 'h');
	assert_int_equal(console_take(e, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "h");
	assert_int_equal(uin(e, LSR), 0x60);
	uout(e, RBR, 'i');
	uout(e, RBR, '\n');
	assert_int_equal(console_take(e, buf, sizeof(buf)), 2);
	assert_string_equal(buf, "i\n");
}

/*
 * A 16-bit write at COM1 writes THR and IER (two byte accesses); a
 * 32-bit read at COM1+6 gives MSR, SCR and two bytes past the UART.
 */
static void
test_uart_wide_access(void **state)
{
	struct env *e = *state;
	uint8_t d[4] = { 'W', 0x05, 0, 0 };
	char buf[8];

	uart_env(e);
	assert_true(bus_access(&e->vm, BUS_PIO, COM1, d, 2, true));
	assert_int_equal(console_take(e, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "W");
	assert_int_equal(uin(e, IER), 0x05);
	uout(e, SCR, 0x42);
	memset(d, 0, sizeof(d));
	assert_true(bus_access(&e->vm, BUS_PIO, COM1 + 6, d, 4, false));
	assert_memory_equal(d, "\xB0\x42\xFF\xFF", 4);
}

/* Loopback: data and modem lines stay inside; MSR deltas; overrun. */
static void
test_uart_loopback(void **state)
{
	struct env *e = *state;
	char buf[8];
	int i;

	uart_env(e);
	/* Entering loopback drops CTS, DSR and DCD: three deltas. */
	uout(e, MCR, 0x10);
	assert_int_equal(uin(e, MSR), 0x0B);
	assert_int_equal(uin(e, MSR), 0x00);
	uout(e, MCR, 0x1F);			/* all outputs on */
	assert_int_equal(uin(e, MSR), 0xFB);
	uout(e, MCR, 0x1B);			/* OUT1 off: RI falls */
	assert_int_equal(uin(e, MSR), 0xB4);

	uout(e, RBR, 'A');
	assert_int_equal(console_take(e, buf, sizeof(buf)), 0);
	assert_int_equal(uin(e, LSR), 0x61);
	assert_int_equal(uin(e, RBR), 'A');
	assert_int_equal(uin(e, LSR), 0x60);

	/* Without FIFOs a second byte overwrites RBR and sets OE. */
	uout(e, RBR, 'a');
	uout(e, RBR, 'b');
	assert_int_equal(uin(e, LSR), 0x63);
	assert_int_equal(uin(e, LSR), 0x61);	/* OE cleared by the read */
	assert_int_equal(uin(e, RBR), 'b');

	/* With FIFOs, 16 fit; the 17th is lost. */
	uout(e, FCR, 0x01);
	for (i = 0; i < 17; i++)
		uout(e, RBR, (uint8_t)('a' + i));
	assert_int_equal(uin(e, LSR), 0x63);
	for (i = 0; i < 16; i++)
		assert_int_equal(uin(e, RBR), 'a' + i);
	assert_int_equal(uin(e, LSR), 0x60);

	/* Host input does not reach a receiver in loopback. */
	host_input(e, "zz", 2);
	assert_int_equal(uin(e, LSR), 0x60);
	uout(e, MCR, 0x00);
	host_input(e, "y", 1);
	assert_int_equal(uin(e, RBR), 'y');
}

/*
 * Receive interrupts: for each trigger level, IIR says "no interrupt"
 * until the FIFO holds that many bytes, then "data available".  The
 * divisor is the slowest so that no character time-out comes in between.
 */
static void
test_uart_fifo_trigger_levels(void **state)
{
	struct env *e = *state;
	static const struct {
		uint8_t fcr;
		unsigned int level;
	} t[] = {
		{ 0x01, 1 }, { 0x41, 4 }, { 0x81, 8 }, { 0xC1, 14 },
	};
	char in[16];
	size_t i;
	unsigned int j;

	uart_env(e);
	memset(in, 'q', sizeof(in));
	uout(e, LCR, 0x80);
	uout(e, DLL, 0x00);
	uout(e, DLM, 0x00);			/* 0 counts as 65536: 1.8 baud */
	uout(e, LCR, 0x03);
	uout(e, IER, 0x01);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uout(e, FCR, t[i].fcr | 0x02);	/* clear the FIFO */
		assert_int_equal(uin(e, IIR), 0xC1);
		for (j = 0; j + 1 < t[i].level; j++)
			host_input(e, in, 1);
		assert_int_equal(uin(e, IIR), 0xC1);
		host_input(e, in, 1);
		assert_int_equal(uin(e, IIR), 0xC4);
		(void)uin(e, RBR);
		assert_int_equal(uin(e, IIR), 0xC1);
	}
	/* Without FIFOs: one byte is enough, IIR bits 6-7 are clear. */
	uout(e, FCR, 0x00);
	assert_int_equal(uin(e, IIR), 0x01);
	host_input(e, "r", 1);
	assert_int_equal(uin(e, IIR), 0x04);
	assert_int_equal(uin(e, RBR), 'r');
	assert_int_equal(uin(e, IIR), 0x01);
}

/* The character time-out: data below the trigger, four frames later. */
static void
test_uart_char_timeout(void **state)
{
	struct env *e = *state;

	uart_env(e);
	uout(e, LCR, 0x80);
	uout(e, DLL, 0x01);			/* 115200: 4 frames = 347 us */
	uout(e, DLM, 0x00);
	uout(e, LCR, 0x03);
	uout(e, FCR, 0xC1);			/* trigger 14 */
	uout(e, IER, 0x01);
	host_input(e, "ab", 2);
	usleep(2000);
	assert_int_equal(uin(e, IIR), 0xCC);
	assert_int_equal(uin(e, RBR), 'a');	/* restarts the time-out */
	assert_int_equal(uin(e, IIR), 0xC1);
	usleep(2000);
	assert_int_equal(uin(e, IIR), 0xCC);
	assert_int_equal(uin(e, RBR), 'b');
	usleep(2000);
	assert_int_equal(uin(e, IIR), 0xC1);	/* empty: nothing to time out */
}

/*
 * Interrupt priorities (datasheet, IIR), each cleared the documented
 * way: line status by reading LSR, data by emptying the FIFO, THRE by
 * reading IIR (or writing THR), modem status by reading MSR.
 */
static void
test_uart_iir_priorities(void **state)
{
	struct env *e = *state;
	char *big;
	unsigned int i;

	uart_env(e);
	uout(e, FCR, 0x01);			/* trigger 1 */
	/* A modem status change: in and out of loopback. */
	uout(e, MCR, 0x10);
	uout(e, MCR, 0x00);
	/* Overrun: more host input than the 4096-byte receive ring. */
	big = malloc(4100);
	assert_non_null(big);
	for (i = 0; i < 4100; i++)
		big[i] = (char)('0' + i % 10);
	host_input(e, big, 4100);
	free(big);
	uout(e, IER, 0x0F);			/* THRE pending from here */

	assert_int_equal(uin(e, IIR), 0xC6);	/* line status */
	assert_int_equal(uin(e, LSR), 0x63);	/* DR, OE: the read clears OE */
	assert_int_equal(uin(e, IIR), 0xC4);	/* data */
	for (i = 0; i < 4096; i++)
		assert_int_equal(uin(e, RBR), '0' + i % 10);
	assert_int_equal(uin(e, LSR), 0x60);
	assert_int_equal(uin(e, IIR), 0xC2);	/* THRE: reading IIR clears */
	assert_int_equal(uin(e, IIR), 0xC0);	/* modem status */
	assert_int_equal(uin(e, MSR), 0xBB);
	assert_int_equal(uin(e, IIR), 0xC1);
	/* Writing THR empties it again at once: THRE anew. */
	uout(e, RBR, '.');
	assert_int_equal(uin(e, IIR), 0xC2);
	assert_int_equal(uin(e, IIR), 0xC1);
	/* Enabling THRE with THR empty interrupts at once. */
	uout(e, IER, 0x00);
	uout(e, IER, 0x02);
	assert_int_equal(uin(e, IIR), 0xC2);
}

/* FIFOs off and on again, and FCR bit 1, empty the receiver. */
static void
test_uart_fifo_clear(void **state)
{
	struct env *e = *state;

	uart_env(e);
	uout(e, FCR, 0x01);
	host_input(e, "abc", 3);
	assert_int_equal(uin(e, LSR), 0x61);
	uout(e, FCR, 0x03);
	assert_int_equal(uin(e, LSR), 0x60);
	host_input(e, "abc", 3);
	uout(e, FCR, 0x00);
	assert_int_equal(uin(e, LSR), 0x60);
	/* FCR bits other than enable do nothing while it is clear. */
	uout(e, FCR, 0xC0);
	assert_int_equal(uin(e, IIR), 0x01);
}

/* A guest reset puts the registers back; the ring is emptied. */
static void
test_uart_device_reset(void **state)
{
	struct env *e = *state;
	unsigned int i;

	uart_env(e);
	uout(e, LCR, 0x1B);
	uout(e, MCR, 0x0B);
	uout(e, IER, 0x03);
	host_input(e, "zz", 2);
	for (i = 0; i < e->vm.ndevs; i++)
		if (e->vm.devs[i].ops->reset != NULL)
			e->vm.devs[i].ops->reset(e->vm.devs[i].dev);
	assert_int_equal(uin(e, LCR), 0x00);
	assert_int_equal(uin(e, MCR), 0x00);
	assert_int_equal(uin(e, IER), 0x00);
	assert_int_equal(uin(e, LSR), 0x60);
	assert_int_equal(uin(e, IIR), 0x01);
}

/* ------------------------------------------------------------------------ */
/* i8042 */

#define KBD_DATA	0x60
#define KBD_CMD		0x64

static void
kbd_env(struct env *e)
{
	assert_int_equal(i8042_create(&e->vm), 0);
	assert_non_null(e->vm.i8042);
}

/* Read the output buffer until it is empty: the bytes, their number. */
static size_t
kbd_drain(struct env *e, uint8_t *buf, size_t len)
{
	size_t n = 0;

	while ((inb(e, KBD_CMD) & 0x01) && n < len)
		buf[n++] = inb(e, KBD_DATA);
	return n;
}

static void
kbd_expect(struct env *e, const uint8_t *want, size_t len)
{
	uint8_t got[64];
	size_t n = kbd_drain(e, got, sizeof(got));

	if (n != len || memcmp(got, want, len) != 0) {
		size_t i;

		print_error("got %zu bytes:", n);
		for (i = 0; i < n; i++)
			print_error(" %02x", got[i]);
		print_error("\n");
		fail_msg("expected %zu bytes", len);
	}
}

#define KBD_EXPECT(e, ...) do {						\
	static const uint8_t want_[] = { __VA_ARGS__ };			\
	kbd_expect(e, want_, sizeof(want_));				\
} while (0)

static void
test_i8042_controller(void **state)
{
	struct env *e = *state;

	kbd_env(e);
	assert_int_equal(inb(e, KBD_CMD), 0x14);	/* SYS, unlocked */
	outb(e, KBD_CMD, 0xAA);				/* self-test */
	assert_int_equal(inb(e, KBD_CMD), 0x1D);	/* + OBF, A2 */
	assert_int_equal(inb(e, KBD_DATA), 0x55);
	assert_int_equal(inb(e, KBD_CMD), 0x1C);
	/* Reading an empty buffer gives the last byte again. */
	assert_int_equal(inb(e, KBD_DATA), 0x55);
	outb(e, KBD_CMD, 0x20);				/* read CTR */
	KBD_EXPECT(e, 0x65);
	outb(e, KBD_CMD, 0x60);				/* write CTR */
	outb(e, KBD_DATA, 0x21);
	assert_int_equal(inb(e, KBD_CMD), 0x10);	/* SYS off, A2 off */
	outb(e, KBD_CMD, 0x20);
	KBD_EXPECT(e, 0x21);
	outb(e, KBD_CMD, 0x7F);				/* RAM byte 31 */
	outb(e, KBD_DATA, 0x9C);
	outb(e, KBD_CMD, 0x3F);
	KBD_EXPECT(e, 0x9C);
	outb(e, KBD_CMD, 0xAB);				/* keyboard test */
	KBD_EXPECT(e, 0x00);
	outb(e, KBD_CMD, 0xA9);				/* AUX test: none */
	KBD_EXPECT(e, 0x02);
	outb(e, KBD_CMD, 0xD3);				/* AUX loop */
	outb(e, KBD_DATA, 0x5A);
	assert_int_equal(inb(e, KBD_CMD) & 0x21, 0x01);	/* not AUX data */
	KBD_EXPECT(e, 0xFE);
	/*
	 * Linux leaves that answer unread and asks for the AUX test: the
	 * new reply replaces the old one, nothing stale is left behind.
	 */
	outb(e, KBD_CMD, 0xD3);
	outb(e, KBD_DATA, 0x5A);
	outb(e, KBD_CMD, 0xA9);
	KBD_EXPECT(e, 0x02);
	/* Keyboard data is not a reply: a command leaves it in place. */
	outb(e, KBD_DATA, 0xEE);
	outb(e, KBD_CMD, 0xAB);
	KBD_EXPECT(e, 0xEE, 0x00);
	outb(e, KBD_CMD, 0xD0);				/* output port */
	KBD_EXPECT(e, 0xCF);
	outb(e, KBD_CMD, 0xD2);				/* as if typed */
	outb(e, KBD_DATA, 0x1E);
	KBD_EXPECT(e, 0x1E);
	outb(e, KBD_CMD, 0xA4);				/* no password */
	KBD_EXPECT(e, 0xF1);
	outb(e, KBD_CMD, 0xA7);				/* AUX off: CTR bit 5 */
	outb(e, KBD_CMD, 0x20);
	KBD_EXPECT(e, 0x21);
	outb(e, KBD_CMD, 0xA8);
	outb(e, KBD_CMD, 0x20);
	KBD_EXPECT(e, 0x01);
	/* Unknown commands do nothing. */
	outb(e, KBD_CMD, 0x05);
	assert_int_equal(inb(e, KBD_CMD) & 0x01, 0);
	/* No reset happened in all this. */
	assert_int_equal(e->vm.state, VM_STATE_SETUP);
}

/* What Linux's atkbd sends at probe, with and without translation. */
static void
test_i8042_keyboard_commands(void **state)
{
	struct env *e = *state;

	kbd_env(e);
	outb(e, KBD_DATA, 0xF2);			/* identify */
	KBD_EXPECT(e, 0xFA, 0xAB, 0x41);		/* 0x83 translated */
	outb(e, KBD_DATA, 0xFF);			/* reset */
	KBD_EXPECT(e, 0xFA, 0xAA);
	outb(e, KBD_DATA, 0xED);			/* LEDs */
	KBD_EXPECT(e, 0xFA);
	outb(e, KBD_DATA, 0x07);
	KBD_EXPECT(e, 0xFA);
	outb(e, KBD_DATA, 0xF3);			/* typematic */
	outb(e, KBD_DATA, 0x20);
	KBD_EXPECT(e, 0xFA, 0xFA);
	outb(e, KBD_DATA, 0xF4);			/* enable */
	KBD_EXPECT(e, 0xFA);
	outb(e, KBD_DATA, 0xEE);			/* echo */
	KBD_EXPECT(e, 0xEE);
	outb(e, KBD_DATA, 0x01);			/* nonsense */
	KBD_EXPECT(e, 0xFE);
	outb(e, KBD_DATA, 0xFE);			/* resend */
	KBD_EXPECT(e, 0xFE);

	/* Translation off: the keyboard's own bytes. */
	outb(e, KBD_CMD, 0x60);
	outb(e, KBD_DATA, 0x25);
	outb(e, KBD_DATA, 0xF2);
	KBD_EXPECT(e, 0xFA, 0xAB, 0x83);
	outb(e, KBD_DATA, 0xF0);			/* which set? */
	outb(e, KBD_DATA, 0x00);
	KBD_EXPECT(e, 0xFA, 0xFA, 0x02);
	outb(e, KBD_DATA, 0xF0);
	outb(e, KBD_DATA, 0x07);			/* no such set */
	KBD_EXPECT(e, 0xFA, 0xFE);
	/* A command where a parameter was expected starts over. */
	outb(e, KBD_DATA, 0xED);
	outb(e, KBD_DATA, 0xEE);
	KBD_EXPECT(e, 0xFA, 0xEE);
}

static void
test_i8042_cad_sequences(void **state)
{
	struct env *e = *state;

	kbd_env(e);
	/* Power-on: set 2 translated to set 1 by the controller. */
	i8042_ctrl_alt_del(e->vm.i8042);
	assert_int_equal(inb(e, KBD_CMD), 0x15);
	KBD_EXPECT(e, 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d);
	assert_int_equal(inb(e, KBD_CMD), 0x14);

	/* Translation off: set 2 as the keyboard sends it. */
	outb(e, KBD_CMD, 0x60);
	outb(e, KBD_DATA, 0x05);
	i8042_ctrl_alt_del(e->vm.i8042);
	KBD_EXPECT(e, 0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11,
	    0xf0, 0x14);

	/* The keyboard switched to set 1. */
	outb(e, KBD_DATA, 0xF0);
	outb(e, KBD_DATA, 0x01);
	KBD_EXPECT(e, 0xFA, 0xFA);
	i8042_ctrl_alt_del(e->vm.i8042);
	KBD_EXPECT(e, 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d);

	/* Set 3. */
	outb(e, KBD_DATA, 0xF0);
	outb(e, KBD_DATA, 0x03);
	KBD_EXPECT(e, 0xFA, 0xFA);
	i8042_ctrl_alt_del(e->vm.i8042);
	KBD_EXPECT(e, 0x11, 0x19, 0x64, 0xf0, 0x64, 0xf0, 0x19, 0xf0, 0x11);
}

/*
 * An inhibited interface holds the keys until it is enabled again; a
 * keyboard told to stop scanning loses them.
 */
static void
test_i8042_cad_held_or_lost(void **state)
{
	struct env *e = *state;

	kbd_env(e);
	outb(e, KBD_CMD, 0xAD);				/* interface off */
	i8042_ctrl_alt_del(e->vm.i8042);
	assert_int_equal(inb(e, KBD_CMD) & 0x01, 0);
	outb(e, KBD_CMD, 0xAE);
	KBD_EXPECT(e, 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d);

	outb(e, KBD_DATA, 0xF5);			/* scanning off */
	KBD_EXPECT(e, 0xFA);
	i8042_ctrl_alt_del(e->vm.i8042);
	assert_int_equal(inb(e, KBD_CMD) & 0x01, 0);
	outb(e, KBD_DATA, 0xF4);
	KBD_EXPECT(e, 0xFA);
}

/* Which writes pull the reset line: table of command, data, reset? */
static void
test_i8042_reset_line(void **state)
{
	static const struct {
		uint8_t cmd;
		int data;		/* -1: none */
		bool reset;
	} t[] = {
		{ 0xFE, -1, true },	/* pulse bit 0 */
		{ 0xF0, -1, true },	/* pulse bits 0-3 */
		{ 0xFF, -1, false },	/* pulse nothing */
		{ 0xFD, -1, false },	/* pulse bit 1 only */
		{ 0xD1, 0x00, true },	/* output port bit 0 low */
		{ 0xD1, 0x03, false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		void *st;
		struct env *e;

		e = env_new(&st);
		kbd_env(e);
		outb(e, KBD_CMD, t[i].cmd);
		if (t[i].data >= 0)
			outb(e, KBD_DATA, (uint8_t)t[i].data);
		if (t[i].reset) {
			assert_int_equal(e->vm.state, VM_STATE_EXITED);
			assert_int_equal(e->vm.exit, WORKER_EXIT_REBOOT);
			assert_string_equal(e->vm.exit_why,
			    "guest reset through the i8042");
		} else
			assert_int_equal(e->vm.state, VM_STATE_SETUP);
		env_teardown(&st);
	}
}

/*
 * Port 0x61: bits 0-3 kept, timer 2's output (bit 5) reads as expired,
 * the refresh bit (4) toggles every 15 us.  Not ours with the in-kernel
 * PIT.
 */
static void
test_i8042_port_b(void **state)
{
	struct env *e = *state;
	unsigned int i, seen[2] = { 0, 0 };
	uint8_t v;

	kbd_env(e);
	outb(e, 0x61, 0xF3);
	for (i = 0; i < 20000 && (seen[0] == 0 || seen[1] == 0); i++) {
		v = inb(e, 0x61);
		assert_int_equal(v & ~0x10, 0x23);
		seen[(v >> 4) & 1]++;
	}
	assert_true(seen[0] > 0 && seen[1] > 0);
}

static void
test_i8042_port_b_in_kernel_pit(void **state)
{
	static const struct {
		bool irqchip, pit, ours;
	} t[] = {
		{ true, true, false },
		{ true, false, true },
		{ false, false, true },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		void *st;
		struct env *e;
		uint8_t v = 0;

		e = env_new(&st);
		e->def.irqchip = t[i].irqchip;
		e->def.pit = t[i].pit;
		kbd_env(e);
		assert_int_equal(bus_access(&e->vm, BUS_PIO, 0x61, &v, 1,
		    false), t[i].ours);
		assert_int_equal(v & 0x20, 0x20);
		env_teardown(&st);
	}
}

/* ------------------------------------------------------------------------ */
/* RTC */

static int64_t
test_clock(void *arg, clockid_t id)
{
	struct env *e = arg;

	return id == CLOCK_REALTIME ? e->wall : e->mono;
}

/* The RTC with its clock at UTC y-m-d h:mi:s plus ns. */
static struct rtc *
rtc_env(struct env *e, int y, int m, int d, int h, int mi, int s, int64_t ns)
{
	struct tm tm;
	struct rtc *r;

	assert_int_equal(rtc_create(&e->vm), 0);
	r = rtc_of(&e->vm);
	assert_non_null(r);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	e->wall = (int64_t)timegm(&tm) * NS + ns;
	e->mono = 1000 * NS + 123;
	rtc_set_clock(r, test_clock, e);
	return r;
}

static uint8_t
cmos_get(struct env *e, uint8_t reg)
{
	outb(e, 0x70, reg);
	return inb(e, 0x71);
}

static void
cmos_set(struct env *e, uint8_t reg, uint8_t v)
{
	outb(e, 0x70, reg);
	outb(e, 0x71, v);
}

static void
advance(struct env *e, int64_t ns)
{
	e->mono += ns;
}

/* Registers 0-9 and the century, in the order below. */
static const uint8_t time_regs[] = { 0, 2, 4, 6, 7, 8, 9, 0x32 };

static void
expect_time(struct env *e, const uint8_t want[8])
{
	uint8_t got[8];
	size_t i;

	for (i = 0; i < 8; i++)
		got[i] = cmos_get(e, time_regs[i]);
	if (memcmp(got, want, 8) != 0) {
		print_error("time registers:");
		for (i = 0; i < 8; i++)
			print_error(" %02x/%02x", got[i], want[i]);
		print_error(" (got/want)\n");
		fail_msg("time registers differ");
	}
}

#define EXPECT_TIME(e, ...) do {					\
	static const uint8_t want_[8] = { __VA_ARGS__ };		\
	expect_time(e, want_);						\
} while (0)

/*
 * 2024-02-29 (a Thursday: weekday 5) 13:45:56 in each format register B
 * selects: sec, min, hour, weekday, day, month, year, century.
 */
static void
test_rtc_formats(void **state)
{
	struct env *e = *state;

	rtc_env(e, 2024, 2, 29, 13, 45, 56, 500000000);
	assert_int_equal(cmos_get(e, 0x0A), 0x26);
	assert_int_equal(cmos_get(e, 0x0B), 0x02);
	assert_int_equal(cmos_get(e, 0x0C), 0x00);
	assert_int_equal(cmos_get(e, 0x0D), 0x80);
	EXPECT_TIME(e, 0x56, 0x45, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20);
	cmos_set(e, 0x0B, 0x06);			/* binary, 24 h */
	EXPECT_TIME(e, 56, 45, 13, 5, 29, 2, 24, 20);
	cmos_set(e, 0x0B, 0x00);			/* BCD, 12 h: 1 PM */
	EXPECT_TIME(e, 0x56, 0x45, 0x81, 0x05, 0x29, 0x02, 0x24, 0x20);
	cmos_set(e, 0x0B, 0x04);			/* binary, 12 h */
	EXPECT_TIME(e, 56, 45, 0x81, 5, 29, 2, 24, 20);
}

/* 12-hour edge cases: midnight is 12 AM, noon 12 PM. */
static void
test_rtc_12h_hours(void **state)
{
	static const struct {
		int hour;
		uint8_t bcd12, bin12;
	} t[] = {
		{ 0, 0x12, 12 }, { 1, 0x01, 1 }, { 11, 0x11, 11 },
		{ 12, 0x92, 0x8C }, { 13, 0x81, 0x81 }, { 23, 0x91, 0x8B },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		void *st;
		struct env *e;

		e = env_new(&st);
		rtc_env(e, 2000, 1, 1, t[i].hour, 0, 0, 0);
		cmos_set(e, 0x0B, 0x00);
		assert_int_equal(cmos_get(e, 4), t[i].bcd12);
		cmos_set(e, 0x0B, 0x04);
		assert_int_equal(cmos_get(e, 4), t[i].bin12);
		/* Set in 12-hour form, it reads the same in 24. */
		cmos_set(e, 0x0B, 0x84);
		cmos_set(e, 4, t[i].bin12);
		cmos_set(e, 0x0B, 0x04);
		cmos_set(e, 0x0B, 0x06);
		assert_int_equal(cmos_get(e, 4), t[i].hour);
		env_teardown(&st);
	}
}

/* The clock runs; UIP is up in the last 244 us of each second. */
static void
test_rtc_running_and_uip(void **state)
{
	struct env *e = *state;

	rtc_env(e, 2024, 12, 31, 23, 59, 58, 500000000);
	advance(e, 400000000);				/* .900 */
	assert_int_equal(cmos_get(e, 0), 0x58);
	assert_int_equal(cmos_get(e, 0x0A), 0x26);
	advance(e, 99800000);				/* .9998 */
	assert_int_equal(cmos_get(e, 0x0A), 0xA6);
	assert_int_equal(cmos_get(e, 0), 0x58);
	advance(e, 200000);				/* 59.000 */
	assert_int_equal(cmos_get(e, 0x0A), 0x26);
	EXPECT_TIME(e, 0x59, 0x59, 0x23, 0x03, 0x31, 0x12, 0x24, 0x20);
	advance(e, NS);					/* new year, Wed */
	EXPECT_TIME(e, 0x00, 0x00, 0x00, 0x04, 0x01, 0x01, 0x25, 0x20);
}

/* Stop the clock (SET; BCD, 24 hours) and write set[] to time_regs[]. */
static void
rtc_write_time(struct env *e, const uint8_t set[8])
{
	size_t i;

	cmos_set(e, 0x0B, 0x82);
	for (i = 0; i < sizeof(time_regs); i++)
		cmos_set(e, time_regs[i], set[i]);
}

/*
 * Setting the time with SET: frozen while SET is on, then running from
 * what was written: 2099-12-31 23:59:58 becomes 2100-01-01 (a Friday,
 * century 21) two seconds later.
 */
static void
test_rtc_set_time(void **state)
{
	struct env *e = *state;
	static const uint8_t set[] = { 0x58, 0x59, 0x23, 0x01, 0x31, 0x12,
	    0x99, 0x20 };

	rtc_env(e, 2024, 2, 29, 13, 45, 56, 0);
	rtc_write_time(e, set);
	advance(e, 5 * NS);
	EXPECT_TIME(e, 0x58, 0x59, 0x23, 0x01, 0x31, 0x12, 0x99, 0x20);
	assert_int_equal(cmos_get(e, 0x0A), 0x26);	/* no UIP under SET */
	cmos_set(e, 0x0B, 0x02);
	/* The weekday register follows the date once running. */
	EXPECT_TIME(e, 0x58, 0x59, 0x23, 0x05, 0x31, 0x12, 0x99, 0x20);
	advance(e, 2 * NS);
	EXPECT_TIME(e, 0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21);
	/* Writing one field while running keeps the others running. */
	cmos_set(e, 2, 0x30);
	advance(e, NS);
	EXPECT_TIME(e, 0x01, 0x30, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21);
	/* SET also clears UIE (datasheet). */
	cmos_set(e, 0x0B, 0x12);
	cmos_set(e, 0x0B, 0x82 | 0x10);
	assert_int_equal(cmos_get(e, 0x0B), 0x82);
}

/* Nonsense in the time registers is clamped, never trusted. */
static void
test_rtc_bad_values(void **state)
{
	struct env *e = *state;
	static const uint8_t set[] = { 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	    0xFF, 0xFF };

	rtc_env(e, 2024, 2, 29, 13, 45, 56, 0);
	rtc_write_time(e, set);
	cmos_set(e, 0x0B, 0x02);
	/* 9999-12-31 23:59:59 (BCD 0xFF decodes as 165, clamped). */
	EXPECT_TIME(e, 0x59, 0x59, 0x23, 0x06, 0x31, 0x12, 0x99, 0x99);
	advance(e, NS);
	EXPECT_TIME(e, 0x00, 0x00, 0x00, 0x07, 0x01, 0x01, 0x00, 0x00);
}

/*
 * The alarm: exact match, "don't care" values (0xC0-0xFF), several
 * seconds passing between reads, and the flags in register C cleared by
 * reading it.
 */
static void
test_rtc_alarm(void **state)
{
	struct env *e = *state;

	rtc_env(e, 2024, 2, 29, 13, 45, 58, 100000000);
	/* No periodic flag: PF comes at its rate whatever PIE says. */
	cmos_set(e, 0x0A, 0x20);
	cmos_set(e, 1, 0x00);				/* 13:46:00 */
	cmos_set(e, 3, 0x46);
	cmos_set(e, 5, 0x13);
	assert_int_equal(cmos_get(e, 0x0C), 0x00);
	advance(e, NS);					/* :59 */
	assert_int_equal(cmos_get(e, 0x0C), 0x10);	/* UF only */
	assert_int_equal(cmos_get(e, 0x0C), 0x00);	/* cleared */
	advance(e, NS);					/* 46:00 */
	assert_int_equal(cmos_get(e, 0x0C), 0x30);	/* UF, AF */
	advance(e, NS);
	assert_int_equal(cmos_get(e, 0x0C), 0x10);
	/* Every minute at :30; AIE on: IRQF with it. */
	cmos_set(e, 1, 0x30);
	cmos_set(e, 3, 0xC0);
	cmos_set(e, 5, 0xFF);
	cmos_set(e, 0x0B, 0x22);
	advance(e, 28 * NS);				/* 46:29 */
	assert_int_equal(cmos_get(e, 0x0C), 0x10);
	advance(e, NS);					/* 46:30 */
	assert_int_equal(cmos_get(e, 0x0C), 0xB0);
	/* A long gap: the match in between still counts. */
	advance(e, 3600 * NS);
	assert_int_equal(cmos_get(e, 0x0C), 0xB0);
	/* An alarm that can never match (seconds 0x60 in BCD). */
	cmos_set(e, 1, 0x60);
	advance(e, 2 * 86400 * NS);
	assert_int_equal(cmos_get(e, 0x0C), 0x10);
	/* Binary alarm in 12-hour mode: 1 PM is 0x81. */
	cmos_set(e, 0x0B, 0x84 | 0x20);
	cmos_set(e, 0, 0);
	cmos_set(e, 2, 0);
	cmos_set(e, 4, 0x81);
	cmos_set(e, 1, 5);
	cmos_set(e, 3, 0);
	cmos_set(e, 5, 0x81);
	cmos_set(e, 0x0B, 0x04 | 0x20);
	assert_int_equal(cmos_get(e, 0x0C), 0x00);
	advance(e, 4 * NS);
	assert_int_equal(cmos_get(e, 0x0C), 0x10);
	advance(e, NS);
	assert_int_equal(cmos_get(e, 0x0C), 0xB0);
}

/*
 * The periodic flag at 2 Hz (rate 15), in phase with the seconds; the
 * divider held in reset stops the clock and the periodic flag, and the
 * first update comes half a second after it restarts.
 */
static void
test_rtc_periodic_and_divider(void **state)
{
	struct env *e = *state;

	rtc_env(e, 2024, 2, 29, 13, 45, 56, 600000000);
	cmos_set(e, 0x0A, 0x2F);
	(void)cmos_get(e, 0x0C);
	advance(e, 300000000);				/* 56.9 */
	assert_int_equal(cmos_get(e, 0x0C), 0x00);
	advance(e, 200000000);				/* 57.1: PF, UF */
	assert_int_equal(cmos_get(e, 0x0C), 0x50);
	advance(e, 300000000);				/* 57.4 */
	assert_int_equal(cmos_get(e, 0x0C), 0x00);
	cmos_set(e, 0x0B, 0x42);			/* PIE */
	advance(e, 200000000);				/* 57.6 */
	assert_int_equal(cmos_get(e, 0x0C), 0xC0);
	/* Enabling an interrupt whose flag is set raises IRQF at once. */
	cmos_set(e, 0x0B, 0x02);
	advance(e, 500000000);				/* 58.1 */
	cmos_set(e, 0x0B, 0x42);
	assert_int_equal(cmos_get(e, 0x0C), 0xD0);
	/* Rate 0: no periodic flag. */
	cmos_set(e, 0x0A, 0x20);
	advance(e, 300000000);				/* 58.4 */
	assert_int_equal(cmos_get(e, 0x0C), 0x00);

	/* Divider reset: time stands still. */
	cmos_set(e, 0x0A, 0x60);
	advance(e, 10 * NS);
	assert_int_equal(cmos_get(e, 0), 0x58);
	assert_int_equal(cmos_get(e, 0x0C), 0x00);
	cmos_set(e, 0x0A, 0x26);
	advance(e, 400000000);
	assert_int_equal(cmos_get(e, 0), 0x58);
	advance(e, 200000000);
	assert_int_equal(cmos_get(e, 0), 0x59);
}

/* NVRAM keeps every byte; the index has the NMI mask in bit 7. */
static void
test_rtc_nvram(void **state)
{
	struct env *e = *state;
	unsigned int i;

	rtc_env(e, 2024, 2, 29, 13, 45, 56, 0);
	for (i = 0x0E; i < 0x80; i++)
		if (i != 0x32)			/* the century: the clock */
			cmos_set(e, (uint8_t)(i | (i & 1 ? 0x80 : 0)),
			    (uint8_t)(i * 7 + 3));
	for (i = 0x0E; i < 0x80; i++)
		if (i != 0x32)
			assert_int_equal(cmos_get(e, (uint8_t)i),
			    (uint8_t)(i * 7 + 3));
	/* The index port is write-only; C and D ignore writes. */
	assert_int_equal(inb(e, 0x70), 0xFF);
	cmos_set(e, 0x0D, 0x00);
	assert_int_equal(cmos_get(e, 0x0D), 0x80);
	cmos_set(e, 0x0C, 0xF0);
	assert_int_equal(cmos_get(e, 0x0C), 0x00);
	/* UIP is read-only. */
	cmos_set(e, 0x0A, 0xA6);
	assert_int_equal(cmos_get(e, 0x0A), 0x26);
}

/* Memory sizes in the CMOS, as QEMU and SeaBIOS have them. */
static void
test_rtc_cmos_memory(void **state)
{
	static const struct {
		uint64_t mib;
		unsigned int vcpus;
		uint8_t b[12];	/* 15 16 17 18 30 31 34 35 5b 5c 5d 5f */
	} t[] = {
		{ 3584, 1, { 0x80, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xBF,
		    0x00, 0x20, 0x00, 0x00 } },		/* 3.5 GiB */
		{ 6144, 4, { 0x80, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0xBF,
		    0x00, 0xC0, 0x00, 0x03 } },		/* 6 GiB */
		{ 64, 2, { 0x80, 0x02, 0x00, 0xFC, 0x00, 0xFC, 0x00, 0x03,
		    0x00, 0x00, 0x00, 0x01 } },		/* 64 MiB */
		{ 1, 1, { 0x80, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		    0x00, 0x00, 0x00, 0x00 } },		/* 1 MiB */
	};
	static const uint8_t where[12] = { 0x15, 0x16, 0x17, 0x18, 0x30, 0x31,
	    0x34, 0x35, 0x5b, 0x5c, 0x5d, 0x5f };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		void *st;
		struct env *e;

		e = env_new(&st);
		e->def.memory_mib = t[i].mib;
		e->def.vcpus = t[i].vcpus;
		assert_int_equal(rtc_create(&e->vm), 0);
		for (j = 0; j < 12; j++)
			if (cmos_get(e, where[j]) != t[i].b[j])
				fail_msg("%llu MiB: CMOS 0x%02x is 0x%02x, not "
				    "0x%02x", (unsigned long long)t[i].mib,
				    where[j], cmos_get(e, where[j]),
				    t[i].b[j]);
		assert_int_equal(cmos_get(e, 0x14), 0x02);	/* FPU */
		env_teardown(&st);
	}
}

/* A guest reset clears the enables and flags; time and NVRAM stay. */
static void
test_rtc_device_reset(void **state)
{
	struct env *e = *state;
	unsigned int i;

	rtc_env(e, 2024, 2, 29, 13, 45, 56, 0);
	cmos_set(e, 0x40, 0x77);
	cmos_set(e, 0x0B, 0x7A);
	/* A second of flags (PF at 1024 Hz, UF) not yet looked at. */
	advance(e, NS);
	for (i = 0; i < e->vm.ndevs; i++)
		if (e->vm.devs[i].ops->reset != NULL)
			e->vm.devs[i].ops->reset(e->vm.devs[i].dev);
	assert_int_equal(cmos_get(e, 0x0B), 0x02);
	assert_int_equal(cmos_get(e, 0x0C), 0x00);
	assert_int_equal(cmos_get(e, 0x40), 0x77);
	assert_int_equal(cmos_get(e, 0), 0x57);
	/* The flags carry on from the reset. */
	advance(e, NS);
	assert_int_equal(cmos_get(e, 0x0C), 0x50);
}

/* ------------------------------------------------------------------------ */
/* debug-exit */

static void
test_debug_exit_unit(void **state)
{
	struct env *e = *state;
	uint8_t d[2] = { 0x34, 0x12 };

	assert_int_equal(debug_exit_create(&e->vm), 0);
	assert_int_equal(inb(e, DEBUG_EXIT_PORT), 0xFF);
	assert_int_equal(e->vm.state, VM_STATE_SETUP);
	assert_true(bus_access(&e->vm, BUS_PIO, DEBUG_EXIT_PORT, d, 2, true));
	assert_int_equal(e->vm.state, VM_STATE_EXITED);
	assert_int_equal(e->vm.exit, WORKER_EXIT_DEBUG_EXIT);
	assert_int_equal(e->vm.exit_code, 0x1234);
	assert_string_equal(e->vm.exit_why, "debug exit 4660");
	/* The first exit request wins. */
	outb(e, DEBUG_EXIT_PORT, 1);
	assert_int_equal(e->vm.exit_code, 0x1234);
}

/* ------------------------------------------------------------------------ */
/* The real worker on KVM. */

#define DEF_RAW(name, guest, extra)					\
	"{\"name\": \"" name "\", \"memory\": {\"size_mib\": 64}, "	\
	"\"devices\": {\"debug_exit\": true}, " extra			\
	"\"os\": {\"loader\": \"raw\", \"kernel\": \"" WT_GUEST(guest)	\
	"\", \"load_address\": 4096}}"

/* Guests whose exit status, console and log line are all they tell. */
struct guest_case {
	const char *def;
	int status;
	const char *console;	/* exact; NULL: not checked */
	const char *logline;	/* in the log; NULL: not checked */
};

static const struct guest_case guest_cases[] = {
	{ DEF_RAW("uart", "dev_uart", ""), WORKER_DEBUG_EXIT_BASE,
	    "dev_uart: hello\nloop: L lsr 61 iir c1\n", NULL },
	/* THRE interrupts on IRQ 4 (OUT2 set) through the in-kernel PIC. */
	{ DEF_RAW("uartirq", "dev_uart_irq",
	    "\"features\": {\"irqchip\": true}, "), WORKER_DEBUG_EXIT_BASE,
	    "THRE-driven output\nuart irq: 14 iir c2\n", NULL },
	/* Writing 74 to 0x501: status 32 + (74 & 31) = 42. */
	{ DEF_RAW("dbgexit", "dev_exit", ""), 42, NULL,
	    "dbgexit: debug-exit (status 42): debug exit 74\n" },
	{ DEF_RAW("kbdreset", "dev_reset", ""), 10, "selftest 55\n",
	    "kbdreset: reboot (status 10): guest reset through the i8042\n" },
};

static void
test_guest_runs(void **state)
{
	const struct guest_case *c;
	struct wt_proc p;
	size_t i;

	(void)state;
	wt_require_worker();
	for (i = 0; i < sizeof(guest_cases) / sizeof(guest_cases[0]); i++) {
		c = &guest_cases[i];
		wt_run(&p, c->def, WT_TIMEOUT);
		WT_CHECK(&p, p.status == c->status);
		WT_CHECK(&p, c->console == NULL ||
		    strcmp(p.console, c->console) == 0);
		WT_CHECK(&p, c->logline == NULL ||
		    strstr(p.log, c->logline) != NULL);
		wt_cleanup(&p);
	}
}

/* "rtc: CCYY-MM-DD hh:mm:ss\n" as seconds since the epoch, or -1. */
static int64_t
parse_rtc_line(const char *s)
{
	struct tm tm;
	int n = 0;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "rtc: %4d-%2d-%2d %2d:%2d:%2d\n%n", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
	    &n) != 6 || n != 25)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm);
}

/* The guest's RTC reads the host's UTC time. */
static void
test_guest_rtc_read(void **state)
{
	struct wt_proc p;
	int64_t before, after, t;

	(void)state;
	wt_require_worker();
	before = (int64_t)time(NULL);
	wt_run(&p, DEF_RAW("rtc", "dev_rtc", ""), WT_TIMEOUT);
	after = (int64_t)time(NULL);
	WT_CHECK(&p, p.status == WORKER_DEBUG_EXIT_BASE);
	t = parse_rtc_line(p.console);
	WT_CHECK(&p, t != -1);
	WT_CHECK(&p, t >= before - 2 && t <= after + 2);
	WT_CHECK(&p, strcmp(p.console + 25,
	    "rtc: D=80 B=02 mem16=0300\n") == 0);
	wt_cleanup(&p);
}

#define CAD_UUID	"6b1c2f1e-0d0c-4c7e-9a55-2f4d3c2b1a00"
#define CAD_DEF								\
	DEF_RAW("cad", "dev_cad", "\"uuid\": \"" CAD_UUID "\", ")
#define CAD_CONSOLE	"cad: ready\ncad: 1d 38 e0 53 e0 d3 b8 9d\n"

/* One line from fd within timeout_ms, parsed; NULL on failure. */
static json_t *
read_json_line(int fd, unsigned int timeout_ms)
{
	char buf[4096];
	size_t n = 0;
	struct pollfd pfd = { fd, POLLIN, 0 };
	ssize_t r;

	while (n < sizeof(buf) - 1) {
		if (poll(&pfd, 1, (int)timeout_ms) != 1)
			return NULL;
		if ((r = read(fd, buf + n, 1)) != 1)
			return NULL;
		if (buf[n] == '\n')
			return json_loadb(buf, n, 0, NULL);
		n++;
	}
	return NULL;
}

/* Connect to the worker's control socket and take its hello: the fd. */
static int
ctl_connect(struct wt_proc *p, const char *uuid)
{
	struct sockaddr_un sun;
	json_t *msg;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	wt_sock_path(p, uuid, sun.sun_path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	WT_CHECK(p, connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	msg = read_json_line(fd, WT_TIMEOUT);
	WT_CHECK(p, msg != NULL);
	WT_CHECK(p, json_is_string(json_object_get(msg, "event")) &&
	    strcmp(json_string_value(json_object_get(msg, "event")),
	    "hello") == 0);
	json_decref(msg);
	return fd;
}

/*
 * Send one request line (with "id": id) and return the reply with that
 * id, skipping events; the caller frees it.  Fails the test on error.
 */
static json_t *
ctl_request(struct wt_proc *p, int fd, int id, const char *line)
{
	size_t len = strlen(line);
	json_t *msg;

	WT_CHECK(p, write(fd, line, len) == (ssize_t)len);
	for (;;) {
		msg = read_json_line(fd, WT_TIMEOUT);
		WT_CHECK(p, msg != NULL);
		if (json_integer_value(json_object_get(msg, "id")) == id)
			break;
		json_decref(msg);
	}
	WT_CHECK(p, json_is_true(json_object_get(msg, "ok")));
	return msg;
}

/*
 * {"cmd":"stop"} on the control socket sends Ctrl-Alt-Del; the guest
 * sees the set 1 sequence, prints it and ends itself.
 */
static void
test_guest_cad_control_socket(void **state)
{
	struct wt_proc p;
	json_t *msg;
	int fd;

	(void)state;
	wt_require_worker();
	wt_spawn(&p, CAD_DEF, NULL);
	WT_CHECK(&p, wt_console_wait(&p, "cad: ready\n", WT_TIMEOUT));
	fd = ctl_connect(&p, CAD_UUID);
	msg = ctl_request(&p, fd, 1, "{\"id\": 1, \"cmd\": \"stop\", "
	    "\"timeout_ms\": 5000}\n");
	WT_CHECK(&p, json_is_string(json_object_get(msg, "state")) &&
	    strcmp(json_string_value(json_object_get(msg, "state")),
	    "stopping") == 0);
	json_decref(msg);
	assert_int_equal(wt_wait(&p, WT_TIMEOUT), 0);
	close(fd);
	WT_CHECK(&p, p.status == WORKER_DEBUG_EXIT_BASE);
	WT_CHECK(&p, strcmp(p.console, CAD_CONSOLE) == 0);
	wt_cleanup(&p);
}

#define RX_UUID		"0c3d9a52-7f1b-4e07-8d6a-5b4c3a291800"

/*
 * Host input through the control socket into the UART, by interrupts:
 * three bytes below the trigger level come with the character time-out
 * (the worker's timer), fourteen at once with "data available".
 */
static void
test_guest_uart_rx_irq(void **state)
{
	struct wt_proc p;
	json_t *msg;
	int fd;

	(void)state;
	wt_require_worker();
	wt_spawn(&p, DEF_RAW("uartrx", "dev_uart_rx",
	    "\"uuid\": \"" RX_UUID "\", \"features\": {\"irqchip\": true}, "),
	    NULL);
	WT_CHECK(&p, wt_console_wait(&p, "rx: ready\n", WT_TIMEOUT));
	fd = ctl_connect(&p, RX_UUID);
	json_decref(ctl_request(&p, fd, 1, "{\"id\": 1, \"cmd\": "
	    "\"console_attach\", \"mode\": \"write\"}\n"));
	msg = ctl_request(&p, fd, 2, "{\"id\": 2, \"cmd\": "
	    "\"console_input\", \"data\": \"YWJj\"}\n");	/* abc */
	WT_CHECK(&p, json_integer_value(json_object_get(msg, "bytes")) == 3);
	json_decref(msg);
	WT_CHECK(&p, wt_console_wait(&p, "rx: iir cc data abc\n", WT_TIMEOUT));
	/* "0123456789abcd" */
	json_decref(ctl_request(&p, fd, 3, "{\"id\": 3, \"cmd\": "
	    "\"console_input\", \"data\": \"MDEyMzQ1Njc4OWFiY2Q=\"}\n"));
	assert_int_equal(wt_wait(&p, WT_TIMEOUT), 0);
	close(fd);
	WT_CHECK(&p, p.status == WORKER_DEBUG_EXIT_BASE);
	WT_CHECK(&p, strcmp(p.console, "rx: ready\nrx: iir cc data abc\n"
	    "rx: iir c4 data 0123456789abcd\n") == 0);
	wt_cleanup(&p);
}

/* SIGTERM is a graceful stop too: the same Ctrl-Alt-Del. */
static void
test_guest_cad_sigterm(void **state)
{
	struct wt_proc p;

	(void)state;
	wt_require_worker();
	wt_spawn(&p, CAD_DEF, NULL);
	WT_CHECK(&p, wt_console_wait(&p, "cad: ready\n", WT_TIMEOUT));
	assert_int_equal(kill(p.pid, SIGTERM), 0);
	assert_int_equal(wt_wait(&p, WT_TIMEOUT), 0);
	WT_CHECK(&p, p.status == WORKER_DEBUG_EXIT_BASE);
	WT_CHECK(&p, strcmp(p.console, CAD_CONSOLE) == 0);
	wt_cleanup(&p);
}

/*
 * Eight periodic interrupts at 64 Hz through the in-kernel PIC: not
 * sooner than seven periods (109 ms), and each found IRQF and PF.
 */
static void
test_guest_rtc_periodic_irq(void **state)
{
	struct timespec t0, t1;
	struct wt_proc p;
	double secs;

	(void)state;
	wt_require_worker();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	wt_run(&p, DEF_RAW("rtcirq", "dev_rtc_irq",
	    "\"features\": {\"irqchip\": true}, "), WT_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	WT_CHECK(&p, p.status == WORKER_DEBUG_EXIT_BASE + 8);
	WT_CHECK(&p, strcmp(p.console, "rtc irq: 08 c=c0\n") == 0);
	WT_CHECK(&p, secs >= 7.0 / 64 && secs < 5.0);
	wt_cleanup(&p);
}

int
main(void)
{
#define T(f)	cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
	const struct CMUnitTest tests[] = {
		T(test_uart_reset_values),
		T(test_uart_divisor_latch),
		T(test_uart_output),
		T(test_uart_wide_access),
		T(test_uart_loopback),
		T(test_uart_fifo_trigger_levels),
		T(test_uart_char_timeout),
		T(test_uart_iir_priorities),
		T(test_uart_fifo_clear),
		T(test_uart_device_reset),
		T(test_i8042_controller),
		T(test_i8042_keyboard_commands),
		T(test_i8042_cad_sequences),
		T(test_i8042_cad_held_or_lost),
		cmocka_unit_test(test_i8042_reset_line),
		T(test_i8042_port_b),
		cmocka_unit_test(test_i8042_port_b_in_kernel_pit),
		T(test_rtc_formats),
		cmocka_unit_test(test_rtc_12h_hours),
		T(test_rtc_running_and_uip),
		T(test_rtc_set_time),
		T(test_rtc_bad_values),
		T(test_rtc_alarm),
		T(test_rtc_periodic_and_divider),
		T(test_rtc_nvram),
		cmocka_unit_test(test_rtc_cmos_memory),
		T(test_rtc_device_reset),
		T(test_debug_exit_unit),
		cmocka_unit_test(test_guest_runs),
		cmocka_unit_test(test_guest_uart_rx_irq),
		cmocka_unit_test(test_guest_rtc_read),
		cmocka_unit_test(test_guest_cad_control_socket),
		cmocka_unit_test(test_guest_cad_sigterm),
		cmocka_unit_test(test_guest_rtc_periodic_irq),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
