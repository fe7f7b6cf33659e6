#!/usr/bin/env bash
# eval_logits.sh — tern eval --logits: the exact logits of a deploy model, one
# line per test image, which another runtime (the C export on a
# microcontroller, tests/mcu) must reproduce bit for bit; and its bad input.
# cases: logits_lines logits_train_ckpt logits_unwritable limit_without_logits
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$TERN" export "$T/run/last.h5" -o "$T/m.h5" --data "$T/data" > /dev/null 2>&1 || fail "setup: export failed"

# The index of the largest of the hex float bits h0 h1 ... (first one on ties),
# as tern eval picks it: for IEEE floats of one sign the bits order as the
# values, the other way round for negatives.
argmax() {
    local best=0 bk=0 j=0 h u key
    for h in "$@"; do
        u=$((16#$h))
        if (( u >> 31 )); then key=$(( -(u & 0x7fffffff) )); else key=$u; fi
        if (( j == 0 || key > bk )); then best=$j; bk=$key; fi
        j=$((j + 1))
    done
    echo "$best"
}

case "$CASE" in
logits_lines)
    "$TERN" eval "$T/m.h5" --data "$T/data" --logits "$T/all.txt" > "$T/out" 2> "$T/err" || fail "eval: $(cat "$T/err")"
    [ "$(wc -l < "$T/all.txt")" -eq 10 ] || fail "not one line per test image: $(wc -l < "$T/all.txt")"
    correct=0
    i=0
    while read -r idx label pred rest; do
        [ "$idx" = "$i" ] || fail "line $i starts with $idx"
        [ "$label" = "$((i % 10))" ] || fail "line $i: label $label, the dataset's is $((i % 10))"
        # shellcheck disable=SC2086
        set -- $rest
        [ $# -eq 10 ] || fail "line $i: $# logits, the model has 10 classes"
        for h in "$@"; do [[ "$h" =~ ^[0-9a-f]{8}$ ]] || fail "line $i: '$h' is not 8 lowercase hex digits"; done
        [ "$(argmax "$@")" = "$pred" ] || fail "line $i: pred $pred is not the argmax of its logits"
        correct=$((correct + (pred == label)))
        i=$((i + 1))
    done < "$T/all.txt"
    # The predictions are the ones the accuracy counts.
    grep -q "^accuracy $((correct * 10)).00%" "$T/out" || fail "$correct/10 correct in the file, but: $(grep accuracy "$T/out")"
    "$TERN" eval "$T/m.h5" --data "$T/data" --logits "$T/three.txt" --limit 3 > /dev/null 2>&1 || fail "eval --limit 3"
    head -3 "$T/all.txt" | cmp -s - "$T/three.txt" || fail "--limit 3 does not give the first 3 lines"
    ls "$T" | grep -q '\.tmp\.' && fail "a temporary file was left behind"
    echo "ok [$CASE]: 10 lines, $correct correct, --limit 3 their head" ;;
logits_train_ckpt)
    expect_error "--logits applies to deploy checkpoints" "$TERN" eval "$T/run/last.h5" --data "$T/data" --logits "$T/l.txt"
    [ ! -e "$T/l.txt" ] || fail "a logits file was written" ;;
logits_unwritable)
    expect_error "$T/no/such/dir/l.txt" "$TERN" eval "$T/m.h5" --data "$T/data" --logits "$T/no/such/dir/l.txt" ;;
limit_without_logits)
    expect_error "--limit applies with --logits" "$TERN" eval "$T/m.h5" --data "$T/data" --limit 3 ;;
*) fail "no such case" ;;
esac
