#!/bin/bash
# bench_synthetic — wall time of the whole direction learning of the
# synthetic experiment (issue #3's figure, target: under one minute on 2
# cores): step (a) (uibe), step (c) and step (d) (eddp) with the pipeline's
# settings and the paper's schedule (20,000 + 20,000 epochs), one seed. Data
# and head are made first and not timed. A timing, never pass/fail; on a
# loaded machine it is slower (quote the machine's load with it).
# Run from the repository root after `make`.
#
#   bash bench/bench_synthetic.sh               # seed 0, EPOCHS_A = EPOCHS_D = 20000
#   SEED=2 bash bench/bench_synthetic.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
seed=${SEED:-0}
s=$dir/seed$seed
mk() { make --no-print-directory -s SYN_DIR="$dir" SEED="$seed" "$@"; }
mk "$s/train.h5" "$s/head.h5" >/dev/null
seconds() { # TARGET -> wall seconds of making it
    local start end
    start=$(date +%s.%N)
    mk "$1" >/dev/null
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}'
}
a=$(seconds "$s/a.h5")
c=$(seconds "$s/c.h5")
d=$(seconds "$s/d.h5")
echo "bench_synthetic: seed $seed, steps (a) + (c) + (d), paper schedule, pipeline settings (THREADS=1)"
echo "  step (a) ${a} s   step (c) ${c} s   step (d) ${d} s"
awk -v a="$a" -v c="$c" -v d="$d" 'BEGIN {printf "  whole learning %.1f s   (target < 60 s)\n", a + c + d}'
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
