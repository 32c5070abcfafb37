/* kernel_testsupport.c - lets tests reproduce the environments `gcheap doctor`
 * must diagnose, for real rather than by mocking the probe.
 *
 * gk_seccomp_deny_userfaultfd installs the same rule Docker's default seccomp
 * profile applies: userfaultfd(2) fails with the given errno, everything else
 * is allowed (optionally /dev/userfaultfd's USERFAULTFD_IOC_NEW as well, like a
 * container without that device). It is irreversible for the calling process and its children, so
 * tests call it in a forked child before exec (subprocess preexec_fn). */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel/kernel_impl.h"
#include "gcheap/testing.h"

#if defined(__x86_64__)
#define GK_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define GK_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int gk_seccomp_deny_userfaultfd(int err, int also_dev)
{
#if defined(GK_AUDIT_ARCH) && defined(SYS_userfaultfd)
    if (err <= 0 || err > (int)SECCOMP_RET_DATA)
        return -EINVAL;
    const uint32_t deny = SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA);
    /* ioctl(fd, USERFAULTFD_IOC_NEW) is denied too when also_dev is set, by
     * matching the low word of the command (little-endian args[1]). */
    const uint32_t dev_nr = also_dev ? (uint32_t)SYS_ioctl : (uint32_t)-1;
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, GK_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, deny),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, dev_nr, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)USERFAULTFD_IOC_NEW, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, deny),
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

/* fork(2) from C, so the parent can block in the kernel (a userfaultfd
 * EVENT_FORK waits until the monitor reads it) without holding the GIL. The
 * child exits at once; the parent reaps it. Returns the child's pid. */
int gk_fork_and_reap_child(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return gk_neg_errno();
    if (pid == 0)
        _exit(0);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return gk_neg_errno();
    }
    return (int)pid;
}
