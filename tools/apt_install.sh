#!/bin/sh
# Installs the first of the given Debian packages that installs, as root or through sudo,
# refreshing the package lists only if no package installs at first. Used by ensure_*.sh.
# usage: sh tools/apt_install.sh [--no-install-recommends] PACKAGE [ALTERNATIVE ...]
set -e
options=""
if [ "$1" = "--no-install-recommends" ]; then
    options="$1"
    shift
fi
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "error: $1 is missing and installing it needs root (apt-get install $1)" >&2
    exit 2
fi
export DEBIAN_FRONTEND=noninteractive
install_first() {
    for package in "$@"; do
        if $as_root apt-get install -y -q $options "$package" >/dev/null; then
            return 0
        fi
    done
    return 1
}
install_first "$@" || { $as_root apt-get update -q >/dev/null && install_first "$@"; }
