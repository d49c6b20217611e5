"""sointu as a package finds its shipped data: checkout, wheel, sdist and zip import.

The sdist and the wheels are built once, from a copy of the checkout (the checkout itself
gets no build/ or egg-info): the sdist plus a wheel built from it, and a wheel built straight
from the tree. .ci/check-installed goes further: it installs them into a fresh virtual
environment outside the checkout and runs the commands from another folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from importlib import resources
from pathlib import Path

import pytest
import soundfile as sf

from sointu import shipped
from sointu.errors import SointuError
from sointu.presets import shipped_dir

ROOT = Path(__file__).resolve().parents[1]
#: Source folder -> where its files go in the wheel.
SHIPPED = {"src/sointu": "sointu", "presets": "sointu/_presets", "samples": "sointu/_samples"}
#: Not copied from the checkout: caches, build output, environments.
JUNK = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__",
                              "*.py[cod]", ".*cache*", ".hypothesis", "out", "results")


def _files(folder: Path) -> list[str]:
    """Files under ``folder`` (relative, '/'-separated), without bytecode."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def _build(source: Path, outdir: Path, *args: str) -> str:
    """Run ``python -m build`` (setuptools from this environment) and return its log."""
    run = subprocess.run([sys.executable, "-m", "build", "--no-isolation", *args,
                          "--outdir", str(outdir), str(source)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout + run.stderr


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """(sdist, wheel built from the sdist, wheel built from the tree, build logs, source copy)."""
    tmp = tmp_path_factory.mktemp("dists")
    source = tmp / "checkout"
    shutil.copytree(ROOT, source, ignore=JUNK)
    log = _build(source, tmp / "from-sdist")  # the sdist, then a wheel from it
    log += _build(source, tmp / "from-tree", "--wheel")
    (sdist,) = (tmp / "from-sdist").glob("sointu-*.tar.gz")
    (wheel,) = (tmp / "from-sdist").glob("sointu-*.whl")
    (tree_wheel,) = (tmp / "from-tree").glob("sointu-*.whl")
    return sdist, wheel, tree_wheel, log, source


def _wheel_contents(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_checkout_finds_shipped_data_through_importlib_resources():
    presets = shipped_dir()
    assert presets == Path(str(resources.files("sointu._presets")))
    assert presets.resolve() == (ROOT / "presets").resolve()
    assert _files(presets) == _files(ROOT / "presets")
    assert shipped.folder("samples").resolve() == (ROOT / "samples").resolve()


def test_a_missing_data_package_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(shipped.PACKAGES, "nothing-here", "sointu._nothing_here")
    with pytest.raises(SointuError, match="shipped nothing-here not found: package "
                                          r"sointu\._nothing_here is missing; reinstall sointu"):
        shipped.folder("nothing-here")


def test_wheel_ships_every_package_preset_and_sample(dists):
    _, wheel, _, _, source = dists
    names = set(_wheel_contents(wheel))
    expected = {f"{dest}/{rel}" for src, dest in SHIPPED.items() for rel in _files(source / src)}
    packaged = {n for n in names if ".dist-info/" not in n}
    assert sorted(expected - packaged) == [], "missing from the wheel (pyproject.toml packages?)"
    assert sorted(packaged - expected) == [], "in the wheel but not in the checkout"
    assert "sointu-0.1.0.dist-info/licenses/LICENSE" in names
    # every session and instrument preset of the checkout
    assert len([n for n in names if n.startswith("sointu/_presets/sessions/")]) >= 5
    assert len([n for n in names if n.startswith("sointu/_presets/instruments/")]) >= 10


def test_build_warns_of_no_data_folder_left_out_of_packages(dists):
    """setuptools still ships a data subfolder not listed in pyproject's packages, but warns
    that it will stop doing so: list it (e.g. "sointu._samples.voices")."""
    absent = sorted(set(re.findall(r"Package '([\w.]+)' is absent from the `packages`", dists[3])))
    assert absent == [], "add to packages in pyproject.toml"


def test_sdist_builds_the_same_wheel_as_the_checkout(dists):
    _, wheel, tree_wheel, _, _ = dists
    from_sdist, from_tree = _wheel_contents(wheel), _wheel_contents(tree_wheel)
    assert sorted(from_sdist) == sorted(from_tree)
    differ = [n for n in from_sdist if from_sdist[n] != from_tree[n]]
    assert differ == []


def test_sdist_holds_readme_licence_docs_presets_and_samples(dists):
    sdist, _, _, _, source = dists
    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    wanted = ["README.md", "LICENSE", "pyproject.toml", "MANIFEST.in", "docs/presets.md"]
    wanted += [f"{src}/{rel}" for src in ("presets", "samples", "docs", "src/sointu")
               for rel in _files(source / src)]
    assert sorted(set(wanted) - names) == []


_ZIP_CHECK = """
import sys
from pathlib import Path
import sointu
from sointu.presets import shipped_dir
from sointu.engine.library import list_instruments, load_instrument
from sointu.session.presets import list_session_presets, load_session_preset

wheel = sys.argv[1]
assert sointu.__file__.startswith(wheel + "/"), sointu.__file__
sessions, instruments = list_session_presets(), list_instruments()
assert sorted(sessions) == sys.argv[2].split(","), sorted(sessions)
assert sorted(instruments) == sys.argv[3].split(","), sorted(instruments)
for name in sessions:
    load_session_preset(name)
for name in instruments:
    load_instrument(name)
print(shipped_dir())
"""


def test_zip_import_finds_every_shipped_preset(dists, tmp_path):
    """The wheel is a zip file: on sys.path, Python imports sointu straight from it."""
    _, wheel, _, _, source = dists
    env = dict(os.environ, PYTHONPATH=str(wheel), SOINTU_CACHE_DIR="")
    sessions = ",".join(sorted(p.stem for p in (source / "presets/sessions").glob("*.toml")))
    instruments = ",".join(sorted(p.stem for p in (source / "presets/instruments").glob("*.toml")))
    run = subprocess.run([sys.executable, "-c", _ZIP_CHECK, str(wheel), sessions, instruments],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    extracted = Path(run.stdout.strip())
    assert not extracted.is_relative_to(ROOT)
    assert not extracted.exists()  # the temporary copy is gone when the process ends

    out = tmp_path / "gift.flac"
    run = subprocess.run([sys.executable, "-m", "sointu", "render", "gift-30", "--duration",
                          "1m", "-o", str(out)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    audio, rate = sf.read(out)
    assert audio.shape == (60 * rate, 2)
    assert abs(audio).max() > 0.1  # sound, not silence
