#!/bin/sh
# Headless Chromium for the browser test of the dbt docs site (loaders/tests/test_docs.py).
# Idempotent: does nothing when a chromium is on PATH; otherwise installs Debian's package
# (as root, or through sudo), refreshing the package lists only if the first attempt fails.
set -e
if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "error: chromium is missing and installing it needs root (apt-get install chromium)" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get install -y -q chromium >/dev/null \
    || { $as_root apt-get update -q >/dev/null && $as_root apt-get install -y -q chromium >/dev/null; }
command -v chromium >/dev/null 2>&1
