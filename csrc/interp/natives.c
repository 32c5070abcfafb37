/* natives.c - the table of natives (native_list.h): built-in functions and
 * types, methods of the built-in types, native module functions. */
#include "interp/interp_impl.h"

#define N(id, name, fn, min, max, flags) \
    bool fn(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwnames, uint32_t out);
#include "interp/native_list.h"
#undef N

const struct gi_native gi_natives[] = {
#define N(id, name, fn, min, max, flags) [id] = {name, fn, min, max, flags},
#include "interp/native_list.h"
#undef N
};
const uint32_t gi_nnatives = N_COUNT;
