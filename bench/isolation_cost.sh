#!/bin/bash
# What crash isolation costs (docs/performance.md, "Crash isolation"): the same study of tiny
# tasks with --isolation none and process, serially and on 2 ranks, and the start-up of a task
# process on a large grid. usage: bench/isolation_cost.sh [build dir]   (default: build)
set -euo pipefail
build=${1:-build}
kappa=$(realpath "$build/bin/kappa")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OPENBLAS_NUM_THREADS=1
cd "$work"
# 4000 tasks of one gd step on a 20 x 4 problem: the smallest work a task can be.
printf 'optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nmax_iterations = 1\nrepeats = 4000\n' > tiny.ini
tasks=4000
seconds() {  # the study's own timing, from its last line
  sed -n 's/.* in \([0-9.e+-]*\) s; wrote.*/\1/p'
}
for isolation in none process; do
  for launcher in serial mpirun; do
    if [[ $launcher == serial ]]; then
      t=$("$kappa" study tiny.ini -o r.h5 --force --isolation "$isolation" | seconds)
    else
      t=$(mpirun -np 2 "$kappa" study tiny.ini -o r.h5 --force --isolation "$isolation" | seconds)
    fi
    printf '%-8s %-7s %5d tasks  %8.3f s  %7.1f us/task\n' "$isolation" "$launcher" "$tasks" "$t" \
      "$(echo "$t * 1000000 / $tasks" | bc -l)"
  done
done
# Start-up: a 1e6-task grid is planned once by the rank and once by its task process.
printf 'optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nmax_iterations = 1\nrepeats = 1000000\n' > large.ini
start=$(date +%s.%N)
"$kappa" study large.ini --dry-run --show 0 > /dev/null
plan=$(echo "$(date +%s.%N) - $start" | bc -l)
printf 'planning a 1e6-task grid (what a task process adds at its start): %.2f s\n' "$plan"
# Memory of one task process serving tiny tasks (VmHWM while the study runs).
printf 'optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nmax_iterations = 5000000\nrepeats = 4\ngrad_tol = 0\n' > slow.ini
"$kappa" study slow.ini -o s.h5 --force > /dev/null &
study=$!
sleep 1
for pid in $(pgrep -f "task-process"); do
  printf 'task process pid %s: peak resident %s\n' "$pid" "$(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')"
done
printf 'rank (the study) pid %s: peak resident %s\n' "$study" "$(grep VmHWM /proc/$study/status | awk '{print $2, $3}')"
wait $study
