"""Pictures: the session plot, the strike plot and cover art, checked against their data.

What is drawn is counted from the matplotlib artists (each carries a ``gid``), the images
are read back (size, format), the loudness drawn is compared with the file's own loudness
measured here with pyloudnorm, and the covers are read back from the files with mutagen.
"""

from __future__ import annotations

import base64
import os
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("matplotlib")
mutagen = pytest.importorskip("mutagen")
pyloudnorm = pytest.importorskip("pyloudnorm")

from sointu.pictures.cover import gift_lines, session_cover  # noqa: E402
from sointu.pictures.files import save_figure  # noqa: E402
from sointu.pictures.session import session_figure, wave_spans  # noqa: E402
from sointu.pictures.strike import DECAY_LINES, partials_hz, strike_figure  # noqa: E402
from sointu.rendering.cover_art import MAX_COVER_BYTES, image_info  # noqa: E402
from sointu.session.composer import compose  # noqa: E402
from sointu.session.presets import load_session_preset  # noqa: E402

SOINTU = Path(sys.executable).with_name("sointu")


def sointu(*args, cache: Path, check=True, pre: str = "") -> subprocess.CompletedProcess:
    """Run the CLI; ``pre`` is Python run first in the same process (to hide a package)."""
    env = dict(os.environ, SOINTU_CACHE_DIR=str(cache), COLUMNS="100")
    if pre:
        cmd = [sys.executable, "-c", f"{pre}\nfrom sointu.cli import main\nmain()",
               *map(str, args)]
    else:
        cmd = [str(SOINTU), *map(str, args)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"sointu {' '.join(map(str, args))} exited {r.returncode}:\n"
                             f"{r.stderr}")
    return r


def one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode != 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sointu: error:"), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


# -- the session picture ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["classic-60", "gong-bath"])
def test_session_figure_draws_every_stroke_rub_phase_and_wave(name):
    preset = load_session_preset(name)
    tl = compose(preset)
    fig = session_figure(preset, tl)
    score = fig.axes[0]
    drawn = {c.get_gid(): len(c.get_offsets()) for c in score.collections
             if (c.get_gid() or "").startswith("strokes:")}
    strokes = Counter(e.instrument for e in tl.events if e.articulation == "strike")
    assert drawn == {f"strokes:{k}": n for k, n in strokes.items()}
    rubs = Counter(e.instrument for e in tl.events if e.articulation == "rub")
    drawn_rubs = {c.get_gid(): len(c.get_paths()) for c in score.collections
                  if (c.get_gid() or "").startswith("rubs:")}
    assert drawn_rubs == {f"rubs:{k}": n for k, n in rubs.items()}
    bands = [p for p in score.patches if (p.get_gid() or "").startswith("phase:")]
    assert [b.get_gid() for b in bands] == [f"phase:{p.name}" for p in tl.phases]
    for band, ph in zip(bands, tl.phases, strict=True):
        xs = band.get_path().vertices[:, 0]
        x0, x1 = band.get_patch_transform().transform([(xs.min(), 0), (xs.max(), 0)])[:, 0]
        assert x0 == pytest.approx(ph.start_s / 60.0, abs=1e-9)
        assert x1 == pytest.approx(ph.end_s / 60.0, abs=1e-9)
    cues = sum(1 for p in preset.phases for c in p.cues if c.kind == "wave")
    frames = [p for p in score.patches if (p.get_gid() or "").startswith("wave:")]
    assert len(frames) == cues > 0
    # every wave found is a run of the cue's count of strokes on its instrument
    counts = sorted(c.count for p in preset.phases for c in p.cues if c.kind == "wave")
    found = sorted(n for waves in wave_spans(preset, tl).values() for _, _, n in waves)
    assert found == counts


def test_session_figure_follows_seed_and_duration():
    preset = load_session_preset("classic-60")
    tl = compose(preset, seed=9, duration_s=1200)
    fig = session_figure(preset, tl)
    n = sum(len(c.get_offsets()) for c in fig.axes[0].collections
            if (c.get_gid() or "").startswith("strokes:"))
    assert n == sum(1 for e in tl.events if e.articulation == "strike")
    assert fig.axes[0].get_xlim() == pytest.approx((0.0, 20.0))


def test_recordings_lane_when_the_timeline_has_recordings():
    from types import SimpleNamespace

    preset = load_session_preset("classic-60")
    tl = compose(preset, duration_s=600)
    rec = SimpleNamespace(time_s=120.0, duration_s=90.0, name="voice-intro.flac")
    with_rec = SimpleNamespace(**{k: getattr(tl, k) for k in
                                  ("duration_s", "phases", "events", "seed")},
                               recordings=(rec,))
    fig = session_figure(preset, with_rec, lang="en")
    spans = [c for c in fig.axes[0].collections if c.get_gid() == "recordings"]
    assert len(spans) == 1
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "recordings"  # the bottom lane
    # classic-60 is a Finnish session: by default its picture speaks Finnish
    fig = session_figure(preset, with_rec)
    assert fig.axes[0].get_yticklabels()[0].get_text() == "äänitteet"


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"),
                                          (".pdf", b"%PDF")])
def test_saved_pictures_are_valid(tmp_path, suffix, magic):
    preset = load_session_preset("gong-bath")
    fig = session_figure(preset, compose(preset))
    path = save_figure(fig, tmp_path / f"s{suffix}")
    data = path.read_bytes()
    assert data.startswith(magic)
    if suffix == ".png":
        w, h = png_size(data)
        assert w >= 1200 and h >= 600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left


def test_a_failed_save_leaves_nothing(tmp_path):
    preset = load_session_preset("gong-bath")
    fig = session_figure(preset, compose(preset, duration_s=600))

    def broken(target, **kwargs):
        Path(target).write_bytes(b"half a picture")
        raise OSError(28, "No space left on device")

    fig.savefig = broken
    from sointu.errors import OutputError

    with pytest.raises(OutputError, match="No space left"):
        save_figure(fig, tmp_path / "s.png")
    assert list(tmp_path.iterdir()) == []


# -- render --plot: the loudness of the file itself ------------------------------------------

def test_render_plot_draws_the_files_own_loudness(tmp_path, cache):
    from sointu.rendering import gain_cache, loudness_curve
    from sointu.session.audio import SessionAudio

    out = tmp_path / "s.flac"
    r = sointu("render", "classic-60", "--duration", "2m", "--seed", "4", "-o", out, "--plot",
               cache=cache)
    picture = out.with_suffix(".png")
    assert f"picture {picture}" in r.stderr
    w, h = png_size(picture.read_bytes())
    assert w >= 1200 and h >= 600
    x, rate = sf.read(out)
    file_lufs = pyloudnorm.Meter(rate).integrated_loudness(x)
    # the curve drawn is the one the render kept (cached under the render's key)
    os.environ["SOINTU_CACHE_DIR"] = str(cache)
    try:
        audio = SessionAudio.from_preset("classic-60", duration_s=120, seed=4)
        preset = audio.preset
        curve = loudness_curve.get(gain_cache.key(audio, preset.defaults.loudness_lufs, -1.0),
                                   rate)
    finally:
        del os.environ["SOINTU_CACHE_DIR"]
    assert curve is not None
    assert abs(curve.integrated_lufs() - file_lufs) < 0.5
    fig = session_figure(preset, audio.timeline, curve)
    (line,) = [ln for ln in fig.axes[1].lines if ln.get_gid() == "short-term"]
    times, lufs = curve.short_term()
    assert np.array_equal(line.get_xdata(), times / 60.0)
    # short-term loudness of the file (one 3 s block, K-weighted, ungated) measured here
    k = pyloudnorm.Meter(rate, block_size=3.0)
    for i in (300, 600, 900):  # windows ending at 33, 63 and 93 s
        seg = x[i * rate // 10:(i + 30) * rate // 10]
        assert lufs[i] == pytest.approx(k.integrated_loudness(seg), abs=0.2)
    target = [ln for ln in fig.axes[1].lines if ln.get_gid() == "target"]
    assert target and target[0].get_ydata()[0] == preset.defaults.loudness_lufs
    # a second render (gain and curve from the cache) draws the same picture
    out2 = tmp_path / "t.flac"
    sointu("render", "classic-60", "--duration", "2m", "--seed", "4", "-o", out2, "--plot",
           cache=cache)
    assert out2.with_suffix(".png").read_bytes() == picture.read_bytes()


def test_show_plot_writes_the_picture(tmp_path, cache):
    out = tmp_path / "gong.svg"
    r = sointu("show", "gong-bath", "--duration", "3m", "--seed", "2", "--plot", out,
               cache=cache)
    assert out.read_bytes().startswith(b"<?xml")
    assert "gong" in r.stdout


# -- strike --plot --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["universal", "planet-gong-earth"])
def test_strike_figure_marks_every_partial(strike_render, name):
    from sointu.engine.library import load_instrument

    inst = load_instrument(name)
    x = strike_render(name, 8.0)
    fig = strike_figure(inst, x, 48000)
    spec, decay = fig.axes[0], fig.axes[1]
    marks = [ln for ln in spec.lines if (ln.get_gid() or "").startswith("partial:")]
    partials = partials_hz(inst, 48000)
    assert sorted(float(m.get_gid().split(":")[1]) for m in marks) == pytest.approx(
        [f for f, _ in partials], abs=0.01)
    lines = [ln for ln in decay.lines if (ln.get_gid() or "").startswith("decay:")]
    assert len(lines) == min(DECAY_LINES, len(partials))
    # the fundamental's level falls over the stroke: the decay is measured, not drawn flat
    first = min(lines, key=lambda ln: float(ln.get_gid().split(":")[1]))
    y = np.asarray(first.get_ydata())
    t = np.asarray(first.get_xdata())
    assert y[t > 6.0].mean() < y[(t > 0.5) & (t < 1.5)].mean() - 1.0


def test_strike_plot_cli(tmp_path, cache):
    out = tmp_path / "bowl.png"
    sointu("strike", "heart", "--seconds", "5", "--plot", out, cache=cache)
    w, h = png_size(out.read_bytes())
    assert w >= 1200 and h >= 600
    r = sointu("strike", "heart", cache=cache, check=False)
    assert "--plot" in one_error_line(r)
    r = sointu("strike", "heart", "--seconds", "1000", "--plot", tmp_path / "long.png",
               cache=cache, check=False)
    assert "up to 900 s" in one_error_line(r)
    assert not (tmp_path / "long.png").exists()


# -- covers -----------------------------------------------------------------------------------

def read_cover(path: Path) -> bytes:
    if path.suffix == ".flac":
        from mutagen.flac import FLAC

        pics = FLAC(path).pictures
        assert len(pics) == 1 and pics[0].type == 3
        return pics[0].data
    if path.suffix == ".mp3":
        from mutagen.id3 import ID3

        frames = ID3(path).getall("APIC")
        assert len(frames) == 1 and frames[0].type == 3
        return frames[0].data
    from mutagen.flac import Picture
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    f = (OggOpus if path.suffix == ".opus" else OggVorbis)(path)
    (block,) = f["METADATA_BLOCK_PICTURE"]
    return Picture(base64.b64decode(block)).data


@pytest.mark.parametrize("suffix", [".flac", ".mp3", ".ogg", ".opus"])
def test_rendered_files_carry_a_cover(tmp_path, cache, suffix):
    out = tmp_path / f"s{suffix}"
    sointu("render", "gong-bath", "--duration", "40s", "-o", out, cache=cache)
    data = read_cover(out)
    mime, w, h = image_info(data)
    assert mime == "image/png" and w >= 600 and h >= 600
    assert sf.info(str(out)).frames > 0  # still a valid audio file


def test_gift_covers_carry_the_recipients_line(tmp_path, cache):
    covers = {}
    for name in ("Maija", "Aleksander"):
        out = tmp_path / f"{name}.flac"
        sointu("gift", "gift-30", "--duration", "40s", "--for", name, "-o", out, cache=cache)
        covers[name] = read_cover(out)
        assert image_info(covers[name])[1] >= 600
    assert covers["Maija"] != covers["Aleksander"]
    # the recipient's line is the gift title's own ("Maijalle"), whatever rule made it
    assert gift_lines("Sointulahja - Maijalle", "Sointulahja") == ("Sointulahja", "Maijalle")
    assert gift_lines("A gift of sound for Maija", "A gift of sound") == (
        "A gift of sound", "for Maija")
    assert gift_lines("Hyvää joulua, Pekalle", "Sointulahja") == (
        "Hyvää joulua, Pekalle", None)


def test_cover_text_differs_with_the_recipient_and_fits():
    preset = load_session_preset("gift-30")
    tl = compose(preset, duration_s=600)
    a = session_cover(preset, tl, title="Sointulahja", recipient="Maijalle", artist="Äänö Öö")
    b = session_cover(preset, tl, title="Sointulahja", recipient="Jussille", artist="Äänö Öö")
    assert a.data != b.data and (a.width, a.height) == (1000, 1000)
    long = session_cover(preset, tl, title="Sointurentoutus " * 12, recipient="Maijalle")
    assert png_size(long.data) == (1000, 1000)


def test_own_cover_and_no_cover(tmp_path, cache):
    own = tmp_path / "own.png"
    own.write_bytes(session_cover(load_session_preset("gong-bath"),
                                  compose(load_session_preset("gong-bath"), duration_s=600),
                                  title="Oma kansi", size=640).data)
    out = tmp_path / "own.mp3"
    sointu("render", "gong-bath", "--duration", "40s", "-o", out, "--cover", own, cache=cache)
    assert read_cover(out) == own.read_bytes()
    out = tmp_path / "none.flac"
    sointu("render", "gong-bath", "--duration", "40s", "-o", out, "--no-cover", cache=cache)
    from mutagen.flac import FLAC

    assert FLAC(out).pictures == []


def test_library_render_takes_cover_and_plot(tmp_path, cache, monkeypatch):
    import sointu
    from sointu.errors import UsageError

    monkeypatch.setenv("SOINTU_CACHE_DIR", str(cache))
    own = tmp_path / "own.png"
    own.write_bytes(session_cover(load_session_preset("gong-bath"),
                                  compose(load_session_preset("gong-bath"), duration_s=600),
                                  title="Oma kansi", size=640).data)
    drawn = sointu.render("gong-bath", tmp_path / "a.flac", duration="40s", seed=5,
                          plot=True)
    assert drawn.picture == tmp_path / "a.png"
    w, h = png_size(drawn.picture.read_bytes())
    assert w >= 1200 and h >= 600
    assert image_info(read_cover(drawn.path))[0] == "image/png"
    mine = sointu.render("gong-bath", tmp_path / "b.mp3", duration="40s", seed=5, cover=own,
                         plot=tmp_path / "b.svg")
    assert read_cover(mine.path) == own.read_bytes()
    assert mine.picture.read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
    bare = sointu.render("gong-bath", tmp_path / "c.flac", duration="40s", seed=5, cover=False)
    from mutagen.flac import FLAC

    assert FLAC(bare.path).pictures == [] and bare.picture is None
    a, _ = sf.read(drawn.path, dtype="int32")
    c, _ = sf.read(bare.path, dtype="int32")
    assert np.array_equal(a, c)  # a cover and a picture change no sample
    with pytest.raises(UsageError, match="cover=3"):
        sointu.render("gong-bath", tmp_path / "d.flac", duration="40s", cover=3)
    assert not (tmp_path / "d.flac").exists()


# -- bad input: one line, non-zero exit, nothing written ----------------------------------

def test_bad_cover_files(tmp_path, cache):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    big = tmp_path / "big.png"
    with open(big, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x03\x00\x00\x00\x03\x00")
        fh.truncate(MAX_COVER_BYTES + 1)
    cases = {tmp_path / "missing.png": "cannot be read", text: "not a PNG or JPEG",
             big: "too large", tmp_path: "folder"}
    for cover, why in cases.items():
        out = tmp_path / "x.flac"
        r = sointu("render", "gong-bath", "--duration", "40s", "-o", out, "--cover", cover,
                   cache=cache, check=False)
        line = one_error_line(r)
        assert why in line and "--cover" in line
        assert not out.exists()
    r = sointu("render", "gong-bath", "-o", tmp_path / "x.flac", "--cover", big, "--no-cover",
               cache=cache, check=False)
    assert "contradict" in one_error_line(r)
    r = sointu("gift", "gift-30", "--for", "Maija", "-o", tmp_path / "g.flac", "--cover", text,
               cache=cache, check=False)
    assert "not a PNG or JPEG" in one_error_line(r)
    assert not (tmp_path / "g.flac").exists()


def test_bad_picture_paths(tmp_path, cache):
    r = sointu("show", "classic-60", "--plot", tmp_path / "s.gif", cache=cache, check=False)
    assert "unknown picture suffix '.gif'" in one_error_line(r) and r.returncode == 2
    r = sointu("show", "classic-60", "--plot", tmp_path / "no" / "s.png", cache=cache,
               check=False)
    assert "does not exist" in one_error_line(r)
    r = sointu("render", "classic-60", "--duration", "1m", "-o", tmp_path / "a.flac",
               "--plot", cache=cache)
    assert (tmp_path / "a.png").exists()
    existing = tmp_path / "a.png"  # written by the render just above
    before = existing.read_bytes()
    r = sointu("render", "classic-60", "--duration", "1m", "-o", tmp_path / "b.flac",
               "--plot", cache=cache, check=False)
    assert r.returncode == 0  # b.png is new
    r = sointu("show", "classic-60", "--plot", existing, cache=cache, check=False)
    assert "exists" in one_error_line(r)
    assert existing.read_bytes() == before


def test_unwritable_picture_folder(tmp_path, cache):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root: a folder no one can write files into
            r = sointu("strike", "heart", "--seconds", "2", "--plot", "/proc/sointu.png",
                       cache=cache, check=False)
            assert "cannot write the picture /proc/sointu.png" in one_error_line(r)
        else:
            r = sointu("strike", "heart", "--plot", locked / "s.png", cache=cache,
                       check=False)
            assert "not writable" in one_error_line(r)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_without_the_plot_extra(tmp_path, cache):
    hide = "import sys\nsys.modules['matplotlib'] = None\nsys.modules['PIL'] = None"
    for args in (["show", "classic-60", "--plot", tmp_path / "s.png"],
                 ["strike", "heart", "--plot", tmp_path / "s.png"],
                 ["render", "classic-60", "--duration", "1m", "-o", tmp_path / "r.flac",
                  "--plot"]):
        r = sointu(*args, cache=cache, check=False, pre=hide)
        line = one_error_line(r)
        assert "pip install 'sointu[plot]'" in line
    assert list(tmp_path.iterdir()) == []
    # a render still works, without a cover, and says so
    out = tmp_path / "r.flac"
    r = sointu("render", "gong-bath", "--duration", "40s", "-o", out, cache=cache, pre=hide)
    assert "no cover" in r.stderr and "sointu[plot]" in r.stderr
    from mutagen.flac import FLAC

    assert FLAC(out).pictures == []


def test_import_sointu_and_a_render_without_pictures_do_not_import_matplotlib(tmp_path,
                                                                              cache):
    code = ("import sys, sointu, sointu.cli, sointu.rendering.pipeline, sointu.pictures.cover\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = ("import sys\nfrom sointu.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n")
    env = dict(os.environ, SOINTU_CACHE_DIR=str(cache))
    subprocess.run([sys.executable, "-c", code, "render", "gong-bath", "--duration", "40s",
                    "-o", str(tmp_path / "r.ogg")], check=True, env=env, capture_output=True)
    assert (tmp_path / "r.ogg").exists()


def test_image_info_reads_png_and_jpeg_sizes(tmp_path):
    from PIL import Image

    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        path = tmp_path / f"c.{fmt.lower()}"
        Image.new("RGB", (700, 650), (200, 100, 50)).save(path, format=fmt)
        assert image_info(path.read_bytes()) == (mime, 700, 650)
    assert image_info(b"GIF89a" + bytes(20)) is None
    assert image_info(b"\xff\xd8\xff\xe0") is None  # a JPEG cut short


def test_own_jpeg_cover_in_an_mp3(tmp_path, cache):
    from PIL import Image

    own = tmp_path / "kuva.jpg"
    Image.new("RGB", (800, 800), (20, 120, 90)).save(own, format="JPEG", quality=85)
    out = tmp_path / "j.mp3"
    sointu("render", "gong-bath", "--duration", "40s", "-o", out, "--cover", own, cache=cache)
    from mutagen.id3 import ID3

    (frame,) = ID3(out).getall("APIC")
    assert frame.mime == "image/jpeg" and frame.data == own.read_bytes()


def test_the_cover_and_plot_font_has_every_finnish_letter():
    from fontTools.ttLib import TTFont

    from sointu.pictures.cover import _font_dir

    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        cmap = TTFont(_font_dir() / name).getBestCmap()
        assert all(ord(c) in cmap for c in "äöåÄÖÅšžŠŽé"), name


def test_a_failed_render_leaves_no_picture(tmp_path, cache):
    args = ["render", "classic-60", "--duration", "1m", "--seed", "6", "--plot"]
    sointu(*args, "-o", tmp_path / "first.flac", cache=cache)  # caches gain and curve
    taken = tmp_path / "taken.flac"
    taken.write_bytes(b"someone's file")
    r = sointu(*args, "-o", taken, cache=cache, check=False)  # exists, no --force
    assert "exists" in one_error_line(r)
    assert taken.read_bytes() == b"someone's file"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "taken.png" not in names and not [n for n in names if n.startswith(".")], names
