/* The one read a strategy makes on every bar, compiled: ``view[-k]`` and ``len(view)``.
 *
 * workbench.series.SeriesView is built on this type when it compiles (an optional
 * extension: without a compiler, series.py's own Python class does the same). Only the
 * common read is here: a negative integer index of a bar that happened, into a float64
 * buffer (a backtest's preloaded column) or a list (bars streamed live). Everything else
 * (slices, indices from the start, look-ahead, bars before the first) goes to the
 * Python method ``_checked``, which owns the rules and their errors, so both classes
 * behave the same by construction: this file only skips the interpreter on the fast path.
 * The number of bars revealed is read from the SymbolData's ``n`` on every call: the
 * views never hold a copy of it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

typedef struct {
    PyObject_HEAD
    PyObject *buf;   /* memoryview of float64 (preloaded) or list of floats (streamed) */
    PyObject *sd;    /* the SymbolData: its ``n`` is the number of bars revealed */
    PyObject *name;
    Py_buffer view;  /* held when ``buf`` is a one-dimensional C-contiguous float64 buffer */
    int has_view;
} Reads;

static PyObject *str_n;
static PyObject *str_checked;

/* The bars revealed so far, or -1 with an exception set. */
static Py_ssize_t
revealed(Reads *self)
{
    PyObject *n = PyObject_GetAttr(self->sd, str_n);
    if (n == NULL) {
        return -1;
    }
    Py_ssize_t out = PyNumber_AsSsize_t(n, PyExc_OverflowError);  /* any integer type */
    Py_DECREF(n);
    if (out < 0 && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "a symbol's bar count is negative");
    }
    return out;
}

static PyObject *
Reads_subscript(Reads *self, PyObject *key)
{
    if (PyLong_CheckExact(key)) {
        int overflow = 0;
        long long k = PyLong_AsLongLongAndOverflow(key, &overflow);
        if (!overflow && k < 0) {  /* an exact int: no error to look for */
            Py_ssize_t n = revealed(self);
            if (n < 0) {
                return NULL;
            }
            long long i = k + (long long)n;
            if (i >= 0) {
                if (self->has_view) {
                    if (i < self->view.len / (Py_ssize_t)sizeof(double)) {
                        return PyFloat_FromDouble(((const double *)self->view.buf)[i]);
                    }
                }
                else if (PyList_CheckExact(self->buf) && i < PyList_GET_SIZE(self->buf)) {
                    return Py_NewRef(PyList_GET_ITEM(self->buf, (Py_ssize_t)i));
                }
            }
        }
    }
    return PyObject_CallMethodOneArg((PyObject *)self, str_checked, key);
}

static Py_ssize_t
Reads_length(Reads *self)
{
    return revealed(self);
}

static int
Reads_init(Reads *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"buf", "sd", "name", NULL};
    PyObject *buf, *sd, *name;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:SeriesView", kwlist, &buf, &sd, &name)) {
        return -1;
    }
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    Py_XSETREF(self->buf, Py_NewRef(buf));
    Py_XSETREF(self->sd, Py_NewRef(sd));
    Py_XSETREF(self->name, Py_NewRef(name));
    if (!PyList_CheckExact(buf) && PyObject_CheckBuffer(buf)) {
        if (PyObject_GetBuffer(buf, &self->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) == 0) {
            const char *f = self->view.format;
            if (self->view.ndim == 1 && self->view.itemsize == sizeof(double) && f != NULL
                && (strcmp(f, "d") == 0 || strcmp(f, "<d") == 0 || strcmp(f, "=d") == 0
                    || strcmp(f, "@d") == 0)) {
                self->has_view = 1;
            }
            else {
                PyBuffer_Release(&self->view);  /* another type: the Python path reads it */
            }
        }
        else {
            PyErr_Clear();  /* not a contiguous buffer: the Python path reads it */
        }
    }
    return 0;
}

static int
Reads_traverse(Reads *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->buf);
    Py_VISIT(self->sd);
    Py_VISIT(self->name);
    return 0;
}

static int
Reads_clear(Reads *self)
{
    if (self->has_view) {
        PyBuffer_Release(&self->view);
        self->has_view = 0;
    }
    Py_CLEAR(self->buf);
    Py_CLEAR(self->sd);
    Py_CLEAR(self->name);
    return 0;
}

static void
Reads_dealloc(Reads *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Reads_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMemberDef Reads_members[] = {
    {"_buf", T_OBJECT_EX, offsetof(Reads, buf), READONLY, NULL},
    {"_sd", T_OBJECT_EX, offsetof(Reads, sd), READONLY, NULL},
    {"name", T_OBJECT_EX, offsetof(Reads, name), READONLY, NULL},
    {NULL},
};

static PyType_Slot Reads_slots[] = {
    {Py_tp_doc, "A past-only series' fast read (see workbench.series.SeriesView)."},
    {Py_tp_init, Reads_init},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, Reads_dealloc},
    {Py_tp_traverse, Reads_traverse},
    {Py_tp_clear, Reads_clear},
    {Py_tp_members, Reads_members},
    {Py_mp_subscript, Reads_subscript},
    {Py_mp_length, Reads_length},
    {Py_sq_length, Reads_length},
    {0, NULL},
};

static PyType_Spec Reads_spec = {
    .name = "workbench._reads.Reads",
    .basicsize = sizeof(Reads),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = Reads_slots,
};

static int
reads_exec(PyObject *module)
{
    str_n = PyUnicode_InternFromString("n");
    str_checked = PyUnicode_InternFromString("_checked");
    if (str_n == NULL || str_checked == NULL) {
        return -1;
    }
    PyObject *type = PyType_FromModuleAndSpec(module, &Reads_spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int rc = PyModule_AddObjectRef(module, "Reads", type);
    Py_DECREF(type);
    return rc;
}

static PyModuleDef_Slot reads_module_slots[] = {
    {Py_mod_exec, reads_exec},
    {0, NULL},
};

static struct PyModuleDef reads_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "workbench._reads",
    .m_doc = "The hot read of workbench.series.SeriesView, compiled (optional).",
    .m_size = 0,
    .m_slots = reads_module_slots,
};

PyMODINIT_FUNC
PyInit__reads(void)
{
    return PyModuleDef_Init(&reads_module);
}
