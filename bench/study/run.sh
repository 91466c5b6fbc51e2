#!/usr/bin/env bash
# Benchmark of `kappa study` scheduling (docs/studies-howto.md, "Benchmark"): a grid of short
# tasks (SGD, batch 32, 600 epochs on 400 x 50 problems: ~20 ms each) with 400 and 1600 tasks,
# on 1 and 2 MPI ranks; and a grid of near-empty tasks (one gradient step) for the scheduling
# overhead per task. Prints a Markdown table (and writes it to OUT).
#
#   bench/study/run.sh [KAPPA] [OUT.md]      defaults: build/bin/kappa, build/bench-study.md
#   RUNS=3 (best of RUNS wall times per row), RANKS="1 2", SIZES="400 1600" (short tasks),
#   EMPTY_SIZES="1600 6400" (near-empty tasks: many, so that start-up noise averages out)
#
# Wall time is that of the whole mpiexec (start-up and the final write included). "busy" is
# the task time (optimizer + problem set-up, from the results file) over wall x ranks. Peak
# RSS is each rank's maximum resident set (/usr/bin/time), rank 0 first.
set -euo pipefail
cd "$(dirname "$0")/../.."
kappa=$(realpath "${1:-build/bin/kappa}")
out=${2:-build/bench-study.md}
runs=${RUNS:-3}
sizes=${SIZES:-400 1600}
empty_sizes=${EMPTY_SIZES:-1600 6400}
ranks_list=${RANKS:-1 2}
[ -x "$kappa" ] || { echo "bench: no kappa executable at $kappa (build it first: scripts/setup.sh)" >&2; exit 1; }
command -v mpiexec >/dev/null || { echo "bench: mpiexec not found (openmpi-bin)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-bench-study.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Each rank under /usr/bin/time, its peak RSS (KB) in rss.<rank>.
cat >"$work/rank.sh" <<'WRAP'
#!/usr/bin/env bash
exec /usr/bin/time -f "%M" -o "$BENCH_DIR/rss.${OMPI_COMM_WORLD_RANK:-0}" "$@"
WRAP
chmod +x "$work/rank.sh"

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }  # calc EXPRESSION (no bc needed)

# grid NAME REPEATS BODY: writes $work/NAME.ini
grid() {
  printf '%s\nrepeats = %s\n' "$3" "$2" >"$work/$1.ini"
}
short='optimizer = sgd
synthetic = kind=spectrum,n=400,d=50,noise=0.01
synthetic.cond = 1e1 1e2 1e3 1e4
lr = 1e-3 2e-3 5e-3 1e-2 2e-2
batch_size = 32
max_epochs = 600
max_iterations = 100000
grad_tol = 0'
empty='optimizer = gd
synthetic = kind=spectrum,n=20,d=5,noise=0.01
max_iterations = 1
grad_tol = 0'

# run GRID RANKS: best-of-$runs wall seconds, then the peak RSS of each rank (MB) and the task
# seconds of the results file, as "wall rss0/rss1 task_seconds".
run() {
  local grid=$1 ranks=$2 best="" rss="" start end wall task_seconds=""
  for _ in $(seq "$runs"); do
    rm -f "$work"/rss.* "$work/$grid.h5" "$work/$grid.csv"
    start=$(date +%s.%N)
    BENCH_DIR=$work mpiexec --oversubscribe -np "$ranks" -x BENCH_DIR "$work/rank.sh" \
      "$kappa" study "$work/$grid.ini" -o "$work/$grid.h5" --progress-interval 3600 >/dev/null 2>"$work/stderr" ||
      { cat "$work/stderr" >&2; exit 1; }
    end=$(date +%s.%N)
    wall=$(calc "$end - $start")
    if [ -z "$best" ] || [ "$(calc "$wall < $best")" = "1.000000" ]; then
      best=$wall
      rss=$(for r in $(seq 0 $((ranks - 1))); do echo $(( $(cat "$work/rss.$r") / 1024 )); done | paste -sd/)
      task_seconds=$(/usr/bin/python3 - "$work/$grid.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{sum(float(r['seconds']) + float(r['setup_seconds']) for r in rows):.3f}")
PY
)
    fi
  done
  echo "$best $rss $task_seconds"
}

{
  echo "kappa study benchmark: $(nproc) cores, $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg), best of $runs"
  echo
  echo "| tasks | ranks | wall s | tasks/s | speed-up | busy | peak RSS per rank, MB |"
  echo "|---:|---:|---:|---:|---:|---:|---|"
} | tee "$work/table"
for size in $sizes; do
  grid "short$size" $((size / 20)) "$short"
  base=""
  for ranks in $ranks_list; do
    read -r wall rss task_seconds < <(run "short$size" "$ranks")
    [ -z "$base" ] && base=$wall
    printf '| %s | %s | %.2f | %.0f | %.2f | %.0f %% | %s |\n' "$size" "$ranks" "$wall" \
      "$(calc "$size / $wall")" "$(calc "$base / $wall")" \
      "$(calc "100 * $task_seconds / ($wall * $ranks)")" "$rss" | tee -a "$work/table"
  done
done

# Scheduling overhead: near-empty tasks; (wall(N) - wall(1 task) - task time / ranks) / (N - 1)
# is what handing out, collecting and writing one task costs beyond start-up.
{
  echo
  echo "| near-empty tasks | ranks | wall s | overhead per task, ms | peak RSS per rank, MB |"
  echo "|---:|---:|---:|---:|---|"
} | tee -a "$work/table"
grid empty1 1 "$empty"
read -r wall_one _ _ < <(run empty1 1)
for size in $empty_sizes; do
  grid "empty$size" "$size" "$empty"
  for ranks in $ranks_list; do
    read -r wall rss task_seconds < <(run "empty$size" "$ranks")
    printf '| %s | %s | %.2f | %.3f | %s |\n' "$size" "$ranks" "$wall" \
      "$(calc "1000 * ($wall - $wall_one - $task_seconds / $ranks) / ($size - 1)")" "$rss" | tee -a "$work/table"
  done
done
echo "(start-up and final write of a 1-task study: $(printf '%.2f' "$wall_one") s)" | tee -a "$work/table"
mkdir -p "$(dirname "$out")"
cp "$work/table" "$out"
echo "bench: wrote $out" >&2
