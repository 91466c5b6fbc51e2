#!/bin/bash
# Saving a study's results before and after the results journal (docs/performance.md, "Saving
# results"): journal_flush_bench (bench/journal_flush.cpp) for 1e5 and 1e6 tiny tasks arriving at
# RATE rows/s (default 6000, what one rank of this 2-core machine finishes of `optimizer = gd`,
# `synthetic = kind=spectrum,n=20,d=4`, `max_iterations = 1`), flush interval 5 s (the default),
# with the old policy (a full rewrite at most every max(5 s, 10 x the last write)) and the
# journal (an append every 5 s, geometric consolidation). Then a real 1e5-task kappa study.
#   usage: bench/journal_flush.sh BUILD_DIR [RATE]
set -euo pipefail
build=${1:?usage: bench/journal_flush.sh BUILD_DIR [RATE]}
rate=${2:-6000}
work=$(mktemp -d /tmp/kappa_journal_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OPENBLAS_NUM_THREADS=1
for rows in 100000 1000000; do
  for policy in old journal; do
    "$build/bin/journal_flush_bench" "$work" "$rows" "$rate" 5 "$policy"
  done
done
printf 'optimizer = gd\nsynthetic = kind=spectrum,n=20,d=4\nmax_iterations = 1\nrepeats = 100000\n' > "$work/tiny.ini"
/usr/bin/time -f "kappa study, 1e5 tiny tasks, 1 rank: %e s wall, %M KB max RSS" \
  "$build/bin/kappa" study "$work/tiny.ini" -o "$work/tiny.h5" --progress-interval 1000 > /dev/null
