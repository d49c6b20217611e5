"""The ``sointu`` command: thin click commands that parse, call one library function, report.

Every command module registers its commands on :data:`group`. :func:`main` turns sointu's
own errors and click's usage errors into one line on stderr and a non-zero exit, and
Ctrl-C into exit code 130, never a traceback. Anything else is a bug: one line
(``sointu: internal error: ...; details in FILE``) and exit code 70, the details (traceback,
versions, the command line) in a report file in the cache folder (that of the gain cache,
else the temporary folder). If ``SOINTU_CRASH_LOG`` names a file, the report's path is also
appended to it (the test suite fails any test that makes a report it did not expect).
Partial output is already gone by then: the atomic writer removes it on any exception.
"""

from __future__ import annotations

import os
import sys

# One BLAS thread: the engine's matrix products are small, and a second BLAS thread only
# fights the file encoder (or the audio thread) for the other core; under load a
# multithreaded OpenBLAS was measured 4x slower here. Must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click

from .. import __version__
from ..crash_report import report_internal_error
from ..errors import SointuError

__all__ = ["main", "group"]

_NoArgsIsHelp = getattr(click.exceptions, "NoArgsIsHelpError", ())


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 96})
@click.version_option(__version__, "--version", prog_name="sointu", message="%(prog)s %(version)s")
def group() -> None:
    """Compose, render and play sound-relaxation sessions of singing bowls, gongs and chimes.

    \b
    Example:
      sointu instruments
      sointu strike universal -o bowl.wav
    """


def _tune_malloc() -> None:
    """Make glibc's malloc keep the render's megabyte blocks instead of remapping them.

    The render's threads pass 1-2 MB arrays between them. By default glibc maps each such
    allocation afresh (page faults: up to 3-4 s of system time for a 60-minute render once
    its threads shared an arena) and gives every thread an arena of its own (how those
    fragmented moved a render's peak memory by up to 9 MB from run to run, more for longer
    renders). One arena, mapping only above 16 MB and returning memory to the system only
    above 64 MB free: 0.6 s of system time, and a peak of 73-76 MB for 1 or 3 hours.
    Elsewhere than glibc this does nothing.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    for option, value in ((-8, 1),            # M_ARENA_MAX
                          (-3, 16 << 20),     # M_MMAP_THRESHOLD
                          (-1, 64 << 20)):    # M_TRIM_THRESHOLD
        mallopt(option, value)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script."""
    _tune_malloc()  # before any thread allocates
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _register()
        # not group.main(): on Ctrl-C it prints an empty line before we can say anything
        with group.make_context("sointu", args) as ctx:
            rv = group.invoke(ctx)
    except click.exceptions.Exit as exc:  # --help, --version
        sys.exit(exc.exit_code)
    except SointuError as exc:
        _fail(str(exc), exc.exit_code)
    except _NoArgsIsHelp as exc:  # click >= 8.2: called with no arguments
        click.echo(exc.ctx.get_help() if exc.ctx else "", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        _fail("interrupted", 130)
    except click.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None and ctx.parent is not None else ""
        _fail(where + exc.format_message(), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # a bug: one line here, the details in a report
        _internal_error(exc, args)
    if isinstance(rv, int) and rv:
        sys.exit(rv)


def _fail(message: str, code: int) -> None:
    click.echo(f"sointu: error: {' '.join(message.split())}", err=True)
    sys.exit(code)


#: Exit code of an internal error (EX_SOFTWARE of sysexits.h).
INTERNAL_ERROR_EXIT = 70


def _internal_error(exc: Exception, args: list[str]) -> None:
    """Report an unexpected exception: one line on stderr, the details in a file; exit 70."""
    click.echo(f"sointu: internal error: {report_internal_error(exc, args)}", err=True)
    sys.exit(INTERNAL_ERROR_EXIT)


_registered = False


def _register() -> None:
    """Import the command modules (each adds its commands to :data:`group`)."""
    global _registered
    if _registered:
        return
    import importlib

    for name in ("instruments", "sessions", "render", "live", "delivery", "analyse",
                 "studio"):
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    _registered = True
