"""What a SQLite or OS error on a state file means, said in one line with its fix; and
the one-runner-per-file lock (:func:`claim`).

A full disk, a read-only file or folder, a file deleted or moved under the runner, a
file held by another process: faults of the machine, not of the code. Each becomes one
:class:`~workbench.errors.StateStoreError` naming the file, what happened and what a
person must do; the traceback goes to the debug log only. Any other error (a bug, a file
that is not SQLite) is left alone: :func:`store_fault` returns None for it.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import sqlite3
from contextlib import suppress
from pathlib import Path

from workbench.errors import ConfigError, StateStoreError, WorkbenchError

log = logging.getLogger(__name__)

# SQLite's primary result codes (https://sqlite.org/rescode.html)
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR, _FULL, _CANTOPEN = 3, 5, 6, 8, 10, 13, 14
#: The file was unlinked or renamed while open (SQLITE_READONLY_DBMOVED).
_DBMOVED = 1032
#: Less free space than this on the file's disk counts as full.
FULL_BELOW = 4 * 1024 * 1024
_RESUMES = "then start the runner again: it resumes where it stopped"


def _mount(folder: Path) -> Path:
    path = folder.resolve()
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def _size_limit() -> int | None:
    """The process's file size limit in bytes (``ulimit -f``), None when unlimited."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Linux
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def full(path: Path, what: str = "the disk holding it is full") -> StateStoreError:
    where = _mount(path.parent)
    return StateStoreError(
        f"state file {path}: {what}",
        hint=f"free space on {where} (df -h {path.parent}), {_RESUMES}",
    )


def vanished(path: Path) -> StateStoreError:
    return StateStoreError(
        f"state file {path} vanished while the runner used it (deleted or moved)",
        hint="put it back (or restore a backup) and start again; a new empty file would "
        "not know the run's orders and positions",
    )


def locked(path: Path, holder: str = "another process") -> StateStoreError:
    return StateStoreError(
        f"state file {path} is locked by {holder}",
        hint="another workbench live holds the lock: stop it or use another --state",
    )


def read_only(path: Path) -> StateStoreError:
    folder = path.parent
    if _on_read_only_fs(folder):
        what, fix = "is on a read-only filesystem", f"remount {_mount(folder)} read-write"
    elif path.exists() and not os.access(path, os.W_OK):
        what, fix = "is read-only", f"make it writable for this user (chmod u+w {path})"
    elif not os.access(folder, os.W_OK):
        what = "is in a read-only folder (its -wal and -shm files go beside it)"
        fix = f"make {folder} writable for this user"
    else:
        what, fix = "cannot be written", f"check the permissions of {path} and {folder}"
    return StateStoreError(f"state file {path} {what}", hint=f"{fix}, {_RESUMES}")


def _on_read_only_fs(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _io_error(path: Path) -> StateStoreError:
    """An I/O error: say a full disk or a file size limit when that is what it is."""
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if free is not None and free < FULL_BELOW:
        return full(path)
    limit = _size_limit()
    if limit is not None:
        return StateStoreError(
            f"state file {path}: writing failed under a file size limit of {limit} bytes "
            "(ulimit -f)",
            hint=f"raise the limit (ulimit -f unlimited; LimitFSIZE= under systemd), {_RESUMES}",
        )
    return StateStoreError(
        f"state file {path}: the disk reported an I/O error",
        hint=f"check the disk (dmesg, df -h {path.parent}), {_RESUMES}",
    )


def store_fault(path: str | Path, exc: BaseException) -> StateStoreError | None:
    """The machine fault behind ``exc`` (raised using the state file at ``path``), or None
    when ``exc`` is something else. Logs the full traceback at debug level."""
    path = Path(path)
    found = _classify(path, exc)
    if found is not None:
        log.debug(
            "state store fault: %s", found, exc_info=exc, extra={"event": "state_store_fault"}
        )
    return found


def read_fault(path: str | Path, exc: BaseException) -> WorkbenchError:
    """The clear error for ``exc``, raised reading the state file at ``path``: the machine
    fault behind it, or else a file that cannot be read as SQLite."""
    fault = store_fault(path, exc)
    if fault is not None:
        return fault
    return ConfigError(
        f"state file {path} cannot be read as SQLite ({exc})",
        hint="point --state at a workbench state file",
    )


def _classify(path: Path, exc: BaseException) -> StateStoreError | None:
    if isinstance(exc, StateStoreError):
        return exc
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:
            return None
        if code == _DBMOVED:
            return vanished(path)
        primary = code & 0xFF
        if primary == _FULL:
            return full(path)
        if primary in (_BUSY, _LOCKED):
            return locked(path)
        if primary in (_READONLY, _PERM):
            return read_only(path)
        if primary == _IOERR:
            return _io_error(path)
        if primary == _CANTOPEN:
            return read_only(path) if path.parent.is_dir() else vanished(path)
        return None
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return full(path)
        if exc.errno == errno.EFBIG or exc.errno == errno.EIO:
            return _io_error(path)
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return read_only(path)
        if exc.errno == errno.ENOENT:
            return vanished(path)
    return None


def claim(path: Path) -> int:
    """Hold ``<path>-lock`` (an exclusive ``flock``) for as long as the returned descriptor
    is open: one runner per state file. The lock dies with the process, so a crash never
    leaves it behind. A second claimant is refused, naming the holder's pid and host."""
    import fcntl

    lock = path.with_name(path.name + "-lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise store_fault(path, exc) or exc from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
        os.close(fd)
        raise locked(path, holder or "another process") from None
    except OSError as exc:
        os.close(fd)
        raise store_fault(path, exc) or exc from None
    with suppress(OSError):  # who holds it: best effort (a full disk may refuse even this)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"workbench live (pid {os.getpid()} on {socket.gethostname()})".encode(), 0)
    return fd
