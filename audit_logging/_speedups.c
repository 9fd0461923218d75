/*
 * audit_logging._speedups: the compiled accelerator of the caller's path (issue 19).
 *
 * The pure-Python code is the reference; this module only does, faster, what it does
 * in the cases that are common and simple, and answers None (meaning "take the Python
 * path") for everything else. So the two paths give the same result by construction:
 * every decision that is not plainly equivalent is handed back to Python.
 *
 * It imports nothing: the Python side hands it the classes, context variables and
 * functions it needs through configure(), so the reference stays the one place where
 * they are defined. Built by setup.py as an optional extension: without a compiler the
 * package installs and runs on the pure-Python path.
 *
 * record_to_event(record, source) -> Event | None
 *     audit_logging._records.logrecord.record_to_event for a plain logging.LogRecord
 *     below ERROR whose extra keys are not special and whose extra values are ASCII
 *     str, int, float, bool or None (the common `logger.info("...", extra={...})`).
 *
 * new_event(type, source, payload, context_id, id, time, span_context, actor, origin)
 *     Event(...) with every field given: the slots are filled directly.
 *
 * payload_clean and copy_and_size (publish's redaction check and the history's copy)
 * are in _speedups_payload.c; uuid7 and utc_from_timestamp (an event's id and time)
 * in _speedups_ids.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <structmember.h>

#include <math.h>

#include "_speedups.h"

#define N_SLOTS 9

/* configure() state: strong references, set once (configure may run again in tests). */
static PyObject *g_record_type;   /* logging.LogRecord */
static PyObject *g_event_type;    /* audit_logging._model.event.Event */
static PyObject *g_standard;      /* frozenset of standard record attributes */
static PyObject *g_special;       /* frozenset of extra keys the Python path maps specially */
static PyObject *g_context_var;   /* the bound context id (ContextVar[str]) */
static PyObject *g_scope_var;     /* the bound scope (ContextVar[Scope | None]) */
static PyObject *g_span_func;     /* current_span_context() */
static PyObject *g_uuid_func;     /* uuid7_str() */
static PyObject *g_safe_str;      /* _safe_str(text) for a message that is not ASCII */
static PyObject *g_utc;           /* datetime.UTC */
static PyObject *g_types;         /* (log_debug, log_info, log_warning) type names */
static Py_ssize_t g_n_standard;   /* len(LogRecord(...).__dict__) */
static Py_ssize_t g_max_items;    /* MAX_FIELD_ITEMS */
static Py_ssize_t g_offsets[N_SLOTS];
static int g_configured;

static PyObject *s_name, *s_msg, *s_args, *s_levelno, *s_created, *s_message, *s_fields;
static PyObject *s_actor, *s_origin;

static const char *const SLOT_NAMES[N_SLOTS] = {
    "type", "source", "payload", "context_id", "id", "time", "span_context", "actor", "origin",
};

static int
slot_offsets(PyObject *cls)
{
    for (int i = 0; i < N_SLOTS; i++) {
        PyObject *descr = PyObject_GetAttrString(cls, SLOT_NAMES[i]);
        if (descr == NULL) {
            return -1;
        }
        if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)
            || ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
            PyErr_Format(PyExc_TypeError, "Event.%s is not an object slot", SLOT_NAMES[i]);
            Py_DECREF(descr);
            return -1;
        }
        g_offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
    }
    return 0;
}

static void
set_ref(PyObject **slot, PyObject *value)
{
    Py_XINCREF(value);
    Py_XSETREF(*slot, value);
}

static PyObject *
configure(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {
        "record_type", "event_type", "standard", "special", "context_var", "scope_var",
        "span_func", "uuid_func", "safe_str", "utc", "types", "n_standard", "max_items", NULL,
    };
    PyObject *record_type, *event_type, *standard, *special, *context_var, *scope_var;
    PyObject *span_func, *uuid_func, *safe_str, *utc, *types;
    Py_ssize_t n_standard, max_items;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "$O!O!O!O!O!O!OOOOO!nn:configure", kwlist, &PyType_Type,
            &record_type, &PyType_Type, &event_type, &PyFrozenSet_Type, &standard,
            &PyFrozenSet_Type, &special, &PyContextVar_Type, &context_var, &PyContextVar_Type,
            &scope_var, &span_func, &uuid_func, &safe_str, &utc, &PyTuple_Type, &types,
            &n_standard, &max_items)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(types) != 3) {
        PyErr_SetString(PyExc_ValueError, "types: (debug, info, warning) type names");
        return NULL;
    }
    if (slot_offsets(event_type) < 0) {
        return NULL;
    }
    set_ref(&g_record_type, record_type);
    set_ref(&g_event_type, event_type);
    set_ref(&g_standard, standard);
    set_ref(&g_special, special);
    set_ref(&g_context_var, context_var);
    set_ref(&g_scope_var, scope_var);
    set_ref(&g_span_func, span_func);
    set_ref(&g_uuid_func, uuid_func);
    set_ref(&g_safe_str, safe_str);
    set_ref(&g_utc, utc);
    set_ref(&g_types, types);
    g_n_standard = n_standard;
    g_max_items = max_items;
    g_configured = 1;
    Py_RETURN_NONE;
}

/* Event with its nine fields; steals nothing. */
static PyObject *
build_event(PyObject *const *fields)
{
    PyTypeObject *cls = (PyTypeObject *)g_event_type;
    PyObject *event = cls->tp_alloc(cls, 0);
    if (event == NULL) {
        return NULL;
    }
    for (int i = 0; i < N_SLOTS; i++) {
        PyObject **slot = (PyObject **)((char *)event + g_offsets[i]);
        Py_XSETREF(*slot, Py_NewRef(fields[i]));
    }
    return event;
}

static int
not_configured(void)
{
    if (!g_configured) {
        PyErr_SetString(PyExc_RuntimeError, "audit_logging._speedups is not configured");
        return 1;
    }
    return 0;
}

static PyObject *
new_event(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (not_configured()) {
        return NULL;
    }
    if (nargs != N_SLOTS) {
        PyErr_Format(PyExc_TypeError, "new_event takes %d arguments (%zd given)", N_SLOTS, nargs);
        return NULL;
    }
    return build_event(args);
}

/*
 * The stored form of a plain field value (borrowed), as field_map has it: ASCII str,
 * int, bool and None as they are, a float when finite, else None; NULL: not plain.
 */
static PyObject *
plain_value(PyObject *value)
{
    if (PyUnicode_CheckExact(value)) {
        return PyUnicode_IS_ASCII(value) ? value : NULL;
    }
    if (PyLong_CheckExact(value) || PyBool_Check(value) || value == Py_None) {
        return value;
    }
    if (PyFloat_CheckExact(value)) {
        return isfinite(PyFloat_AS_DOUBLE(value)) ? value : Py_None;
    }
    return NULL;
}

/*
 * The fields of the record's extra keys, in the order they were given, or NULL with
 * no error set when the Python path must decide (a special key, a value to copy).
 */
static PyObject *
plain_fields(PyObject *data)
{
    Py_ssize_t size = PyDict_GET_SIZE(data);
    PyObject *fields = PyDict_New();
    if (fields == NULL || size <= g_n_standard) {
        return fields;
    }
    Py_ssize_t pos = 0, index = 0, count = 0;
    PyObject *key, *value;
    while (PyDict_Next(data, &pos, &key, &value)) {
        if (index++ == 0) {
            /* makeRecord adds extra after the standard attributes, `name` first */
            if (!PyUnicode_CheckExact(key) || PyUnicode_CompareWithASCIIString(key, "name") != 0) {
                goto python;
            }
        }
        if (index <= g_n_standard) {
            continue;
        }
        if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_ASCII(key)) {
            goto python;
        }
        int found = PySet_Contains(g_standard, key);
        if (found < 0) {
            goto error;
        }
        if (found) {
            continue;
        }
        found = PySet_Contains(g_special, key);
        if (found < 0) {
            goto error;
        }
        PyObject *stored = found ? NULL : plain_value(value);
        if (stored == NULL || ++count > g_max_items) {
            goto python;
        }
        if (PyDict_SetItem(fields, key, stored) < 0) {
            goto error;
        }
    }
    return fields;
error:
python:
    Py_DECREF(fields);
    return NULL;
}

/* record.getMessage() for a plain LogRecord whose msg is a str; NULL + no error: Python. */
static PyObject *
message_of(PyObject *data)
{
    PyObject *msg = PyDict_GetItemWithError(data, s_msg);
    if (msg == NULL || !PyUnicode_CheckExact(msg)) {
        return NULL;
    }
    PyObject *args = PyDict_GetItemWithError(data, s_args);
    if (args == NULL) {
        return NULL;
    }
    int truth = PyObject_IsTrue(args);
    if (truth < 0) {
        return NULL;
    }
    PyObject *text = truth ? PyUnicode_Format(msg, args) : Py_NewRef(msg);
    if (text == NULL) {
        return NULL;
    }
    if (PyUnicode_CheckExact(text) && PyUnicode_IS_ASCII(text)) {
        return text;
    }
    PyObject *safe = PyObject_CallOneArg(g_safe_str, text);
    Py_DECREF(text);
    return safe;
}

static PyObject *
record_to_event(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (not_configured()) {
        return NULL;
    }
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "record_to_event takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *record = args[0], *source = args[1];
    if ((PyObject *)Py_TYPE(record) != g_record_type) {
        Py_RETURN_NONE; /* a subclass may override getMessage or properties */
    }
    PyObject *fields[N_SLOTS] = {NULL};
    PyObject *result = NULL, *payload = NULL, *message = NULL, *field_map = NULL;
    PyObject *scope = NULL;
    PyObject *data = PyObject_GenericGetDict(record, NULL);
    if (data == NULL) {
        return NULL;
    }
    PyObject *levelno = PyDict_GetItemWithError(data, s_levelno);
    if (levelno == NULL || !PyLong_CheckExact(levelno)) {
        goto python;
    }
    long level = PyLong_AsLong(levelno);
    if (level == -1 && PyErr_Occurred()) {
        goto python;
    }
    if (level >= 40) {
        goto python; /* log_error / log_fatal: the error text and traceback */
    }
    PyObject *event_type = PyTuple_GET_ITEM(g_types, level >= 30 ? 2 : level >= 20 ? 1 : 0);
    field_map = plain_fields(data);
    if (field_map == NULL) {
        goto python;
    }
    PyObject *name = PyDict_GetItemWithError(data, s_name);
    PyObject *created = PyDict_GetItemWithError(data, s_created);
    if (name == NULL || created == NULL) {
        goto python;
    }
    if (PyContextVar_Get(g_context_var, NULL, &fields[3]) < 0) {
        goto error;
    }
    if (fields[3] == NULL || !PyUnicode_Check(fields[3])) {
        goto python; /* no default, or not a str: the Python path decides */
    }
    fields[6] = PyObject_CallNoArgs(g_span_func);
    if (fields[6] == NULL) {
        goto error;
    }
    fields[5] = utc_from_timestamp(created, g_utc);
    if (fields[5] == NULL) {
        goto error;
    }
    message = message_of(data);
    if (message == NULL) {
        /* A format error or a non-str msg: the Python path formats (and raises) itself. */
        goto python;
    }
    payload = PyDict_New();
    if (payload == NULL || PyDict_SetItem(payload, s_message, message) < 0
        || PyDict_SetItem(payload, s_fields, field_map) < 0) {
        goto error;
    }
    if (PyContextVar_Get(g_scope_var, Py_None, &scope) < 0) {
        goto error;
    }
    if (scope == Py_None) {
        fields[7] = Py_NewRef(Py_None);
        fields[8] = Py_NewRef(Py_None);
    }
    else {
        fields[7] = PyObject_GetAttr(scope, s_actor);
        if (fields[7] == NULL) {
            goto error;
        }
        fields[8] = PyObject_GetAttr(scope, s_origin);
        if (fields[8] == NULL) {
            goto error;
        }
    }
    fields[4] = PyObject_CallNoArgs(g_uuid_func);
    if (fields[4] == NULL) {
        goto error;
    }
    fields[0] = Py_NewRef(event_type);
    fields[1] = Py_NewRef(source == Py_None ? name : source);
    fields[2] = Py_NewRef(payload);
    result = build_event(fields);
    goto done;
error:
    /* Whatever failed (a raising __str__, a full memory) the Python path meets again
       and reports as the reference does. */
python:
    PyErr_Clear();
    result = Py_NewRef(Py_None);
done:
    for (int i = 0; i < N_SLOTS; i++) {
        Py_XDECREF(fields[i]);
    }
    Py_XDECREF(scope);
    Py_XDECREF(payload);
    Py_XDECREF(message);
    Py_XDECREF(field_map);
    Py_DECREF(data);
    return result;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)(void (*)(void))configure, METH_VARARGS | METH_KEYWORDS,
     "Hand the module the objects of the Python reference it works with."},
    {"record_to_event", (PyCFunction)(void (*)(void))record_to_event, METH_FASTCALL,
     "record_to_event(record, source) -> Event, or None: take the Python path."},
    {"new_event", (PyCFunction)(void (*)(void))new_event, METH_FASTCALL,
     "new_event(type, source, payload, context_id, id, time, span_context, actor, origin)."},
    {"payload_clean", (PyCFunction)(void (*)(void))payload_clean, METH_FASTCALL,
     "payload_clean(payload, rules, keep_value, protect, max_depth, card_min) -> bool | None."},
    {"copy_and_size", (PyCFunction)(void (*)(void))copy_and_size, METH_FASTCALL,
     "copy_and_size(payload, unknown, max_depth) -> (copy, size) or (unknown, -1)."},
    {"uuid7", (PyCFunction)(void (*)(void))uuid7, METH_FASTCALL | METH_KEYWORDS,
     "uuid7(now_ns=None) -> str: a UUIDv7 greater than every id before it."},
    {"utc_from_timestamp", (PyCFunction)(void (*)(void))utc_from_timestamp_py, METH_FASTCALL,
     "utc_from_timestamp(created, utc) -> datetime.fromtimestamp(created, utc)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "audit_logging._speedups",
    "The compiled accelerator of the caller's path; the Python code is the reference.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) {
        return NULL;
    }
#define INTERN(var, text)                          \
    if ((var = PyUnicode_InternFromString(text)) == NULL) { \
        return NULL;                               \
    }
    INTERN(s_name, "name");
    INTERN(s_msg, "msg");
    INTERN(s_args, "args");
    INTERN(s_levelno, "levelno");
    INTERN(s_created, "created");
    INTERN(s_message, "message");
    INTERN(s_fields, "fields");
    INTERN(s_actor, "actor");
    INTERN(s_origin, "origin");
#undef INTERN
    if (ids_init() < 0) {
        return NULL;
    }
    return PyModule_Create(&module);
}
