"""The batch runner: one worker process per gift, at most ``jobs`` at a time, resumable.

Every row is tried even when some fail, the manifest is rewritten atomically as gifts finish,
and Ctrl-C, SIGTERM or SIGHUP stop the batch cleanly (the workers are interrupted once,
their temporary files removed, finished gifts kept). What counts as a finished gift on
resume: :func:`gift_file_problem`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import wait
from pathlib import Path

from ..errors import SointuError
from ..rendering.atomic import remove_temps_of
from ..rendering.formats import resolve_format
from ..rendering.markers import sidecar_paths
from ..signals import ignoring, quiet_worker, raise_on_sigterm
from .clients import Gift
from .manifest import MANIFEST_NAME, read_manifest, write_manifest
from .titles import comment_mix

__all__ = ["GiftResult", "BatchResult", "gift_file_problem", "run_batch"]


@dataclass(frozen=True)
class GiftResult:
    """What rendering one gift measured (returned by the ``render_one`` callable)."""

    loudness_lufs: float
    true_peak_dbtp: float
    bytes: int = 0
    wall_s: float = 0.0


@dataclass
class BatchResult:
    """What a batch did.

    Attributes
    ----------
    rendered, skipped : list of Gift
        Written now / already there.
    failed : list of (Gift, str)
        With the one-line reason.
    not_started : list of Gift
        Left for a later run (after a failure).
    manifest : Path
    """

    rendered: list
    skipped: list
    failed: list
    not_started: list
    manifest: Path


class _QuietHelpers:
    """Registered with :func:`multiprocessing.util.register_after_fork` in a worker: the
    processes the render forks to measure loudness ignore Ctrl-C (the worker stops them)
    and die quietly on SIGTERM instead of printing a traceback."""

    @staticmethod
    def reset(_obj) -> None:
        quiet_worker()


_QUIET_HELPERS = _QuietHelpers()
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def _identity(path: Path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mtime_ns


class _Interrupt:
    """A worker's SIGINT handler: raise KeyboardInterrupt once, unless the gift's file is
    already in place (then the render is only finishing, and its result must reach the
    parent: the interrupt is dropped)."""

    def __init__(self, path: Path):
        self.path = path
        self.before = _identity(path)
        self.done = False

    def __call__(self, signum, frame):
        if self.done:
            return
        self.done = True
        now = _identity(self.path)
        if now is not None and now != self.before:
            return
        raise KeyboardInterrupt


def _child(render_one, gift: Gift, conn) -> None:
    """Worker process: render one gift, send ("ok", GiftResult) or ("error", line)."""
    # The handler raises once, so the cleanup of the temporary file is never cut short.
    # Its own process group: Ctrl-C in a terminal reaches only the parent, which passes it on
    # once (and can kill the worker with its helpers as a last resort).
    os.setpgid(0, 0)
    quiet_worker(on_ctrl_c=_Interrupt(gift.path))
    multiprocessing.util.register_after_fork(_QUIET_HELPERS, _QuietHelpers.reset)
    try:
        # Blocked by the parent while it forked: a Ctrl-C that came meanwhile is delivered
        # the moment it is unblocked, so this must happen inside the try.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        try:
            msg = ("ok", render_one(gift))
        except SointuError as exc:
            msg = ("error", " ".join(str(exc).split()))
        except Exception as exc:  # reported as one line by the parent; the batch stops
            msg = ("error", f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        quiet_worker()  # from now on Ctrl-C is the parent's: the result must reach it
    except KeyboardInterrupt:
        sys.exit(130)
    conn.send(msg)
    conn.close()


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _remove_stale_sidecars(path: Path) -> None:
    """Remove the cue sheet and chapter list of a gift whose audio file was deleted.

    They are written together with the audio and describe only it; left behind they would
    stop the gift from being rendered again (renders never overwrite), and the new render
    writes them again identically.
    """
    if path.exists() or path.is_symlink():
        return
    for side in sidecar_paths(path):
        if side.is_file() and not side.is_symlink():
            side.unlink()


def gift_file_problem(gift: Gift, *, preset_name: str, frames: int, sample_rate: int,
                      bit_depth=None, quality=None, mix: str | None = None) -> str | None:
    """Why the file at ``gift.path`` does not count as this gift, or None when it does.

    A finished gift is a regular file that libsndfile opens, in the planned format (major
    format and subtype: the codec, or the bit depth of WAV and FLAC), at the planned sample
    rate, in stereo, exactly ``frames`` frames long with its last second decodable (a file
    cut short is not finished), and whose tags name this gift: its title, and the preset
    and seed (and, given ``mix``, that mix) in its comment.

    Parameters
    ----------
    gift : Gift
        The plan (title, seed, path).
    preset_name : str
        The session preset's name (``classic-60``).
    frames : int
        Planned length (frames).
    sample_rate : int
        Hz.
    bit_depth, quality
        As given to the batch (see :func:`sointu.rendering.formats.resolve_format`).
    mix : str, optional
        The mix the batch makes, ``headphones`` or ``speakers`` (a file of the other mix is
        not this gift); None: not checked.

    Returns
    -------
    str or None
        A short reason ("its seed is not 123"), or None.
    """
    import soundfile as sf

    path = gift.path
    if path.is_symlink() or not path.is_file():
        return "it is not a regular file"
    if path.stat().st_size == 0:
        return "it is empty (0 bytes)"
    fmt = resolve_format(path, bit_depth=bit_depth, quality=quality, sample_rate=sample_rate,
                         frames=frames)
    try:
        with sf.SoundFile(path) as f:
            kind = (f.format, f.subtype)
            rate, channels, length = f.samplerate, f.channels, f.frames
            meta = f.copy_metadata()
            tail = min(length, rate)
            got = tail
            if length == frames and tail:
                f.seek(length - tail)
                got = len(f.read(tail, dtype="float32"))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        return f"it cannot be read as audio ({' '.join(str(exc).split())})"
    if kind != (fmt.format, fmt.subtype):
        return f"it is {kind[0]} {kind[1]}, planned {fmt.format} {fmt.subtype}"
    if (rate, channels) != (sample_rate, 2):
        return f"it is {channels} channels at {rate} Hz, planned 2 at {sample_rate} Hz"
    if length != frames:
        return f"it is {length} frames long, planned {frames}"
    if got != tail:
        return "it is cut short (its end does not decode)"
    title = meta.get("title", "")
    if title != gift.title:
        return f"its title is {title!r}, planned {gift.title!r}"
    comment = meta.get("comment", "")
    if not re.search(rf"(?<![0-9]){gift.seed}(?![0-9])", comment):
        return f"its seed is not {gift.seed}"
    if not re.search(rf"(?<![\w-]){re.escape(preset_name)}(?![\w-])", comment):
        return f"it is not of preset {preset_name}"
    named = comment_mix(comment)
    if mix is not None and named != mix:
        return f"it is the {named or 'unnamed'} mix, planned {mix}"
    return None


def run_batch(gifts: Sequence[Gift], render_one: Callable[[Gift], GiftResult], folder, *,
              jobs: int = 2, force: bool = False,
              report: Callable[[str, Gift, object], None] | None = None,
              stop_timeout_s: float = 10.0,
              check: Callable[[Gift], str | None] | None = None,
              prepare: Callable[[], None] | None = None) -> BatchResult:
    """Render many gifts in worker processes; resumable, with a manifest kept up to date.

    A gift whose file exists is skipped when it counts as finished (``check``, e.g.
    :func:`gift_file_problem`; files only ever appear complete: renders write a temporary
    file and rename it); otherwise it is rendered again with ``redo`` set, and the old
    file is replaced only when the new one is complete. ``force`` renders every gift again.
    The ``.cue`` and ``.chapters.json`` files left beside a deleted gift are removed before
    it is rendered again.

    A gift that fails does not stop the others: every row is tried, the failed ones are
    returned (and listed in the manifest with status ``failed`` and the reason).
    ``folder/manifest.csv`` is written at the start and rewritten atomically whenever a
    gift is done; it lists every gift of the batch that is finished or failed, rows of
    skipped files kept from the previous manifest, and rows of other files in the folder
    that the previous manifest listed.

    Parameters
    ----------
    gifts : sequence of Gift
        From :func:`plan_gifts` (files inside ``folder``).
    render_one : callable
        ``render_one(gift) -> GiftResult``, run in a worker process (a module-level
        function where ``fork`` is unavailable). It must write ``gift.path`` atomically,
        replacing an existing file when ``gift.redo``.
    folder : path
        The batch folder (exists).
    jobs : int
        Worker processes at a time (>= 1; never more than there are gifts to render).
    force : bool
        Render gifts whose file exists again (the render replaces it).
    report : callable, optional
        ``report(event, gift, detail)`` in this process, event ``"skipped"`` (detail None),
        ``"redo"`` (why the file there does not count), ``"rendered"`` (GiftResult) or
        ``"failed"`` (one-line reason).
    stop_timeout_s : float
        On an interrupt, how long (s) workers get to clean up before they and their helper
        processes are killed (their temporary files are then removed here).
    check : callable, optional
        ``check(gift) -> reason or None`` for a gift whose file exists; None counts it as
        finished. Default: any existing file counts.
    prepare : callable, optional
        Called once before the first worker starts (not at all when every gift is there).

    Returns
    -------
    BatchResult

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, SIGTERM or SIGHUP (as :class:`~sointu.rendering.atomic.Terminated`), after
        the workers stopped, their temporary files are gone and the manifest lists what is
        done.
    UsageError
        An existing ``manifest.csv`` that is not sointu's.
    """
    folder = Path(folder)
    manifest = folder / MANIFEST_NAME
    old = read_manifest(manifest)
    report = report or (lambda event, gift, detail: None)
    gifts = list(gifts)
    state: dict[int, str] = {}
    results: dict[int, GiftResult] = {}
    failed: list = []
    reasons: dict[int, str] = {}
    todo: list[int] = []
    for i, g in enumerate(gifts):
        there = g.path.exists() or g.path.is_symlink()
        problem = check(g) if there and not force and check is not None else None
        if there and not force and problem is None:
            state[i] = "skipped"
            report("skipped", g, None)
            continue
        if problem is not None:
            gifts[i] = g = replace(g, redo=True)
            reasons[i] = f"not finished: {problem}"
            report("redo", g, problem)
        state[i] = "pending"
        todo.append(i)

    measured: dict[int, tuple[str, str]] = {}

    def rows() -> list[dict]:
        out, names = [], set()
        for i, g in enumerate(gifts):
            names.add(g.path.name)
            if state[i] == "rendered":
                r = results[i]
                out.append(_row(g, "rendered", f"{r.loudness_lufs:.2f}",
                                f"{r.true_peak_dbtp:.2f}"))
            elif state[i] == "failed":
                out.append(_row(g, "failed", "", "", reasons[i]))
            elif g.redo:  # the file there is not this gift (yet)
                out.append(_row(g, "pending", "", "", reasons[i]))
            elif g.path.is_file():
                status = "skipped" if state[i] == "skipped" else "rendered"
                if old.get(g.path.name, {}).get("loudness_lufs"):
                    out.append({**old[g.path.name], "status": status, "note": ""})
                else:
                    # complete, but its worker was stopped before it reported: measure it
                    if i not in measured:
                        measured[i] = _measure_file(g.path)
                    out.append(_row(g, status, *measured[i]))
        for name, row in old.items():
            if name not in names and (folder / name).is_file():
                out.append(row)
        return out

    write_manifest(manifest, rows())
    if todo and prepare is not None:
        prepare()
    jobs = max(1, min(int(jobs), len(todo) or 1))
    ctx = _context()
    running: dict[int, tuple] = {}  # gift index -> (process, connection)
    queue = list(todo)
    try:
        with raise_on_sigterm():
            while queue or running:
                while queue and len(running) < jobs:
                    i = queue.pop(0)
                    _remove_stale_sidecars(gifts[i].path)
                    receiver, sender = ctx.Pipe(duplex=False)
                    proc = ctx.Process(target=_child, args=(render_one, gifts[i], sender),
                                       name=f"sointu-gift-{i}")
                    # no interrupt between starting a worker and knowing it (so it is
                    # always stopped); the worker unblocks once its handlers are set
                    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
                    try:
                        proc.start()
                        running[i] = (proc, receiver)
                        state[i] = "running"
                    finally:
                        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
                    sender.close()
                if not running:
                    break
                ready = wait([c for _, c in running.values()] +
                             [p.sentinel for p, _ in running.values()])
                for i in [i for i, (p, c) in running.items() if c in ready or
                          p.sentinel in ready]:
                    proc, conn = running.pop(i)
                    msg = _receive(conn)
                    proc.join()
                    conn.close()
                    if msg is None:
                        msg = ("error", f"the worker stopped with exit code {proc.exitcode}")
                    if msg[0] == "ok":
                        state[i], results[i] = "rendered", msg[1]
                        write_manifest(manifest, rows())
                        report("rendered", gifts[i], msg[1])
                    else:
                        state[i] = "failed"
                        reasons[i] = msg[1]
                        failed.append((gifts[i], msg[1]))
                        remove_temps_of(folder, proc.pid)
                        write_manifest(manifest, rows())
                        report("failed", gifts[i], msg[1])
    except KeyboardInterrupt:
        with ignoring("SIGINT"):
            _stop_workers(folder, running, results, state, stop_timeout_s)
            write_manifest(manifest, rows())
        raise
    return BatchResult(rendered=[gifts[i] for i in sorted(results)],
                       skipped=[g for i, g in enumerate(gifts) if state[i] == "skipped"],
                       failed=failed, not_started=[gifts[i] for i in queue],
                       manifest=manifest)


def _row(g: Gift, status: str, loudness: str, peak: str, note: str = "") -> dict:
    return {"file": g.path.name, "recipient": g.recipient, "seed": str(g.seed),
            "title": g.title, "loudness_lufs": loudness, "true_peak_dbtp": peak,
            "status": status, "note": note}


def _receive(conn):
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        return None


def _stop_workers(folder: Path, running: dict, results: dict, state: dict,
                  timeout_s: float) -> None:
    """Interrupt every worker once, wait, kill stragglers, keep results that arrived."""
    for proc, _ in running.values():
        if proc.is_alive():
            try:
                os.kill(proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout_s
    for i, (proc, conn) in running.items():
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():  # last resort: the worker and its measuring helpers
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            proc.join()
        msg = _receive(conn)
        conn.close()
        if msg is not None and msg[0] == "ok":
            state[i], results[i] = "rendered", msg[1]
        else:
            state[i] = "stopped"
        remove_temps_of(folder, proc.pid)
    running.clear()



def _measure_file(path: Path) -> tuple[str, str]:
    """Integrated loudness and true peak of an audio file, as manifest text ("" if unread)."""
    import soundfile as sf

    from ..rendering.loudness import LoudnessMeter

    try:
        with sf.SoundFile(path) as f:
            meter = LoudnessMeter(f.samplerate, f.channels)
            for block in f.blocks(65536, dtype="float32"):
                meter.process(block.reshape(len(block), -1))
        loud = meter.result()
    except Exception:  # a file we cannot read keeps blank figures rather than stopping
        return "", ""
    return f"{loud.integrated_lufs:.2f}", f"{loud.true_peak_dbtp:.2f}"
