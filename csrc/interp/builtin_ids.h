/* builtin_ids.h - the id of every native (index into gi_natives), from
 * native_list.h. B_* are the built-in namespace (gcheap/interp/bytecode.py
 * BUILTINS, same order), T_* internal types, M_* methods, F_* module functions. */
#ifndef GCHEAP_INTERP_BUILTIN_IDS_H
#define GCHEAP_INTERP_BUILTIN_IDS_H

enum gi_native_id {
#define N(id, name, fn, min, max, flags) id,
#include "interp/native_list.h"
#undef N
    N_COUNT
};
#define B_COUNT (B_RUNTIMEWARNING + 1)      /* the built-in namespace */
#define B_FIRST_EXC B_BASEEXCEPTION
#define B_LAST_EXC B_RUNTIMEWARNING

#endif
