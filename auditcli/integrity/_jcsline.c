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
 * examine_block(data, start, max_lines, ...) does the same for the lines of a block
 * of JSON lines from byte offset start, without making each line an object: it
 * returns the four values as four lists (None in each where it refuses a line), the
 * lines' start offsets as int64s, and the offset to go on from.
 *
 * link_block(data, ...) proves and hashes every line of a block and checks that each
 * links to the one before, making no object per line and letting other threads run
 * meanwhile: it returns what the walk needs of a clean block (see its comment), or
 * None for any block that is not clean.
 *
 * It returns None whenever it cannot prove all of this, for whatever reason: invalid
 * JSON, a name with an escape or a character at or above U+E000, an integer beyond
 * 2**53, deep nesting. The caller then takes the exact path (canonical.py), which also
 * diagnoses the line. So this module can only ever be slower than needed, never
 * different; tests/integrity/test_jcsline.py checks that against the reference path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
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
        PyGILState_STATE gil;
        int same;
        memcpy(text, start, (size_t)len);
        text[len] = '\0';
        /* Python's float parsing and printing: link_block may run without the GIL */
        gil = PyGILState_Ensure();
        value = PyOS_string_to_double(text, NULL, NULL);
        if (value == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            PyGILState_Release(gil);
            return -1;
        }
        /* zero prints as "0", an int; overflow is not JSON's */
        written = value == 0.0 || !Py_IS_FINITE(value)
                      ? -1
                      : es6_format(value, printed, sizeof(printed));
        PyGILState_Release(gil);
        same = written == len && memcmp(printed, text, (size_t)len) == 0;
        if (!same)
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

/* After a container's item: 1 past its closing byte, 0 past a comma, -1 otherwise. */
static int
next_item(Cursor *c, unsigned char close)
{
    if (c->p >= c->end)
        return -1;
    if (*c->p == close) {
        c->p++;
        return 1;
    }
    if (*c->p != ',')
        return -1;
    c->p++;
    return 0;
}

static int
scan_object(Cursor *c, int depth)
{
    Text name, last = {NULL, NULL, 0};
    int have_last = 0, type, step;
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
        if ((step = next_item(c, '}')) != 0)
            return step > 0 ? 0 : -1;
    }
}

static int
scan_array(Cursor *c, int depth)
{
    int type, step;
    c->p++;
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return 0;
    }
    for (;;) {
        if (scan_value(c, depth + 1, &type, NULL) < 0)
            return -1;
        if ((step = next_item(c, ']')) != 0)
            return step > 0 ? 0 : -1;
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

#define MAX_TIME_KEYS 16

/* The member names examine looks for. */
typedef struct {
    const char *hash_key, *prev_key;
    Py_ssize_t hash_len, prev_len, n_times;
    const char *time_key[MAX_TIME_KEYS];
    Py_ssize_t time_len[MAX_TIME_KEYS];
} Keys;

/* What a proven line yields. */
typedef struct {
    Ptr cut_start, cut_stop; /* the hash member and one comma beside it */
    Text hash_text, prev_text;
    int time_type;
    Ptr time_start, time_stop;
} Found;

static int
read_keys(PyObject *hash_key, PyObject *prev_key, PyObject *time_keys, Keys *keys)
{
    Py_ssize_t i;
    if (!PyBytes_Check(hash_key) || !PyBytes_Check(prev_key) || !PyTuple_Check(time_keys) ||
        PyTuple_GET_SIZE(time_keys) > MAX_TIME_KEYS) {
        PyErr_SetString(PyExc_TypeError,
                        "hash_key and prev_key must be bytes, time_keys a short tuple of bytes");
        return -1;
    }
    keys->hash_key = PyBytes_AS_STRING(hash_key);
    keys->hash_len = PyBytes_GET_SIZE(hash_key);
    keys->prev_key = PyBytes_AS_STRING(prev_key);
    keys->prev_len = PyBytes_GET_SIZE(prev_key);
    keys->n_times = PyTuple_GET_SIZE(time_keys);
    for (i = 0; i < keys->n_times; i++) {
        PyObject *key = PyTuple_GET_ITEM(time_keys, i);
        if (!PyBytes_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "time_keys must be a tuple of bytes");
            return -1;
        }
        keys->time_key[i] = PyBytes_AS_STRING(key);
        keys->time_len[i] = PyBytes_GET_SIZE(key);
    }
    return 0;
}

/* 0 when the line [line, end) is proven canonical once its hash member is cut. */
static int
prove_line(Ptr line, Ptr end, const Keys *keys, Found *found)
{
    Cursor c = {line, end};
    Text name, last = {NULL, NULL, 0}, value;
    Ptr member_start, hash_start = NULL, hash_stop = NULL;
    int have_last = 0, type, step;
    Py_ssize_t i, time_rank = PY_SSIZE_T_MAX;

    found->prev_text.start = NULL;
    found->time_start = NULL;
    found->time_type = V_NULL;
    if (c.p >= c.end || *c.p != '{')
        return -1;
    c.p++;
    if (c.p < c.end && *c.p == '}')
        return -1; /* no hash member */
    for (;;) {
        member_start = c.p;
        if (c.p >= c.end || *c.p != '"' || scan_string(&c, &name) < 0 || !plain_name(&name))
            return -1;
        if (c.p >= c.end || *c.p != ':')
            return -1;
        c.p++;
        if (same_name(&name, keys->hash_key, keys->hash_len)) {
            /* the hash member: cut out, so not part of the order */
            if (hash_start != NULL || scan_value(&c, 1, &type, &found->hash_text) < 0 ||
                type != V_STRING || found->hash_text.escaped)
                return -1;
            hash_start = member_start;
            hash_stop = c.p;
        }
        else {
            Ptr value_start = c.p;
            if (have_last && !name_after(&last, &name))
                return -1;
            last = name;
            have_last = 1;
            if (scan_value(&c, 1, &type, &value) < 0)
                return -1;
            if (same_name(&name, keys->prev_key, keys->prev_len)) {
                if (type != V_STRING || value.escaped)
                    return -1;
                found->prev_text = value;
            }
            for (i = 0; i < keys->n_times && i < time_rank; i++) {
                if (type != V_NULL && same_name(&name, keys->time_key[i], keys->time_len[i])) {
                    if (type == V_STRING && value.escaped)
                        return -1;
                    time_rank = i;
                    found->time_type = type;
                    found->time_start = value_start;
                    found->time_stop = c.p;
                    break;
                }
            }
        }
        if ((step = next_item(&c, '}')) != 0) {
            if (step < 0)
                return -1;
            break;
        }
    }
    if (c.p != c.end || hash_start == NULL || found->prev_text.start == NULL)
        return -1;
    /* cut the hash member and one comma beside it */
    if (hash_start[-1] == ',')
        hash_start--;
    else if (*hash_stop == ',')
        hash_stop++;
    found->cut_start = hash_start;
    found->cut_stop = hash_stop;
    return 0;
}

/* --- SHA-256 through the OpenSSL that Python's hashlib has loaded --------------------
 *
 * Hashing a line with hashlib costs a Python object, an OpenSSL context and a hex
 * string per line, several times the hashing itself. examine_block can instead hash
 * the two pieces around the cut with one reused context of the libcrypto already in
 * the process (RTLD_NOLOAD: never a library of its own choosing). Without one, or if
 * it fails its known answer at start, the caller hashes as before. */

typedef void Md;
typedef void MdCtx;

static struct {
    int state; /* 0 not tried, 1 ready, -1 unavailable */
    MdCtx *ctx; /* for callers holding the GIL */
    const Md *sha256;
    MdCtx *(*ctx_new)(void);
    void (*ctx_free)(MdCtx *);
    int (*init)(MdCtx *, const Md *, void *);
    int (*update)(MdCtx *, const void *, size_t);
    int (*final)(MdCtx *, unsigned char *, unsigned int *);
} ossl;

static int
sha256_parts(MdCtx *ctx, Ptr a, size_t a_len, Ptr b, size_t b_len, unsigned char *digest)
{
    unsigned int size = 0;
    return ossl.init(ctx, ossl.sha256, NULL) == 1 && ossl.update(ctx, a, a_len) == 1 &&
           ossl.update(ctx, b, b_len) == 1 && ossl.final(ctx, digest, &size) == 1 &&
           size == 32;
}

static int
ossl_ready(void)
{
    static const char *names[] = {"libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so", NULL};
    static const unsigned char abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
        0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
        0xf2, 0x00, 0x15, 0xad};
    void *lib = NULL, *fetch, *sha256;
    unsigned char digest[32];
    int i;
    PyObject *hashlib_module;
    if (ossl.state != 0)
        return ossl.state > 0;
    ossl.state = -1;
    /* Python's own OpenSSL binding loads the library, if there is one */
    hashlib_module = PyImport_ImportModule("_hashlib");
    if (hashlib_module == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_DECREF(hashlib_module);
    for (i = 0; names[i] != NULL && lib == NULL; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_NOLOAD);
    if (lib == NULL)
        return 0;
    *(void **)&ossl.ctx_new = dlsym(lib, "EVP_MD_CTX_new");
    *(void **)&ossl.ctx_free = dlsym(lib, "EVP_MD_CTX_free");
    *(void **)&ossl.init = dlsym(lib, "EVP_DigestInit_ex");
    *(void **)&ossl.update = dlsym(lib, "EVP_DigestUpdate");
    *(void **)&ossl.final = dlsym(lib, "EVP_DigestFinal_ex");
    fetch = dlsym(lib, "EVP_MD_fetch"); /* OpenSSL 3: fetch once, not at every init */
    sha256 = dlsym(lib, "EVP_sha256");
    if (ossl.ctx_new == NULL || ossl.ctx_free == NULL || ossl.init == NULL ||
        ossl.update == NULL || ossl.final == NULL)
        return 0;
    if (fetch != NULL)
        ossl.sha256 = ((const Md *(*)(void *, const char *, const char *))fetch)(NULL, "SHA256",
                                                                               NULL);
    else if (sha256 != NULL)
        ossl.sha256 = ((const Md *(*)(void))sha256)();
    ossl.ctx = ossl.ctx_new();
    if (ossl.sha256 == NULL || ossl.ctx == NULL)
        return 0;
    if (!sha256_parts(ossl.ctx, (Ptr) "a", 1, (Ptr) "bc", 2, digest) || memcmp(digest, abc, 32) != 0)
        return 0;
    ossl.state = 1;
    return 1;
}

static PyObject *
hex_digest(const unsigned char *digest)
{
    static const char hex[] = "0123456789abcdef";
    PyObject *text = PyUnicode_New(64, 127);
    Py_UCS1 *out;
    int i;
    if (text == NULL)
        return NULL;
    out = PyUnicode_1BYTE_DATA(text);
    for (i = 0; i < 32; i++) {
        out[2 * i] = (Py_UCS1)hex[digest[i] >> 4];
        out[2 * i + 1] = (Py_UCS1)hex[digest[i] & 15];
    }
    return text;
}

/* The four values of a proven line, as new references; -1 with an exception set. */
static int
found_values(Ptr line, Ptr end, const Found *found, PyObject **out, int hashing)
{
    Py_ssize_t before = found->cut_start - line, after = end - found->cut_stop;
    if (hashing) { /* the hex SHA-256 of the bytes, instead of the bytes */
        unsigned char digest[32];
        if (sha256_parts(ossl.ctx, line, (size_t)before, found->cut_stop, (size_t)after, digest))
            out[0] = hex_digest(digest);
        else {
            out[0] = NULL;
            PyErr_SetString(PyExc_RuntimeError, "OpenSSL SHA-256 failed");
        }
    }
    else {
        out[0] = PyBytes_FromStringAndSize(NULL, before + after);
        if (out[0] != NULL) {
            memcpy(PyBytes_AS_STRING(out[0]), line, (size_t)before);
            memcpy(PyBytes_AS_STRING(out[0]) + before, found->cut_stop, (size_t)after);
        }
    }
    out[1] = PyUnicode_DecodeUTF8((const char *)found->hash_text.start,
                                  found->hash_text.stop - found->hash_text.start, "strict");
    out[2] = PyUnicode_DecodeUTF8((const char *)found->prev_text.start,
                                  found->prev_text.stop - found->prev_text.start, "strict");
    if (found->time_start != NULL)
        out[3] = time_object(found->time_type, found->time_start, found->time_stop);
    else {
        out[3] = Py_None;
        Py_INCREF(out[3]);
    }
    if (out[0] == NULL || out[1] == NULL || out[2] == NULL || out[3] == NULL) {
        Py_CLEAR(out[0]);
        Py_CLEAR(out[1]);
        Py_CLEAR(out[2]);
        Py_CLEAR(out[3]);
        return -1;
    }
    return 0;
}

static PyObject *
examine(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Keys keys;
    Found found;
    Ptr line, end;
    PyObject *values[4], *result;
    (void)module;

    if (nargs != 4 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "examine(line, hash_key, prev_key, time_keys)");
        return NULL;
    }
    if (read_keys(args[1], args[2], args[3], &keys) < 0)
        return NULL;
    line = (Ptr)PyBytes_AS_STRING(args[0]);
    end = line + PyBytes_GET_SIZE(args[0]);
    if (prove_line(line, end, &keys, &found) < 0)
        Py_RETURN_NONE;
    if (found_values(line, end, &found, values, 0) < 0)
        return NULL;
    result = PyTuple_Pack(4, values[0], values[1], values[2], values[3]);
    Py_DECREF(values[0]);
    Py_DECREF(values[1]);
    Py_DECREF(values[2]);
    Py_DECREF(values[3]);
    return result;
}

/* examine() of up to max_lines lines of a block of JSON lines from byte offset start,
 * without making the lines objects. */
static PyObject *
examine_block(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Keys keys;
    Found found;
    Ptr data, stop, p;
    Py_ssize_t start, max_lines, count = 0, i, j;
    PyObject *lists[4] = {NULL, NULL, NULL, NULL}, *offsets = NULL, *result = NULL;
    int64_t *starts;
    int hashing;
    (void)module;

    if (nargs != 7 || !PyBytes_Check(args[0]) || !PyLong_Check(args[1]) ||
        !PyLong_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "examine_block(data, start, max_lines, hash_key,"
                                         " prev_key, time_keys, sha256)");
        return NULL;
    }
    hashing = PyObject_IsTrue(args[6]);
    if (hashing < 0)
        return NULL;
    hashing = hashing && ossl_ready();
    start = PyLong_AsSsize_t(args[1]);
    max_lines = PyLong_AsSsize_t(args[2]);
    if ((start == -1 || max_lines == -1) && PyErr_Occurred())
        return NULL;
    if (read_keys(args[3], args[4], args[5], &keys) < 0)
        return NULL;
    data = (Ptr)PyBytes_AS_STRING(args[0]);
    stop = data + PyBytes_GET_SIZE(args[0]);
    if (start < 0 || start > stop - data || max_lines < 0) {
        PyErr_SetString(PyExc_ValueError, "start or max_lines out of range");
        return NULL;
    }
    for (p = data + start; p < stop && count < max_lines; count++) {
        Ptr newline = memchr(p, '\n', (size_t)(stop - p));
        p = newline ? newline + 1 : stop;
    }
    offsets = PyBytes_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(int64_t));
    if (offsets == NULL)
        return NULL;
    starts = (int64_t *)PyBytes_AS_STRING(offsets);
    for (j = 0; j < 4; j++)
        if ((lists[j] = PyList_New(count)) == NULL)
            goto done;
    for (i = 0, p = data + start; i < count; i++) {
        Ptr newline = memchr(p, '\n', (size_t)(stop - p));
        Ptr end = newline ? newline : stop;
        PyObject *values[4];
        starts[i] = p - data;
        if (prove_line(p, end, &keys, &found) == 0) {
            if (found_values(p, end, &found, values, hashing) < 0)
                goto done;
        }
        else
            for (j = 0; j < 4; j++) {
                values[j] = Py_None;
                Py_INCREF(Py_None);
            }
        for (j = 0; j < 4; j++)
            PyList_SET_ITEM(lists[j], i, values[j]);
        p = newline ? newline + 1 : stop;
    }
    result = Py_BuildValue("(OOOOOnO)", lists[0], lists[1], lists[2], lists[3], offsets,
                           (Py_ssize_t)(p - data), hashing ? Py_True : Py_False);
done:
    for (j = 0; j < 4; j++)
        Py_XDECREF(lists[j]);
    Py_DECREF(offsets);
    return result;
}

/* -1, 0 or 1 as the byte strings a and b order (UTF-8: as their code points do). */
static int
compare_text(Ptr a, Py_ssize_t a_len, Ptr b, Py_ssize_t b_len)
{
    int order = memcmp(a, b, (size_t)(a_len < b_len ? a_len : b_len));
    return order != 0 ? order : (a_len > b_len) - (a_len < b_len);
}

/* 1 when text is the lowercase hex of the 32 bytes of digest. */
static int
is_hex_of(const unsigned char *digest, Ptr text, Py_ssize_t len)
{
    static const char hex[] = "0123456789abcdef";
    int i;
    if (len != 64)
        return 0;
    for (i = 0; i < 32; i++)
        if (text[2 * i] != (unsigned char)hex[digest[i] >> 4] ||
            text[2 * i + 1] != (unsigned char)hex[digest[i] & 15])
            return 0;
    return 1;
}

/* What link_block's loop learns of a block; it runs without the GIL. */
typedef struct {
    int clean;
    Ptr first_prev, lo, hi;
    Py_ssize_t first_prev_len, lo_len, hi_len;
} Links;

/* The loop of link_block over the count lines of [data, data + size), with its own
 * hashing context, so that it needs no GIL: other threads run meanwhile. */
static void
link_lines(Ptr data, Py_ssize_t size, Py_ssize_t count, const Keys *keys, MdCtx *ctx,
           int64_t *starts, int64_t *at, Links *links)
{
    Found found;
    Ptr stop = data + size, p = data, last_hash = NULL;
    Py_ssize_t i;
    unsigned char digest[32];

    links->clean = 0;
    for (i = 0; i < count; i++) {
        Ptr newline = memchr(p, '\n', (size_t)(stop - p));
        Ptr end = newline ? newline : stop, hash, time;
        Py_ssize_t time_len;
        if (prove_line(p, end, keys, &found) < 0 || found.time_start == NULL ||
            found.time_type != V_STRING)
            return;
        hash = found.hash_text.start;
        if (!sha256_parts(ctx, p, (size_t)(found.cut_start - p), found.cut_stop,
                          (size_t)(end - found.cut_stop), digest) ||
            !is_hex_of(digest, hash, found.hash_text.stop - hash))
            return;
        if (i == 0) {
            links->first_prev = found.prev_text.start;
            links->first_prev_len = found.prev_text.stop - found.prev_text.start;
        }
        else if (found.prev_text.stop - found.prev_text.start != 64 ||
                 memcmp(found.prev_text.start, last_hash, 64) != 0)
            return;
        time = found.time_start + 1; /* inside the quotes */
        time_len = found.time_stop - found.time_start - 2;
        if (i == 0 || compare_text(time, time_len, links->lo, links->lo_len) < 0) {
            links->lo = time;
            links->lo_len = time_len;
        }
        if (i == 0 || compare_text(time, time_len, links->hi, links->hi_len) > 0) {
            links->hi = time;
            links->hi_len = time_len;
        }
        starts[i] = p - data;
        at[i] = hash - data;
        last_hash = hash;
        p = newline ? newline + 1 : stop;
    }
    starts[count] = size + (data[size - 1] == '\n' ? 0 : 1);
    links->clean = 1;
}

/* link_block(data, hash_key, prev_key, time_keys): when every line of the block is
 * proven, holds the lowercase hex SHA-256 of its cut bytes as its stored hash, names
 * the stored hash of the line before as its predecessor (from the second line on) and
 * has a string time, (starts, hashes, first_prev, first_time, last_time): the lines'
 * int64 start offsets with one past the end, the int64 offset of each stored hash in
 * data, the first line's predecessor, and the least and greatest time; else None. It
 * makes no object per line (a clean block is the common case, anything else goes to
 * examine_block), and lets other threads run while it reads the lines. */
static PyObject *
link_block(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Keys keys;
    Links links = {0, NULL, NULL, NULL, 0, 0, 0};
    Ptr data, stop, p;
    Py_ssize_t size, count = 0;
    PyObject *offsets = NULL, *hashes = NULL, *first_prev = NULL, *lo_text = NULL,
             *hi_text = NULL, *result = NULL;
    MdCtx *ctx;
    (void)module;

    if (nargs != 4 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "link_block(data, hash_key, prev_key, time_keys)");
        return NULL;
    }
    if (read_keys(args[1], args[2], args[3], &keys) < 0)
        return NULL;
    if (!ossl_ready())
        Py_RETURN_NONE;
    data = (Ptr)PyBytes_AS_STRING(args[0]);
    size = PyBytes_GET_SIZE(args[0]);
    stop = data + size;
    for (p = data; p < stop; count++) {
        Ptr newline = memchr(p, '\n', (size_t)(stop - p));
        p = newline ? newline + 1 : stop;
    }
    if (count == 0)
        Py_RETURN_NONE;
    offsets = PyBytes_FromStringAndSize(NULL, (count + 1) * (Py_ssize_t)sizeof(int64_t));
    hashes = PyBytes_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(int64_t));
    if (offsets == NULL || hashes == NULL)
        goto done;
    if ((ctx = ossl.ctx_new()) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    link_lines(data, size, count, &keys, ctx, (int64_t *)PyBytes_AS_STRING(offsets),
               (int64_t *)PyBytes_AS_STRING(hashes), &links);
    Py_END_ALLOW_THREADS
    ossl.ctx_free(ctx);
    if (!links.clean) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    first_prev = PyUnicode_DecodeUTF8((const char *)links.first_prev, links.first_prev_len,
                                      "strict");
    lo_text = PyUnicode_DecodeUTF8((const char *)links.lo, links.lo_len, "strict");
    hi_text = PyUnicode_DecodeUTF8((const char *)links.hi, links.hi_len, "strict");
    if (first_prev != NULL && lo_text != NULL && hi_text != NULL)
        result = PyTuple_Pack(5, offsets, hashes, first_prev, lo_text, hi_text);
done:
    Py_XDECREF(offsets);
    Py_XDECREF(hashes);
    Py_XDECREF(first_prev);
    Py_XDECREF(lo_text);
    Py_XDECREF(hi_text);
    return result;
}

static PyMethodDef methods[] = {
    {"examine", (PyCFunction)(void (*)(void))examine, METH_FASTCALL,
     "examine(line, hash_key, prev_key, time_keys) -> (hashed, stored, prev, time) | None"},
    {"examine_block", (PyCFunction)(void (*)(void))examine_block, METH_FASTCALL,
     "examine_block(data, start, max_lines, hash_key, prev_key, time_keys, sha256) -> (hashed,"
     " stored, prevs, times, starts, next, digested): examine() of up to max_lines lines from"
     " byte start, None where it refuses; starts are the lines' int64 offsets, next where to"
     " go on; with sha256 true and OpenSSL at hand, hashed holds hex SHA-256 digests of the"
     " cut lines instead, and digested says so"},
    {"link_block", (PyCFunction)(void (*)(void))link_block, METH_FASTCALL,
     "link_block(data, hash_key, prev_key, time_keys) -> (starts, hashes, first_prev,"
     " first_time, last_time) | None: a block whose every line is proven, matches its"
     " SHA-256 and links to the line before, without an object per line; else None"},
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
