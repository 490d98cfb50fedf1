/*
 * JSON straight between HSL values and UTF-8 bytes, for json_encode() and
 * json_decode() in halon/hsl/stdlib/data.py.
 *
 * Why C: HSL strings are bytes, numbers are floats and arrays are HSLArray
 * objects over a dict of normalised keys, so going through Python's own
 * codec needs a conversion pass on each side that costs more than the codec.
 * Here the bytes of an HSL string are checked as UTF-8 and copied, and the
 * decoder builds the HSL values directly.
 *
 * The pure-Python path in data.py stays the reference: this module gives
 * byte-for-byte the same results, raises ValueError (or RecursionError)
 * where that path returns none, and encode() returns NotImplemented for
 * anything but none, booleans, floats, bytes and HSLArray (over an exact
 * dict of float/bytes keys) so that data.py falls back to the Python path.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <structmember.h>

/*
 * Set by setup(): the HSLArray class and where its three slots are in an
 * instance (read and written there directly, as their member descriptors
 * would), the shared keys 0.0, 1.0, ... of short lists, format_number().
 */
static PyTypeObject *array_type;
static Py_ssize_t slot_d, slot_next, slot_shared;
static PyObject *indexes;
static PyObject *format_number;

#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

enum { OK = 0, FAIL = -1, UNHANDLED = -2 };

/* -- an output buffer ------------------------------------------------------ */

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int
reserve(Buf *b, Py_ssize_t n)
{
    if (b->len + n <= b->cap)
        return OK;
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    char *p = PyMem_Realloc(b->p, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return FAIL;
    }
    b->p = p;
    b->cap = cap;
    return OK;
}

static inline int
put(Buf *b, const char *s, Py_ssize_t n)
{
    if (reserve(b, n) < 0)
        return FAIL;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return OK;
}

static int
fail(const char *what, Py_ssize_t at)
{
    PyErr_Format(PyExc_ValueError, "%s at byte %zd", what, at);
    return FAIL;
}

/*
 * The length of the UTF-8 sequence at s (at most n bytes) and its code
 * point, or 0 when it is not one Python's strict decoder accepts (overlong
 * forms, surrogates, beyond U+10FFFF, truncated).
 */
static int
utf8_char(const unsigned char *s, Py_ssize_t n, Py_UCS4 *cp)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    int len;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        len = 2;
        *cp = c & 0x1F;
    }
    else if (c < 0xF0) {
        len = 3;
        *cp = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    }
    else if (c < 0xF5) {
        len = 4;
        *cp = c & 0x07;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    }
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    return len;
}

/* -- encoding -------------------------------------------------------------- */

typedef struct {
    Buf out;
    int ascii, pretty, level;
} Encoder;

static const char hexdigits[] = "0123456789abcdef";

static char *
put_u(char *o, Py_UCS4 c)
{
    *o++ = '\\';
    *o++ = 'u';
    *o++ = hexdigits[(c >> 12) & 0xF];
    *o++ = hexdigits[(c >> 8) & 0xF];
    *o++ = hexdigits[(c >> 4) & 0xF];
    *o++ = hexdigits[c & 0xF];
    return o;
}

/*
 * A JSON string from UTF-8 bytes, escaped as json.dumps does: quote,
 * backslash and control characters always; with ensure_ascii also DEL and
 * everything beyond ASCII, as \uXXXX (surrogate pairs above U+FFFF).
 */
static int
encode_string(Encoder *e, const unsigned char *s, Py_ssize_t n)
{
    /* At worst 6 bytes out per byte in (a 4-byte character takes 12). */
    if (reserve(&e->out, 6 * n + 2) < 0)
        return FAIL;
    char *o = e->out.p + e->out.len;
    *o++ = '"';
    for (Py_ssize_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            *o++ = c;
            i++;
            continue;
        }
        if (c < 0x80) {
            i++;
            if (c == 0x7F && !e->ascii) {
                *o++ = c;
                continue;
            }
            const char *short_form = strchr("\"\"\\\\\bb\ff\nn\rr\tt", c);
            if (c && short_form) {
                *o++ = '\\';
                *o++ = short_form[1];
            }
            else
                o = put_u(o, c);
            continue;
        }
        Py_UCS4 cp;
        int len = utf8_char(s + i, n - i, &cp);
        if (len == 0)
            return fail("string is not UTF-8", i);
        if (!e->ascii)
            memcpy(o, s + i, len), o += len;
        else if (cp < 0x10000)
            o = put_u(o, cp);
        else {
            o = put_u(o, 0xD800 + ((cp - 0x10000) >> 10));
            o = put_u(o, 0xDC00 + ((cp - 0x10000) & 0x3FF));
        }
        i += len;
    }
    *o++ = '"';
    e->out.len = o - e->out.p;
    return OK;
}

/* An integral number as Python's int() prints it: 1e20 is 100000000000000000000. */
static int
encode_integer(Buf *b, double x)
{
    if (fabs(x) < 1e18) {
        char tmp[24], *q = tmp + sizeof tmp;
        unsigned long long u = (unsigned long long)fabs(x);
        do
            *--q = '0' + u % 10;
        while (u /= 10);
        if (x < 0)
            *--q = '-';
        return put(b, q, tmp + sizeof tmp - q);
    }
    PyObject *i = PyLong_FromDouble(x), *s = i ? PyObject_Str(i) : NULL;
    Py_XDECREF(i);
    if (s == NULL)
        return FAIL;
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    int r = p ? put(b, p, n) : FAIL;
    Py_DECREF(s);
    return r;
}

/* Integral numbers as integers, others as repr() does; nan and inf have no JSON form. */
static int
encode_number(Encoder *e, double x)
{
    if (!isfinite(x)) {
        PyErr_SetString(PyExc_ValueError, "nan and inf have no JSON form");
        return FAIL;
    }
    if (x == floor(x))
        return encode_integer(&e->out, x);
    char *s = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (s == NULL)
        return FAIL;
    int r = put(&e->out, s, strlen(s));
    PyMem_Free(s);
    return r;
}

/* A number key as format_number() prints it, quoted. */
static int
encode_number_key(Encoder *e, PyObject *key)
{
    double x = PyFloat_AS_DOUBLE(key);
    if (fabs(x) < 1e18)
        return put(&e->out, "\"", 1) || encode_integer(&e->out, x) || put(&e->out, "\"", 1) ? FAIL : OK;
    PyObject *s = PyObject_CallOneArg(format_number, key);
    if (s == NULL)
        return FAIL;
    int r = PyBytes_Check(s) ? encode_string(e, (unsigned char *)PyBytes_AS_STRING(s), PyBytes_GET_SIZE(s)) : UNHANDLED;
    Py_DECREF(s);
    return r;
}

/* A line break and the indentation of the current level, when pretty printing. */
static int
newline(Encoder *e)
{
    if (!e->pretty)
        return OK;
    if (reserve(&e->out, 1 + 4 * e->level) < 0)
        return FAIL;
    e->out.p[e->out.len++] = '\n';
    memset(e->out.p + e->out.len, ' ', 4 * e->level);
    e->out.len += 4 * e->level;
    return OK;
}

static int encode_value(Encoder *e, PyObject *v);

/* Whether the keys are exactly 0.0, 1.0, ... n-1 in order (HSLArray.is_list). */
static int
is_list(PyObject *d)
{
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (!PyFloat_CheckExact(k) || PyFloat_AS_DOUBLE(k) != (double)i++)
            return 0;
    }
    return 1;
}

static int
encode_items(Encoder *e, PyObject *d)
{
    int list = is_list(d); /* an empty array is a list */
    if (PyDict_GET_SIZE(d) == 0)
        return put(&e->out, "[]", 2);
    if (put(&e->out, list ? "[" : "{", 1) < 0)
        return FAIL;
    e->level++;
    Py_ssize_t pos = 0, count = 0;
    PyObject *k, *v;
    int r = OK;
    while (r == OK && PyDict_Next(d, &pos, &k, &v)) {
        if ((count++ && put(&e->out, ",", 1) < 0) || newline(e) < 0)
            return FAIL;
        /* format_number() runs Python code: hold on to the value meanwhile. */
        Py_INCREF(v);
        if (!list) {
            if (PyBytes_CheckExact(k))
                r = encode_string(e, (unsigned char *)PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k));
            else if (PyFloat_CheckExact(k))
                r = encode_number_key(e, k);
            else
                r = UNHANDLED;
            if (r == OK)
                r = put(&e->out, ": ", e->pretty ? 2 : 1);
        }
        if (r == OK)
            r = encode_value(e, v);
        Py_DECREF(v);
    }
    if (r != OK)
        return r;
    e->level--;
    if (newline(e) < 0)
        return FAIL;
    return put(&e->out, list ? "]" : "}", 1);
}

static int
encode_array(Encoder *e, PyObject *a)
{
    PyObject *d = SLOT(a, slot_d);
    if (d == NULL || !PyDict_CheckExact(d))
        return UNHANDLED;
    if (Py_EnterRecursiveCall(" while encoding JSON"))
        return FAIL;
    Py_INCREF(d);
    int r = encode_items(e, d);
    Py_DECREF(d);
    Py_LeaveRecursiveCall();
    return r;
}

static int
encode_value(Encoder *e, PyObject *v)
{
    if (PyBytes_CheckExact(v))
        return encode_string(e, (unsigned char *)PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
    if (PyFloat_CheckExact(v))
        return encode_number(e, PyFloat_AS_DOUBLE(v));
    if (Py_TYPE(v) == array_type)
        return encode_array(e, v);
    if (v == Py_None)
        return put(&e->out, "null", 4);
    if (v == Py_True)
        return put(&e->out, "true", 4);
    if (v == Py_False)
        return put(&e->out, "false", 5);
    return UNHANDLED;
}

static PyObject *
encode(PyObject *self, PyObject *args)
{
    PyObject *value;
    Encoder e = {{NULL, 0, 0}, 0, 0, 0};
    if (!PyArg_ParseTuple(args, "Opp:encode", &value, &e.ascii, &e.pretty))
        return NULL;
    if (array_type == NULL)
        return PyErr_Format(PyExc_RuntimeError, "setup() was not called");
    int r = encode_value(&e, value);
    PyObject *result = NULL;
    if (r == OK)
        result = PyBytes_FromStringAndSize(e.out.p, e.out.len);
    else if (r == UNHANDLED)
        result = Py_NewRef(Py_NotImplemented);
    PyMem_Free(e.out.p);
    return result;
}

/* -- decoding -------------------------------------------------------------- */

/*
 * Object keys repeat throughout a document: the first KEYS / 2 short ones
 * are remembered (an open-addressing table kept at most half full), so that
 * each is made, and hashed for the dicts, once.
 */
#define KEYS 256
#define KEY_MAX 32

typedef struct {
    const unsigned char *start, *p, *end;
    Buf text; /* a string with escapes, unescaped */
    PyObject *keys[KEYS];
    int nkeys;
} Decoder;

static PyObject *
decode_error(Decoder *d, const char *what)
{
    fail(what, d->p - d->start);
    return NULL;
}

static void
skip_space(Decoder *d)
{
    while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r'))
        d->p++;
}

/* Whether the next byte is c; if so, it is consumed. */
static inline int
take(Decoder *d, char c)
{
    if (d->p < d->end && *d->p == c) {
        d->p++;
        return 1;
    }
    return 0;
}

/* The number key i (0, 1, ...), shared for short lists. */
static PyObject *
index_key(Py_ssize_t i)
{
    if (i < PyTuple_GET_SIZE(indexes))
        return Py_NewRef(PyTuple_GET_ITEM(indexes, i));
    return PyFloat_FromDouble((double)i);
}

/* A new HSLArray over the dict items (taken over), as HSLArray.from_dict. */
static PyObject *
new_array(PyObject *items, double next_index)
{
    PyObject *a = array_type->tp_alloc(array_type, 0);
    PyObject *next = next_index >= 0 && next_index < PY_SSIZE_T_MAX ? index_key((Py_ssize_t)next_index)
                                                                     : PyFloat_FromDouble(next_index);
    if (a == NULL || next == NULL) {
        Py_XDECREF(a);
        Py_XDECREF(next);
        Py_DECREF(items);
        return NULL;
    }
    SLOT(a, slot_d) = items;
    SLOT(a, slot_next) = next;
    SLOT(a, slot_shared) = Py_NewRef(Py_False);
    return a;
}

static int
hex4(const unsigned char *p, Py_UCS4 *c)
{
    *c = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char h = p[i];
        if (h >= '0' && h <= '9')
            *c = (*c << 4) | (h - '0');
        else if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f')
            *c = (*c << 4) | ((h | 0x20) - 'a' + 10);
        else
            return FAIL;
    }
    return OK;
}

/* A code point as UTF-8; a lone surrogate too, as Python's "surrogatepass" writes it. */
static int
put_utf8(Buf *b, Py_UCS4 c)
{
    char u[4];
    int n;
    if (c < 0x80)
        u[0] = c, n = 1;
    else if (c < 0x800)
        u[0] = 0xC0 | (c >> 6), u[1] = 0x80 | (c & 0x3F), n = 2;
    else if (c < 0x10000)
        u[0] = 0xE0 | (c >> 12), u[1] = 0x80 | ((c >> 6) & 0x3F), u[2] = 0x80 | (c & 0x3F), n = 3;
    else
        u[0] = 0xF0 | (c >> 18), u[1] = 0x80 | ((c >> 12) & 0x3F), u[2] = 0x80 | ((c >> 6) & 0x3F),
        u[3] = 0x80 | (c & 0x3F), n = 4;
    return put(b, u, n);
}

/* The escapes JSON has besides \uXXXX: the letter, then the byte it stands for. */
static const char escapes[] = "\"\"\\\\//b\bf\fn\nr\rt\t";

/*
 * The string at d->p (just past its opening quote) as UTF-8: *s and *n point
 * into the input when it has no escapes, else into d->text.  As Python's
 * strict scanner: no raw control characters, \uXXXX pairs joined, lone
 * surrogates kept.
 */
static int
scan_string(Decoder *d, const unsigned char **s, Py_ssize_t *n)
{
    const unsigned char *run = d->p;
    int escaped = 0;
    d->text.len = 0;
    for (;;) {
        if (d->p >= d->end)
            return fail("unterminated string", d->p - d->start);
        unsigned char c = *d->p;
        if (c == '"' || c == '\\') {
            if (escaped || c == '\\') {
                if (put(&d->text, (const char *)run, d->p - run) < 0)
                    return FAIL;
                escaped = 1;
            }
            if (c == '"')
                break;
            if (d->end - d->p < 2)
                return fail("unterminated string", d->p - d->start);
            c = d->p[1];
            const char *simple = strchr(escapes, c);
            if (c && simple && (simple - escapes) % 2 == 0) {
                if (put(&d->text, simple + 1, 1) < 0)
                    return FAIL;
                d->p += 2;
            }
            else if (c == 'u') {
                Py_UCS4 cp, low;
                if (d->end - d->p < 6 || hex4(d->p + 2, &cp) < 0)
                    return fail("invalid \\u escape", d->p - d->start);
                d->p += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF && d->end - d->p >= 6 && d->p[0] == '\\' && d->p[1] == 'u') {
                    if (hex4(d->p + 2, &low) < 0)
                        return fail("invalid \\u escape", d->p - d->start);
                    if (low >= 0xDC00 && low <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        d->p += 6;
                    }
                }
                if (put_utf8(&d->text, cp) < 0)
                    return FAIL;
            }
            else
                return fail("invalid escape", d->p - d->start);
            run = d->p;
        }
        else if (c < 0x20)
            return fail("control character in string", d->p - d->start);
        else if (c < 0x80)
            d->p++;
        else {
            Py_UCS4 cp;
            int len = utf8_char(d->p, d->end - d->p, &cp);
            if (len == 0)
                return fail("string is not UTF-8", d->p - d->start);
            d->p += len;
        }
    }
    if (escaped) {
        *s = (const unsigned char *)d->text.p;
        *n = d->text.len;
    }
    else {
        *s = run;
        *n = d->p - run;
    }
    d->p++;
    return OK;
}

/* A key as norm_key() makes it: a canonical integer of under 16 characters is a number. */
static PyObject *
make_key(Decoder *d, const unsigned char *s, Py_ssize_t n, double *next_index)
{
    int canonical = n > 0 && n < 16;
    Py_ssize_t i = canonical && s[0] == '-';
    canonical = canonical && ((n == 1 && s[0] == '0') || (i < n && s[i] >= '1' && s[i] <= '9'));
    long long v = 0;
    for (; canonical && i < n; i++) {
        canonical = s[i] >= '0' && s[i] <= '9';
        v = v * 10 + (s[i] - '0');
    }
    if (!canonical) {
        if (n > KEY_MAX)
            return PyBytes_FromStringAndSize((const char *)s, n);
        unsigned h = 2166136261u;
        for (i = 0; i < n; i++)
            h = (h ^ s[i]) * 16777619u;
        for (h %= KEYS; d->keys[h] != NULL; h = (h + 1) % KEYS) {
            PyObject *k = d->keys[h];
            if (PyBytes_GET_SIZE(k) == n && memcmp(PyBytes_AS_STRING(k), s, n) == 0)
                return Py_NewRef(k);
        }
        PyObject *k = PyBytes_FromStringAndSize((const char *)s, n);
        if (k != NULL && d->nkeys < KEYS / 2) {
            d->keys[h] = Py_NewRef(k);
            d->nkeys++;
        }
        return k;
    }
    double x = s[0] == '-' ? -(double)v : (double)v;
    if (x >= *next_index)
        *next_index = x + 1;
    return PyFloat_FromDouble(x);
}

/* A number as the scanner matches it, -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?, read by float(). */
static PyObject *
decode_number(Decoder *d)
{
    const unsigned char *p = d->p, *e = d->end, *start = p;
#define DIGITS() while (p < e && *p >= '0' && *p <= '9') p++
    if (p < e && *p == '-')
        p++;
    if (p < e && *p == '0')
        p++;
    else if (p < e && *p >= '1' && *p <= '9') {
        DIGITS();
    }
    else
        return decode_error(d, "invalid value");
    int integer = 1;
    if (e - p >= 2 && p[0] == '.' && p[1] >= '0' && p[1] <= '9') {
        p++;
        DIGITS();
        integer = 0;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        const unsigned char *mark = p++;
        if (p < e && (*p == '-' || *p == '+'))
            p++;
        const unsigned char *digits = p;
        DIGITS();
        if (p == digits)
            p = mark;
        else
            integer = 0;
    }
#undef DIGITS
    Py_ssize_t n = p - start;
    d->p = p;
    if (integer && n <= 15) {
        long long v = 0;
        for (const unsigned char *q = start + (*start == '-'); q < p; q++)
            v = v * 10 + (*q - '0');
        return PyFloat_FromDouble(*start == '-' ? -(double)v : (double)v);
    }
    char *text = PyMem_Malloc(n + 1);
    if (text == NULL)
        return PyErr_NoMemory();
    memcpy(text, start, n);
    text[n] = '\0';
    double x = PyOS_string_to_double(text, NULL, NULL);
    PyMem_Free(text);
    if (x == -1.0 && PyErr_Occurred())
        return NULL;
    return PyFloat_FromDouble(x);
}

static PyObject *decode_value(Decoder *d);

static PyObject *
decode_list(Decoder *d)
{
    PyObject *items = PyDict_New();
    Py_ssize_t i = 0;
    if (items == NULL)
        return NULL;
    d->p++;
    skip_space(d);
    if (take(d, ']'))
        return new_array(items, 0);
    for (;;) {
        PyObject *v = decode_value(d);
        PyObject *k = v == NULL ? NULL : index_key(i);
        int r = k == NULL ? -1 : PyDict_SetItem(items, k, v);
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (r < 0)
            goto error;
        i++;
        skip_space(d);
        if (take(d, ','))
            continue;
        if (take(d, ']'))
            return new_array(items, i);
        decode_error(d, "expected , or ]");
        goto error;
    }
error:
    Py_DECREF(items);
    return NULL;
}

static PyObject *
decode_object(Decoder *d)
{
    PyObject *items = PyDict_New();
    double next_index = 0;
    if (items == NULL)
        return NULL;
    d->p++;
    skip_space(d);
    if (take(d, '}'))
        return new_array(items, 0);
    for (;;) {
        const unsigned char *s;
        Py_ssize_t n;
        if (!take(d, '"')) {
            decode_error(d, "expected a key");
            goto error;
        }
        if (scan_string(d, &s, &n) < 0)
            goto error;
        PyObject *k = make_key(d, s, n, &next_index);
        if (k == NULL)
            goto error;
        skip_space(d);
        if (!take(d, ':')) {
            Py_DECREF(k);
            decode_error(d, "expected :");
            goto error;
        }
        PyObject *v = decode_value(d);
        int r = v == NULL ? -1 : PyDict_SetItem(items, k, v);
        Py_DECREF(k);
        Py_XDECREF(v);
        if (r < 0)
            goto error;
        skip_space(d);
        if (take(d, ',')) {
            skip_space(d);
            continue;
        }
        if (take(d, '}'))
            return new_array(items, next_index);
        decode_error(d, "expected , or }");
        goto error;
    }
error:
    Py_DECREF(items);
    return NULL;
}

static int
literal(Decoder *d, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(d->end - d->p) < n || memcmp(d->p, word, n) != 0)
        return 0;
    d->p += n;
    return 1;
}

static PyObject *
decode_value(Decoder *d)
{
    skip_space(d);
    if (d->p >= d->end)
        return decode_error(d, "expected a value");
    switch (*d->p) {
    case '"': {
        const unsigned char *s;
        Py_ssize_t n;
        d->p++;
        if (scan_string(d, &s, &n) < 0)
            return NULL;
        return PyBytes_FromStringAndSize((const char *)s, n);
    }
    case '{':
    case '[': {
        if (Py_EnterRecursiveCall(" while decoding JSON"))
            return NULL;
        PyObject *v = *d->p == '{' ? decode_object(d) : decode_list(d);
        Py_LeaveRecursiveCall();
        return v;
    }
    case 't':
        if (literal(d, "true"))
            return Py_NewRef(Py_True);
        break;
    case 'f':
        if (literal(d, "false"))
            return Py_NewRef(Py_False);
        break;
    case 'n':
        if (literal(d, "null"))
            return Py_NewRef(Py_None);
        break;
    default:
        return decode_number(d);
    }
    return decode_error(d, "invalid value");
}

static PyObject *
decode(PyObject *self, PyObject *arg)
{
    if (!PyBytes_Check(arg))
        return PyErr_Format(PyExc_TypeError, "decode() takes bytes");
    if (array_type == NULL)
        return PyErr_Format(PyExc_RuntimeError, "setup() was not called");
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(arg);
    Decoder d = {s, s, s + PyBytes_GET_SIZE(arg), {NULL, 0, 0}, {NULL}, 0};
    PyObject *v = decode_value(&d);
    skip_space(&d);
    if (v != NULL && d.p != d.end) {
        Py_CLEAR(v);
        decode_error(&d, "extra data");
    }
    PyMem_Free(d.text.p);
    for (int i = 0; i < KEYS; i++)
        Py_XDECREF(d.keys[i]);
    return v;
}

/* -- the module ------------------------------------------------------------ */

/* Where the __slots__ entry name is in an instance of type, or -1. */
static Py_ssize_t
slot(PyObject *type, const char *name)
{
    PyObject *descr = PyDict_GetItemString(((PyTypeObject *)type)->tp_dict, name);
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
        ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "%R has no slot %s", type, name);
        return -1;
    }
    return ((PyMemberDescrObject *)descr)->d_member->offset;
}

static PyObject *
setup(PyObject *self, PyObject *args)
{
    PyObject *type, *keys, *fmt;
    if (!PyArg_ParseTuple(args, "O!O!O:setup", &PyType_Type, &type, &PyTuple_Type, &keys, &fmt))
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(keys); i++) {
        if (!PyFloat_CheckExact(PyTuple_GET_ITEM(keys, i)) || PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(keys, i)) != i)
            return PyErr_Format(PyExc_ValueError, "keys must be 0.0, 1.0, ...");
    }
    if ((slot_d = slot(type, "_d")) < 0 || (slot_next = slot(type, "_next")) < 0 ||
        (slot_shared = slot(type, "shared")) < 0)
        return NULL;
    Py_XSETREF(indexes, Py_NewRef(keys));
    Py_XSETREF(format_number, Py_NewRef(fmt));
    Py_XSETREF(array_type, (PyTypeObject *)Py_NewRef(type));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS, "setup(HSLArray, keys 0.0..n-1, format_number)"},
    {"encode", encode, METH_VARARGS, "encode(value, ensure_ascii, pretty) -> bytes, or NotImplemented"},
    {"decode", decode, METH_O, "decode(bytes) -> HSL value"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_jsonspeedups", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__jsonspeedups(void)
{
    return PyModule_Create(&module);
}
