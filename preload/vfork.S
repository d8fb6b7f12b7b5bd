/* SPDX-License-Identifier: MIT */
/*
 * vfork for the shim (x86_64): a hook (layer 6 of preload/, see shim.c).
 *
 * vfork cannot be wrapped by a C function: the child would return through
 * (and so overwrite) a stack frame the suspended parent still needs. Like
 * glibc, keep the return address in a register across the syscall: the
 * child and parent each push their own copy back before returning.
 *
 * Before the syscall, the thread-local flag vp_vfork_child is set: the child
 * borrows this thread (same memory, same TLS), so every hook it runs passes
 * through unrecorded, while exec still gets the shim's environment back.
 * The parent continues in vp_vfork_parent (a tail call: it returns straight
 * to our caller), which clears the flag and records the fork.
 */
	.text
	.globl vfork
	.type vfork, @function
	.hidden vp_vfork_parent
vfork:
	.cfi_startproc
	movq	vp_vfork_child@gottpoff(%rip), %rax
	movl	$1, %fs:(%rax)
	popq	%rdi			/* return address, out of the shared stack */
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rdi
	movl	$58, %eax		/* SYS_vfork */
	syscall
	pushq	%rdi
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rip, 0
	testq	%rax, %rax
	jz	1f			/* child: plain return */
	movq	%rax, %rdi		/* parent or error (-errno) */
	jmp	vp_vfork_parent
1:	ret
	.cfi_endproc
	.size vfork, .-vfork

	.section .note.GNU-stack,"",@progbits
