/*
 * audit_logging._sealing, part two: the SQL sink's row bodies (see _sealing.c).
 *
 * row_bodies(keys, rows, k, time_index) writes each row's hashed body, the JSON object of
 * its first k non-NULL column values, byte for byte as the reference
 * (audit_logging._sinks.database.sealing.row_body, which uses orjson) writes it, for the
 * rows whose values are str, int and the writer's times; any other row is None, and the
 * Python side builds that one.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>

#include <stdio.h>
#include <string.h>

#include "_sealing.h"

/* A growing byte buffer (one per row_bodies call, reused for every row). */
typedef struct {
    char *data;
    size_t len, cap;
} Buffer;

static int
reserve(Buffer *b, size_t more)
{
    if (b->len + more <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more) {
        cap *= 2;
    }
    char *data = PyMem_Realloc(b->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int
put(Buffer *b, const char *src, size_t n)
{
    if (reserve(b, n) < 0) {
        return -1;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

/* A JSON string as orjson writes it: UTF-8, only '"', '\\' and controls escaped. */
static int
put_json_str(Buffer *b, const char *s, Py_ssize_t n)
{
    if (reserve(b, (size_t)n * 6 + 2) < 0) {
        return -1;
    }
    char *p = b->data + b->len;
    *p++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\b': *p++ = 'b'; break;
        case '\t': *p++ = 't'; break;
        case '\n': *p++ = 'n'; break;
        case '\f': *p++ = 'f'; break;
        case '\r': *p++ = 'r'; break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = HEX_DIGITS[c >> 4];
            *p++ = HEX_DIGITS[c & 15];
        }
    }
    *p++ = '"';
    b->len = (size_t)(p - b->data);
    return 0;
}

/* 1: written; 0: not a value this function writes (the row goes to Python); -1: error. */
static int
put_value(Buffer *b, PyObject *value, int is_time)
{
    if (PyUnicode_CheckExact(value)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(value, &n);
        if (s == NULL) { /* lone surrogates: the Python fallback encoder's case */
            PyErr_Clear();
            return 0;
        }
        if (!is_time) {
            return put_json_str(b, s, n) < 0 ? -1 : 1;
        }
        /* The writer's UTC text "YYYY-MM-DD HH:MM:SS.ffffff" as RFC 3339. */
        if (n != 26 || s[10] != ' ' || !PyUnicode_IS_ASCII(value)) {
            return 0;
        }
        char text[30];
        text[0] = '"';
        memcpy(text + 1, s, 10);
        text[11] = 'T';
        memcpy(text + 12, s + 11, 15);
        text[27] = 'Z';
        text[28] = '"';
        for (int i = 1; i < 28; i++) {
            if (text[i] == '"' || text[i] == '\\' || (unsigned char)text[i] < 0x20) {
                return 0;
            }
        }
        return put(b, text, 29) < 0 ? -1 : 1;
    }
    if (is_time && PyDateTime_CheckExact(value) &&
        PyDateTime_DATE_GET_TZINFO(value) == PyDateTime_TimeZone_UTC) {
        /* A UTC datetime (the PostgreSQL writer's) as format_time writes it. */
        char text[32];
        int len = snprintf(text, sizeof text, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
                           PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value),
                           PyDateTime_GET_DAY(value), PyDateTime_DATE_GET_HOUR(value),
                           PyDateTime_DATE_GET_MINUTE(value), PyDateTime_DATE_GET_SECOND(value),
                           PyDateTime_DATE_GET_MICROSECOND(value));
        return put(b, text, (size_t)len) < 0 ? -1 : 1;
    }
    if (PyLong_CheckExact(value) && !is_time) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        char digits[24];
        int len = snprintf(digits, sizeof digits, "%lld", v);
        return put(b, digits, (size_t)len) < 0 ? -1 : 1;
    }
    return 0;
}

PyObject *
row_bodies(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "row_bodies(keys, rows, k, time_index)");
        return NULL;
    }
    PyObject *keys = args[0], *rows = args[1];
    Py_ssize_t k = PyLong_AsSsize_t(args[2]);
    Py_ssize_t time_index = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (!PyList_Check(keys) || !PyList_Check(rows) || k < 0 || k > PyList_GET_SIZE(keys)) {
        PyErr_SetString(PyExc_TypeError, "row_bodies(list of key bytes, list of rows, k, index)");
        return NULL;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        if (!PyBytes_Check(PyList_GET_ITEM(keys, j))) {
            PyErr_SetString(PyExc_TypeError, "keys must be bytes");
            return NULL;
        }
    }
    Py_ssize_t n = PyList_GET_SIZE(rows);
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        return NULL;
    }
    Buffer b = {NULL, 0, 0};
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i), *values, *body = Py_None;
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 2 ||
            !PyTuple_Check(values = PyTuple_GET_ITEM(row, 1)) || PyTuple_GET_SIZE(values) < k) {
            Py_INCREF(Py_None);
            PyList_SET_ITEM(out, i, Py_None);
            continue;
        }
        b.len = 0;
        int ok = put(&b, "{", 1) < 0 ? -1 : 1, first = 1;
        for (Py_ssize_t j = 0; j < k && ok == 1; j++) {
            PyObject *value = PyTuple_GET_ITEM(values, j);
            if (value == Py_None) {
                continue;
            }
            PyObject *key = PyList_GET_ITEM(keys, j);
            if ((!first && put(&b, ",", 1) < 0) ||
                put(&b, PyBytes_AS_STRING(key), (size_t)PyBytes_GET_SIZE(key)) < 0) {
                ok = -1;
                break;
            }
            first = 0;
            ok = put_value(&b, value, j == time_index);
        }
        if (ok == 1 && put(&b, "}", 1) < 0) {
            ok = -1;
        }
        if (ok < 0) {
            PyMem_Free(b.data);
            Py_DECREF(out);
            return NULL;
        }
        if (ok == 1) {
            body = PyBytes_FromStringAndSize(b.data, (Py_ssize_t)b.len);
            if (body == NULL) {
                PyMem_Free(b.data);
                Py_DECREF(out);
                return NULL;
            }
        }
        else {
            Py_INCREF(Py_None);
        }
        PyList_SET_ITEM(out, i, body);
    }
    PyMem_Free(b.data);
    return out;
}

int
sealing_rows_init(void)
{
    PyDateTime_IMPORT;
    return PyDateTimeAPI == NULL ? -1 : 0;
}
