#!/usr/bin/env bash
# Bounded libFuzzer run of kappa's two input parsers (docs/fuzzing.md): builds the fuzz targets
# with clang in build-fuzz (libkappa instrumented with ASan + UBSan), then runs each target for
# SECONDS seconds (default 60), both at once, each on a copy of its seed corpus (fuzz/corpus/)
# plus the saved regressions (fuzz/regressions/), so the repository is never modified.
# Exits non-zero when a target finds a crash, a sanitizer report, a leak, an uncaught
# exception, a timeout or an out-of-memory, and prints the reproducer's path. The one exception:
# a crash inside HDF5 itself (its first frame outside libc in libhdf5; fuzz/hdf5_known_crashes.txt) is reported and fuzzing goes on.
# Usage: scripts/fuzz.sh [SECONDS]      (installs clang and libclang-rt-14-dev when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
case "$seconds" in '' | *[!0-9]*) echo "fuzz: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac

scripts/install-packages.sh fuzz clang libclang-rt-14-dev

build_dir=build-fuzz
mkdir -p "$build_dir"
log="$build_dir/fuzz-build.log"
# Only libkappa, the two targets and the few plugins the grid target plans with (kappa_fuzz);
# -O1 with line tables: fast to build, readable stacks. Assertions stay on.
if ! { cmake -S . -B "$build_dir" -DKAPPA_FUZZ=ON -DKAPPA_BUILD_TESTS=OFF \
         -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
         -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" &&
       cmake --build "$build_dir" -j"$(nproc)" --target kappa_fuzz; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "fuzz: the build failed; the full log is $log" >&2
  exit 1
fi

scratch=$(mktemp -d /tmp/kappa-fuzz.XXXXXX)
targets=(grid_parser hdf5_reader)
declare -A corpus=([grid_parser]=grid [hdf5_reader]=hdf5)

# The signature of a crash in a libFuzzer log: the sanitizer's error kind, the first named
# function of the crashing stack and, for a bad access to the heap, the first named function
# that allocated the memory ("-" when there is none), sanitizer interceptors skipped; e.g.
# "FPE H5D__chunk_set_info -".
crash_signature() {
  local kind function allocator
  kind=$(grep -m1 -oE '^SUMMARY: [A-Za-z]+Sanitizer: [A-Za-z-]+' "$1" | awk '{print $3}')
  function=$(grep -m1 -A6 -E '^==[0-9]+==ERROR' "$1" | grep -oE '#[0-9]+ 0x[0-9a-f]+ in [A-Za-z0-9_:]+' |
             awk '$4 !~ /^__(interceptor|asan|sanitizer|mem)/ {print $4; exit}')
  allocator=$(grep -m1 -A6 -E '^(allocated|previously allocated) by' "$1" | grep -oE '#[0-9]+ 0x[0-9a-f]+ in [A-Za-z0-9_:]+' |
              awk '$4 !~ /^(__(interceptor|asan|sanitizer)|malloc$|calloc$|realloc$)/ {print $4; exit}')
  echo "$kind ${function:--} ${allocator:--}"
}

# True when a crash happened inside libhdf5 itself: the first frame of the crashing stack that is
# not libc's or the sanitizer's is in libhdf5 (kappa called HDF5 correctly; HDF5 1.10 crashes on
# some corrupt files before kappa can look at them, and no fix of kappa's can prevent that).
crash_in_hdf5() {
  grep -m1 -A12 -E '^==[0-9]+==ERROR' "$1" | grep -E '^ +#[0-9]+ ' |
    grep -vE ' in (__(interceptor|asan|sanitizer)|__mem|mem(cpy|move|set)|str)|sysdeps|libc\.so' |
    head -n 1 | grep -q 'libhdf5'
}

# Runs one target until $seconds have passed. A crash inside HDF5 (crash_in_hdf5; the ones seen
# are described in fuzz/hdf5_known_crashes.txt) is reported, its reproducer kept, and the run
# goes on; any other failure ends it with exit status 1.
run_target() {
  local target=$1 work=$scratch/$1 deadline=$((SECONDS + seconds)) run=0 left status signature known
  mkdir -p "$work/corpus" "$work/artifacts" "$work/known"
  cp -r "fuzz/corpus/${corpus[$target]}/." "$work/corpus/"
  # New inputs go to the first corpus directory only; the regressions are read, never written.
  # -timeout: one input may take 10 s; -rss_limit_mb: 2 GB of memory in use.
  # Leaks that HDF5 itself makes on corrupt files are suppressed one by one (the file says
  # which and why); matching them by function needs full stacks through libhdf5 (built without
  # frame pointers), hence the slow unwinder for the hdf5 target (the grid one would be 5x slower).
  # HDF5 1.10 allocates the size a corrupt object header claims (up to 2^64 bytes) before it
  # checks it (fuzz/regressions/hdf5_reader/hdf5-library-*). In production malloc returns NULL
  # and HDF5 reports an error, which kappa turns into a DataError; ASan and libFuzzer would abort
  # instead. So the hdf5 target lets impossible allocations fail as they do in production: one
  # by kappa still fails the run (Armadillo and operator new throw std::bad_alloc, not a
  # kappa::Error), and -rss_limit_mb still catches memory actually used.
  local options=(-timeout=10 -rss_limit_mb=2048) asan=fast_unwind_on_malloc=1
  if [ "$target" = hdf5_reader ]; then
    options+=(-malloc_limit_mb=1048576) asan=fast_unwind_on_malloc=0:allocator_may_return_null=1
  fi
  local regressions=""  # absent until a first regression of the target is saved
  [ -d "fuzz/regressions/$target" ] && regressions="fuzz/regressions/$target"
  while left=$((deadline - SECONDS)); [ "$left" -gt 0 ]; do
    run=$((run + 1))
    status=0
    TMPDIR=$work ASAN_OPTIONS=$asan LSAN_OPTIONS="suppressions=$PWD/fuzz/hdf5_known_leaks.supp:print_suppressions=0" \
      "$build_dir/fuzz/fuzz_$target" "$work/corpus" $regressions \
      -dict="fuzz/${corpus[$target]}.dict" -max_total_time="$left" "${options[@]}" \
      -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/log.$run" 2>&1 || status=$?
    [ "$status" -eq 0 ] && return 0
    signature=$(crash_signature "$work/log.$run")
    if [ "$target" = hdf5_reader ] && crash_in_hdf5 "$work/log.$run"; then
      known="new"
      grep -qxF "$signature" <(grep -vE '^(#|$)' fuzz/hdf5_known_crashes.txt | awk '{print $1, $2, $3}') && known="known"
      echo "fuzz: $target: $known crash inside HDF5 ($signature; fuzz/hdf5_known_crashes.txt); going on" >&2
      mv "$work/artifacts"/* "$work/known/" 2>/dev/null || true
      continue
    fi
    return "$status"
  done
}

declare -A pid
for target in "${targets[@]}"; do
  run_target "$target" &
  pid[$target]=$!
done

failed=0
for target in "${targets[@]}"; do
  status=0
  wait "${pid[$target]}" || status=$?
  log=$(ls -t "$scratch/$target"/log.* | head -n 1)
  executed=$(cat "$scratch/$target"/log.* | grep -oE '^stat::number_of_executed_units: *[0-9]+' | awk '{n += $2} END {print n + 0}')
  stats=$(grep -E '^stat::(average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" | sed 's/^stat:://' | tr -s ' \n' ' ')
  coverage=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $target: ${seconds} s, no failure ($coverage; executed: $executed; last run: $stats)"
    continue
  fi
  failed=1
  echo "fuzz: $target FAILED (exit $status); its log: $log" >&2
  grep -E '^(==[0-9]+==ERROR|SUMMARY|.*deadly signal|.*uncaught exception|.*ALARM|.*out-of-memory)' "$log" | head -n 5 >&2 || true
  for artifact in "$scratch/$target/artifacts"/*; do
    [ -e "$artifact" ] && echo "fuzz: reproducer: $artifact (replay: $build_dir/fuzz/fuzz_$target $artifact)" >&2
  done
done
if [ "$failed" -eq 0 ]; then
  rm -rf "$scratch"
  exit 0
fi
echo "fuzz: inputs, logs and reproducers kept in $scratch; fix the bug, then add the reproducer to fuzz/regressions/<target>/" >&2
exit 1
