/*
 * audit_logging._speedups: an event's id and time (issue 19).
 *
 * uuid7(now_ns=None) -> str
 *     audit_logging._model.ids.uuid7_str, compiled: a UUIDv7 as its canonical
 *     36-character string, greater than every id this process made before. The layout
 *     and the rule are the Python reference's (RFC 9562: 48-bit Unix milliseconds,
 *     version 7, 12 + 62 random bits, variant 0b10; an id that does not sort after the
 *     last one becomes the last one plus a random 1 .. 2**32 in its 62 low bits,
 *     "monotonic random" with a random increment, RFC 9562 section 6.2). The GIL is held for the whole call, so the comparison
 *     with the last id and its update are one step for every thread. The random bits
 *     come from os.urandom, drawn 4 KiB at a time (one call per 292 ids); a forked
 *     child throws the parent's unused bytes away (pthread_atfork), so two processes
 *     never hand out the same bits. When the package is compiled the Python module
 *     uses this function for every id, so there is one sequence per process.
 *
 * utc_from_timestamp(created) -> datetime
 *     datetime.fromtimestamp(created, timezone.utc) for a float of the years 1970-9999,
 *     without the second datetime and the fromutc() call CPython makes for a tz-aware
 *     result: the same rounding (half to even, to the microsecond), the same fields.
 *     Anything else goes through datetime.fromtimestamp itself.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#ifndef _WIN32
#include <pthread.h>
#endif

#include "_speedups.h"

#define POOL_SIZE 4096
#define ID_RANDOM_BYTES 14 /* 12 (rand_a) + 62 (rand_b) bits, 32 for a successor's step */
#define LOW_BITS ((UINT64_C(1) << 62) - 1)

static unsigned char g_last[16];
static int g_have_last;
static unsigned char g_pool[POOL_SIZE];
static Py_ssize_t g_pool_pos = POOL_SIZE; /* empty: filled at the first id */
static PyObject *g_urandom;               /* os.urandom */

#ifndef _WIN32
static void
forget_pool_in_child(void)
{
    g_pool_pos = POOL_SIZE; /* the parent's bytes are the parent's */
}
#endif

static int
fill_pool(void)
{
    PyObject *bytes = PyObject_CallFunction(g_urandom, "n", (Py_ssize_t)POOL_SIZE);
    if (bytes == NULL) {
        return -1;
    }
    if (!PyBytes_Check(bytes) || PyBytes_GET_SIZE(bytes) != POOL_SIZE) {
        Py_DECREF(bytes);
        PyErr_SetString(PyExc_RuntimeError, "os.urandom returned the wrong number of bytes");
        return -1;
    }
    memcpy(g_pool, PyBytes_AS_STRING(bytes), POOL_SIZE);
    Py_DECREF(bytes);
    g_pool_pos = 0;
    return 0;
}

static int
now_ms(PyObject *now_ns, long long *ms)
{
    long long ns;
    if (now_ns == NULL || now_ns == Py_None) {
#if PY_VERSION_HEX >= 0x030D0000
        PyTime_t t;
        if (PyTime_Time(&t) < 0) {
            return -1;
        }
        ns = (long long)t;
#else
        ns = (long long)_PyTime_GetSystemClock();
#endif
    }
    else {
        if (!PyLong_Check(now_ns)) {
            PyErr_Format(PyExc_TypeError, "now_ns must be an int, not %.100s",
                         Py_TYPE(now_ns)->tp_name);
            return -1;
        }
        ns = PyLong_AsLongLong(now_ns);
        if (ns == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    if (ns < 0) {
        PyErr_SetString(PyExc_ValueError, "now_ns must not be before 1970");
        return -1;
    }
    *ms = ns / 1000000;
    return 0;
}

/*
 * last + step in the 62 low bits (bytes 8-15 without the two variant bits). The step is
 * random, not 1: a forked child shares its parent's last id, and within the parent's
 * last millisecond (or with the clock behind it) both would otherwise make last + 1.
 */
static int
successor(unsigned char *out, uint64_t step)
{
    memcpy(out, g_last, 16);
    uint64_t low = (uint64_t)(out[8] & 0x3F);
    for (int i = 9; i < 16; i++) {
        low = (low << 8) | out[i];
    }
    if (low > LOW_BITS - step) {
        PyErr_SetString(PyExc_OverflowError,
                        "UUIDv7 random bits exhausted within one millisecond");
        return -1;
    }
    low += step;
    for (int i = 15; i >= 9; i--) {
        out[i] = (unsigned char)(low & 0xFF);
        low >>= 8;
    }
    out[8] = (unsigned char)(0x80 | (low & 0x3F));
    return 0;
}

static PyObject *
canonical(const unsigned char *id)
{
    static const char HEX[] = "0123456789abcdef";
    PyObject *text = PyUnicode_New(36, 127);
    if (text == NULL) {
        return NULL;
    }
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    int pos = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[pos++] = '-';
        }
        out[pos++] = (Py_UCS1)HEX[id[i] >> 4];
        out[pos++] = (Py_UCS1)HEX[id[i] & 0x0F];
    }
    return text;
}

PyObject *
uuid7(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    (void)self;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs + nkw > 1) {
        PyErr_SetString(PyExc_TypeError, "uuid7() takes at most one argument (now_ns)");
        return NULL;
    }
    if (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "now_ns")) {
        PyErr_Format(PyExc_TypeError, "uuid7() got an unexpected keyword argument '%U'",
                     PyTuple_GET_ITEM(kwnames, 0));
        return NULL;
    }
    long long ms;
    if (now_ms(nargs + nkw ? args[0] : NULL, &ms) < 0) {
        return NULL;
    }
    if (g_pool_pos + ID_RANDOM_BYTES > POOL_SIZE && fill_pool() < 0) {
        return NULL;
    }
    const unsigned char *rnd = g_pool + g_pool_pos;
    g_pool_pos += ID_RANDOM_BYTES;
    unsigned char id[16];
    for (int i = 0; i < 6; i++) {
        id[i] = (unsigned char)(ms >> (8 * (5 - i)));
    }
    id[6] = (unsigned char)(0x70 | (rnd[0] & 0x0F));
    id[7] = rnd[1];
    id[8] = (unsigned char)(0x80 | (rnd[2] & 0x3F));
    memcpy(id + 9, rnd + 3, 7);
    if (g_have_last && memcmp(id, g_last, 16) <= 0) {
        uint64_t step = 1 + (((uint64_t)rnd[10] << 24) | ((uint64_t)rnd[11] << 16)
                             | ((uint64_t)rnd[12] << 8) | rnd[13]);
        if (successor(id, step) < 0) {
            return NULL;
        }
    }
    memcpy(g_last, id, 16);
    g_have_last = 1;
    return canonical(id);
}

static double
round_half_even(double x)
{
    double rounded = round(x);
    if (fabs(x - rounded) == 0.5) {
        rounded = 2.0 * round(x / 2.0);
    }
    return rounded;
}

PyObject *
utc_from_timestamp(PyObject *created, PyObject *utc)
{
    if (PyFloat_CheckExact(created)) {
        double t = PyFloat_AS_DOUBLE(created);
        /* 1970-01-01 .. 9999-12-31: gmtime is exact there on every platform. */
        if (t >= 0.0 && t < 253402300799.0) {
            double seconds;
            double us = round_half_even(modf(t, &seconds) * 1e6);
            if (us >= 1e6) {
                us -= 1e6;
                seconds += 1.0;
            }
            time_t whole = (time_t)seconds;
            struct tm tm;
#ifdef _WIN32
            int failed = gmtime_s(&tm, &whole) != 0;
#else
            int failed = gmtime_r(&whole, &tm) == NULL;
#endif
            if (!failed) {
                return PyDateTimeAPI->DateTime_FromDateAndTime(
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                    tm.tm_sec > 59 ? 59 : tm.tm_sec, (int)us, utc, PyDateTimeAPI->DateTimeType);
            }
        }
    }
    PyObject *stamp_args = PyTuple_Pack(2, created, utc);
    if (stamp_args == NULL) {
        return NULL;
    }
    PyObject *result = PyDateTimeAPI->DateTime_FromTimestamp(
        (PyObject *)PyDateTimeAPI->DateTimeType, stamp_args, NULL);
    Py_DECREF(stamp_args);
    return result;
}

PyObject *
utc_from_timestamp_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "utc_from_timestamp(created, utc)");
        return NULL;
    }
    return utc_from_timestamp(args[0], args[1]);
}

int
ids_init(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) {
        return -1;
    }
    PyObject *os = PyImport_ImportModule("os");
    if (os == NULL) {
        return -1;
    }
    g_urandom = PyObject_GetAttrString(os, "urandom");
    Py_DECREF(os);
    if (g_urandom == NULL) {
        return -1;
    }
#ifndef _WIN32
    if (pthread_atfork(NULL, NULL, forget_pool_in_child) != 0) {
        PyErr_SetString(PyExc_OSError, "pthread_atfork failed");
        return -1;
    }
#endif
    return 0;
}
