#ifndef GCHEAP_INTERP_H
#define GCHEAP_INTERP_H
#include "gcheap/runtime.h"
/* cdef-begin: everything up to cdef-end is fed to cffi's cdef unchanged */
/* interp.h - public API of the interpreter (csrc/interp). Between cdef-begin
 * and cdef-end: plain declarations, fed to cffi's cdef unchanged.
 *
 * gi_run loads a program image (the bytecode serialised by gcheap.interp.image),
 * runs it to completion on the runtime's heap in the calling thread, and reports
 * how it ended. Program output goes to out_fd, the traceback of an uncaught
 * exception to err_fd. Returns 0 when the program ran (result->status says how it
 * ended) or -errno when it could not start (-EINVAL bad image, -ENOMEM, -ENOSPC
 * class table full, -ESHUTDOWN runtime closed). */
#define GI_STATUS_OK 0          /* ran to the end */
#define GI_STATUS_EXCEPTION 1   /* an uncaught program exception (traceback printed) */
#define GI_STATUS_FATAL 2       /* the runtime failed under the program (message) */

struct gi_result {
    int32_t status;
    int32_t exc_builtin;        /* builtin id of the uncaught exception's class, -1 none */
    int32_t exc_line;           /* innermost traceback line */
    int32_t fatal_errno;        /* GI_STATUS_FATAL: the runtime's -errno */
    uint64_t instructions;      /* safepoint polls: loop iterations and calls */
    uint64_t allocations;       /* objects the interpreter allocated */
    char message[256];          /* exception type and message, or the fatal error */
};

/* Interpreter options (bit flags). */
#define GI_OPT_TRACE_GC 1       /* reserved */
#define GI_OPT_BUDGET 2         /* stop (GI_STATUS_FATAL, -ETIME) after GI_BUDGET_INSTRUCTIONS */
#define GI_OPT_SIGINT 4         /* while the program runs, SIGINT raises KeyboardInterrupt in it
                                 * at its next safepoint poll (the previous handler is restored) */
#define GI_BUDGET_INSTRUCTIONS 10000000

int gi_run(struct gr_runtime *rt, const char *image, uint64_t image_len, int out_fd, int err_fd,
           int options, struct gi_result *result);
/* cdef-end */
#endif
