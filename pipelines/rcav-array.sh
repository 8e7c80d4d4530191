#!/usr/bin/env bash
# pipelines/rcav-array.sh N OUT LOGDIR [SBATCH-OPTION…] -- RCAV-ARGUMENT…
# — the influence test (rcav(1)) as a SLURM job array of N shards and a
# merge job, for the paper's scale (500 detectors × 365 classes):
#
#   array task i (0 … N−1):  rcav --shard i/N RCAV-ARGUMENT… -o OUT.shardI.h5
#   merge job:              rcav --merge OUT.shard*.h5 -o OUT, once every
#                           task ended with exit 0 (--dependency=afterok);
#                           cancelled if one failed (--kill-on-invalid-dep)
#
# The merged file is the one a single run writes (bit for bit, rcav(1)).
# Logs: LOGDIR/shardI.log and LOGDIR/merge.log. Waits for the merge job;
# exits 0 when OUT is made, 1 otherwise, naming each failed shard and its
# log. A rerun redoes every shard (each is one rcav call; the slices are
# removed after a successful merge).
set -euo pipefail
if (($# < 4)); then
    echo "rcav-array.sh: usage: rcav-array.sh N OUT LOGDIR [SBATCH-OPTION...] -- RCAV-ARGUMENT..." >&2
    exit 64
fi
n=$1 out=$2 logdir=$3
shift 3
sbatch_args=()
while (($#)) && [[ $1 != -- ]]; do sbatch_args+=("$1"); shift; done
[[ ${1:-} == -- ]] || { echo "rcav-array.sh: no '--' before rcav's arguments" >&2; exit 64; }
shift
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "rcav-array.sh: N: expected a positive count, got '$n'" >&2; exit 64; }
rcav=$(cd "$(dirname "$0")/.." && pwd)/bin/rcav
mkdir -p "$logdir"
# The tasks' command line, each argument quoted once for the job's shell.
quoted=$(printf '%q ' "$@")
tasks=$(sbatch --parsable --array="0-$((n - 1))" --job-name=rcav/shards --output="$logdir/shard%a.log" \
    "${sbatch_args[@]}" \
    --wrap="exec $(printf '%q' "$rcav") --quiet --overwrite --shard \"\$SLURM_ARRAY_TASK_ID/$n\" $quoted -o $(printf '%q' "$out").shard\$SLURM_ARRAY_TASK_ID.h5")
tasks=${tasks%%;*}
echo "rcav-array.sh: $n shards: job array $tasks" >&2
slices=$(for ((i = 0; i < n; i++)); do printf '%q ' "$out.shard$i.h5"; done)
merge=$(sbatch --parsable --dependency="afterok:$tasks" --kill-on-invalid-dep=yes --job-name=rcav/merge \
    --output="$logdir/merge.log" "${sbatch_args[@]}" \
    --wrap="$(printf '%q' "$rcav") --quiet --overwrite --merge $slices -o $(printf '%q' "$out") && rm -f $slices")
merge=${merge%%;*}
state() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
while [[ $(state "$merge") =~ ^(PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUED|RESIZING|SUSPENDED)$ ]]; do sleep 1; done
[[ $(state "$merge") == COMPLETED ]] && exit 0
for ((i = 0; i < n; i++)); do
    task=$(state "${tasks}_$i")
    [[ $task == COMPLETED ]] || echo "rcav-array.sh: shard $i: ${task:-state unknown}; log $logdir/shard$i.log" >&2
done
echo "rcav-array.sh: merge job $merge $(state "$merge"); nothing written to $out" >&2
exit 1
