#!/usr/bin/env bash
# The README's first command: set up, build, and run kappa's main job on a built-in default:
# the seed question (gd, adam, L-BFGS and CG against the direct solution) on a generated
# seed-like 600 x 600 Gaussian-kernel problem.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo
exec build/bin/kappa solve --synthetic seedlike --optimizer gd,adam,lbfgs,cg --max-iterations 5000 "$@"
