#pragma once
// Loading optimizer plugins and creating optimizers by name.
//
// Search order (first match of an optimizer name wins, so a user's plugin can shadow a
// built-in one): directories given explicitly (--plugin-dir), then KAPPA_PLUGIN_PATH
// (colon-separated), then the build tree's plugin directory (for programs inside the build
// tree), then the installed one (next to the program, then at the configured prefix).
// In a directory, files named libkappa_plugin_*.so are loaded.

#include <memory>
#include <string>
#include <vector>

#include "kappa/optimizer.hpp"

namespace kappa {

struct LoadedOptimizer {
  OptimizerInfo info;
  std::string library;  // file it came from
};

class PluginRegistry {
 public:
  PluginRegistry();
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // The default search path: `extra_dirs`, then KAPPA_PLUGIN_PATH, then the built-in dirs.
  static std::vector<std::string> search_path(const std::vector<std::string>& extra_dirs);

  // Loads one plugin file. Throws PluginError naming the file and the reason: not loadable
  // (not a shared library), missing symbol, wrong ABI version, or an exception (of any type)
  // from its registration function.
  void load_file(const std::string& file);

  // Loads every plugin file in the directories (missing directories are skipped: callers that
  // want an explicitly given directory to exist check it themselves). A file that
  // fails to load is skipped and its one-line reason kept in load_errors().
  void load_directories(const std::vector<std::string>& dirs);

  const std::vector<std::string>& load_errors() const { return load_errors_; }
  const std::vector<LoadedOptimizer>& optimizers() const { return optimizers_; }
  const LoadedOptimizer& find(const std::string& name) const;  // InputError when unknown

  // Validates `params` against the schema of optimizer `name` (InputError naming the key, or an
  // unknown optimizer).
  Params validate(const std::string& name, const RawParams& params) const;

  // Validates `params` against the optimizer's schema and creates it. The returned object keeps
  // its library loaded for as long as it lives. An exception from the plugin's factory that is
  // not a kappa::Error (nor std::bad_alloc), including a non-standard one, becomes a
  // PluginError naming the plugin file.
  std::shared_ptr<const Optimizer> create(const std::string& name, const RawParams& params) const;

  // The same from values validate() returned, so that a caller can keep (and report) exactly
  // the values the optimizer runs with. They are checked again against the schema of `name`.
  // (Not an overload of create(): create(name, {}) would then be ambiguous.)
  std::shared_ptr<const Optimizer> create_validated(const std::string& name, const Params& params) const;

 private:
  struct Library;
  std::vector<std::shared_ptr<Library>> libraries_;  // declared first: destroyed last
  std::vector<LoadedOptimizer> optimizers_;
  std::vector<std::shared_ptr<Library>> optimizer_library_;  // parallel to optimizers_
  std::vector<std::string> load_errors_;
};

}  // namespace kappa
