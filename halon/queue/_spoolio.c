/*
 * The spool's commit thread in C (halon/queue/spool.py): it writes,
 * renames and flushes the files of each commit without ever holding the
 * GIL, and reports what it finished through a pipe the reactor reads.
 *
 * Why C: a Python thread takes the GIL back after every system call it
 * makes.  While the reactor thread runs SMTP sessions and their scripts,
 * each of those takes waits until the reactor thread lets go: for its
 * next system call, or for the interpreter's switch interval (5 ms).  With
 * ten sessions a commit spent a median 1 to 2 ms waiting to start and 6 to
 * 8 ms in a flush whose system calls take well under one; the 250 waits
 * for all of it.  This thread never waits for the interpreter: it starts
 * as soon as a commit is handed over and finishes when the disk does.
 *
 * ThreadFlusher in spool.py is the reference and runs where this module
 * is not built; both make the same system calls in the same order.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define FILE_MODE 0440

typedef struct {
    const char *temp;  /* inside the bytes objects the group's list holds */
    const char *final;
    Py_buffer data;
} File;

typedef struct Group {
    struct Group *next;
    PyObject *ident;
    PyObject *files;  /* the list handed to submit(), kept alive until completed() */
    int error;
    const char *failed;  /* the path of the call that failed, or NULL */
    Py_ssize_t count;
    File file[];
} Group;

typedef struct {
    PyObject_HEAD
    pthread_t thread;
    int running;  /* the thread was started and not joined yet */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    Group *pending, **pending_end;
    Group *done, **done_end;
    int stopping, finished;
    int sync_fd, fsync_each;
    int pipe_r, pipe_w;
} Flusher;

/* -- the thread's side: plain C, no Python objects touched ----------------- */

static int
write_file(const File *file, int fsync_each)
{
    int fd = open(file->temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
    if (fd < 0)
        return errno;
    const char *p = file->data.buf;
    Py_ssize_t left = file->data.len;
    int err = 0;
    while (left > 0) {
        ssize_t n = write(fd, p, (size_t)left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            break;
        }
        p += n;
        left -= n;
    }
    if (!err && fsync_each && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err && errno != EINTR)
        err = errno;
    if (err)
        unlink(file->temp);
    return err;
}

static int
fsync_folder(const char *path)
{
    char folder[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 0 : (size_t)(slash - path);
    if (len == 0 || len >= sizeof(folder))
        return ENAMETOOLONG;
    memcpy(folder, path, len);
    folder[len] = '\0';
    int fd = open(folder, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = fsync(fd) != 0 ? errno : 0;
    close(fd);
    return err;
}

static int
sync_all(int sync_fd)
{
#ifdef __linux__
    return syncfs(sync_fd) != 0 ? errno : 0;
#else
    (void)sync_fd;
    return ENOSYS;
#endif
}

/*
 * One batch: every group's files written under their temp names (a group
 * with a failed write keeps none), the others renamed into place and made
 * durable.  A failed rename or flush fails every group still standing,
 * whose files are then removed.
 */
static void
flush(Flusher *f, Group *batch)
{
    for (Group *g = batch; g != NULL; g = g->next) {
        for (Py_ssize_t i = 0; i < g->count; i++) {
            int err = write_file(&g->file[i], f->fsync_each);
            if (err) {
                g->error = err;
                g->failed = g->file[i].temp;
                for (Py_ssize_t j = 0; j < i; j++)
                    unlink(g->file[j].temp);
                break;
            }
        }
    }
    int err = 0;
    const char *failed = NULL;
    for (Group *g = batch; g != NULL && !err; g = g->next) {
        for (Py_ssize_t i = 0; i < g->count && !g->error && !err; i++) {
            if (rename(g->file[i].temp, g->file[i].final) != 0) {
                err = errno;
                failed = g->file[i].temp;
            }
            else if (f->fsync_each && (err = fsync_folder(g->file[i].final)) != 0)
                failed = g->file[i].final;
        }
    }
    if (!err && f->sync_fd >= 0)
        err = sync_all(f->sync_fd);
    if (!err)
        return;
    for (Group *g = batch; g != NULL; g = g->next) {
        if (g->error)
            continue;
        for (Py_ssize_t i = 0; i < g->count; i++) {
            unlink(g->file[i].temp);
            unlink(g->file[i].final);
        }
        g->error = err;
        g->failed = failed;
    }
}

static void
notify(Flusher *f)
{
    /* A full pipe already has the reactor's attention. */
    while (write(f->pipe_w, "x", 1) < 0 && errno == EINTR)
        ;
}

static void *
run(void *arg)
{
    Flusher *f = arg;
    pthread_mutex_lock(&f->lock);
    for (;;) {
        while (f->pending == NULL && !f->stopping)
            pthread_cond_wait(&f->wake, &f->lock);
        Group *batch = f->pending;
        if (batch == NULL)
            break;
        f->pending = NULL;
        f->pending_end = &f->pending;
        pthread_mutex_unlock(&f->lock);
        flush(f, batch);
        pthread_mutex_lock(&f->lock);
        *f->done_end = batch;
        while (batch->next != NULL)
            batch = batch->next;
        f->done_end = &batch->next;
        pthread_mutex_unlock(&f->lock);
        notify(f);
        pthread_mutex_lock(&f->lock);
    }
    f->finished = 1;
    pthread_mutex_unlock(&f->lock);
    notify(f);
    return NULL;
}

/* -- the Python side --------------------------------------------------------- */

static void
free_group(Group *g)
{
    for (Py_ssize_t i = 0; i < g->count; i++)
        if (g->file[i].data.obj != NULL)
            PyBuffer_Release(&g->file[i].data);
    Py_XDECREF(g->files);
    Py_XDECREF(g->ident);
    PyMem_Free(g);
}

static void
free_groups(Group *g)
{
    while (g != NULL) {
        Group *next = g->next;
        free_group(g);
        g = next;
    }
}

static int
set_flags(int fd, int status_flags)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | status_flags) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static PyObject *
Flusher_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *keywords[] = {"sync_fd", "fsync_each", NULL};
    int sync_fd, fsync_each;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "ip", keywords, &sync_fd, &fsync_each))
        return NULL;
    Flusher *f = (Flusher *)type->tp_alloc(type, 0);
    if (f == NULL)
        return NULL;
    f->pipe_r = f->pipe_w = -1;
    f->pending_end = &f->pending;
    f->done_end = &f->done;
    f->sync_fd = sync_fd;
    f->fsync_each = fsync_each;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->wake, NULL);
    int fds[2];
    if (pipe(fds) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(f);
        return NULL;
    }
    f->pipe_r = fds[0];
    f->pipe_w = fds[1];
    if (set_flags(fds[0], O_NONBLOCK) != 0 || set_flags(fds[1], O_NONBLOCK) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(f);
        return NULL;
    }
    /* Signals are the reactor thread's business: the new thread blocks them all. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&f->thread, NULL, run, f);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        errno = err;
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(f);
        return NULL;
    }
    f->running = 1;
    return (PyObject *)f;
}

/* The thread finishes what is pending, then ends. */
static void
ask_to_stop(Flusher *f)
{
    pthread_mutex_lock(&f->lock);
    f->stopping = 1;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->lock);
}

static void
join(Flusher *f)
{
    ask_to_stop(f);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(f->thread, NULL);
    Py_END_ALLOW_THREADS
    f->running = 0;
}

static void
Flusher_dealloc(Flusher *f)
{
    if (f->running)
        join(f);
    free_groups(f->pending);
    free_groups(f->done);
    if (f->pipe_r >= 0)
        close(f->pipe_r);
    if (f->pipe_w >= 0)
        close(f->pipe_w);
    pthread_cond_destroy(&f->wake);
    pthread_mutex_destroy(&f->lock);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static PyObject *
Flusher_submit(Flusher *f, PyObject *args)
{
    PyObject *ident, *files;
    if (!PyArg_ParseTuple(args, "OO!", &ident, &PyList_Type, &files))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(files);
    Group *g = PyMem_Calloc(1, sizeof(Group) + (size_t)count * sizeof(File));
    if (g == NULL)
        return PyErr_NoMemory();
    Py_INCREF(ident);
    g->ident = ident;
    Py_INCREF(files);
    g->files = files;
    g->count = count;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(files, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3 || !PyBytes_Check(PyTuple_GET_ITEM(item, 0))
            || !PyBytes_Check(PyTuple_GET_ITEM(item, 1))) {
            PyErr_SetString(PyExc_TypeError, "a file is (temp path, final path, data), the paths bytes");
            free_group(g);
            return NULL;
        }
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(item, 2), &g->file[i].data, PyBUF_SIMPLE) != 0) {
            free_group(g);
            return NULL;
        }
        g->file[i].temp = PyBytes_AS_STRING(PyTuple_GET_ITEM(item, 0));
        g->file[i].final = PyBytes_AS_STRING(PyTuple_GET_ITEM(item, 1));
    }
    pthread_mutex_lock(&f->lock);
    int refused = f->stopping;
    if (!refused) {
        *f->pending_end = g;
        f->pending_end = &g->next;
        pthread_cond_signal(&f->wake);
    }
    pthread_mutex_unlock(&f->lock);
    if (refused) {
        free_group(g);
        PyErr_SetString(PyExc_RuntimeError, "the flusher is stopping");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
Flusher_completed(Flusher *f, PyObject *unused)
{
    char drain[256];
    while (read(f->pipe_r, drain, sizeof(drain)) > 0)
        ;
    pthread_mutex_lock(&f->lock);
    Group *done = f->done;
    f->done = NULL;
    f->done_end = &f->done;
    int finished = f->finished;
    pthread_mutex_unlock(&f->lock);
    PyObject *results = PyList_New(0);
    if (results == NULL) {
        free_groups(done);
        return NULL;
    }
    for (Group *g = done; g != NULL; g = g->next) {
        PyObject *entry;
        if (g->failed != NULL)
            entry = Py_BuildValue("(Oiy)", g->ident, g->error, g->failed);
        else
            entry = Py_BuildValue("(OiO)", g->ident, g->error, Py_None);
        if (entry == NULL || PyList_Append(results, entry) != 0) {
            Py_XDECREF(entry);
            Py_DECREF(results);
            free_groups(done);
            return NULL;
        }
        Py_DECREF(entry);
    }
    free_groups(done);
    if (finished && f->running) {
        Py_BEGIN_ALLOW_THREADS
        pthread_join(f->thread, NULL);
        Py_END_ALLOW_THREADS
        f->running = 0;
    }
    return Py_BuildValue("(NO)", results, finished ? Py_True : Py_False);
}

static PyObject *
Flusher_stop(Flusher *f, PyObject *unused)
{
    ask_to_stop(f);
    Py_RETURN_NONE;
}

static PyObject *
Flusher_fileno(Flusher *f, PyObject *unused)
{
    return PyLong_FromLong(f->pipe_r);
}

static PyMethodDef Flusher_methods[] = {
    {"submit", (PyCFunction)Flusher_submit, METH_VARARGS, NULL},
    {"completed", (PyCFunction)Flusher_completed, METH_NOARGS, NULL},
    {"stop", (PyCFunction)Flusher_stop, METH_NOARGS, NULL},
    {"fileno", (PyCFunction)Flusher_fileno, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject FlusherType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "halon.queue._spoolio.Flusher",
    .tp_basicsize = sizeof(Flusher),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Flusher_new,
    .tp_dealloc = (destructor)Flusher_dealloc,
    .tp_methods = Flusher_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_spoolio", NULL, -1, NULL};

PyMODINIT_FUNC
PyInit__spoolio(void)
{
    if (PyType_Ready(&FlusherType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&FlusherType);
    if (PyModule_AddObject(m, "Flusher", (PyObject *)&FlusherType) < 0) {
        Py_DECREF(&FlusherType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
