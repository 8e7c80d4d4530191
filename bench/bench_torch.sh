#!/bin/bash
# bench_torch — the toolkit's CPU backend side by side with a plain PyTorch
# implementation of the same training step (bench/torch_eddp.py: the same
# losses and augmented Lagrangian, autograd for the gradient), on the same
# data, shapes, settings and starting parameters (build/bench/torch_ref
# writes them), timed in the same run with the same thread count. Ratios,
# never pass/fail; on a loaded machine both sides slow down (the load
# average is printed). Every comparison starts with the numerical
# cross-check of that problem (torch_eddp.py check: each term and the AL
# total to 1e-6 relative, the gradient to 1e-8).
#
#   1. The whole synthetic experiment on a short schedule (EPOCHS_A =
#      EPOCHS_D = 2000, SAEs 200 epochs) from the data on: the data
#      (synthgen: train.h5, test.h5) are made first and not timed; then
#      `make synthetic` in a temporary SYN_DIR (every step's time from
#      pipelines/step.sh's "NAME: S s" lines) against bench/torch_whole.py,
#      the same experiment in plain PyTorch on the same two files with the
#      pipeline's own flags files: head, steps a, c, d, the Eq.-1 and ICA
#      re-estimates, Pattern-CAV, the SAEs, the evaluations of the report
#      and the RCAV influence tables, in one process. Step (a) starts from
#      uibe's own seeded basis (torch_ref's dump) on both sides; batch
#      orders and κ draws are each side's own. PyTorch's wall time is the
#      whole process (interpreter, imports, data loading); `import torch`
#      is printed apart. Per-stage times on both sides, the ratios, and a
#      loose cross-check (same order, not pass/fail) of the head's last
#      loss and test accuracy, the last objectives of steps a and d, the
#      SAEs' final losses and step d's matched IoU. Steps a and d are also
#      checked exactly (terms, AL total, gradient) on the same parameters.
#   2. One step-(d) epoch at the synthetic preset: the mean of EPOCHS_PRESET
#      epochs (multiplier updates included, as in a run) on both sides.
#   3. One step-(d) epoch at Broden scale: 512 channels, 500 detectors, 7×7
#      pixels, batches of 4096 images, over BRODEN_IMAGES random images,
#      random detectors and signals: the float64 path on both sides, then
#      float32 on both sides (our --precision float32 path, PyTorch with
#      --dtype float32; TORCH_FLOAT32=0 skips it, TORCH_FLOAT64=0 the
#      float64 pair), with the ratios
#      PyTorch / C in each precision and C float64 / C float32. Memory at
#      8192 images: C ~2 GB, PyTorch float64 ~10 GB at batches of 4096.
#
#   make bench-torch            # or: bash bench/bench_torch.sh after make and
#                               # make build/bench/torch_ref
#   THREADS=1 (synthetic parts, the pipeline's default)  BRODEN_THREADS=$(nproc)
#   BRODEN_IMAGES=8192  EPOCHS_PRESET=100  PARTS="1 2 3"  SEED=0
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "bench_torch: skipped: python3-torch is not installed (sudo make bench-torch installs it, or sudo apt-get install python3-torch)"
    exit 0
fi
# Build what the bench runs first, untimed, with the caller's settings (`make
# NVCC= bench-torch` passes NVCC= on to these makes), so that no timed make
# rebuilds a tool.
make --no-print-directory -s all build/bench/torch_ref >/dev/null
for f in build/bench/torch_ref bin/uibe bin/eddp; do
    [[ -x $f ]] || { echo "bench_torch: $f is missing; run make and make build/bench/torch_ref first" >&2; exit 1; }
done
THREADS=${THREADS:-1}
BRODEN_THREADS=${BRODEN_THREADS:-$(nproc)}
BRODEN_IMAGES=${BRODEN_IMAGES:-8192}
EPOCHS_PRESET=${EPOCHS_PRESET:-100}
PARTS=${PARTS:-1 2 3}
SEED=${SEED:-0}
dir=$(mktemp -d "${TMPDIR:-/tmp}/bench_torch.XXXXXX")
trap 'rm -rf "$dir"' EXIT
s=$dir/seed$SEED

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
field() { awk -v k="$1" '$1 == k {print $2}' "$2"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
crosscheck() { # DUMP LABEL
    echo "  cross-check ($2): C and PyTorch on the same parameters and batch"
    "$PY" bench/torch_eddp.py check "$1" | sed 's/^/    /'
}
mk() { make --no-print-directory -s SYN_DIR="$dir" SEED="$SEED" THREADS="$THREADS" EPOCHS_A=2000 EPOCHS_D=2000 \
            SAE_FLAGS="--hidden 3 --epochs 200 --batch 1024 --lr 1e-3" "$@" >/dev/null; }

echo "bench_torch: the CPU backend vs PyTorch $("$PY" -c 'import torch; print(torch.__version__)') (CPU, float64), $(nproc) cores, load $(load)"

# The short-schedule pipeline: needed by parts 1 and 2 (train.h5, head.h5, c.h5).
if [[ " $PARTS " == *" 1 "* || " $PARTS " == *" 2 "* ]]; then
    t=$(now); mk "$s/train.h5" "$s/test.h5" 2> "$dir/data.txt" || { cat "$dir/data.txt" >&2; exit 1; }; t_data=$(since "$t")
    t=$(now); mk synthetic 2> "$dir/steps.txt" || { cat "$dir/steps.txt" >&2; exit 1; }; t_ours=$(since "$t")
    build/bench/torch_ref --quiet --step a --seed "$SEED" $(cat "$s/a.flags") "$s/train.h5" "$s/head.h5" -o "$dir/dump-a.h5"
    build/bench/torch_ref --quiet --step d --seed "$SEED" $(cat "$s/d.flags") --directions "$s/c.h5" \
        "$s/train.h5" "$s/head.h5" -o "$dir/dump-d.h5"
fi

if [[ " $PARTS " == *" 1 "* ]]; then
    echo "== 1. the whole synthetic experiment, short schedule (2,000 + 2,000 epochs, SAEs 200), from the data on, seed $SEED, THREADS=$THREADS"
    crosscheck "$dir/dump-a.h5" "step (a), uibe's starting basis"
    crosscheck "$dir/dump-d.h5" "step (d), eddp's start from c.h5"
    echo "  the data (synthgen train.h5 and test.h5, made first, counted on neither side): $t_data s"
    t=$(now)
    /usr/bin/time -f "peak_rss_kb %M" -o "$dir/pw.mem" "$PY" bench/torch_whole.py "$s/train.h5" "$s/test.h5" \
        --flags "$s" --sae-lambdas "$(cd "$s" && ls sae-*.h5 | sed 's/^sae-//; s/\.h5$//' | paste -sd,)" \
        --threads "$THREADS" --seed "$SEED" --start-a "$dir/dump-a.h5" > "$dir/pw.txt"
    p_whole=$(since "$t")
    p_import=$(field torch_import_seconds "$dir/pw.txt")
    # Our stages from step.sh's "synthetic/seedN/STEP: S s" lines; PyTorch's from its "stage NAME S" lines.
    awk -v whole="$t_ours" -v pwhole="$p_whole" -v pimport="$p_import" '
        function stage(step) {
            if (step ~ /^head/) return "head"
            if (step == "a" || step == "c" || step == "d" || step == "pcav") return step
            if (step == "eq1" || step == "ica") return "eq1+ica"
            if (step ~ /^sae-/) return "sae"
            if (step ~ /^influence-/) return "influence"
            return "evaluation"
        }
        FILENAME == ARGV[1] && / s$/ { n = split($1, part, "/"); step = part[n]; sub(/:$/, "", step)
                                       c[stage(step)] += $2; csum += $2; next }
        FILENAME == ARGV[2] && $1 == "stage" { p[$2] += $3; psum += $3 }
        END {
            printf "  %-34s %9s %12s %8s\n", "stage (wall, s)", "ours", "PyTorch", "ratio"
            split("head a c d eq1+ica pcav sae evaluation influence", order, " ")
            for (k = 1; k <= 9; k++) { q = order[k]
                printf "  %-34s %9.2f %12.2f %8.1f\n", q, c[q], p[q], (c[q] > 0 ? p[q] / c[q] : 0) }
            printf "  %-34s %9s %12.2f\n", "PyTorch: loading the two files", "", p["load"]
            printf "  %-34s %9.2f %12.2f\n", "make + step.sh / python + h5py", whole - csum, pwhole - psum - pimport - p["load"]
            printf "  %-34s %9s %12.2f\n", "import torch", "", pimport
            printf "  %-34s %9.2f %12.2f %8.1f\n", "whole", whole, pwhole, pwhole / whole
            printf "  %-34s %9.2f %12.2f %8.1f\n", "whole without import torch", whole, pwhole - pimport, (pwhole - pimport) / whole
        }' "$dir/steps.txt" "$dir/pw.txt"
    echo "  peak RSS: PyTorch $(awk '$1 == "peak_rss_kb" {printf "%.0f MB", $2 / 1024}' "$dir/pw.mem")"
    # Loose cross-check: the same order, not the same numbers (each side's own batch orders and κ draws).
    cfig() { "$PY" - "$s" <<'PYEOF'
import h5py, sys, numpy as np
s = sys.argv[1]
h = h5py.File(f"{s}/head.h5", "r")
print("head_last_epoch_loss", "%.6g" % h["history/loss"][-1])
print("head_test_accuracy", open(f"{s}/head-eval.txt").read().split()[1])
for step in "ad":
    print(f"{step}_last_epoch_objective", "%.6g" % h5py.File(f"{s}/{step}.h5", "r")["history/objective"][-1])
import glob
for path in sorted(glob.glob(f"{s}/sae-*.h5")):
    lam = path.rsplit("sae-", 1)[1][:-3]
    print(f"sae_{lam}_final_loss", "%.6g" % h5py.File(path, "r").attrs["final_loss"])
e = h5py.File(f"{s}/eval-d.h5", "r")
iou = [e["iou"][i, m] for i, m in enumerate(e["match"][:]) if m >= 0]
print("d_matched_iou_min", "%.6g" % min(iou))
print("d_matched_iou_mean", "%.6g" % np.mean(iou))
print("rmse_d", "%.6g" % e.attrs["rmse"])
for line in open(f"{s}/figure3.tsv").read().splitlines()[1:]:
    method, mean = line.split("\t")[:2]
    print(f"cos_mean_{method}", mean)
row = [l.split() for l in open(f"{s}/table1.txt") if l.startswith("individual")][0]
print("iou_label_S1", row[2])
print("iou_label_mAP", row[-1])
for name in ("d", "ideal"):
    print(f"diagnose_{name}_L_s", [l.split()[1] for l in open(f"{s}/diagnose-{name}.tsv") if l.startswith("L_s")][0])
text = {m: open(f"{s}/influence-{m}.txt").read().splitlines() for m in ("d", "eq1", "pcav")}
print("rcav_d_S3", [l.split()[4] for l in text["d"] if l.startswith("S3 ")][0])
print("rcav_sdc_d_eq1_pcav", "/".join([l.split()[-1] for l in text[m] if "(SDC)" in l][0] for m in ("d", "eq1", "pcav")))
PYEOF
    }
    cfig > "$dir/cfig.txt"
    echo "  loose cross-check (same order expected; each side's own batch orders and κ draws):"
    awk 'FILENAME == ARGV[1] { c[$1] = $2; next } $1 == "figure" && ($2 in c) {
             printf "    %-28s ours %-10s PyTorch %s\n", $2, c[$2], $3 }' "$dir/cfig.txt" "$dir/pw.txt"
    echo "  load at the end: $(load)"
fi

if [[ " $PARTS " == *" 2 "* ]]; then
    echo "== 2. one step-(d) epoch at the synthetic preset (mean of $EPOCHS_PRESET epochs, THREADS=$THREADS)"
    build/bench/torch_ref --quiet --overwrite --step d --seed "$SEED" $(cat "$s/d.flags") --threads "$THREADS" \
        --directions "$s/c.h5" --time-epochs "$EPOCHS_PRESET" "$s/train.h5" "$s/head.h5" -o "$dir/dump-d.h5" > "$dir/c2.txt"
    "$PY" bench/torch_eddp.py time "$dir/dump-d.h5" "$s/train.h5" --epochs "$EPOCHS_PRESET" --threads "$THREADS" > "$dir/p2.txt"
    c2=$(field c_seconds "$dir/c2.txt") p2=$(field torch_seconds "$dir/p2.txt")
    awk -v c="$c2" -v p="$p2" -v e="$EPOCHS_PRESET" 'BEGIN {
        printf "  C %.3f ms/epoch   PyTorch %.3f ms/epoch   ratio PyTorch / C %.2f\n", 1e3 * c / e, 1e3 * p / e, p / c }'
    echo "  load at the end: $(load)"
fi

if [[ " $PARTS " == *" 3 "* ]]; then
    echo "== 3. one step-(d) epoch at Broden scale: 512 channels, 500 detectors, 7x7, batches of 4096, $BRODEN_IMAGES images, $BRODEN_THREADS threads"
    build/bench/torch_ref --make-broden "$BRODEN_IMAGES" --seed 7 --threads "$BRODEN_THREADS" "$dir/broden.h5" "$dir/broden-head.h5"
    flags=(--step d --detectors 500 --seed 7 --threads "$BRODEN_THREADS" --batch 4096 --lr 5e-5
           --objective constrained --al-every 50 --al-penalty 1 --al-growth 10 --al-penalty-max 1e4
           --gamma 1.1 --tau 1 --rho 0.5 --nu 4 --kappa 0.5:0.9
           --losses s,sb,ma,mm,ic,eac,cur,fso --weight s=0.85 --weight sb=2.6 --weight cur=0.25
           --bound ma=0.8 --bound mm=8 --bound ic=0.01 --bound eac=0.1 --bound fso=0.1)
    build/bench/torch_ref --quiet "${flags[@]}" --check-images 8 "$dir/broden.h5" "$dir/broden-head.h5" \
        -o "$dir/dump-b.h5"
    crosscheck "$dir/dump-b.h5" "8 images, random detectors and signals"
    if [[ ${TORCH_FLOAT64:-1} == 1 ]]; then
    /usr/bin/time -f "peak_rss_kb %M" -o "$dir/c3.mem" build/bench/torch_ref --quiet --overwrite "${flags[@]}" \
        --check-images 8 --time-epochs 1 "$dir/broden.h5" "$dir/broden-head.h5" -o "$dir/dump-b.h5" > "$dir/c3.txt"
    /usr/bin/time -f "peak_rss_kb %M" -o "$dir/p3.mem" "$PY" bench/torch_eddp.py time "$dir/dump-b.h5" "$dir/broden.h5" \
        --epochs 1 --threads "$BRODEN_THREADS" > "$dir/p3.txt"
    c3=$(field c_seconds "$dir/c3.txt") p3=$(field torch_seconds "$dir/p3.txt")
    mc=$(field peak_rss_kb "$dir/c3.mem") mp=$(field peak_rss_kb "$dir/p3.mem")
    awk -v c="$c3" -v p="$p3" -v mc="$mc" -v mp="$mp" 'BEGIN {
        printf "  C float64 %.2f s   PyTorch float64 %.2f s   ratio PyTorch / C %.2f   (peak RSS C %.1f GB, PyTorch %.1f GB)\n",
               c, p, p / c, mc / 1048576, mp / 1048576 }'
    fi
    if [[ ${TORCH_FLOAT32:-1} == 1 ]]; then
        /usr/bin/time -f "peak_rss_kb %M" -o "$dir/c3f.mem" build/bench/torch_ref --quiet --overwrite "${flags[@]}" \
            --precision float32 --check-images 8 --time-epochs 1 "$dir/broden.h5" "$dir/broden-head.h5" \
            -o "$dir/dump-b.h5" > "$dir/c3f.txt"
        /usr/bin/time -f "peak_rss_kb %M" -o "$dir/p3f.mem" "$PY" bench/torch_eddp.py time "$dir/dump-b.h5" \
            "$dir/broden.h5" --epochs 1 --threads "$BRODEN_THREADS" --dtype float32 > "$dir/p3f.txt"
        c3f=$(field c_seconds "$dir/c3f.txt") p3f=$(field torch_seconds "$dir/p3f.txt")
        mcf=$(field peak_rss_kb "$dir/c3f.mem") mpf=$(field peak_rss_kb "$dir/p3f.mem")
        awk -v c="$c3f" -v p="$p3f" -v mc="$mcf" -v mp="$mpf" 'BEGIN {
            printf "  C float32 %.2f s   PyTorch float32 %.2f s   ratio PyTorch / C %.2f   (peak RSS C %.1f GB, PyTorch %.1f GB)\n",
                   c, p, p / c, mc / 1048576, mp / 1048576 }'
        [[ ${TORCH_FLOAT64:-1} == 1 ]] &&
            echo "  ratio C float64 / C float32 $(ratio "$c3" "$c3f")   PyTorch float32 / C float64 $(ratio "$p3f" "$c3")"
    fi
    echo "  load at the end: $(load)"
fi
