#!/usr/bin/env bash
# Sets sointu up on a Debian machine: system libraries (PortAudio for live playback, LAME for
# MP3 encoded on both cores), a virtual environment in .venv and the package itself. Safe to
# run again; it only installs what is missing.
#
#   ./setup.sh          to render and play sessions, with pictures (the plot extra: matplotlib)
#   ./setup.sh --test   also what the tests need (pytest, hypothesis, pyloudnorm, PulseAudio,
#                       chromium and selenium for the studio page)
set -euo pipefail
cd "$(dirname "$0")"

test_deps=0
[ "${1:-}" = "--test" ] && test_deps=1

# libmysofa1 ships the MIT KEMAR head-related responses the headphone mix is made from
packages=(libportaudio2 libmp3lame0 libmysofa1)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
[ "$test_deps" = 1 ] && packages+=(pulseaudio pulseaudio-utils libasound2-plugins alsa-utils)
# the studio page's browser tests (tests/test_studio_browser.py) run in headless chromium
[ "$test_deps" = 1 ] && packages+=(chromium chromium-driver)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing ${missing[*]}" >&2
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
if [ "$test_deps" = 1 ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,plot]'
else
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[plot]'
fi
echo "setup: ready (.venv/bin/sointu)" >&2
