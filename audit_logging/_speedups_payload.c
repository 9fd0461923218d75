/*
 * audit_logging._speedups, part two: what publish does to a payload (issue 19).
 *
 * payload_clean(payload, rules, keep_value, protect, max_depth, card_min) -> bool | None
 *     audit_logging._security.sanitize._is_clean for a bus without extra text patterns:
 *     True when redaction would change nothing, False when it would (or may), None when
 *     the payload holds something this function does not decide (objects, non-ASCII text
 *     past the cheap gates, bytes keys): the Python walk decides those.
 * copy_and_size(payload, unknown, max_depth) -> (copy, size)
 *     audit_logging._engine.history._copy_and_size: the history's private copy of plain
 *     JSON-like data and its estimated size, or (unknown, -1) for anything else.
 *
 * Both are exact ports: the Python functions are the reference, and
 * tests/test_speedups_payload.py compares them on generated payloads.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "_speedups.h"

#define CLEAN 1
#define DIRTY 0
#define FAILED (-1)
#define UNSURE (-2)

#define OBJECT_OVERHEAD 56

/* The keywords of textmask.text_is_clean, searched in the lower-cased text. */
static const char *const KEYWORDS[] = {
    "pass", "token", "secret", "://", "key", "pw", "auth", "bearer", "cookie", "credential",
    "identified", "session", "sessid", "sig", "jwt", "mysql", "mariadb", NULL,
};

static int
has_substring(const char *text, Py_ssize_t n, const char *needle)
{
    size_t m = strlen(needle);
    if ((size_t)n < m) {
        return 0;
    }
    for (Py_ssize_t i = 0; i + (Py_ssize_t)m <= n; i++) {
        if (text[i] == needle[0] && memcmp(text + i, needle, m) == 0) {
            return 1;
        }
    }
    return 0;
}

/* textmask.text_is_clean: CLEAN, DIRTY or UNSURE (non-ASCII text at the keyword stage). */
static int
text_is_clean(PyObject *s, Py_ssize_t card_min)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (n < 5) {
        return CLEAN;
    }
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    /* The card gate [0-9][0-9 \-]{11,}[0-9]: within a run of those characters, the
     * first and last digit at least card_min apart (inclusive). */
    int separators = 0, eyj = 0, dashes = 0;
    Py_ssize_t first = -1, last = -1, run_dashes = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        int digit = c >= '0' && c <= '9';
        if (digit || c == ' ' || c == '-') {
            if (digit) {
                if (first < 0) {
                    first = i;
                }
                last = i;
                if (n >= card_min && last - first + 1 >= card_min) {
                    return DIRTY;
                }
            }
        }
        else {
            first = last = -1;
        }
        run_dashes = c == '-' ? run_dashes + 1 : 0;
        if (run_dashes >= 5) {
            dashes = 1;
        }
        if (c == 'e' && i + 2 < n && PyUnicode_READ(kind, data, i + 1) == 'y' &&
            PyUnicode_READ(kind, data, i + 2) == 'J') {
            eyj = 1;
        }
        if (c == ':' || c == '=' || c == ' ' || c == '\t') {
            separators = 1;
        }
    }
    if (eyj || dashes) {
        return DIRTY;
    }
    if (!separators) {
        return CLEAN;
    }
    if (!PyUnicode_IS_ASCII(s)) {
        return UNSURE; /* str.lower() of non-ASCII text can make ASCII letters */
    }
    char stack[512];
    char *low = n <= (Py_ssize_t)sizeof stack ? stack : PyMem_Malloc((size_t)n);
    if (low == NULL) {
        PyErr_NoMemory();
        return FAILED;
    }
    const char *text = (const char *)data;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = text[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    int found = 0;
    for (int k = 0; KEYWORDS[k] != NULL && !found; k++) {
        found = has_substring(low, n, KEYWORDS[k]);
    }
    if (low != stack) {
        PyMem_Free(low);
    }
    return found ? DIRTY : CLEAN;
}

typedef struct {
    PyObject *rules, *keep_value, *protect;
    Py_ssize_t max_depth, card_min;
} CleanArgs;

/* rules[key] (the dict subclass fills a missing key through __missing__): new reference. */
static PyObject *
rule_for(PyObject *rules, PyObject *key)
{
    PyObject *fn = PyDict_GetItemWithError(rules, key);
    if (fn != NULL) {
        Py_INCREF(fn);
        return fn;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    return PyObject_GetItem(rules, key);
}

static int is_clean(PyObject *value, const CleanArgs *a, Py_ssize_t depth);

static int
dict_is_clean(PyObject *value, const CleanArgs *a, Py_ssize_t depth)
{
    if (depth >= a->max_depth) {
        return DIRTY;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *child;
    while (PyDict_Next(value, &pos, &key, &child)) {
        if (!PyUnicode_CheckExact(key)) {
            return UNSURE; /* _key_rule's cases (bytes keys, others) */
        }
        Py_INCREF(key);
        Py_INCREF(child);
        PyObject *fn = rule_for(a->rules, key);
        int verdict = CLEAN;
        if (fn == NULL) {
            verdict = FAILED;
        }
        else if (fn != Py_None &&
                 (fn == a->keep_value || (fn == a->protect && PyUnicode_CheckExact(child)))) {
            verdict = CLEAN; /* the rule keeps this value as it is */
        }
        else if (fn != Py_None && fn != a->protect) {
            verdict = DIRTY;
        }
        else if (PyUnicode_CheckExact(child)) {
            verdict = text_is_clean(child, a->card_min);
        }
        else {
            verdict = is_clean(child, a, depth + 1);
        }
        Py_XDECREF(fn);
        Py_DECREF(key);
        Py_DECREF(child);
        if (verdict != CLEAN) {
            return verdict;
        }
    }
    return CLEAN;
}

static int
sequence_is_clean(PyObject *value, const CleanArgs *a, Py_ssize_t depth)
{
    if (depth >= a->max_depth) {
        return DIRTY;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(value);
    PyObject **items = PySequence_Fast_ITEMS(value);
    if (n == 2) {
        PyObject *first = items[0];
        if (PyUnicode_CheckExact(first)) {
            PyObject *fn = rule_for(a->rules, first);
            if (fn == NULL) {
                return FAILED;
            }
            int has_rule = fn != Py_None;
            Py_DECREF(fn);
            if (has_rule) {
                return DIRTY; /* a (name, value) pair with a rule: the walk decides */
            }
        }
        else if (PyUnicode_Check(first) || PyBytes_Check(first)) {
            return UNSURE;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int verdict = is_clean(items[i], a, depth + 1);
        if (verdict != CLEAN) {
            return verdict;
        }
    }
    return CLEAN;
}

static int
is_clean(PyObject *value, const CleanArgs *a, Py_ssize_t depth)
{
    if (PyUnicode_CheckExact(value)) {
        return text_is_clean(value, a->card_min);
    }
    if (PyDict_CheckExact(value)) {
        return dict_is_clean(value, a, depth);
    }
    if (PyLong_CheckExact(value) || PyFloat_CheckExact(value) || PyBool_Check(value) ||
        value == Py_None) {
        return CLEAN;
    }
    if (PyList_CheckExact(value) || PyTuple_CheckExact(value)) {
        return sequence_is_clean(value, a, depth);
    }
    return UNSURE;
}

PyObject *
payload_clean(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "payload_clean(payload, rules, keep_value, protect, max_depth, card_min)");
        return NULL;
    }
    if (!PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "rules must be a dict");
        return NULL;
    }
    CleanArgs a = {args[1], args[2], args[3], PyLong_AsSsize_t(args[4]),
                   PyLong_AsSsize_t(args[5])};
    if (PyErr_Occurred()) {
        return NULL;
    }
    switch (is_clean(args[0], &a, 0)) {
    case CLEAN:
        Py_RETURN_TRUE;
    case DIRTY:
        Py_RETURN_FALSE;
    case UNSURE:
        Py_RETURN_NONE;
    default:
        return NULL;
    }
}

/* history._copy_and_size: the copy (new reference) and its size, or NULL with *size -1
 * and no exception for "unknown", or NULL with an exception. */
static PyObject *
copy_sized(PyObject *obj, Py_ssize_t depth, Py_ssize_t max_depth, Py_ssize_t *size)
{
    *size = -1;
    if (PyUnicode_CheckExact(obj)) {
        *size = OBJECT_OVERHEAD + PyUnicode_GET_LENGTH(obj);
        Py_INCREF(obj);
        return obj;
    }
    if (PyLong_CheckExact(obj) || PyFloat_CheckExact(obj) || PyBool_Check(obj) ||
        obj == Py_None) {
        *size = OBJECT_OVERHEAD;
        Py_INCREF(obj);
        return obj;
    }
    if (depth >= max_depth) {
        return NULL;
    }
    if (PyDict_CheckExact(obj)) {
        Py_ssize_t total = OBJECT_OVERHEAD * 2 + 16 * PyDict_GET_SIZE(obj), pos = 0, inner;
        PyObject *out = PyDict_New(), *key, *value;
        if (out == NULL) {
            return NULL;
        }
        while (PyDict_Next(obj, &pos, &key, &value)) {
            if (!PyUnicode_CheckExact(key)) {
                Py_DECREF(out);
                return NULL;
            }
            Py_ssize_t key_len = PyUnicode_GET_LENGTH(key);
            PyObject *copied;
            if (PyUnicode_CheckExact(value)) {
                total += OBJECT_OVERHEAD * 2 + key_len + PyUnicode_GET_LENGTH(value);
                copied = Py_NewRef(value);
            }
            else if (PyLong_CheckExact(value) || PyFloat_CheckExact(value) ||
                     PyBool_Check(value) || value == Py_None) {
                total += OBJECT_OVERHEAD * 2 + key_len;
                copied = Py_NewRef(value);
            }
            else {
                copied = copy_sized(value, depth + 1, max_depth, &inner);
                if (copied == NULL) {
                    Py_DECREF(out);
                    return NULL;
                }
                total += OBJECT_OVERHEAD + key_len + inner;
            }
            int rc = PyDict_SetItem(out, key, copied);
            Py_DECREF(copied);
            if (rc < 0) {
                Py_DECREF(out);
                *size = -1;
                return NULL;
            }
        }
        *size = total;
        return out;
    }
    if (PyList_CheckExact(obj)) {
        Py_ssize_t n = PyList_GET_SIZE(obj), total = OBJECT_OVERHEAD + 8 * n, inner;
        PyObject *out = PyList_New(0);
        if (out == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(obj); i++) {
            PyObject *item = PyList_GET_ITEM(obj, i);
            Py_INCREF(item);
            PyObject *copied = copy_sized(item, depth + 1, max_depth, &inner);
            Py_DECREF(item);
            if (copied == NULL) {
                Py_DECREF(out);
                return NULL;
            }
            total += inner;
            int rc = PyList_Append(out, copied);
            Py_DECREF(copied);
            if (rc < 0) {
                Py_DECREF(out);
                *size = -1;
                return NULL;
            }
        }
        *size = total;
        return out;
    }
    return NULL;
}

PyObject *
copy_and_size(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "copy_and_size(payload, unknown, max_depth)");
        return NULL;
    }
    Py_ssize_t max_depth = PyLong_AsSsize_t(args[2]);
    if (max_depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t size;
    PyObject *copy = copy_sized(args[0], 0, max_depth, &size);
    if (copy == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        return Py_BuildValue("(On)", args[1], (Py_ssize_t)-1);
    }
    return Py_BuildValue("(Nn)", copy, size);
}
