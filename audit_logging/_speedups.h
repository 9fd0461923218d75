/* What the source files of audit_logging._speedups share. */
#ifndef AUDIT_LOGGING_SPEEDUPS_H
#define AUDIT_LOGGING_SPEEDUPS_H

#include <Python.h>

/* _speedups_payload.c: publish's redaction check and the history's copy. */
PyObject *payload_clean(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *copy_and_size(PyObject *self, PyObject *const *args, Py_ssize_t nargs);

/* _speedups_ids.c: an event's id and time. */
PyObject *uuid7(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames);
PyObject *utc_from_timestamp(PyObject *created, PyObject *utc);
PyObject *utc_from_timestamp_py(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
int ids_init(void);

#endif
