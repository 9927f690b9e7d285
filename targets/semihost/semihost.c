/* Arm semihosting (also the RISC-V semihosting binding): see semihost.h. */
#include <stdint.h>

#include "semihost.h"

enum {
  SYS_OPEN = 0x01,
  SYS_CLOSE = 0x02,
  SYS_WRITE0 = 0x04,
  SYS_WRITE = 0x05,
  SYS_READ = 0x06,
  SYS_EXIT_EXTENDED = 0x20,
  ADP_STOPPED_APPLICATION_EXIT = 0x20026,
  MODE_RB = 1, /* fopen modes as semihosting numbers them: "rb" */
  MODE_WB = 5  /* "wb" */
};

/* One out-of-line trap: RISC-V requires the three-instruction sequence uncompressed and on
 * one page, so it exists exactly once, aligned. */
static uintptr_t __attribute__((noinline)) sh_call(uintptr_t op, const void *args) {
#if defined(__arm__) || defined(__thumb__)
  register uintptr_t r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = args;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
#elif defined(__riscv)
  register uintptr_t a0 __asm__("a0") = op;
  register const void *a1 __asm__("a1") = args;
  __asm__ volatile(".option push\n\t.option norvc\n\t.balign 16\n\t"
                   "slli zero, zero, 0x1f\n\tebreak\n\tsrai zero, zero, 7\n\t.option pop"
                   : "+r"(a0)
                   : "r"(a1)
                   : "memory");
  return a0;
#else
#error "semihosting: unsupported architecture"
#endif
}

static size_t length(const char *s) {
  size_t n = 0;
  while (s[n] != '\0') {
    n++;
  }
  return n;
}

static int open_mode(const char *path, uintptr_t mode) {
  const uintptr_t args[3] = {(uintptr_t)path, mode, (uintptr_t)length(path)};
  return (int)(intptr_t)sh_call(SYS_OPEN, args);
}

int sh_open_read(const char *path) { return open_mode(path, MODE_RB); }

int sh_open_write(const char *path) { return open_mode(path, MODE_WB); }

/* SYS_READ and SYS_WRITE return the number of bytes NOT transferred. */
long sh_read(int fd, void *buf, size_t n) {
  const uintptr_t args[3] = {(uintptr_t)fd, (uintptr_t)buf, (uintptr_t)n};
  const uintptr_t left = sh_call(SYS_READ, args);
  return left > n ? -1 : (long)(n - left);
}

long sh_write(int fd, const void *buf, size_t n) {
  const uintptr_t args[3] = {(uintptr_t)fd, (uintptr_t)buf, (uintptr_t)n};
  const uintptr_t left = sh_call(SYS_WRITE, args);
  return left > n ? -1 : (long)(n - left);
}

int sh_close(int fd) {
  const uintptr_t args[1] = {(uintptr_t)fd};
  return (int)(intptr_t)sh_call(SYS_CLOSE, args);
}

void sh_puts(const char *text) { (void)sh_call(SYS_WRITE0, text); }

void sh_exit(int code) {
  const uintptr_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, (uintptr_t)code};
  (void)sh_call(SYS_EXIT_EXTENDED, args);
  for (;;) {
  }
}
