/*
 * vcpu.c: the VM's run control.  One thread per vcpu runs the guest and
 * dispatches its exits to the buses; the main thread pauses, resumes and
 * stops them, and ends the process when the VM is over.  Also
 * here: interrupt lines, deferred calls to the main thread, the
 * virtio-mmio windows and the device list.
 *
 * Locking: vm->lock guards the run state (vm->state, stop_pending, the
 * exit fields, parked, vcpu->halted, the deferred queue).  vcpu threads
 * park on vm->cond while the VM is paused; the main thread waits on the
 * same condition for them to park.
 */

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker.h"

#define VM_OF(m)	((struct vm *)((char *)(m) - offsetof(struct vm, mach)))

#define X86_RFLAGS_IF	0x200
#define X86_VEC_GP	13

/* GSIs of the virtio-mmio windows: free ISA lines first, then IOAPIC. */
static const unsigned int vm_mmio_gsi[VM_MMIO_MAX] = {
	5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18
};

struct vm_deferred {
	void (*fn)(void *);
	void *arg;
	struct vm_deferred *next;
};

static const char *const vm_state_names[] = {
	[VM_STATE_SETUP] = "setup",
	[VM_STATE_RUNNING] = "running",
	[VM_STATE_PAUSED] = "paused",
	[VM_STATE_STOPPING] = "stopping",
	[VM_STATE_EXITED] = "exited",
};

const char *
vm_state_name(enum vm_state s)
{
	if ((unsigned int)s >= sizeof(vm_state_names) / sizeof(vm_state_names[0]))
		return "unknown";
	return vm_state_names[s];
}

int64_t
vm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
vcpu_stat(struct vcpu *vcpu, enum vcpu_stat s)
{
	atomic_fetch_add_explicit(&vcpu->stats[s], 1, memory_order_relaxed);
}

/* Kick every vcpu out of the guest; they see the new state on return. */
static void
vm_kick_all(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nvcpus; i++)
		(void)nvmm_vcpu_stop(&vm->vcpus[i].nv);
}

/* ------------------------------------------------------------------------ */
/* Exits. */

static void
vcpu_io_cb(struct nvmm_io *io)
{
	struct vm *vm = VM_OF(io->mach);

	if (!bus_access(vm, BUS_PIO, io->port, io->data, (unsigned int)io->size,
	    !io->in))
		vcpu_stat(&vm->vcpus[io->vcpu->cpuid], VCPU_STAT_UNCLAIMED);
}

static void
vcpu_mem_cb(struct nvmm_mem *mem)
{
	struct vm *vm = VM_OF(mem->mach);

	if (!bus_access(vm, BUS_MMIO, mem->gpa, mem->data,
	    (unsigned int)mem->size, mem->write))
		vcpu_stat(&vm->vcpus[mem->vcpu->cpuid], VCPU_STAT_UNCLAIMED);
}

static uint64_t
vcpu_rip(struct vcpu *vcpu)
{
	if (nvmm_vcpu_getstate(&vcpu->vm->mach, &vcpu->nv,
	    NVMM_X64_STATE_GPRS) == -1)
		return ~0ULL;
	return vcpu->nv.state->gprs[NVMM_X64_GPR_RIP];
}

/*
 * HLT without an in-kernel irqchip.  No device of ours can interrupt such
 * a guest, so with IF clear it can never wake: that is how test guests
 * power off.  With IF set it waits for a reset or the end.
 */
static void
vcpu_halt(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	if ((vcpu->nv.exit->exitstate.rflags & X86_RFLAGS_IF) == 0) {
		vm_request_exit(vm, WORKER_EXIT_POWEROFF, 0,
		    "vcpu %u halted with interrupts disabled", vcpu->id);
		return;
	}
	pthread_mutex_lock(&vm->lock);
	vcpu->halted = true;
	pthread_mutex_unlock(&vm->lock);
}

/* An MSR KVM does not know: #GP, as on hardware without it. */
static void
vcpu_msr_gp(struct vcpu *vcpu)
{
	struct nvmm_vcpu_event *ev = vcpu->nv.event;

	ev->type = NVMM_VCPU_EVENT_EXCP;
	ev->vector = X86_VEC_GP;
	ev->u.excp.error = 0;
	if (nvmm_vcpu_inject(&vcpu->vm->mach, &vcpu->nv) == -1)
		vm_request_exit(vcpu->vm, WORKER_EXIT_ERROR, 0,
		    "vcpu %u: cannot inject #GP for MSR 0x%x", vcpu->id,
		    vcpu->nv.exit->u.rdmsr.msr);
}

static void
vcpu_handle_exit(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	const struct nvmm_vcpu_exit *exit = vcpu->nv.exit;

	switch (exit->reason) {
	case NVMM_VCPU_EXIT_IO:
		vcpu_stat(vcpu, VCPU_STAT_IO);
		if (nvmm_assist_io(&vm->mach, &vcpu->nv) == -1)
			vm_request_exit(vm, WORKER_EXIT_ERROR, 0,
			    "vcpu %u: cannot emulate port access 0x%x: %s",
			    vcpu->id, exit->u.io.port, strerror(errno));
		break;
	case NVMM_VCPU_EXIT_MEMORY:
		vcpu_stat(vcpu, VCPU_STAT_MEMORY);
		if (nvmm_assist_mem(&vm->mach, &vcpu->nv) == -1)
			vm_request_exit(vm, WORKER_EXIT_ERROR, 0,
			    "vcpu %u: cannot emulate access to 0x%llx at "
			    "rip 0x%llx: %s", vcpu->id,
			    (unsigned long long)exit->u.mem.gpa,
			    (unsigned long long)vcpu_rip(vcpu),
			    strerror(errno));
		break;
	case NVMM_VCPU_EXIT_HALTED:
		vcpu_stat(vcpu, VCPU_STAT_HALTED);
		vcpu_halt(vcpu);
		break;
	case NVMM_VCPU_EXIT_SHUTDOWN:
		vcpu_stat(vcpu, VCPU_STAT_SHUTDOWN);
		vm_request_exit(vm, WORKER_EXIT_TRIPLE_FAULT, 0,
		    "vcpu %u: triple fault at rip 0x%llx", vcpu->id,
		    (unsigned long long)vcpu_rip(vcpu));
		break;
	case NVMM_VCPU_EXIT_RDMSR:
		vcpu_stat(vcpu, VCPU_STAT_RDMSR);
		vcpu_msr_gp(vcpu);
		break;
	case NVMM_VCPU_EXIT_WRMSR:
		vcpu_stat(vcpu, VCPU_STAT_WRMSR);
		vcpu_msr_gp(vcpu);
		break;
	case NVMM_VCPU_EXIT_INT_READY:
	case NVMM_VCPU_EXIT_NMI_READY:
		vcpu_stat(vcpu, VCPU_STAT_INT_READY);
		break;
	case NVMM_VCPU_EXIT_STOPPED:
		vcpu_stat(vcpu, VCPU_STAT_STOPPED);
		break;
	case NVMM_VCPU_EXIT_NONE:
		vcpu_stat(vcpu, VCPU_STAT_NONE);
		break;
	default:
		vcpu_stat(vcpu, VCPU_STAT_OTHER);
		vm_request_exit(vm, WORKER_EXIT_ERROR, 0,
		    "vcpu %u: unexpected exit 0x%llx at rip 0x%llx", vcpu->id,
		    (unsigned long long)exit->reason,
		    (unsigned long long)vcpu_rip(vcpu));
		break;
	}
}

/*
 * Wait while the VM is paused or this vcpu is halted.
 * Returns false once the VM has ended.  Called without the lock.
 */
static bool
vcpu_wait_runnable(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	bool run;

	pthread_mutex_lock(&vm->lock);
	while (vm->state != VM_STATE_EXITED && (vm->state == VM_STATE_PAUSED ||
	    vcpu->halted)) {
		atomic_store(&vcpu->state, vcpu->halted ? VCPU_STATE_HALTED :
		    VCPU_STATE_PAUSED);
		vm->parked++;
		pthread_cond_broadcast(&vm->cond);
		pthread_cond_wait(&vm->cond, &vm->lock);
		vm->parked--;
	}
	run = vm->state != VM_STATE_EXITED;
	pthread_mutex_unlock(&vm->lock);
	if (run)
		atomic_store(&vcpu->state, VCPU_STATE_RUNNING);
	return run;
}

static void *
vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	struct vm *vm = vcpu->vm;

	while (vcpu_wait_runnable(vcpu)) {
		if (nvmm_vcpu_run(&vm->mach, &vcpu->nv) == -1) {
			vm_request_exit(vm, WORKER_EXIT_ERROR, 0,
			    "vcpu %u: nvmm_vcpu_run: %s", vcpu->id,
			    strerror(errno));
			break;
		}
		vcpu_handle_exit(vcpu);
	}
	atomic_store(&vcpu->state, VCPU_STATE_STOPPED);
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Creation. */

/*
 * CPUID topology from the definition: the logical processor count of a
 * package in leaf 1 (and HTT), cores per package in leaf 4 (Intel) and
 * 0x80000008 (AMD), threads per core in 0x8000001E.  Leaf 0xB/0x1F would
 * need per-subleaf values, which NVMM's CPUID conf cannot express, so
 * their level fields are cleared (EBX = 0 means "not supported") and
 * guests fall back to the leaves above; EDX keeps the x2APIC id.
 */
static int
vcpu_topology(struct vm *vm, struct vcpu *vcpu)
{
	const struct vmdef *def = vm->def;
	unsigned int per_pkg = def->cores * def->threads;
	struct nvmm_vcpu_conf_cpuid c[5];
	unsigned int i, n = 0;

	/* NVMM refuses a mask whose set and del bits overlap. */

	memset(c, 0, sizeof(c));
	c[n].leaf = 0x1;
	c[n].u.mask.set.ebx = (per_pkg & 0xFF) << 16;
	c[n].u.mask.del.ebx = 0x00FF0000 & ~c[n].u.mask.set.ebx;
	if (per_pkg > 1)
		c[n].u.mask.set.edx = 1U << 28;		/* HTT */
	else
		c[n].u.mask.del.edx = 1U << 28;
	n++;
	c[n].leaf = 0x4;
	c[n].u.mask.set.eax = ((def->cores - 1) & 0x3F) << 26;
	c[n].u.mask.del.eax = 0xFC000000 & ~c[n].u.mask.set.eax;
	n++;
	c[n].leaf = 0xB;
	c[n].u.mask.del.eax = c[n].u.mask.del.ebx = c[n].u.mask.del.ecx = ~0U;
	n++;
	c[n].leaf = 0x80000008;
	c[n].u.mask.set.ecx = (per_pkg - 1) & 0xFF;
	c[n].u.mask.del.ecx = 0xF0FF & ~c[n].u.mask.set.ecx;
	n++;
	c[n].leaf = 0x8000001E;
	c[n].u.mask.set.ebx = ((def->threads - 1) & 0xFF) << 8;
	c[n].u.mask.del.ebx = 0xFF00 & ~c[n].u.mask.set.ebx;
	n++;
	for (i = 0; i < n; i++) {
		c[i].mask = 1;
		if (nvmm_vcpu_configure(&vm->mach, &vcpu->nv,
		    NVMM_VCPU_CONF_CPUID, &c[i]) == -1)
			return -errno;
	}
	return 0;
}

int
vcpu_create_all(struct vm *vm)
{
	struct nvmm_assist_callbacks cbs = { vcpu_io_cb, vcpu_mem_cb };
	unsigned int i;
	int error;

	vm->vcpus = calloc(vm->def->vcpus, sizeof(*vm->vcpus));
	if (vm->vcpus == NULL)
		return -ENOMEM;
	for (i = 0; i < vm->def->vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		vcpu->vm = vm;
		vcpu->id = i;
		if (nvmm_vcpu_create(&vm->mach, i, &vcpu->nv) == -1)
			return -errno;
		vm->nvcpus++;
		if (nvmm_vcpu_configure(&vm->mach, &vcpu->nv,
		    NVMM_VCPU_CONF_CALLBACKS, &cbs) == -1)
			return -errno;
		if (vm->def->vcpus > 1 && (error = vcpu_topology(vm, vcpu)) != 0)
			return error;
	}
	return 0;
}

int
vcpu_start_all(struct vm *vm)
{
	sigset_t all, old;
	unsigned int i;
	int error = 0;

	/*
	 * Process signals belong to the main loop, so the threads start with
	 * them blocked.  Nothing else is: libvmm's kick signal (nvmm_vcpu_stop)
	 * must reach them.
	 */
	sigemptyset(&all);
	sigaddset(&all, SIGTERM);
	sigaddset(&all, SIGINT);
	sigaddset(&all, SIGHUP);
	sigaddset(&all, SIGCHLD);
	sigaddset(&all, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_mutex_lock(&vm->lock);
	vm->state = VM_STATE_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	vm->started_ns = vm_now_ns();
	for (i = 0; i < vm->nvcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		error = -pthread_create(&vcpu->thread, NULL, vcpu_thread, vcpu);
		if (error != 0)
			break;
		vcpu->thread_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (error != 0)
		vm_request_exit(vm, WORKER_EXIT_OSERR, 0,
		    "cannot start vcpu thread %u: %s", i, strerror(-error));
	return error;
}

/* ------------------------------------------------------------------------ */
/* Run control. */

void
vm_request_exit(struct vm *vm, enum worker_exit e, int code,
    const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (vm->state == VM_STATE_EXITED) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	/* Ctrl-Alt-Del makes Linux reboot: after a stop request, that is it. */
	if (e == WORKER_EXIT_REBOOT && vm->stop_pending)
		e = WORKER_EXIT_POWEROFF;
	vm->state = VM_STATE_EXITED;
	vm->exit = e;
	vm->exit_code = code;
	va_start(ap, fmt);
	vsnprintf(vm->exit_why, sizeof(vm->exit_why), fmt, ap);
	va_end(ap);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);

	vm_kick_all(vm);
	uv_async_send(&vm->wake);
}

/* Main thread: wait until every started vcpu thread is parked. */
static void
vm_wait_parked(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	while (vm->parked < vm->nvcpus && vm->state != VM_STATE_EXITED)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
}

int
vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_STATE_RUNNING) {
		pthread_mutex_unlock(&vm->lock);
		return -EBUSY;
	}
	vm->state = VM_STATE_PAUSED;
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);
	vm_wait_parked(vm);
	return 0;
}

int
vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_STATE_PAUSED) {
		pthread_mutex_unlock(&vm->lock);
		return -EBUSY;
	}
	vm->state = vm->stop_pending ? VM_STATE_STOPPING : VM_STATE_RUNNING;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

/*
 * A reset ends this worker with "reboot", and its supervisor starts the VM
 * again in a fresh one.  An in-place reset (devices reset, kernel loaded
 * again, vcpu state set back) is not reliable on KVM: an IN or OUT that
 * KVM emulated leaves a completion pending in the kernel, which the next
 * KVM_RUN carries out over the registers the reset wrote (the guest then
 * runs on in its old code), and on the nested KVM used for our tests the
 * completion runs further guest code even with immediate_exit set.  With
 * the in-kernel irqchip the LAPICs and the APs' wait-for-SIPI state
 * cannot be reset through libnvmm's API either.
 */
void
vm_request_reset(struct vm *vm)
{
	vm_request_exit(vm, WORKER_EXIT_REBOOT, 0, "reset requested");
}

static void
vm_stop_timeout(uv_timer_t *t)
{
	struct vm *vm = t->data;

	vm_request_exit(vm, WORKER_EXIT_POWEROFF, 0,
	    "the guest did not stop in time; forced off");
}

int
vm_stop(struct vm *vm, bool force, unsigned int timeout_ms)
{
	bool again;

	if (force) {
		vm_request_exit(vm, WORKER_EXIT_POWEROFF, 0, "forced stop");
		return 0;
	}
	pthread_mutex_lock(&vm->lock);
	if (vm->state == VM_STATE_EXITED || vm->state == VM_STATE_SETUP) {
		pthread_mutex_unlock(&vm->lock);
		return -EBUSY;
	}
	again = vm->stop_pending;
	vm->stop_pending = true;
	/* A paused guest cannot shut down: let it run. */
	vm->state = VM_STATE_STOPPING;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);

	/* A second request only shortens the deadline. */
	if (!again || uv_timer_get_due_in(&vm->stop_timer) > timeout_ms)
		uv_timer_start(&vm->stop_timer, vm_stop_timeout, timeout_ms, 0);
	if (!again && vm->i8042 != NULL)
		i8042_ctrl_alt_del(vm->i8042);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Interrupts, deferred calls, windows, devices. */

bool
vm_has_irqchip(const struct vm *vm)
{
	return vm->def != NULL && vm->def->irqchip;
}

void
vm_irq_line(struct vm *vm, unsigned int irq, int level)
{
	struct nvmm_vmm_conf_irq_line l = { irq, level != 0 };

	if (!vm_has_irqchip(vm) || !vm->mach_ok)
		return;
	if (nvmm_machine_configure(&vm->mach, NVMM_MACH_CONF_VMM_IRQ_LINE,
	    &l) == -1)
		log_warn("irq line %u", irq);
}

void
vm_irq_pulse(struct vm *vm, unsigned int irq)
{
	vm_irq_line(vm, irq, 1);
	vm_irq_line(vm, irq, 0);
}

int
vm_defer(struct vm *vm, void (*fn)(void *), void *arg)
{
	struct vm_deferred *d, **tail;

	if ((d = malloc(sizeof(*d))) == NULL)
		return -ENOMEM;
	d->fn = fn;
	d->arg = arg;
	d->next = NULL;
	pthread_mutex_lock(&vm->lock);
	for (tail = &vm->deferred; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = d;
	pthread_mutex_unlock(&vm->lock);
	uv_async_send(&vm->wake);
	return 0;
}

uv_loop_t *
vm_loop(struct vm *vm)
{
	return &vm->loop;
}

int
vm_mmio_alloc(struct vm *vm, uint64_t *base, unsigned int *irq)
{
	if (vm->nmmio == VM_MMIO_MAX)
		return -ENOSPC;
	vm_mmio_window(vm, vm->nmmio, base, irq);
	vm->nmmio++;
	return 0;
}

void
vm_mmio_window(const struct vm *vm, unsigned int i, uint64_t *base,
    unsigned int *irq)
{
	*base = VM_MMIO_BASE + (uint64_t)i * VM_MMIO_STRIDE;
	*irq = vm_mmio_gsi[i % VM_MMIO_MAX];
}

int
vm_device_add(struct vm *vm, const struct vm_device_ops *ops, void *dev)
{
	struct vm_device *d;

	d = realloc(vm->devs, (vm->ndevs + 1) * sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d[vm->ndevs].ops = ops;
	d[vm->ndevs].dev = dev;
	vm->devs = d;
	vm->ndevs++;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The main thread's side. */

static void
vm_run_deferred(struct vm *vm)
{
	struct vm_deferred *d, *next;

	pthread_mutex_lock(&vm->lock);
	d = vm->deferred;
	vm->deferred = NULL;
	pthread_mutex_unlock(&vm->lock);
	for (; d != NULL; d = next) {
		next = d->next;
		d->fn(d->arg);
		free(d);
	}
}

static void
vm_join_all(struct vm *vm)
{
	unsigned int i;

	for (i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	}
}

static void
vm_wake(uv_async_t *a)
{
	struct vm *vm = a->data;
	bool ended;

	vm_run_deferred(vm);
	pthread_mutex_lock(&vm->lock);
	ended = vm->state == VM_STATE_EXITED;
	pthread_mutex_unlock(&vm->lock);
	if (!ended)
		return;
	vm_join_all(vm);
	uv_timer_stop(&vm->stop_timer);
	control_final(vm);
	uv_stop(&vm->loop);
}

int
vm_init(struct vm *vm, const struct vmdef *def)
{
	int error;

	memset(vm, 0, sizeof(*vm));
	vm->def = def;
	vm->kernel_fd = vm->initrd_fd = -1;
	vm->state = VM_STATE_SETUP;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	if ((error = uv_loop_init(&vm->loop)) != 0)
		return error;
	if ((error = uv_async_init(&vm->loop, &vm->wake, vm_wake)) != 0)
		return error;
	vm->wake.data = vm;
	uv_timer_init(&vm->loop, &vm->stop_timer);
	vm->stop_timer.data = vm;
	return 0;
}

void
vm_run(struct vm *vm)
{
	uv_run(&vm->loop, UV_RUN_DEFAULT);
	/* Whatever stopped the loop, no vcpu thread outlives it. */
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_STATE_EXITED) {
		pthread_mutex_unlock(&vm->lock);
		vm_request_exit(vm, WORKER_EXIT_SOFTWARE, 0,
		    "main loop ended early");
	} else
		pthread_mutex_unlock(&vm->lock);
	vm_join_all(vm);
}

void
vm_fini(struct vm *vm)
{
	unsigned int i;

	vm_join_all(vm);
	for (i = vm->ndevs; i > 0; i--) {
		if (vm->devs[i - 1].ops->destroy != NULL)
			vm->devs[i - 1].ops->destroy(vm->devs[i - 1].dev);
	}
	free(vm->devs);
	vm->devs = NULL;
	vm->ndevs = 0;
	if (vm->mach_ok) {
		for (i = 0; i < vm->nvcpus; i++)
			(void)nvmm_vcpu_destroy(&vm->mach, &vm->vcpus[i].nv);
	}
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nvcpus = 0;
	mem_teardown(vm);
	if (vm->mach_ok) {
		(void)nvmm_machine_destroy(&vm->mach);
		vm->mach_ok = false;
	}
	bus_teardown(vm);
}
