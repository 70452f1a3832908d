#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for reclab's Slurm integration test: Debian's
# slurm-wlm and munge, one controller and one node daemon for `localhost` with this machine's
# CPUs, no accounting database (status comes from squeue and the sweep folder's own files).
#
#   bash scripts/slurm-local.sh start DIR   # installs what is missing, starts, waits until ready
#   bash scripts/slurm-local.sh stop DIR    # stops the daemons started by `start`
#
# Needs root (the daemons and munge run as root here). `start` prints the line to export:
# SLURM_CONF=DIR/slurm.conf, which every Slurm command then reads.
set -euo pipefail
command="${1:?usage: slurm-local.sh start|stop DIR}"
dir="$(mkdir -p "${2:?usage: slurm-local.sh start|stop DIR}" && cd "$2" && pwd)"

stop() {
  for pidfile in "$dir"/slurmd.pid "$dir"/slurmctld.pid "$dir"/munged.pid; do
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
    fi
  done
}

if [ "$command" = stop ]; then
  stop
  exit 0
fi

# A cluster this script started before in the same folder is stopped first.
stop

if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends slurm-wlm munge > "$dir/install.log" 2>&1 ||
    { apt-get update > /dev/null 2>&1 && apt-get install -y --no-install-recommends slurm-wlm munge > "$dir/install.log" 2>&1; }
fi

mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  chmod 400 /etc/munge/munge.key
fi
chown root:root /etc/munge/munge.key
chmod 400 /etc/munge/munge.key
munged --force --socket="$dir/munge/munge.socket" --pid-file="$dir/munged.pid" \
  --log-file="$dir/munged.log" --seed-file="$dir/munge/seed" --key-file=/etc/munge/munge.key

cpus="$(nproc)"
memory="$(awk '/MemTotal/ { print int($2 / 1024) - 512 }' /proc/meminfo)"
cat > "$dir/slurm.conf" <<CONF
ClusterName=reclab-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldPort=6817
SlurmdPort=6818
KillWait=10
NodeName=localhost CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 60); do
  if sinfo -h -o %T 2>/dev/null | grep -q idle; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 1
done
echo "slurm did not become ready; see $dir/slurmctld.log and $dir/slurmd.log" >&2
tail -5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
stop
exit 1
