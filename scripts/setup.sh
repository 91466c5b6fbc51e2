#!/usr/bin/env bash
# Installs the Debian 12 packages kappa needs (only those missing), then configures and builds
# kappa in ./build (Release). Idempotent: a second run installs nothing and rebuilds only what
# changed. Usage: scripts/setup.sh [extra cmake arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ make cmake
  libarmadillo-dev libopenblas-dev liblapack-dev
  libboost-mpi-dev libboost-program-options-dev libboost-test-dev libboost-filesystem-dev
  libhdf5-dev openmpi-bin libopenmpi-dev
  python3-numpy python3-h5py python3-matplotlib
)
scripts/install-packages.sh setup "${packages[@]}"

build_dir=${KAPPA_BUILD_DIR:-build}
mkdir -p "$build_dir"
log="$build_dir/setup.log"
# The build's own output goes to a log, shown only when something fails.
if ! { cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "$@" && cmake --build "$build_dir" -j"$(nproc)"; } >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "setup: the build failed; the full log is $log" >&2
  exit 1
fi
echo "setup: kappa built in $build_dir/ (bin/kappa, plugins/)"
