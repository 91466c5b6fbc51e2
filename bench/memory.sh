#!/usr/bin/env bash
# Memory (docs/performance.md, target 6): peak RSS per rank of a `kappa study` over one
# 200000 x 500 float64 problem (800 MB of training data), generated once with `kappa generate`,
# with a small grid (a few short GD and SGD tasks), against the target
# peak RSS <= 1.5 x data size + 100 MiB per rank. Peak RSS is each rank's VmHWM (/usr/bin/time).
# Runs: the default reference (svd) on 1 and 2 ranks, and reference = cholesky (the smallest
# workspace: d x d) on 1 rank, which separates the reference solver's share from the copies.
#
#   bench/memory.sh [KAPPA] [TSV]     N=200000 D=500 (sizes), RUNS="svd:1 svd:2 cholesky:1"
set -euo pipefail
cd "$(dirname "$0")/.."
kappa=$(realpath "${1:-build/bin/kappa}")
tsv=${2:-/dev/null}
n=${N:-200000}
d=${D:-500}
runs=${RUNS:-svd:1 svd:2 cholesky:1}
[ -x "$kappa" ] || { echo "memory: no kappa executable at $kappa" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "memory: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-bench-memory.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$kappa" generate --synthetic "kind=spectrum,n=$n,d=$d,cond=1e3,noise=0.01,n_test=0" --output "$work/big.h5" >/dev/null
data_mb=$(awk -v n="$n" -v d="$d" 'BEGIN { printf "%.1f", n * d * 8 / 1048576 }')
target_mb=$(awk -v m="$data_mb" 'BEGIN { printf "%.1f", 1.5 * m + 100 }')
grid() {  # grid REFERENCE: writes $work/grid.ini
  cat >"$work/grid.ini" <<GRID
optimizer = gd sgd
data = big.h5
reference = $1
max_iterations = 3
grad_tol = 0
lr = 1e-4 2e-4
GRID
}
cat >"$work/rank.sh" <<'WRAP'
#!/usr/bin/env bash
exec /usr/bin/time -f "%M" -o "$BENCH_DIR/rss.${OMPI_COMM_WORLD_RANK:-0}" "$@"
WRAP
chmod +x "$work/rank.sh"

echo "kappa study over one ${n} x ${d} problem (${data_mb} MiB of float64 training data), 4 tasks;"
echo "target: peak RSS <= 1.5 x data + 100 MiB = ${target_mb} MiB per rank"
echo
echo "| reference | ranks | wall s | peak RSS per rank, MiB | worst / target |"
echo "|---|---:|---:|---|---:|"
: >"$tsv"
printf 'memory.data_mb\t%s\nmemory.target_mb\t%s\n' "$data_mb" "$target_mb" >>"$tsv"
for run in $runs; do
  reference=${run%%:*}
  ranks=${run##*:}
  grid "$reference"
  rm -f "$work"/rss.* "$work/out.h5"
  start=$(date +%s.%N)
  BENCH_DIR=$work mpiexec --oversubscribe -np "$ranks" -x BENCH_DIR -x OPENBLAS_NUM_THREADS "$work/rank.sh" \
    "$kappa" study "$work/grid.ini" -o "$work/out.h5" --progress-interval 3600 >/dev/null 2>"$work/stderr" ||
    { cat "$work/stderr" >&2; exit 1; }
  wall=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  rss=$(for r in $(seq 0 $((ranks - 1))); do echo $(( $(cat "$work/rss.$r") / 1024 )); done | paste -sd/)
  worst=$(tr / '\n' <<<"$rss" | sort -n | tail -1)
  printf '| %s | %s | %s | %s | %.2f |\n' "$reference" "$ranks" "$wall" "$rss" "$(awk -v w="$worst" -v t="$target_mb" 'BEGIN { print w / t }')"
  printf 'memory.%s.r%s.peak_rss_mb\t%s\n' "$reference" "$ranks" "$worst" >>"$tsv"
done
