/* semihost.h on a hosted C library (Linux user space under qemu-user): plain stdio. */
#include <stdio.h>
#include <stdlib.h>

#include "semihost.h"

#define MAX_FILES 8

static FILE *files[MAX_FILES];

static int remember(FILE *f) {
  int fd;
  for (fd = 0; f != NULL && fd < MAX_FILES; fd++) {
    if (files[fd] == NULL) {
      files[fd] = f;
      return fd;
    }
  }
  if (f != NULL) {
    fclose(f);
  }
  return -1;
}

int sh_open_read(const char *path) { return remember(fopen(path, "rb")); }

int sh_open_write(const char *path) { return remember(fopen(path, "wb")); }

static FILE *lookup(int fd) { return fd >= 0 && fd < MAX_FILES ? files[fd] : NULL; }

long sh_read(int fd, void *buf, size_t n) {
  FILE *f = lookup(fd);
  return f ? (long)fread(buf, 1, n, f) : -1;
}

long sh_write(int fd, const void *buf, size_t n) {
  FILE *f = lookup(fd);
  return f ? (long)fwrite(buf, 1, n, f) : -1;
}

int sh_close(int fd) {
  FILE *f = lookup(fd);
  if (f == NULL) {
    return -1;
  }
  files[fd] = NULL;
  return fclose(f) == 0 ? 0 : -1;
}

void sh_puts(const char *text) { fputs(text, stderr); }

void sh_exit(int code) { exit(code); }
