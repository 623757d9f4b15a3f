/*
 * rtc_mc146818.c: the PC's real-time clock and CMOS RAM, a Motorola
 * MC146818A at ports 0x70 (index, with the NMI mask in bit 7) and 0x71
 * (data), interrupting on IRQ 8.  The clock starts at the host's UTC time
 * and then keeps the time the guest sets; the 114 bytes of NVRAM carry the
 * memory size in the locations PC firmware and QEMU use.
 *
 * Time is computed, not counted: the divider's second boundaries are at
 * phase_ns + k seconds of the monotonic clock, and the guest's time at
 * boundary k is base_sec + k.  Reading a time register latches the current
 * time into the registers in the format register B asks for (BCD or
 * binary, 12 or 24 hours); while SET is on or the divider is stopped the
 * registers hold still and keep what the guest writes.  The flags of
 * register C (periodic, alarm, update-ended) are brought up to date at
 * every access from the time elapsed, so a polling guest needs no timer;
 * a timer on the main loop runs only while an enabled interrupt is still
 * to come (and IRQF is clear), and raises IRQ 8 on time.  As on the chip,
 * PF, AF and UF are set whatever the enable bits say; IRQF needs both.
 *
 * Simplifications: the update cycle takes no time, so UIP is set only in
 * the 244 us before it and the time registers are never half updated;
 * divider settings 000 and 001 (other crystals) run like 010.  The timer
 * counts milliseconds, so periodic interrupts faster than 1 kHz come at
 * most about once per millisecond: edges in between merge into one PF,
 * as they do on the chip for a guest that reads C late.
 *
 * Datasheet references are to the Motorola MC146818A data sheet: "Update
 * cycle", "Register A-D", "Interrupts", "Periodic interrupt".
 *
 * Locking: r->lock guards all state; bus accesses come from vcpu threads,
 * the timer from the main thread.  Register writes that change when the
 * next interrupt is due re-arm the timer through vm_defer.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker.h"

#define RTC_PORT		0x70
#define RTC_IRQ			8
#define RTC_NREGS		128

#define NS_PER_SEC		1000000000LL
#define SEC_PER_DAY		86400LL
#define RTC_HZ			32768	/* the time base (DV = 010) */
/* UIP is set this long before each update: 244 us (register A, UIP). */
#define RTC_UIP_NS		(8 * NS_PER_SEC / RTC_HZ)
/* Leaving divider reset, the first update comes after half a second. */
#define RTC_DIV_START_NS	(NS_PER_SEC / 2)

enum rtc_reg {
	REG_SEC, REG_SEC_ALARM, REG_MIN, REG_MIN_ALARM, REG_HOUR,
	REG_HOUR_ALARM, REG_WDAY, REG_MDAY, REG_MONTH, REG_YEAR,
	REG_A, REG_B, REG_C, REG_D,
	REG_CENTURY = 0x32,	/* IBM PC/AT CMOS layout, ACPI FADT century */
};

#define A_UIP		0x80
#define A_DV		0x70
#define A_DV_32K	0x20
#define A_RS		0x0F
#define A_RESET		0x26	/* 32.768 kHz, 1024 Hz periodic rate */

#define B_SET		0x80
#define B_PIE		0x40
#define B_AIE		0x20
#define B_UIE		0x10
#define B_SQWE		0x08
#define B_DM_BINARY	0x04
#define B_24H		0x02
#define B_RESET		B_24H	/* BCD, 24 hours */

#define C_IRQF		0x80
#define C_PF		0x40
#define C_AF		0x20
#define C_UF		0x10
#define C_FLAGS		(C_PF | C_AF | C_UF)	/* line up with B's enables */

#define D_VRT		0x80	/* the battery is fine */

#define ALARM_ANY	0xC0	/* "don't care" alarm values: 11xxxxxx */

/* CMOS locations of the PC/AT and its successors (QEMU, SeaBIOS). */
#define CMOS_EQUIPMENT		0x14
#define CMOS_BASE_KB		0x15	/* and 0x16 */
#define CMOS_EXT_KB		0x17	/* and 0x18 */
#define CMOS_EXT_KB2		0x30	/* and 0x31 */
#define CMOS_MEM_16M		0x34	/* and 0x35, 64 KiB units */
#define CMOS_MEM_4G		0x5B	/* 0x5B-0x5D, 64 KiB units */
#define CMOS_CPUS		0x5F	/* vcpus - 1 */
#define EQUIPMENT_FPU		0x02

struct rtc {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t index;			/* selected register, 0-127 */
	bool nmi_masked;		/* index bit 7; we raise no NMIs */
	uint8_t cmos[RTC_NREGS];
	int irq_level;

	rtc_clock_fn *clock;
	void *clock_arg;
	int64_t phase_ns;		/* a divider second boundary */
	int64_t base_sec;		/* guest time at phase_ns */
	int64_t last_sec;		/* UF and AF are done up to here */
	int64_t pf_seen;		/* periodic edges counted since phase */

	/* Main thread only, made when needed. */
	uv_timer_t *timer;
	int64_t timer_due;		/* monotonic; 0: idle (under lock) */
	bool kick_pending;		/* an rtc_kick is queued (under lock) */
	bool dirty;			/* the next interrupt may have moved */
};

typedef uint8_t rtc_read_fn(struct rtc *, unsigned int reg, int64_t now);
typedef void rtc_write_fn(struct rtc *, unsigned int reg, uint8_t v,
    int64_t now);

static void rtc_kick(void *arg);

/* ------------------------------------------------------------------------ */
/* Arithmetic: floor division, the proleptic Gregorian calendar. */

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t
floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

/* Days since 1970-01-01 of y-m-d, m in 1-12, d in 1-31 (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned int m, unsigned int d)
{
	int64_t era;
	unsigned int yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = (unsigned int)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned int *m, unsigned int *d)
{
	int64_t era;
	unsigned int doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = (unsigned int)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned int
clampu(unsigned int v, unsigned int lo, unsigned int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* ------------------------------------------------------------------------ */
/* Register formats (register B: DM and 24/12). */

static uint8_t
rtc_to_reg(const struct rtc *r, unsigned int v)
{
	v %= 100;
	if (r->cmos[REG_B] & B_DM_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* Any byte decodes to something; callers clamp the result. */
static unsigned int
rtc_from_reg(const struct rtc *r, uint8_t b)
{
	if (r->cmos[REG_B] & B_DM_BINARY)
		return b;
	return (b >> 4) * 10 + (b & 0x0F);
}

/* 12-hour format: 1-12, bit 7 set for PM (register B, 24/12). */
static uint8_t
rtc_hour_to_reg(const struct rtc *r, unsigned int h)
{
	unsigned int h12;

	if (r->cmos[REG_B] & B_24H)
		return rtc_to_reg(r, h);
	h12 = h % 12 == 0 ? 12 : h % 12;
	return rtc_to_reg(r, h12) | (h >= 12 ? 0x80 : 0);
}

static unsigned int
rtc_hour_from_reg(const struct rtc *r, uint8_t b)
{
	if (r->cmos[REG_B] & B_24H)
		return rtc_from_reg(r, b);
	return rtc_from_reg(r, b & 0x7F) % 12 + ((b & 0x80) ? 12 : 0);
}

/* ------------------------------------------------------------------------ */
/* The clock (lock held). */

static int64_t
rtc_mono(const struct rtc *r)
{
	return r->clock(r->clock_arg, CLOCK_MONOTONIC);
}

/* The divider runs (DV = 000, 001, 010); 11x holds it in reset. */
static bool
rtc_div_running(const struct rtc *r)
{
	return (r->cmos[REG_A] & A_DV) <= A_DV_32K;
}

/* The time advances: divider running and SET off. */
static bool
rtc_clock_running(const struct rtc *r)
{
	return rtc_div_running(r) && (r->cmos[REG_B] & B_SET) == 0;
}

static int64_t
rtc_guest_sec(const struct rtc *r, int64_t now)
{
	return r->base_sec + floor_div(now - r->phase_ns, NS_PER_SEC);
}

/* Divider ticks (1/32768 s) since the phase, without overflow. */
static int64_t
rtc_ticks(const struct rtc *r, int64_t now)
{
	int64_t d = now - r->phase_ns;

	return floor_div(d, NS_PER_SEC) * RTC_HZ +
	    floor_mod(d, NS_PER_SEC) * RTC_HZ / NS_PER_SEC;
}

/* Monotonic time of divider tick t (rounded up). */
static int64_t
rtc_tick_ns(const struct rtc *r, int64_t t)
{
	return r->phase_ns + floor_div(t, RTC_HZ) * NS_PER_SEC +
	    (floor_mod(t, RTC_HZ) * NS_PER_SEC + RTC_HZ - 1) / RTC_HZ;
}

/*
 * The periodic interrupt's period in divider ticks for rate select rs
 * (register A): 0 none, 1 and 2 are 256 and 128 Hz, 3-15 are 8192 Hz
 * down to 2 Hz (datasheet, "Periodic interrupt rate").
 */
static int64_t
rtc_period_ticks(const struct rtc *r)
{
	unsigned int rs = r->cmos[REG_A] & A_RS;

	if (rs == 0)
		return 0;
	return rs <= 2 ? 1LL << (rs + 6) : 1LL << (rs - 1);
}

/* Periodic edges since the phase; counting restarts with the rate. */
static int64_t
rtc_pf_edges(const struct rtc *r, int64_t now)
{
	int64_t p = rtc_period_ticks(r);

	return p == 0 ? 0 : floor_div(rtc_ticks(r, now), p);
}

/* Put the current time into the time registers. */
static void
rtc_latch(struct rtc *r, int64_t now)
{
	int64_t s = rtc_guest_sec(r, now), days, tod, y;
	unsigned int m, d;

	days = floor_div(s, SEC_PER_DAY);
	tod = s - days * SEC_PER_DAY;
	civil_from_days(days, &y, &m, &d);
	r->cmos[REG_SEC] = rtc_to_reg(r, (unsigned int)(tod % 60));
	r->cmos[REG_MIN] = rtc_to_reg(r, (unsigned int)(tod / 60 % 60));
	r->cmos[REG_HOUR] = rtc_hour_to_reg(r, (unsigned int)(tod / 3600));
	r->cmos[REG_WDAY] = rtc_to_reg(r,
	    (unsigned int)floor_mod(days + 4, 7) + 1);	/* 1970-01-01: Thu */
	r->cmos[REG_MDAY] = rtc_to_reg(r, d);
	r->cmos[REG_MONTH] = rtc_to_reg(r, m);
	r->cmos[REG_YEAR] = rtc_to_reg(r, (unsigned int)floor_mod(y, 100));
	r->cmos[REG_CENTURY] = rtc_to_reg(r,
	    (unsigned int)floor_mod(floor_div(y, 100), 100));
}

/*
 * The time the registers say, in seconds since the epoch.  Out-of-range
 * fields are clamped (a day past the month's end rolls over), so any
 * bytes give a time in years 0-9999.  The weekday register is ignored.
 */
static int64_t
rtc_decode(const struct rtc *r)
{
	unsigned int sec, min, hour, mday, mon, year;

	sec = clampu(rtc_from_reg(r, r->cmos[REG_SEC]), 0, 59);
	min = clampu(rtc_from_reg(r, r->cmos[REG_MIN]), 0, 59);
	hour = clampu(rtc_hour_from_reg(r, r->cmos[REG_HOUR]), 0, 23);
	mday = clampu(rtc_from_reg(r, r->cmos[REG_MDAY]), 1, 31);
	mon = clampu(rtc_from_reg(r, r->cmos[REG_MONTH]), 1, 12);
	year = clampu(rtc_from_reg(r, r->cmos[REG_YEAR]), 0, 99) +
	    100 * clampu(rtc_from_reg(r, r->cmos[REG_CENTURY]), 0, 99);
	return days_from_civil(year, mon, mday) * SEC_PER_DAY +
	    hour * 3600 + min * 60 + sec;
}

/*
 * The clock continues from the time in the registers, keeping the
 * divider's phase: the guest second that began at the last boundary is
 * the one the registers hold.
 */
static void
rtc_set_from_regs(struct rtc *r, int64_t now)
{
	int64_t s = rtc_decode(r);

	r->base_sec = s - floor_div(now - r->phase_ns, NS_PER_SEC);
	r->last_sec = s;
}

/* Start from the host's wall clock, in phase with its seconds. */
static void
rtc_time_init(struct rtc *r)
{
	int64_t wall = r->clock(r->clock_arg, CLOCK_REALTIME);
	int64_t now = rtc_mono(r);

	r->phase_ns = now - floor_mod(wall, NS_PER_SEC);
	r->base_sec = floor_div(wall, NS_PER_SEC);
	r->last_sec = rtc_guest_sec(r, now);
	r->pf_seen = rtc_pf_edges(r, now);
	if (!rtc_clock_running(r))
		rtc_latch(r, now);
}

static int64_t
rtc_host_clock(void *arg, clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* Alarm and flags (lock held). */

static bool
rtc_alarm_match(uint8_t alarm, uint8_t now)
{
	return (alarm & ALARM_ANY) == ALARM_ANY || alarm == now;
}

/*
 * The first second after s at which the alarm registers match the time
 * (in the registers' current format), or INT64_MAX if none ever does.
 * The alarm depends on the time of day only, so a day and a minute of
 * candidates are enough: one per minute, the seconds solved directly.
 */
static int64_t
rtc_alarm_next(const struct rtc *r, int64_t s)
{
	uint8_t as = r->cmos[REG_SEC_ALARM];
	int64_t tod = floor_mod(s, SEC_PER_DAY), day0 = s - tod;
	unsigned int i, first, sec, want = 0;
	unsigned int min0 = (unsigned int)(tod / 60), m;

	if ((as & ALARM_ANY) != ALARM_ANY) {
		want = rtc_from_reg(r, as);
		if (want > 59 || rtc_to_reg(r, want) != as)
			return INT64_MAX;
	}
	for (i = 0; i <= 24 * 60; i++) {
		m = (min0 + i) % (24 * 60);
		if (!rtc_alarm_match(r->cmos[REG_HOUR_ALARM],
		    rtc_hour_to_reg(r, m / 60)) ||
		    !rtc_alarm_match(r->cmos[REG_MIN_ALARM],
		    rtc_to_reg(r, m % 60)))
			continue;
		first = i == 0 ? (unsigned int)(tod % 60) + 1 : 0;
		sec = (as & ALARM_ANY) == ALARM_ANY ? first : want;
		if (sec < first || sec > 59)
			continue;
		return day0 + (int64_t)(min0 + i) * 60 + sec;
	}
	return INT64_MAX;
}

/* IRQF and the line follow C's flags and B's enables. */
static void
rtc_update_irq(struct rtc *r)
{
	int level;

	if (r->cmos[REG_C] & r->cmos[REG_B] & C_FLAGS)
		r->cmos[REG_C] |= C_IRQF;
	level = (r->cmos[REG_C] & C_IRQF) != 0;
	if (level != r->irq_level) {
		r->irq_level = level;
		vm_irq_line(r->vm, RTC_IRQ, level);
	}
}

/*
 * Bring register C up to now: a periodic edge sets PF (the divider runs
 * even with SET on), a finished update sets UF and, if the alarm matched
 * in the seconds that passed, AF.
 */
static void
rtc_advance(struct rtc *r, int64_t now)
{
	int64_t e, s;

	if (rtc_div_running(r) && rtc_period_ticks(r) != 0) {
		e = rtc_pf_edges(r, now);
		if (e > r->pf_seen)
			r->cmos[REG_C] |= C_PF;
		r->pf_seen = e;
	}
	if (rtc_clock_running(r)) {
		s = rtc_guest_sec(r, now);
		if (s > r->last_sec) {
			r->cmos[REG_C] |= C_UF;
			if (rtc_alarm_next(r, r->last_sec) <= s)
				r->cmos[REG_C] |= C_AF;
			r->last_sec = s;
		}
	}
	rtc_update_irq(r);
}

/*
 * When the timer must next look (monotonic ns), 0 if never: only while
 * IRQF is clear and an enabled interrupt can still come.
 */
static int64_t
rtc_next_event(const struct rtc *r, int64_t now)
{
	int64_t due = INT64_MAX, t, s;
	uint8_t b = r->cmos[REG_B];

	if (r->cmos[REG_C] & C_IRQF)
		return 0;
	if ((b & B_PIE) && rtc_div_running(r) && rtc_period_ticks(r) != 0) {
		t = rtc_tick_ns(r, (rtc_pf_edges(r, now) + 1) *
		    rtc_period_ticks(r));
		due = t < due ? t : due;
	}
	if ((b & (B_UIE | B_AIE)) && rtc_clock_running(r)) {
		s = rtc_guest_sec(r, now) + 1;
		if ((b & B_UIE) == 0)
			s = rtc_alarm_next(r, s - 1);
		if (s != INT64_MAX &&
		    s - r->base_sec < INT64_MAX / NS_PER_SEC) {
			t = r->phase_ns + (s - r->base_sec) * NS_PER_SEC;
			due = t < due ? t : due;
		}
	}
	return due == INT64_MAX ? 0 : due;
}

/* ------------------------------------------------------------------------ */
/* Registers (lock held, flags already advanced to now). */

static uint8_t
rtc_rd_time(struct rtc *r, unsigned int reg, int64_t now)
{
	if (rtc_clock_running(r))
		rtc_latch(r, now);
	return r->cmos[reg];
}

/* A time register write; a running clock continues from the new time. */
static void
rtc_wr_time(struct rtc *r, unsigned int reg, uint8_t v, int64_t now)
{
	bool running = rtc_clock_running(r);

	if (running)
		rtc_latch(r, now);
	r->cmos[reg] = v;
	if (running)
		rtc_set_from_regs(r, now);
	r->dirty = true;
}

static uint8_t
rtc_rd_ram(struct rtc *r, unsigned int reg, int64_t now)
{
	return r->cmos[reg];
}

static void
rtc_wr_ram(struct rtc *r, unsigned int reg, uint8_t v, int64_t now)
{
	r->cmos[reg] = v;
}

static void
rtc_wr_alarm(struct rtc *r, unsigned int reg, uint8_t v, int64_t now)
{
	r->cmos[reg] = v;
	r->dirty = true;
}

/* UIP: set in the last 244 us before each update while the clock runs. */
static uint8_t
rtc_rd_a(struct rtc *r, unsigned int reg, int64_t now)
{
	uint8_t v = r->cmos[REG_A];

	if (rtc_clock_running(r) &&
	    floor_mod(now - r->phase_ns, NS_PER_SEC) >= NS_PER_SEC - RTC_UIP_NS)
		v |= A_UIP;
	return v;
}

/*
 * Register A: divider control and rate.  Stopping the divider freezes the
 * time in the registers; starting it again puts the first update half a
 * second later (datasheet, "Divider control").
 */
static void
rtc_wr_a(struct rtc *r, unsigned int reg, uint8_t v, int64_t now)
{
	bool div_was = rtc_div_running(r), clock_was = rtc_clock_running(r);

	if (clock_was)
		rtc_latch(r, now);
	r->cmos[REG_A] = v & ~A_UIP;
	if (!div_was && rtc_div_running(r))
		r->phase_ns = now - RTC_DIV_START_NS;
	if (!clock_was && rtc_clock_running(r))
		rtc_set_from_regs(r, now);
	r->pf_seen = rtc_pf_edges(r, now);
	r->dirty = true;
}

/*
 * Register B.  SET freezes the time (and clears UIE); clearing it starts
 * the clock from the registers.  An interrupt whose flag is already set
 * fires as soon as it is enabled; disabling every pending one drops IRQF
 * (as QEMU does).
 */
static void
rtc_wr_b(struct rtc *r, unsigned int reg, uint8_t v, int64_t now)
{
	bool clock_was = rtc_clock_running(r);

	if (v & B_SET)
		v &= ~B_UIE;
	if (clock_was)
		rtc_latch(r, now);
	r->cmos[REG_B] = v;
	if (!clock_was && rtc_clock_running(r))
		rtc_set_from_regs(r, now);
	if ((r->cmos[REG_C] & v & C_FLAGS) == 0)
		r->cmos[REG_C] &= ~C_IRQF;
	r->dirty = true;
}

/* Register C: reading returns the flags and clears them (and IRQ 8). */
static uint8_t
rtc_rd_c(struct rtc *r, unsigned int reg, int64_t now)
{
	uint8_t v = r->cmos[REG_C];

	r->cmos[REG_C] = 0;
	r->dirty = true;
	return v;
}

static uint8_t
rtc_rd_d(struct rtc *r, unsigned int reg, int64_t now)
{
	return D_VRT;
}

static void
rtc_wr_ignore(struct rtc *r, unsigned int reg, uint8_t v, int64_t now)
{
}

static const struct {
	rtc_read_fn *rd;
	rtc_write_fn *wr;
} rtc_regs[RTC_NREGS] = {
	[REG_SEC] = { rtc_rd_time, rtc_wr_time },
	[REG_SEC_ALARM] = { rtc_rd_ram, rtc_wr_alarm },
	[REG_MIN] = { rtc_rd_time, rtc_wr_time },
	[REG_MIN_ALARM] = { rtc_rd_ram, rtc_wr_alarm },
	[REG_HOUR] = { rtc_rd_time, rtc_wr_time },
	[REG_HOUR_ALARM] = { rtc_rd_ram, rtc_wr_alarm },
	[REG_WDAY ... REG_YEAR] = { rtc_rd_time, rtc_wr_time },
	[REG_A] = { rtc_rd_a, rtc_wr_a },
	[REG_B] = { rtc_rd_ram, rtc_wr_b },
	[REG_C] = { rtc_rd_c, rtc_wr_ignore },
	[REG_D] = { rtc_rd_d, rtc_wr_ignore },
	[0x0E ... REG_CENTURY - 1] = { rtc_rd_ram, rtc_wr_ram },
	[REG_CENTURY] = { rtc_rd_time, rtc_wr_time },
	[REG_CENTURY + 1 ... RTC_NREGS - 1] = { rtc_rd_ram, rtc_wr_ram },
};

/*
 * One byte at 0x70 (off 0: the index, write-only, reads as all ones) or
 * 0x71 (off 1: the selected register).  Lock held.
 */
static void
rtc_byte(struct rtc *r, uint64_t off, uint8_t *b, bool write, int64_t now)
{
	if (off == 0) {
		if (write) {
			r->index = *b & (RTC_NREGS - 1);
			r->nmi_masked = (*b & 0x80) != 0;
		} else
			*b = 0xFF;
	} else if (off == 1) {
		if (write)
			rtc_regs[r->index].wr(r, r->index, *b, now);
		else
			*b = rtc_regs[r->index].rd(r, r->index, now);
	} else if (!write)
		*b = 0xFF;
}

/*
 * The bus handler for 0x70-0x71; a wider access is split into bytes at
 * consecutive ports.  Vcpu threads.
 */
static void
rtc_access(void *dev, uint64_t off, uint8_t *data, unsigned int size,
    bool write)
{
	struct rtc *r = dev;
	int64_t now;
	unsigned int i;

	pthread_mutex_lock(&r->lock);
	now = rtc_mono(r);
	rtc_advance(r, now);
	for (i = 0; i < size; i++)
		rtc_byte(r, off + i, &data[i], write, now);
	rtc_update_irq(r);
	if (r->dirty && !r->kick_pending) {
		if (vm_defer(r->vm, rtc_kick, r) == 0)
			r->kick_pending = true;
		else
			log_warnx("rtc: cannot schedule the interrupt timer");
	}
	r->dirty = false;
	pthread_mutex_unlock(&r->lock);
}

/* ------------------------------------------------------------------------ */
/* The timer, on the main thread. */

static void rtc_timer_locked(struct rtc *r);

static void
rtc_timer_cb(uv_timer_t *t)
{
	struct rtc *r = t->data;

	pthread_mutex_lock(&r->lock);
	r->timer_due = 0;
	rtc_advance(r, rtc_mono(r));
	rtc_timer_locked(r);
	pthread_mutex_unlock(&r->lock);
}

/* Arm or stop the timer for the next event (lock held). */
static void
rtc_timer_locked(struct rtc *r)
{
	int64_t now = rtc_mono(r), due = rtc_next_event(r, now), ms;

	if (due == 0) {
		if (r->timer != NULL)
			uv_timer_stop(r->timer);
		r->timer_due = 0;
		return;
	}
	if (r->timer == NULL) {
		if ((r->timer = malloc(sizeof(*r->timer))) == NULL) {
			log_warnx("rtc: no memory for the interrupt timer");
			return;
		}
		uv_timer_init(vm_loop(r->vm), r->timer);
		r->timer->data = r;
	}
	/* libuv counts milliseconds: round up; early wake-ups re-arm. */
	ms = due > now ? (due - now + 999999) / 1000000 : 0;
	uv_timer_start(r->timer, rtc_timer_cb, (uint64_t)ms, 0);
	r->timer_due = due;
}

static void
rtc_kick(void *arg)
{
	struct rtc *r = arg;

	pthread_mutex_lock(&r->lock);
	r->kick_pending = false;
	rtc_advance(r, rtc_mono(r));
	rtc_timer_locked(r);
	pthread_mutex_unlock(&r->lock);
}

/* ------------------------------------------------------------------------ */

/* The memory size where firmware looks for it, as QEMU puts it. */
static void
rtc_cmos_memory(struct rtc *r, const struct vmdef *def)
{
	uint64_t total = def->memory_mib << 20, below, above, v;

	below = total < VM_PCI_HOLE_START ? total : VM_PCI_HOLE_START;
	above = total - below;
	v = below / 1024 < 640 ? below / 1024 : 640;
	r->cmos[CMOS_BASE_KB] = (uint8_t)v;
	r->cmos[CMOS_BASE_KB + 1] = (uint8_t)(v >> 8);
	v = below > (1 << 20) ? (below - (1 << 20)) / 1024 : 0;
	v = v > 0xFFFF ? 0xFFFF : v;
	r->cmos[CMOS_EXT_KB] = r->cmos[CMOS_EXT_KB2] = (uint8_t)v;
	r->cmos[CMOS_EXT_KB + 1] = (uint8_t)(v >> 8);
	r->cmos[CMOS_EXT_KB2 + 1] = (uint8_t)(v >> 8);
	v = below > (16 << 20) ? (below - (16 << 20)) / 65536 : 0;
	v = v > 0xFFFF ? 0xFFFF : v;
	r->cmos[CMOS_MEM_16M] = (uint8_t)v;
	r->cmos[CMOS_MEM_16M + 1] = (uint8_t)(v >> 8);
	v = above / 65536;
	v = v > 0xFFFFFF ? 0xFFFFFF : v;
	r->cmos[CMOS_MEM_4G] = (uint8_t)v;
	r->cmos[CMOS_MEM_4G + 1] = (uint8_t)(v >> 8);
	r->cmos[CMOS_MEM_4G + 2] = (uint8_t)(v >> 16);
	r->cmos[CMOS_EQUIPMENT] = EQUIPMENT_FPU;
	r->cmos[CMOS_CPUS] = (uint8_t)(def->vcpus > 0 ? def->vcpus - 1 : 0);
}

/*
 * A guest reset: the RESET pin clears the interrupt enables and flags
 * (datasheet, "RESET"); the time and the NVRAM stay, as with a battery.
 */
static void
rtc_reset_locked(struct rtc *r)
{
	int64_t now = rtc_mono(r);

	/* What happened before the reset is forgotten with the flags. */
	r->pf_seen = rtc_pf_edges(r, now);
	if (rtc_clock_running(r))
		r->last_sec = rtc_guest_sec(r, now);
	r->cmos[REG_B] &= ~(B_PIE | B_AIE | B_UIE | B_SQWE);
	r->cmos[REG_C] = 0;
	r->index = 0;
	r->nmi_masked = false;
	rtc_update_irq(r);
	if (r->timer != NULL)
		uv_timer_stop(r->timer);
	r->timer_due = 0;
}

static void
rtc_reset(void *dev)
{
	struct rtc *r = dev;

	pthread_mutex_lock(&r->lock);
	rtc_reset_locked(r);
	pthread_mutex_unlock(&r->lock);
}

static void
rtc_timer_free(uv_handle_t *h)
{
	free(h);
}

/*
 * Teardown, after the loop has stopped: the timer handle is closed and
 * freed by its close callback should the loop ever run again.
 */
static void
rtc_destroy(void *dev)
{
	struct rtc *r = dev;

	if (r->timer != NULL)
		uv_close((uv_handle_t *)r->timer, rtc_timer_free);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static const struct vm_device_ops rtc_ops = {
	.name = "rtc",
	.reset = rtc_reset,
	.destroy = rtc_destroy,
};

/* The VM's RTC, found in its device list; NULL if it has none. */
struct rtc *
rtc_of(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->ndevs; i++) {
		if (vm->devs[i].ops == &rtc_ops)
			return vm->devs[i].dev;
	}
	return NULL;
}

void
rtc_set_clock(struct rtc *r, rtc_clock_fn *fn, void *arg)
{
	pthread_mutex_lock(&r->lock);
	r->clock = fn != NULL ? fn : rtc_host_clock;
	r->clock_arg = fn != NULL ? arg : NULL;
	rtc_time_init(r);
	pthread_mutex_unlock(&r->lock);
}

int
rtc_create(struct vm *vm)
{
	struct rtc *r;
	int error;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	r->vm = vm;
	r->clock = rtc_host_clock;
	pthread_mutex_init(&r->lock, NULL);
	r->cmos[REG_A] = A_RESET;
	r->cmos[REG_B] = B_RESET;
	rtc_cmos_memory(r, vm->def);
	rtc_time_init(r);
	if ((error = vm_device_add(vm, &rtc_ops, r)) != 0) {
		pthread_mutex_destroy(&r->lock);
		free(r);
		return error;
	}
	/* Owned by the device list from here: vm_fini frees it. */
	return bus_register(vm, BUS_PIO, RTC_PORT, 2, "rtc", rtc_access, r);
}
