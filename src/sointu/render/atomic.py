"""Write files so that nothing is ever lost, half-written or overwritten.

A file is written to a hidden temporary file in the target's folder
(``.name.sointu-tmp-XXXXXXXX.suffix``: same suffix, so libsndfile picks the same format)
and moved into place only when complete:

- on success the temporary file is fsynced and renamed into place; without ``force`` the
  move is a no-clobber ``link`` + ``unlink``, so a file that appeared at the target while
  we were writing is never overwritten (it is reported instead);
- on ANY exception (``KeyboardInterrupt``, ``SystemExit``, a full disk, a file-size limit,
  an encoder error) the temporary file is removed and the exception re-raised; an
  ``OSError`` becomes an :class:`~sointu.errors.OutputError` with one clear line.

Signals: Ctrl-C raises ``KeyboardInterrupt`` in the main thread, so cleanup runs. SIGTERM
kills a Python process without cleanup unless a handler raises: callers that render wrap
the work in :func:`raise_on_sigterm`. A process over ``RLIMIT_FSIZE`` (``ulimit -f``) is
killed by SIGXFSZ unless that signal is ignored; :func:`atomic_outputs` ignores it while
writing (main thread only), so the write fails with ``EFBIG`` and cleanup runs.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError

__all__ = [
    "TMP_MARKER",
    "Terminated",
    "check_target",
    "atomic_output",
    "atomic_outputs",
    "raise_on_sigterm",
    "describe_os_error",
    "diagnose_write_failure",
    "temp_files_in",
]

#: Part of every temporary file's name (``.name.sointu-tmp-XXXXXXXX.suffix``).
TMP_MARKER = ".sointu-tmp-"


class Terminated(KeyboardInterrupt):
    """SIGTERM turned into an exception by :func:`raise_on_sigterm` (cleanup runs)."""

    signum = signal.SIGTERM


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def check_target(path, force: bool) -> Path:
    """Check that ``path`` can be written, before any work is done.

    Parameters
    ----------
    path : str or os.PathLike
        The file to be written.
    force : bool
        Whether an existing file may be replaced.

    Returns
    -------
    Path

    Raises
    ------
    OutputError
        One line when the folder does not exist or is not writable, the path is a folder
        (or another non-regular file), or the file exists and ``force`` is false.
    """
    path = Path(path)
    folder = _folder(path)
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name inside it, "
                          f"e.g. {path / ('session' + (path.suffix or '.flac'))}")
    if not folder.exists():
        raise OutputError(f"cannot write {path}: folder {folder} does not exist; create it "
                          f"first or choose another folder")
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: folder {folder} is not writable; "
                          f"choose a folder you can write to")
    if path.exists() or path.is_symlink():
        if not force:
            raise OutputError(f"{path} already exists; choose another name or use --force "
                              f"to overwrite it")
        if not path.is_file():
            raise OutputError(f"cannot overwrite {path}: it is not a regular file")
    return path


def describe_os_error(exc: OSError, path) -> str:
    """One line for an ``OSError`` met while writing ``path`` (nothing was written)."""
    name = Path(path).name
    reasons = {
        errno.ENOSPC: f"disk full while writing {name}",
        errno.EDQUOT: f"disk quota exceeded while writing {name}",
        errno.EFBIG: f"file size limit reached while writing {name} (see ulimit -f)",
        errno.EROFS: f"cannot write {name}: the file system is read-only",
        errno.EACCES: f"permission denied while writing {name}",
        errno.EPERM: f"operation not permitted while writing {name}",
        errno.EIO: f"input/output error while writing {name}",
    }
    what = reasons.get(exc.errno)
    if what is None:
        what = f"could not write {name}: {exc.strerror or exc}"
    return f"{what}; nothing was written (in {_folder(Path(path))})"


def diagnose_write_failure(tmp, path, detail: str) -> str:
    """One line for a failed write whose cause the encoder did not report as an errno.

    libsndfile reports a short write or a failed close without ``errno``; this looks at
    the likely causes (the process's file-size limit, a full disk) and names them.

    Parameters
    ----------
    tmp : path
        The temporary file being written.
    path : path
        The target the user asked for.
    detail : str
        The encoder's own message.
    """
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        size = os.stat(tmp).st_size
        if soft != resource.RLIM_INFINITY and size + 65536 >= soft:
            return describe_os_error(OSError(errno.EFBIG, "File too large"), path)
    except (OSError, ImportError, ValueError):
        pass
    try:
        if shutil.disk_usage(_folder(Path(path))).free < 1 << 20:
            return describe_os_error(OSError(errno.ENOSPC, "No space left"), path)
    except OSError:
        pass
    detail = " ".join(str(detail).split())
    return f"could not write {Path(path).name}: {detail}; nothing was written"


def _new_temp(path: Path) -> Path:
    """Create an empty hidden temporary file next to ``path`` (mode 0666 & ~umask)."""
    folder = _folder(path)
    for _ in range(100):
        tmp = folder / f".{path.name}{TMP_MARKER}{secrets.token_hex(4)}{path.suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise OutputError(f"cannot create a temporary file in {folder} for {path.name}")


def _fsync_file(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the data itself is synced
    finally:
        os.close(fd)


def _place_no_clobber(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path`` only if ``path`` does not exist (atomically where possible)."""
    try:
        os.link(tmp, path)  # fails with EEXIST if anything appeared at path
    except FileExistsError:
        raise OutputError(f"{path} appeared while writing; it was kept and nothing was "
                          f"written (use --force to overwrite)") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK,
                             errno.EXDEV):
            raise
        # File systems without hard links (FAT, some network shares): check, then rename.
        if path.exists() or path.is_symlink():
            raise OutputError(f"{path} appeared while writing; it was kept and nothing "
                              f"was written (use --force to overwrite)") from None
        os.rename(tmp, path)
        return
    os.unlink(tmp)


def _remove(p: Path) -> None:
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass


@contextmanager
def _ignore_sigxfsz() -> Iterator[None]:
    sig = getattr(signal, "SIGXFSZ", None)
    if sig is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(sig, old)


@contextmanager
def atomic_outputs(paths: Sequence, force: bool = False) -> Iterator[list[Path]]:
    """Write several files that appear together or not at all.

    Yields one temporary path per target (same folder, same suffix). On normal exit every
    temporary file is fsynced and moved into place, the first target first; on any
    exception all of them are removed and the exception re-raised (``OSError`` as
    :class:`OutputError`). Without ``force``, if any target appeared meanwhile, the ones
    already placed by this call are removed again and nothing is overwritten.

    Parameters
    ----------
    paths : sequence of path
        The targets (e.g. an audio file and its sidecars).
    force : bool
        Replace existing targets.

    Raises
    ------
    OutputError
        A target cannot be written (see :func:`check_target`), appeared meanwhile, or an
        ``OSError`` occurred while writing.
    """
    targets = [check_target(p, force) for p in paths]
    temps: list[Path] = []
    placed: list[Path] = []
    try:
        with _ignore_sigxfsz():
            for target in targets:
                temps.append(_new_temp(target))
            yield list(temps)
            for tmp in temps:
                _fsync_file(tmp)
            for tmp, target in zip(temps, targets, strict=True):
                if force:
                    os.replace(tmp, target)
                else:
                    _place_no_clobber(tmp, target)
                placed.append(target)
            _fsync_dir(_folder(targets[0]))
    except BaseException as exc:
        if not force:
            for target in placed:  # roll back: these links are ours
                _remove(target)
        for tmp in temps:
            _remove(tmp)
        if isinstance(exc, OSError):
            where = next((t for t, tmp in zip(targets, temps, strict=False)
                          if getattr(exc, "filename", None) in (str(tmp), tmp)), targets[0])
            raise OutputError(describe_os_error(exc, where)) from exc
        raise


@contextmanager
def atomic_output(path, force: bool = False) -> Iterator[Path]:
    """Write one file atomically: yield a temporary path, rename it into place on success.

    Parameters
    ----------
    path : str or os.PathLike
        The target.
    force : bool
        Replace an existing target.

    Yields
    ------
    Path
        A new, empty hidden file next to ``path`` with the same suffix
        (``.name.sointu-tmp-XXXXXXXX.suffix``).

    Raises
    ------
    OutputError
        See :func:`atomic_outputs`. Any other exception is re-raised after removing the
        temporary file.
    """
    with atomic_outputs([path], force=force) as temps:
        yield temps[0]


@contextmanager
def raise_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into a :class:`Terminated` exception (a ``KeyboardInterrupt``).

    Without this, SIGTERM ends Python at once and no cleanup runs; with it, a render being
    terminated removes its temporary file like Ctrl-C does. The previous handler is
    restored on exit. Outside the main thread this does nothing (Python only runs signal
    handlers in the main thread).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handler(signum, frame):
        raise Terminated(f"terminated by signal {signum}")

    old = signal.signal(signal.SIGTERM, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def temp_files_in(folder) -> list[Path]:
    """sointu's temporary files in ``folder`` (left behind only if a process was killed)."""
    return sorted(p for p in Path(folder).iterdir() if TMP_MARKER in p.name)
