/* kernel_testsupport.c - lets tests reproduce the environments `gcheap doctor`
 * must diagnose, for real rather than by mocking the probe.
 *
 * gk_seccomp_deny_userfaultfd installs the same rule Docker's default seccomp
 * profile applies: userfaultfd(2) fails with the given errno, everything else
 * is allowed. It is irreversible for the calling process and its children, so
 * tests call it in a forked child before exec (subprocess preexec_fn). */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "kernel.h"

#if defined(__x86_64__)
#define GK_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define GK_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int gk_seccomp_deny_userfaultfd(int err)
{
#if defined(GK_AUDIT_ARCH) && defined(SYS_userfaultfd)
    if (err <= 0 || err > (int)SECCOMP_RET_DATA)
        return -EINVAL;
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, GK_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return gk_neg_errno();
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return gk_neg_errno();
    return 0;
#else
    return -ENOSYS;
#endif
}
