"""Write files so that nothing is ever lost, half-written or overwritten.

A file is written to a hidden temporary file in the target's folder and moved into place
only when complete. Temporary names are short and do not contain the target's name
(``.sointu-tmp-HHHH-PID-XXXXXXXX.suffix``: a tag of this computer's host name, the writing
process's id, a random part, the target's suffix), so any name the file system allows
for the target works, and a temporary file whose process is gone can be recognised:

- names are checked up front in bytes, as the file system sees them (UTF-8), against the
  folder's own limit (``PC_NAME_MAX``): the target, its sidecars and the temporary names
  (:func:`check_name_lengths`);
- on success the temporary file is fsynced and renamed into place; without ``force`` the
  move is a no-clobber ``link`` + ``unlink``, so a file that appeared at the target while
  we were writing is never overwritten (it is reported instead);
- on ANY exception (``KeyboardInterrupt``, ``SystemExit``, a full disk, a file-size limit,
  an encoder error) the temporary file is removed and the exception re-raised; an
  ``OSError`` becomes an :class:`~sointu.errors.OutputError` with one clear line;
- temporary files that a killed process (SIGKILL, a power cut) left behind are removed by
  the next write into the same folder (:func:`remove_stale_temps`), with one line saying
  so; never a file of a process still running, of another computer, or not sointu's.

Signals (:mod:`sointu.signals`): callers that render wrap the work in
:func:`~sointu.signals.raise_on_sigterm`, so SIGTERM and SIGHUP clean up as Ctrl-C does. A
process over ``RLIMIT_FSIZE`` (``ulimit -f``) is killed by SIGXFSZ unless that signal is
ignored; :func:`atomic_outputs` ignores it while writing (main thread only), so the write
fails with ``EFBIG`` and cleanup runs.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError
from ..signals import ignoring

__all__ = [
    "TMP_MARKER",
    "check_name_lengths",
    "check_target",
    "name_max",
    "new_temp",
    "remove_stale_temps",
    "remove_temps_of",
    "atomic_output",
    "atomic_outputs",
    "describe_os_error",
    "diagnose_write_failure",
    "guess_write_errno",
]

#: Start of every temporary file's name (``.sointu-tmp-HHHH-PID-XXXXXXXX.suffix``).
TMP_MARKER = ".sointu-tmp-"

#: A temporary file's name: host tag, process id, random part, suffix.
_TEMP_NAME = re.compile(r"\.sointu-tmp-([0-9a-f]{4})-([0-9]{1,10})-[0-9a-f]{8}"
                        r"(\.[0-9A-Za-z]{1,10})?")

#: Longest suffix kept on a temporary file (bytes); longer ones are cut.
_MAX_TEMP_SUFFIX = 10

#: Name length limit (bytes) assumed where a folder cannot say (most file systems: 255).
_DEFAULT_NAME_MAX = 255


def _folder(path: Path) -> Path:
    return path.parent if str(path.parent) else Path(".")


def _host_tag() -> str:
    """Four hex digits from this computer's host name (a folder may be shared)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:4]


def _temp_suffix(suffix: str) -> str:
    suffix = suffix if re.fullmatch(r"\.[0-9A-Za-z]{1,10}", suffix or "") else ""
    return suffix[:_MAX_TEMP_SUFFIX + 1]


def _temp_name(suffix: str) -> str:
    return (f"{TMP_MARKER}{_host_tag()}-{os.getpid()}-{secrets.token_hex(4)}"
            f"{_temp_suffix(suffix)}")


def _temp_name_bytes(suffix: str) -> int:
    """Longest a temporary name with ``suffix`` can be (bytes; a pid has at most 10 digits)."""
    return len(TMP_MARKER) + 4 + 1 + 10 + 1 + 8 + len(_temp_suffix(suffix))


def name_max(folder) -> int:
    """The longest file name (bytes) the file system of ``folder`` allows (255 if unknown)."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return _DEFAULT_NAME_MAX
    return limit if limit and limit > 0 else _DEFAULT_NAME_MAX


def _shown(name: str) -> str:
    return name if len(name) <= 60 else f"{name[:40]}...{name[-12:]}"


def check_name_lengths(paths: Sequence) -> None:
    """Check, in bytes as the file system sees them, that every name can be created.

    The first path is the file asked for; the others are files written beside it (the
    ``.cue`` and ``.chapters.json`` sidecars). Their temporary names are checked too.

    Parameters
    ----------
    paths : sequence of path
        The target first, then its sidecars.

    Raises
    ------
    OutputError
        One line naming the file, its length and the folder's limit, and how long the
        target's name may be.
    """
    paths = [Path(p) for p in paths]
    first = paths[0]
    first_bytes = len(os.fsencode(first.name))
    for p in paths:
        folder = _folder(p)
        try:
            limit = name_max(folder) if folder.is_dir() else _DEFAULT_NAME_MAX
        except OSError:  # the folder's own path cannot be looked up (check_target says why)
            limit = _DEFAULT_NAME_MAX
        n = len(os.fsencode(p.name))
        if n > limit:
            if p == first:
                raise OutputError(f"cannot write {_shown(p.name)}: the name is {n} bytes long "
                                  f"(UTF-8) and {folder} allows at most {limit} bytes; "
                                  f"choose a shorter name")
            most = first_bytes - (n - limit)
            raise OutputError(f"cannot write {_shown(first.name)}: its name is {first_bytes} "
                              f"bytes long, so {_shown(p.name)} beside it would be {n} bytes "
                              f"and {folder} allows at most {limit}; choose a name of at "
                              f"most {most} bytes (UTF-8)")
        if _temp_name_bytes(p.suffix) > limit:
            raise OutputError(f"cannot write {_shown(p.name)}: {folder} allows names of at "
                              f"most {limit} bytes, too short for a temporary file")


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
        One line when the name is too long for the file system (in bytes), the folder does
        not exist or is not writable, the path is a folder (or another non-regular file),
        or the file exists and ``force`` is false.
    """
    path = Path(path)
    check_name_lengths([path])
    try:
        return _check_target(path, force)
    except OSError as exc:  # e.g. a folder name too long, a loop of symbolic links
        raise OutputError(f"cannot write {_shown(str(path))}: "
                          f"{exc.strerror or exc}") from None


def _check_target(path: Path, force: bool) -> Path:
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


def guess_write_errno(file) -> int | None:
    """Why writing ``file`` probably failed when the encoder gave no ``errno``.

    libsndfile reports a short write or a failed close as "System error." without
    ``errno``. Called right after the failure (before the file is removed), this looks at
    the likely causes: ``EFBIG`` when ``file`` reached the process's file-size limit
    (``ulimit -f``), ``ENOSPC`` when its disk has less than 1 MB free; else None.
    """
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
        size = os.stat(file).st_size
        if soft != resource.RLIM_INFINITY and size + 65536 >= soft:
            return errno.EFBIG
    except (OSError, ImportError, ValueError):
        pass
    try:
        if shutil.disk_usage(_folder(Path(file))).free < 1 << 20:
            return errno.ENOSPC
    except OSError:
        pass
    return None


def diagnose_write_failure(tmp, path, detail: str) -> str:
    """One line for a failed write whose cause the encoder did not report as an errno.

    Parameters
    ----------
    tmp : path
        The temporary file being written (see :func:`guess_write_errno`).
    path : path
        The target the user asked for.
    detail : str
        The encoder's own message.
    """
    code = guess_write_errno(tmp)
    if code is not None:
        return describe_os_error(OSError(code, os.strerror(code)), path)
    detail = " ".join(str(detail).split())
    return f"could not write {Path(path).name}: {detail}; nothing was written"


def new_temp(folder, suffix: str = "") -> Path:
    """Create an empty hidden temporary file in ``folder`` (mode 0666 & ~umask).

    Its name (``.sointu-tmp-HHHH-PID-XXXXXXXX.suffix``) carries this process's id, so that
    :func:`remove_stale_temps` can tell when it was left behind. Encoders that write parts
    next to a temporary file make them with this too.

    Parameters
    ----------
    folder : path
        Where (the target's folder).
    suffix : str
        Kept at the end of the name (``".flac"``), so format-by-suffix tools still work.
    """
    folder = Path(folder)
    for _ in range(100):
        tmp = folder / _temp_name(suffix)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise OutputError(f"cannot create a temporary file in {folder}")


def _new_temp(path: Path) -> Path:
    return new_temp(_folder(path), path.suffix)


def _temp_owner(name: str) -> int | None:
    """The process id in a temporary file's name written on this computer, else None."""
    m = _TEMP_NAME.fullmatch(name)
    if m is None or m.group(1) != _host_tag():
        return None
    return int(m.group(2))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or no way to tell: keep its file
    return True


def remove_temps_of(folder, pid: int) -> list[Path]:
    """Remove the temporary files process ``pid`` made in ``folder`` (it was stopped)."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for p in entries:
        if _temp_owner(p.name) == pid and p.is_file() and not p.is_symlink():
            try:
                p.unlink()
            except OSError:
                continue
            removed.append(p)
    return removed


def remove_stale_temps(folder, say=None) -> list[Path]:
    """Remove sointu's temporary files in ``folder`` whose process is gone.

    Only regular files named like :func:`new_temp`'s, made on this computer, by a process
    that no longer exists (a render killed with SIGKILL or by a power cut). Files of a live
    process, of another computer and anything else are left alone.

    Parameters
    ----------
    folder : path
    say : callable, optional
        ``say(line)`` is called with one line when something was removed (default: printed
        to stderr as ``sointu: ...``).

    Returns
    -------
    list of Path
        What was removed.
    """
    folder = Path(folder)
    removed, size = [], 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for p in entries:
        pid = _temp_owner(p.name)
        if pid is None or _alive(pid):
            continue
        try:
            st = p.lstat()
            if not p.is_file() or p.is_symlink():
                continue
            p.unlink()
        except OSError:
            continue
        removed.append(p)
        size += st.st_size
    if removed:
        n = len(removed)
        line = (f"removed {n} temporary file{'s' if n > 1 else ''} ({size / 1e6:.1f} MB) "
                f"left in {folder} by a sointu render that was killed")
        (say or _say)(line)
    return removed


def _say(line: str) -> None:
    try:
        print(f"sointu: {line}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # no terminal any more


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
    check_name_lengths(paths)
    targets = [check_target(p, force) for p in paths]
    remove_stale_temps(_folder(targets[0]))
    temps: list[Path] = []
    placed: list[Path] = []
    try:
        with ignoring("SIGXFSZ"):
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
        (``.sointu-tmp-HHHH-PID-XXXXXXXX.suffix``, see :func:`new_temp`).

    Raises
    ------
    OutputError
        See :func:`atomic_outputs`. Any other exception is re-raised after removing the
        temporary file.
    """
    with atomic_outputs([path], force=force) as temps:
        yield temps[0]
