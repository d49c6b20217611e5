"""The studio's caches and the fields added last (issue 14): a folder preset edited by hand
is read again, seeds above 2^53, the cookie per port, a phase's mallets at its end, the
gift's allative and title."""

from __future__ import annotations

import os

from sointu.presets import read_text
from sointu.studio import session_doc as D


def test_a_preset_edited_on_disk_is_parsed_again(tmp_path):
    (tmp_path / "presets").mkdir()
    text = read_text(D.find_session(tmp_path, "classic-60"))
    mine = tmp_path / "presets" / "mine.toml"
    mine.write_text(text, encoding="utf-8")
    doc, _ = D.base_document(tmp_path, "mine")
    assert doc["defaults"]["seed"] == 1
    again, _ = D.base_document(tmp_path, "mine")
    assert again is doc  # parsed once
    mine.write_text(text.replace("seed = 1\n", "seed = 12345\n", 1), encoding="utf-8")
    st = mine.stat()
    os.utime(mine, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    edited, _ = D.base_document(tmp_path, "mine")
    assert edited["defaults"]["seed"] == 12345
