#!/usr/bin/env bash
# plot.sh — `tern plot RUN_DIR`: PNGs (checked by their signature) and
# report.html from a tiny run's metrics.csv and from one the test writes
# with the validation and alpha columns; bad input in one line with an
# earlier page untouched; and the page in headless Chromium: it loads and
# every image it shows decodes. Cases needing gnuplot (gnuplot-nox) or
# chromium exit 77 with one line when they are missing.
# cases: tiny_run columns_by_name bad_input gnuplot_missing chromium_page
set -uo pipefail
TERN="$1"
CASE="$2"
. "$(dirname "${BASH_SOURCE[0]}")/tiny_run.sh"

need() { command -v "$1" > /dev/null || { echo "skip [$CASE]: $1 missing (Debian package $2)"; exit 77; }; }
is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$1 is not a PNG"; }

# A run directory written by hand: 3 epochs with validation and alpha
# columns, and a config whose text must reach the page escaped.
hand_run() { # dir
    mkdir -p "$1"
    cat > "$1/metrics.csv" <<'CSV'
epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,sparsity,samples_per_s,seconds,lr,step_ms,peak_rss_mb,sparsity_fc1,alpha_fc1
1,0.9,0.70,0.8,0.72,0.85,0.71,0.30,1000,1.0,0.01,1.0,100,0.30,0.050
2,0.5,0.85,0.6,0.80,0.62,0.79,0.35,1000,1.0,0.005,1.0,100,0.35,0.060
3,0.3,0.91,0.5,0.83,0.52,0.82,0.38,1000,1.0,0.001,1.0,100,0.38,0.065
CSV
    printf 'model: {layers: []}  # <script>alert("x")</script> & more\n' > "$1/config.yaml"
}

case "$CASE" in
tiny_run)
    need gnuplot gnuplot-nox
    tiny_config "$T/c.yaml" "$T/run" 40 3 8
    "$TERN" train "$T/c.yaml" > /dev/null 2>&1 || fail "the tiny run does not train"
    "$TERN" plot "$T/run" > "$T/out" 2> "$T/err" || fail "exit $?: $(cat "$T/err")"
    # A real run logs every ternary layer's alpha: all five plots.
    head -1 "$T/run/metrics.csv" | grep -q ',alpha_' || fail "the run logs no alpha column"
    for p in loss accuracy lr sparsity alpha; do is_png "$T/run/$p.png"; done
    grep -q '<img src="alpha.png"' "$T/run/report.html" || fail "the page lacks alpha.png"
    grep -q '<img src="sparsity.png"' "$T/run/report.html" || fail "the page lacks sparsity.png"
    grep -q 'name: &quot;mnist&quot;' "$T/run/report.html" || fail "the page lacks the run's config"
    ls "$T/run" | grep -q '\.tmp\.' && fail "a temporary file was left: $(ls "$T/run")"
    echo "ok [$CASE]: $(cat "$T/out")" ;;
columns_by_name)
    need gnuplot gnuplot-nox
    hand_run "$T/h"
    "$TERN" plot "$T/h" > "$T/out" 2> "$T/err" || fail "exit $?: $(cat "$T/err")"
    for p in loss accuracy lr sparsity alpha; do is_png "$T/h/$p.png"; done
    grep -q '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more' "$T/h/report.html" || fail "config not escaped"
    ! grep -q '<script>' "$T/h/report.html" || fail "a raw <script> in the page"
    grep -q 'best validation accuracy</th><td>83.00% at epoch 3' "$T/h/report.html" || fail "no best validation accuracy"
    echo "ok [$CASE]" ;;
bad_input)
    need gnuplot gnuplot-nox
    hand_run "$T/h"
    "$TERN" plot "$T/h" > /dev/null 2>&1 || fail "the good directory does not plot"
    sum=$(cat "$T/h"/*.png "$T/h/report.html" | sha256sum)
    expect1() { # substring, then the command
        local want="$1"; shift
        "$@" > "$T/out" 2> "$T/err"
        local rc=$?
        [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "exit status $rc"
        [ "$(wc -l < "$T/err")" -eq 1 ] || fail "stderr is not one line: $(cat "$T/err")"
        grep -qF -- "$want" "$T/err" || fail "stderr lacks '$want': $(cat "$T/err")"
        [ "$(cat "$T/h"/*.png "$T/h/report.html" | sha256sum)" = "$sum" ] || fail "the earlier plots changed"
    }
    mkdir "$T/none"
    expect1 "$T/none/metrics.csv" "$TERN" plot "$T/none"
    cp "$T/h/metrics.csv" "$T/good.csv"
    : > "$T/h/metrics.csv"
    expect1 "metrics.csv: empty file" "$TERN" plot "$T/h"
    head -1 "$T/good.csv" > "$T/h/metrics.csv"
    expect1 "metrics.csv: no epoch rows yet" "$TERN" plot "$T/h"
    sed '3s/0.85/abc/' "$T/good.csv" > "$T/h/metrics.csv"
    expect1 "metrics.csv:3: column train_acc: 'abc' is not a number" "$TERN" plot "$T/h"
    sed '4s/,0.065$//' "$T/good.csv" > "$T/h/metrics.csv"
    expect1 "metrics.csv:4: 14 cells, the header has 15" "$TERN" plot "$T/h"
    printf 'a,b\n1,2\n' > "$T/h/metrics.csv"
    expect1 "metrics.csv:1: not a tern metrics header" "$TERN" plot "$T/h"
    echo "ok [$CASE]" ;;
gnuplot_missing)
    hand_run "$T/h"
    expect_missing() {
        PATH=/nonexistent "$TERN" plot "$T/h" > "$T/out" 2> "$T/err"
        local rc=$?
        [ "$rc" -eq 1 ] || fail "exit status $rc"
        [ "$(wc -l < "$T/err")" -eq 1 ] && grep -q "gnuplot not found on PATH; install gnuplot-nox" "$T/err" \
            || fail "stderr: $(cat "$T/err")"
        [ ! -e "$T/h/report.html" ] || fail "a page without plots"
    }
    expect_missing
    echo "ok [$CASE]" ;;
chromium_page)
    need gnuplot gnuplot-nox
    need chromium chromium
    hand_run "$T/h"
    "$TERN" plot "$T/h" > /dev/null 2> "$T/err" || fail "plot: $(cat "$T/err")"
    # A page of the test's beside report.html (same directory, file access
    # allowed) loads it in a frame and lists every image: complete and with
    # a decoded size, or broken.
    cat > "$T/h/check.html" <<'HTML'
<!DOCTYPE html><html><body><iframe id="r" src="report.html" width="1000" height="800"></iframe>
<script>
window.onload = function () {
  var d = document.getElementById('r').contentDocument, out = [], bad = 0;
  var imgs = d ? d.images : [];
  for (var i = 0; i < imgs.length; i++) {
    var ok = imgs[i].complete && imgs[i].naturalWidth > 0;
    bad += ok ? 0 : 1;
    out.push((ok ? 'IMG-OK ' : 'IMG-BROKEN ') + imgs[i].getAttribute('src'));
  }
  out.push('IMAGES ' + imgs.length + ' BROKEN ' + bad + ' PRE ' + (d ? d.getElementsByTagName('pre').length : 0));
  var p = document.createElement('div'); p.id = 'result'; p.textContent = out.join(' ; ');
  document.body.appendChild(p);
};
</script></body></html>
HTML
    check() { # profile: the result line of the check page
        timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/$1" \
            --allow-file-access-from-files --virtual-time-budget=5000 --dump-dom "file://$T/h/check.html" \
            2> /dev/null | sed -n 's/.*<div id="result">\(.*\)<\/div>.*/\1/p'
    }
    got=$(check profile1)
    echo "$got" | grep -q 'IMAGES 5 BROKEN 0 PRE 1' || fail "the page in chromium: '$got'"
    # The check must be able to fail: a damaged PNG is reported broken.
    echo "not a PNG" > "$T/h/lr.png"
    got=$(check profile2)
    echo "$got" | grep -q 'IMG-BROKEN lr.png' || fail "a damaged PNG was not detected: '$got'"
    echo "ok [$CASE]" ;;
*) fail "unknown case" ;;
esac
