/*
 * The native fast path of auditcli-chain/1 verification: one pass over a JSON line that
 * proves the line, with its hash member cut out, is already in RFC 8785 canonical form.
 *
 * examine(line, hash_key, prev_key, time_keys) returns (hashed, stored, prev, time) when
 * it can prove that:
 *   - the line is one JSON object with no whitespace outside strings;
 *   - removing the top-level member named hash_key (and one comma beside it) leaves
 *     bytes equal to canonicalize(the parsed object without that member), byte for
 *     byte: strings carry only the escapes RFC 8785 writes and are valid UTF-8, every
 *     number is printed as ECMAScript prints it, members are strictly increasing in
 *     UTF-16 code-unit order (so no name repeats);
 *   - hash_key and prev_key are top-level members holding strings without escapes.
 * hashed is those remaining bytes, stored and prev the two strings, and time the value
 * of the first time_keys member that is not null (a str, an int, a float, or False for
 * any other type; None when there is none).
 *
 * It returns None whenever it cannot prove all of this, for whatever reason: invalid
 * JSON, a name with an escape or a character at or above U+E000, an integer beyond
 * 2**53, deep nesting. The caller then takes the exact path (canonical.py), which also
 * diagnoses the line. So this module can only ever be slower than needed, never
 * different; tests/integrity/test_jcsline.py checks that against the reference path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 200
#define MAX_NUMBER 40 /* longer number texts are never canonical doubles we accept */

typedef const unsigned char *Ptr;

typedef struct {
    Ptr p;
    Ptr end;
} Cursor;

typedef struct {
    Ptr start; /* first byte inside the quotes */
    Ptr stop;  /* the closing quote */
    int escaped;
} Text;

/* --- strings: only RFC 8785's escapes, valid UTF-8 ---------------------------------- */

static int
is_cont(Ptr p, Ptr end)
{
    return p < end && (*p & 0xC0) == 0x80;
}

static int
hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case hex is never canonical */
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t
has_zero(uint64_t x)
{
    return (x - ONES) & ~x & HIGHS;
}

/* Bytes that stand for themselves in a canonical string: ASCII from space up, except
 * the quote and the backslash. */
static unsigned char PLAIN[256];

static void
init_plain(void)
{
    int ch;
    for (ch = 0x20; ch < 0x80; ch++)
        PLAIN[ch] = ch != '"' && ch != '\\';
}

/* At an opening quote; on success the cursor is past the closing quote. */
static int
scan_string(Cursor *c, Text *out)
{
    Ptr p = c->p + 1, end = c->end;
    out->start = p;
    out->escaped = 0;
    while (p < end) {
        unsigned char ch;
        /* eight plain bytes at a time: none is a quote, a backslash, a control or
         * non-ASCII (the bit tricks are exact for "any byte below 0x20") */
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            if ((has_zero(x ^ (ONES * '"')) | has_zero(x ^ (ONES * '\\')) |
                 ((x - ONES * 0x20) & ~x & HIGHS) | (x & HIGHS)) != 0)
                break;
            p += 8;
        }
        if (p >= end)
            break;
        ch = *p;
        if (PLAIN[ch]) {
            p++;
            continue;
        }
        if (ch == '"') {
            out->stop = p;
            c->p = p + 1;
            return 0;
        }
        if (ch == '\\') {
            if (p + 1 >= end)
                return -1;
            out->escaped = 1;
            switch (p[1]) {
            case '"': case '\\': case 'b': case 'f': case 'n': case 'r': case 't':
                p += 2;
                continue;
            case 'u': {
                int hi, lo, code;
                if (p + 6 > end || p[2] != '0' || p[3] != '0')
                    return -1;
                hi = hex_value(p[4]);
                lo = hex_value(p[5]);
                if (hi < 0 || lo < 0)
                    return -1;
                code = hi * 16 + lo;
                /* canonical form escapes only controls, and these five by letter */
                if (code >= 0x20 || code == 0x08 || code == 0x09 || code == 0x0A ||
                    code == 0x0C || code == 0x0D)
                    return -1;
                p += 6;
                continue;
            }
            default:
                return -1; /* "\/" and anything else */
            }
        }
        if (ch < 0x20)
            return -1;
        if (ch < 0x80) {
            p++;
            continue;
        }
        /* UTF-8, strictly: no overlong forms, no surrogates, nothing above U+10FFFF */
        if (ch >= 0xC2 && ch <= 0xDF) {
            if (!is_cont(p + 1, end))
                return -1;
            p += 2;
        }
        else if (ch >= 0xE0 && ch <= 0xEF) {
            if (p + 2 >= end || !is_cont(p + 1, end) || !is_cont(p + 2, end))
                return -1;
            if (ch == 0xE0 && p[1] < 0xA0)
                return -1;
            if (ch == 0xED && p[1] > 0x9F)
                return -1;
            p += 3;
        }
        else if (ch >= 0xF0 && ch <= 0xF4) {
            if (p + 3 >= end || !is_cont(p + 1, end) || !is_cont(p + 2, end) ||
                !is_cont(p + 3, end))
                return -1;
            if (ch == 0xF0 && p[1] < 0x90)
                return -1;
            if (ch == 0xF4 && p[1] > 0x8F)
                return -1;
            p += 4;
        }
        else
            return -1;
    }
    return -1;
}

/* --- numbers: the text must be what ECMAScript prints for the value ------------------ */

/* Appends to a fixed buffer; false once it would overflow. */
typedef struct {
    char *at;
    char *end;
} Out;

static int
put(Out *o, const char *s, size_t len)
{
    if ((size_t)(o->end - o->at) < len)
        return 0;
    memcpy(o->at, s, len);
    o->at += len;
    return 1;
}

static int
put_zeros(Out *o, long count)
{
    for (; count > 0; count--)
        if (!put(o, "0", 1))
            return 0;
    return 1;
}

/* ECMA-262 Number::toString of a finite, non-zero double, as canonical.py's es6_number:
 * repr() gives the shortest round-tripping digits, which are ECMAScript's. Returns the
 * length written to out, or -1. */
static long
es6_format(double value, char *out, size_t size)
{
    char *repr = PyOS_double_to_string(value < 0 ? -value : value, 'r', 0, 0, NULL);
    char digits[40];
    const char *e, *s;
    long int_len = -1, exponent = 0, n, k = 0, lead = 0, i;
    Out o = {out, out + size};
    int ok = 1;
    if (repr == NULL) {
        PyErr_Clear(); /* out of memory: refuse, as for any other failure */
        return -1;
    }
    e = strchr(repr, 'e');
    if (e != NULL)
        exponent = strtol(e + 1, NULL, 10);
    else
        e = repr + strlen(repr);
    for (i = 0; repr + i < e; i++) {
        if (repr[i] == '.') {
            int_len = i;
            continue;
        }
        if (repr[i] < '0' || repr[i] > '9' || k >= (long)sizeof(digits)) {
            PyMem_Free(repr);
            return -1; /* "inf" or "nan": never reached for finite values */
        }
        digits[k++] = repr[i];
    }
    PyMem_Free(repr);
    if (int_len < 0)
        int_len = k;
    while (lead < k && digits[lead] == '0')
        lead++;
    while (k > lead && digits[k - 1] == '0')
        k--;
    if (k == lead)
        return -1; /* zero: the caller never asks */
    n = int_len + exponent - lead; /* value = 0.digits * 10**n */
    s = digits + lead;
    k -= lead;
    if (value < 0)
        ok = put(&o, "-", 1);
    if (k <= n && n <= 21)
        ok = ok && put(&o, s, (size_t)k) && put_zeros(&o, n - k);
    else if (0 < n && n <= 21)
        ok = ok && put(&o, s, (size_t)n) && put(&o, ".", 1) && put(&o, s + n, (size_t)(k - n));
    else if (-6 < n && n <= 0)
        ok = ok && put(&o, "0.", 2) && put_zeros(&o, -n) && put(&o, s, (size_t)k);
    else {
        char power[16];
        int len = snprintf(power, sizeof(power), "e%c%ld", n - 1 >= 0 ? '+' : '-',
                           n - 1 >= 0 ? n - 1 : 1 - n);
        ok = ok && put(&o, s, 1);
        if (k > 1)
            ok = ok && put(&o, ".", 1) && put(&o, s + 1, (size_t)(k - 1));
        ok = ok && len > 0 && put(&o, power, (size_t)len);
    }
    return ok ? (long)(o.at - out) : -1;
}

/* True for a plain decimal such as "0.7145" or "-12.5" that must be canonical without
 * formatting it: no exponent, a fraction not ending in 0, at most 15 significant digits
 * and, below 1, at most five zeros after the point. Fifteen digits survive a round trip
 * through a double (DBL_DIG), so no shorter digit string names the same double and
 * these digits are the shortest ones, which ECMAScript prints this way for
 * 1e-6 <= |x| < 1e21. The grammar has been checked by the caller. */
static int
short_decimal(Ptr start, Ptr stop)
{
    Ptr p = start, dot;
    Py_ssize_t significant = 0;
    if (stop - start > MAX_NUMBER)
        return 0; /* and the counts below are never truncated */
    if (*p == '-')
        p++;
    dot = memchr(p, '.', (size_t)(stop - p));
    if (dot == NULL || memchr(dot, 'e', (size_t)(stop - dot)) || memchr(dot, 'E', (size_t)(stop - dot)))
        return 0;
    if (stop[-1] == '0')
        return 0;
    if (*p == '0') { /* 0.000ddd */
        Ptr q = dot + 1;
        while (q < stop && *q == '0')
            q++;
        if (q - (dot + 1) > 5)
            return 0;
        significant = stop - q;
    }
    else
        significant = (dot - p) + (stop - dot - 1);
    return significant <= 15;
}

/* At the first byte of a number. Sets *kind to 1 for an integer, 2 for a float. */
static int
scan_number(Cursor *c, int *kind)
{
    Ptr start = c->p, p = c->p, end = c->end, int_start;
    int is_float = 0;
    if (p < end && *p == '-')
        p++;
    int_start = p;
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    if (*p == '0')
        p++;
    else
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    if (p < end && *p == '.') {
        is_float = 1;
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_float = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    if (!is_float) {
        /* an int: canonical as its digits when |n| <= 2**53, and "-0" reads as 0 */
        Py_ssize_t digits = p - int_start;
        if (start[0] == '-' && *int_start == '0')
            return -1;
        if (digits > 16 || (digits == 16 && memcmp(int_start, "9007199254740992", 16) > 0))
            return -1;
        *kind = 1;
    }
    else if (short_decimal(start, p)) {
        *kind = 2;
    }
    else {
        char text[MAX_NUMBER + 1], printed[MAX_NUMBER + 8];
        Py_ssize_t len = p - start;
        double value;
        long written;
        if (len > MAX_NUMBER)
            return -1;
        memcpy(text, start, (size_t)len);
        text[len] = '\0';
        value = PyOS_string_to_double(text, NULL, NULL);
        if (value == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return -1;
        }
        if (value == 0.0 || !Py_IS_FINITE(value))
            return -1; /* zero prints as "0", an int; overflow is not JSON's */
        written = es6_format(value, printed, sizeof(printed));
        if (written != len || memcmp(printed, text, (size_t)len) != 0)
            return -1;
        *kind = 2;
    }
    c->p = p;
    return 0;
}

/* --- values --------------------------------------------------------------------------- */

enum { V_STRING, V_INT, V_FLOAT, V_NULL, V_OTHER };

static int scan_value(Cursor *c, int depth, int *type, Text *text);

/* Member names strictly increasing by UTF-16 code units. Names are compared as UTF-8
 * bytes, which orders them by code point; the two orders differ only between U+E000..
 * U+FFFF and characters above U+FFFF, whose UTF-8 starts with 0xEE..0xF4: such a name,
 * or one with an escape, is refused. */
static int
plain_name(const Text *t)
{
    Ptr p;
    if (t->escaped)
        return 0;
    for (p = t->start; p < t->stop; p++)
        if (*p >= 0xEE)
            return 0;
    return 1;
}

static int
name_after(const Text *before, const Text *name)
{
    size_t a = (size_t)(before->stop - before->start), b = (size_t)(name->stop - name->start);
    int cmp = memcmp(before->start, name->start, a < b ? a : b);
    return cmp < 0 || (cmp == 0 && a < b);
}

static int
scan_object(Cursor *c, int depth)
{
    Text name, last = {NULL, NULL, 0};
    int have_last = 0, type;
    c->p++;
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 0;
    }
    for (;;) {
        if (c->p >= c->end || *c->p != '"' || scan_string(c, &name) < 0 || !plain_name(&name))
            return -1;
        if (have_last && !name_after(&last, &name))
            return -1;
        last = name;
        have_last = 1;
        if (c->p >= c->end || *c->p != ':')
            return -1;
        c->p++;
        if (scan_value(c, depth + 1, &type, NULL) < 0)
            return -1;
        if (c->p >= c->end)
            return -1;
        if (*c->p == '}') {
            c->p++;
            return 0;
        }
        if (*c->p != ',')
            return -1;
        c->p++;
    }
}

static int
scan_array(Cursor *c, int depth)
{
    int type;
    c->p++;
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return 0;
    }
    for (;;) {
        if (scan_value(c, depth + 1, &type, NULL) < 0 || c->p >= c->end)
            return -1;
        if (*c->p == ']') {
            c->p++;
            return 0;
        }
        if (*c->p != ',')
            return -1;
        c->p++;
    }
}

static int
literal(Cursor *c, const char *word, size_t len)
{
    if ((size_t)(c->end - c->p) < len || memcmp(c->p, word, len) != 0)
        return -1;
    c->p += len;
    return 0;
}

static int
scan_value(Cursor *c, int depth, int *type, Text *text)
{
    Text ignored;
    if (depth > MAX_DEPTH || c->p >= c->end)
        return -1;
    switch (*c->p) {
    case '"':
        *type = V_STRING;
        return scan_string(c, text ? text : &ignored);
    case '{':
        *type = V_OTHER;
        return scan_object(c, depth);
    case '[':
        *type = V_OTHER;
        return scan_array(c, depth);
    case 't':
        *type = V_OTHER;
        return literal(c, "true", 4);
    case 'f':
        *type = V_OTHER;
        return literal(c, "false", 5);
    case 'n':
        *type = V_NULL;
        return literal(c, "null", 4);
    default: {
        int kind = 0;
        if (scan_number(c, &kind) < 0)
            return -1;
        *type = kind == 1 ? V_INT : V_FLOAT;
        return 0;
    }
    }
}

/* --- the top level ----------------------------------------------------------------------- */

static inline int
same_name(const Text *t, const char *name, Py_ssize_t len)
{
    return t->stop - t->start == len && !t->escaped &&
           (len == 0 || (t->start[0] == (unsigned char)name[0] &&
                         memcmp(t->start, name, (size_t)len) == 0));
}

static PyObject *
time_object(int type, Ptr start, Ptr stop)
{
    if (type == V_STRING)
        return PyUnicode_DecodeUTF8((const char *)start + 1, stop - start - 2, "strict");
    if (type == V_INT || type == V_FLOAT) {
        char text[MAX_NUMBER + 1];
        Py_ssize_t len = stop - start;
        double value;
        if (len > MAX_NUMBER) {
            PyErr_SetString(PyExc_SystemError, "time value longer than MAX_NUMBER");
            return NULL;
        }
        memcpy(text, start, (size_t)len);
        text[len] = '\0';
        if (type == V_INT)
            return PyLong_FromString(text, NULL, 10);
        value = PyOS_string_to_double(text, NULL, NULL);
        if (value == -1.0 && PyErr_Occurred())
            return NULL;
        return PyFloat_FromDouble(value);
    }
    Py_RETURN_FALSE;
}

static PyObject *
examine(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    const char *line, *hash_key, *prev_key;
    Py_ssize_t line_len, hash_len, prev_len, n_times, i;
    PyObject *time_keys;
    Cursor c;
    Text name, last = {NULL, NULL, 0}, value, hash_text = {NULL, NULL, 0};
    Text prev_text = {NULL, NULL, 0};
    Ptr member_start, hash_start = NULL, hash_stop = NULL, time_start = NULL, time_stop = NULL;
    int have_last = 0, type, time_type = V_NULL;
    Py_ssize_t time_rank = PY_SSIZE_T_MAX;
    PyObject *hashed, *stored, *prev, *when, *result;
    (void)module;

    if (nargs != 4 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1]) ||
        !PyBytes_Check(args[2]) || !PyTuple_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "examine(line, hash_key, prev_key, time_keys)");
        return NULL;
    }
    line = PyBytes_AS_STRING(args[0]);
    line_len = PyBytes_GET_SIZE(args[0]);
    hash_key = PyBytes_AS_STRING(args[1]);
    hash_len = PyBytes_GET_SIZE(args[1]);
    prev_key = PyBytes_AS_STRING(args[2]);
    prev_len = PyBytes_GET_SIZE(args[2]);
    time_keys = args[3];
    n_times = PyTuple_GET_SIZE(time_keys);
    for (i = 0; i < n_times; i++)
        if (!PyBytes_Check(PyTuple_GET_ITEM(time_keys, i))) {
            PyErr_SetString(PyExc_TypeError, "time_keys must be a tuple of bytes");
            return NULL;
        }

    c.p = (Ptr)line;
    c.end = (Ptr)line + line_len;
    if (c.p >= c.end || *c.p != '{')
        Py_RETURN_NONE;
    c.p++;
    if (c.p < c.end && *c.p == '}')
        Py_RETURN_NONE; /* no hash member */
    for (;;) {
        member_start = c.p;
        if (c.p >= c.end || *c.p != '"' || scan_string(&c, &name) < 0 || !plain_name(&name))
            Py_RETURN_NONE;
        if (c.p >= c.end || *c.p != ':')
            Py_RETURN_NONE;
        c.p++;
        if (same_name(&name, hash_key, hash_len)) {
            /* the hash member: cut out, so not part of the order */
            if (hash_start != NULL || scan_value(&c, 1, &type, &hash_text) < 0 ||
                type != V_STRING || hash_text.escaped)
                Py_RETURN_NONE;
            hash_start = member_start;
            hash_stop = c.p;
        }
        else {
            Ptr value_start = c.p;
            if (have_last && !name_after(&last, &name))
                Py_RETURN_NONE;
            last = name;
            have_last = 1;
            if (scan_value(&c, 1, &type, &value) < 0)
                Py_RETURN_NONE;
            if (same_name(&name, prev_key, prev_len)) {
                if (type != V_STRING || value.escaped)
                    Py_RETURN_NONE;
                prev_text = value;
            }
            for (i = 0; i < n_times && i < time_rank; i++) {
                PyObject *key = PyTuple_GET_ITEM(time_keys, i);
                if (type != V_NULL &&
                    same_name(&name, PyBytes_AS_STRING(key), PyBytes_GET_SIZE(key))) {
                    if (type == V_STRING && value.escaped)
                        Py_RETURN_NONE;
                    time_rank = i;
                    time_type = type;
                    time_start = value_start;
                    time_stop = c.p;
                    break;
                }
            }
        }
        if (c.p >= c.end)
            Py_RETURN_NONE;
        if (*c.p == '}') {
            c.p++;
            break;
        }
        if (*c.p != ',')
            Py_RETURN_NONE;
        c.p++;
    }
    if (c.p != c.end || hash_start == NULL || prev_text.start == NULL)
        Py_RETURN_NONE;

    /* cut the hash member and one comma beside it */
    if (hash_start[-1] == ',')
        hash_start--;
    else if (*hash_stop == ',')
        hash_stop++;
    hashed = PyBytes_FromStringAndSize(NULL, line_len - (hash_stop - hash_start));
    if (hashed == NULL)
        return NULL;
    memcpy(PyBytes_AS_STRING(hashed), line, (size_t)(hash_start - (Ptr)line));
    memcpy(PyBytes_AS_STRING(hashed) + (hash_start - (Ptr)line), hash_stop,
           (size_t)(c.end - hash_stop));
    stored = PyUnicode_DecodeUTF8((const char *)hash_text.start,
                                  hash_text.stop - hash_text.start, "strict");
    prev = PyUnicode_DecodeUTF8((const char *)prev_text.start,
                                prev_text.stop - prev_text.start, "strict");
    if (time_start != NULL)
        when = time_object(time_type, time_start, time_stop);
    else {
        when = Py_None;
        Py_INCREF(when);
    }
    if (stored == NULL || prev == NULL || when == NULL) {
        Py_DECREF(hashed);
        Py_XDECREF(stored);
        Py_XDECREF(prev);
        Py_XDECREF(when);
        return NULL;
    }
    result = PyTuple_Pack(4, hashed, stored, prev, when);
    Py_DECREF(hashed);
    Py_DECREF(stored);
    Py_DECREF(prev);
    Py_DECREF(when);
    return result;
}

static PyMethodDef methods[] = {
    {"examine", (PyCFunction)(void (*)(void))examine, METH_FASTCALL,
     "examine(line, hash_key, prev_key, time_keys) -> (hashed, stored, prev, time) | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_jcsline",
    "Proves a JSON line canonical (RFC 8785) once its hash member is cut out.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__jcsline(void)
{
    init_plain();
    return PyModule_Create(&module_def);
}
