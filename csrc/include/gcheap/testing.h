#ifndef GCHEAP_TESTING_H
#define GCHEAP_TESTING_H
#include "gcheap/cmc.h"
#include "gcheap/kernel.h"
#include "gcheap/runtime.h"
/* cdef-begin: everything up to cdef-end is fed to cffi's cdef unchanged */
/* testing.h - public API of the test and benchmark support (csrc/testing).
 * Plain declarations only: fed to cffi's cdef unchanged. Nothing in the production
 * layers (kernel, cmc, runtime, gc, interp) includes this header or calls these. */
/* ---- test support ------------------------------------------------------------ */
/* Installs a seccomp filter that makes userfaultfd(2) fail with errno `err`
 * (what Docker's default profile does) and, with also_dev, the
 * USERFAULTFD_IOC_NEW ioctl of /dev/userfaultfd too. Irreversible: call it in
 * a child process before exec. */
int gk_seccomp_deny_userfaultfd(int err, int also_dev);
/* fork(2) with the GIL released; the child _exit(0)s at once, the parent
 * reaps it and gets its pid. */
int gk_fork_and_reap_child(void);

/* ---- raw-cost benchmarks (csrc/testing/bench_raw.c) ------------------------------------
 * Micro-benchmarks of the primitives above. The timing loops run in C so that
 * no Python overhead is measured. Each fills ns_out[0..n) with one sample per
 * repetition (per fault for the round trips) in ns and returns 0 or -errno.
 */

/* memcpy of `pages` populated pages into populated memory; one sample per rep. */
int gkb_memcpy(uint64_t pages, int reps, uint64_t *ns_out);
/* First-touch write fault of `pages` fresh 4 KiB pages (one byte per page). */
int gkb_first_touch(uint64_t pages, int reps, uint64_t *ns_out);
/* UFFDIO_COPY / ZEROPAGE / MOVE of `pages` pages into a registered, empty
 * range, `batch` pages per ioctl. No fault is pending: the ioctl cost alone. */
int gkb_uffd_copy(uint64_t pages, uint64_t batch, int reps, uint64_t *ns_out);
int gkb_uffd_zeropage(uint64_t pages, uint64_t batch, int reps, uint64_t *ns_out);
int gkb_uffd_move(uint64_t pages, uint64_t batch, int reps, uint64_t *ns_out);
/* Missing-fault round trip, one sample per fault: a read of a missing page
 * served by a handler thread (poll + read + UFFDIO_COPY), or by the faulting
 * thread itself in SIGBUS mode (csrc/kernel_sigbus.c). */
int gkb_fault_thread(uint64_t faults, uint64_t *ns_out);
int gkb_fault_sigbus(uint64_t faults, uint64_t *ns_out);
/* mremap(MREMAP_DONTUNMAP|MREMAP_FIXED) of `bytes` populated bytes from a 2 MiB
 * aligned source to a destination 2 MiB aligned + `misalign` bytes. */
int gkb_mremap_dontunmap(uint64_t bytes, uint64_t misalign, int reps, uint64_t *ns_out);

/* ---- testing and benchmark helpers (csrc/testing/cmc_support.c) ---- */
/* Builder: destination page p = from-space page p XOR pattern (word-wise). */
int cmc_use_xor_builder(struct cmc *c, uint64_t pattern);
/* Fills [addr, addr+len) with a deterministic pattern from seed (8-byte words). */
void cmc_test_fill(uintptr_t addr, uint64_t len, uint64_t seed);
/* Checks that [addr, addr+len) holds fill(seed) ^ pattern; returns the index of
 * the first bad word or -1. */
int64_t cmc_test_check(uintptr_t addr, uint64_t len, uint64_t seed, uint64_t pattern);
/* Touches one word in each of n pages starting at addr (stride pages apart),
 * reads it (write != 0: xors val into it) and stores each touch's duration (s). */
void cmc_test_touch(uintptr_t addr, uint64_t n, uint64_t stride, int write, uint64_t val,
                    double *times);
/* Range thief: for `seconds`, repeatedly mmap(MAP_FIXED_NOREPLACE) one page at
 * addr and unmap it at once. Returns how many times the mmap succeeded. */
int64_t cmc_test_hammer(uintptr_t addr, double seconds, volatile int *stop);

/* ---- runtime test support (csrc/testing/runtime_support.c) ---- */
/* Stores a reference into field idx of the instance behind h WITHOUT the write
 * barrier: what a store that bypasses gr_store_ref does. For the tests that show
 * the marking verifiers catch it. */
int gr_test_store_ref_unbarriered(gr_runtime *rt, int64_t h, int64_t idx, int64_t value_h);
/* cdef-end */
#endif
