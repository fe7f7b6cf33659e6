#!/usr/bin/env bash
# scaling_model.sh — data-parallel tern on N nodes, on paper: step time,
# speed-up and efficiency of the MNIST MLP, LeNet-5 and the CIFAR VGG over
# 10 and 100 Gb/s links, from each model's parameter count and measured
# compute time (docs/distributed.md, "The scaling model").
#
#   bash experiments/scaling_model.sh --measure [--rounds R]  # measure compute.csv (~3 min CPU per round), then model
#   bash experiments/scaling_model.sh [--node-speed F] [--links "GBPS:LAT_US ..."] [--out DIR] [--compute CSV]
#
# One node runs one rank and the global batch B (the config's
# training.batch_size) is split evenly: each node computes a step on b = B/N
# samples, then one ring all-reduce sums the fp32 gradient block
# (4 x trainable parameters bytes, as `tern summary` counts them):
#
#   T(N)  = T_compute(B/N) + T_allreduce(N)
#   T_allreduce(N) = 2(N-1)/N x bytes / bandwidth + 2(N-1) x latency
#   speed-up S(N) = T(1) / T(N), efficiency E(N) = S(N) / N
#   b*(N) = T_allreduce(N) / t_sample: the per-node batch whose compute takes
#           as long as the all-reduce; below it E < 50% (with t_sample constant)
#
# --measure times tern's training step (`tern bench train --config CONFIG
# --batch b --threads 1`: forward, backward and Adam on random data; no data
# loading) at b = B, B/2, ... B/64 (at least 2: a training batchnorm needs
# two samples per rank) on one core of this machine, as CPU time
# (user + system) per step: the difference between a run of S and one of 2S
# steps (the same warm-up), with S grown until the difference is >= ~1 s,
# so setup and warm-up cancel and a machine busy with other work does not
# inflate it as it would a wall clock. Rounds interleave every (model, b);
# compute.csv keeps the median over rounds. The model then reads compute.csv:
# --node-speed F divides every compute time by F (a node F times faster than
# one core here, e.g. 16 cores that scale perfectly).
#
# Links (--links, default "10:20 100:2"): Gb/s and one-way latency per
# message in µs (docs/distributed.md says why 20 and 2). Bandwidth is the line
# rate: MPI reaches ~80-95% of it on large messages, so the all-reduce times
# are lower bounds. Writes DIR/compute.csv (with --measure), DIR/model.csv and
# DIR/tables.md (default DIR: experiments/results/mpi_scaling); --compute
# reads the compute times from another file than DIR/compute.csv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/experiments/results/mpi_scaling" TERN="$ROOT/build/tern"
MEASURE=0 ROUNDS=3 SPEED=1 LINKS="10:20 100:2" WARMUP=10 MAXN=64 COMPUTE=""
MODELS=("mlp:configs/mnist_mlp.yaml" "lenet5:configs/mnist_lenet5.yaml" "vgg:configs/cifar10_vgg_small.yaml")
while [ $# -gt 0 ]; do
    case "$1" in
    --measure) MEASURE=1; shift ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --node-speed) SPEED="$2"; shift 2 ;;
    --links) LINKS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --compute) COMPUTE="$2"; shift 2 ;;
    --tern) TERN="$2"; shift 2 ;;
    *) echo "scaling_model: unknown argument '$1' (--measure, --rounds, --node-speed, --links, --out, --compute, --tern)" >&2
       exit 2 ;;
    esac
done
for l in $LINKS; do
    [[ "$l" =~ ^[0-9.]+:[0-9.]+$ ]] || { echo "scaling_model: --links: '$l' is not GBPS:LATENCY_US, e.g. 10:20" >&2; exit 2; }
done
[[ "$SPEED" =~ ^[0-9]*\.?[0-9]+$ ]] && awk -v f="$SPEED" 'BEGIN { exit !(f > 0) }' ||
    { echo "scaling_model: --node-speed: '$SPEED' is not a number > 0" >&2; exit 2; }
mkdir -p "$OUT"
[ "$MEASURE" = 1 ] || [ -z "${COMPUTE:-}" ] || [ -f "$COMPUTE" ] ||
    { echo "scaling_model: --compute: $COMPUTE: no such file" >&2; exit 2; }
[ "$MEASURE" = 0 ] && [ -n "${COMPUTE:-}" ] || COMPUTE="$OUT/compute.csv"
export OPENBLAS_NUM_THREADS=1

# CPU seconds (user + system) of `tern bench train` at batch $2 for $3 timed steps of config $1.
cpu_seconds() {
    local t
    t=$( { TIMEFORMAT='%3U %3S'; time "$TERN" bench train --config "$ROOT/$1" --batch "$2" --steps "$3" \
        --warmup "$WARMUP" --threads 1 >/dev/null 2>"$ERR"; } 2>&1 ) ||
        { echo "scaling_model: tern bench train --config $1 --batch $2 failed:" >&2; cat "$ERR" >&2; exit 1; }
    awk '{ print $1 + $2 }' <<<"$t"
}

# MS = ms per step at batch $2 of config $1; STEPS[$1:$2] remembers the step count chosen in round 1.
declare -A STEPS
step_ms() {
    local key="$1:$2" s d t1 t2
    s="${STEPS[$key]:-2}"
    while :; do
        t1=$(cpu_seconds "$1" "$2" "$s") && t2=$(cpu_seconds "$1" "$2" $((2 * s))) || exit 1
        d=$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')
        if [ -n "${STEPS[$key]:-}" ] || awk -v d="$d" 'BEGIN { exit !(d >= 0.8) }'; then break; fi
        # Too short to time: aim at ~1.2 s of difference (x8 while it is too small to scale from).
        s=$(awk -v d="$d" -v s="$s" 'BEGIN { print (d < 0.15) ? 8 * s : int(s * 1.2 / d) + 1 }')
    done
    STEPS[$key]=$s
    MS=$(awk -v d="$d" -v s="$s" 'BEGIN { printf "%.4f\n", 1e3 * d / s }')
}

if [ "$MEASURE" = 1 ]; then
    [ -x "$TERN" ] || bash "$ROOT/trainers/setup.sh"
    ERR="$(mktemp)" RAW="$(mktemp)"
    trap 'rm -f "$ERR" "$RAW"' EXIT
    for r in $(seq 1 "$ROUNDS"); do
        for m in "${MODELS[@]}"; do
            name="${m%%:*}" config="${m#*:}"
            params=$("$TERN" summary "$ROOT/$config" | awk '$1 == "total" { print $2 }')
            batch=$(awk '/^training:/ { t = 1 } t && $1 == "batch_size:" { print $2; exit }' "$ROOT/$config")
            for ((b = batch; b >= 2 && b * MAXN >= batch; b /= 2)); do
                step_ms "$config" "$b"
                echo "$name,$config,$params,$batch,$b,$MS" >>"$RAW"
                echo "round $r: $name batch $b: $MS ms per step (CPU, ${STEPS[$config:$b]} steps)" >&2
            done
        done
    done
    {
        echo "model,config,params,global_batch,batch,step_ms,min_ms,max_ms,rounds"
        sort -t, -k1,1 -k5,5n -s "$RAW" | awk -F, '
          function flush(   i, j, t, k) {
              if (!n) return
              for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
              k = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
              printf "%s,%.4f,%.4f,%.4f,%d\n", key, k, v[1], v[n], n
              n = 0
          }
          { k = $1 "," $2 "," $3 "," $4 "," $5; if (k != key) { flush(); key = k } v[++n] = $6 }
          END { flush() }'
    } >"$COMPUTE.tmp"
    mv "$COMPUTE.tmp" "$COMPUTE"
fi
[ -f "$COMPUTE" ] || { echo "scaling_model: $COMPUTE: not measured yet (run with --measure)" >&2; exit 2; }

# The model: model.csv (every number) and tables.md (per model, one column group per link).
awk -F, -v links="$LINKS" -v speed="$SPEED" -v maxn="$MAXN" -v csv="$OUT/model.csv" -v md="$OUT/tables.md" '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
  {
      m = $col["model"]
      if (!(m in B)) { order[++nm] = m; B[m] = $col["global_batch"]; P[m] = $col["params"]; C[m] = $col["config"] }
      ms[m, $col["batch"]] = $col["step_ms"] / speed
  }
  END {
      nl = split(links, L, " ")
      for (k = 1; k <= nl; k++) { split(L[k], f, ":"); gbps[k] = f[1]; lat[k] = f[2] }
      print "model,params,grad_bytes,link_gbps,latency_us,nodes,batch_per_node,compute_ms,allreduce_ms,step_ms,speedup,efficiency,b_star" > csv
      printf "Compute: one core of the machine --measure ran on, divided by %s (--node-speed). " \
             "b*: the per-node batch whose compute equals the all-reduce.\n", speed > md
      for (i = 1; i <= nm; i++) {
          m = order[i]; bytes = 4 * P[m]; t1 = ms[m, B[m]]; ts = t1 / B[m]
          printf "\n### %s (%s): %d trainable parameters, %.2f MB of gradients, global batch %d, " \
                 "%.1f µs per sample at batch %d\n\n", m, C[m], P[m], bytes / 1e6, B[m], 1e3 * ts, B[m] > md
          hdr = "| N | batch per node | compute ms |"; sep = "| ---: | ---: | ---: |"
          for (k = 1; k <= nl; k++) {
              hdr = hdr sprintf(" %s Gb/s: all-reduce ms | step ms | speed-up | efficiency | b* |", gbps[k])
              sep = sep " ---: | ---: | ---: | ---: | ---: |"
          }
          print hdr > md; print sep > md
          for (k = 1; k <= nl; k++) { n50[k] = 1; smax[k] = 1; nmax[k] = 1; bs_lo[k] = ""; }
          for (n = 1; n <= maxn && (m, B[m] / n) in ms; n *= 2) {
              b = B[m] / n; comp = ms[m, b]
              row = sprintf("| %d | %d | %.2f |", n, b, comp)
              for (k = 1; k <= nl; k++) {
                  ar = (n > 1) ? 2 * (n - 1) / n * bytes / (gbps[k] * 1e9 / 8) * 1e3 + 2 * (n - 1) * lat[k] * 1e-3 : 0
                  step = comp + ar; s = t1 / step; e = s / n; bs = ar / ts
                  printf "%s,%d,%d,%s,%s,%d,%d,%.4f,%.4f,%.4f,%.3f,%.3f,%.1f\n", m, P[m], bytes, gbps[k], lat[k],
                         n, b, comp, ar, step, s, e, bs > csv
                  row = row sprintf(" %.2f | %.2f | %.2f | %.0f%% | %s |", ar, step, s, 100 * e,
                                    n > 1 ? sprintf("%.1f", bs) : "–")
                  if (e >= 0.5) n50[k] = n
                  if (s > smax[k]) { smax[k] = s; nmax[k] = n }
                  if (n > 1) { if (bs_lo[k] == "") bs_lo[k] = bs; bs_hi[k] = bs }
              }
              print row > md
          }
          for (k = 1; k <= nl; k++)
              summary = summary sprintf("| %s | %s Gb/s, %s µs | %d (%d per node) | %.2f at N = %d | %.1f – %.1f |\n", m,
                                        gbps[k], lat[k], n50[k], B[m] / n50[k], smax[k], nmax[k], bs_lo[k], bs_hi[k])
      }
      printf "\n### Summary\n\nScaling stops paying where efficiency falls below 50%%; b* from N = 2 to the " \
             "largest N the global batch allows (2 samples per node).\n\n" > md
      print "| model | link | largest N with efficiency >= 50% | best speed-up | b* (samples per node) |" > md
      print "| --- | --- | ---: | ---: | ---: |" > md
      printf "%s", summary > md
  }' "$COMPUTE"
cat "$OUT/tables.md"
