/*
 * sb_double_out.S: two OUT instructions back to back as the guest's very
 * first port writes.  When KVM reports the first one, the bytes before and
 * at RIP both decode as that OUT, so libvmm learns KVM's RIP convention by
 * running a throwaway one-page VM (kvm_cpu.c, probe_out_advances): under
 * the sandbox that needs KVM_CREATE_VM, KVM_SET_USER_MEMORY_REGION and
 * KVM_CREATE_VCPU.  Real mode at 0x1000: prints "ook\n" on COM1, then
 * writes 6 to the debug-exit port (worker status 38).
 */
	.code16
	.text
	.globl	_start
_start:
	movw	$0x3f8, %dx
	movb	$'o', %al
	outb	%al, %dx
	outb	%al, %dx
	movb	$'k', %al
	outb	%al, %dx
	movb	$'\n', %al
	outb	%al, %dx
	movw	$0x501, %dx
	movb	$6, %al
	outb	%al, %dx
1:	cli
	hlt
	jmp	1b
