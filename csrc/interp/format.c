/* format.c - text of values: str(), repr(), CPython's float repr, format specs,
 * printf-style % formatting and str.format.
 *
 * Text is built in a malloc'd buffer (outside the heap) while walking values.
 * A user class's __repr__/__str__/__format__ may run (and allocate) in the
 * middle of a walk, so containers are walked through root slots and re-read
 * after every element.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"

#define R (vm->roots)

bool vm_call_special(struct gi_vm *vm, int special, uint32_t self_slot, uint32_t args, uint32_t argc,
                     uint32_t out, bool *found);

void buf_put(struct gi_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_putc(struct gi_buf *b, char c) { buf_put(b, &c, 1); }

/* CPython's repr(float): the shortest digit string that round-trips, in fixed
 * notation when the decimal exponent is in [-4, 16), else d.ddde+XX. */
void format_float_repr(double d, char *out, size_t cap)
{
    if (isnan(d)) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(d)) {
        snprintf(out, cap, d > 0 ? "inf" : "-inf");
        return;
    }
    if (d == 0) {
        snprintf(out, cap, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    char tmp[40];
    int prec;
    /* 17 significant digits always round-trip; most values need fewer */
    for (prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (prec == 15) {
        /* shorter may do: search down */
        for (int p = 14; p >= 1; p--) {
            char t2[40];
            snprintf(t2, sizeof t2, "%.*e", p - 1, d);
            if (strtod(t2, NULL) != d)
                break;
            memcpy(tmp, t2, sizeof tmp);
        }
    }
    char digits[24];
    int nd = 0;
    const char *p = tmp;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int exp10 = atoi(p + 1);
    int decpt = exp10 + 1;
    char *o = out;
    char *end = out + cap - 1;
#define PUT(c) do { if (o < end) *o++ = (c); } while (0)
    if (neg)
        PUT('-');
    if (exp10 >= -4 && exp10 < 16) {
        if (decpt <= 0) {
            PUT('0');
            PUT('.');
            for (int i = 0; i < -decpt; i++)
                PUT('0');
            for (int i = 0; i < nd; i++)
                PUT(digits[i]);
        } else {
            for (int i = 0; i < decpt; i++)
                PUT(i < nd ? digits[i] : '0');
            PUT('.');
            if (nd > decpt)
                for (int i = decpt; i < nd; i++)
                    PUT(digits[i]);
            else
                PUT('0');
        }
    } else {
        PUT(digits[0]);
        if (nd > 1) {
            PUT('.');
            for (int i = 1; i < nd; i++)
                PUT(digits[i]);
        }
        char e[12];
        snprintf(e, sizeof e, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
        for (char *q = e; *q; q++)
            PUT(*q);
    }
    *o = 0;
#undef PUT
}

static void str_repr(const char *s, size_t n, struct gi_buf *b)
{
    bool has_single = memchr(s, '\'', n) != NULL, has_double = memchr(s, '"', n) != NULL;
    char q = has_single && !has_double ? '"' : '\'';
    buf_put(b, &q, 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == (unsigned char)q || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            buf_put(b, esc, 2);
        } else if (c == '\n') {
            buf_puts(b, "\\n");
        } else if (c == '\t') {
            buf_puts(b, "\\t");
        } else if (c == '\r') {
            buf_puts(b, "\\r");
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            buf_puts(b, esc);
        } else {
            buf_put(b, (const char *)&c, 1);
        }
    }
    buf_put(b, &q, 1);
}

static bool text(struct gi_vm *vm, uint32_t slot, bool repr, struct gi_buf *b, int depth);

/* Items of the container in slot (list, tuple) from index i, re-read each time. */
static bool seq_text(struct gi_vm *vm, uint32_t slot, const char *open, const char *close, bool tuple,
                     struct gi_buf *b, int depth)
{
    buf_puts(b, open);
    uint32_t t = vm_reserve(vm, 1);
    uint64_t n = 0;
    bool ok = true;
    for (uint64_t i = 0; ok; i++) {
        V *items;
        vm_seq(vm, R[slot], &items, &n);
        if (i >= n)
            break;
        if (i)
            buf_puts(b, ", ");
        R[t] = items[i];
        ok = text(vm, t, true, b, depth + 1);
    }
    vm_release(vm, t);
    if (tuple && n == 1)
        buf_puts(b, ",");
    buf_puts(b, close);
    return ok;
}

/* which: -1 a dict {k: v}, 0 its keys, 1 its values, 2 its items (k, v) */
static bool dict_text(struct gi_vm *vm, uint32_t slot, struct gi_buf *b, int depth, int which)
{
    uint32_t t = vm_reserve(vm, 1);
    bool ok = true, first = true;
    for (uint64_t e = 0; ok && e < fields(R[slot])[DICT_USED]; e++) {
        V key = arr_items(fields(R[slot])[DICT_KEYS])[e];
        if (!key)
            continue;
        if (!first)
            buf_puts(b, ", ");
        first = false;
        if (which == 2)
            buf_puts(b, "(");
        if (which != 1) {
            R[t] = key;
            ok = text(vm, t, true, b, depth + 1);
            if (!ok)
                break;
            if (which != 0)
                buf_puts(b, which == 2 ? ", " : ": ");
        }
        if (which != 0) {
            R[t] = arr_items(fields(R[slot])[DICT_VALS])[e];
            ok = text(vm, t, true, b, depth + 1);
        }
        if (which == 2)
            buf_puts(b, ")");
    }
    vm_release(vm, t);
    return ok;
}

static bool set_text(struct gi_vm *vm, uint32_t slot, struct gi_buf *b, int depth)
{
    uint32_t t = vm_reserve(vm, 1);
    bool ok = true;
    uint64_t pos = 0;
    V key;
    bool first = true;
    while (ok && set_next(vm, R[slot], &pos, &key)) {
        if (!first)
            buf_puts(b, ", ");
        first = false;
        R[t] = key;
        ok = text(vm, t, true, b, depth + 1);
    }
    vm_release(vm, t);
    return ok;
}

static const char *class_module(struct gi_vm *vm, int c)
{
    return vm->modules[vm->classes[c].module].name;
}

static void qual_class_name(struct gi_vm *vm, V v, struct gi_buf *b)
{
    int c = vm_user_class(vm, v);
    if (c >= 0) {
        buf_puts(b, class_module(vm, c));
        buf_puts(b, ".");
        buf_puts(b, vm->classes[c].name);
    } else {
        buf_puts(b, vm_type_name(vm, v));
    }
}

static void fake_address(V v, struct gi_vm *vm, struct gi_buf *b)
{
    /* CPython prints an address: ours changes when the heap is compacted */
    char tmp[32];
    snprintf(tmp, sizeof tmp, " at 0x%012" PRIxPTR, (uintptr_t)v);
    (void)vm;
    buf_puts(b, tmp);
}

/* Text of a user method's result: must be a str. */
static bool user_text(struct gi_vm *vm, uint32_t slot, int special, struct gi_buf *b)
{
    uint32_t t = vm_reserve(vm, 1);
    bool found;
    bool ok = vm_call_special(vm, special, slot, slot, 0, t, &found);
    if (ok) {
        V s = R[t];
        if (vm_kind(vm, s) != K_STR)
            ok = vm_raise(vm, B_TYPEERROR, "%s returned non-string (type %s)", gi_special_names[special],
                          vm_type_name(vm, s));
        else
            buf_put(b, str_ptr(s), str_nbytes(s));
    }
    vm_release(vm, t);
    return ok;
}

static bool exc_text(struct gi_vm *vm, uint32_t slot, bool repr, struct gi_buf *b, int depth)
{
    V e = R[slot];
    V args = fields(e)[EXC_ARGS];
    uint32_t n = args ? arr_len(args) : 0;
    uint32_t t = vm_reserve(vm, 1);
    bool ok = true;
    if (repr) {
        int c = vm_user_class(vm, e);
        buf_puts(b, c >= 0 ? vm->classes[c].name : gi_natives[fields(e)[EXC_TYPE]].name);
        if (n == 1) {
            buf_puts(b, "(");
            R[t] = arr_items(args)[0];
            ok = text(vm, t, true, b, depth + 1);
            buf_puts(b, ")");
        } else {
            R[t] = args ? args : vm->roots[vm->r_empty_str];
            if (args)
                ok = text(vm, t, true, b, depth + 1);
            else
                buf_puts(b, "()");
        }
    } else if (n == 1) {
        R[t] = arr_items(args)[0];
        /* str(KeyError(k)) is repr(k) */
        ok = text(vm, t, vm_exc_matches(vm, e, B_KEYERROR), b, depth + 1);
    } else if (n > 1) {
        R[t] = args;
        ok = text(vm, t, true, b, depth + 1);
    }
    vm_release(vm, t);
    return ok;
}

static bool text(struct gi_vm *vm, uint32_t slot, bool repr, struct gi_buf *b, int depth)
{
    if (depth > 1000)
        return vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded while getting the repr of an object");
    V v = R[slot];
    char tmp[96];
    int k = vm_kind(vm, v);
    if (vm_user_class(vm, v) >= 0) {
        if (!repr && has_special(vm, v, S_STR))
            return user_text(vm, slot, S_STR, b);
        if (has_special(vm, v, S_REPR))
            return user_text(vm, slot, S_REPR, b);
        if (k == K_INST) {
            buf_puts(b, "<");
            qual_class_name(vm, v, b);
            buf_puts(b, " object");
            fake_address(v, vm, b);
            buf_puts(b, ">");
            return true;
        }
    }
    switch (k) {
    case K_NONE: buf_puts(b, "None"); return true;
    case K_BOOL: buf_puts(b, fields(v)[0] ? "True" : "False"); return true;
    case K_INT:
        snprintf(tmp, sizeof tmp, "%" PRId64, int_val(v));
        buf_puts(b, tmp);
        return true;
    case K_FLOAT:
        format_float_repr(float_val(v), tmp, sizeof tmp);
        buf_puts(b, tmp);
        return true;
    case K_STR:
        if (repr)
            str_repr(str_ptr(v), str_nbytes(v), b);
        else
            buf_put(b, str_ptr(v), str_nbytes(v));
        return true;
    case K_LIST:
        return seq_text(vm, slot, "[", "]", false, b, depth);
    case K_TUPLE:
        return seq_text(vm, slot, "(", ")", true, b, depth);
    case K_DICT:
        buf_puts(b, "{");
        if (!dict_text(vm, slot, b, depth, -1))
            return FAIL;
        buf_puts(b, "}");
        return true;
    case K_VIEW: {
        uint64_t which = fields(v)[VIEW_WHICH];
        buf_puts(b, which == 0 ? "dict_keys([" : which == 1 ? "dict_values([" : "dict_items([");
        uint32_t t = vm_reserve(vm, 1);
        R[t] = fields(v)[VIEW_DICT];
        bool ok = dict_text(vm, t, b, depth, (int)which);
        vm_release(vm, t);
        buf_puts(b, "])");
        return ok;
    }
    case K_SET: {
        bool frozen = fields(v)[SET_FROZEN];
        if (fields(v)[SET_USED] == 0) {
            buf_puts(b, frozen ? "frozenset()" : "set()");
            return true;
        }
        buf_puts(b, frozen ? "frozenset({" : "{");
        if (!set_text(vm, slot, b, depth))
            return FAIL;
        buf_puts(b, frozen ? "})" : "}");
        return true;
    }
    case K_FUNC: {
        struct gi_code *c = &vm->codes[fields(v)[FUNC_CODE]];
        buf_puts(b, "<function ");
        buf_puts(b, c->qualname);
        fake_address(v, vm, b);
        buf_puts(b, ">");
        return true;
    }
    case K_CLASS: {
        int c = (int)fields(v)[CLASS_INDEX];
        buf_puts(b, "<class '");
        if (strcmp(class_module(vm, c), "builtins")) {
            buf_puts(b, class_module(vm, c));
            buf_puts(b, ".");
        }
        buf_puts(b, vm->classes[c].name);
        buf_puts(b, "'>");
        return true;
    }
    case K_BOUND: {
        V f = fields(v)[BOUND_FUNC];
        buf_puts(b, "<bound method ");
        if (vm_kind(vm, f) == K_FUNC)
            buf_puts(b, vm->codes[fields(f)[FUNC_CODE]].qualname);
        else
            buf_puts(b, gi_natives[fields(f)[BUILTIN_ID]].name);
        buf_puts(b, " of ");
        uint32_t t = vm_reserve(vm, 1);
        R[t] = fields(v)[BOUND_SELF];
        bool ok = text(vm, t, true, b, depth + 1);
        vm_release(vm, t);
        buf_puts(b, ">");
        return ok;
    }
    case K_BUILTIN: {
        const struct gi_native *n = &gi_natives[fields(v)[BUILTIN_ID]];
        if (fields(v)[BUILTIN_ID] == B_NOTIMPLEMENTED) {
            buf_puts(b, "NotImplemented");
        } else if (fields(v)[BUILTIN_ID] == B_ELLIPSIS) {
            buf_puts(b, "Ellipsis");
        } else if (n->flags & N_TYPE) {
            snprintf(tmp, sizeof tmp, "<class '%s'>", n->name);
            buf_puts(b, tmp);
        } else if (n->flags & N_METHOD) {
            const char *dot = strrchr(n->name, '.');
            snprintf(tmp, sizeof tmp, "<method '%s' of '%.*s' objects>", dot + 1, (int)(dot - n->name), n->name);
            buf_puts(b, tmp);
        } else {
            const char *dot = strrchr(n->name, '.');
            snprintf(tmp, sizeof tmp, "<built-in function %s>", dot ? dot + 1 : n->name);
            buf_puts(b, tmp);
        }
        return true;
    }
    case K_EXC:
        return exc_text(vm, slot, repr, b, depth);
    case K_RANGE: {
        int64_t st = (int64_t)fields(v)[RANGE_START], sp = (int64_t)fields(v)[RANGE_STOP], sc = (int64_t)fields(v)[RANGE_STEP];
        if (sc == 1)
            snprintf(tmp, sizeof tmp, "range(%" PRId64 ", %" PRId64 ")", st, sp);
        else
            snprintf(tmp, sizeof tmp, "range(%" PRId64 ", %" PRId64 ", %" PRId64 ")", st, sp, sc);
        buf_puts(b, tmp);
        return true;
    }
    case K_SLICE: {
        buf_puts(b, "slice(");
        uint32_t t = vm_reserve(vm, 1);
        bool ok = true;
        for (int i = 0; i < 3 && ok; i++) {
            if (i)
                buf_puts(b, ", ");
            R[t] = fields(R[slot])[i];
            ok = text(vm, t, true, b, depth + 1);
        }
        vm_release(vm, t);
        buf_puts(b, ")");
        return ok;
    }
    case K_GEN:
        buf_puts(b, "<generator object ");
        buf_puts(b, vm->codes[fields(v)[GEN_CODE]].qualname);
        fake_address(v, vm, b);
        buf_puts(b, ">");
        return true;
    case K_MODULE: {
        V name = fields(v)[MODULE_NAME];
        buf_puts(b, "<module '");
        buf_put(b, str_ptr(name), str_nbytes(name));
        buf_puts(b, vm->modules[fields(v)[MODULE_INDEX]].native ? "' (built-in)>" : "'>");
        return true;
    }
    case K_ARRAY: {
        char code = (char)fields(v)[ARRAY_CODE];
        snprintf(tmp, sizeof tmp, "array('%c'", code);
        buf_puts(b, tmp);
        uint64_t n = fields(v)[ARRAY_LEN];
        if (n) {
            buf_puts(b, ", [");
            for (uint64_t i = 0; i < n; i++) {
                V a = R[slot];
                if (i)
                    buf_puts(b, ", ");
                if (code == 'd' || code == 'f')
                    format_float_repr(arr_f64(fields(a)[ARRAY_DATA])[i], tmp, sizeof tmp);
                else
                    snprintf(tmp, sizeof tmp, "%" PRId64, arr_i64(fields(a)[ARRAY_DATA])[i]);
                buf_puts(b, tmp);
            }
            buf_puts(b, "]");
        }
        buf_puts(b, ")");
        return true;
    }
    case K_FILE:
        buf_puts(b, fields(v)[FILE_FD] == 2 ? "<_io.TextIOWrapper name='<stderr>' mode='w' encoding='utf-8'>"
                                           : "<_io.TextIOWrapper name='<stdout>' mode='w' encoding='utf-8'>");
        return true;
    case K_INST:
        buf_puts(b, "<object object");
        fake_address(v, vm, b);
        buf_puts(b, ">");
        return true;
    default:
        buf_puts(b, "<");
        buf_puts(b, vm_type_name(vm, v));
        buf_puts(b, " object");
        fake_address(v, vm, b);
        buf_puts(b, ">");
        return true;
    }
}

bool vm_to_text(struct gi_vm *vm, uint32_t slot, bool repr, struct gi_buf *b)
{
    return text(vm, slot, repr, b, 0);
}

V vm_str_of(struct gi_vm *vm, uint32_t slot, bool repr)
{
    V v = R[slot];
    if (!repr && vm_kind(vm, v) == K_STR && vm_user_class(vm, v) < 0)
        return v;
    struct gi_buf b = {0};
    if (!vm_to_text(vm, slot, repr, &b)) {
        free(b.p);
        return 0;
    }
    if (b.oom) {
        free(b.p);
        vm_raise(vm, B_MEMORYERROR, "out of memory formatting a value");
        return 0;
    }
    V s = vm_new_str(vm, b.p ? b.p : "", b.len);
    free(b.p);
    return s;
}

/* ---- format specs: [[fill]align][sign][#][0][width][,|_][.precision][type] */

struct spec {
    char fill, align, sign, type, group;
    bool zero, alt;
    int width, prec;
};

static bool parse_spec(const char *s, size_t n, struct spec *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->fill = ' ';
    sp->prec = -1;
    size_t i = 0;
    if (n >= 2 && strchr("<>^=", s[1]) && s[1]) {
        sp->fill = s[0];
        sp->align = s[1];
        i = 2;
    } else if (n >= 1 && strchr("<>^=", s[0]) && s[0]) {
        sp->align = s[0];
        i = 1;
    }
    if (i < n && strchr("+- ", s[i]) && s[i])
        sp->sign = s[i++];
    if (i < n && s[i] == '#') {
        sp->alt = true;
        i++;
    }
    if (i < n && s[i] == '0') {
        sp->zero = true;
        i++;
    }
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        sp->width = sp->width * 10 + (s[i++] - '0');
        if (sp->width > 10000)
            return false;
    }
    if (i < n && (s[i] == ',' || s[i] == '_'))
        sp->group = s[i++];
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return false;
        sp->prec = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            sp->prec = sp->prec * 10 + (s[i++] - '0');
            if (sp->prec > 1000)
                return false;
        }
    }
    if (i < n)
        sp->type = s[i++];
    return i == n;
}

static void group_digits(char *num, size_t cap, char sep)
{
    char out[600];
    size_t len = strlen(num);
    size_t intlen = strcspn(num, ".eE");
    size_t o = 0;
    for (size_t i = 0; i < intlen && o < sizeof out - 2; i++) {
        out[o++] = num[i];
        size_t left = intlen - i - 1;
        if (left && left % 3 == 0)
            out[o++] = sep;
    }
    for (size_t i = intlen; i < len && o < sizeof out - 1; i++)
        out[o++] = num[i];
    out[o] = 0;
    snprintf(num, cap, "%s", out);
}

static uint64_t utf8_cps(const char *s, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static void pad(struct gi_buf *b, const char *sign, const char *body, size_t bodylen, const struct spec *sp,
                char default_align)
{
    size_t len = strlen(sign) + utf8_cps(body, bodylen);
    size_t width = sp->width > 0 ? (size_t)sp->width : 0;
    char align = sp->align ? sp->align : (sp->zero ? '=' : default_align);
    char fill = sp->align ? sp->fill : (sp->zero ? '0' : ' ');
    size_t padn = width > len ? width - len : 0;
    size_t before = align == '<' ? 0 : align == '^' ? padn / 2 : padn;
    if (align == '=') {
        buf_puts(b, sign);
        for (size_t i = 0; i < padn; i++)
            buf_putc(b, fill);
        buf_put(b, body, bodylen);
        return;
    }
    for (size_t i = 0; i < before; i++)
        buf_putc(b, fill);
    buf_puts(b, sign);
    buf_put(b, body, bodylen);
    for (size_t i = before; i < padn; i++)
        buf_putc(b, fill);
}

static void format_double(double mag, char t, int prec, bool alt, char *body, size_t cap)
{
    if (isinf(mag)) {
        snprintf(body, cap, t >= 'A' && t <= 'Z' ? "INF" : "inf");
        return;
    }
    if (isnan(mag)) {
        snprintf(body, cap, t >= 'A' && t <= 'Z' ? "NAN" : "nan");
        return;
    }
    char f[16];
    if (t == 'g' || t == 'G') {
        snprintf(f, sizeof f, alt ? "%%#.*%c" : "%%.*%c", t);
        snprintf(body, cap, f, prec == 0 ? 1 : prec, mag);
        return;
    }
    snprintf(f, sizeof f, alt ? "%%#.*%c" : "%%.*%c", t);
    snprintf(body, cap, f, prec, mag);
}

bool vm_format_spec(struct gi_vm *vm, uint32_t slot, const char *s, size_t n, struct gi_buf *b)
{
    V v = R[slot];
    if (vm_user_class(vm, v) >= 0 && has_special(vm, v, S_FORMAT)) {
        uint32_t t = vm_reserve(vm, 1);
        bool ok = vm_set_out_str(vm, t, s, n);
        if (ok) {
            bool found;
            ok = vm_call_special(vm, S_FORMAT, slot, t, 1, t, &found);
            if (ok && vm_kind(vm, R[t]) != K_STR)
                ok = vm_raise(vm, B_TYPEERROR, "__format__ must return a str");
            if (ok)
                buf_put(b, str_ptr(R[t]), str_nbytes(R[t]));
        }
        vm_release(vm, t);
        return ok;
    }
    if (n == 0)
        return vm_to_text(vm, slot, false, b);
    struct spec sp;
    if (!parse_spec(s, n, &sp))
        return vm_raise(vm, B_VALUEERROR, "Invalid format specifier '%.*s' for object of type '%s'", (int)n, s,
                        vm_type_name(vm, v));
    int k = vm_kind(vm, v);
    char body[700];
    const char *sign = "";
    if (is_num(k)) {
        bool is_float = k == K_FLOAT;
        char t = sp.type;
        if (!is_float && (t == 0 || t == 'd' || t == 'n' || t == 'x' || t == 'X' || t == 'o' || t == 'b' || t == 'c')) {
            if (sp.prec >= 0)
                return vm_raise(vm, B_VALUEERROR, "Precision not allowed in integer format specifier");
            int64_t x = (int64_t)fields(v)[0];
            uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
            if (t == 'c') {
                char c = (char)x;
                snprintf(body, sizeof body, "%c", c);
            } else if (t == 'x' || t == 'X' || t == 'o' || t == 'b') {
                char digits[80];
                int nd = 0;
                int base = t == 'o' ? 8 : t == 'b' ? 2 : 16;
                const char *dig = t == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
                do {
                    digits[nd++] = dig[mag % base];
                    mag /= base;
                } while (mag);
                size_t o = 0;
                if (sp.alt) {
                    body[o++] = '0';
                    body[o++] = t == 'o' ? 'o' : t == 'b' ? 'b' : t;
                }
                while (nd)
                    body[o++] = digits[--nd];
                body[o] = 0;
            } else {
                snprintf(body, sizeof body, "%" PRIu64, mag);
            }
            sign = x < 0 ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
        } else if (t == 0 || t == 'f' || t == 'F' || t == 'e' || t == 'E' || t == 'g' || t == 'G' || t == '%') {
            double d = is_float ? float_val(v) : (double)(int64_t)fields(v)[0];
            double mag = fabs(d);
            sign = signbit(d) && !isnan(d) ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
            if (t == 0 && sp.prec < 0) {
                format_float_repr(mag, body, sizeof body);
            } else if (t == 0) {
                /* like 'g', but keeps a digit after the point in fixed notation */
                snprintf(body, sizeof body, "%.*g", sp.prec ? sp.prec : 1, mag);
                if (!strpbrk(body, ".einf"))
                    strncat(body, ".0", sizeof body - strlen(body) - 1);
            } else if (t == '%') {
                format_double(mag * 100, 'f', sp.prec < 0 ? 6 : sp.prec, sp.alt, body, sizeof body - 1);
                strcat(body, "%");
            } else {
                format_double(mag, t, sp.prec < 0 ? 6 : sp.prec, sp.alt, body, sizeof body);
            }
        } else {
            return vm_raise(vm, B_VALUEERROR, "Unknown format code '%c' for object of type '%s'", t, vm_type_name(vm, v));
        }
        if (sp.group)
            group_digits(body, sizeof body, sp.group);
        pad(b, sign, body, strlen(body), &sp, '>');
        return true;
    }
    if (k == K_STR && (sp.type == 0 || sp.type == 's')) {
        if (sp.sign)
            return vm_raise(vm, B_VALUEERROR, "Sign not allowed in string format specifier");
        if (sp.align == '=')
            return vm_raise(vm, B_VALUEERROR, "'=' alignment not allowed in string format specifier");
        size_t nb = str_nbytes(v);
        const char *p = str_ptr(v);
        if (sp.prec >= 0) {
            size_t i = 0;
            int cps = 0;
            while (i < nb && cps < sp.prec) {
                i++;
                while (i < nb && ((unsigned char)p[i] & 0xC0) == 0x80)
                    i++;
                cps++;
            }
            nb = i;
        }
        char *copy = malloc(nb + 1);
        if (!copy)
            return vm_raise(vm, B_MEMORYERROR, "out of memory formatting");
        memcpy(copy, p, nb);
        pad(b, "", copy, nb, &sp, '<');
        free(copy);
        return true;
    }
    if (k == K_STR)
        return vm_raise(vm, B_VALUEERROR, "Unknown format code '%c' for object of type 'str'", sp.type);
    if (sp.type == 0 || sp.type == 's') {
        /* object.__format__ with a spec: str(v) padded */
        struct gi_buf tb = {0};
        if (!vm_to_text(vm, slot, false, &tb)) {
            free(tb.p);
            return FAIL;
        }
        pad(b, "", tb.p ? tb.p : "", tb.len, &sp, '<');
        free(tb.p);
        return true;
    }
    return vm_raise(vm, B_TYPEERROR, "unsupported format string passed to %s.__format__", vm_type_name(vm, v));
}

/* ---- printf-style formatting: fmt % args */

bool vm_percent_format(struct gi_vm *vm, uint32_t fmt_slot, uint32_t args_slot, uint32_t out)
{
    uint32_t t = vm_reserve(vm, 3);   /* fmt, args, item */
    R[t] = R[fmt_slot];
    R[t + 1] = R[args_slot];
    V a = R[t + 1];
    bool tuple = vm_kind(vm, a) == K_TUPLE && vm_user_class(vm, a) < 0;
    bool mapping = !tuple && vm_kind(vm, a) == K_DICT;
    uint32_t nargs = tuple ? arr_len(a) : 1, argi = 0;
    bool used_mapping = false;
    struct gi_buf b = {0};
    bool ok = false;
    size_t i = 0;
    for (;;) {
        V f = R[t];
        size_t n = str_nbytes(f);
        if (i >= n)
            break;
        const char *p = str_ptr(f);
        const char *pct = memchr(p + i, '%', n - i);
        size_t upto = pct ? (size_t)(pct - p) : n;
        buf_put(&b, p + i, upto - i);
        i = upto;
        if (!pct)
            break;
        i++;
        if (i >= n) {
            vm_raise(vm, B_VALUEERROR, "incomplete format");
            goto out;
        }
        /* mapping key */
        bool have_item = false;
        if (p[i] == '(') {
            if (!mapping) {
                vm_raise(vm, B_TYPEERROR, "format requires a mapping");
                goto out;
            }
            size_t close = i + 1;
            int depth = 1;
            while (close < n && depth) {
                if (p[close] == '(')
                    depth++;
                else if (p[close] == ')')
                    depth--;
                if (depth)
                    close++;
            }
            if (close >= n) {
                vm_raise(vm, B_VALUEERROR, "incomplete format key");
                goto out;
            }
            /* from the rooted format string: allocating the key may move it */
            V key = vm_substr(vm, t, i + 1, close, cps_of(p + i + 1, close - i - 1));
            if (!key)
                goto out;
            R[t + 2] = key;
            if (!vm_getitem(vm, t + 1, t + 2, t + 2))
                goto out;
            have_item = true;
            used_mapping = true;
            f = R[t];
            p = str_ptr(f);
            i = close + 1;
        }
        struct spec sp;
        memset(&sp, 0, sizeof sp);
        sp.prec = -1;
        bool left = false, zero = false, alt = false;
        char signc = 0;
        for (; i < n && strchr("-+ #0", p[i]) && p[i]; i++) {
            if (p[i] == '-') left = true;
            else if (p[i] == '+') signc = '+';
            else if (p[i] == ' ' && signc != '+') signc = ' ';
            else if (p[i] == '#') alt = true;
            else zero = true;
        }
        int width = 0, prec = -1;
        if (i < n && p[i] == '*') {
            i++;
            if (!tuple || argi >= nargs || !is_intlike(vm_kind(vm, arr_items(R[t + 1])[argi]))) {
                vm_raise(vm, B_TYPEERROR, "* wants int");
                goto out;
            }
            width = (int)int_val(arr_items(R[t + 1])[argi++]);
            if (width < 0) {
                left = true;
                width = -width;
            }
        } else {
            while (i < n && p[i] >= '0' && p[i] <= '9')
                width = width * 10 + (p[i++] - '0');
        }
        if (i < n && p[i] == '.') {
            i++;
            prec = 0;
            if (i < n && p[i] == '*') {
                i++;
                if (!tuple || argi >= nargs || !is_intlike(vm_kind(vm, arr_items(R[t + 1])[argi]))) {
                    vm_raise(vm, B_TYPEERROR, "* wants int");
                    goto out;
                }
                prec = (int)int_val(arr_items(R[t + 1])[argi++]);
            } else {
                while (i < n && p[i] >= '0' && p[i] <= '9')
                    prec = prec * 10 + (p[i++] - '0');
            }
        }
        while (i < n && strchr("hlL", p[i]) && p[i])
            i++;
        if (i >= n) {
            vm_raise(vm, B_VALUEERROR, "incomplete format");
            goto out;
        }
        char c = p[i++];
        if (c == '%') {
            buf_puts(&b, "%");
            continue;
        }
        if (!have_item) {
            if (argi >= nargs) {
                vm_raise(vm, B_TYPEERROR, "not enough arguments for format string");
                goto out;
            }
            R[t + 2] = tuple ? arr_items(R[t + 1])[argi] : R[t + 1];
            argi++;
        }
        V item = R[t + 2];
        int k = vm_kind(vm, item);
        char body[700];
        const char *sign = "";
        char signbuf[4];
        struct gi_buf sb = {0};
        const char *text_p = body;
        size_t text_n;
        switch (c) {
        case 's': case 'r': case 'a':
            if (!vm_to_text(vm, t + 2, c != 's', &sb)) {
                free(sb.p);
                goto out;
            }
            text_p = sb.p ? sb.p : "";
            text_n = sb.len;
            if (prec >= 0 && (size_t)prec < text_n) {
                size_t j = 0;
                int cps = 0;
                while (j < text_n && cps < prec) {
                    j++;
                    while (j < text_n && ((unsigned char)text_p[j] & 0xC0) == 0x80)
                        j++;
                    cps++;
                }
                text_n = j;
            }
            break;
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': {
            int64_t x;
            if (is_intlike(k)) {
                x = (int64_t)fields(item)[0];
            } else if (k == K_FLOAT && (c == 'd' || c == 'i' || c == 'u')) {
                double d = float_val(item);
                if (isnan(d) || isinf(d) || d >= 9.2233720368547758e18 || d < -9.2233720368547758e18) {
                    vm_raise(vm, B_OVERFLOWERROR, "cannot convert float to integer");
                    goto out;
                }
                x = (int64_t)d;
            } else {
                if (c == 'd' || c == 'i' || c == 'u')
                    vm_raise(vm, B_TYPEERROR, "%%%c format: a real number is required, not %s", c, vm_type_name(vm, item));
                else
                    vm_raise(vm, B_TYPEERROR, "%%%c format: an integer is required, not %s", c, vm_type_name(vm, item));
                goto out;
            }
            uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
            if (c == 'x' || c == 'X' || c == 'o')
                snprintf(body, sizeof body, c == 'x' ? "%" PRIx64 : c == 'X' ? "%" PRIX64 : "%" PRIo64, mag);
            else
                snprintf(body, sizeof body, "%" PRIu64, mag);
            if (prec > 0 && strlen(body) < (size_t)prec) {
                size_t n = strlen(body), pad = (size_t)prec - n;
                if (pad + n >= sizeof body)
                    pad = sizeof body - 1 - n;
                memmove(body + pad, body, n + 1);
                memset(body, '0', pad);
            }
            /* the sign, then the alternate form's prefix: both go before zero padding */
            snprintf(signbuf, sizeof signbuf, "%s%s", x < 0 ? "-" : signc == '+' ? "+" : signc == ' ' ? " " : "",
                     !alt ? "" : c == 'x' ? "0x" : c == 'X' ? "0X" : c == 'o' ? "0o" : "");
            sign = signbuf;
            text_n = strlen(body);
            break;
        }
        case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': {
            if (!is_num(k)) {
                vm_raise(vm, B_TYPEERROR, "must be real number, not %s", vm_type_name(vm, item));
                goto out;
            }
            double d = num_f(k, item);
            format_double(fabs(d), c, prec < 0 ? 6 : prec, alt, body, sizeof body);
            sign = signbit(d) && !isnan(d) ? "-" : signc == '+' ? "+" : signc == ' ' ? " " : "";
            text_n = strlen(body);
            break;
        }
        case 'c':
            if (is_intlike(k)) {
                int64_t x = (int64_t)fields(item)[0];
                if (x < 0 || x > 0x10FFFF) {
                    vm_raise(vm, B_OVERFLOWERROR, "%%c arg not in range(0x110000)");
                    goto out;
                }
                /* UTF-8 of code point x */
                uint32_t cp = (uint32_t)x;
                size_t o = 0;
                if (cp < 0x80) body[o++] = (char)cp;
                else if (cp < 0x800) { body[o++] = (char)(0xC0 | cp >> 6); body[o++] = (char)(0x80 | (cp & 0x3F)); }
                else if (cp < 0x10000) { body[o++] = (char)(0xE0 | cp >> 12); body[o++] = (char)(0x80 | (cp >> 6 & 0x3F)); body[o++] = (char)(0x80 | (cp & 0x3F)); }
                else { body[o++] = (char)(0xF0 | cp >> 18); body[o++] = (char)(0x80 | (cp >> 12 & 0x3F)); body[o++] = (char)(0x80 | (cp >> 6 & 0x3F)); body[o++] = (char)(0x80 | (cp & 0x3F)); }
                body[o] = 0;
                text_n = o;
            } else if (k == K_STR && fields(item)[STR_CPLEN] == 1) {
                text_n = str_nbytes(item);
                memcpy(body, str_ptr(item), text_n);
                body[text_n] = 0;
            } else {
                vm_raise(vm, B_TYPEERROR, "%%c requires int or char");
                goto out;
            }
            break;
        default:
            vm_raise(vm, B_VALUEERROR, "unsupported format character '%c' (0x%x) at index %zu", c, (unsigned)(unsigned char)c, i - 1);
            goto out;
        }
        sp.width = width;
        sp.align = left ? '<' : (zero && c != 's' && c != 'r' && c != 'a' && c != 'c') ? '=' : '>';
        sp.fill = sp.align == '=' ? '0' : ' ';
        char *copy = malloc(text_n + 1);
        if (copy) {
            memcpy(copy, text_p, text_n);
            copy[text_n] = 0;
            pad(&b, sign, copy, text_n, &sp, '>');
            free(copy);
        } else {
            b.oom = true;
        }
        free(sb.p);
    }
    if (!used_mapping && !mapping && argi < nargs) {
        vm_raise(vm, B_TYPEERROR, "not all arguments converted during string formatting");
        goto out;
    }
    if (b.oom) {
        vm_raise(vm, B_MEMORYERROR, "out of memory formatting");
        goto out;
    }
    ok = vm_set_out_str(vm, out, b.p ? b.p : "", b.len);
out:
    free(b.p);
    vm_release(vm, t);
    return ok;
}

/* ---- str.format(*args, **kwargs): {} {0} {name} {0.attr} {0[key]} {!r} {:spec} */

static bool format_field(struct gi_vm *vm, uint32_t args, uint32_t npos, uint32_t kwnames, uint32_t nkw,
                         const char *field, size_t flen, int *auto_index, uint32_t out)
{
    size_t i = 0;
    while (i < flen && field[i] != '.' && field[i] != '[')
        i++;
    if (i == 0) {
        if (*auto_index < 0)
            return vm_raise(vm, B_VALUEERROR, "cannot switch from manual field specification to automatic field numbering");
        if ((uint32_t)*auto_index >= npos)
            return vm_raise(vm, B_INDEXERROR, "Replacement index %d out of range for positional args tuple", *auto_index);
        R[out] = R[args + (uint32_t)(*auto_index)++];
    } else if (field[0] >= '0' && field[0] <= '9') {
        uint32_t idx = 0;
        for (size_t j = 0; j < i; j++)
            idx = idx * 10 + (uint32_t)(field[j] - '0');
        if (*auto_index > 0)
            return vm_raise(vm, B_VALUEERROR, "cannot switch from automatic field numbering to manual field specification");
        *auto_index = -1;
        if (idx >= npos)
            return vm_raise(vm, B_INDEXERROR, "Replacement index %u out of range for positional args tuple", idx);
        R[out] = R[args + idx];
    } else {
        bool found = false;
        for (uint32_t j = 0; j < nkw; j++) {
            V name = arr_items(R[kwnames])[j];
            if (str_nbytes(name) == i && !memcmp(str_ptr(name), field, i)) {
                R[out] = R[args + npos + j];
                found = true;
                break;
            }
        }
        if (!found)
            return vm_raise(vm, B_KEYERROR, "'%.*s'", (int)i, field);
    }
    while (i < flen) {
        if (field[i] == '.') {
            size_t j = i + 1;
            while (j < flen && field[j] != '.' && field[j] != '[')
                j++;
            if (!vm_getattr(vm, out, vm_intern_n(vm, field + i + 1, j - i - 1), out))
                return FAIL;
            i = j;
        } else {
            size_t j = i + 1;
            while (j < flen && field[j] != ']')
                j++;
            uint32_t t = vm_reserve(vm, 1);
            bool digits = j > i + 1;
            int64_t idx = 0;
            for (size_t q = i + 1; q < j; q++) {
                if (field[q] < '0' || field[q] > '9')
                    digits = false;
                else
                    idx = idx * 10 + (field[q] - '0');
            }
            V key = digits ? vm_new_int(vm, idx) : vm_new_str(vm, field + i + 1, j - i - 1);
            bool ok = key != 0;
            if (ok) {
                R[t] = key;
                ok = vm_getitem(vm, out, t, out);
            }
            vm_release(vm, t);
            if (!ok)
                return FAIL;
            i = j + 1;
        }
    }
    return true;
}

static bool format_into(struct gi_vm *vm, uint32_t fmt, uint32_t args, uint32_t npos, uint32_t kwnames,
                        uint32_t nkw, int *auto_index, struct gi_buf *b, int depth)
{
    if (depth > 2)
        return vm_raise(vm, B_VALUEERROR, "Max string recursion exceeded");
    uint32_t t = vm_reserve(vm, 2);
    bool ok = true;
    size_t i = 0;
    while (ok) {
        V f = R[fmt];
        size_t n = str_nbytes(f);
        if (i >= n)
            break;
        const char *p = str_ptr(f);
        char c = p[i];
        if (c == '}') {
            if (i + 1 < n && p[i + 1] == '}') {
                buf_puts(b, "}");
                i += 2;
                continue;
            }
            ok = vm_raise(vm, B_VALUEERROR, "Single '}' encountered in format string");
            break;
        }
        if (c != '{') {
            size_t j = i;
            while (j < n && p[j] != '{' && p[j] != '}')
                j++;
            buf_put(b, p + i, j - i);
            i = j;
            continue;
        }
        if (i + 1 < n && p[i + 1] == '{') {
            buf_puts(b, "{");
            i += 2;
            continue;
        }
        /* a replacement field up to the matching } */
        size_t j = i + 1;
        int nest = 1;
        while (j < n && nest) {
            if (p[j] == '{')
                nest++;
            else if (p[j] == '}')
                nest--;
            if (nest)
                j++;
        }
        if (j >= n) {
            ok = vm_raise(vm, B_VALUEERROR, "expected '}' before end of string");
            break;
        }
        size_t fs = i + 1, fe = fs;
        while (fe < j && p[fe] != '!' && p[fe] != ':')
            fe++;
        char conv = 0;
        size_t ss = j, se = j;
        if (fe < j && p[fe] == '!') {
            if (fe + 1 >= j) {
                ok = vm_raise(vm, B_VALUEERROR, "end of string while looking for conversion specifier");
                break;
            }
            conv = p[fe + 1];
            if (fe + 2 < j && p[fe + 2] == ':')
                ss = fe + 3;
            else if (fe + 2 != j) {
                ok = vm_raise(vm, B_VALUEERROR, "expected ':' after conversion specifier");
                break;
            }
        } else if (fe < j) {
            ss = fe + 1;
        }
        char *field = strndup(p + fs, fe - fs);
        char *spec = strndup(p + ss, se > ss ? se - ss : 0);
        i = j + 1;
        if (!field || !spec) {
            free(field);
            free(spec);
            ok = vm_raise(vm, B_MEMORYERROR, "out of memory formatting");
            break;
        }
        ok = format_field(vm, args, npos, kwnames, nkw, field, strlen(field), auto_index, t);
        free(field);
        if (ok && conv) {
            if (conv != 'r' && conv != 's' && conv != 'a') {
                ok = vm_raise(vm, B_VALUEERROR, "Unknown conversion specifier %c", conv);
            } else {
                V s = vm_str_of(vm, t, conv != 's');
                ok = s != 0;
                if (ok)
                    R[t] = s;
            }
        }
        if (ok) {
            /* the spec may itself hold replacement fields */
            struct gi_buf sb = {0};
            if (strchr(spec, '{')) {
                ok = vm_set_out_str(vm, t + 1, spec, strlen(spec)) &&
                     format_into(vm, t + 1, args, npos, kwnames, nkw, auto_index, &sb, depth + 1);
            } else {
                buf_puts(&sb, spec);
            }
            if (ok)
                ok = vm_format_spec(vm, t, sb.p ? sb.p : "", sb.len, b);
            free(sb.p);
        }
        free(spec);
    }
    vm_release(vm, t);
    return ok;
}

/* str.format: args[0] is the format string. */
bool vm_str_format(struct gi_vm *vm, uint32_t args, uint32_t argc, uint32_t kwnames, uint32_t out)
{
    uint32_t nkw = kwnames ? arr_len(R[kwnames]) : 0;
    uint32_t npos = argc - nkw - 1;
    struct gi_buf b = {0};
    int auto_index = 0;
    bool ok = format_into(vm, args, args + 1, npos, kwnames, nkw, &auto_index, &b, 0);
    if (ok && b.oom)
        ok = vm_raise(vm, B_MEMORYERROR, "out of memory formatting");
    if (ok)
        ok = vm_set_out_str(vm, out, b.p ? b.p : "", b.len);
    free(b.p);
    return ok;
}
