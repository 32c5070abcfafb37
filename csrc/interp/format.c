/* interp_format.c - text of values: str(), repr(), CPython's float repr, format specs.
 * Text is built in a malloc'd buffer (outside the heap) while walking values, so
 * nothing here allocates on the managed heap until the caller makes a str of it. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp/interp_impl.h"

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
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* tmp = [-]D[.DDD]e[+-]XX : collect the digits and the exponent */
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
    int exp10 = atoi(p + 1);   /* value = D.DDD * 10^exp10 */
    int decpt = exp10 + 1;     /* digits before the decimal point */
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

static bool seq_text(struct gi_vm *vm, V *items, uint64_t n, const char *open, const char *close,
                     bool tuple, struct gi_buf *b, int depth);

static bool text(struct gi_vm *vm, V v, bool repr, struct gi_buf *b, int depth)
{
    if (depth > 1000)
        return vm_raise(vm, B_RECURSIONERROR, "maximum recursion depth exceeded while getting the repr of an object");
    char tmp[64];
    int k = vm_kind(vm, v);
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
        return seq_text(vm, arr_items(fields(v)[LIST_ITEMS]), fields(v)[LIST_LEN], "[", "]", false, b, depth);
    case K_DICT: {
        buf_puts(b, "{");
        uint64_t used = fields(v)[DICT_USED];
        bool first = true;
        for (uint64_t e = 0; e < used; e++) {
            V key = arr_items(fields(v)[DICT_KEYS])[e];
            if (!key)
                continue;
            if (!first)
                buf_puts(b, ", ");
            first = false;
            if (!text(vm, key, true, b, depth + 1))
                return FAIL;
            buf_puts(b, ": ");
            if (!text(vm, arr_items(fields(v)[DICT_VALS])[e], true, b, depth + 1))
                return FAIL;
        }
        buf_puts(b, "}");
        return true;
    }
    case K_FUNC:
        snprintf(tmp, sizeof tmp, "<function %s>", vm->codes[fields(v)[FUNC_CODE]].name);
        buf_puts(b, tmp);
        return true;
    case K_CLASS:
        buf_puts(b, "<class '__main__.");
        buf_puts(b, vm->classes[fields(v)[CLASS_INDEX]].name);
        buf_puts(b, "'>");
        return true;
    case K_BOUND:
        buf_puts(b, "<bound method>");
        return true;
    case K_BUILTIN: {
        int id = (int)fields(v)[BUILTIN_ID];
        if (id >= B_STR && id <= B_TUPLE) {
            snprintf(tmp, sizeof tmp, "<class '%s'>", gi_builtin_names[id]);
        } else if (id >= B_FIRST_EXC && id <= B_LAST_EXC) {
            snprintf(tmp, sizeof tmp, "<class '%s'>", gi_builtin_names[id]);
        } else {
            snprintf(tmp, sizeof tmp, "<built-in function %s>", gi_builtin_names[id]);
        }
        buf_puts(b, tmp);
        return true;
    }
    case K_EXC: {
        V arg = fields(v)[EXC_ARG];
        if (repr) {
            buf_puts(b, gi_builtin_names[fields(v)[EXC_TYPE]]);
            buf_puts(b, "(");
            if (arg && !text(vm, arg, true, b, depth + 1))
                return FAIL;
            buf_puts(b, ")");
            return true;
        }
        if (!arg)
            return true;
        /* CPython: str(KeyError(k)) is repr(k) */
        return text(vm, arg, fields(v)[EXC_TYPE] == B_KEYERROR, b, depth + 1);
    }
    case K_RANGE: {
        int64_t st = (int64_t)fields(v)[RANGE_START], sp = (int64_t)fields(v)[RANGE_STOP], sc = (int64_t)fields(v)[RANGE_STEP];
        if (sc == 1)
            snprintf(tmp, sizeof tmp, "range(%" PRId64 ", %" PRId64 ")", st, sp);
        else
            snprintf(tmp, sizeof tmp, "range(%" PRId64 ", %" PRId64 ", %" PRId64 ")", st, sp, sc);
        buf_puts(b, tmp);
        return true;
    }
    case -2:
        snprintf(tmp, sizeof tmp, "<__main__.%.30s object at 0x%lx>",
                 vm->classes[vm->user_class_of[cls_of(v)]].name, (unsigned long)v);
        buf_puts(b, tmp);
        return true;
    default:
        if (cls_of(v) == GR_CLASS_REF_ARRAY)
            return seq_text(vm, arr_items(v), arr_len(v), "(", ")", true, b, depth);
        buf_puts(b, "<object>");
        return true;
    }
}

static bool seq_text(struct gi_vm *vm, V *items, uint64_t n, const char *open, const char *close,
                     bool tuple, struct gi_buf *b, int depth)
{
    /* `items` stays valid: nothing below allocates on the heap, except raising. */
    buf_puts(b, open);
    for (uint64_t i = 0; i < n; i++) {
        if (i)
            buf_puts(b, ", ");
        if (!text(vm, items[i], true, b, depth + 1))
            return FAIL;
    }
    if (tuple && n == 1)
        buf_puts(b, ",");
    buf_puts(b, close);
    return true;
}

bool vm_to_text(struct gi_vm *vm, V v, bool repr, struct gi_buf *b)
{
    return text(vm, v, repr, b, 0);
}

V vm_str_of(struct gi_vm *vm, uint32_t slot, bool repr)
{
    V v = vm->roots[slot];
    if (!repr && vm_kind(vm, v) == K_STR)
        return v;
    struct gi_buf b = {0};
    if (!vm_to_text(vm, v, repr, &b)) {
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

/* ---- format specs: [[fill]align][sign][0][width][,][.precision][type] */

struct spec {
    char fill, align, sign, type;
    bool zero, comma;
    int width, prec;
};

static bool parse_spec(const char *s, size_t n, struct spec *sp)
{
    memset(sp, 0, sizeof *sp);
    sp->fill = ' ';
    sp->prec = -1;
    size_t i = 0;
    if (n >= 2 && strchr("<>^=", s[1])) {
        sp->fill = s[0];
        sp->align = s[1];
        i = 2;
    } else if (n >= 1 && strchr("<>^=", s[0])) {
        sp->align = s[0];
        i = 1;
    }
    if (i < n && strchr("+- ", s[i]))
        sp->sign = s[i++];
    if (i < n && s[i] == '0') {
        sp->zero = true;
        i++;
    }
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        sp->width = sp->width * 10 + (s[i++] - '0');
        if (sp->width > 10000)
            return false;
    }
    if (i < n && s[i] == ',') {
        sp->comma = true;
        i++;
    }
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

static void group_thousands(char *num, size_t cap)
{
    /* num: digits[.frac...]; insert ',' every 3 integer digits */
    char out[512];
    size_t len = strlen(num);
    size_t intlen = strcspn(num, ".eE");
    size_t o = 0;
    for (size_t i = 0; i < intlen && o < sizeof out - 2; i++) {
        out[o++] = num[i];
        size_t left = intlen - i - 1;
        if (left && left % 3 == 0)
            out[o++] = ',';
    }
    for (size_t i = intlen; i < len && o < sizeof out - 1; i++)
        out[o++] = num[i];
    out[o] = 0;
    snprintf(num, cap, "%s", out);
}

static void pad(struct gi_buf *b, const char *sign, const char *body, const struct spec *sp, char default_align)
{
    size_t len = strlen(sign) + strlen(body);
    size_t width = sp->width > 0 ? (size_t)sp->width : 0;
    char align = sp->align ? sp->align : (sp->zero ? '=' : default_align);
    char fill = sp->align ? sp->fill : (sp->zero ? '0' : ' ');
    size_t padn = width > len ? width - len : 0;
    size_t before = align == '<' ? 0 : align == '^' ? padn / 2 : padn;
    if (align == '=') {
        buf_puts(b, sign);
        for (size_t i = 0; i < padn; i++)
            buf_put(b, &fill, 1);
        buf_puts(b, body);
        return;
    }
    for (size_t i = 0; i < before; i++)
        buf_put(b, &fill, 1);
    buf_puts(b, sign);
    buf_puts(b, body);
    for (size_t i = before; i < padn; i++)
        buf_put(b, &fill, 1);
}

bool vm_format_spec(struct gi_vm *vm, V v, const char *s, size_t n, struct gi_buf *b)
{
    struct spec sp;
    if (!parse_spec(s, n, &sp))
        return vm_raise(vm, B_VALUEERROR, "Invalid format specifier '%.*s'", (int)n, s);
    int k = vm_kind(vm, v);
    char body[512];
    const char *sign = "";
    if (k == K_INT || k == K_BOOL || k == K_FLOAT) {
        bool is_float = k == K_FLOAT;
        char t = sp.type;
        if (!is_float && (t == 0 || t == 'd')) {
            if (sp.prec >= 0)
                return vm_raise(vm, B_VALUEERROR, "Precision not allowed in integer format specifier");
            int64_t x = (int64_t)fields(v)[0];
            uint64_t mag = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
            snprintf(body, sizeof body, "%" PRIu64, mag);
            sign = x < 0 ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
        } else if (t == 0 || t == 'f' || t == 'F' || t == 'e' || t == 'E' || t == 'g' || t == 'G' || t == '%') {
            double d = is_float ? float_val(v) : (double)(int64_t)fields(v)[0];
            double mag = fabs(d);
            sign = signbit(d) && !isnan(d) ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
            if (t == 0 && sp.prec < 0) {
                format_float_repr(mag, body, sizeof body);
            } else if (t == 0) {
                /* like 'g' but always keeps a digit after the point when fixed */
                snprintf(body, sizeof body, "%.*g", sp.prec ? sp.prec : 1, mag);
                if (!strpbrk(body, ".einf"))
                    strncat(body, ".0", sizeof body - strlen(body) - 1);
            } else if (t == '%') {
                snprintf(body, sizeof body, "%.*f%%", sp.prec < 0 ? 6 : sp.prec, mag * 100);
            } else {
                char f[8];
                snprintf(f, sizeof f, "%%.*%c", t);
                snprintf(body, sizeof body, f, sp.prec < 0 ? 6 : sp.prec, mag);
            }
        } else {
            return vm_raise(vm, B_VALUEERROR, "Unknown format code '%c' for object of type '%s'", t, vm_type_name(vm, v));
        }
        if (sp.comma)
            group_thousands(body, sizeof body);
        pad(b, sign, body, &sp, '>');
        return true;
    }
    if (k == K_STR && (sp.type == 0 || sp.type == 's')) {
        if (sp.sign || sp.comma)
            return vm_raise(vm, B_VALUEERROR, "Sign not allowed in string format specifier");
        size_t nb = str_nbytes(v);
        const char *p = str_ptr(v);
        if (sp.prec >= 0) { /* truncate to prec code points */
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
        uint64_t cps = 0;
        for (size_t i = 0; i < nb; i++)
            cps += ((unsigned char)p[i] & 0xC0) != 0x80;
        size_t width = sp.width > 0 ? (size_t)sp.width : 0;
        size_t padn = width > cps ? width - cps : 0;
        char align = sp.align ? sp.align : '<';
        size_t before = align == '<' ? 0 : align == '^' ? padn / 2 : padn;
        for (size_t i = 0; i < before; i++)
            buf_put(b, &sp.fill, 1);
        buf_put(b, p, nb);
        for (size_t i = before; i < padn; i++)
            buf_put(b, &sp.fill, 1);
        return true;
    }
    if (n == 0)
        return vm_to_text(vm, v, false, b);
    if (k == K_STR)
        return vm_raise(vm, B_VALUEERROR, "Unknown format code '%c' for object of type 'str'", sp.type);
    return vm_raise(vm, B_TYPEERROR, "unsupported format string passed to %s.__format__", vm_type_name(vm, v));
}
