/*
 * bench_boot.S: the boot benchmark's guest (tests/bench_worker.c): one flat
 * 64 KiB image that vmm-worker and QEMU both start the way a PC starts its
 * firmware.  QEMU maps it with -bios below 4 GiB and at 0xF0000 and resets
 * into it; the worker loads it raw at 0xF0000 and enters it in real mode
 * at 0xFFFF0 (CS 0xF000, IP 0xFFF0).  The reset vector, in the last 16
 * bytes, jumps back to the code, which writes '!' to COM1's transmit
 * register and 0 to the debug-exit port at 0x501 (QEMU's isa-debug-exit
 * ends with status (0 << 1) | 1 = 1, the worker's with 32).  A machine
 * without a debug-exit port leaves the guest halted with interrupts on,
 * which ends nothing: the benchmark uses that to look at a live worker.
 * No memory operand: nothing depends on the segment bases.
 */
	.code16
	.text
	.globl	_start
_start:
	.org	0xff00
code:
	movw	$0x3f8, %dx
	movb	$'!', %al
	outb	%al, %dx
	movw	$0x501, %dx
	xorb	%al, %al
	outb	%al, %dx
1:	sti
	hlt
	jmp	1b

	.org	0xfff0
reset:
	jmp	code
	.org	0x10000
