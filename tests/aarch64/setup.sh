#!/usr/bin/env bash
# setup.sh — install what the aarch64_* tests need (Debian 12), only what is
# missing: the cross compiler (gcc-aarch64-linux-gnu), user-mode qemu
# (qemu-user) and cmocka for arm64 (libcmocka-dev:arm64, from Debian's
# multiarch archive: adds the arm64 architecture to dpkg once).
#
#   bash tests/aarch64/setup.sh
#
# Safe to run again; with everything there it only checks (dpkg-query).
set -euo pipefail

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user libcmocka-dev:arm64; do
    installed "$p" || missing+=("$p")
done
((${#missing[@]})) || exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "tern aarch64 setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
echo "tern aarch64 setup: installing ${missing[*]}" >&2
# Multiarch: arm64 packages install beside the amd64 ones (the libraries in
# /usr/lib/aarch64-linux-gnu), so apt needs the arm64 package lists.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
fi
$SUDO apt-get update -qq -o DPkg::Lock::Timeout=300
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
    "${missing[@]}" >&2
