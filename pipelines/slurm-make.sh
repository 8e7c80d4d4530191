#!/usr/bin/env bash
#SBATCH --job-name=eddp-make
#SBATCH --requeue
#SBATCH --signal=B:TERM@60
#SBATCH --open-mode=append
# pipelines/slurm-make.sh MAKE-ARGUMENTS… — a whole `make -j` inside one
# SLURM allocation, submitted with sbatch (README, "Clusters"):
#
#   sbatch -c 8 --mem=16G --time=1-0 pipelines/slurm-make.sh -j8 SLURM=1 synthetic-seeds
#
# Make schedules the steps (with SLURM=1 each is a job step of this
# allocation, with its log under the run folder). With --requeue and
# --signal=B:TERM@60 (the defaults above), the script gets SIGTERM 60 s
# before the time limit (or when the job is preempted), passes it to Make,
# which passes it to the running steps: training steps write their
# checkpoints and exit 75. The script then requeues the job (scontrol
# requeue), and the requeued job reruns this script, whose `make` continues
# from the checkpoints. Exit status: Make's.
set -u
cd "${SLURM_SUBMIT_DIR:-.}" || exit 66
term=0
make "$@" &
make_pid=$!
trap 'term=1; kill -TERM "$make_pid" 2>/dev/null' TERM
rc=0
while :; do
    wait "$make_pid"
    rc=$?
    kill -0 "$make_pid" 2>/dev/null || break   # wait returned for the trap: Make still runs
done
if ((term && rc != 0)) && [[ -n ${SLURM_JOB_ID:-} ]]; then
    echo "slurm-make.sh: stopped by SIGTERM (make exit $rc); requeueing job $SLURM_JOB_ID to continue" >&2
    scontrol requeue "$SLURM_JOB_ID" && exit 0
fi
exit "$rc"
