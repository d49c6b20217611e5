"""Background work of the studio (renders, gifts): threads with progress, polled by the page.

A job has ``items`` (one per file it makes, each with its own progress), a state
(``running``, ``done``, ``failed``) and the names of the files it wrote in ``DIR/renders``.
:meth:`Jobs.stop` asks every running job to stop (its progress callback raises) and waits a
little, so a stopped studio leaves no half-written file (the writer removes it).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Jobs", "Job", "Item", "Stopped"]


#: An item's states that count as finished: made now, or already there (``skipped``).
FINISHED = ("done", "skipped")


class Stopped(Exception):
    """Raised from a job's progress callback when the studio stops."""


@dataclass
class Item:
    """One file a job makes."""

    label: str
    state: str = "waiting"
    progress: float = 0.0
    file: str | None = None
    error: str | None = None
    info: dict | None = None

    def view(self) -> dict:
        return {"label": self.label, "state": self.state, "progress": round(self.progress, 4),
                "file": self.file, "error": self.error, "info": self.info}


@dataclass
class Job:
    """A running or finished job (see :meth:`view`)."""

    id: str
    kind: str
    items: list[Item] = field(default_factory=list)
    state: str = "running"
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    #: A clients batch's manifest (a file name in renders/), once written.
    manifest: str | None = None

    def view(self) -> dict:
        n = max(1, len(self.items))
        progress = 1.0 if self.state == "done" else sum(i.progress for i in self.items) / n
        return {"id": self.id, "kind": self.kind, "state": self.state,
                "progress": round(min(1.0, progress), 4),
                "items": [i.view() for i in self.items],
                "files": [i.file for i in self.items if i.file and i.state in FINISHED],
                "error": self.error, "manifest": self.manifest}

    def progress(self, item: Item, total_frames: int) -> Callable[[int], None]:
        """A render's progress callback for ``item`` (frames done of ``total_frames``)."""
        total = max(1, int(total_frames))

        def report(frames: int) -> None:
            if self.stop.is_set():
                raise Stopped("the studio stopped")
            # never backwards: a render done again (its gain corrected) counts from 0 again
            item.progress = max(item.progress, min(0.999, frames / total))

        return report


class Jobs:
    """The studio's jobs, by id."""

    def __init__(self):
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, kind: str, labels: list[str], work: Callable[[Job], None]) -> Job:
        """Run ``work(job)`` in a thread; its exceptions make the job ``failed``."""
        with self._lock:
            job = Job(id=str(next(self._ids)), kind=kind, items=[Item(x) for x in labels])
            self._jobs[job.id] = job

        def run():
            from ..errors import SointuError

            try:
                work(job)
            except Stopped:
                job.error = "stopped: the studio was stopped"
            except SointuError as exc:
                job.error = " ".join(str(exc).split())
            except Exception as exc:  # a bug: one line to the page, not a hung job
                job.error = f"internal error: {type(exc).__name__}: {exc}"[:300]
            if job.error is None and all(i.state in FINISHED for i in job.items):
                job.state = "done"
            else:
                job.state = "failed"
                if job.error is None:
                    failed = [i for i in job.items if i.state == "failed"]
                    job.error = (f"{len(failed)} of {len(job.items)} failed: "
                                 + "; ".join(f"{i.label}: {i.error}" for i in failed))[:500]
                for i in job.items:
                    if i.state in ("waiting", "running"):
                        i.state = "failed"
                        i.error = i.error or job.error

        job.thread = threading.Thread(target=run, name=f"sointu-studio-job-{job.id}",
                                      daemon=True)
        job.thread.start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def stop(self, wait_s: float = 10.0) -> None:
        """Ask every running job to stop and wait up to ``wait_s`` for them."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.state == "running"]
        for j in running:
            j.stop.set()
        end = time.monotonic() + wait_s
        for j in running:
            if j.thread is not None:
                j.thread.join(max(0.0, end - time.monotonic()))
