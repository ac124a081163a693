"""Output paths and atomic writes: the one place that checks where we are about to write and writes safely.

Every command that writes a file the user named (``--save-gif``, ``--plot``, ``--json``, ``--out`` ...) checks the
path with :func:`check_output_file` or :func:`check_output_dir` *before* the long work starts, so a typo costs
nothing; files are then written with :func:`atomic_write` (a temporary sibling renamed into place), so a full disk
or a kill leaves either the old file or the new one, never a truncated one. :func:`os_error_message` turns an
``OSError`` from the file system (full disk, read-only, permission) into the one-line message the CLI prints.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import filelock

from hrm.errors import UserError

# OSErrors that come from the environment (not from a bug): the CLI reports them as one line, exit 2.
ENVIRONMENT_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR}
)

_FIXES = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space (disk quota exceeded) or write elsewhere",
    errno.EFBIG: "the file system cannot hold a file this large; write elsewhere",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.EACCES: "no permission; choose a path you can write",
    errno.EPERM: "not permitted; choose a path you can write",
    errno.EISDIR: "that is a folder; give a file name",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
}


def os_error_message(exc: OSError) -> str:
    """``PATH: <strerror>; <fix>`` for an OSError raised by the file system."""
    where = exc.filename if exc.filename is not None else "file system"
    reason = exc.strerror or str(exc)
    fix = _FIXES.get(exc.errno or 0)
    return f"{where}: {reason}" + (f"; {fix}" if fix else "")


def _writable_parent(path: Path, option: str) -> None:
    """Create ``path``'s parent folders if needed and check that files can be created there."""
    parent = path.parent if str(path.parent) else Path(".")
    probe = parent
    while not probe.exists():  # the nearest existing ancestor decides whether the folders can be made
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserError(f"{option} {path}: {probe} is a file, not a folder; choose another path")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot create the folder {parent} ({exc.strerror})") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: the folder {parent} is not writable; choose a path you can write")


def check_output_file(path: str | os.PathLike, option: str = "output") -> Path:
    """Check that ``path`` can be written as a file (creating missing parent folders); return it as a Path.

    An existing regular file is fine (it will be replaced atomically); a folder, an unwritable file or a path
    under a file or an unwritable folder raise a UserError naming ``option``.
    """
    path = Path(path)
    if str(path) in ("", ".") or path.is_dir():
        raise UserError(f"{option} {path}: is a folder; give a file name, e.g. {Path(path) / 'out.png'}")
    if path.exists() and not path.is_file():
        raise UserError(f"{option} {path}: exists and is not a regular file; choose another path")
    _writable_parent(path, option)
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{option} {path}: the file is read-only; choose another path or make it writable")
    return path


def check_output_dir(path: str | os.PathLike, option: str = "output") -> Path:
    """Check that ``path`` is (or can be created as) a writable folder, without creating it; return it."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise UserError(f"{option} {path}: exists and is not a folder; choose another path")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UserError(f"{option} {path}: the folder is not writable; choose a path you can write")
        return path
    probe = path.parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UserError(f"{option} {path}: {probe} is a file, not a folder; choose another path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: cannot create it, {probe} is not writable; choose a path you can write")
    return path


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path``, on failure it is removed.

    ``mode`` is ``"w"`` (text, UTF-8 by default) or ``"wb"``. Readers never see a half-written file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a writer that wants a file name (matplotlib, PIL, safetensors).

    The temporary file keeps ``path``'s suffix (writers pick their format from it); it is renamed to ``path`` when
    the block finishes and removed when it raises.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; the result should not be
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_write(path) as f:
        f.write(text)
    return Path(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class DirectoryLock:
    """An exclusive, non-blocking lock on a folder: a ``filelock.FileLock`` on ``<folder>/<name>``.

    ``filelock`` takes an operating-system lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows), so the lock is
    released when the process ends however it ends (kill -9 included) and a stale lock never blocks a later run.
    The holder writes its PID to ``<name>.pid`` beside the lock (the lock file itself may be truncated or unreadable
    while locked, depending on the platform), and a second holder gets a UserError naming it. On a file system
    without OS locks (some network mounts) the folder is used unlocked, as it was before locking existed.
    """

    def __init__(self, directory: str | os.PathLike, name: str = "run.lock", what: str = "run directory"):
        self.path = Path(directory) / name
        self.pid_path = self.path.with_name(self.path.name + ".pid")
        self.what = what
        self._lock: filelock.BaseFileLock | None = None

    def acquire(self) -> DirectoryLock:
        # thread_local=False: the lock belongs to the process (a trainer may release it from another thread);
        # every DirectoryLock is its own FileLock, so two in one process exclude each other like two processes.
        lock = filelock.FileLock(self.path, timeout=0, thread_local=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise UserError(
                f"{self.path.parent}: this {self.what} is in use by another hrm process (PID {self._holder()}); "
                "wait for it to finish or stop it first"
            ) from None
        except (NotImplementedError, OSError):
            return self  # no OS locks here: run unlocked rather than refuse to run at all
        self._lock = lock
        try:
            write_text_atomic(self.pid_path, f"{os.getpid()}\n")
        except OSError:
            pass  # the PID is only for the message a second process prints; the lock itself is held
        return self

    def _holder(self) -> str:
        try:
            text = self.pid_path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return "unknown"
        return text if text.isdigit() else "unknown"

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def held(self) -> bool:
        return self._lock is not None

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
