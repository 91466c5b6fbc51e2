#!/usr/bin/env bash
# The README's first command: set up, build, and run kappa's main job on a built-in default:
# the seed question (gd, adam, L-BFGS and CG against the direct solution) on a generated
# seed-like 600 x 600 Gaussian-kernel problem. For other runs call build/bin/kappa directly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo
build/bin/kappa solve --synthetic seedlike --optimizer gd,adam,lbfgs,cg --max-iterations 5000
cat <<'NOTE'

rel_w_err is |w - w*| / |w*| against the direct (SVD) solution: every gradient method stops
far from w*, because cond(X)^2 -- the condition number of the mean-squared-error Hessian -- is
beyond double precision. docs/seed-question.md explains the numbers.
NOTE
