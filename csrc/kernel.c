/* kernel.c - thin wrappers around the kernel primitives: userfaultfd and mremap. */
#define _GNU_SOURCE
#include <unistd.h>

#include "gcheap.h"

long gk_page_size(void)
{
    static long cached;
    if (!cached)
        cached = sysconf(_SC_PAGESIZE);
    return cached;
}
