/*
 * worker.h: vmm-worker's internal interfaces.  One process runs one VM:
 * guest memory (mem.c), the port and MMIO buses (bus.c), vcpu threads
 * (vcpu.c), the boot loaders (boot.c, loader_*.c), one file per device, the
 * console ring (console.c), the control socket (control.c) and the sandbox
 * (sandbox.c), tied together by main.c.  Only libvmm's public API is used.
 *
 * Threads: the main thread runs the libuv loop (control socket, tap and
 * timer events, the end of the VM); each vcpu has a thread that runs the
 * guest and calls device handlers.  A device that is reached from both
 * keeps its own mutex.  Functions say which thread may call them.
 */

#ifndef WORKER_H
#define WORKER_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "nvmm.h"
#include "vmdef.h"

#define WORKER_PROTOCOL_VERSION	1

struct vm;
struct vcpu;
struct console;
struct control;
struct uart;
struct i8042;

/*
 * Exit statuses of the process, one list (X-macro): name, status, the word
 * used in the final control message.  Guest outcomes first, then setup
 * failures (sysexits.h values).  A debug-exit write of v ends the worker
 * with WORKER_DEBUG_EXIT_BASE + (v & 31).
 */
#define WORKER_EXIT_MAP(X)						\
	X(POWEROFF,	0,	"poweroff")				\
	X(REBOOT,	10,	"reboot")				\
	X(TRIPLE_FAULT,	11,	"triple-fault")				\
	X(ERROR,	12,	"error")	/* guest or device error */	\
	X(DEBUG_EXIT,	32,	"debug-exit")				\
	X(USAGE,	64,	"usage")				\
	X(DEFINITION,	65,	"bad-definition")			\
	X(NOINPUT,	66,	"unusable-file")			\
	X(UNAVAILABLE,	69,	"hypervisor-unavailable")		\
	X(SOFTWARE,	70,	"internal-error")			\
	X(OSERR,	71,	"os-error")

enum worker_exit {
#define WORKER_EXIT_ENUM(name, status, word) WORKER_EXIT_##name,
	WORKER_EXIT_MAP(WORKER_EXIT_ENUM)
#undef WORKER_EXIT_ENUM
	WORKER_EXIT_COUNT
};

#define WORKER_DEBUG_EXIT_BASE	32

int		 worker_exit_status(enum worker_exit e);
const char	*worker_exit_word(enum worker_exit e);

/* ------------------------------------------------------------------------ */
/* log.c: one log for the process, on stderr (the parent's log pipe). */

void	log_init(const char *tag, bool verbose);
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Setup failures only: log and exit with the status of e. */
void	fatalx(enum worker_exit e, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

/* ------------------------------------------------------------------------ */
/* Guest physical layout. */

#define VM_PCI_HOLE_START	0xC0000000ULL	/* RAM below: [0, 3 GiB) */
#define VM_HIGH_RAM_START	0x100000000ULL	/* the rest from 4 GiB */
#define VM_MMIO_BASE		0xD0000000ULL	/* virtio-mmio windows */
#define VM_MMIO_SIZE		0x200		/* per device (virtio spec 4.2.2) */
#define VM_MMIO_STRIDE		0x1000
#define VM_MMIO_IRQ_BASE	5		/* GSI of the first virtio device */
#define VM_MMIO_MAX		(VMDEF_DISK_MAX + VMDEF_NIC_MAX + 1)

/* ------------------------------------------------------------------------ */
/* mem.c: guest RAM, memfd-backed, guard pages around each mapping. */

struct vm_ram {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

/*
 * Host pointer to [gpa, gpa + len) when the whole range lies in one RAM
 * region; NULL otherwise (also on overflow).  Any thread.  The pointer is
 * valid for the life of the VM; the guest may change the bytes under it.
 */
void	*vm_gpa(struct vm *vm, uint64_t gpa, size_t len);

/* Copy to or from guest RAM, splitting at region ends: 0 or -EFAULT. */
int	 vm_mem_read(struct vm *vm, uint64_t gpa, void *buf, size_t len);
int	 vm_mem_write(struct vm *vm, uint64_t gpa, const void *buf, size_t len);

/* Set up RAM for def's memory size: 0 or a negative errno. */
int	 mem_setup(struct vm *vm);
void	 mem_teardown(struct vm *vm);

/* ------------------------------------------------------------------------ */
/* bus.c: port and MMIO dispatch.  Registration happens during setup only. */

/*
 * A device access: off is relative to the registered base, data holds size
 * bytes (1, 2, 4 or 8), little-endian; on a read the handler fills it.
 * Called on a vcpu thread.
 */
typedef void bus_access_fn(void *dev, uint64_t off, uint8_t *data,
    unsigned int size, bool write);

enum bus_space { BUS_PIO, BUS_MMIO };

/* Claim [base, base + len): 0, -EEXIST on overlap, -EINVAL, -ENOMEM. */
int	bus_register(struct vm *vm, enum bus_space space, uint64_t base,
	    uint64_t len, const char *name, bus_access_fn *fn, void *dev);

/*
 * Dispatch one access; an address no device claims reads as all ones and
 * ignores writes (counted in the stats).  Returns true if a device took it.
 */
bool	bus_access(struct vm *vm, enum bus_space space, uint64_t addr,
	    uint8_t *data, unsigned int size, bool write);

void	bus_teardown(struct vm *vm);

/* ------------------------------------------------------------------------ */
/* Interrupts and eventfds (vcpu.c). */

/*
 * Set an interrupt line of the in-kernel irqchip (edge devices raise then
 * lower it).  Without an irqchip the call does nothing: such guests poll.
 * Any thread.
 */
void	vm_irq_line(struct vm *vm, unsigned int irq, int level);
void	vm_irq_pulse(struct vm *vm, unsigned int irq);
bool	vm_has_irqchip(const struct vm *vm);

/* Run fn(arg) on the main (loop) thread soon.  Any thread.  0 or -ENOMEM. */
int	vm_defer(struct vm *vm, void (*fn)(void *), void *arg);

/* The libuv loop; main thread only. */
uv_loop_t *vm_loop(struct vm *vm);

/* ------------------------------------------------------------------------ */
/* Devices: each registers itself with the VM to be reset and freed. */

struct vm_device_ops {
	const char *name;
	void (*reset)(void *dev);	/* guest reset; may be NULL */
	void (*destroy)(void *dev);	/* at teardown; may be NULL */
};

int	vm_device_add(struct vm *vm, const struct vm_device_ops *ops,
	    void *dev);

/* ------------------------------------------------------------------------ */
/* Lifecycle (vcpu.c). */

enum vm_state {
	VM_STATE_SETUP,
	VM_STATE_RUNNING,
	VM_STATE_PAUSED,
	VM_STATE_STOPPING,	/* graceful stop requested, guest still runs */
	VM_STATE_EXITED,	/* the guest is gone; the worker is ending */
};

const char *vm_state_name(enum vm_state s);

/*
 * End the VM: every vcpu stops, and the main thread exits the process
 * with e's status once the control clients have been told.  The first
 * request wins.  code is the debug-exit value (else 0).  Any thread.
 */
void	vm_request_exit(struct vm *vm, enum worker_exit e, int code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * A reset request (the control socket): the VM ends with "reboot" and its
 * supervisor starts it again (vcpu.c says why not in place).  Any thread.
 */
void	vm_request_reset(struct vm *vm);

/*
 * Control operations (main thread).  Pause stops every vcpu through
 * nvmm_vcpu_stop and returns once all are parked; resume lets them go.
 * Stop: force ends the VM at once (poweroff); otherwise the guest is sent
 * Ctrl-Alt-Del and forced after timeout_ms.  0 or -EBUSY (wrong state).
 */
int	vm_pause(struct vm *vm);
int	vm_resume(struct vm *vm);
int	vm_stop(struct vm *vm, bool force, unsigned int timeout_ms);

/* ------------------------------------------------------------------------ */
/* console.c: the guest's serial console. */

struct console;

/*
 * Create the console: out_fd (or -1) receives guest output as it comes;
 * the ring keeps the last scrollback bytes.  Setup only.  0 or -errno.
 */
int	console_create(struct vm *vm, int out_fd, size_t scrollback);
void	console_destroy(struct console *c);

/*
 * Guest output: to the console descriptor (if any), into the scrollback
 * ring, and to every attached watcher.  Any thread.
 */
void	console_output(struct console *c, const void *buf, size_t len);

/*
 * Where host input goes (the UART's receive path).  Set once during
 * setup; fn is called on the main thread.
 */
void	console_set_input(struct console *c,
	    void (*fn)(void *dev, const uint8_t *buf, size_t len), void *dev);

/* ------------------------------------------------------------------------ */
/* The VM. */

enum vcpu_state {
	VCPU_STATE_CREATED,
	VCPU_STATE_RUNNING,
	VCPU_STATE_HALTED,	/* waiting for an interrupt */
	VCPU_STATE_PAUSED,
	VCPU_STATE_STOPPED,
};

/* Exit reasons counted per vcpu (the stats message), one list. */
#define VCPU_STAT_MAP(X)						\
	X(IO, "io") X(MEMORY, "mmio") X(HALTED, "halt")			\
	X(SHUTDOWN, "shutdown") X(INT_READY, "int-window")		\
	X(RDMSR, "rdmsr") X(WRMSR, "wrmsr") X(STOPPED, "stopped")	\
	X(NONE, "none") X(OTHER, "other") X(UNCLAIMED, "unclaimed-access")

enum vcpu_stat {
#define VCPU_STAT_ENUM(name, word) VCPU_STAT_##name,
	VCPU_STAT_MAP(VCPU_STAT_ENUM)
#undef VCPU_STAT_ENUM
	VCPU_STAT_COUNT
};

struct vcpu {
	struct vm *vm;
	unsigned int id;
	struct nvmm_vcpu nv;
	pthread_t thread;
	bool thread_started;
	_Atomic int state;			/* enum vcpu_state */
	_Atomic uint64_t stats[VCPU_STAT_COUNT];
	bool halted;		/* HLT without irqchip: wait, under vm->lock */
};

struct bus_range {
	uint64_t base, len;
	const char *name;
	bus_access_fn *fn;
	void *dev;
};

struct bus {
	struct bus_range *r;		/* sorted by base, no overlap */
	size_t n;
};

struct vm_device {
	const struct vm_device_ops *ops;
	void *dev;
};

/*
 * The initial register state of the boot vcpu, chosen by the loader.  The
 * GDT and page tables for protected and long mode are written by
 * boot_setup_cpu at BOOT_GDT and BOOT_PT.
 */
struct boot_cpu {
	enum vmdef_mode mode;
	uint64_t rip;		/* real mode: IP, with CS = cs_real */
	uint16_t cs_real;
	uint64_t rsp;
	uint64_t rax, rbx, rsi;	/* protocol registers (Multiboot, Linux) */
};

struct vm {
	const struct vmdef *def;
	struct nvmm_machine mach;
	bool mach_ok;

	struct vm_ram ram[2];		/* below the PCI hole, above 4 GiB */
	unsigned int nram;
	uint64_t ram_total;

	struct bus pio, mmio;

	struct vcpu *vcpus;
	unsigned int nvcpus;

	struct vm_device *devs;
	unsigned int ndevs;

	/* Run control, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vm_state state;
	bool stop_pending;		/* a graceful stop was asked for */
	enum worker_exit exit;
	int exit_code;
	char exit_why[256];

	/* Main loop. */
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t stop_timer;		/* forces a graceful stop that hangs */
	struct vm_deferred *deferred;	/* under lock */
	unsigned int parked;		/* vcpu threads waiting, under lock */

	/* Boot. */
	struct boot_cpu boot;
	int kernel_fd, initrd_fd;

	/* Devices the core knows by role. */
	struct console *console;
	struct control *control;
	struct uart *uart;
	struct i8042 *i8042;
	unsigned int nmmio;		/* virtio-mmio windows handed out */

	int64_t started_ns;		/* CLOCK_MONOTONIC at vcpu start */
};

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t	vm_now_ns(void);

/*
 * The core's life cycle, for main.c.  vm_init: locks, loop and wake-up
 * (0 or -errno).  vcpu_create_all: the vcpus with callbacks and CPUID
 * topology.  vcpu_start_all: the threads (state RUNNING).  vm_run: the
 * main loop until the VM has ended and every vcpu thread is joined.
 * vm_fini: everything the VM holds (accepts a partial setup).
 */
int	vm_init(struct vm *vm, const struct vmdef *def);
int	vcpu_create_all(struct vm *vm);
int	vcpu_start_all(struct vm *vm);
void	vm_run(struct vm *vm);
void	vm_fini(struct vm *vm);

/* ------------------------------------------------------------------------ */
/* boot.c and loader_*.c: put the kernel in RAM, choose the boot state. */

#define BOOT_GDT		0x500ULL	/* 4 descriptors, accessed bits set */
#define BOOT_ZERO_PAGE		0x7000ULL	/* Linux boot_params */
#define BOOT_STACK_TOP		0x8000ULL	/* initial RSP of raw/long guests */
#define BOOT_PT			0x9000ULL	/* PML4, PDPT, 4 PDs */
#define BOOT_PT_END		0xF000ULL
#define BOOT_MPTABLE		0xF0000ULL	/* MP floating pointer + table */
#define BOOT_CMDLINE		0x20000ULL
#define BOOT_SEL_CODE32		0x08
#define BOOT_SEL_CODE64		0x10		/* __BOOT_CS */
#define BOOT_SEL_DATA		0x18		/* __BOOT_DS */

/*
 * Load def's kernel (and initrd, command line) into guest RAM and fill
 * vm->boot.  Reads through vm->kernel_fd and vm->initrd_fd (pread only, so
 * it also works under the sandbox, for reset).  On failure returns a
 * negative errno and writes one line for the operator into err.
 */
int	boot_load(struct vm *vm, char *err, size_t errlen);

/* Put the boot vcpu in vm->boot's state (writes GDT and page tables). */
int	boot_setup_cpu(struct vm *vm, struct vcpu *vcpu);

/* ------------------------------------------------------------------------ */
/* Device constructors (one file each).  Called during setup. */

int	uart_create(struct vm *vm, uint16_t port, unsigned int irq);
int	i8042_create(struct vm *vm);
/* Ask the guest to shut down: Ctrl-Alt-Del on the keyboard.  Any thread. */
void	i8042_ctrl_alt_del(struct i8042 *kbd);
int	rtc_create(struct vm *vm);
/*
 * Tests: the VM's RTC (NULL if it has none) and the clock it reads.  fn
 * returns nanoseconds of CLOCK_REALTIME or CLOCK_MONOTONIC; NULL restores
 * the host clock.  The RTC restarts from fn's wall time.  Any thread.
 */
struct rtc;
typedef int64_t rtc_clock_fn(void *arg, clockid_t id);
struct rtc *rtc_of(struct vm *vm);
void	rtc_set_clock(struct rtc *r, rtc_clock_fn *fn, void *arg);
#define DEBUG_EXIT_PORT		0x501
int	debug_exit_create(struct vm *vm);
/* The virtio constructors own fd on success (closed at teardown). */
int	virtio_blk_create(struct vm *vm, const struct vmdef_disk *disk, int fd);
int	virtio_net_create(struct vm *vm, const struct vmdef_nic *nic, int fd);
int	virtio_rng_create(struct vm *vm);

/*
 * The next virtio-mmio window: base GPA and GSI.  Setup only; 0 or
 * -ENOSPC.  Linux guests get "virtio_mmio.device=512@0x<base>:<gsi>" on
 * the kernel command line for each window, i in [0, vm->nmmio).
 */
int	vm_mmio_alloc(struct vm *vm, uint64_t *base, unsigned int *irq);
void	vm_mmio_window(const struct vm *vm, unsigned int i, uint64_t *base,
	    unsigned int *irq);

/* ------------------------------------------------------------------------ */
/* control.c: the control socket. */

/* Bind $rundir/vm/<uuid>.sock (0600); setup, before the sandbox. */
int	control_create(struct vm *vm, const char *rundir);
/* Tell every client how the VM ended (main thread, before exit). */
void	control_final(struct vm *vm);
void	control_destroy(struct vm *vm);

/* ------------------------------------------------------------------------ */
/* sandbox.c */

/*
 * After setup: when root, drop to user (a name or a decimal uid; NULL
 * means "nobody"; root itself is refused); then no_new_privs, not
 * dumpable, the seccomp allowlist.  Not root: user must be NULL or the
 * current user.  0 or a negative errno with a line in err.
 */
int	sandbox_enter(const char *user, char *err, size_t errlen);

#endif /* WORKER_H */
