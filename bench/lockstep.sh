#!/usr/bin/env bash
# Lockstep groups (docs/performance.md, "Lockstep groups"): study time with --lockstep off and
# auto, serially, one BLAS thread, for
#   gd16-big    16 learning rates of full-batch GD, 300 iterations, on 200000 x 500 (763 MiB)
#   gd16-600    the same on 600 x 600
#   sgdm16-600  16 momentum settings of minibatch SGD with momentum (batch 32, one shared run
#               seed), 3000 updates, on 600 x 600
# then the multi-point kernel itself against the single pass and the dgemm roofline
# (lockstep_kernel_bench). Two times per study, each the least of 7 studies for the 600 x 600
# cases (KAPPA_BENCH_REPEATS; the two modes alternate) and of one for gd16-big, and the ratio
# off / auto of each:
#   *_s       kappa's own "... in X s": from the coordinator's start to the results written (the
#             task process's start, the problem's build and direct reference, the runs)
#   *_wall_s  the whole command, the rank's start, grid planning and manifest included
#
#   bench/lockstep.sh [BUILD] [CASES]     CASES default: "gd16-600 sgdm16-600 gd16-big"
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
cases=${2:-gd16-600 sgdm16-600 gd16-big}
kappa=$build/bin/kappa
export OPENBLAS_NUM_THREADS=1
work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-bench-lockstep.XXXXXX")
trap 'rm -rf "$work"' EXIT
lrs="1e-4 2e-4 3e-4 4e-4 5e-4 6e-4 7e-4 8e-4 9e-4 1e-3 1.1e-3 1.2e-3 1.3e-3 1.4e-3 1.5e-3 1.6e-3"
momenta="0 0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.75 0.8 0.85 0.9 0.925 0.95 0.975 0.99"
data600="synthetic = kind=spectrum,n=600,d=600,cond=1e3,noise=0.01,n_test=0"
grid() {  # grid CASE: writes $work/CASE.ini
  case $1 in
    gd16-big)
      [ -f "$work/big.h5" ] || "$kappa" generate --synthetic kind=spectrum,n=200000,d=500,cond=1e3,noise=0.01,n_test=0 \
        --output "$work/big.h5" >/dev/null
      printf 'optimizer = gd\ndata = big.h5\nlr = %s\nmax_iterations = 300\ngrad_tol = 0\n' "$lrs" ;;
    gd16-600) printf 'optimizer = gd\n%s\nlr = %s\nmax_iterations = 300\ngrad_tol = 0\n' "$data600" "$lrs" ;;
    sgdm16-600)
      printf 'optimizer = momentum\n%s\nlr = 1e-4\nbatch_size = 32\nmomentum = %s\nmax_iterations = 3000\ngrad_tol = 0\n' \
        "$data600" "$momenta" ;;
  esac >"$work/$1.ini"
}
least() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }
study() {  # study CASE MODE: "STUDY WALL" of one study
  local start t
  start=$(date +%s.%N)
  t=$( (cd "$work" && "$kappa" study "$1.ini" -o "$1-$2.h5" --force --lockstep "$2" 2>&1) | sed -n 's/.* in \([0-9.e+-]*\) s;.*/\1/p')
  echo "$t $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')"
}
seconds() {  # seconds CASE: "OFF OFF_WALL AUTO AUTO_WALL", each the least of `repeats CASE`
  # studies. The modes alternate (off, auto, off, auto, ...) so that both meet the same machine:
  # on a shared VM the time of one study drifts by 20% over a minute, and a block of one mode's
  # repeats would catch a slow spell that the other's missed.
  local off="" off_wall="" auto="" auto_wall="" t wall
  for _ in $(seq "$(repeats "$1")"); do
    read -r t wall <<<"$(study "$1" off)"
    off=$(least "$t" "$off"); off_wall=$(least "$wall" "$off_wall")
    read -r t wall <<<"$(study "$1" auto)"
    auto=$(least "$t" "$auto"); auto_wall=$(least "$wall" "$auto_wall")
  done
  echo "$off $off_wall $auto $auto_wall"
}
repeats() {  # the 600 x 600 studies take under a second and vary by up to 20% from run to run
  case $1 in gd16-big) echo 1 ;; *) echo "${KAPPA_BENCH_REPEATS:-7}" ;; esac
}
printf '%-12s %9s %9s %8s   %11s %11s %8s\n' case off_s auto_s speedup off_wall_s auto_wall_s speedup
for c in $cases; do
  grid "$c"
  read -r off off_wall auto auto_wall <<<"$(seconds "$c")"
  printf '%-12s %9s %9s %7.2fx   %11s %11s %7.2fx\n' "$c" "$off" "$auto" "$(awk -v a="$off" -v b="$auto" 'BEGIN { print a / b }')" \
    "$off_wall" "$auto_wall" "$(awk -v a="$off_wall" -v b="$auto_wall" 'BEGIN { print a / b }')"
done
echo
"$build/bin/lockstep_kernel_bench"
