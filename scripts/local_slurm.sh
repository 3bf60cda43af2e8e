#!/usr/bin/env bash
# A real one-node Slurm cluster on this machine, to test `snakemake --profile
# workflow/profiles/slurm` without a cluster (tests/test_slurm.py; README "SLURM").
#
#   scripts/local_slurm.sh install          apt-get install slurm-wlm + munge (root, Debian/Ubuntu)
#   scripts/local_slurm.sh start DIR        write DIR/slurm.conf, start munged, slurmctld, slurmd
#   scripts/local_slurm.sh stop DIR         stop them (by the PIDs saved in DIR/pids)
#
# `start` also links /etc/slurm/slurm.conf to DIR/slurm.conf (and `stop` removes the link):
# Snakemake's job-step plugin strips SLURM_* variables, SLURM_CONF included, before the srun
# inside each job, so that srun finds the cluster only at the default path. A machine that
# already has /etc/slurm/slurm.conf (a real cluster) is refused: this is for bare machines.
# No systemd is needed: every daemon runs in the foreground under setsid, its PID saved.
# The node advertises two fake GPUs (Gres=gpu:2 backed by two empty files: Slurm 22.05's
# slurmd drops a GPU GRES without File=), so jobs that ask for --gpus=1 are scheduled; they
# get CUDA_VISIBLE_DEVICES but no real device, and gdgp runs them on the CPU.
# Without slurmdbd there is no accounting: `sacct` does not work, so Snakemake's Slurm
# plugin must poll with `--slurm-status-command squeue`; MinJobAge keeps finished jobs
# visible to squeue long enough for that.
set -euo pipefail

ETC_CONF=/etc/slurm/slurm.conf

die() { echo "local_slurm.sh: $*" >&2; exit 1; }

install_slurm() {
    [ "$(id -u)" = 0 ] || die "install needs root (apt-get)"
    command -v apt-get >/dev/null || die "install needs apt-get (Debian/Ubuntu)"
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
        return 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Try without refreshing the package lists first (fast where they are current).
    apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q slurm-wlm munge >/dev/null; }
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local limit=$1 what=$2
    shift 2
    for _ in $(seq $((limit * 4))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    die "timed out after ${limit}s waiting for $what"
}

start_cluster() {
    local dir=$1
    [ "$(id -u)" = 0 ] || die "start needs root (munged runs as user munge, slurmd as root)"
    for exe in munged slurmctld slurmd; do
        command -v $exe >/dev/null || die "$exe not found: run '$0 install' first"
    done
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ -e "$dir/pids" ] && die "$dir/pids exists: a cluster may be running there ('$0 stop $dir' first)"
    if [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
        die "$ETC_CONF exists ($(readlink -f "$ETC_CONF")): this machine already has a Slurm configuration"
    fi
    mkdir -p "$dir/ctld" "$dir/spool" "$dir/log"
    # Whatever fails below, leave no daemon behind (the log folder stays for the post-mortem).
    trap 'echo "local_slurm.sh: start failed; logs in '"$dir"'/log" >&2; stop_cluster "'"$dir"'" >/dev/null 2>&1 || true' EXIT
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)  # MiB, leave 10% for the OS

    # munge: a fresh key and socket in a folder of its own that user munge can reach (DIR
    # may sit under a private folder, such as pytest's tmp_path), daemon as user munge.
    local mdir
    mdir=$(mktemp -d /tmp/local-slurm-munge.XXXXXX)
    echo "$mdir" >"$dir/munge_dir"
    chown munge:munge "$mdir"
    chmod 711 "$mdir"
    dd if=/dev/urandom of="$mdir/munge.key" bs=1024 count=1 status=none
    chown munge:munge "$mdir/munge.key"
    chmod 400 "$mdir/munge.key"
    local socket="$mdir/munge.socket"
    setsid runuser -u munge -- munged --foreground --force --key-file="$mdir/munge.key" \
        --socket="$socket" --pid-file="$mdir/munged.pid" --log-file="$mdir/munged.log" \
        --seed-file="$mdir/munged.seed" </dev/null >"$dir/log/munged.out" 2>&1 &
    echo "munged $!" >>"$dir/pids"
    wait_for 20 "munged's socket $socket" test -S "$socket"

    cat >"$dir/slurm.conf" <<EOF
# Written by scripts/local_slurm.sh: a one-node test cluster, no accounting.
ClusterName=gdgp-local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=${LOCAL_SLURM_PORT:-6817}
SlurmdPort=$(( ${LOCAL_SLURM_PORT:-6817} + 1 ))
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# keep finished jobs visible to squeue (Snakemake polls with squeue: no sacct here)
MinJobAge=86400
SchedulerType=sched/backfill
GresTypes=gpu
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
# the partition workflow/profiles/slurm sends train/evaluate jobs to (same node)
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
EOF
    touch "$dir/fake-gpu0" "$dir/fake-gpu1"
    cat >"$dir/gres.conf" <<EOF
# fake GPUs: schedulable, backed by empty files (no device)
NodeName=$host Name=gpu File=$dir/fake-gpu[0-1]
EOF
    mkdir -p "$(dirname "$ETC_CONF")"
    ln -s "$dir/slurm.conf" "$ETC_CONF"
    echo "$ETC_CONF" >"$dir/etc_link"
    export SLURM_CONF="$dir/slurm.conf"
    setsid slurmctld -D -c -i -f "$SLURM_CONF" </dev/null >"$dir/log/slurmctld.out" 2>&1 &
    echo "slurmctld $!" >>"$dir/pids"
    wait_for 30 "slurmctld to answer" scontrol ping
    setsid slurmd -D -f "$SLURM_CONF" </dev/null >"$dir/log/slurmd.out" 2>&1 &
    echo "slurmd $!" >>"$dir/pids"
    wait_for 60 "node $host to be idle" bash -c "sinfo -h -N -o '%T' | grep -qx idle"
    trap - EXIT
    echo "export SLURM_CONF=$SLURM_CONF"
}

stop_cluster() {
    local dir
    dir=$(cd "$1" && pwd)
    [ -f "$dir/pids" ] || die "no $dir/pids: nothing started there"
    export SLURM_CONF="$dir/slurm.conf"
    scancel --state=PENDING,RUNNING -u "$(id -un)" >/dev/null 2>&1 || true
    # reverse start order: slurmd, slurmctld, munged
    tac "$dir/pids" | while read -r name pid; do
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
        echo "stopped $name ($pid)"
    done
    rm -f "$dir/pids"
    if [ -f "$dir/etc_link" ]; then
        [ "$(readlink "$ETC_CONF")" = "$dir/slurm.conf" ] && rm -f "$ETC_CONF"
        rm -f "$dir/etc_link"
    fi
    if [ -f "$dir/munge_dir" ]; then
        cp "$(cat "$dir/munge_dir")/munged.log" "$dir/log/" 2>/dev/null || true
        rm -rf "$(cat "$dir/munge_dir")" "$dir/munge_dir"
    fi
}

case "${1:-}" in
    install) install_slurm ;;
    start) [ $# = 2 ] || die "usage: $0 start DIR"; start_cluster "$2" ;;
    stop) [ $# = 2 ] || die "usage: $0 stop DIR"; stop_cluster "$2" ;;
    *) die "usage: $0 install | start DIR | stop DIR" ;;
esac
