#!/usr/bin/env bash
# CTest smoke test of kappa_bench: tiny sizes; asserts that it runs, prints its table with every
# section, and writes finite figures. It asserts no timing (no timed tests).
set -euo pipefail
bench=$1
out=$(mktemp -d "${TMPDIR:-/tmp}/kappa-bench-smoke.XXXXXX")
trap 'rm -rf "$out"' EXIT
"$bench" suite --quick --tsv "$out/results.tsv" >"$out/table"
for key in kernels.60x60.gemv_ns kernels.60x60.two_pass_ns kernels.60x60.loss_grad_ns kernels.60x60.float.gemv_ns \
           minibatch.60x60.b1.step_ns minibatch.60x60.b2.mallocs_per_step minibatch.60x60.b2.sgd_plugin.step_ns; do
  grep -q "^| $key " "$out/table" || { echo "smoke: '$key' missing from the table" >&2; cat "$out/table" >&2; exit 1; }
  value=$(awk -v k="$key" '$1 == k { print $2 }' "$out/results.tsv")
  awk -v v="$value" 'BEGIN { exit !(v + 0 == v && v >= 0 && v < 1e300) }' ||
    { echo "smoke: '$key' = '$value' in the TSV is not a finite figure" >&2; exit 1; }
done
echo "smoke: ok"
