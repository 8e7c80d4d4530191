# test-slurm.sh — the pipelines on a real one-node SLURM cluster
# (tests/slurm/cluster.sh): `make SLURM=1 synthetic` gives the datasets of a
# local run; its training step (a), stopped once by `scancel --signal=TERM`
# and once by its --time limit, ends with exit 75 and a checkpoint each
# time, and the reruns continue and end identical; seeds as a job array with
# its merge job, a failing seed, and a rerun that redoes only that seed; the
# influence test (rcav) as a job array of shards and its merge job.
# Needs root and Debian's slurm-wlm and munge; skipped with the reason
# otherwise. Run by `make test-slurm` (and `make test`).
source tests/tools/lib.sh

skip() {
    echo "test-slurm.sh: skipped: $1"
    echo "0 passed, 0 failed, 1 skipped"
    exit 0
}
[[ $(id -u) == 0 ]] || skip "needs root (the test cluster's daemons run as SlurmUser=root)"
for prog in munged slurmctld slurmd srun sbatch scontrol scancel squeue; do
    command -v "$prog" >/dev/null || skip "$prog not found (apt-get install slurm-wlm munge)"
done

# SLURM_TEST_TIMES=FILE: the seconds at which each phase ended, for tuning.
SLURM_TEST_T0=$(($(date +%s) - SECONDS))
mark() { if [[ -n ${SLURM_TEST_TIMES:-} ]]; then echo "$SECONDS $*" >>"$SLURM_TEST_TIMES"; fi; }
CLUSTER=$TMP/cluster
trap 'tests/slurm/cluster.sh down "$CLUSTER" >/dev/null 2>&1; rm -rf "$TMP" "$_LIB_WORK"' EXIT
if ! up=$(tests/slurm/cluster.sh up "$CLUSTER" 2>&1); then
    fail "the test cluster comes up" "$up"
    finish
fi
pass "the test cluster comes up"
mark "cluster up"
export SLURM_CONF=$CLUSTER/slurm.conf

# The state of a job (by id or name), and the id of the latest job of a name.
job_field() { scontrol -o show job "$1" 2>/dev/null | tail -1 | grep -o "$2=[^ ]*" | cut -d= -f2; }
job_id() { squeue -h -t "${2:-all}" -n "$1" -o %i 2>/dev/null | sort -n | tail -1; }
# Waits (at most $1 s) until a command succeeds (evaluated anew each time).
wait_for() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 10; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}
epochs_in() { py "$1" <<'EOF'
import h5py, sys
print(h5py.File(sys.argv[2], "r")["history"].shape[0])
EOF
}

# --- make synthetic through SLURM; step (a) stopped twice on the way.
# Step (a) trains 6,000 images for 10,000 epochs (about 20 s on this kind of
# machine, long enough to be stopped twice); the rest is short.
V=(SEED=5 SEEDS=5 PER_CLASS=2000 BATCH=256 LR=1e-3 LR_A=1e-3 HEAD_FLAGS="--epochs 20" EPOCHS_A=10000 EPOCHS_D=20
   SAE_FLAGS="--hidden 3 --epochs 5" SAE_LAMBDAS=0 CHECKPOINT_EVERY=500 THREADS=1)
make --no-print-directory -s "${V[@]}" SYN_DIR="$TMP/local" synthetic >"$TMP/local.out" 2>&1 &
local_pid=$!

# SLURM enforces time limits (whole minutes) in a pass every 30 s. To stop
# step (a) by its limit while it trains, the test finds when these passes
# happen: a probe job's end time is brought forward to now, and the pass
# ends it.
srun --time=1 --job-name=probe sleep 300 >/dev/null 2>&1 &
probe_srun=$!
probe_runs() { [[ -n $(job_id probe R) ]]; }
wait_for 20 probe_runs
sleep 2   # an end time must come after the start time
scontrol update JobId="$(job_id probe)" EndTime="$(date +%FT%T)"

R=$TMP/slurm/seed5
A_NAME=synthetic/seed5/a
setsid make --no-print-directory -s SLURM=1 "${V[@]}" SYN_DIR="$TMP/slurm" synthetic >"$TMP/run1.out" 2>&1 &
make_pid=$!
wait_for 120 test -s "$R/a.h5.ckpt"
a_job=$(job_id "$A_NAME" R)
scancel --signal=TERM "$a_job"
wait "$make_pid"
check "scancel --signal=TERM: make stops with the step's exit 75" bash -c "
    grep -q 'uibe: stopped by a signal after epoch' '$R/logs/a.log' && grep -q 'Error 75' '$TMP/run1.out'"
check "…the job's exit code is 75" test "$(job_field "$a_job" ExitCode)" == 75:0
check "…a checkpoint, nothing under a.h5's name, no temporary" bash -c "
    test -s '$R/a.h5.ckpt' && test ! -e '$R/a.h5' && ! ls -A '$R' | grep -q '\.tmp$'"
epochs1=$(epochs_in "$R/a.h5.ckpt")
mark "scancel case"

# The probe's pass (its end time, which SLURM records to the second); later
# passes come every 30 s (+ up to a second each). The second run starts 10 s
# before a pass at least 14 s away.
wait "$probe_srun"
mark "probe"
pass_time=$(date -d "$(job_field "$(job_id probe)" EndTime)" +%s)
start_at=$((pass_time + 30 * (($(date +%s) - pass_time + 14) / 30 + 1) - 10))
sleep $((start_at - $(date +%s)))
mark "second run starts"
ckpt_time=$(stat -c %Y.%y "$R/a.h5.ckpt")
setsid env EDDP_TEST_STOP_AT_EPOCH=1 make --no-print-directory -s SLURM=1 TIME_TRAIN=1 "${V[@]}" \
    SYN_DIR="$TMP/slurm" "$R/a.h5" >"$TMP/run2.out" 2>&1 &
make_pid=$!
# Training has resumed once the checkpoint is rewritten; then the job's end
# time comes forward to now and the next pass stops it.
# (a checkpoint past the first one's epoch: the resumed run trains)
ckpt_rewritten() {
    local now
    now=$(stat -c %Y.%y "$R/a.h5.ckpt" 2>/dev/null) || return 1
    [[ $now != "$ckpt_time" ]] && (($(epochs_in "$R/a.h5.ckpt" 2>/dev/null || echo 0) > epochs1))
}
wait_for 120 ckpt_rewritten
a_job=$(job_id "$A_NAME" R)
scontrol update JobId="$a_job" EndTime="$(date +%FT%T)"
mark "end time brought forward (pass expected at $((start_at + 10 - SLURM_TEST_T0)))"
wait "$make_pid"
timed_out() { [[ $(job_field "$a_job" JobState) == TIMEOUT ]]; }
check "--time limit: the job ends in state TIMEOUT" wait_for 30 timed_out
check "…make stops with the step's exit 75" bash -c "
    grep -q 'Error 75' '$TMP/run2.out' || { cat '$TMP/run2.out'; tail -5 '$R/logs/a.log'; scontrol show job $a_job; exit 1; }"
check "…a checkpoint, nothing under a.h5's name, no temporary" bash -c "
    test -s '$R/a.h5.ckpt' && test ! -e '$R/a.h5' && ! ls -A '$R' | grep -q '\.tmp$'"
epochs2=$(epochs_in "$R/a.h5.ckpt")
mark "time-limit case"
check "…the rerun continued from the first checkpoint (epoch $epochs1 → $epochs2 of 10000)" \
    test "${epochs1:-0}" -gt 1 -a "${epochs2:-0}" -gt "${epochs1:-0}" -a "${epochs2:-0}" -lt 10000

check "the third run continues (a run from epoch 0 would stop at epoch 1)" \
    env EDDP_TEST_STOP_AT_EPOCH=1 make --no-print-directory -s SLURM=1 "${V[@]}" SYN_DIR="$TMP/slurm" "$R/a.h5"
mark "third run (a)"
check "…and make synthetic completes" make --no-print-directory -s SLURM=1 "${V[@]}" SYN_DIR="$TMP/slurm" synthetic
check "every step was a SLURM job named experiment/seed/step" bash -c "
    names=\$(squeue -h -t all -o %j); for s in train test head head-eval a c d eq1 ica pcav sae-0 report; do
        grep -qx \"synthetic/seed5/\$s\" <<<\"\$names\" || { echo missing \$s; exit 1; }; done"
check "…with a log per step under the run folder" test -s "$R/logs/d.log" -a -s "$R/logs/train.log"
wait "$local_pid"
mark "local run"
check "the local run completes" test -s "$TMP/local/seed5/report.txt"
check "SLURM (stopped twice, rerun) and local runs: identical datasets and reports" \
    /usr/bin/python3 tests/tools/same-run.py "$TMP/local" "$TMP/slurm"

# --- seeds as a job array and its merge job; seed 8 fails once.
W=(SEED=7 SEEDS="7 8" PER_CLASS=40 HEAD_FLAGS="--epochs 50" EPOCHS_A=20 EPOCHS_D=20 BATCH=32 LR=1e-3 LR_A=1e-3
   SAE_FLAGS="--hidden 3 --epochs 5" SAE_LAMBDAS=0 SEED_MEM=1G SEED_TIME=10 SYN_DIR="$TMP/array")
mkdir -p "$TMP/array/seed8/a.h5"   # step (a) of seed 8 cannot write its output
make --no-print-directory -s "${W[@]}" synthetic-array >"$TMP/array1.out" 2>&1
check "the array fails and names seed 8 and its log" bash -c "
    grep -q 'seed 8: FAILED; log .*/logs/seed8.log' '$TMP/array1.out' && ! grep -q 'seed 7:' '$TMP/array1.out'"
check "…the merge job was cancelled, no summary" bash -c "
    grep -q 'merge job .* CANCELLED' '$TMP/array1.out' && test ! -e '$TMP/array/summary.txt'"
check "…seed 7 completed" test -s "$TMP/array/seed7/eval-d.h5" -a -s "$TMP/array/seed7/head-eval.txt"
check "…-k: seed 8's steps that do not need step (a) were made" \
    test -s "$TMP/array/seed8/eval-pcav.h5" -a -s "$TMP/array/seed8/eval-sae-0.h5"
stamps() { stat -c '%n %Y.%y' "$TMP"/array/seed7/*.h5 "$TMP"/array/seed8/{train,test,head,pcav,eval-pcav}.h5; }
stamps >"$TMP/stamps1"
mark "array run 1"
rmdir "$TMP/array/seed8/a.h5"
check "the rerun completes with the merge job's summary of both seeds" bash -c "
    make --no-print-directory -s ${W[*]@Q} synthetic-array > '$TMP/array2.out' 2>&1 &&
    grep -q 'seed8/eval-d.h5' '$TMP/array/summary.txt' && grep -q 'seed7/eval-d.h5' '$TMP/array/summary.txt'"
stamps >"$TMP/stamps2"
mark "array run 2"
check "…and redid only seed 8's failed step and what depends on it" bash -c "
    diff '$TMP/stamps1' '$TMP/stamps2' && test -s '$TMP/array/seed8/a.h5' -a -s '$TMP/array/seed8/eval-d.h5'"
check "the array tasks and the merge job were named" bash -c "
    squeue -h -t all -o %j | grep -qx synthetic/seeds && squeue -h -t all -o %j | grep -qx synthetic/merge"
# --- requeue: the whole make in one sbatch allocation (pipelines/slurm-make.sh).
# SIGTERM to the batch shell alone (as --signal=B:TERM@60 sends it before a
# time limit) while step (a) trains: the step checkpoints, the job requeues
# itself and its second run continues to the end.
Q=$TMP/requeue
job=$(sbatch --parsable --job-name=synthetic/make --output="$TMP/requeue.log" -c 1 --mem=2G --time=10 \
      pipelines/slurm-make.sh --no-print-directory -s SLURM=1 "${V[@]}" SYN_DIR="$Q" synthetic)
wait_for 120 test -s "$Q/seed5/a.h5.ckpt"
scancel --batch --signal=TERM "$job"
# SLURM holds a requeued job for two minutes (BeginTime), time for the node
# to clean up after its first run; the test releases it once the node is idle
# (started earlier, the job failed to launch: exit 1 in no time).
requeued() { [[ $(scontrol -o show job "$job" 2>/dev/null) =~ JobState=PENDING.*Restarts=1 ]]; }
node_idle() { [[ $(sinfo -h -N -o %T 2>/dev/null | head -1) == idle ]]; }
wait_for 60 requeued && wait_for 60 node_idle && sleep 1 && scontrol update JobId="$job" StartTime=now
job_done() { [[ $(job_field "$job" JobState) =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT)$ ]]; }
wait_for 240 job_done
mark "requeue"
check "the job was requeued once after SIGTERM and completed" bash -c "
    [[ \$(scontrol -o show job $job) =~ JobState=COMPLETED.*Restarts=1 ]] || { scontrol -o show job $job; tail '$TMP/requeue.log'; exit 1; }"
check "…its step (a) had stopped with a checkpoint, and continued" bash -c "
    grep -q 'uibe: stopped by a signal after epoch' '$Q/seed5/logs/a.log' &&
    grep -q 'requeueing job $job' '$TMP/requeue.log'"
check "…and ends identical to the local run" /usr/bin/python3 tests/tools/same-run.py "$TMP/local" "$Q"
# --- the influence test as a job array of shards and a merge job
# (pipelines/rcav-array.sh): the merged file equals one rcav run.
L=$TMP/local/seed5
R=(--seed 5 --noise 10 "$L/d.h5" "$L/test.h5" "$L/head.h5" "$L/train.h5")
mkdir -p "$TMP/rcav"
bin/rcav --quiet "${R[@]}" -o "$TMP/rcav/one.h5" >/dev/null
check "rcav as a job array of 3 shards and a merge job" \
    pipelines/rcav-array.sh 3 "$TMP/rcav/merged.h5" "$TMP/rcav/logs" -c 1 --mem=1G --time=10 -- "${R[@]}"
check "…the merged file equals one run (datasets), the slices are gone" bash -c "
    mkdir -p '$TMP/rcav/a' '$TMP/rcav/b' && cp '$TMP/rcav/one.h5' '$TMP/rcav/a/influence.h5' &&
    cp '$TMP/rcav/merged.h5' '$TMP/rcav/b/influence.h5' &&
    /usr/bin/python3 tests/tools/same-run.py '$TMP/rcav/a' '$TMP/rcav/b' && ! ls '$TMP/rcav'/*shard* 2>/dev/null"
mark "rcav array"
finish
