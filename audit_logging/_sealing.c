/*
 * audit_logging._sealing: the hashing of integrity (issue 16), compiled.
 *
 * The pure-Python functions in audit_logging._integrity are the reference; these do the
 * same bytes-in, bytes-out work with OpenSSL's SHA-256 (the library hashlib itself
 * uses) without a Python object per hash. hashlib spends most of its ~0.4 us per call
 * on creating and freeing the hash object, not on hashing: a 300-byte record hashes in
 * ~0.15 us here. Built by setup.py as an optional extension linked to libcrypto: where
 * the OpenSSL headers are missing the build says so and the Python functions are used.
 *
 * leaf(stream, seq, prev, body, replay) -> bytes
 *     records.record_leaf: SHA-256(0x00 || "<stream> <seq> <prev hex>[ replay]\n" || body).
 * seal_lines(stream, seq, prev, lines, replays) -> (lines, total, leaves)
 *     Chain.seal_lines' loop: each "{...}\n" line with its integrity member, their total
 *     size and the leaf hashes, chained from prev.
 * seal_bodies(stream, seq, prev, bodies, replays) -> (numbers, leaves)
 *     Chain.seal_many's loop: each body's (seq, prev hex) and the leaf hashes.
 * frontier_extend(hashes, size, leaves) -> None
 *     merkle.Frontier.extend on the frontier's list of subtree roots, in place.
 * row_bodies(keys, rows, k, time_index) -> [bytes | None]
 *     _sinks.database.sealing.row_body for each (event, values) row: the JSON object of
 *     the first k non-NULL values, byte for byte what orjson writes, or None for a row
 *     holding anything but str and int (and a writer-format time): Python does that row.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co: no EVP object per hash */
#include <openssl/sha.h>

#include <stdio.h>
#include <string.h>

#include "_sealing.h"

#define HASH_LEN 32
#define HEX_LEN 64
#define MAX_FRONTIER 64
/* "\0" stream " " seq " " hex " replay" "\n": stream ids are at most 128 bytes. */
#define MAX_STREAM 128
#define HEAD_CAP (1 + MAX_STREAM + 1 + 20 + 1 + HEX_LEN + 7 + 1 + 1)

const char HEX_DIGITS[] = "0123456789abcdef";
static const char TAIL_STREAM[] = ",\"integrity\":{\"stream\":\"";
static const char TAIL_SEQ[] = "\",\"seq\":";
static const char TAIL_PREV[] = ",\"prev\":\"";
static const char TAIL_REPLAY[] = "\",\"replay\":true}}\n";
static const char TAIL_END[] = "\"}}\n";

static void
to_hex(const unsigned char *hash, char *out)
{
    for (int i = 0; i < HASH_LEN; i++) {
        out[2 * i] = HEX_DIGITS[hash[i] >> 4];
        out[2 * i + 1] = HEX_DIGITS[hash[i] & 15];
    }
}

/* The stream id, checked once per call: bytes of at most MAX_STREAM. */
static int
get_stream(PyObject *obj, const char **data, Py_ssize_t *len)
{
    if (!PyBytes_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "stream must be bytes, not %.100s", Py_TYPE(obj)->tp_name);
        return -1;
    }
    *len = PyBytes_GET_SIZE(obj);
    if (*len > MAX_STREAM) {
        PyErr_Format(PyExc_ValueError, "stream id is %zd bytes, over %d", *len, MAX_STREAM);
        return -1;
    }
    *data = PyBytes_AS_STRING(obj);
    return 0;
}

static int
get_hash(PyObject *obj, const char *what, unsigned char *out)
{
    if (!PyBytes_Check(obj) || PyBytes_GET_SIZE(obj) != HASH_LEN) {
        PyErr_Format(PyExc_ValueError, "%s must be %d bytes", what, HASH_LEN);
        return -1;
    }
    memcpy(out, PyBytes_AS_STRING(obj), HASH_LEN);
    return 0;
}

static int
get_seq(PyObject *obj, long long *seq)
{
    *seq = PyLong_AsLongLong(obj);
    if (*seq == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (*seq < 0) {
        PyErr_SetString(PyExc_ValueError, "seq must be >= 0");
        return -1;
    }
    return 0;
}

/* replays: None (all False) or a list as long as the records. */
static int
get_replays(PyObject *replays, Py_ssize_t n)
{
    if (replays == Py_None) {
        return 0;
    }
    if (!PyList_Check(replays) || PyList_GET_SIZE(replays) != n) {
        PyErr_SetString(PyExc_ValueError, "replays must be None or a list as long as the records");
        return -1;
    }
    return 0;
}

static int
replay_at(PyObject *replays, Py_ssize_t i)
{
    return replays == Py_None ? 0 : PyObject_IsTrue(PyList_GET_ITEM(replays, i));
}

/* The leaf input's head; returns its length. */
static size_t
leaf_head(char *head, const char *stream, Py_ssize_t stream_len, long long seq,
          const char *prev_hex, int replay)
{
    size_t n = 0;
    head[n++] = '\0';
    memcpy(head + n, stream, (size_t)stream_len);
    n += (size_t)stream_len;
    n += (size_t)snprintf(head + n, 24, " %lld ", seq);
    memcpy(head + n, prev_hex, HEX_LEN);
    n += HEX_LEN;
    if (replay) {
        memcpy(head + n, " replay", 7);
        n += 7;
    }
    head[n++] = '\n';
    return n;
}

static void
hash_leaf(const char *head, size_t head_len, const char *body, size_t body_len,
          unsigned char *out)
{
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, head, head_len);
    SHA256_Update(&ctx, body, body_len);
    SHA256_Final(out, &ctx);
}

static void
hash_node(const unsigned char *left, const unsigned char *right, unsigned char *out)
{
    static const unsigned char one = 1;
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, &one, 1);
    SHA256_Update(&ctx, left, HASH_LEN);
    SHA256_Update(&ctx, right, HASH_LEN);
    SHA256_Final(out, &ctx);
}

static PyObject *
leaf(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    const char *stream;
    Py_ssize_t stream_len;
    long long seq;
    unsigned char prev[HASH_LEN], out[HASH_LEN];
    char prev_hex[HEX_LEN], head[HEAD_CAP];
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "leaf(stream, seq, prev, body, replay)");
        return NULL;
    }
    if (get_stream(args[0], &stream, &stream_len) < 0 || get_seq(args[1], &seq) < 0 ||
        get_hash(args[2], "prev", prev) < 0) {
        return NULL;
    }
    if (!PyBytes_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "body must be bytes");
        return NULL;
    }
    int replay = PyObject_IsTrue(args[4]);
    if (replay < 0) {
        return NULL;
    }
    to_hex(prev, prev_hex);
    size_t head_len = leaf_head(head, stream, stream_len, seq, prev_hex, replay);
    hash_leaf(head, head_len, PyBytes_AS_STRING(args[3]), (size_t)PyBytes_GET_SIZE(args[3]),
              out);
    return PyBytes_FromStringAndSize((const char *)out, HASH_LEN);
}

/* One sealed line: body[:-1] + the integrity member, into a new bytes object. */
static PyObject *
sealed_line(const char *line, Py_ssize_t len, const char *stream, Py_ssize_t stream_len,
            long long seq, const char *prev_hex, int replay)
{
    char seq_text[24];
    int seq_len = snprintf(seq_text, sizeof seq_text, "%lld", seq);
    Py_ssize_t keep = len - 2; /* without "}\n" */
    Py_ssize_t end_len = replay ? (Py_ssize_t)sizeof TAIL_REPLAY - 1 : (Py_ssize_t)sizeof TAIL_END - 1;
    Py_ssize_t size = keep + (Py_ssize_t)sizeof TAIL_STREAM - 1 + stream_len +
                      (Py_ssize_t)sizeof TAIL_SEQ - 1 + seq_len + (Py_ssize_t)sizeof TAIL_PREV - 1 +
                      HEX_LEN + end_len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        return NULL;
    }
    char *p = PyBytes_AS_STRING(out);
#define PUT(src, n)            \
    memcpy(p, (src), (size_t)(n)); \
    p += (n)
    PUT(line, keep);
    PUT(TAIL_STREAM, sizeof TAIL_STREAM - 1);
    PUT(stream, stream_len);
    PUT(TAIL_SEQ, sizeof TAIL_SEQ - 1);
    PUT(seq_text, seq_len);
    PUT(TAIL_PREV, sizeof TAIL_PREV - 1);
    PUT(prev_hex, HEX_LEN);
    if (replay) {
        PUT(TAIL_REPLAY, sizeof TAIL_REPLAY - 1);
    }
    else {
        PUT(TAIL_END, sizeof TAIL_END - 1);
    }
#undef PUT
    return out;
}

static PyObject *
seal_lines(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    const char *stream;
    Py_ssize_t stream_len;
    long long seq;
    unsigned char prev[HASH_LEN];
    char prev_hex[HEX_LEN], head[HEAD_CAP];
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "seal_lines(stream, seq, prev, lines, replays)");
        return NULL;
    }
    PyObject *lines = args[3], *replays = args[4];
    if (get_stream(args[0], &stream, &stream_len) < 0 || get_seq(args[1], &seq) < 0 ||
        get_hash(args[2], "prev", prev) < 0) {
        return NULL;
    }
    if (!PyList_Check(lines)) {
        PyErr_SetString(PyExc_TypeError, "lines must be a list of bytes");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(lines);
    if (get_replays(replays, n) < 0) {
        return NULL;
    }
    PyObject *out = PyList_New(n), *leaves = PyList_New(n);
    if (out == NULL || leaves == NULL) {
        goto error;
    }
    to_hex(prev, prev_hex);
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *line = PyList_GET_ITEM(lines, i);
        if (!PyBytes_Check(line)) {
            PyErr_Format(PyExc_TypeError, "line %zd is %.100s, not bytes", i,
                         Py_TYPE(line)->tp_name);
            goto error;
        }
        const char *data = PyBytes_AS_STRING(line);
        Py_ssize_t len = PyBytes_GET_SIZE(line);
        if (len < 2 || data[len - 1] != '\n' || data[len - 2] != '}') {
            PyErr_Format(PyExc_ValueError, "line %zd is not a JSON object line ({...}\\n)", i);
            goto error;
        }
        int replay = replay_at(replays, i);
        if (replay < 0) {
            goto error;
        }
        size_t head_len = leaf_head(head, stream, stream_len, seq, prev_hex, replay);
        unsigned char digest[HASH_LEN];
        hash_leaf(head, head_len, data, (size_t)(len - 1), digest);
        PyObject *sealed = sealed_line(data, len, stream, stream_len, seq, prev_hex, replay);
        if (sealed == NULL) {
            goto error;
        }
        total += PyBytes_GET_SIZE(sealed);
        PyList_SET_ITEM(out, i, sealed);
        PyObject *leaf_obj = PyBytes_FromStringAndSize((const char *)digest, HASH_LEN);
        if (leaf_obj == NULL) {
            goto error;
        }
        PyList_SET_ITEM(leaves, i, leaf_obj);
        to_hex(digest, prev_hex);
        seq++;
    }
    return Py_BuildValue("(NnN)", out, total, leaves);
error:
    Py_XDECREF(out);
    Py_XDECREF(leaves);
    return NULL;
}

static PyObject *
seal_bodies(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    const char *stream;
    Py_ssize_t stream_len;
    long long seq;
    unsigned char prev[HASH_LEN];
    char prev_hex[HEX_LEN], head[HEAD_CAP];
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "seal_bodies(stream, seq, prev, bodies, replays)");
        return NULL;
    }
    PyObject *bodies = args[3], *replays = args[4];
    if (get_stream(args[0], &stream, &stream_len) < 0 || get_seq(args[1], &seq) < 0 ||
        get_hash(args[2], "prev", prev) < 0) {
        return NULL;
    }
    if (!PyList_Check(bodies)) {
        PyErr_SetString(PyExc_TypeError, "bodies must be a list of bytes");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(bodies);
    if (get_replays(replays, n) < 0) {
        return NULL;
    }
    PyObject *numbers = PyList_New(n), *leaves = PyList_New(n);
    if (numbers == NULL || leaves == NULL) {
        goto error;
    }
    to_hex(prev, prev_hex);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *body = PyList_GET_ITEM(bodies, i);
        if (!PyBytes_Check(body)) {
            PyErr_Format(PyExc_TypeError, "body %zd is %.100s, not bytes", i,
                         Py_TYPE(body)->tp_name);
            goto error;
        }
        int replay = replay_at(replays, i);
        if (replay < 0) {
            goto error;
        }
        size_t head_len = leaf_head(head, stream, stream_len, seq, prev_hex, replay);
        unsigned char digest[HASH_LEN];
        hash_leaf(head, head_len, PyBytes_AS_STRING(body), (size_t)PyBytes_GET_SIZE(body),
                  digest);
        PyObject *pair = Py_BuildValue("(Ls#)", seq, prev_hex, (Py_ssize_t)HEX_LEN);
        if (pair == NULL) {
            goto error;
        }
        PyList_SET_ITEM(numbers, i, pair);
        PyObject *leaf_obj = PyBytes_FromStringAndSize((const char *)digest, HASH_LEN);
        if (leaf_obj == NULL) {
            goto error;
        }
        PyList_SET_ITEM(leaves, i, leaf_obj);
        to_hex(digest, prev_hex);
        seq++;
    }
    return Py_BuildValue("(NN)", numbers, leaves);
error:
    Py_XDECREF(numbers);
    Py_XDECREF(leaves);
    return NULL;
}

static PyObject *
frontier_extend(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned char stack[MAX_FRONTIER][HASH_LEN];
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "frontier_extend(hashes, size, leaves)");
        return NULL;
    }
    PyObject *hashes = args[0], *leaves = args[2];
    unsigned long long size = PyLong_AsUnsignedLongLong(args[1]);
    if (size == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyList_Check(hashes) || !PyList_Check(leaves)) {
        PyErr_SetString(PyExc_TypeError, "hashes and leaves must be lists of bytes");
        return NULL;
    }
    Py_ssize_t top = PyList_GET_SIZE(hashes);
    if (top != __builtin_popcountll(size)) {
        PyErr_Format(PyExc_ValueError, "a frontier of size %llu has %d hashes, not %zd", size,
                     __builtin_popcountll(size), top);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < top; i++) {
        if (get_hash(PyList_GET_ITEM(hashes, i), "a frontier hash", stack[i]) < 0) {
            return NULL;
        }
    }
    Py_ssize_t n = PyList_GET_SIZE(leaves), low = top; /* hashes[:low] stay as they are */
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char node[HASH_LEN];
        if (get_hash(PyList_GET_ITEM(leaves, i), "a leaf hash", node) < 0) {
            return NULL; /* hashes untouched: nothing was written back yet */
        }
        unsigned long long carry = size;
        while (carry & 1) {
            top--;
            hash_node(stack[top], node, node);
            carry >>= 1;
        }
        if (top < low) {
            low = top;
        }
        memcpy(stack[top++], node, HASH_LEN);
        size++;
    }
    PyObject *fresh = PyList_New(top - low);
    if (fresh == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = low; i < top; i++) {
        PyObject *h = PyBytes_FromStringAndSize((const char *)stack[i], HASH_LEN);
        if (h == NULL) {
            Py_DECREF(fresh);
            return NULL;
        }
        PyList_SET_ITEM(fresh, i - low, h);
    }
    int rc = PyList_SetSlice(hashes, low, PyList_GET_SIZE(hashes), fresh);
    Py_DECREF(fresh);
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"row_bodies", (PyCFunction)(void (*)(void))row_bodies, METH_FASTCALL,
     "row_bodies(keys, rows, k, time_index) -> each row's hashed body, or None: use Python."},
    {"leaf", (PyCFunction)(void (*)(void))leaf, METH_FASTCALL,
     "leaf(stream, seq, prev, body, replay) -> the record's RFC 6962 leaf hash."},
    {"seal_lines", (PyCFunction)(void (*)(void))seal_lines, METH_FASTCALL,
     "seal_lines(stream, seq, prev, lines, replays) -> (sealed lines, total size, leaves)."},
    {"seal_bodies", (PyCFunction)(void (*)(void))seal_bodies, METH_FASTCALL,
     "seal_bodies(stream, seq, prev, bodies, replays) -> ([(seq, prev hex)], leaves)."},
    {"frontier_extend", (PyCFunction)(void (*)(void))frontier_extend, METH_FASTCALL,
     "frontier_extend(hashes, size, leaves): append leaf hashes to a Merkle frontier in place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "audit_logging._sealing",
    "Integrity's hashing, compiled; audit_logging._integrity is the reference.", -1, methods,
};

PyMODINIT_FUNC
PyInit__sealing(void)
{
    if (sealing_rows_init() < 0) {
        return NULL;
    }
    return PyModule_Create(&module);
}
