/* gcheap.h - the one header every C source includes.
 *
 * It brings in the system headers the public API headers assume (stdint, stddef)
 * and then every public api_*.h, each of which is plain declarations that the
 * cffi build feeds to cdef unchanged. Internal headers (kernel.h, heap.h, ...)
 * include this one first.
 */
#ifndef GCHEAP_H
#define GCHEAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api_cmc.h"
#include "api_kernel.h"
#include "api_runtime.h"
#include "api_runtime_cmc.h"
#include "api_interp.h"

#endif
