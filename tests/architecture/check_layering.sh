#!/usr/bin/env bash
# The architecture as a test (docs/architecture.md): dependencies run one way,
#   plugins -> sdk <- core <- study <- apps,
# checked on every #include of the tree, and the SDK and the workbench name no shipped plugin.
#
#   lib/sdk      includes only kappa/ (its own headers) and system headers: no core/, study/,
#                HDF5, MPI or Boost.MPI
#   lib/core     no study/, no MPI
#   lib/study    no MPI
#   plugins/     only <kappa/...> SDK headers and files of their own folder
#   lib/sdk, lib/core, lib/study: no string literal naming a shipped optimizer ("gd", "cg", ...); a line that
#                uses such a word as something else says so with "a parameter name, not an optimizer"
#
# usage: check_layering.sh SOURCE_DIR OPTIMIZER_NAME...
set -euo pipefail
root=$1; shift
cd "$root"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# forbid DIR REGEX WHY: no #include line under DIR matches REGEX.
forbid() {
  local dir=$1 regex=$2 why=$3 hits
  hits=$(grep -rnE --include='*.hpp' --include='*.cpp' --include='*.h' "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($regex)" "$dir" || true)
  [ -z "$hits" ] || fail "$why:"$'\n'"$hits"
}
forbid lib/sdk 'core/|study/|hdf5|H5[A-Za-z]*\.h|mpi|boost/mpi|boost/filesystem' "lib/sdk includes from above or a dependency the SDK must not have"
forbid lib/core 'study/|mpi|boost/mpi' "lib/core includes the study engine or MPI"
forbid lib/study 'mpi|boost/mpi' "lib/study includes MPI (the transport belongs to apps/)"
forbid plugins 'core/|study/|hdf5|H5[A-Za-z]*\.h|mpi|boost/' "a plugin includes something beyond the SDK"

# Plugins include SDK headers as kappa/... and otherwise only headers of their own folder.
while IFS= read -r line; do
  file=${line%%:*}
  header=$(sed -E 's/.*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"$line")
  [[ $header == kappa/* ]] || [ -f "$(dirname "$file")/$header" ] || fail "$file includes \"$header\", which is not a file of its own folder"
done < <(grep -rnE --include='*.hpp' --include='*.cpp' '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' plugins || true)

# No logic in the SDK or the workbench names a shipped optimizer: a string literal equal to one.
for name in "$@"; do
  hits=$(grep -rnF --include="*.hpp" --include="*.cpp" "\"$name\"" lib/sdk lib/core lib/study | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' | grep -vF 'a parameter name, not an optimizer' || true)
  [ -z "$hits" ] || fail "lib/ names the optimizer '$name':"$'\n'"$hits"
done

if [ "$failures" -gt 0 ]; then
  echo "$failures layering violation(s)"
  exit 1
fi
echo "ok: includes run plugins -> sdk <- core <- study <- apps, and lib/ names none of the $# optimizers"
