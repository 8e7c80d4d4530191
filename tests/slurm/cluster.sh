#!/usr/bin/env bash
# tests/slurm/cluster.sh — a one-node SLURM cluster on this machine, for the
# SLURM test and for trying the pipelines (README, "Clusters").
#
#   tests/slurm/cluster.sh up [DIR]    start munged, slurmctld and slurmd with
#                                      their state in DIR (default: a new
#                                      temporary folder); prints the line
#                                      `export SLURM_CONF=DIR/slurm.conf`
#   tests/slurm/cluster.sh down [DIR]  stop the daemons it started (by the
#                                      process ids in DIR) and remove DIR;
#                                      DIR defaults to $SLURM_CONF's folder
#
# Needs root and Debian 12's slurm-wlm and munge (apt-get install slurm-wlm
# munge). Everything lives in DIR: munge's generated key, socket, pid, log
# and seed files; slurm.conf (this machine's CPUs and 90 % of its memory,
# proctrack/linuxproc and task/none, no cgroups: containers often lack them);
# slurmctld's state and slurmd's spool; logs and pid files. The ports are two
# free ones picked at start, so that two clusters (or a system SLURM) do not
# collide. Every client command needs SLURM_CONF pointing at DIR/slurm.conf.
# Exit status: 0; 69 when a package is missing or the cluster does not come
# up within a minute (the logs' tails are printed); 77 when not root.
set -euo pipefail

die() { echo "cluster.sh: $2" >&2; exit "$1"; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_conf() {
    local dir=$1 host cpus mem_mb ctld_port slurmd_port
    host=$(hostname -s)
    cpus=$(nproc)
    mem_mb=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    ctld_port=$(free_port)
    slurmd_port=$(free_port)
    while [[ $slurmd_port == "$ctld_port" ]]; do slurmd_port=$(free_port); done
    cat >"$dir/slurm.conf" <<EOF
# Written by tests/slurm/cluster.sh: a one-node test cluster.
ClusterName=eddptest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/ctld-state
SlurmdSpoolDir=$dir/slurmd-spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
ReturnToService=2
# A step gets SIGTERM, then SIGKILL after KillWait seconds: time for a
# training tool to finish its epoch and write its checkpoint.
KillWait=30
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

show_logs() {
    local dir=$1 f
    for f in "$dir"/munge/munged.log "$dir"/slurmctld.log "$dir"/slurmd.log; do
        [[ -f $f ]] && { echo "== $f"; tail -15 "$f"; } >&2
    done
    return 0
}

up() {
    local dir=${1:-}
    [[ $(id -u) == 0 ]] || die 77 "needs root (SlurmUser=root)"
    for prog in munged slurmctld slurmd sinfo; do
        command -v "$prog" >/dev/null || die 69 "$prog not found: apt-get install slurm-wlm munge"
    done
    if [[ -z $dir ]]; then dir=$(mktemp -d "${TMPDIR:-/tmp}/eddp-slurm.XXXXXX"); fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    mkdir -p "$dir/munge" "$dir/ctld-state" "$dir/slurmd-spool"
    chmod 700 "$dir/munge"
    # munged insists on a private key and folders no other user can write.
    chmod 755 "$dir"
    (umask 077 && head -c 1024 /dev/urandom >"$dir/munge/munge.key")
    write_conf "$dir"
    munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
        --seed-file="$dir/munge/munged.seed" ||
        { show_logs "$dir"; die 69 "munged did not start (state in $dir)"; }
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -c -f "$SLURM_CONF" || { show_logs "$dir"; down "$dir"; die 69 "slurmctld did not start"; }
    slurmd -f "$SLURM_CONF" || { show_logs "$dir"; down "$dir"; die 69 "slurmd did not start"; }
    local i state=
    for ((i = 0; i < 60; i++)); do
        state=$(sinfo -h -N -o %T 2>/dev/null | head -1 || true)
        [[ $state == idle* ]] && break
        sleep 1
    done
    if [[ $state != idle* ]]; then
        show_logs "$dir"
        down "$dir"
        die 69 "the node did not become idle within 60 s (state '${state:-none}')"
    fi
    echo "export SLURM_CONF=$dir/slurm.conf"
}

# Stops what up started: the daemons named by the pid files in DIR (only if
# the process is still the daemon we started), then removes DIR.
down() {
    local dir=${1:-}
    if [[ -z $dir ]]; then
        [[ -n ${SLURM_CONF:-} ]] || die 64 "down: give the cluster's folder or set SLURM_CONF"
        dir=$(dirname "$SLURM_CONF")
    fi
    [[ -f $dir/slurm.conf ]] || die 66 "down: $dir holds no slurm.conf of cluster.sh"
    local pidfile pid name pids=()
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [[ -s $pidfile ]] || continue
        pid=$(<"$pidfile")
        name=$(basename "$pidfile" .pid)
        if [[ -r /proc/$pid/comm && $(</proc/$pid/comm) == "$name" ]]; then
            kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        fi
    done
    local i
    for ((i = 0; i < 100; i++)); do
        local alive=0
        for pid in "${pids[@]}"; do [[ -d /proc/$pid ]] && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do [[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null; done
    # slurmstepd processes of jobs still running end with slurmd's kill of
    # their steps; the folder goes once they are gone.
    rm -rf "$dir"
}

case ${1:-} in
up) up "${2:-}" ;;
down) down "${2:-}" ;;
*) die 64 "usage: cluster.sh up [DIR] | down [DIR]" ;;
esac
