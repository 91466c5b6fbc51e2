#!/usr/bin/env bash
# Memory (docs/performance.md, target 6): a `kappa study` over one 200000 x 500 float64 problem
# (763 MiB of training data), generated once with `kappa generate`, with a small grid (CG and
# L-BFGS, 3 updates per task, 16 tasks: methods that run one task at a time), on 1, 2 and 8
# ranks of this node, with --share-data on (one read-only copy of the data per node,
# docs/study.md) and off (a copy per process, as before).
# Measured by bench/pss.py, which samples every kappa process (ranks and task processes) from
# /proc/PID/smaps_rollup while the study runs:
#   summed PSS   the memory the job holds (a page shared by k processes counts 1/k in each):
#                the median over the samples at which every process holding the data has it,
#                and the peak over all samples (loading and the reference are transients);
#   peak RSS     of the largest process.
# Target: summed PSS <= 1.2 x data + 150 MiB per rank.
#
#   bench/memory.sh [KAPPA] [TSV]     N=200000 D=500 (sizes), RUNS="svd:1:on svd:2:on svd:2:off svd:8:on"
#                                     (reference:ranks:share; svd:8:off needs about 8 x 1.6 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
kappa=$(realpath "${1:-build/bin/kappa}")
tsv=${2:-/dev/null}
n=${N:-200000}
d=${D:-500}
runs=${RUNS:-svd:1:on svd:2:on svd:2:off svd:8:on}
[ -x "$kappa" ] || { echo "memory: no kappa executable at $kappa" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-bench-memory.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$kappa" generate --synthetic "kind=spectrum,n=$n,d=$d,cond=1e3,noise=0.01,n_test=0" --output "$work/big.h5" >/dev/null
data_mb=$(awk -v n="$n" -v d="$d" 'BEGIN { printf "%.1f", n * d * 8 / 1048576 }')
grid() {  # grid REFERENCE: writes $work/grid.ini
  cat >"$work/grid.ini" <<GRID
optimizer = cg lbfgs
data = big.h5
reference = $1
max_iterations = 3
grad_tol = 0
repeats = 8
GRID
}
field() { /usr/bin/python3 -c "import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "kappa study over one ${n} x ${d} problem (${data_mb} MiB of float64 training data), 16 tasks;"
echo "target: summed PSS <= 1.2 x data + 150 MiB per rank"
echo
echo "| reference | ranks | --share-data | wall s | summed PSS, MiB | peak summed PSS, MiB | peak RSS of a process, MiB | target, MiB | PSS / target |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
: >"$tsv"
printf 'memory.data_mb\t%s\n' "$data_mb" >>"$tsv"
for run in $runs; do
  IFS=: read -r reference ranks share <<<"$run"
  grid "$reference"
  rm -f "$work/out.h5" "$work/out.csv"
  target=$(awk -v m="$data_mb" -v r="$ranks" 'BEGIN { printf "%.1f", 1.2 * m + 150 * r }')
  start=$(date +%s.%N)
  json=$(cd "$work" && /usr/bin/python3 "$OLDPWD/bench/pss.py" --data-mb "$data_mb" --interval 0.2 -- \
    mpiexec --oversubscribe -np "$ranks" -x OPENBLAS_NUM_THREADS \
    "$kappa" study grid.ini -o out.h5 --share-data "$share" --progress-interval 3600) ||
    { echo "memory: the study failed: $json" >&2; exit 1; }
  wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  steady=$(field "$json" steady_pss_mb)
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %.2f |\n' "$reference" "$ranks" "$share" "$wall" "$steady" \
    "$(field "$json" peak_pss_mb)" "$(field "$json" peak_rss_mb)" "$target" "$(awk -v p="$steady" -v t="$target" 'BEGIN { print p / t }')"
  printf 'memory.%s.r%s.%s.summed_pss_mb\t%s\n' "$reference" "$ranks" "$share" "$steady" >>"$tsv"
  printf 'memory.%s.r%s.%s.peak_summed_pss_mb\t%s\n' "$reference" "$ranks" "$share" "$(field "$json" peak_pss_mb)" >>"$tsv"
done
