#!/usr/bin/env bash
# The README's second command: set up, build, and run the whole test suite (CTest), first in
# the Release build, then in an AddressSanitizer + UndefinedBehaviorSanitizer build.
# Set KAPPA_SKIP_SANITIZERS=1 to run the Release suite only, KAPPA_SKIP_FUZZ=1 to skip the fuzz run,
# KAPPA_SANITIZER_TESTS=all to run the tests labelled release-only under the sanitizers too.
set -euo pipefail
cd "$(dirname "$0")/.."
# MPI suites run as root in CI and with more ranks than cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1

# Test-only packages (not in setup.sh's list: the build does not need them), installed before
# setup.sh configures the build, which looks for them: valgrind runs valgrind.plugins; scipy and
# torch are the independent truth of the cross-checks (crosscheck.*), which skip without them;
# pandas reads the CSV in study.columns as docs/study.md tells users to.
test_packages=(valgrind python3-scipy python3-torch python3-pandas slurm-wlm munge chromium)
scripts/install-packages.sh test "${test_packages[@]}"

scripts/setup.sh
(cd build && ctest --output-on-failure -j"$(nproc)")

if [ "${KAPPA_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo
  echo "test: AddressSanitizer + UndefinedBehaviorSanitizer build (build-sanitize)"
  cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DKAPPA_SANITIZE=ON >/dev/null
  cmake --build build-sanitize -j"$(nproc)"
  # OpenBLAS and HDF5 keep some allocations until exit by design; leaks are not what this run checks.
  # Tests labelled release-only (Slurm, terminal progress, memory bounds, the 3000-task journal
  # kills: see their CMakeLists) run in the Release pass only, which keeps the suite under 15
  # minutes; KAPPA_SANITIZER_TESTS=all runs them here too (about 10 minutes more).
  selection=(-LE release-only)
  [ "${KAPPA_SANITIZER_TESTS:-}" != all ] || selection=()
  (cd build-sanitize && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j"$(nproc)" "${selection[@]}")
fi

# A short bounded fuzz run of the grid and HDF5 parsers (clang + libFuzzer, build-fuzz; docs/fuzzing.md).
if [ "${KAPPA_SKIP_FUZZ:-0}" != 1 ]; then
  echo
  echo "test: libFuzzer run of the input parsers, 20 s per target (build-fuzz)"
  scripts/fuzz.sh 20
fi
