/*
 * runner.c - runs the kernel calls listed in sparsec-request.bin (in the emulator's working
 * directory, read through semihosting on bare metal, stdio under qemu-user) and writes what
 * each call stored to sparsec-reply.bin. Many calls per run keep emulator start-up rare.
 *
 * Request (little-endian 32-bit words): "SPRQ", ncalls, then per call
 *   id, nargs, args[nargs], nloads, {offset, nbytes, bytes[nbytes]}..., nstores, {offset, nbytes}...
 * Loads fill the arena before the call; stores copy arena bytes to the reply after it.
 * The reply ends with "DONE", ncalls, so a truncated run is never mistaken for a complete one.
 */
#include <stddef.h>
#include <stdint.h>

#include "runner.h"
#include "semihost.h"

#define REQUEST "sparsec-request.bin"
#define REPLY "sparsec-reply.bin"
#define MAGIC_REQUEST 0x51525053u /* "SPRQ" */
#define MAGIC_DONE 0x454E4F44u    /* "DONE" */
#define MAX_ARGS 32u

enum { EXIT_IO = 2, EXIT_BAD_REQUEST = 3, EXIT_ARENA = 4, EXIT_UNKNOWN_KERNEL = 5 };

static unsigned char arena[SPARSEC_ARENA_BYTES] __attribute__((aligned(16)));

static void fail(int code, const char *why) __attribute__((noreturn));
static void fail(int code, const char *why) {
  sh_puts("sparsec runner: ");
  sh_puts(why);
  sh_puts("\n");
  sh_exit(code);
}

static void read_exact(int fd, void *buf, uint32_t n) {
  if (n != 0 && sh_read(fd, buf, n) != (long)n) {
    fail(EXIT_BAD_REQUEST, "truncated request");
  }
}

static void write_exact(int fd, const void *buf, uint32_t n) {
  if (n != 0 && sh_write(fd, buf, n) != (long)n) {
    fail(EXIT_IO, "cannot write " REPLY);
  }
}

static uint32_t word(int fd) {
  uint32_t w;
  read_exact(fd, &w, sizeof w);
  return w;
}

static unsigned char *region(uint32_t offset, uint32_t nbytes) {
  if (offset > SPARSEC_ARENA_BYTES || nbytes > SPARSEC_ARENA_BYTES - offset) {
    fail(EXIT_ARENA, "array outside the arena");
  }
  return arena + offset;
}

int main(void) {
  uint32_t args[MAX_ARGS];
  uint32_t ncalls, c, done[2];
  const int in = sh_open_read(REQUEST);
  const int out = sh_open_write(REPLY);
  if (in < 0 || out < 0) {
    fail(EXIT_IO, "cannot open " REQUEST " or " REPLY);
  }
  if (word(in) != MAGIC_REQUEST) {
    fail(EXIT_BAD_REQUEST, "not a request file");
  }
  ncalls = word(in);
  for (c = 0; c < ncalls; c++) {
    const uint32_t id = word(in);
    const uint32_t nargs = word(in);
    uint32_t i, n;
    if (nargs > MAX_ARGS) {
      fail(EXIT_BAD_REQUEST, "too many arguments");
    }
    for (i = 0; i < nargs; i++) {
      args[i] = word(in);
    }
    for (n = word(in); n > 0; n--) {
      const uint32_t offset = word(in);
      const uint32_t nbytes = word(in);
      read_exact(in, region(offset, nbytes), nbytes);
    }
    if (sparsec_runner_call(id, args, nargs, arena) != 0) {
      fail(EXIT_UNKNOWN_KERNEL, "unknown kernel id or argument count");
    }
    for (n = word(in); n > 0; n--) {
      const uint32_t offset = word(in);
      const uint32_t nbytes = word(in);
      write_exact(out, region(offset, nbytes), nbytes);
    }
  }
  done[0] = MAGIC_DONE;
  done[1] = ncalls;
  write_exact(out, done, sizeof done);
  if (sh_close(out) != 0 || sh_close(in) != 0) {
    fail(EXIT_IO, "cannot close " REPLY);
  }
  return 0;
}
