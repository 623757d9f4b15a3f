/*
 * main.c: vmm-worker, the process that runs one VM.  It reads a definition,
 * opens what the VM needs, builds the machine and its devices, loads the
 * kernel, enters the sandbox and runs the guest until it ends; the exit
 * status says how (worker.h, WORKER_EXIT_MAP).
 *
 *	vmm-worker [-vS] [-r rundir] [-u user] [-c fd|none] [-D index=fd]
 *	    [-T index=fd] [-R fd] definition.json|-
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtio.h"
#include "worker.h"

#define MAIN_DEF_MAX	(1 << 20)	/* the RPC message limit, too */

struct main_opts {
	bool verbose;
	bool no_sandbox;
	const char *rundir;
	const char *user;
	int console_fd;
	int ready_fd;		/* -R: told 'R' once the vcpus run, else -1 */
	int disk_fd[VMDEF_DISK_MAX];
	int tap_fd[VMDEF_NIC_MAX];
	const char *def_path;
};

static struct vm main_vm;
static unsigned int main_signals;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: vmm-worker [-vS] [-r rundir] [-u user] "
	    "[-c fd|none] [-D index=fd] [-T index=fd]\n"
	    "                  [-R fd] definition.json|-\n");
	exit(worker_exit_status(WORKER_EXIT_USAGE));
}

/* "N" as a descriptor that is open in this process, else -1. */
static int
main_fd_arg(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > INT_MAX)
		return -1;
	if (fcntl((int)v, F_GETFD) == -1)
		return -1;
	return (int)v;
}

/* "index=fd" into fds[index], index < n. */
static void
main_indexed_fd(const char *arg, int *fds, unsigned int n, char opt)
{
	const char *eq = strchr(arg, '=');
	char *end;
	unsigned long i;
	int fd;

	errno = 0;
	i = strtoul(arg, &end, 10);
	if (eq == NULL || end != eq || errno != 0 || i >= n)
		fatalx(WORKER_EXIT_USAGE, "-%c %s: expected index=fd with "
		    "index below %u", opt, arg, n);
	if ((fd = main_fd_arg(eq + 1)) == -1)
		fatalx(WORKER_EXIT_USAGE, "-%c %s: not an open descriptor",
		    opt, arg);
	/* Ours from now on: not for anything we might ever start. */
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	fds[i] = fd;
}

static void
main_parse_args(int argc, char **argv, struct main_opts *o)
{
	unsigned int i;
	int ch;

	memset(o, 0, sizeof(*o));
	o->console_fd = STDOUT_FILENO;
	o->ready_fd = -1;
	for (i = 0; i < VMDEF_DISK_MAX; i++)
		o->disk_fd[i] = -1;
	for (i = 0; i < VMDEF_NIC_MAX; i++)
		o->tap_fd[i] = -1;
	while ((ch = getopt(argc, argv, "vSr:u:c:D:T:R:")) != -1) {
		switch (ch) {
		case 'v':
			o->verbose = true;
			break;
		case 'S':
			o->no_sandbox = true;
			break;
		case 'r':
			o->rundir = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'c':
			if (strcmp(optarg, "none") == 0)
				o->console_fd = -1;
			else if ((o->console_fd = main_fd_arg(optarg)) == -1)
				fatalx(WORKER_EXIT_USAGE, "-c %s: not an open "
				    "descriptor", optarg);
			break;
		case 'D':
			main_indexed_fd(optarg, o->disk_fd, VMDEF_DISK_MAX, 'D');
			break;
		case 'T':
			main_indexed_fd(optarg, o->tap_fd, VMDEF_NIC_MAX, 'T');
			break;
		case 'R':
			if ((o->ready_fd = main_fd_arg(optarg)) == -1)
				fatalx(WORKER_EXIT_USAGE, "-R %s: not an open "
				    "descriptor", optarg);
			/* Not for anything we might ever start. */
			(void)fcntl(o->ready_fd, F_SETFD, FD_CLOEXEC);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	o->def_path = argv[optind];
}

/* The default run directory: /run/vmm for root, else a per-user one. */
static const char *
main_default_rundir(void)
{
	static char buf[PATH_MAX];
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		return "/run/vmm";
	if (xdg != NULL && xdg[0] == '/')
		snprintf(buf, sizeof(buf), "%s/vmm", xdg);
	else
		snprintf(buf, sizeof(buf), "/tmp/vmm-%u", (unsigned)geteuid());
	return buf;
}

/* Read the whole definition (at most MAIN_DEF_MAX bytes); fatal on error. */
static char *
main_read_def(const char *path, size_t *lenp)
{
	char *buf;
	size_t len = 0;
	ssize_t n;
	int fd;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		fatalx(WORKER_EXIT_NOINPUT, "definition %s: %s", path,
		    strerror(errno));
	if ((buf = malloc(MAIN_DEF_MAX + 1)) == NULL)
		fatalx(WORKER_EXIT_OSERR, "definition: out of memory");
	while ((n = read(fd, buf + len, MAIN_DEF_MAX + 1 - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			fatalx(WORKER_EXIT_NOINPUT, "definition %s: %s", path,
			    strerror(errno));
		len += (size_t)n;
		if (len > MAIN_DEF_MAX)
			fatalx(WORKER_EXIT_DEFINITION, "definition %s: larger "
			    "than %d bytes", path, MAIN_DEF_MAX);
	}
	if (fd != STDIN_FILENO)
		close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

static void
main_load_def(const char *path, struct vmdef *def)
{
	struct vmdef_errors errs = { NULL, 0 };
	size_t len, i;
	char *text;
	int error;

	text = main_read_def(path, &len);
	error = vmdef_parse(text, len, def, &errs);
	free(text);
	if (error != 0 && errs.n == 0)
		fatalx(WORKER_EXIT_OSERR, "definition: %s", strerror(-error));
	if (error != 0) {
		for (i = 0; i < errs.n; i++)
			log_warnx("definition %s: %s: %s", path,
			    errs.v[i].path, errs.v[i].msg);
		vmdef_errors_free(&errs);
		exit(worker_exit_status(WORKER_EXIT_DEFINITION));
	}
}

/* Open a file the VM reads (kernel, initrd); fatal on failure. */
static int
main_open_ro(const char *what, const char *path)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		fatalx(WORKER_EXIT_NOINPUT, "%s %s: %s", what, path,
		    strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		fatalx(WORKER_EXIT_NOINPUT, "%s %s: not a regular file", what,
		    path);
	return fd;
}

/*
 * A disk image, opened here unless the parent passed it.  The lock keeps
 * two VMs from writing one image (shared for read-only disks).
 */
static int
main_open_disk(const struct vmdef_disk *d, unsigned int i, int fd)
{
	int flags = d->readonly ? O_RDONLY : O_RDWR;

	if (fd == -1 && (fd = open(d->path, flags | O_CLOEXEC)) == -1)
		fatalx(WORKER_EXIT_NOINPUT, "disk %u %s: %s", i, d->path,
		    strerror(errno));
	if (flock(fd, (d->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) == -1)
		fatalx(WORKER_EXIT_NOINPUT, "disk %u %s: %s", i, d->path,
		    errno == EWOULDBLOCK ? "in use by another VM" :
		    strerror(errno));
	return fd;
}

static int
main_open_tap(const struct vmdef_nic *n, unsigned int i, int fd)
{
	char err[256];

	if (fd != -1)
		return fd;
	if (n->ifname == NULL)
		fatalx(WORKER_EXIT_USAGE, "interface %u: no ifname in the "
		    "definition and no -T descriptor", i);
	if ((fd = virtio_net_open_tap(n->ifname, err, sizeof(err))) < 0)
		fatalx(WORKER_EXIT_NOINPUT, "interface %u: %s", i, err);
	return fd;
}

/* The hypervisor and the machine, with the in-kernel irqchip if asked. */
static void
main_machine(struct vm *vm)
{
	struct nvmm_vmm_conf_irqchip ic = { .pit = vm->def->pit };

	if (nvmm_init() == -1)
		fatalx(WORKER_EXIT_UNAVAILABLE, "cannot open the hypervisor: "
		    "%s", strerror(errno));
	if (nvmm_machine_create(&vm->mach) == -1)
		fatalx(WORKER_EXIT_UNAVAILABLE, "cannot create the machine: "
		    "%s", strerror(errno));
	vm->mach_ok = true;
	if (vm->def->irqchip && nvmm_machine_configure(&vm->mach,
	    NVMM_MACH_CONF_VMM_IRQCHIP, &ic) == -1)
		fatalx(WORKER_EXIT_UNAVAILABLE, "cannot create the in-kernel "
		    "irqchip: %s", strerror(errno));
}

static void
main_check(int error, const char *what)
{
	if (error == -ENOMEM)
		fatalx(WORKER_EXIT_OSERR, "%s: out of memory", what);
	if (error != 0)
		fatalx(WORKER_EXIT_OSERR, "%s: %s", what, strerror(-error));
}

static void
main_devices(struct vm *vm, const struct main_opts *o)
{
	const struct vmdef *def = vm->def;
	unsigned int i;
	int fd;

	main_check(console_create(vm, def->console ? o->console_fd : -1,
	    def->scrollback), "console");
	if (def->console)
		main_check(uart_create(vm, 0x3F8, 4), "COM1");
	main_check(i8042_create(vm), "i8042");
	main_check(rtc_create(vm), "RTC");
	if (def->debug_exit)
		main_check(debug_exit_create(vm), "debug-exit port");
	for (i = 0; i < def->ndisks; i++) {
		fd = main_open_disk(&def->disks[i], i, o->disk_fd[i]);
		main_check(virtio_blk_create(vm, &def->disks[i], fd),
		    "virtio-blk");
	}
	for (i = 0; i < def->nnics; i++) {
		fd = main_open_tap(&def->nics[i], i, o->tap_fd[i]);
		main_check(virtio_net_create(vm, &def->nics[i], fd),
		    "virtio-net");
	}
	if (def->rng)
		main_check(virtio_rng_create(vm), "virtio-rng");
}

/* SIGTERM, SIGINT: a graceful stop; the second one forces it. */
static void
main_signal(uv_signal_t *s, int signo)
{
	struct vm *vm = s->data;

	log_info("signal %d: %s stop", signo,
	    main_signals == 0 ? "graceful" : "forced");
	(void)vm_stop(vm, main_signals++ > 0,
	    vm->def->shutdown_timeout * 1000U);
}

static void
main_signals_setup(struct vm *vm)
{
	static uv_signal_t term, intr;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	uv_signal_init(vm_loop(vm), &term);
	uv_signal_init(vm_loop(vm), &intr);
	term.data = intr.data = vm;
	uv_signal_start(&term, main_signal, SIGTERM);
	uv_signal_start(&intr, main_signal, SIGINT);
}

/*
 * Test hook (tests/test_sandbox.c), compiled in always: with
 * VMM_WORKER_TEST_FORBIDDEN=openat in the environment the worker opens
 * "/" right after entering the sandbox, which must kill it with SIGSYS.
 * It says so first, so that a test can tell the hook ran.  Without the
 * sandbox (-S) the open succeeds and the worker goes on.
 */
static void
main_test_forbidden(void)
{
	const char *s = getenv("VMM_WORKER_TEST_FORBIDDEN");
	int fd;

	if (s == NULL || strcmp(s, "openat") != 0)
		return;
	log_warnx("VMM_WORKER_TEST_FORBIDDEN: openat after the sandbox");
	if ((fd = open("/", O_RDONLY | O_CLOEXEC)) != -1)
		close(fd);
	log_warnx("VMM_WORKER_TEST_FORBIDDEN: openat returned %d", fd);
}

/*
 * Tell the parent (-R) that the guest runs: one byte 'R', then the
 * descriptor is closed.  A worker that fails before this point closes it
 * by exiting, so the parent reads end of file instead.  write and close
 * are on the sandbox's allowlist.
 */
static void
main_ready(int fd, bool running)
{
	ssize_t n;

	if (fd == -1)
		return;
	if (running) {
		do
			n = write(fd, "R", 1);
		while (n == -1 && errno == EINTR);
		if (n != 1)
			log_warnx("-R %d: cannot report readiness: %s", fd,
			    n == -1 ? strerror(errno) : "short write");
	}
	close(fd);
}

static int
main_exit_status(const struct vm *vm)
{
	if (vm->exit == WORKER_EXIT_DEBUG_EXIT)
		return WORKER_DEBUG_EXIT_BASE + (vm->exit_code & 31);
	return worker_exit_status(vm->exit);
}

int
main(int argc, char **argv)
{
	static struct vmdef def;
	struct vm *vm = &main_vm;
	struct main_opts o;
	char err[256];
	int error, status;

	/* Our own session: the worker outlives its parent and its terminal. */
	(void)setsid();
	main_parse_args(argc, argv, &o);
	log_init("vmm-worker", o.verbose);
	main_load_def(o.def_path, &def);
	log_init(def.name, o.verbose);

	if ((error = vm_init(vm, &def)) != 0)
		fatalx(WORKER_EXIT_OSERR, "event loop: %s", uv_strerror(error));
	vm->kernel_fd = main_open_ro("kernel", def.kernel);
	if (def.initrd != NULL)
		vm->initrd_fd = main_open_ro("initrd", def.initrd);
	main_machine(vm);
	if ((error = mem_setup(vm)) != 0)
		fatalx(WORKER_EXIT_OSERR, "guest memory (%llu MiB%s): %s%s",
		    (unsigned long long)def.memory_mib, def.hugepages ?
		    " in 2 MiB huge pages" : "", strerror(-error),
		    def.hugepages ? " (are enough huge pages reserved? see "
		    "/proc/sys/vm/nr_hugepages)" : "");
	main_devices(vm, &o);
	if ((error = boot_load(vm, err, sizeof(err))) != 0)
		fatalx(WORKER_EXIT_NOINPUT, "%s", err);
	if ((error = vcpu_create_all(vm)) != 0)
		fatalx(WORKER_EXIT_UNAVAILABLE, "cannot create vcpus: %s",
		    strerror(-error));
	main_check(boot_setup_cpu(vm, &vm->vcpus[0]), "boot vcpu state");
	main_check(control_create(vm, o.rundir != NULL ? o.rundir :
	    main_default_rundir()), "control socket");
	main_signals_setup(vm);

	if (!o.no_sandbox &&
	    (error = sandbox_enter(o.user, err, sizeof(err))) != 0)
		fatalx(WORKER_EXIT_OSERR, "sandbox: %s", err);
	main_test_forbidden();
	if (vcpu_start_all(vm) == 0) {
		log_debug("running %u vcpu(s), %llu MiB", vm->nvcpus,
		    (unsigned long long)def.memory_mib);
		main_ready(o.ready_fd, true);
	} else
		main_ready(o.ready_fd, false);
	vm_run(vm);

	status = main_exit_status(vm);
	log_info("%s (status %d): %s", worker_exit_word(vm->exit), status,
	    vm->exit_why);
	control_destroy(vm);
	vm_fini(vm);
	console_destroy(vm->console);
	vmdef_free(&def);
	return status;
}
