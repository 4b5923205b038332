/*
 * tests/guest/entry.S - everything the guest runs at CPL 0, kept tiny because CPL 0 is
 * emulated on PVM hosts: the PVH note and 32-bit entry, the switch to long mode on static
 * page tables, per-CPU TSS/ltr/lidt and the drop to CPL 3, the CPL 0 services (svc_call),
 * the idle IDT that hands an interrupt taken in hlt back to CPL 3, the CPL 3 interrupt stubs
 * and the AP real-mode trampoline (copied to TRAMPOLINE_PA by smp.c).
 */
#include "layout.h"

#define TSS_LIMIT (TSS_HDR_SIZE + TSS_IOMAP_SIZE)

/* struct cpu_boot (cpu.h): what each CPU's start-up below reads from cpu_boot_table */
#define CB_KSTACK_TOP 0
#define CB_TSS 8
#define CB_USTACK_TOP 16
#define CB_SIZE 24

/* ---- PVH entry note: XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen", 64-bit address ---- */
    .section .note.Xen, "a"
    .p2align 2
    .long 4, 8, 18
    .asciz "Xen"
    .quad pvh_start32

/* ---- static identity map of the first 4 GiB with 2 MiB pages, all user-accessible ---- */
    .section .data.pagetables, "aw"
    .p2align 12
    .globl pt_pml4, pt_pdpt
pt_pml4:
    .quad pt_pdpt + 0x7
    .fill 511, 8, 0
pt_pdpt:
    .quad pt_pd + 0x7
    .quad pt_pd + 0x1007
    .quad pt_pd + 0x2007
    .quad pt_pd + 0x3007
    .fill 508, 8, 0
pt_pd:
    .set pd_pa, 0
    .rept 2048
    .if pd_pa >= 0xfe000000
    .quad pd_pa + 0x9f          /* P RW US PWT PCD PS: LAPIC, IOAPIC, GED and other MMIO */
    .else
    .quad pd_pa + 0x87          /* P RW US PS */
    .endif
    .set pd_pa, pd_pa + 0x200000
    .endr

/* ---- GDT and descriptor-table pointers ---- */
    .data
    .p2align 4
    .globl gdt
gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* 0x08 kernel code64 */
    .quad 0x00cf92000000ffff    /* 0x10 kernel data */
    .quad 0x00cff2000000ffff    /* 0x18 user data */
    .quad 0x00affa000000ffff    /* 0x20 user code64 */
    .quad 0x00cf9a000000ffff    /* 0x28 kernel code32 (AP trampoline) */
    .fill 2 * GUEST_MAX_CPUS, 8, 0
gdt_end:
    .p2align 3
    .word 0, 0, 0
    .globl gdtr
gdtr:
    .word gdt_end - gdt - 1
    .quad gdt
    .word 0, 0, 0
    .globl idtr_main
idtr_main:
    .word 256 * 16 - 1
    .quad idt_main
    .word 0, 0, 0
idtr_idle:
    .word 256 * 16 - 1
    .quad idt_idle
    .word 0, 0, 0
idtr_empty:
    .word 0
    .quad 0
    .globl ap_next_index
ap_next_index:
    .long 1
    .globl boot_tsc, boot_start_info
    .p2align 3
boot_tsc:
    .quad 0
boot_start_info:
    .quad 0

    .bss
    .p2align 12
    .globl idt_main, idt_idle
idt_main:
    .fill 256 * 16, 1, 0
idt_idle:
    .fill 256 * 16, 1, 0
/* the boot CPU's stacks and TSS; the APs' are allocated by smp.c before they start */
kstack0:
    .fill KSTACK_SIZE, 1, 0
tss0:
    .fill TSS_SLOT_SIZE, 1, 0
    .p2align 14                 /* USTACK_SIZE alignment: percpu = rsp & ~(USTACK_SIZE - 1) */
ustack0:
    .fill USTACK_SIZE, 1, 0

    .data
    .p2align 3
    .globl cpu_boot_table
cpu_boot_table:                 /* struct cpu_boot[GUEST_MAX_CPUS] */
    .quad kstack0 + KSTACK_SIZE, tss0, ustack0 + USTACK_SIZE
    .fill (GUEST_MAX_CPUS - 1) * CB_SIZE, 1, 0

/* ---- 32-bit entry (PVH: protected mode, paging off, ebx = hvm_start_info) ---- */
    .section .text.entry, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %esi
    rdtsc
    mov %eax, boot_tsc
    mov %edx, boot_tsc + 4
    mov %esi, boot_start_info
    .globl ap_start32
ap_start32:
    lgdt gdtr
    mov %cr4, %eax
    or $0x20, %eax              /* PAE */
    mov %eax, %cr4
    mov $pt_pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx       /* EFER.LME */
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000021, %eax        /* PG NE PE */
    mov %eax, %cr0
    ljmp $SEL_KCODE, $long_entry

    .code64
long_entry:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    xor %edi, %edi
    cmpq $0, boot_done
    je 1f
    mov $1, %edi                /* an AP: take the next CPU index */
    lock xadd %edi, ap_next_index
1:  movq $1, boot_done
    /* rdi = cpu index: CPL 0 stack, TSS (rsp0, empty I/O bitmap), descriptor, ltr, lidt */
    imul $CB_SIZE, %rdi, %rsi
    add $cpu_boot_table, %rsi
    mov CB_KSTACK_TOP(%rsi), %rsp
    mov CB_TSS(%rsi), %rbx
    mov %rsp, 4(%rbx)
    movw $TSS_HDR_SIZE, 102(%rbx)
    movb $0xff, TSS_LIMIT(%rbx)
    mov %rdi, %rcx
    shl $4, %rcx
    add $gdt + SEL_TSS0, %rcx
    mov %rbx, %rax
    and $0xffffff, %eax
    shl $16, %rax
    mov %rbx, %rdx
    shr $24, %rdx
    and $0xff, %edx
    shl $56, %rdx
    or %rdx, %rax
    movabs $((0x89 << 40) | TSS_LIMIT), %rdx
    or %rdx, %rax
    mov %rax, (%rcx)
    mov %rbx, %rdx
    shr $32, %rdx
    mov %rdx, 8(%rcx)
    mov %rdi, %rax
    shl $4, %rax
    add $SEL_TSS0, %rax
    ltr %ax
    lidt idtr_main
    /* drop to CPL 3: IOPL 3, interrupts off until the CPU's C code enables them */
    mov CB_USTACK_TOP(%rsi), %rax
    push $SEL_UDATA
    push %rax
    push $0x3002
    push $SEL_UCODE
    push $user_entry
    iretq

    .data
boot_done:
    .quad 0

/* ---- CPL 0 services ----
 * CPL 3 calls svc_call (rax = number, rdi/rsi = arguments). Its ud2 raises #UD, whose gate
 * leads to svc_entry at CPL 0 on the TSS rsp0 stack: PVM's emulator implements neither int n
 * in long mode (#UD) nor a privilege change on syscall, but it delivers exceptions through
 * the IDT like a CPU. A #UD from anywhere else is handed to CPL 3's exc_reflect (panic). */
    .text
    .globl svc_call
svc_call:
svc_call_ud2:
    ud2
    ret

    .globl svc_entry
svc_entry:
    cmpq $svc_call_ud2, (%rsp)
    jne svc_reflect
    addq $2, (%rsp)             /* return after the ud2 */
    cmp $SVC_IDLE, %rax
    je svc_idle
    cmp $SVC_RDMSR, %rax
    je svc_rdmsr
    cmp $SVC_WRMSR, %rax
    je svc_wrmsr
    cmp $SVC_RELOAD_CR3, %rax
    je svc_cr3
    cmp $SVC_TRIPLEFAULT, %rax
    je svc_triplefault
    cmp $SVC_STI, %rax
    je svc_sti
    cmp $SVC_CLI, %rax
    je svc_cli
svc_halt:
    cli
    hlt
    jmp svc_halt
svc_reflect:
    mov (%rsp), %rsi            /* exc_reflect(vector 6, rip) at CPL 3 */
    mov $6, %edi
    movq $exc_reflect, (%rsp)
    iretq
svc_idle:
    cmpq $0, (%rdi)             /* work was posted after CPL 3 looked: don't sleep */
    jne 1f
    lidt idtr_idle
    sti
    hlt
    cli
    lidt idtr_main
1:  xor %eax, %eax
    iretq
svc_rdmsr:
    mov %edi, %ecx
    rdmsr
    shl $32, %rdx
    or %rdx, %rax
    iretq
svc_wrmsr:
    mov %edi, %ecx
    mov %rsi, %rax
    mov %rsi, %rdx
    shr $32, %rdx
    wrmsr
    iretq
svc_cr3:
    mov %cr3, %rax
    mov %rax, %cr3
    iretq
svc_triplefault:
    lidt idtr_empty
    ud2
svc_sti:
    orq $0x200, 16(%rsp)
    iretq
svc_cli:
    andq $~0x200, 16(%rsp)
    iretq

/* ---- idle IDT: CPL 0 stubs, active only between lidt idtr_idle and the wake-up ---- */
    .p2align 4
    .globl idle_stubs
idle_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    pushq $vec
    jmp idle_common
    .set vec, vec + 1
    .endr
idle_common:
    pop %rax                    /* the vector */
    cmp $32, %rax
    jb svc_halt                 /* an exception at CPL 0: nothing sane to do */
    mov 24(%rsp), %rsp          /* drop the hlt frame: back on the svc_call #UD frame */
    lidt idtr_main
    iretq                       /* to CPL 3, rax = vector still in service at the LAPIC */

/* ---- main IDT: CPL 3 stubs (gates to the DPL 3 code segment, no stack switch) ---- */
    .p2align 4
    .globl isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp isr_common
    .set vec, vec + 1
    .endr
isr_common:
    cld
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    call isr_dispatch
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp
    iretq

user_entry:
    call guest_cpu_main
    ud2

/* ---- AP trampoline: copied to TRAMPOLINE_PA, entered in real mode by SIPI ---- */
    .section .rodata
    .p2align 4
    .globl tramp_start, tramp_end
    .code16
tramp_start:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl TRAMPOLINE_PA + (tramp_gdtr - tramp_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $SEL_KCODE32, $(TRAMPOLINE_PA + (tramp32 - tramp_start))
    .code32
tramp32:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    ljmp $SEL_KCODE32, $ap_start32
    .p2align 3
tramp_gdtr:
    .word gdt_end - gdt - 1
    .long gdt
tramp_end:
    .code64
