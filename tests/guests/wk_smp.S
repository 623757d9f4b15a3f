/*
 * wk_smp.S: an SMP guest for the worker (raw image, 64-bit entry at
 * 0x1000, in-kernel irqchip).  The boot processor enables its local APIC,
 * starts the others with INIT and two start-up IPIs (vector 0x02: real mode
 * at 0x2000), waits until each has set its APIC id bit in apmask, prints
 * "smp: mask XX logical YY\n" on COM1 (YY: CPUID.1:EBX[23:16]) and ends
 * through the debug-exit port with status 0.  Each AP: cpuid, lock-or its
 * bit, cli, hlt.  If the APs do not come up, the BSP gives up after a
 * bounded wait and prints what it saw, so the test fails with a message.
 */
#define DEV_GUEST
#include "dev_lib.S"

	.set	LAPIC, 0xfee00000

	.globl	_start
_start:
	/* Software-enable the local APIC: spurious vector register. */
	movl	$LAPIC, %edi
	movl	$0x1ff, 0xf0(%rdi)
	/* INIT to all excluding self, then two SIPIs with vector 2. */
	movl	$0x000c4500, 0x300(%rdi)
	movl	$0x000c4602, 0x300(%rdi)
	movl	$0x000c4602, 0x300(%rdi)

	/* Wait for apmask == expected (bits 1..n-1), bounded. */
	movl	$1, %eax
	cpuid
	shrl	$16, %ebx
	movzbl	%bl, %ebx		/* logical processors per package */
	movl	%ebx, logical(%rip)
	movl	$1, %eax
	movl	%ebx, %ecx
	shll	%cl, %eax
	subl	$2, %eax		/* (1 << n) - 2: every AP */
	movl	$200000, %ecx
1:	cmpb	%al, apmask(%rip)
	je	2f
	pause
	decl	%ecx
	jnz	1b
2:
	leaq	msg1(%rip), %rsi
	call	puts
	movzbl	apmask(%rip), %eax
	call	puthex
	leaq	msg2(%rip), %rsi
	call	puts
	movl	logical(%rip), %eax
	call	puthex
	movb	$'\n', %al
	call	putc
	xorb	%al, %al
	jmp	dev_exit

msg1:	.asciz	"smp: mask "
msg2:	.asciz	" logical "
	.balign	4
logical: .long	0
apmask:	.byte	0

/* The APs' real-mode entry: vector 2, CS = 0x0200, IP = 0. */
	.balign	0x1000
	.code16
ap_start:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	movl	$1, %eax
	cpuid
	shrl	$24, %ebx		/* initial APIC id */
	movb	%bl, %cl
	movb	$1, %al
	shlb	%cl, %al
	lock orb %al, apmask
4:	hlt
	jmp	4b
