/*
 * tests/unit/hypervisor/virtio/vblk_guest_entry.S - PVH entry of the virtio-blk probe guest:
 * 32-bit protected mode, paging off (the PVH boot ABI), then C.
 */
    .section .note.Xen, "a", @note
    .align 4
    .long 4, 4, 18          /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long _start

    .section .text.entry, "ax"
    .code32
    .globl _start
_start:
    cli
    movl $stack_top, %esp
    pushl %ebx              /* hvm_start_info */
    call guest_main
1:  hlt
    jmp 1b

    .section .bss
    .align 16
    .space 16384
stack_top:

    .section .note.GNU-stack, "", @progbits
