#!/usr/bin/env bash
# gpu-check.sh — the one script for a machine with an NVIDIA GPU (issue #5):
# builds with CUDA, runs the CPU-vs-CUDA comparison suite (test_device),
# trains through the tools with --device cuda on a small synthetic set, and
# runs the Broden-scale benchmark (bench_gpu). Every log goes under $OUT
# (default ./gpu-logs). Exit status: 0 when every comparison passed, 1 when
# one failed or was skipped, 2 when the build failed. Fits ~8 minutes on a
# 16-core machine (the build ~1-2 min, test_device < 2 min, bench < 4 min).
#
#   bash bench/gpu-check.sh                # from the repository root
#   OUT=/tmp/logs BENCH_GPU_ARGS='--images 16384' bash bench/gpu-check.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-./gpu-logs}
mkdir -p "$OUT"
JOBS=${JOBS:-16}
status=0
say() { echo "gpu-check: $*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

{ date; uname -a; nvidia-smi 2>&1; command -v nvcc || ls /usr/local/cuda/bin/nvcc; } > "$OUT/machine.txt" 2>&1
say "$(grep -m1 -E 'H200|H100|A100|NVIDIA' "$OUT/machine.txt" || echo 'nvidia-smi: no GPU listed')"

# Build: 'make deps' installs missing Debian packages when root (apt-get),
# then libcore with the CUDA objects, the tools, the suite and the benchmark.
t0=$SECONDS
if ! { make deps && make -j"$JOBS" all build/tests/test_device build/bench/bench_gpu; } > "$OUT/build.log" 2>&1; then
    say "build FAILED (see $OUT/build.log):"
    tail -40 "$OUT/build.log"
    exit 2
fi
say "build: $((SECONDS - t0)) s; $(grep -m1 '^backend:' "$OUT/build.log")"

# 1. CPU and CUDA backends on identical batches, a short training run.
t0=$SECONDS
timeout 300 build/tests/test_device > "$OUT/test_device.log" 2>&1
rc=$?
cat "$OUT/test_device.log"
if (( rc != 0 )) || grep -q 'skipped' "$OUT/test_device.log"; then
    say "test_device FAILED or skipped (exit $rc, $((SECONDS - t0)) s)"
    status=1
else
    say "test_device: $(tail -1 "$OUT/test_device.log") ($((SECONDS - t0)) s)"
fi

# 2. The tools with --device cuda: steps a, c, d on a small synthetic set;
# the output's provenance names the device.
t0=$SECONDS
T=$(mktemp -d)
(
    set -e
    bin/synthgen --seed 1 --per-class 200 -o "$T/f.h5"
    bin/trainhead --seed 1 --epochs 50 "$T/f.h5" -o "$T/h.h5"
    bin/uibe --device cuda --quiet --seed 1 --detectors 3 --epochs 20 --batch 64 --lr 1e-3 "$T/f.h5" "$T/h.h5" -o "$T/a.h5"
    bin/eddp --step c "$T/a.h5" "$T/f.h5" -o "$T/c.h5"
    bin/eddp --device cuda --quiet --step d --seed 1 --epochs 20 --batch 64 --lr 1e-3 "$T/c.h5" "$T/f.h5" "$T/h.h5" -o "$T/d.h5"
    bin/uibe --device cpu --quiet --seed 1 --detectors 3 --epochs 20 --batch 64 --lr 1e-3 "$T/f.h5" "$T/h.h5" -o "$T/a-cpu.h5"
    h5dump -a /device "$T/a.h5"
    h5dump -a /device "$T/d.h5"
    h5dump -a /device "$T/a-cpu.h5"
    h5dump -d /W "$T/a.h5"
    h5dump -d /W "$T/a-cpu.h5"
) > "$OUT/tools.log" 2>&1
rc=$?
if (( rc != 0 )) || ! grep -q '"cuda:' "$OUT/tools.log"; then
    say "tools with --device cuda FAILED (exit $rc; see $OUT/tools.log)"
    tail -20 "$OUT/tools.log"
    status=1
else
    say "tools with --device cuda: uibe, eddp c/d ok, provenance $(grep -m1 -o '"cuda:[^"]*"' "$OUT/tools.log") ($((SECONDS - t0)) s)"
fi
rm -rf "$T"

# 3. The benchmark (a figure, never pass/fail).
t0=$SECONDS
timeout 360 build/bench/bench_gpu ${BENCH_GPU_ARGS:-} > "$OUT/bench_gpu.log" 2>&1
rc=$?
cat "$OUT/bench_gpu.log"
if (( rc != 0 )); then
    say "bench_gpu FAILED or timed out (exit $rc, $((SECONDS - t0)) s)"
    status=1
else
    say "bench_gpu: $(grep -m1 'projected' "$OUT/bench_gpu.log" | sed 's/^ *//') ($((SECONDS - t0)) s)"
fi
say "exit $status"
exit $status
