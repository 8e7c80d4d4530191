#!/bin/bash
# bench_synthetic — wall time of the synthetic experiment's step (a) training
# (uibe, 3 detectors on 1×2-pixel images of 16 channels, batches of 1024
# images) with 1 and with 2 threads; medians of REPS runs, interleaved so
# that a change in the machine's load hits both alike. A timing, never
# pass/fail. Run from the repository root after `make`.
#
#   bash bench/bench_synthetic.sh            # REPS=3 EPOCHS=2000
#   REPS=5 EPOCHS=500 bash bench/bench_synthetic.sh
set -euo pipefail
bin=$(cd "$(dirname "$0")/.." && pwd)/bin
reps=${REPS:-3}
epochs=${EPOCHS:-2000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
"$bin/synthgen" --quiet --seed 0 -o tr.h5 --overwrite
"$bin/trainhead" --quiet --seed 0 tr.h5 -o h.h5 --overwrite
run() { # THREADS -> appends the wall time to times_THREADS
    local start end
    start=$(date +%s.%N)
    "$bin/uibe" --quiet --threads "$1" --seed 0 --detectors 3 --objective constrained \
        --weight s=2.6 --weight uur=0.25 --bound ma=0.8 --bound mm=8 --bound ic=0.1 \
        --lr 5e-5 --epochs "$epochs" tr.h5 h.h5 -o a.h5 --overwrite
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN {print b - a}' >>"times_$1"
}
for _ in $(seq "$reps"); do
    run 1
    run 2
done
median() { sort -n "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
t1=$(median times_1)
t2=$(median times_2)
awk -v e="$epochs" -v r="$reps" -v t1="$t1" -v t2="$t2" 'BEGIN {
    printf "bench_synthetic: uibe, %s epochs, median of %s runs: 1 thread %.2f s, 2 threads %.2f s (ratio 2/1 %.2f)\n",
        e, r, t1, t2, t2 / t1 }'
