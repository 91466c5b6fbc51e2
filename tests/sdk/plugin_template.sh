#!/usr/bin/env bash
# The plugin SDK end to end, as docs/writing-a-plugin.md tells a user to do it:
#   1. `cmake --install` this build into a temporary prefix, and check the installed layout: the
#      CMake package, the SDK headers and only those (no study, workbench or HDF5 header),
#      libkappa_sdk with its SONAME, and a kappa that finds its libraries and the installed
#      plugins through its RPATH alone (also after the prefix is moved);
#   2. configure and build examples/plugin-template (the Barzilai-Borwein method) out of tree
#      with find_package(kappa) against that prefix, and check that the plugin depends on
#      libkappa_sdk and on neither HDF5 nor MPI (ldd);
#   3. run it through the INSTALLED kappa: `kappa plugins` shows it with its parameters, and
#      `kappa solve` converges to the direct solution with both step variants.
#
# usage: plugin_template.sh BUILD_DIR TEMPLATE_DIR CMAKE CXX BUILD_TYPE LIBDIR PYTHON CXX_FLAGS [LINK_FLAGS]
set -euo pipefail
[ $# -eq 8 ] || [ $# -eq 9 ] ||
  { echo "usage: $0 BUILD_DIR TEMPLATE_DIR CMAKE CXX BUILD_TYPE LIBDIR PYTHON CXX_FLAGS [LINK_FLAGS]" >&2; exit 2; }
build=$1 template=$2 cmake=$3 cxx=$4 build_type=$5 libdir=$6 python=$7 cxx_flags=$8 link_flags=${9:-}

# The prefix lies outside the build tree on purpose: a kappa that runs from inside the build
# tree also searches the build tree's plugins, which would hide a broken installed layout.
work=$(mktemp -d "${TMPDIR:-/tmp}/kappa-sdk.XXXXXX")
trap 'rm -rf "$work"' EXIT
unset KAPPA_PLUGIN_PATH
prefix=$work/prefix

fail() { echo "FAIL: $*" >&2; exit 1; }
# Runs a command with its output in a log; shows the log when the command fails.
logged() {
  local log=$1; shift
  echo "+ $*"
  local status=0
  "$@" >"$log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || { cat "$log"; fail "exit status $status: $*"; }
}
expect_in() {  # expect_in FILE TEXT: FILE contains the line fragment TEXT (fixed string)
  grep -qF -- "$2" "$1" || { cat "$1"; fail "'$2' not in the output above"; }
}

# --- 1. the installed layout ----------------------------------------------------------------
logged "$work/install.log" "$cmake" --install "$build" --prefix "$prefix"
for file in include/kappa/plugin.hpp include/kappa/optimizer.hpp bin/kappa \
            "$libdir/cmake/kappa/kappaConfig.cmake" "$libdir/cmake/kappa/kappaConfigVersion.cmake" \
            "$libdir/cmake/kappa/kappaTargets.cmake" "$libdir/cmake/kappa/KappaPlugin.cmake" \
            "$libdir/kappa/plugins/libkappa_plugin_gd.so"; do
  [ -e "$prefix/$file" ] || fail "not installed: $prefix/$file"
done
soname=$(readelf -d "$prefix/$libdir/libkappa_sdk.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -n "$soname" ] && [ -e "$prefix/$libdir/$soname" ] || fail "libkappa_sdk.so has no SONAME or $prefix/$libdir/$soname is missing"
echo "libkappa_sdk SONAME: $soname"
# The installed include folder is the SDK: kappa/*.hpp only, none of which includes HDF5, MPI,
# the workbench or the study engine.
unexpected=$(find "$prefix/include" -type f ! -path "$prefix/include/kappa/*.hpp")
[ -z "$unexpected" ] || fail "installed headers outside include/kappa/*.hpp: $unexpected"
[ -n "$(find "$prefix/include/kappa" -mindepth 1 -type d)" ] && fail "sub-folders under include/kappa: $(find "$prefix/include/kappa" -mindepth 1 -type d)"
if grep -lE '#include [<"](hdf5|H5[A-Za-z]*|mpi|boost/mpi|core/|study/)' "$prefix"/include/kappa/*.hpp; then
  fail "an installed header includes HDF5, MPI, the workbench or the study engine (above)"
fi
echo "installed headers: $(ls "$prefix/include/kappa" | wc -l) SDK headers, no study, workbench or HDF5 header"

# kappa must load its libraries and plugins from wherever the prefix is: check, move, check again.
check_installed_kappa() {
  local root=$1
  local loaded
  loaded=$(ldd "$root/bin/kappa" | awk -v lib="$soname" '$1 == lib { print $3 }')
  [ -n "$loaded" ] && [ "$(realpath "$loaded")" = "$(realpath "$root/$libdir/$soname")" ] ||
    fail "installed kappa loads '$soname' from '$loaded', not from $root/$libdir"
  logged "$work/plugins_installed.log" "$root/bin/kappa" plugins
  local shipped found
  shipped=$(find "$root/$libdir/kappa/plugins" -name 'libkappa_plugin_*.so' | wc -l)
  found=$(grep -cF "from $root/$libdir/kappa/plugins/libkappa_plugin_" "$work/plugins_installed.log" || true)
  [ "$shipped" -ge 1 ] && [ "$found" -ge "$shipped" ] ||
    { cat "$work/plugins_installed.log"; fail "installed kappa loads $found optimizers from its $shipped installed plugin files"; }
  if grep -q '^refused:' "$work/plugins_installed.log"; then cat "$work/plugins_installed.log"; fail "installed plugins refused"; fi
}
check_installed_kappa "$prefix"
mv "$prefix" "$work/moved"
check_installed_kappa "$work/moved"
mv "$work/moved" "$prefix"
echo "installed kappa finds its libraries and $(find "$prefix/$libdir/kappa/plugins" -name '*.so' | wc -l) plugin files by RPATH and its own location"

# --- 2. the template, out of tree -----------------------------------------------------------
logged "$work/configure.log" "$cmake" -S "$template" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE="$build_type" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$cxx_flags" \
  -DCMAKE_MODULE_LINKER_FLAGS="$link_flags"
logged "$work/build.log" "$cmake" --build "$work/build"
plugin_dir=$work/build/plugins
[ -f "$plugin_dir/libkappa_plugin_bb.so" ] || fail "the template did not produce $plugin_dir/libkappa_plugin_bb.so"
# What the plugin links: the SDK, never HDF5 or MPI (directly or through what it loads).
ldd "$plugin_dir/libkappa_plugin_bb.so" >"$work/ldd.log" 2>&1 || { cat "$work/ldd.log"; fail "ldd failed on the template plugin"; }
expect_in "$work/ldd.log" "libkappa_sdk.so"
if grep -E 'libhdf5|libmpi|libkappa_core|libkappa_study' "$work/ldd.log"; then fail "the template plugin depends on the lines above"; fi
echo "template plugin links libkappa_sdk and neither HDF5 nor MPI"

# --- 3. run it with the installed kappa -----------------------------------------------------
kappa=$prefix/bin/kappa
logged "$work/plugins.log" "$kappa" plugins --plugin-dir "$plugin_dir"
expect_in "$work/plugins.log" "bb - Barzilai-Borwein two-point step size gradient method"
expect_in "$work/plugins.log" "from $plugin_dir/libkappa_plugin_bb.so"
expect_in "$work/plugins.log" "first_step = auto"
expect_in "$work/plugins.log" "variant = bb1"

# Convergence to the direct solution. For l2, f is quadratic with Hessian H and minimizer w*,
# g(w) = H (w - w*), and the run starts at w = 0, so |g_0| = |H w*| <= lambda_max |w*| and
# |w - w*| <= |g(w)| / lambda_min. A run that stops on `converged-gradient` (|g| <= grad_tol |g_0|)
# therefore has |w - w*| / |w*| <= cond(H) grad_tol = cond(X)^2 grad_tol = 100 * 1e-10 = 1e-8,
# up to rounding in w* (eps cond(X) ~ 1e-15). The bound holds for any correct method that stops
# there, and a wrong step (a sign, a swapped ratio) does not converge within 1000 iterations.
problem=(--synthetic kind=spectrum,n=200,d=20,cond=10 --plugin-dir "$plugin_dir" --optimizer bb)
check_row() {  # check_row CSV STATUS MAX_REL_ERR [MESSAGE_FRAGMENT]
  "$python" - "$@" <<'EOF'
import csv, math, sys
path, status, max_error = sys.argv[1], sys.argv[2], float(sys.argv[3])
message = sys.argv[4] if len(sys.argv) > 4 else ""
rows = {row["optimizer"]: row for row in csv.DictReader(open(path))}
bb = rows.get("bb")
if bb is None or "direct:svd" not in rows:
    sys.exit(f"FAIL: {path} lacks the rows bb and direct:svd: {sorted(rows)}")
error = float(bb["relative_weight_error"])
print(f"bb {bb['params']}: {bb['status']} after {bb['iterations']} iterations, "
      f"|w - w*|/|w*| = {error:.3e} (bound {max_error:.0e}) {bb['message']}")
if bb["status"] != status:
    sys.exit(f"FAIL: status {bb['status']}, expected {status} ({bb['message']})")
if not (error <= max_error):  # also catches NaN
    sys.exit(f"FAIL: relative weight error {error} above {max_error}")
if message not in bb["message"]:
    sys.exit(f"FAIL: message '{bb['message']}' lacks '{message}'")
EOF
}
for variant in bb1 bb2; do
  logged "$work/solve_$variant.log" "$kappa" solve "${problem[@]}" --set variant=$variant --output "$work/$variant.csv"
  check_row "$work/$variant.csv" converged-gradient 1e-8
done

# The plugin gives up through monitor.fail when the BB step is undefined: on the l1 loss a tiny
# first step leaves every residual's sign, hence the subgradient, unchanged, so s^T y = 0.
logged "$work/solve_l1.log" "$kappa" solve "${problem[@]}" --loss l1 --set first_step=1e-12 --output "$work/l1.csv"
check_row "$work/l1.csv" failed inf "after iteration 1: s^T y <= 0"

# A bad parameter value is refused by the plugin's schema before anything runs.
"$kappa" solve "${problem[@]}" --set variant=bb3 >"$work/bad.log" 2>&1 && fail "variant=bb3 was accepted"
expect_in "$work/bad.log" "kappa solve: optimizer 'bb': parameter 'variant' = 'bb3'"

echo "ok: the out-of-tree template plugin builds against the installed package and converges"
