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
# optimum-intel pulls PyPI's torchvision, which fails beside the torch 2.13 CPU build and breaks
# transformers' imports ("operator torchvision::nms does not exist"). ovnb needs none of it.
python -m pip uninstall -y -q torchvision 2>/dev/null || true
python -c "import ovnb, openvino_genai, optimum.intel; print('ovnb', ovnb.__version__, 'ready')"
