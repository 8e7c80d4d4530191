#!/usr/bin/env bash
# pipelines/slurm-array.sh NAME LOGDIR SEEDS SEED_GOAL MERGE_GOAL [SBATCH-OPTION…]
# — seeds as a SLURM job array and a merge job (pipelines/synthetic.mk's
# synthetic-array target runs it; README, "Clusters"):
#
#   array task i:  make -k SEED=i SEED_GOAL    (one seed's files; -k: what
#                  does not depend on a failed step is still made)
#   merge job:     make MERGE_GOAL             (the summary), once every task
#                  ended with exit 0 (--dependency=afterok); cancelled if one
#                  failed (--kill-on-invalid-dep)
#
# The tasks run Make with the caller's command-line variables (sbatch passes
# the environment, MAKEFLAGS included; the jobserver's file descriptors are
# left out: they do not exist in the job). Logs: LOGDIR/seedI.log (appended,
# so the log of an interrupted run stays) and LOGDIR/merge.log. Waits for the
# merge job; exits 0 when it completed (the summary is made), 1 otherwise,
# naming each task that failed with its log. Rerunning redoes only what failed: the tasks
# of the seeds that completed find their files up to date.
set -euo pipefail
name=$1 logdir=$2 seeds=$3 seed_goal=$4 merge_goal=$5
shift 5
mkdir -p "$logdir"
MAKEFLAGS=$(sed -E 's/ ?--jobserver-(auth|fds)=[^ ]*//; s/(^| )-j[0-9]*( |$)/\1/' <<<"${MAKEFLAGS:-}")
export MAKEFLAGS
array=$(tr -s ' ' ',' <<<"$seeds" | sed 's/^,//; s/,$//')
tasks=$(sbatch --parsable --array="$array" --job-name="$name/seeds" --output="$logdir/seed%a.log" \
    --open-mode=append "$@" --wrap='exec make -k --no-print-directory SEED="$SLURM_ARRAY_TASK_ID" '"$seed_goal")
tasks=${tasks%%;*}
echo "slurm-array.sh: seeds $seeds: job array $tasks" >&2
merge=$(sbatch --parsable --dependency="afterok:$tasks" --kill-on-invalid-dep=yes \
    --job-name="$name/merge" --output="$logdir/merge.log" --open-mode=append "$@" \
    --wrap="exec make --no-print-directory $merge_goal")
merge=${merge%%;*}
# sbatch --wait polls at growing intervals (tens of seconds): poll each second.
state() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
while [[ $(state "$merge") =~ ^(PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUED|RESIZING|SUSPENDED)$ ]]; do sleep 1; done
final=$(state "$merge")
rc=0
[[ $final == COMPLETED ]] || rc=1
if ((rc != 0)); then
    for seed in $seeds; do
        task=$(state "${tasks}_$seed")
        [[ $task == COMPLETED ]] || echo "slurm-array.sh: seed $seed: ${task:-state unknown}; log $logdir/seed$seed.log" >&2
    done
    echo "slurm-array.sh: merge job $merge ${final:-state unknown}; rerun to redo what failed" >&2
fi
exit "$rc"
