#!/usr/bin/env bash
# Threads (docs/performance.md, target 5): a grid of small tasks (seed-sized 600 x 600 problems,
# full-batch GD, memory-bound matrix-vector products) run by `kappa study` as
#   1 rank  x 1 BLAS thread      the baseline
#   2 ranks x 1 BLAS thread      ranks = cores
#   1 rank  x 2 BLAS threads     OPENBLAS_NUM_THREADS=2 (mpiexec --bind-to none: Open MPI binds
#                                a rank to one core by default, and kappa then caps it to 1)
#   2 ranks x 2 BLAS threads     what a user gets asking for more threads than cores
# Prints a Markdown table; writes key<TAB>value lines to TSV.
#
#   bench/threads.sh [KAPPA] [TSV]     RUNS=3 (best of), TASKS=16 (multiple of 4), ITERATIONS=1000
set -euo pipefail
cd "$(dirname "$0")/.."
kappa=$(realpath "${1:-build/bin/kappa}")
tsv=${2:-/dev/null}
runs=${RUNS:-3}
tasks=${TASKS:-16}
iterations=${ITERATIONS:-1000}
[ -x "$kappa" ] || { echo "threads: no kappa executable at $kappa" >&2; exit 1; }
command -v mpiexec >/dev/null || { echo "threads: mpiexec not found (openmpi-bin)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-bench-threads.XXXXXX")
trap 'rm -rf "$work"' EXIT

cat >"$work/grid.ini" <<GRID
optimizer = gd
synthetic = kind=kernel,n=600
synthetic.width = 0.5 1 2 4
lr = 1e-3
max_iterations = $iterations
grad_tol = 0
repeats = $((tasks / 4))
GRID

# run RANKS THREADS [mpiexec options]: best-of-$runs wall seconds; the stderr of the last run
# (kappa's note when it caps the threads) in $work/stderr.
run() {
  local ranks=$1 threads=$2 best="" start wall
  shift 2
  for _ in $(seq "$runs"); do
    rm -f "$work/out.h5" "$work/out.csv"
    start=$(date +%s.%N)
    OPENBLAS_NUM_THREADS=$threads mpiexec --oversubscribe "$@" -np "$ranks" -x OPENBLAS_NUM_THREADS \
      "$kappa" study "$work/grid.ini" -o "$work/out.h5" --progress-interval 3600 >/dev/null 2>"$work/stderr" ||
      { cat "$work/stderr" >&2; exit 1; }
    wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }')
    if [ -z "$best" ] || awk -v w="$wall" -v b="$best" 'BEGIN { exit !(w < b) }'; then best=$wall; fi
  done
  echo "$best"
}

# probe RANKS THREADS [mpiexec options]: the thread count OpenBLAS itself settles on in a rank
# started the same way (it caps itself at the cores the process is bound to), as rank0/rank1.
probe() {
  local ranks=$1 threads=$2
  shift 2
  OPENBLAS_NUM_THREADS=$threads mpiexec --oversubscribe "$@" -np "$ranks" -x OPENBLAS_NUM_THREADS /usr/bin/python3 -c \
    'import ctypes, os; print(os.environ.get("OMPI_COMM_WORLD_RANK", "0"), ctypes.CDLL("libopenblas.so.0").openblas_get_num_threads())' |
    sort -n | awk '{ print $2 }' | paste -sd/
}

echo "kappa study, $tasks tasks of $iterations GD iterations on 600 x 600, $(nproc) cores, best of $runs"
echo
echo "| ranks x BLAS threads asked | mpiexec | OpenBLAS's own threads per rank | wall s | speed-up vs 1x1 | kappa's note |"
echo "|---|---|---|---:|---:|---|"
: >"$tsv"
base=""
for config in "1 1 default" "2 1 default" "1 2 default" "1 2 none" "2 2 default" "2 2 none"; do
  read -r ranks threads bind <<<"$config"
  if [ "$bind" = none ]; then
    wall=$(run "$ranks" "$threads" --bind-to none)
    own=$(probe "$ranks" "$threads" --bind-to none)
  else
    wall=$(run "$ranks" "$threads")
    own=$(probe "$ranks" "$threads")
  fi
  [ -z "$base" ] && base=$wall
  note=$(grep -m1 "BLAS threads" "$work/stderr" | sed 's/^kappa study: note: //' || true)
  printf '| %s x %s | bind %s | %s | %.2f | %.2f | %s |\n' "$ranks" "$threads" "$bind" "$own" "$wall" \
    "$(awk -v b="$base" -v w="$wall" 'BEGIN { print b / w }')" "${note:--}"
  printf 'threads.r%s_t%s_bind_%s.wall_s\t%s\n' "$ranks" "$threads" "$bind" "$wall" >>"$tsv"
  # Capped: kappa said so, or OpenBLAS already runs one thread per rank (bound to one core).
  capped=0
  if [ -n "$note" ] || [ "$(tr / '\n' <<<"$own" | sort -n | tail -1)" = 1 ]; then capped=1; fi
  printf 'threads.r%s_t%s_bind_%s.capped\t%s\n' "$ranks" "$threads" "$bind" "$capped" >>"$tsv"
done
