#!/usr/bin/env bash
# Set up ovnb with its export and test tools on a fresh Debian/Ubuntu machine with Python >= 3.10.
# Safe to run again: every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
# Real speech for the Whisper tests (five LibriVox clips with reference transcripts), and the
# browser the JupyterLab tests drive (Playwright uses it; it never downloads a browser of its own).
$sudo apt-get update -qq
$sudo apt-get install -y -qq pocketsphinx-testdata chromium fonts-noto-color-emoji >/dev/null

python -m pip install --disable-pip-version-check -q -e ".[export,dev]"
# JupyterHub's proxy, from npm (the classroom test runs a real hub on loopback). The machine's
# Node.js serves; Debian's is the fallback. Installed only when that version is not there yet.
CHP_VERSION=5.3.0
command -v npm >/dev/null || $sudo apt-get install -y -qq nodejs npm >/dev/null
if [ "$(configurable-http-proxy --version 2>/dev/null)" != "$CHP_VERSION" ]; then
    $sudo npm install -g --no-audit --no-fund --loglevel=error \
        "configurable-http-proxy@$CHP_VERSION" >/dev/null
fi
# optimum-intel pulls PyPI's torchvision, which fails beside the torch 2.13 CPU build and breaks
# transformers' imports ("operator torchvision::nms does not exist"). ovnb needs none of it.
python -m pip uninstall -y -q torchvision 2>/dev/null || true
python -c "import ovnb, openvino_genai, optimum.intel; print('ovnb', ovnb.__version__, 'ready')"
configurable-http-proxy --version >/dev/null
