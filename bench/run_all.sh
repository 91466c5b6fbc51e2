#!/usr/bin/env bash
# The whole performance suite (docs/performance.md): builds kappa and kappa_bench (Release) if
# needed, runs the kernels, minibatch and float32 figures (kappa_bench), whole runs against
# PyTorch (vs_torch.py), threads (threads.sh) and memory (memory.sh), and writes one Markdown
# page: machine description and one table of every figure with its target and pass/fail.
#
#   bench/run_all.sh [OUT.md | -]      default docs/performance-latest.md; '-' for stdout
#   BUILD=build-bench (build directory), PARTS="kernels torch threads memory" (a subset),
#   QUICK=1 (tiny sizes, short runs: a check of the suite itself, figures meaningless)
# Run on a quiet machine: every other process competes for the same cores and memory bandwidth.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-docs/performance-latest.md}
build=${BUILD:-build-bench}
parts=${PARTS:-kernels torch threads memory}
quick=${QUICK:-0}

# Configure every time (cheap): the build directory may be new.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DKAPPA_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target kappa_app kappa_bench >/dev/null
kappa="$root/$build/bin/kappa"
bench="$root/$build/bin/kappa_bench"

work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-run-all.XXXXXX")
trap 'rm -rf "$work"' EXIT
status=0
part() {  # part NAME COMMAND...: runs one part, its table to NAME.txt; a failure is reported, not fatal
  local name=$1
  shift
  echo "run_all: $name ..." >&2
  if ! "$@" >"$work/$name.txt" 2>"$work/$name.err"; then
    echo "run_all: $name failed:" >&2
    cat "$work/$name.err" >&2
    status=1
  fi
}
for p in $parts; do
  case $p in
    kernels)
      if [ "$quick" = 1 ]; then part kernels "$bench" suite --quick --tsv "$work/kernels.tsv"
      else part kernels "$bench" suite --tsv "$work/kernels.tsv"; fi ;;
    torch)
      if [ "$quick" = 1 ]; then part vs_torch /usr/bin/python3 bench/vs_torch.py --kappa "$kappa" --quick --tsv "$work/torch.tsv"
      else part vs_torch /usr/bin/python3 bench/vs_torch.py --kappa "$kappa" --tsv "$work/torch.tsv"; fi ;;
    threads)
      if [ "$quick" = 1 ]; then RUNS=1 TASKS=4 ITERATIONS=50 part threads bench/threads.sh "$kappa" "$work/threads.tsv"
      else part threads bench/threads.sh "$kappa" "$work/threads.tsv"; fi ;;
    memory)
      if [ "$quick" = 1 ]; then N=2000 D=50 part memory bench/memory.sh "$kappa" "$work/memory.tsv"
      else part memory bench/memory.sh "$kappa" "$work/memory.tsv"; fi ;;
    *) echo "run_all: unknown part '$p' in PARTS (kernels, torch, threads, memory)" >&2; exit 2 ;;
  esac
done

/usr/bin/python3 bench/report.py --build "$build" \
  --details "$work/kernels.txt" --details "$work/vs_torch.txt" --details "$work/threads.txt" --details "$work/memory.txt" \
  "$work"/*.tsv >"$work/report.md"
if [ "$out" = - ]; then cat "$work/report.md"; else cp "$work/report.md" "$out" && echo "run_all: wrote $out" >&2; fi
exit $status
