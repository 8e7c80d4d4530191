#!/usr/bin/env bash
# bench-io.sh — synthgen and featdump throughput (MB/s) and peak memory on a
# Broden-sized feature set: 63,000 images × 512 channels × 7×7 float32
# (about 6.3 GB). BENCH_IMAGES scales it down; BENCH_DIR picks the disk.
set -euo pipefail
cd "$(dirname "$0")/.."
images=${BENCH_IMAGES:-63000}
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/bench-io.XXXXXX")
trap 'rm -rf "$dir"' EXIT
classes=$(/usr/bin/python3 -c 'print(";".join(",".join(str((k + p) % 10) for p in range(49)) for k in range(10)))')
per_class=$((images / 10))

measure() { # label output-file command...: wall seconds and peak RSS
    local label=$1 file=$2; shift 2
    /usr/bin/time -f '%e %M' -o "$dir/time" "$@" >/dev/null
    read -r secs kb <"$dir/time"
    local bytes
    bytes=$(stat -c %s "$file")
    awk -v l="$label" -v s="$secs" -v k="$kb" -v b="$bytes" 'BEGIN {
        printf "%-28s %8.1f MB in %6.1f s  %7.1f MB/s  peak RSS %7.1f MB  (%.3f of the file)\n",
               l, b / 1e6, s, b / 1e6 / s, k / 1024, k * 1024 / b }'
}

echo "feature set: $((per_class * 10)) images x 512 x 7 x 7 float32 in $dir"
measure "synthgen (write)" "$dir/f.h5" bin/synthgen --quiet --seed 1 --random-truth --dims 512 --concepts 10 \
    --distractors 5 --height 7 --width 7 --classes "$classes" --per-class "$per_class" -o "$dir/f.h5"
measure "featdump --info (read)" "$dir/f.h5" bin/featdump --info "$dir/f.h5"
measure "featdump --export (read+write)" "$dir/f.h5" bin/featdump --export /features "$dir/f.h5" -o "$dir/f.npy"
measure "featdump import (read+write)" "$dir/f.npy" bin/featdump --features "$dir/f.npy" -o "$dir/g.h5"
