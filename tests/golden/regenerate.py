"""Rewrite the golden fingerprints on purpose, and say what changed.

Run after a deliberate change of the sound (engine, instruments, rooms, presets):

    .venv/bin/python tests/golden/regenerate.py            # every case
    .venv/bin/python tests/golden/regenerate.py universal  # only cases whose name matches

Each case is rendered the way a user would (``sointu.render`` for 20 s of a session preset,
``sointu strike`` for 8 s of an instrument, both to 24-bit FLAC) with an empty gain cache,
decoded, and its fingerprint written to tests/golden/KIND-NAME.json. Commit the JSON files
with the change that moved them, and say why in the message.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import golden_prints as gp  # noqa: E402


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="sointu-golden-") as tmp:
        gp.fresh_cache(Path(tmp) / "cache")
        changed = 0
        for kind, name in gp.cases():
            if argv and not any(a in name for a in argv):
                continue
            new = gp.fingerprint(gp.render_case(kind, name, Path(tmp)))
            path = gp.golden_path(kind, name)
            if not path.exists():
                print(f"{path.name}: new")
            else:
                diffs = gp.differences(gp.load(kind, name), new)
                if not diffs:
                    print(f"{path.name}: unchanged")
                    continue  # within tolerance: keep the stored file as it is
                print(f"{path.name}: changed")
                for line in diffs:
                    print(f"  {line}")
            changed += 1
            gp.dump(kind, name, new)
    print(f"{changed} file(s) written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
