"""The picture of ``render --plot`` drawn in a forked process at idle priority.

Checked on real processes: the child's scheduling policy and nice value as the kernel reports
them, that the caller can give it its priority back, that a child that does not answer is
stopped, and that a picture drawn in the render's own process (the fall-back) has the same
bytes as the one the child draws.
"""

from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("matplotlib")

from sointu import background  # noqa: E402
from sointu.background import Background  # noqa: E402
from sointu.pictures import job as job_module  # noqa: E402
from sointu.pictures.job import GRACE_S, SessionPlotJob  # noqa: E402
from sointu.session.audio import SessionAudio  # noqa: E402

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _priority():
    policy = os.sched_getscheduler(0) if hasattr(os, "sched_getscheduler") else None
    return policy, os.getpriority(os.PRIO_PROCESS, 0)


def _priority_after_message(inbox):
    inbox()  # the caller has hurried it by now
    return _priority()


def test_an_idle_child_runs_at_the_lowest_priority():
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    policy, nice = Background(_priority, idle=True).result()
    assert policy == getattr(os, "SCHED_IDLE", None) or nice == 19
    # and without idle, the caller's own
    assert Background(_priority).result()[1] == mine


def test_hurry_gives_the_child_the_callers_priority():
    job = Background(_priority_after_message, inbox=True, idle=True)
    time.sleep(0.2)  # the child has made itself idle
    hurried = job.hurry()
    job.send("go")
    policy, nice = job.result()
    if not hurried:
        pytest.skip("this system lets no unprivileged process raise a priority")
    assert policy == getattr(os, "SCHED_OTHER", policy)
    assert nice == os.getpriority(os.PRIO_PROCESS, 0)


def _never_answers(inbox):
    inbox()
    inbox()  # never sent
    return "late"


def test_a_child_that_does_not_answer_in_time_is_stopped():
    job = Background(_never_answers, inbox=True)
    process = job._process
    job.send("first")
    t0 = time.monotonic()
    assert job.result(timeout=0.3) is None
    assert time.monotonic() - t0 < 3.0
    assert not process.is_alive()


def test_without_fork_nothing_starts(monkeypatch):
    monkeypatch.setattr(background.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    job = Background(_priority, idle=True)
    assert not job.started and job.result() is None and not job.hurry()


def _session():
    return SessionAudio.from_preset("classic-60", duration_s=120, seed=3)


def test_a_starved_child_is_replaced_by_drawing_here(tmp_path, monkeypatch):
    audio = _session()
    drawn = SessionPlotJob(tmp_path / "child.png", audio.preset, audio.timeline, -18.0)
    assert drawn.finish(None) == tmp_path / "child.png"
    # a child that cannot be hurried and never answers: the render draws the picture itself
    # after GRACE_S, the same picture, and the child's temporary file is gone
    monkeypatch.setattr(job_module, "_draw", lambda inbox, *args: _never_answers(inbox))
    monkeypatch.setattr(Background, "hurry", lambda self: False)
    stuck = SessionPlotJob(tmp_path / "here.png", audio.preset, audio.timeline, -18.0)
    t0 = time.monotonic()
    assert stuck.finish(None) == tmp_path / "here.png"
    assert GRACE_S <= time.monotonic() - t0 < GRACE_S + 10.0
    assert (tmp_path / "here.png").read_bytes() == (tmp_path / "child.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.png", "here.png"]


def test_a_preforked_child_draws_the_same_picture(tmp_path):
    audio = _session()
    job_module.prefork()  # as `render --plot` does before composing the session
    waiting = job_module._waiting
    assert waiting is not None and waiting.started
    pre = SessionPlotJob(tmp_path / "pre.png", audio.preset, audio.timeline, -18.0)
    assert pre._job is waiting and job_module._waiting is None  # taken, once
    assert pre.finish(None) == tmp_path / "pre.png"
    fresh = SessionPlotJob(tmp_path / "fresh.png", audio.preset, audio.timeline, -18.0)
    assert fresh._job is not waiting
    fresh.finish(None)
    assert (tmp_path / "pre.png").read_bytes() == (tmp_path / "fresh.png").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.png", "pre.png"]


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_on_a_busy_machine_the_child_keeps_the_renders_priority(tmp_path, monkeypatch):
    audio = _session()
    # a busy last minute and others running now; a quiet minute; a busy minute (this
    # user's renders) but nothing else running now
    for load, others, idle in ((99.0, 3, False), (0.0, 3, True), (99.0, 0, True)):
        monkeypatch.setattr(job_module.os, "getloadavg", lambda load=load: (load, load, load))
        monkeypatch.setattr(job_module, "_others_running", lambda others=others: others)
        job = SessionPlotJob(tmp_path / f"{load:g}-{others}.png", audio.preset, audio.timeline,
                             -18.0)
        time.sleep(0.3)  # the child has set its priority
        policy = os.sched_getscheduler(job._job._process.pid)
        assert (policy == os.SCHED_IDLE) == idle, (load, others)
        assert job.finish(None).is_file()


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_others_running_counts_a_busy_process():
    if not os.path.exists("/proc/loadavg"):
        pytest.skip("no /proc/loadavg")
    from sointu.pictures.job import _others_running

    busy = Background(_spin, 1.0)  # runnable all along: running or waiting for a core
    time.sleep(0.2)
    try:
        assert _others_running() >= 1
    finally:
        busy.result()


def _priority_later(wait_s: float):
    time.sleep(wait_s)
    return _priority()


def _can_raise_again() -> bool:
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_an_idle_child_takes_the_callers_priority_back_after_idle_s():
    if not Background(_can_raise_again).result():
        pytest.skip("this system lets no unprivileged process raise a priority")
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    # still at work after idle_s: at the caller's priority again, as the kernel reports it
    policy, nice = Background(_priority_later, 1.0, idle=True, idle_s=0.2).result()
    assert (policy, nice) == (os.SCHED_OTHER, mine)
    # done before idle_s: it was idle all along
    policy, nice = Background(_priority_later, 0.0, idle=True, idle_s=5.0).result()
    assert policy == os.SCHED_IDLE
