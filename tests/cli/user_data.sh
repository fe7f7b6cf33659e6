#!/usr/bin/env bash
# user_data.sh — a user's own data through the tern program: train one epoch
# on a generated image folder, export, infer on a folder of PNGs; eval from
# another directory; and the bad input of each reader (see lib.sh).
# cases: folder_train_infer folder_corrupt_png folder_mixed_sizes folder_empty_class
# cases: npy_wrong_dtype csv_not_a_number eval_elsewhere deploy_without_data
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# DIR/{train,test}/{a,b,c}/N.png: 8x8 gray, class k a bright band at rows
# 2k..2k+2 over noise (python3's zlib writes the PNGs).
make_folder() { # dir train-per-class test-per-class
    /usr/bin/python3 - "$1" "$2" "$3" <<'PY' || fail "setup: cannot write PNGs"
import os, random, struct, sys, zlib
def png(path, rows):
    h, w = len(rows), len(rows[0])
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
root, per = sys.argv[1], {"train": int(sys.argv[2]), "test": int(sys.argv[3])}
rnd = random.Random(7)
for split, n in per.items():
    for k, name in enumerate("abc"):
        os.makedirs(f"{root}/{split}/{name}", exist_ok=True)
        for i in range(n):
            rows = [[(230 if 2 * k <= y <= 2 * k + 2 else 20) + rnd.randrange(20) for x in range(8)] for y in range(8)]
            png(f"{root}/{split}/{name}/{i:02d}.png", rows)
PY
}
folder_cfg() { # file data-dir run-dir
    cat > "$1" <<YAML
dataset: {name: folder, path: $2, channels: 1}
model:
  layers:
    - {type: flatten}
    - {type: linear, name: fc1, out: 16}
    - {type: linear, name: fc2, out: 3, ternary: false}
optimizer: {name: adam, lr: 0.02}
training: {epochs: 1, batch_size: 10, threads: 1}
output: {dir: $3}
YAML
}

case "$CASE" in
folder_train_infer)
    make_folder "$T/imgs" 20 5
    folder_cfg "$T/f.yaml" "$T/imgs" "$T/frun"
    "$TERN" train "$T/f.yaml" > "$T/out" 2> "$T/err" || fail "train: $(tail -1 "$T/err")"
    "$TERN" export "$T/frun/last.h5" -o "$T/fm.h5" > "$T/out" 2> "$T/err" || fail "export: $(tail -1 "$T/err")"
    mkdir "$T/pngs" && cp "$T"/imgs/test/a/0[01].png "$T/pngs/" && cp "$T/imgs/test/c/00.png" "$T/pngs/c.png"
    "$TERN" infer "$T/fm.h5" "$T/pngs" > "$T/out" 2> "$T/err" || fail "infer: $(cat "$T/err")"
    [ "$(wc -l < "$T/out")" -eq 3 ] || fail "not one line per PNG: $(cat "$T/out")"
    grep -qE "^$T/pngs/00.png: class [0-2] '[abc]' \(p = [01]\.[0-9]{4}\)$" "$T/out" || fail "line format: $(head -1 "$T/out")"
    # One input keeps the table of every class.
    "$TERN" infer "$T/fm.h5" "$T/pngs/c.png" > "$T/one" 2> "$T/err" || fail "infer one: $(cat "$T/err")"
    [ "$(wc -l < "$T/one")" -eq 4 ] || fail "one input: not a line and 3 classes: $(cat "$T/one")"
    "$TERN" eval "$T/fm.h5" --data "$T/imgs" > "$T/ev" 2> "$T/err" || fail "eval: $(cat "$T/err")"
    grep -q "^accuracy" "$T/ev" || fail "eval prints no accuracy: $(cat "$T/ev")"
    echo "ok [$CASE]: $(tr '\n' ' ' < "$T/out")| $(grep ^accuracy "$T/ev")" ;;
folder_corrupt_png)
    make_folder "$T/imgs" 2 1
    printf '\x89PNG\r\n\x1a\nbroken' > "$T/imgs/train/b/01.png"
    folder_cfg "$T/f.yaml" "$T/imgs" "$T/run"
    expect_error "imgs/train/b/01.png: corrupt PNG" "$TERN" train "$T/f.yaml" --force ;;
folder_mixed_sizes)
    make_folder "$T/imgs" 2 1
    cp "$T/imgs/train/a/00.png" "$T/keep.png"
    /usr/bin/python3 -c "
import struct,zlib,sys
c=lambda t,d: struct.pack('>I',len(d))+t+d+struct.pack('>I',zlib.crc32(t+d))
open(sys.argv[1],'wb').write(b'\x89PNG\r\n\x1a\n'+c(b'IHDR',struct.pack('>IIBBBBB',9,8,8,0,0,0,0))+c(b'IDAT',zlib.compress(b'\0'*80))+c(b'IEND',b''))" "$T/imgs/train/c/01.png"
    folder_cfg "$T/f.yaml" "$T/imgs" "$T/run"
    expect_error "imgs/train/c/01.png: image is 8x9 (HxW) but 8x8 is expected; set dataset.resize: true" \
        "$TERN" train "$T/f.yaml" --force ;;
folder_empty_class)
    make_folder "$T/imgs" 2 1
    rm "$T"/imgs/train/b/*.png
    folder_cfg "$T/f.yaml" "$T/imgs" "$T/run"
    expect_error "imgs/train/b: empty class folder" "$TERN" train "$T/f.yaml" --force ;;
npy_wrong_dtype)
    mkdir "$T/np"
    # A float64 .npy, byte by byte: the magic, version 1.0, a padded header.
    hdr="{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 2), }"
    { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $(( (${#hdr} + 1) % 256 )))\\x00"; printf '%s\n' "$hdr"; head -c 32 /dev/zero; } > "$T/np/train_images.npy"
    cp "$T/np/train_images.npy" "$T/np/train_labels.npy"
    sed -i "s|name: mnist, path: $T/data|name: npy, path: $T/np|" "$T/good.yaml"
    expect_error "train_images.npy: dtype '<f8' is not supported (uint8, float32)" "$TERN" train "$T/good.yaml" --force ;;
csv_not_a_number)
    mkdir "$T/tab"
    printf 'age,height,label\n1,2,0\n3,4,1\n5,x7,1\n' > "$T/tab/train.csv"
    printf 'age,height,label\n1,2,0\n' > "$T/tab/test.csv"
    sed -i "s|name: mnist, path: $T/data|name: csv, path: $T/tab|" "$T/good.yaml"
    expect_error "tab/train.csv:4: column 'height': 'x7' is not a number" "$TERN" train "$T/good.yaml" --force ;;
eval_elsewhere)
    # The checkpoint remembers where training found its data.
    sed "s|path: $T/data|path: data|; s|dir: $T/run|dir: $T/erun|" "$T/good.yaml" > "$T/e.yaml"
    ( cd "$T" && "$TERN" train e.yaml > /dev/null 2> "$T/err" ) || fail "train: $(tail -1 "$T/err")"
    ( cd / && "$TERN" eval "$T/erun/last.h5" > "$T/out" 2> "$T/err" ) || fail "eval from /: $(cat "$T/err")"
    grep -q accuracy "$T/out" || fail "no accuracy: $(cat "$T/out")"
    mv "$T/data" "$T/moved"
    ( cd / && expect_error "give its directory with --data DIR" "$TERN" eval "$T/erun/last.h5" ) ;;
deploy_without_data)
    "$TERN" export "$T/run/last.h5" -o "$T/m.h5" --data "$T/data" > /dev/null 2>&1 || fail "setup: export failed"
    ( cd / && expect_error "give its directory with --data DIR" "$TERN" eval "$T/m.h5" ) ;;
*) fail "unknown case" ;;
esac
