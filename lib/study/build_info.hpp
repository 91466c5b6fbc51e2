#pragma once
// What this build of kappa is, for the manifest (study/manifest.hpp): captured by CMake when kappa
// is built (cmake/KappaBuildInfo.cmake writes the definition into the build tree at every build).

namespace kappa {

struct BuildInfo {
  const char* version;       // the project version, e.g. "0.3.0"
  const char* git_describe;  // `git describe --always --dirty` of the source, "unknown" outside a git checkout
  const char* git_commit;    // `git rev-parse HEAD` of the source, "unknown" outside a git checkout
  const char* compiler;      // CMake's compiler id and version, e.g. "GNU 12.2.0"
  const char* build_type;    // CMAKE_BUILD_TYPE, "(none)" when empty
  const char* cxx_flags;     // CMAKE_CXX_FLAGS, the build type's flags and the tree's compile options
};

const BuildInfo& build_info();

}  // namespace kappa
