#!/usr/bin/env bash
# Set up a fresh machine and run the whole test suite (what CI runs, via .ci/run).
# System packages: DejaVu fonts (synthetic designs), cairo (emoji SVGs), Chromium (browser test of the demo).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  need=""
  for pkg in fonts-dejavu-core libcairo2 chromium; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
  done
  if [ -n "$need" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
  fi
fi
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[data,demo,batch,dev]"
.venv/bin/ruff check .
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
