#!/bin/sh
# Headless Chromium for the browser test of the dbt docs site (loaders/tests/test_docs.py).
# Idempotent: does nothing when a chromium is on PATH; otherwise installs Debian's package
# (tools/apt_install.sh).
set -e
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
sh "$(dirname "$0")/apt_install.sh" chromium
command -v chromium >/dev/null 2>&1
