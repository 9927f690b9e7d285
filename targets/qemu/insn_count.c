/*
 * insn_count.c - exact instruction counts under QEMU TCG (user and system mode).
 *
 * Counts every executed guest instruction, and for each address range given, the
 * instructions executed inside it and how often it was entered at its first instruction from
 * outside (calls, when the range is one function: a loop branching back to the entry or a
 * return from a helper the function called is not a call). Arguments (-plugin ./insn_count.so,arg=...,arg=...):
 *   out=PATH               write the counts there at exit (else to stderr)
 *   range=NAME:START:END   hex addresses, END exclusive; up to MAX_RANGES of them
 *   range=NAME:START:END:CALLER_START:CALLER_END
 *                          also count each call inclusively (functions it calls, e.g. the
 *                          soft-float helpers, included): from its entry until control is back
 *                          in the caller's range
 * Output lines: "total <n>" then "range <name> <insns> <calls> <inclusive insns or ->".
 *
 * Debian's QEMU 7.2 ships no qemu-plugin.h, so the few declarations used here are written
 * out below against the stable plugin API version 1 (docs/devel/tcg-plugins.rst).
 * One vCPU is assumed (the Cortex-M, RISC-V and qemu-user runs here have one).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* only passed through */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;
EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

#define MAX_RANGES 64

struct range {
  char name[64];
  uint64_t start, end;
  uint64_t insns, entries;
  /* Translation blocks run outside the range so far, and that count when one inside last ran:
   * if they differ when the entry block runs, the block before it was outside: a call. */
  uint64_t outside_blocks, outside_blocks_seen;
  uint64_t caller_start, caller_end; /* 0, 0: no inclusive count */
  uint64_t inclusive, total_at_entry;
  bool in_call;
};

static uint64_t total;
static struct range ranges[MAX_RANGES];
static int n_ranges;
static char out_path[4096];

static void on_block_inside(unsigned int vcpu, void *userdata) {
  struct range *r = userdata;
  (void)vcpu;
  r->outside_blocks_seen = r->outside_blocks;
}

static void on_entry_block(unsigned int vcpu, void *userdata) {
  struct range *r = userdata;
  (void)vcpu;
  if (r->outside_blocks != r->outside_blocks_seen) {
    r->entries++;
    if (r->caller_end != 0 && !r->in_call) {
      r->in_call = true;
      r->total_at_entry = total;
    }
  }
  r->outside_blocks_seen = r->outside_blocks;
}

/* Back in the caller: the call, with everything it called, is over. */
static void on_caller_block(unsigned int vcpu, void *userdata) {
  struct range *r = userdata;
  (void)vcpu;
  if (r->in_call) {
    r->inclusive += total - r->total_at_entry;
    r->in_call = false;
  }
}

/* Instructions get inline adds (no helper calls), so counts stay exact even when a
 * translation block is left early by an exception. Calls need a callback, but only on the
 * blocks inside a range. */
static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  size_t i, n = qemu_plugin_tb_n_insns(tb);
  uint64_t first = qemu_plugin_tb_vaddr(tb);
  int r;
  (void)id;
  for (r = 0; r < n_ranges; r++) {
    struct range *rg = &ranges[r];
    if (first == rg->start) {
      qemu_plugin_register_vcpu_tb_exec_cb(tb, on_entry_block, QEMU_PLUGIN_CB_NO_REGS, rg);
    } else if (first > rg->start && first < rg->end) {
      qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block_inside, QEMU_PLUGIN_CB_NO_REGS, rg);
    } else {
      qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &rg->outside_blocks, 1);
      if (first >= rg->caller_start && first < rg->caller_end) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, on_caller_block, QEMU_PLUGIN_CB_NO_REGS, rg);
      }
    }
  }
  for (i = 0; i < n; i++) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    uint64_t pc = qemu_plugin_insn_vaddr(insn);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &total, 1);
    for (r = 0; r < n_ranges; r++) {
      if (pc >= ranges[r].start && pc < ranges[r].end) {
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &ranges[r].insns, 1);
      }
    }
  }
}

static void report_counts(qemu_plugin_id_t id, void *userdata) {
  FILE *f = out_path[0] ? fopen(out_path, "w") : stderr;
  int r;
  (void)id;
  (void)userdata;
  if (!f) {
    fprintf(stderr, "insn_count: cannot write %s\n", out_path);
    return;
  }
  fprintf(f, "total %llu\n", (unsigned long long)total);
  for (r = 0; r < n_ranges; r++) {
    char inclusive[32] = "-";
    if (ranges[r].caller_end != 0) {
      snprintf(inclusive, sizeof inclusive, "%llu", (unsigned long long)ranges[r].inclusive);
    }
    fprintf(f, "range %s %llu %llu %s\n", ranges[r].name, (unsigned long long)ranges[r].insns,
            (unsigned long long)ranges[r].entries, inclusive);
  }
  if (f != stderr) {
    fclose(f);
  }
}

static bool parse_range(const char *spec, struct range *r) {
  const char *colon = strchr(spec, ':');
  char *end;
  size_t len = colon ? (size_t)(colon - spec) : 0;
  if (!colon || len == 0 || len >= sizeof r->name) {
    return false;
  }
  memcpy(r->name, spec, len);
  r->name[len] = '\0';
  r->start = strtoull(colon + 1, &end, 16);
  if (*end != ':') {
    return false;
  }
  r->end = strtoull(end + 1, &end, 16);
  if (*end == ':') {
    r->caller_start = strtoull(end + 1, &end, 16);
    if (*end != ':') {
      return false;
    }
    r->caller_end = strtoull(end + 1, &end, 16);
    if (r->caller_end <= r->caller_start) {
      return false;
    }
  }
  return *end == '\0' && r->end > r->start;
}

int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  int i;
  (void)info;
  for (i = 0; i < argc; i++) {
    if (strncmp(argv[i], "out=", 4) == 0 && strlen(argv[i] + 4) < sizeof out_path) {
      strcpy(out_path, argv[i] + 4);
    } else if (strncmp(argv[i], "range=", 6) == 0 && n_ranges < MAX_RANGES &&
               parse_range(argv[i] + 6, &ranges[n_ranges])) {
      n_ranges++;
    } else {
      fprintf(stderr, "insn_count: bad argument '%s'\n", argv[i]);
      return -1;
    }
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_atexit_cb(id, report_counts, NULL);
  return 0;
}
