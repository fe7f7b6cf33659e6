#!/usr/bin/env bash
# progress.sh — the live progress line of `tern train` under a pseudo-terminal
# (script(1) from util-linux): every line the terminal shows, split at \r and
# \n, fits its width (stty cols, or $COLUMNS when the terminal has none), a
# bar is drawn, and a SIGINT's message starts at column 0 of its own line;
# without a terminal, plain lines and no \r (tiny_run.sh: the data).
# cases: tty_80 columns_fallback sigint_column0 plain_without_tty
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/tiny_run.sh"

command -v script > /dev/null || { echo "skip [$CASE]: script(1) missing (Debian package bsdutils)"; exit 77; }

# 2000 training images, two a batch: 1000 redraws an epoch to rate-limit.
tiny_config "$T/long.yaml" "$T/long" 2000 3 2

# The longest line of file $1 as a terminal shows it: split at \r and \n,
# the clear-to-end-of-line sequence removed.
longest() { LC_ALL=C awk 'BEGIN { RS = "[\r\n]" } { gsub(/\033\[K/, ""); if (length($0) > m) m = length($0) } END { print m + 0 }' "$1"; }

# Train under a terminal of stty size $1 (0: none), with the environment in $2.
on_tty() { # cols env-assignments args...
    local cols="$1" envs="$2"; shift 2
    script -qfec "stty cols $cols rows 24; env $envs $TERN train $*" /dev/null > "$T/tty" 2>&1 < /dev/null
}

check_width() { # file width
    local m; m=$(longest "$1")
    [ "$m" -le "$2" ] || fail "a line of $m columns on a $2-column terminal: $(tr '\r' '\n' < "$1" | awk -v w="$2" 'length($0) > w' | head -2)"
    grep -q 'epoch 1/3 \[#*\.*\]' "$1" || fail "no progress bar drawn: $(head -c 400 "$1")"
    [ "$1" != "$T/tty" ] || grep -q "$(printf '\r')epoch 3/3" "$1" || fail "the line is not redrawn with \\r"
}

case "$CASE" in
tty_80)
    on_tty 80 "" "$T/long.yaml" || fail "train exit status $?: $(tail -c 300 "$T/tty")"
    check_width "$T/tty" 80
    grep -q "^done: 3 epochs" "$T/tty" || fail "no closing line at column 0"
    echo "ok [$CASE]: longest line $(longest "$T/tty") columns" ;;
columns_fallback)
    # A terminal that reports no size: $COLUMNS (below the 40 floor: 40).
    on_tty 0 "COLUMNS=60" "$T/long.yaml" || fail "train exit status $?"
    check_width "$T/tty" 60
    # Below the floor: the progress line keeps to 40 columns (the run
    # directory's path, a word of 46, cannot).
    on_tty 0 "COLUMNS=20" "$T/long.yaml" --force || fail "train exit status $?"
    grep -a 'epoch 1/3 \[' "$T/tty" | tr '\r' '\n' | grep '^epoch' > "$T/bars"
    check_width "$T/bars" 40
    echo "ok [$CASE]" ;;
sigint_column0)
    sed -i 's/epochs: 3/epochs: 1000/' "$T/long.yaml"
    script -qfc "stty cols 80 rows 24; echo \$\$ > $T/pid; exec $TERN train $T/long.yaml" /dev/null > "$T/tty" 2>&1 < /dev/null &
    spid=$!
    for _ in $(seq 200); do grep -q 'epoch 1/1000 \[' "$T/tty" 2> /dev/null && break; sleep 0.1; done
    grep -q 'epoch 1/1000 \[' "$T/tty" || { kill "$spid"; fail "no progress line within 20 s"; }
    kill -INT "$(cat "$T/pid")"
    wait "$spid"
    tr '\r' '\n' < "$T/tty" | sed 's/\x1b\[K//g' | grep -q '^tern train: stopped by signal 2 after' \
        || fail "the stop message does not start a line: $(tail -c 300 "$T/tty" | od -c | tail -5)"
    tr '\r' '\n' < "$T/tty" | sed 's/\x1b\[K//g' | grep -q '^checkpoint: ' || fail "the checkpoint message does not start a line: $(tail -c 400 "$T/tty" | od -c | tail -12)"
    m=$(longest "$T/tty")
    [ "$m" -le 80 ] || fail "a line of $m columns"
    echo "ok [$CASE]" ;;
plain_without_tty)
    "$TERN" train "$T/long.yaml" > "$T/out" 2> "$T/err" || fail "train exit status $?"
    ! grep -q "$(printf '\r')" "$T/err" "$T/out" || fail "a \\r without a terminal"
    grep -q '^epoch 1/3  10%  step ' "$T/err" || fail "no plain 10% lines: $(head -3 "$T/err")"
    grep -q '^epoch 1/3  train loss .* 1\.. s$\|^epoch 1/3  train loss .* s$' "$T/out" || fail "the epoch summary is not one line: $(head -3 "$T/out")"
    echo "ok [$CASE]" ;;
*) fail "unknown case" ;;
esac
