/* What the two source files of audit_logging._sealing share. */
#ifndef AUDIT_LOGGING_SEALING_H
#define AUDIT_LOGGING_SEALING_H

#include <Python.h>

extern const char HEX_DIGITS[];

/* _sealing_rows.c: the SQL sink's row bodies; sealing_rows_init() once, at module init. */
PyObject *row_bodies(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
int sealing_rows_init(void);

#endif
