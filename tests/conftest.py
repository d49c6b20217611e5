"""Shared rendering fixtures for the engine tests: dry, centred, seeded renders, cached so
that several measurements of the same stroke render it once."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# as the CLI does (sointu/cli/__init__.py): a second BLAS thread makes the engine's small
# matrix products many times slower on a busy machine; set before numpy is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np
import pytest

from audio_measure import dry_piece, render_all
from sointu.engine.library import load_instrument


@lru_cache(maxsize=64)
def _strike(name: str, seconds: float, t0: float, velocity: float, mallet: str,
            position_deg: float, seed: int, sample_rate: int) -> np.ndarray:
    pc = dry_piece(sample_rate)
    pc.add_instrument("x", load_instrument(name))
    pc.strike("x", t0, velocity=velocity, mallet=mallet, position_deg=position_deg,
              rng=np.random.default_rng(seed))
    x = render_all(pc, seconds)
    x.setflags(write=False)
    return x


@pytest.fixture(scope="session")
def strike_render():
    """render(name, seconds, t0=0.1, velocity=1.0, mallet='medium', position_deg=0.0, seed=1,
    sample_rate=48000) -> float32 (n, 2), read-only: one stroke on a shipped instrument."""

    def render(name: str, seconds: float, *, t0: float = 0.1, velocity: float = 1.0,
               mallet: str = "medium", position_deg: float = 0.0, seed: int = 1,
               sample_rate: int = 48000) -> np.ndarray:
        return _strike(name, float(seconds), float(t0), float(velocity), mallet,
                       float(position_deg), int(seed), int(sample_rate))

    return render


# -- no test may reach the CLI's internal-error path unless it says so ---------------------
# Every `sointu` this suite runs (in-process or as a subprocess: they inherit the variable)
# appends the path of any internal-error report it writes to this file; a test that made
# one fails, unless it asked for the `internal_errors` fixture.

_CRASH_LOG = Path(tempfile.mkdtemp(prefix="sointu-test-crashes-")) / "crashes.log"
atexit.register(shutil.rmtree, _CRASH_LOG.parent, True)
os.environ["SOINTU_CRASH_LOG"] = str(_CRASH_LOG)


def _crash_lines() -> list[str]:
    try:
        return _CRASH_LOG.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return []


@pytest.fixture(autouse=True)
def _no_internal_errors(request):
    os.environ["SOINTU_CRASH_LOG"] = str(_CRASH_LOG)  # even if a test removed it
    before = len(_crash_lines())
    yield
    new = _crash_lines()[before:]
    if new and "internal_errors" not in request.fixturenames:
        pytest.fail("the CLI reported an internal error (a bug reached main):\n"
                    + "\n".join(new), pytrace=False)


@pytest.fixture
def internal_errors():
    """The internal errors (report path, one-line message) the test's CLI calls made."""
    start = len(_crash_lines())
    return lambda: [tuple(line.split("\t", 1)) for line in _crash_lines()[start:]]


@pytest.fixture
def studio_client(tmp_path):
    """A function ``(port, secret) -> (Flask test client, base URL)`` of a studio on a fresh
    folder, its cookie set (the studio checks the port it was started for)."""
    from sointu.studio import create_app
    from sointu.studio.guard import cookie_name

    def make(port: int, secret: str):
        client = create_app(tmp_path, secret, port=port).test_client()
        client.set_cookie(cookie_name(port), secret, domain="127.0.0.1")
        return client, f"http://127.0.0.1:{port}"

    return make
