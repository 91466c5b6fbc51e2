#!/usr/bin/env bash
# The README's first command: set up, build, and run kappa's main job on its built-in default
# study, examples/grids/laptop.ini (about 15 s on one core): the seed question -- SGD, Adam,
# L-BFGS and CG against the direct solution on 600 x 600 Gaussian-kernel regressions, over the
# kernel width (the condition number), feature scaling, learning rate and batch size -- into
# build/laptop.h5, then `kappa report` of it. For other runs call build/bin/kappa directly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir=${KAPPA_BUILD_DIR:-build}  # as setup.sh
echo
"$build_dir/bin/kappa" study examples/grids/laptop.ini -o "$build_dir/laptop.h5" --force
echo
"$build_dir/bin/kappa" report "$build_dir/laptop.h5" --by synthetic.width --by preconditioner
cat <<'NOTE'

rel_w_err = |w - w*| / |w*| against the direct (SVD) solution after 200 data passes. Beyond width
0.1 no gradient method reaches w*, whatever its learning rate, batch size or scaling (cond(X)^2
is too large); only whitening, a factorization of X like the direct solve, gets them there.
NOTE
