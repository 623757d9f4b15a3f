/*
 * vio_irq.S: virtio interrupts through the in-kernel irqchip
 * (tests/test_virtio.c, "irqchip": true).  The virtio-rng window's GSI
 * (5, the first window's) goes through IOAPIC entry 5, edge-triggered, to
 * vector 0x25; the handler reads InterruptStatus, acknowledges it and
 * sends the EOI.  Each event is caused with interrupts off and taken in
 * STI; HLT: this host emulates CPL0 code, and KVM's emulator cannot
 * deliver an interrupt in long mode, so one must only arrive in HLT.
 * (Level-triggered entries do not work here either: the LAPIC shows no
 * vector in service during the handler, so the EOI never reaches the
 * IOAPIC.)  A line the device did not lower on the acknowledgement would
 * give no new edge: the second event would never interrupt.  After each
 * event the guest also checks that nothing more is pending (the LAPIC's
 * IRR bit for the vector).  Events: two used buffers, then a
 * configuration change (a descriptor loop puts the device in
 * DEVICE_NEEDS_RESET).  For each it prints "irq: <event>, NN interrupts,
 * isr XXXXXXXX, irr N".  Success: debug-exit 1.
 */
#define VIO_GUEST
#include "vio_lib.S"

#define LAPIC		0xfee00000
#define IOAPIC		0xfec00000
#define VECTOR		0x25
#define IDT		0x108400
#define IDTR		0x108a00
#define COUNT		0x109300	/* interrupts taken */
#define LAST_ISR	0x109304	/* InterruptStatus the handler read */
#define WINDOW		0x109308	/* the device window, for the handler */
#define IRR		0x10930c	/* LAPIC IRR bit of the vector */
#define QUIET_SPINS	2000

	.globl	_start
_start:
	movl	$4, %edi
	call	vio_find
	movq	%rbx, %rax
	testq	%rax, %rax
	jnz	1f
	EXPECT_EAX 1, "no virtio-rng window"
1:	movq	%rbx, WINDOW
	movl	$0, COUNT

	/* IDT: one 64-bit interrupt gate, CS 0x10. */
	leaq	handler(%rip), %rax
	movq	$(IDT + 16 * VECTOR), %rdi
	movw	%ax, (%rdi)
	movw	$0x10, 2(%rdi)
	movw	$0x8e00, 4(%rdi)
	shrq	$16, %rax
	movw	%ax, 6(%rdi)
	shrq	$16, %rax
	movl	%eax, 8(%rdi)
	movl	$0, 12(%rdi)
	movw	$(16 * VECTOR + 15), IDTR
	movq	$IDT, IDTR + 2
	lidt	IDTR

	/*
	 * GSI 5 also reaches the 8259s, which KVM's BSP takes through LVT0
	 * in ExtINT mode: mask them all.  Then the local APIC on, and
	 * IOAPIC entry 5: vector, edge-triggered, to APIC 0.
	 */
	movb	$0xff, %al
	outb	%al, $0x21
	outb	%al, $0xa1
	movl	$LAPIC, %edi
	movl	$0x1ff, 0xf0(%rdi)
	movl	$IOAPIC, %edi
	movl	$0x1b, (%rdi)
	movl	$0, 0x10(%rdi)
	movl	$0x1a, (%rdi)
	movl	$VECTOR, 0x10(%rdi)

	xorl	%esi, %esi
	movl	$FEAT_VERSION_1, %edx
	call	vio_init
	EXPECT_EAX 0xb, "features refused"
	xorl	%ecx, %ecx
	movq	$Q0, %rdi
	movl	$QSZ, %esi
	call	vio_queue
	EXPECT_EAX 1, "queue 0 not ready"
	call	vio_go

	/* Two used buffers, one interrupt each. */
	movl	$1, %r12d
2:	movq	$BUF, %rax
	movl	$16, %edx
	call	rng_req
	EXPECT_EAX 16, "used length"
	movl	%r12d, %edi
	call	wait_quiet
	PUTS	"irq: used buffer, "
	call	report
	incl	%r12d
	cmpl	$3, %r12d
	jne	2b

	/* A descriptor loop: a configuration change interrupt. */
	movq	$Q0, %rdi
	xorl	%ecx, %ecx
	movq	$BUF, %rax
	movl	$16, %edx
	movl	$(F_NEXT | F_WRITE), %r8d
	xorl	%r9d, %r9d
	call	vio_desc
	movq	$Q0, %rdi
	xorl	%eax, %eax
	call	vio_submit
	xorl	%ecx, %ecx
	call	vio_notify
	movl	$3, %edi
	call	wait_quiet
	PUTS	"irq: config change, "
	call	report
	movl	R_STATUS(%rbx), %eax
	EXPECT_EAX 0x4f, "status after the loop"
	movb	$1, %al
	jmp	vio_exit

/*
 * wait_quiet: with interrupts off on entry and return, take interrupts in
 * HLT until COUNT reaches %edi; then wait a while and record in IRR
 * whether the vector is pending again (the LAPIC's IRR bit).
 */
wait_quiet:
1:	cmpl	%edi, COUNT
	jae	2f
	sti
	hlt
	cli
	jmp	1b
2:	movl	$QUIET_SPINS, %ecx
3:	pause
	decl	%ecx
	jnz	3b
	movl	$LAPIC, %esi
	movl	0x210(%rsi), %eax		/* IRR, vectors 0x20-0x3f */
	shrl	$(VECTOR - 0x20), %eax
	andl	$1, %eax
	movl	%eax, IRR
	ret

/* report: "NN interrupts, isr XXXXXXXX, irr N\n". */
report:
	movl	COUNT, %eax
	call	puthex8
	PUTS	" interrupts, isr "
	movl	LAST_ISR, %eax
	call	puthex32
	PUTS	", irr "
	movl	IRR, %eax
	addb	$'0', %al
	movw	$COM1, %dx
	outb	%al, %dx
	call	putnl
	ret

handler:
	pushq	%rax
	pushq	%rdi
	movq	WINDOW, %rdi
	movl	R_ISR(%rdi), %eax
	movl	%eax, LAST_ISR
	movl	%eax, R_ISR_ACK(%rdi)
	incl	COUNT
	movl	$LAPIC, %edi
	movl	$0, 0xb0(%rdi)
	popq	%rdi
	popq	%rax
	iretq
