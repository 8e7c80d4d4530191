#!/usr/bin/env bash
# pipelines/step.sh NAME CLASS LOG COMMAND [ARG...] — runs one step of a
# pipeline (pipelines/synthetic.mk): here, through $STEP_RUN, or as a SLURM
# job with resources that fit it (STEP_SLURM=1).
#
#   NAME   the job name: experiment/seedN/step
#   CLASS  train (long: the training tools) or short (data, estimators,
#          evaluations): picks the --time limit, and a GPU for train steps
#   LOG    the step's log (SLURM mode: the job's stderr, appended to)
#
# An argument @FILE.flags stands for the words of FILE (a flags file the
# pipeline wrote from a Make variable), split as gcc reads @file response
# files and xargs reads its input: at blanks, with '…', "…" and \ quoting,
# nothing expanded — so a value holds any printable character (';', '$',
# quotes, '*') and reaches the tool as it was written, never the shell.
#
# Environment (set by the pipeline from its Make variables):
#   STEP_RUN        a command prefix (RUN='srun --exact -n1'), split at blanks
#   STEP_SLURM      1: run the step with srun as its own job (or as a job step
#                   inside an allocation, e.g. under sbatch), with
#                     --job-name NAME, --cpus-per-task (the step's --threads),
#                     --mem (STEP_MEM MB, or estimated: 512 MB + 4 × the size
#                     of its input files), --time (STEP_TIME_TRAIN or
#                     STEP_TIME_SHORT; none inside an allocation, whose
#                     limit bounds its steps), --gres=gpu:1 for a uibe/eddp
#                     train step when the cluster has GPUs, --error LOG (appended), and the words
#                     of STEP_SLURM_FLAGS
# A signal to the step (Make's SIGTERM, Ctrl-C) reaches the tool as SIGUSR1
# (see below): a training tool writes its checkpoint and exits 75, which is
# the step's status (Make then stops; rerun the target to continue).
set -euo pipefail

if (($# < 4)); then
    echo "step.sh: usage: step.sh NAME CLASS LOG COMMAND [ARG...]" >&2
    exit 64
fi
name=$1 class=$2 log=$3
shift 3

# The words of a flags file, NUL-separated, into the array `words`.
read_words() {
    local file=$1 split
    [[ -r $file ]] || { echo "step.sh: $name: cannot read flags file $file" >&2; exit 66; }
    split=$(mktemp)
    if ! xargs -r -a "$file" printf '%s\0' >"$split" 2>"$split.err"; then
        echo "step.sh: $name: $file: $(sed -n '1{s/^xargs: //;s/;.*//;p}' "$split.err") (quote a value with '…' or \"…\")" >&2
        rm -f "$split" "$split.err"
        exit 65
    fi
    mapfile -d '' -t words <"$split"
    rm -f "$split" "$split.err"
}

args=()
for arg in "$@"; do
    if [[ $arg == @*.flags ]]; then
        read_words "${arg#@}"
        args+=("${words[@]}")
    else
        args+=("$arg")
    fi
done

# What a user sees (here, without SLURM): a training step shows its tool's
# progress with ETA when stderr is a terminal and Make runs one job at a
# time (its --quiet is dropped); otherwise every step ends with one line,
# "NAME: 12.34 s", which make -j -O keeps whole.
serial_make() { [[ ! ${MAKEFLAGS:-} =~ (^| )-?j[0-9]*( |$)|jobserver ]]; }
if [[ ${STEP_SLURM:-} != 1 ]]; then
    if [[ -t 2 && $class == train ]] && serial_make; then
        shown=()
        for arg in "${args[@]}"; do [[ $arg == --quiet ]] || shown+=("$arg"); done
        # shellcheck disable=SC2086 # RUN is a command prefix: split at blanks
        exec ${STEP_RUN:-} "${shown[@]}"
    fi
    start=$EPOCHREALTIME
    rc=0
    # shellcheck disable=SC2086
    ${STEP_RUN:-} "${args[@]}" || rc=$?
    if ((rc == 0)); then
        awk -v name="$name" -v start="$start" -v end="$EPOCHREALTIME" 'BEGIN { printf "%s: %.2f s\n", name, end - start }' >&2
    fi
    exit "$rc"
fi

# --- SLURM: one job (or job step) per step, with its resources.
threads=1 prev= input_bytes=0
for arg in "${args[@]}"; do
    [[ $prev == --threads ]] && threads=$arg
    if [[ $arg != -* && -f $arg ]]; then input_bytes=$((input_bytes + $(stat -c %s "$arg"))); fi
    prev=$arg
done
mem_mb=${STEP_MEM:-$((512 + 4 * input_bytes / 1048576))}
case $class in
train) time_limit=${STEP_TIME_TRAIN:-2-00:00:00} ;;
*) time_limit=${STEP_TIME_SHORT:-4:00:00} ;;
esac
srun_args=(--ntasks=1 --job-name="$name" --cpus-per-task="$threads" --mem="$mem_mb"
           --error="$log" --open-mode=append --quiet)
# Inside an allocation (sbatch), steps share it, each taking only its CPUs,
# and the job's time limit bounds them; otherwise each job has its class's.
if [[ -n ${SLURM_JOB_ID:-} ]]; then
    srun_args+=(--exact)
else
    srun_args+=(--time="$time_limit")
fi
# uibe and eddp train on CUDA when a device is there (--device auto).
if [[ $class == train && ${args[0]##*/} =~ ^(uibe|eddp)$ ]] && sinfo -h -o %G 2>/dev/null | grep -q 'gpu'; then
    srun_args+=(--gres=gpu:1)
fi
read -r -a extra <<<"${STEP_SLURM_FLAGS:-}"
mkdir -p "$(dirname "$log")"
echo "== $(date -u '+%F %T') $name: ${args[*]}" >>"$log"
# srun answers SIGTERM by killing its tasks (SIGKILL: no checkpoint), so it
# does not get one: SIGTERM/SIGINT/SIGHUP/SIGUSR1 here (Make passes SIGTERM
# on, Ctrl-C reaches the whole process group) go to srun as SIGUSR1, which
# it forwards to the tool: a training tool writes its checkpoint and exits
# 75. SLURM's own signals (scancel --signal, time limits) reach the tool
# directly.
srun "${srun_args[@]}" "${extra[@]}" "${args[@]}" &
srun_pid=$!
trap 'kill -USR1 "$srun_pid" 2>/dev/null' TERM INT HUP USR1
while :; do
    wait "$srun_pid"
    rc=$?
    kill -0 "$srun_pid" 2>/dev/null || break   # wait was cut short by a signal
done
exit "$rc"
