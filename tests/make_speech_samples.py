"""Make the spoken samples shipped in samples/ (run from the repository root; needs espeak-ng).

    apt-get install -y espeak-ng
    python tests/make_speech_samples.py

espeak-ng 1.51 speaks each Finnish text (voice fi, 135 words a minute, pitch 40) to a 22.05
kHz mono WAV; the silence around the speech is cut to 50 ms before and 200 ms after, the
peak set to -3 dBFS, 20 ms fades applied, and the result stored as 16-bit FLAC.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

TEXTS = {
    "tervetuloa-fi.flac": "Tervetuloa äänirentoutukseen. Asetu makuulle mukavasti ja sulje "
                          "silmäsi. Anna kulhojen äänen kantaa sinua.",
    "paluu-fi.flac": "Palaa hiljalleen takaisin tähän hetkeen. Liikuta sormia ja varpaita, "
                     "ja avaa silmät kun olet valmis.",
}


def make(text: str, target: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", "fi", "-s", "135", "-p", "40", "-a", "120",
                        "-w", str(wav), text], check=True)
        x, rate = sf.read(wav)
    loud = np.flatnonzero(np.abs(x) > 1e-3)
    a, b = max(0, loud[0] - int(0.05 * rate)), min(len(x), loud[-1] + int(0.2 * rate))
    y = x[a:b] * (10 ** (-3 / 20) / np.abs(x).max())
    f = int(0.02 * rate)
    y[:f] *= np.linspace(0, 1, f)
    y[-f:] *= np.linspace(1, 0, f)
    sf.write(target, y, rate, subtype="PCM_16")


if __name__ == "__main__":
    for name, text in TEXTS.items():
        make(text, Path("samples") / name)
        print("wrote", Path("samples") / name)
