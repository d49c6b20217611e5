"""A bug's report: the details of an unexpected exception written to a file, and the one
line that says what happened and where the details are (the command line's ``sointu:
internal error: ...`` and the studio's answer to a request that hit a bug).

The report (traceback, versions, the command line) goes to the cache folder (that of the
gain cache), else the temporary folder. If ``SOINTU_CRASH_LOG`` names a file, the report's
path is also appended to it (the test suite fails any test that makes a report it did not
expect).
"""

from __future__ import annotations

import os
import sys

from . import __version__

__all__ = ["report_internal_error"]


def report_internal_error(exc: Exception, args: list[str]) -> str:
    """Write the details of a bug to a report file (and its path to ``SOINTU_CRASH_LOG``, if
    set); return the one line to show: what happened and where the details are."""
    what = " ".join(f"{type(exc).__name__}: {exc}".split())
    if len(what) > 160:
        what = what[:157] + "..."
    report, problem = _write_report(exc, args)
    where = f"details in {report}" if report else f"no report written ({problem})"
    log = os.environ.get("SOINTU_CRASH_LOG")
    if log:
        try:
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"{report or problem}\t{what}\n")
        except OSError:
            pass
    return f"{what}; {where}"


def _report_text(exc: Exception, args: list[str]) -> str:
    import platform
    import shlex
    import time
    import traceback

    numpy = sys.modules.get("numpy")
    lines = [
        "sointu internal error report",
        f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        f"command: {shlex.join(['sointu', *args])}",
        f"sointu: {__version__}",
        f"python: {' '.join(sys.version.split())} ({sys.executable})",
        f"numpy: {getattr(numpy, '__version__', 'not imported')}",
        f"platform: {platform.platform()}",
        "",
    ]
    return "\n".join(lines) + "".join(traceback.format_exception(exc))


def _write_report(exc: Exception, args: list[str]) -> tuple[str | None, str]:
    """Write the report to the cache folder, else the temporary folder: (path, problem)."""
    import tempfile
    import time

    folders = []
    try:
        from .rendering.gain_cache import cache_file

        cache = cache_file()
        if cache is not None:
            folders.append(cache.parent)
    except Exception:  # the report must not fail where the bug is
        pass
    folders.append(tempfile.gettempdir())
    try:
        text = _report_text(exc, args)
    except Exception as inner:
        text = f"sointu internal error report\n{type(exc).__name__}: {exc}\n({inner!r})\n"
    name = f"sointu-internal-error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    problem = "no folder to write it to"
    for folder in folders:
        path = os.path.join(str(folder), name)
        try:
            os.makedirs(folder, exist_ok=True)
            with open(path, "x", encoding="utf-8") as f:
                f.write(text)
            return path, ""
        except OSError as err:
            problem = f"{path}: {err.strerror or err}"
    return None, problem
