# test-pipeline-resume.sh — pipelines/synthetic.mk passes --checkpoint-every
# CHECKPOINT_EVERY and --resume to its training steps: `make synthetic`
# interrupted during step (a) (SIGINT to Make's process group, as Ctrl-C
# sends it) leaves a checkpoint and no a.h5; the rerun continues from the
# checkpoint and ends with the same files as an uninterrupted run.
source tests/tools/lib.sh

# Step (a) long enough (about 5 s) to be interrupted in the middle.
V=(SEED=5 SEEDS=5 PER_CLASS=40 HEAD_FLAGS="--epochs 50" EPOCHS_A=20000 EPOCHS_D=20 BATCH=32 LR=1e-3 LR_A=1e-3
   SAE_FLAGS="--hidden 3 --epochs 5" SAE_LAMBDAS=0 CHECKPOINT_EVERY=500)
M() { make --no-print-directory "${V[@]}" "$@"; }

check "an uninterrupted make synthetic" M -s SYN_DIR="$TMP/whole" synthetic

R=$TMP/cut/seed5
setsid make --no-print-directory "${V[@]}" -s SYN_DIR="$TMP/cut" synthetic >"$TMP/cut.out" 2>&1 &
make_pid=$!
for ((i = 0; i < 300; i++)); do [[ -f $R/a.h5.ckpt ]] && break; sleep 0.1; done
sleep 0.5
kill -INT -- "-$make_pid"
wait "$make_pid"
rc=$?
check "the interrupted make failed" test "$rc" -ne 0
check "step (a) stopped with exit 75 after writing its checkpoint" \
    grep -q 'uibe: stopped by a signal after epoch .*checkpoint .*a.h5.ckpt written' "$TMP/cut.out"
check "nothing under a.h5's name, no temporary, a checkpoint" bash -c "
    test ! -e '$R/a.h5' && test -s '$R/a.h5.ckpt' && ! ls -A '$R' | grep -q '\.tmp$'"
stopped_at=$(py "$R/a.h5.ckpt" <<'EOF'
import h5py, sys
print(h5py.File(sys.argv[2], "r")["history"].shape[0])
EOF
)
check "the checkpoint is mid-run (epoch $stopped_at of 20000)" test "${stopped_at:-0}" -gt 1 -a "${stopped_at:-0}" -lt 20000

# The rerun continues: the test hook would stop a run at epoch 1 (exit 75),
# which only a run from epoch 0 reaches.
check "the rerun continues from the checkpoint (a run from epoch 0 would stop at epoch 1)" \
    env EDDP_TEST_STOP_AT_EPOCH=1 make --no-print-directory "${V[@]}" -s SYN_DIR="$TMP/cut" "$R/a.h5"
check "the rerun completes make synthetic" M -s SYN_DIR="$TMP/cut" synthetic
check "the checkpoint is gone" test ! -e "$R/a.h5.ckpt"
check "interrupted + rerun ends with the same files as uninterrupted" /usr/bin/python3 tests/tools/same-run.py "$TMP/whole" "$TMP/cut"

check "changing CHECKPOINT_EVERY reruns nothing" M -q SYN_DIR="$TMP/cut" CHECKPOINT_EVERY=7 "$R/report.txt"

# A checkpoint older than a prerequisite (made from other data or settings)
# is dropped before the step runs; this one is not even a checkpoint, so
# --resume would fail on it.
touch -d '2000-01-01' "$R/a.h5.ckpt"
rm "$R/a.h5"
check "a stale checkpoint is dropped and the step reruns" M -s SYN_DIR="$TMP/cut" "$R/a.h5"
# SLURM sends SIGTERM again at a time limit (and srun forwards its own): one
# arriving after the stop has written its checkpoint must not turn exit 75
# into death by signal 15.
desc "a second SIGTERM after the stop's checkpoint: still exit 75"
mkdir -p "$TMP/out" "$TMP/ck"
read -r -a a_flags <"$R/a.flags"
EDDP_TEST_STOP_AT_EPOCH=3 EDDP_TEST_SIGNAL_AFTER_STOP=1 expect_fail 75 'stopped by a signal after epoch 3' \
    bin/uibe --quiet "${a_flags[@]}" --checkpoint "$TMP/ck/again.ckpt" "$R/train.h5" "$R/head.h5" -o "$TMP/out/again.h5"
check "…with its checkpoint" test -s "$TMP/ck/again.ckpt"
finish
