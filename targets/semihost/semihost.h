/*
 * semihost.h - the few Arm semihosting calls sparsec's bare-metal harness needs: host file
 * I/O and an exit that hands main's return code to QEMU. One implementation serves Cortex-M
 * (bkpt 0xAB) and RISC-V (the slli/ebreak/srai sequence); no C library is needed.
 * QEMU needs -semihosting-config enable=on,target=native.
 */
#ifndef SPARSEC_SEMIHOST_H
#define SPARSEC_SEMIHOST_H

#include <stddef.h>

/* Exit code of a CPU fault (HardFault, illegal instruction, bad access): never a hang. */
#define SPARSEC_EXIT_FAULT 127

/* Open a host file (relative to QEMU's working directory) for reading or writing; -1 on error. */
int sh_open_read(const char *path);
int sh_open_write(const char *path);
/* Bytes actually transferred (may be less than n at the end of the file); -1 on error. */
long sh_read(int fd, void *buf, size_t n);
long sh_write(int fd, const void *buf, size_t n);
int sh_close(int fd);
/* Write a NUL-terminated message to QEMU's console (stderr/stdout of the emulator). */
void sh_puts(const char *text);
/* End the emulation; QEMU exits with `code` (SYS_EXIT_EXTENDED, ADP_Stopped_ApplicationExit). */
void sh_exit(int code) __attribute__((noreturn));

#endif /* SPARSEC_SEMIHOST_H */
