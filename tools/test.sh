#!/usr/bin/env bash
# Set up a fresh machine and run the whole test suite (what CI runs, via .ci/run). Extra arguments go to pytest.
# System packages (Debian/Ubuntu, installed when run as root or with passwordless sudo): python3-venv, DejaVu
# fonts (synthetic designs), Liberation fonts (the demo's font change), the held-out families of the text
# benchmark's posters (FreeFont, URW base 35, Carlito, Caladea), cairo (emoji SVGs), Chromium (browser test of
# the demo), libGL and GLib (OpenCV, which the text extra's OCR imports), GIMP, Krita and xvfb (the PSD files
# open in both editors). Where a package cannot be installed, the tests that need it fail or are skipped by
# name in pytest's summary.
# Test data: the unit tests read tests/data; the whole-corpus tests also read ../shared/data/psd-corpus
# ($LAYERDIFF_SHARED_DIR moves ../shared) and are skipped where it is absent; pytest's summary says which.
set -euo pipefail
cd "$(dirname "$0")/.."

packages="python3-venv fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-urw-base35 fonts-crosextra-carlito
  fonts-crosextra-caladea libcairo2 chromium libgl1 libglib2.0-0 gimp krita xvfb xauth"
need=""
if command -v dpkg >/dev/null 2>&1; then
  for pkg in $packages; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
  done
fi
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ]; then
    as_root=""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo -n"
  else
    echo "tools/test.sh: missing system packages:$need; install them (apt-get install$need) or tests will fail" >&2
    as_root="none"
  fi
  if [ "$as_root" != none ]; then
    $as_root apt-get update -qq
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
  fi
fi

# pyproject.toml: requires-python >=3.10,<3.13; $PYTHON picks the interpreter, else the first that fits.
python=""
for candidate in ${PYTHON:-} python3 python3.12 python3.11 python3.10; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(not (3, 10) <= sys.version_info[:2] < (3, 13))' 2>/dev/null; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  echo "tools/test.sh: needs Python 3.10, 3.11 or 3.12 (set PYTHON=/path/to/python)" >&2
  exit 1
fi

"$python" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[data,demo,text,batch,dev]"
.venv/bin/ruff check .
start=$(date +%s)
status=0
.venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 "$@" || status=$?
echo "tools/test.sh: pytest took $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
exit "$status"
