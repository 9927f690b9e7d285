/* rv32 start-up for sparsec's emulator harness (qemu-system-riscv32 -M virt -bios none):
 * global pointer, stack, trap vector, then C (sparsec_start zeroes .bss, exits with main()). */
  .section .text.start, "ax"
  .global _start
_start:
  .option push
  .option norelax
  la gp, __global_pointer$
  .option pop
  la sp, __stack_top
  la t0, sparsec_trap
  csrw mtvec, t0
  call sparsec_start
1:
  j 1b
