/* The KVM probe guest: a boot sector that enters 64-bit long mode and writes 0x2a to
   QEMU's isa-debug-exit port. Build: as --32 -o p.o kvm_probe.S &&
   ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o p.bin p.o; accel.py embeds the result. */
.code16
.globl _start
_start:
  cli
  xor %ax, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $0x7c00, %sp
  mov $0x1000, %di
  mov $0x1800, %cx
  rep stosw
  movl $0x2003, 0x1000
  movl $0x3003, 0x2000
  movl $0x83, 0x3000
  lgdtl gdt_desc
  mov %cr4, %eax
  or $0x20, %eax
  mov %eax, %cr4
  mov $0x1000, %eax
  mov %eax, %cr3
  mov $0xC0000080, %ecx
  rdmsr
  or $0x100, %eax
  wrmsr
  mov %cr0, %eax
  or $0x80000001, %eax
  mov %eax, %cr0
  ljmpl $0x08, $long_mode
.code64
long_mode:
  mov $0x2a, %al
  out %al, $0xf4
1: hlt
  jmp 1b
.p2align 3
gdt:
  .quad 0
  .quad 0x00AF9A000000FFFF
  .quad 0x00CF92000000FFFF
gdt_desc:
  .word gdt_desc - gdt - 1
  .long gdt
.org 510
.word 0xaa55
