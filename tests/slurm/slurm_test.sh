#!/usr/bin/env bash
# The sbatch templates of scripts/slurm/ under a real Slurm (issue 15): munged, slurmctld and
# slurmd started on this host from a generated slurm.conf in a temporary directory (this host as
# controller and only node, its real CPUs and memory from `slurmd -C`, MpiDefault=pmix, no
# accounting), every template submitted with sbatch, and each results file checked: every task
# exactly once and every row identical to a local run of the same grid (compare_results.py).
# The requeue template runs a study longer than its 1-minute limit: Slurm signals it, the script
# requeues the job, and the study finishes after one or more requeues. The requeue delay (about
# 2 minutes of PD (BeginTime) in Slurm 22.05) is cut short here with scontrol; users wait it.
# The daemons are stopped and the state removed on every exit path (trap).
# single-node.sbatch runs as installed (cmake --install into WORK_DIR/prefix, the template from
# PREFIX/share/kappa/slurm with no KAPPA and no kappa on PATH: it must find PREFIX/bin/kappa);
# the others from scripts/slurm with KAPPA set.
#   slurm_test.sh BUILD_DIR SOURCE_DIR WORK_DIR
# Prints "skipped: ..." (CTest SKIP_REGULAR_EXPRESSION) where slurm-wlm or munge is missing.
set -euo pipefail

build=$(cd "${1:?BUILD_DIR}" && pwd)
bin=$build/bin
source_dir=$(cd "${2:?SOURCE_DIR}" && pwd)
work=${3:?WORK_DIR}

for program in munged slurmctld slurmd sbatch squeue scontrol sacct; do
  [ "$program" = sacct ] && continue
  command -v "$program" >/dev/null || { echo "skipped: $program not installed (apt-get install slurm-wlm munge)"; exit 0; }
done
[ "$(id -u)" = 0 ] || { echo "skipped: the daemons are started as root"; exit 0; }

fail() { echo "FAIL: $*" >&2; exit 1; }
started=$(date +%s)
state=$(mktemp -d /tmp/kappa-slurm.XXXXXX)
chmod 755 "$state"
pids=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  [ -f "$state/slurm.conf" ] && SLURM_CONF=$state/slurm.conf scancel --quiet --user=root 2>/dev/null || true
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "$status" != 0 ]; then
    for log in "$state"/*.log; do [ -f "$log" ] && { echo "--- $log"; tail -n 30 "$log"; }; done >&2
  fi
  rm -rf "$state"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)

# munged with its own key and socket: nothing of the host's munge or Slurm set-up is used.
dd if=/dev/urandom of="$state/munge.key" bs=1024 count=1 status=none
chmod 400 "$state/munge.key"
munged --force --key-file="$state/munge.key" --socket="$state/munge.socket" --pid-file="$state/munged.pid" \
  --log-file="$state/munged.log" --seed-file="$state/munge.seed"
for _ in $(seq 50); do [ -s "$state/munged.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$state/munged.pid")")

host=$(hostname -s)
# Ports of this run only, so that a host's own Slurm (or a second run) does not answer.
port=$(( 20000 + RANDOM % 20000 ))
node=$(slurmd -C | head -n 1 | sed "s/^NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/; s/ UpTime=.*//")
cpus=$(echo "$node" | sed -n 's/.* CPUs=\([0-9]*\).*/\1/p')
[ -n "$cpus" ] || fail "slurmd -C gave no CPU count: $node"
mkdir -p "$state/ctld" "$state/slurmd"
cat > "$state/slurm.conf" <<CONF
ClusterName=kappatest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$(( port + 1 ))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge.socket
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/slurmd
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=30
KillWait=10
OverTimeLimit=0
InactiveLimit=0
$node State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$state/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 50); do [ -s "$state/slurmctld.pid" ] && [ -s "$state/slurmd.pid" ] && break; sleep 0.1; done
pids+=("$(cat "$state/slurmctld.pid")" "$(cat "$state/slurmd.pid")")
for _ in $(seq 100); do
  sinfo -h -o %t 2>/dev/null | grep -qx idle && break
  sleep 0.3
done
sinfo -h -o %t | grep -qx idle || fail "the node did not become idle: $(sinfo 2>&1)"
echo "slurm: $(slurmctld -V), node $host with $cpus CPUs, controller port $port"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
ranks=$cpus
cd "$work"

# A small grid (seconds) for the one-run templates; a longer one for the requeue template:
# 90 tasks of about 1 s (on this 2-core machine: about 50 s on 2 ranks, twice that beside the
# local reference run) against a 1-minute limit whose signal comes 40 to 10 s before it. One
# task per problem, so that no lockstep group (docs/study.md) shortens the study.
cat > small.ini <<GRID
optimizer = gd cg
synthetic = kind=spectrum,n=200,d=30,noise=0.01,n_test=20
synthetic.cond = 10 1000
lr = auto 1e-3
max_iterations = 500
repeats = 3
GRID
cat > long.ini <<GRID
optimizer = gd
synthetic = kind=spectrum,n=2000,d=200,cond=100
synthetic.seed = $(seq -s ' ' 1 90)
lr = 1e-3
max_iterations = ${KAPPA_SLURM_TEST_ITERATIONS:-16000}
grad_tol = 0
GRID

# A job's state (scontrol keeps it MinJobAge s after the end; empty once Slurm forgot it), and
# the wait until it ended for good: a requeue passes through states that look final (CANCELLED,
# COMPLETED, or none at all for a moment while it is put back), so a final state counts only when
# it lasts 5 s.
job_state() { scontrol -o show job "$1" 2>/dev/null | sed -n 's/.* JobState=\([A-Z_]*\) .*/\1/p'; }
releases=0
wait_job() {
  local job=$1 limit=$2 waited=0 final=0 state
  while true; do
    state=$(job_state "$job")
    case $state in
      ""|COMPLETED|FAILED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED|CANCELLED)
        final=$(( final + 1 )); [ "$final" -lt 5 ] || break ;;
      *) final=0 ;;
    esac
    # A requeued job is held for Slurm's requeue delay (PD, reason BeginTime, about 2 min):
    # released after 10 s. Released at once, the next run's step can start while the last one's
    # slurmstepd still holds its PMIx socket ("Address already in use"), and that step fails.
    if [ "$state" = PENDING ] && scontrol -o show job "$job" | grep -q ' Reason=BeginTime '; then
      held=$(( ${held:-0} + 1 ))
      if [ "$held" -ge 10 ]; then
        scontrol update JobId="$job" StartTime=now
        releases=$(( releases + 1 ))
        held=0
      fi
    else
      held=0
    fi
    sleep 1
    waited=$(( waited + 1 ))
    [ "$waited" -lt "$limit" ] || fail "job $job still $state after $limit s"
  done
}
submit() {  # submit NAME SBATCH_OPTIONS... -- TEMPLATE ARGS...: prints the job id
  sbatch --parsable "$@" | cut -d';' -f1
}

python=/usr/bin/python3
compare=$source_dir/tests/slurm/compare_results.py

# The local run every Slurm run is compared with (serial, no launcher).
"$bin/kappa" study small.ini -o local-small.h5 >local-small.log 2>&1 || fail "local run: $(cat local-small.log)"

# single-node.sbatch as installed, as shipped but for the rank count of this node.
cmake --install "$build" --prefix "$work/prefix" >install.log 2>&1 || fail "cmake --install: $(cat install.log)"
for file in slurm/single-node.sbatch slurm/multi-node.sbatch slurm/requeue-resume.sbatch plot/plot_study.py \
            grids/laptop.ini grids/seed.ini grids/conditioning.ini; do
  [ -f "$work/prefix/share/kappa/$file" ] || fail "cmake --install did not install share/kappa/$file"
done
job=$(env -u KAPPA PATH=/usr/bin:/bin sbatch --parsable --ntasks="$ranks" --output=single.log \
  "$work/prefix/share/kappa/slurm/single-node.sbatch" small.ini single.h5 | cut -d';' -f1)
wait_job "$job" 120
grep -q "$ranks ranks" single.log || fail "single-node: not $ranks ranks: $(cat single.log)"
[ -s single.report.txt ] || fail "single-node: no report: $(cat single.log)"
$python "$compare" local-small.h5 single.h5 "single-node.sbatch"

# multi-node.sbatch on the one node there is.
export KAPPA=$bin/kappa
job=$(submit --nodes=1 --ntasks-per-node="$ranks" --output=multi.log "$source_dir/scripts/slurm/multi-node.sbatch" small.ini multi.h5)
wait_job "$job" 120
grep -q "$ranks ranks" multi.log || fail "multi-node: not $ranks ranks: $(cat multi.log)"
[ -s multi.report.txt ] || fail "multi-node: no report: $(cat multi.log)"
! grep -qi "warning" multi.log || fail "multi-node: a warning in the log: $(cat multi.log)"
$python "$compare" local-small.h5 multi.h5 "multi-node.sbatch"

# requeue-resume.sbatch across real requeues: a 1-minute limit, as the template's signal set-up.
job=$(submit --ntasks="$ranks" --time=1 --signal=TERM@10 --output=requeue.log \
  "$source_dir/scripts/slurm/requeue-resume.sbatch" long.ini requeue.h5)
# Meanwhile the local reference of the long grid (on the node's other cycles: it runs beside the job).
mpirun --oversubscribe -np "$ranks" "$bin/kappa" study long.ini -o local-long.h5 >local-long.log 2>&1 \
  || fail "local run of long.ini: $(cat local-long.log)"
wait_job "$job" 400
runs=$(grep -c "^kappa study: run [0-9]* of job $job" requeue.log || true)
requeues=$(grep -c "requeueing job $job" requeue.log || true)
grep -q "^kappa study: complete" requeue.log || fail "requeue: the study did not complete: $(cat requeue.log)"
[ "$requeues" -ge 1 ] || fail "requeue: the job was never requeued (the study fitted the limit?): $(cat requeue.log)"
[ "$runs" = $(( requeues + 1 )) ] || fail "requeue: $runs runs but $requeues requeues: $(cat requeue.log)"
grep -q "stopped by SIGTERM" requeue.log || fail "requeue: no run was stopped by SIGTERM: $(cat requeue.log)"
$python "$compare" local-long.h5 requeue.h5 "requeue-resume.sbatch after $requeues requeue(s)"
# What the signal timing was: each run's start and the step's cancellation (the signal).
grep "^kappa study: run \|CANCELLED AT\|stopped by SIGTERM" requeue.log || true
echo "requeue delays released with scontrol: $releases"

[ "$(job_state "$job")" != FAILED ] || fail "requeue: job $job FAILED: $(cat requeue.log)"
echo "ok: single-node, multi-node and requeue-resume ($requeues requeue(s), $runs runs) under slurm-wlm $(slurmctld -V | cut -d' ' -f2) with $ranks ranks; every task once and identical to a local run; $(( $(date +%s) - started )) s"
