/*
 * uart_16550.c: a National PC16550D UART (the PC's COM port), the guest's
 * serial console.  Transmitted bytes go to the console at once (the
 * transmitter is infinitely fast: THR and the transmitter are always empty
 * again by the time the guest looks); host input from the console fills
 * the receiver.  Register behaviour and interrupts follow the PC16550D
 * datasheet's "Registers" section: IER, IIR with its priorities, FCR
 * with the 16-byte receive FIFO and its trigger levels, the character
 * time-out, LCR with the divisor latch, MCR with loopback, LSR, MSR, SCR.
 *
 * The receiver is a ring of UART_RX_MAX bytes: its first 16 bytes (1 byte
 * with the FIFOs off) are the chip's receive FIFO (or RBR), the rest is
 * host input that the far end has not yet "sent", which moves into the
 * FIFO as the guest reads.  Pasting into a polling guest thus loses
 * nothing; only a full ring drops bytes and sets the overrun bit.
 *
 * Interrupts: the IRQ line is the chip's INTR output gated by OUT2, as on
 * the PC (and OUT2 is forced inactive in loopback mode: datasheet, "Modem
 * Control Register").  The character time-out interrupt needs a timer; it
 * runs on the main loop and is (re)armed there, through vm_defer from
 * vcpu threads.
 *
 * Locking: u->lock guards every register and the ring; the IRQ line and
 * the console are driven under it, so that their order follows the
 * guest's accesses.  Called on vcpu threads (bus accesses) and the main
 * thread (input, timer, reset).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

#define UART_NREGS		8
#define UART_FIFO_SIZE		16
#define UART_RX_MAX		4096	/* receive ring: FIFO plus backlog */
#define UART_CLOCK_HZ		115200	/* the PC's 1.8432 MHz / 16 */
#define UART_DIVISOR_RESET	12	/* 9600 baud until programmed */

/* Register offsets (DLAB = LCR bit 7 selects DLL/DLM at 0 and 1). */
enum uart_reg {
	UART_RBR_THR, UART_IER, UART_IIR_FCR, UART_LCR, UART_MCR, UART_LSR,
	UART_MSR, UART_SCR
};

#define IER_RDI		0x01	/* received data available, time-out */
#define IER_THRI	0x02	/* transmitter holding register empty */
#define IER_RLSI	0x04	/* receiver line status */
#define IER_MSI		0x08	/* modem status */
#define IER_MASK	0x0F

/* IIR interrupt identification, highest priority first (datasheet, IIR). */
#define IIR_NO_INT	0x01
#define IIR_RLS		0x06
#define IIR_RDI		0x04
#define IIR_CTI		0x0C
#define IIR_THRI	0x02
#define IIR_MSI		0x00
#define IIR_FIFO_ON	0xC0

#define FCR_ENABLE	0x01
#define FCR_CLEAR_RX	0x02
#define FCR_CLEAR_TX	0x04
#define FCR_DMA		0x08
#define FCR_TRIGGER	0xC0
#define FCR_KEPT	(FCR_ENABLE | FCR_DMA | FCR_TRIGGER)

#define LCR_DLAB	0x80
#define LCR_PARITY	0x08
#define LCR_STOP	0x04
#define LCR_WLEN	0x03

#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define MCR_MASK	0x1F

#define LSR_DR		0x01
#define LSR_OE		0x02
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

#define MSR_DCTS	0x01
#define MSR_DDSR	0x02
#define MSR_TERI	0x04
#define MSR_DDCD	0x08
#define MSR_CTS		0x10
#define MSR_DSR		0x20
#define MSR_RI		0x40
#define MSR_DCD		0x80
/* The far end of our console is always there and ready. */
#define MSR_CONNECTED	(MSR_DCD | MSR_DSR | MSR_CTS)

struct uart {
	struct vm *vm;
	pthread_mutex_t lock;
	unsigned int irq;
	int irq_level;			/* what the line was last set to */

	uint8_t ier, fcr, lcr, mcr, scr;
	uint16_t divisor;
	uint8_t lsr_err;		/* OE, latched until LSR is read */
	uint8_t msr_delta;		/* MSR bits 0-3, until MSR is read */
	bool thre_pending;		/* THRE interrupt latched */
	uint8_t rbr;			/* last byte read, again when empty */

	uint8_t rx[UART_RX_MAX];
	unsigned int rx_head, rx_count;
	int64_t rx_last_ns;		/* last byte into or out of the FIFO */

	/* Character time-out timer: main thread only, made when needed. */
	uv_timer_t *timer;
	int64_t timer_due;		/* when it fires, 0: idle; under lock */
	bool kick_pending;		/* a uart_kick is queued (under lock) */
};

typedef uint8_t uart_read_fn(struct uart *);
typedef void uart_write_fn(struct uart *, uint8_t);

static void uart_kick(void *arg);

/* ------------------------------------------------------------------------ */
/* State helpers; all with u->lock held. */

static bool
uart_fifo_on(const struct uart *u)
{
	return (u->fcr & FCR_ENABLE) != 0;
}

/* Bytes the guest can see in the receive FIFO (or RBR). */
static unsigned int
uart_rx_visible(const struct uart *u)
{
	unsigned int cap = uart_fifo_on(u) ? UART_FIFO_SIZE : 1;

	return u->rx_count < cap ? u->rx_count : cap;
}

/* The receive FIFO trigger level (FCR bits 6-7; 1 without FIFOs). */
static unsigned int
uart_trigger(const struct uart *u)
{
	static const unsigned int level[4] = { 1, 4, 8, 14 };

	if (!uart_fifo_on(u))
		return 1;
	return level[(u->fcr & FCR_TRIGGER) >> 6];
}

/*
 * Four character times at the programmed rate and frame (start bit, data
 * bits, parity, stop bits): the receive FIFO time-out (datasheet, "FIFO
 * Interrupt Mode Operation").
 * A zero divisor counts as 65536, the slowest rate.
 */
static int64_t
uart_timeout_ns(const struct uart *u)
{
	int64_t div = u->divisor != 0 ? u->divisor : 65536;
	int64_t bits;

	bits = 1 + 5 + (u->lcr & LCR_WLEN) + ((u->lcr & LCR_PARITY) ? 1 : 0) +
	    ((u->lcr & LCR_STOP) ? 2 : 1);
	return 4 * bits * div * 1000000000LL / UART_CLOCK_HZ;
}

/*
 * When the character time-out interrupt is due (0: it cannot come): FIFO
 * mode, data below the trigger level and receive interrupts enabled.
 */
static int64_t
uart_cti_due(const struct uart *u)
{
	unsigned int n = uart_rx_visible(u);

	if (!uart_fifo_on(u) || (u->ier & IER_RDI) == 0 || n == 0 ||
	    n >= uart_trigger(u))
		return 0;
	return u->rx_last_ns + uart_timeout_ns(u);
}

/* The modem inputs: the far end, or our own outputs in loopback. */
static uint8_t
uart_msr_inputs(const struct uart *u)
{
	uint8_t in = 0;

	if ((u->mcr & MCR_LOOP) == 0)
		return MSR_CONNECTED;
	if (u->mcr & MCR_RTS)
		in |= MSR_CTS;
	if (u->mcr & MCR_DTR)
		in |= MSR_DSR;
	if (u->mcr & MCR_OUT1)
		in |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		in |= MSR_DCD;
	return in;
}

/* The pending interrupt of highest priority (IIR bits 0-3). */
static uint8_t
uart_iir_id(const struct uart *u, int64_t now)
{
	int64_t due;

	if ((u->ier & IER_RLSI) && (u->lsr_err & LSR_OE))
		return IIR_RLS;
	if ((u->ier & IER_RDI) && u->rx_count > 0 &&
	    uart_rx_visible(u) >= uart_trigger(u))
		return IIR_RDI;
	if ((due = uart_cti_due(u)) != 0 && now >= due)
		return IIR_CTI;
	if ((u->ier & IER_THRI) && u->thre_pending)
		return IIR_THRI;
	if ((u->ier & IER_MSI) && u->msr_delta != 0)
		return IIR_MSI;
	return IIR_NO_INT;
}

/*
 * Drive the IRQ line from the interrupt state, and make sure a character
 * time-out still to come has its timer: on the main thread (on_loop) the
 * caller arms it, otherwise a uart_kick is queued.
 */
static void
uart_update(struct uart *u, bool on_loop)
{
	int64_t now = vm_now_ns(), due;
	int level;

	level = uart_iir_id(u, now) != IIR_NO_INT &&
	    (u->mcr & (MCR_OUT2 | MCR_LOOP)) == MCR_OUT2;
	if (level != u->irq_level) {
		u->irq_level = level;
		vm_irq_line(u->vm, u->irq, level);
	}
	due = uart_cti_due(u);
	if (on_loop || u->kick_pending || due <= now ||
	    (u->timer_due != 0 && u->timer_due <= due))
		return;
	if (vm_defer(u->vm, uart_kick, u) == 0)
		u->kick_pending = true;
	else
		log_warnx("uart: cannot schedule the receive time-out");
}

static void
uart_rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

static void
uart_rx_push(struct uart *u, uint8_t b)
{
	u->rx[(u->rx_head + u->rx_count) % UART_RX_MAX] = b;
	u->rx_count++;
}

/*
 * A byte the guest sent to itself in loopback mode.  The FIFO (or RBR)
 * is all the room there is: when full, the byte is lost in FIFO mode and
 * overwrites RBR without FIFOs; both set OE (datasheet, LSR bit 1).
 */
static void
uart_loop_byte(struct uart *u, uint8_t b)
{
	unsigned int cap = uart_fifo_on(u) ? UART_FIFO_SIZE : 1;

	u->rx_last_ns = vm_now_ns();
	if (u->rx_count < cap) {
		uart_rx_push(u, b);
		return;
	}
	u->lsr_err |= LSR_OE;
	if (!uart_fifo_on(u))
		u->rx[(u->rx_head + u->rx_count - 1) % UART_RX_MAX] = b;
}

/* Set MCR and latch the modem status changes it causes in loopback. */
static void
uart_set_mcr(struct uart *u, uint8_t mcr)
{
	uint8_t before = uart_msr_inputs(u), after, changed;

	u->mcr = mcr & MCR_MASK;
	after = uart_msr_inputs(u);
	changed = before ^ after;
	if (changed & MSR_CTS)
		u->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		u->msr_delta |= MSR_DDSR;
	if ((before & MSR_RI) && !(after & MSR_RI))
		u->msr_delta |= MSR_TERI;
	if (changed & MSR_DCD)
		u->msr_delta |= MSR_DDCD;
}

/* ------------------------------------------------------------------------ */
/* Registers, one function each (lock held). */

static uint8_t
uart_rd_rbr(struct uart *u)
{
	if (u->lcr & LCR_DLAB)
		return u->divisor & 0xFF;
	if (u->rx_count > 0) {
		u->rbr = u->rx[u->rx_head];
		u->rx_head = (u->rx_head + 1) % UART_RX_MAX;
		u->rx_count--;
		u->rx_last_ns = vm_now_ns();
	}
	return u->rbr;
}

static void
uart_wr_thr(struct uart *u, uint8_t v)
{
	if (u->lcr & LCR_DLAB) {
		u->divisor = (u->divisor & 0xFF00) | v;
		return;
	}
	if (u->mcr & MCR_LOOP)
		uart_loop_byte(u, v);
	else if (u->vm->console != NULL)
		console_output(u->vm->console, &v, 1);
	/* Sent at once: THR is empty again, which is an interrupt. */
	u->thre_pending = true;
}

static uint8_t
uart_rd_ier(struct uart *u)
{
	if (u->lcr & LCR_DLAB)
		return u->divisor >> 8;
	return u->ier;
}

static void
uart_wr_ier(struct uart *u, uint8_t v)
{
	uint8_t old = u->ier;

	if (u->lcr & LCR_DLAB) {
		u->divisor = (uint16_t)((u->divisor & 0x00FF) | (v << 8));
		return;
	}
	u->ier = v & IER_MASK;
	/* Enabling THRI with THR empty interrupts at once (Linux checks). */
	if ((u->ier & IER_THRI) && !(old & IER_THRI))
		u->thre_pending = true;
}

/* Reading IIR while it reports THRE clears that interrupt. */
static uint8_t
uart_rd_iir(struct uart *u)
{
	uint8_t id = uart_iir_id(u, vm_now_ns());

	if (id == IIR_THRI)
		u->thre_pending = false;
	return id | (uart_fifo_on(u) ? IIR_FIFO_ON : 0);
}

/*
 * FCR: FIFO enable must be set for the other bits to count; turning the
 * FIFOs on or off clears them (datasheet, "FIFO Control Register").  The
 * transmit FIFO is always empty, so clearing it changes nothing.
 */
static void
uart_wr_fcr(struct uart *u, uint8_t v)
{
	if ((v & FCR_ENABLE) == 0) {
		if (uart_fifo_on(u))
			uart_rx_clear(u);
		u->fcr = 0;
		return;
	}
	if (!uart_fifo_on(u) || (v & FCR_CLEAR_RX))
		uart_rx_clear(u);
	u->fcr = v & FCR_KEPT;
}

static uint8_t
uart_rd_lcr(struct uart *u)
{
	return u->lcr;
}

static void
uart_wr_lcr(struct uart *u, uint8_t v)
{
	u->lcr = v;
}

static uint8_t
uart_rd_mcr(struct uart *u)
{
	return u->mcr;
}

static void
uart_wr_mcr(struct uart *u, uint8_t v)
{
	uart_set_mcr(u, v);
}

/* LSR: reading clears the overrun bit (and its interrupt). */
static uint8_t
uart_rd_lsr(struct uart *u)
{
	uint8_t v = LSR_THRE | LSR_TEMT | u->lsr_err;

	if (u->rx_count > 0)
		v |= LSR_DR;
	u->lsr_err = 0;
	return v;
}

/* MSR: reading clears the delta bits (and the modem status interrupt). */
static uint8_t
uart_rd_msr(struct uart *u)
{
	uint8_t v = uart_msr_inputs(u) | u->msr_delta;

	u->msr_delta = 0;
	return v;
}

static uint8_t
uart_rd_scr(struct uart *u)
{
	return u->scr;
}

static void
uart_wr_scr(struct uart *u, uint8_t v)
{
	u->scr = v;
}

/* LSR and MSR writes are the factory test mode: ignored. */
static void
uart_wr_ignore(struct uart *u, uint8_t v)
{
}

static uart_read_fn *const uart_rd[UART_NREGS] = {
	[UART_RBR_THR] = uart_rd_rbr,
	[UART_IER] = uart_rd_ier,
	[UART_IIR_FCR] = uart_rd_iir,
	[UART_LCR] = uart_rd_lcr,
	[UART_MCR] = uart_rd_mcr,
	[UART_LSR] = uart_rd_lsr,
	[UART_MSR] = uart_rd_msr,
	[UART_SCR] = uart_rd_scr,
};

static uart_write_fn *const uart_wr[UART_NREGS] = {
	[UART_RBR_THR] = uart_wr_thr,
	[UART_IER] = uart_wr_ier,
	[UART_IIR_FCR] = uart_wr_fcr,
	[UART_LCR] = uart_wr_lcr,
	[UART_MCR] = uart_wr_mcr,
	[UART_LSR] = uart_wr_ignore,
	[UART_MSR] = uart_wr_ignore,
	[UART_SCR] = uart_wr_scr,
};

/*
 * The bus handler.  The UART is an 8-bit ISA device: a wider access is
 * split into byte accesses at consecutive ports, and bytes beyond the
 * eight registers read as all ones and are dropped.  Vcpu threads.
 */
static void
uart_access(void *dev, uint64_t off, uint8_t *data, unsigned int size,
    bool write)
{
	struct uart *u = dev;
	unsigned int i;

	pthread_mutex_lock(&u->lock);
	for (i = 0; i < size; i++) {
		if (off >= UART_NREGS || i >= UART_NREGS - off) {
			if (!write)
				data[i] = 0xFF;
			continue;
		}
		if (write)
			uart_wr[off + i](u, data[i]);
		else
			data[i] = uart_rd[off + i](u);
	}
	uart_update(u, false);
	pthread_mutex_unlock(&u->lock);
}

/* ------------------------------------------------------------------------ */
/* The main thread's side: host input, the time-out timer, reset. */

static void uart_timer_locked(struct uart *u);

static void
uart_timer_cb(uv_timer_t *t)
{
	struct uart *u = t->data;

	pthread_mutex_lock(&u->lock);
	u->timer_due = 0;
	uart_update(u, true);
	uart_timer_locked(u);
	pthread_mutex_unlock(&u->lock);
}

/* Arm or stop the time-out timer for the current state (lock held). */
static void
uart_timer_locked(struct uart *u)
{
	int64_t due = uart_cti_due(u), now = vm_now_ns();

	if (due == 0 || due <= now) {
		if (u->timer != NULL)
			uv_timer_stop(u->timer);
		u->timer_due = 0;
		return;
	}
	if (u->timer == NULL) {
		if ((u->timer = malloc(sizeof(*u->timer))) == NULL) {
			log_warnx("uart: no memory for the receive timer");
			return;
		}
		uv_timer_init(vm_loop(u->vm), u->timer);
		u->timer->data = u;
	}
	/* libuv counts milliseconds: round up, the callback re-checks. */
	uv_timer_start(u->timer, uart_timer_cb,
	    (uint64_t)(due - now + 999999) / 1000000, 0);
	u->timer_due = due;
}

static void
uart_kick(void *arg)
{
	struct uart *u = arg;

	pthread_mutex_lock(&u->lock);
	u->kick_pending = false;
	uart_update(u, true);
	uart_timer_locked(u);
	pthread_mutex_unlock(&u->lock);
}

/* Host input (the console's input function), main thread. */
static void
uart_input(void *dev, const uint8_t *buf, size_t len)
{
	struct uart *u = dev;
	size_t i, dropped = 0;

	pthread_mutex_lock(&u->lock);
	/* In loopback the receiver is cut off from the line (MCR bit 4). */
	if (u->mcr & MCR_LOOP) {
		pthread_mutex_unlock(&u->lock);
		log_debug("uart: %zu input bytes dropped in loopback", len);
		return;
	}
	for (i = 0; i < len; i++) {
		if (u->rx_count == UART_RX_MAX) {
			dropped = len - i;
			u->lsr_err |= LSR_OE;
			break;
		}
		uart_rx_push(u, buf[i]);
	}
	if (len > dropped)
		u->rx_last_ns = vm_now_ns();
	uart_update(u, true);
	uart_timer_locked(u);
	pthread_mutex_unlock(&u->lock);
	if (dropped != 0)
		log_debug("uart: receive buffer full, %zu bytes dropped",
		    dropped);
}

/* Power-on state (datasheet, "UART Reset Configuration"), lock held. */
static void
uart_reset_locked(struct uart *u)
{
	u->ier = 0;
	u->fcr = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->scr = 0;
	u->divisor = UART_DIVISOR_RESET;
	u->lsr_err = 0;
	u->msr_delta = 0;
	u->thre_pending = false;
	u->rbr = 0;
	uart_rx_clear(u);
	if (u->irq_level != 0) {
		u->irq_level = 0;
		vm_irq_line(u->vm, u->irq, 0);
	}
	if (u->timer != NULL)
		uv_timer_stop(u->timer);
	u->timer_due = 0;
}

static void
uart_reset(void *dev)
{
	struct uart *u = dev;

	pthread_mutex_lock(&u->lock);
	uart_reset_locked(u);
	pthread_mutex_unlock(&u->lock);
}

static void
uart_timer_free(uv_handle_t *h)
{
	free(h);
}

/*
 * Teardown, after the loop has stopped: the timer handle is closed and
 * freed by its close callback should the loop ever run again.
 */
static void
uart_destroy(void *dev)
{
	struct uart *u = dev;

	if (u->timer != NULL)
		uv_close((uv_handle_t *)u->timer, uart_timer_free);
	if (u->vm->uart == u)
		u->vm->uart = NULL;
	pthread_mutex_destroy(&u->lock);
	free(u);
}

static const struct vm_device_ops uart_ops = {
	.name = "uart",
	.reset = uart_reset,
	.destroy = uart_destroy,
};

int
uart_create(struct vm *vm, uint16_t port, unsigned int irq)
{
	struct uart *u;
	int error;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -ENOMEM;
	u->vm = vm;
	u->irq = irq;
	pthread_mutex_init(&u->lock, NULL);
	uart_reset_locked(u);
	if ((error = vm_device_add(vm, &uart_ops, u)) != 0) {
		pthread_mutex_destroy(&u->lock);
		free(u);
		return error;
	}
	/* Owned by the device list from here: vm_fini frees it. */
	vm->uart = u;
	if ((error = bus_register(vm, BUS_PIO, port, UART_NREGS, "uart",
	    uart_access, u)) != 0)
		return error;
	if (vm->console != NULL)
		console_set_input(vm->console, uart_input, u);
	return 0;
}
