#!/bin/bash
# bench-memory — peak memory of a Broden-scale step-(d) epoch with
# --precision float32: the training set in memory (memory), in memory with
# its batches gathered in chunks under a budget that holds the set but not
# a whole batch beside it (lean: --memory LEAN), and streamed from the file
# (stream: --memory MEMORY); build/bench/torch_ref runs the tools' loading
# and training loop. Timed, with the mean objective of each epoch (equal:
# the three give the same result). Writes an N-image features file (N × 512
# × 49 × 4 bytes: 6.4 GB at 64000) under TMPDIR.
#
#   bash bench/bench-memory.sh   N=64000  MEMORY=2G  LEAN=6.5G  THREADS=$(nproc)  MODES="memory lean stream"
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-64000}
MEMORY=${MEMORY:-2G}
LEAN=${LEAN:-6.5G}
THREADS=${THREADS:-$(nproc)}
MODES=${MODES:-memory lean stream}
[[ -x build/bench/torch_ref ]] || { echo "bench-memory: run make build/bench/torch_ref first" >&2; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench_memory.XXXXXX")
trap 'rm -rf "$dir"' EXIT
build/bench/torch_ref --make-broden "$N" --seed 7 --threads "$THREADS" "$dir/broden.h5" "$dir/head.h5"
flags=(--quiet --overwrite --step d --detectors 500 --seed 7 --threads "$THREADS" --batch 4096 --lr 5e-5
       --objective constrained --al-every 50 --al-penalty 1 --al-growth 10 --al-penalty-max 1e4
       --gamma 1.1 --tau 1 --rho 0.5 --nu 4 --kappa 0.5:0.9
       --losses s,sb,ma,mm,ic,eac,cur,fso --weight s=0.85 --weight sb=2.6 --weight cur=0.25
       --bound ma=0.8 --bound mm=8 --bound ic=0.01 --bound eac=0.1 --bound fso=0.1
       --precision float32 --check-images 8 --time-epochs 1)
echo "bench-memory: one step-(d) epoch, --precision float32, $N images of 512 x 7 x 7, batches of 4096," \
     "$THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
for mode in $MODES; do
    extra=()
    [[ $mode == stream ]] && extra=(--memory "$MEMORY")
    [[ $mode == lean ]] && extra=(--memory "$LEAN")
    /usr/bin/time -f "peak_rss_kb %M" -o "$dir/$mode.mem" build/bench/torch_ref "${flags[@]}" "${extra[@]}" \
        "$dir/broden.h5" "$dir/head.h5" -o "$dir/dump.h5" > "$dir/$mode.txt"
    awk -v m="$mode${extra[*]:+ (${extra[*]})}" -v kb="$(awk '$1 == "peak_rss_kb" {print $2}' "$dir/$mode.mem")" \
        -v s="$(awk '$1 == "c_seconds" {print $2}' "$dir/$mode.txt")" \
        -v o="$(awk '$1 == "c_objective" {print $2}' "$dir/$mode.txt")" 'BEGIN {
        printf "  %-22s peak RSS %6.2f GiB (%5.2f GB)   epoch %7.2f s   mean objective %s\n", m, kb / 1048576,
               kb * 1024 / 1e9, s, o }'
done
echo "  load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
