"""Golden renders: every shipped session preset (20 s, seed 1) and every instrument's stroke
(8 s, seed 3) rendered to 24-bit FLAC the way a user would, decoded and compared with its
stored fingerprint in tests/golden/ (tests/golden_prints.py says what is kept and how close
it must stay). A change of the sound fails here; regenerate on purpose with
tests/golden/regenerate.py (tests/golden/README.md)."""

from __future__ import annotations

import os

import pytest

import golden_prints as gp

CASES = gp.cases()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder for the renders, with an empty loudness-gain cache of its own."""
    root = tmp_path_factory.mktemp("golden")
    before = os.environ.get("SOINTU_CACHE_DIR")
    gp.fresh_cache(root / "cache")
    yield root
    if before is None:
        os.environ.pop("SOINTU_CACHE_DIR", None)
    else:
        os.environ["SOINTU_CACHE_DIR"] = before


def test_every_shipped_preset_and_instrument_has_a_golden_render():
    stored = {p.name for p in gp.GOLDEN_DIR.glob("*.json")}
    wanted = {gp.golden_path(kind, name).name for kind, name in CASES}
    assert len(CASES) >= 16
    assert stored == wanted, (f"missing: {sorted(wanted - stored)}, stale: "
                              f"{sorted(stored - wanted)}; run tests/golden/regenerate.py")


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_render_matches_its_golden_fingerprint(folder, kind, name):
    golden = gp.load(kind, name)
    new = gp.fingerprint(gp.render_case(kind, name, folder))
    assert new["frames"] > 0 and golden["loudness_lufs"] > -70.0
    diffs = gp.differences(golden, new)
    assert not diffs, (f"{kind} {name} sounds different from its golden render "
                       f"(tests/golden/README.md says how to regenerate on purpose):\n  "
                       + "\n  ".join(diffs))


def test_comparison_catches_a_tenth_of_a_db_but_not_the_last_bit(folder):
    """The tolerances: a 0.1 dB level change fails, a random +-1 LSB of 24 bit on every sample
    (far more than the last bits another BLAS changes) passes."""
    import numpy as np
    import soundfile as sf

    source = gp.render_case("strike", "universal", folder)
    x, rate = sf.read(str(source), dtype="float64")
    golden = gp.load("strike", "universal")
    noisy = x + np.random.default_rng(5).integers(-1, 2, x.shape) / 2 ** 23
    louder = x * 10 ** (0.1 / 20)
    for samples, expect_same in ((noisy, True), (louder, False)):
        out = folder / "changed.flac"
        sf.write(str(out), samples, rate, subtype="PCM_24")
        diffs = gp.differences(golden, gp.fingerprint(out))
        assert (not diffs) == expect_same, diffs
