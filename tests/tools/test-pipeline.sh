# test-pipeline.sh — pipelines/synthetic.mk end to end at toy sizes, and its
# incremental behaviour: touching an input or changing a setting reruns only
# what depends on it.
source tests/tools/lib.sh

V=(SYN_DIR="$TMP/runs" SEED=5 SEEDS="5 6" PER_CLASS=40 HEAD_FLAGS="--epochs 50" EPOCHS_A=20 EPOCHS_D=20 BATCH=32 LR=1e-3 LR_A=1e-3
   SAE_FLAGS="--hidden 3 --epochs 5")
M() { make --no-print-directory "${V[@]}" "$@"; }
R="$TMP/runs/seed5"

check "make synthetic runs the whole pipeline" bash -c "$(declare -f M); $(declare -p V); M -s synthetic 2>'$TMP/steps.err'"
check "...one line per finished step with its wall time (stderr not a terminal)" bash -c "
    grep -Eq '^synthetic/seed[0-9]+/a: [0-9]+\.[0-9]{2} s$' '$TMP/steps.err' &&
    grep -Eq '^synthetic/seed[0-9]+/report: [0-9]+\.[0-9]{2} s$' '$TMP/steps.err'"
check "the report has the IoU tables, RMSE, diagnostics and Figure 3" bash -c "
    grep -q 'signal-value RMSE' '$R/report.txt' && grep -q '^accuracy' '$R/report.txt' &&
    grep -q 'diagnose-ideal.tsv' '$R/report.txt' && grep -q '^L_s' '$R/report.txt' && grep -q '^L_ic' '$R/report.txt' &&
    grep -q '^pcav' '$R/report.txt' && grep -q '^sae-0.1' '$R/report.txt' && test -s '$R/figure3.png'"
check "the report has the influence tables (d with S3, eq1, pcav) and the three-class note" bash -c "
    grep -q 'directions: .*/d.h5 (step d)' '$R/report.txt' && grep -q '^S3 ' '$R/report.txt' &&
    grep -q 'directions: .*/pcav.h5 (step pcav)' '$R/report.txt' && grep -q 'with 3 classes every direction' '$R/report.txt'"
check "everything is up to date" M -q "$R/report.txt"

touch "$R/head.h5"
M -n "$R/report.txt" > "$TMP/plan1" 2>&1
check "touching head.h5 reruns step (a) onwards, not the data" bash -c "
    grep -q 'bin/uibe' '$TMP/plan1' && grep -q 'bin/eddp --quiet --overwrite --step d' '$TMP/plan1' &&
    ! grep -q 'bin/synthgen' '$TMP/plan1' && ! grep -q 'bin/trainhead --quiet' '$TMP/plan1'"
M -s "$R/report.txt"

V+=(EPOCHS_D=25)
M -n "$R/report.txt" > "$TMP/plan2" 2>&1
check "changing EPOCHS_D reruns step (d) and its evaluations only" bash -c "
    grep -q 'bin/eddp --quiet --overwrite --step d' '$TMP/plan2' && grep -q 'eval-d.h5' '$TMP/plan2' &&
    ! grep -q 'bin/uibe' '$TMP/plan2' && ! grep -q -- '--step c .*/a\.h5' '$TMP/plan2' &&
    ! grep -q 'bin/synthgen' '$TMP/plan2' && ! grep -q 'bin/sae' '$TMP/plan2'"
M -s "$R/report.txt"
check "the new setting reached step (d)" py <<'EOF'
import h5py, sys
assert h5py.File(sys.argv[1] + "/runs/seed5/d.h5", "r").attrs["epochs"] == 25
EOF
check "synthetic-seeds summarises every seed" bash -c "make --no-print-directory ${V[*]@Q} -s -j2 synthetic-seeds > '$TMP/summary' &&
    grep -q 'mean ± sd' '$TMP/summary' && grep -q seed6/eval-d.h5 '$TMP/summary'"
finish
