"""A function run in a forked process while the caller goes on; its value comes back by pipe.

Used where a second core saves time the user waits: the render's gain estimate while the
encoder is imported, live playback's loudness measurement while it plays, and the picture of
``render --plot`` drawn while the audio is synthesised. Without ``fork``, or if the process
fails, the caller gets None and decides.

A process started ``idle`` runs only on what the machine leaves over (Linux ``SCHED_IDLE``,
else nice 19), so that it never takes a core from the work it runs beside; :meth:`hurry`
gives it back the caller's priority once the caller is waiting for it (where the system
allows raising a priority again; else the caller decides: :meth:`Background.hurry`). A
machine with no core to spare starves an idle process; given ``idle_s``, the child takes the
caller's priority back by itself after that long, so that what it has not done by then is
done beside the caller's work rather than after it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable

from .signals import quiet_worker

__all__ = ["Background"]


class Background:
    """Run ``fn(*args)`` in a forked process.

    Parameters
    ----------
    fn : callable
        Runs in the child (Ctrl-C ignored there: it is the parent's to handle; SIGTERM
        unwinds it, so its ``finally`` blocks remove what it half-wrote). Its return value
        must be picklable; an exception in it gives None.
    *args
        Handed to ``fn`` (copied by the fork, not pickled).
    name : str
        Process name.
    inbox : bool
        Also hand ``fn`` a first argument: a function that waits for the next message the
        caller sends (:meth:`send`), raising EOFError if the caller went away.
    idle : bool
        Run at the lowest priority (see the module notes).
    idle_s : float, optional
        With ``idle``: run at the lowest priority for at most this long (s, from the
        start), then at the caller's (where the system allows it).
    """

    def __init__(self, fn: Callable, *args, name: str = "sointu-background",
                 inbox: bool = False, idle: bool = False, idle_s: float | None = None):
        self._process = self._conn = None
        self._senders: list[threading.Thread] = []
        if "fork" not in multiprocessing.get_all_start_methods():
            return
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe(duplex=inbox)
        self._process = ctx.Process(target=_child, args=(fn, args, child, inbox, idle, idle_s),
                                    daemon=True, name=name)
        self._process.start()
        child.close()

    @property
    def started(self) -> bool:
        """Whether a process was started (False where ``fork`` is not available)."""
        return self._process is not None

    def send(self, message) -> bool:
        """Hand ``message`` (picklable) to the child's inbox without waiting for the child to
        read it; False if there is no child.

        A pipe holds 64 kB until the child reads it (a 60-minute loudness curve is 290 kB),
        and an idle child may be busy for a second first: a thread writes it, so the caller
        goes on at once (the time measured with the writing done here, a cached re-render:
        0.37 s of the render's main thread blocked on the pipe).
        """
        if self._conn is None:
            return False
        sender = threading.Thread(target=self._write, args=(self._conn, message), daemon=True,
                                  name="sointu-background-send")
        sender.start()
        self._senders.append(sender)
        return True

    @staticmethod
    def _write(conn, message) -> None:
        try:
            conn.send(message)
        except (OSError, ValueError):  # the child went away (it answers nothing then)
            pass

    def done(self) -> bool:
        """Whether the value is there (True when nothing is pending)."""
        return self._conn is None or self._conn.poll()

    def hurry(self) -> bool:
        """Give the child the caller's priority again; False where the system does not let
        an unprivileged process raise one (the child keeps running, at idle priority)."""
        if self._process is None or self._process.pid is None:
            return False
        return _priority_to(self._process.pid, os.getpriority(os.PRIO_PROCESS, 0))

    def result(self, timeout: float | None = None):
        """The value, waiting for it (at most ``timeout`` s: None on time-out, the child is
        then stopped); None if the process failed or was never started."""
        if self._conn is None:
            return None
        value = None
        try:
            if timeout is None or self._conn.poll(timeout):
                value = self._conn.recv()
        except (EOFError, OSError):
            value = None
        self.close()
        return value

    def close(self) -> None:
        """Stop the process if it is still running."""
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(timeout=2)
            self._process = None
        for sender in self._senders:  # ends once the child has read or is gone
            sender.join(timeout=2)
        self._senders = []
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _priority_to(task: int, nice: int) -> bool:
    """Give process or thread ``task`` the normal policy at nice value ``nice``; False where
    the system does not allow it (an unprivileged process raising a priority)."""
    try:
        if hasattr(os, "SCHED_IDLE"):
            os.sched_setscheduler(task, os.SCHED_OTHER, os.sched_param(0))
        os.setpriority(os.PRIO_PROCESS, task, nice)
    except (OSError, AttributeError):
        return False
    return True


def _lowest_priority() -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        try:
            os.nice(19)
        except OSError:
            pass


def _priority_back_after(delay_s: float) -> None:
    """In 'delay_s' seconds, give this thread back the priority it has now.

    A timer thread started before this one lowers its own priority (Linux sets a policy and
    a nice value per thread), so it wakes at the priority it was started with, however busy
    the machine is.
    """
    tid = threading.get_native_id()
    nice = os.getpriority(os.PRIO_PROCESS, 0)

    timer = threading.Timer(delay_s, _priority_to, (tid, nice))  # not allowed: stays idle
    timer.daemon = True
    timer.start()


def _child(fn: Callable, args: tuple, conn, inbox: bool, idle: bool,
           idle_s: float | None) -> None:
    # terminated: unwind, so that a file being written is removed by its finally block
    quiet_worker(unwind=True)
    if idle:
        if idle_s is not None:
            _priority_back_after(idle_s)
        _lowest_priority()
    try:
        value = fn(conn.recv, *args) if inbox else fn(*args)
    except (EOFError, OSError):  # the parent went away
        return
    except Exception:  # the caller copes without it
        value = None
    try:
        conn.send(value)
    except OSError:
        pass
    finally:
        conn.close()
