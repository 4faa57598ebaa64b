#!/usr/bin/env bash
# The system packages the test suite needs, installed where they are missing.
#
# Called by `make test` (and so by `.ci/run`, which runs `make test`) before pytest; the
# Python packages come from the Makefile's virtual environment (`pip install -e '.[dev]'`).
#
# Today the one system package is Debian's `chromium`: tests/dataset/test_report.py opens
# report.html in a headless browser. The script is idempotent (nothing to do costs one
# `command -v`), non-interactive (apt-get -y, DEBIAN_FRONTEND=noninteractive), and needs
# root or passwordless sudo only when something is missing. Where it cannot install
# (no apt-get, no root, no passwordless sudo) it prints one line saying so and exits 0:
# the tests still run, and the browser test fails with the same advice.
#
# Usage: scripts/setup-test-deps.sh          (what `make test` runs)
#        CAPTUM_IGOS_SKIP_SETUP=1 make test  (skip it: the browser is managed elsewhere)
set -euo pipefail

say() { echo "setup-test-deps: $*" >&2; }

[ "${CAPTUM_IGOS_SKIP_SETUP:-0}" = 1 ] && exit 0

missing=()
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  missing+=(chromium)
fi
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  say "${missing[*]} missing and not installed (needs apt-get as root or passwordless sudo);" \
      "the report.html browser test will fail: install it with apt-get install -y ${missing[*]}"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "${missing[*]} missing and not installed (no apt-get on this machine);" \
      "the report.html browser test will fail until it is on PATH"
  exit 0
fi

say "installing ${missing[*]} with apt-get (for the report.html browser test)"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet: update once, then install.
"${as_root[@]}" apt-get update -qq >/dev/null || say "apt-get update failed; trying the install anyway"
if ! "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  say "apt-get install ${missing[*]} failed; the report.html browser test will fail"
fi
exit 0
