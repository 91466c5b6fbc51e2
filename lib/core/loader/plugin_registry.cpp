#include "core/loader/plugin_registry.hpp"

#include <algorithm>
#include <cstdlib>
#include <new>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <boost/filesystem.hpp>

#include "kappa/error.hpp"
#include "kappa/parse.hpp"
#include "kappa/plugin.hpp"

namespace kappa {
namespace fs = boost::filesystem;

struct PluginRegistry::Library {
  boost::dll::shared_library handle;
};

namespace {

constexpr const char* abi_symbol = "kappa_plugin_abi_version";
constexpr const char* register_symbol = "kappa_plugin_register";

bool is_plugin_file(const fs::path& path) {
  const std::string name = path.filename().string();
  return name.rfind("libkappa_plugin_", 0) == 0 && path.extension() == ".so";
}

// Collects what a plugin's registration function adds.
class CollectingRegistrar final : public PluginRegistrar {
 public:
  void add(OptimizerInfo info) override { added.push_back(std::move(info)); }
  std::vector<OptimizerInfo> added;
};

// Rethrows a copy of a kappa error thrown by plugin code, made here. The plugin's own object
// must not escape: its vtable lives in the plugin, which may be unloaded (when the registry is
// destroyed during unwinding) before the exception is caught and its what() called.
[[noreturn]] void rethrow_own_copy(const Error& error, const std::string& prefix) {
  if (dynamic_cast<const InputError*>(&error)) throw InputError(error.what());
  if (dynamic_cast<const DataError*>(&error)) throw DataError(error.what());
  if (dynamic_cast<const NumericalError*>(&error)) throw NumericalError(error.what());
  throw PluginError(prefix + "threw: " + error.what());
}

// Runs an optimizer's factory. kappa's own error categories and std::bad_alloc keep their
// type; any other exception, standard or not, becomes a PluginError naming the plugin file.
std::unique_ptr<Optimizer> call_factory(const LoadedOptimizer& loaded, const Params& params) {
  const std::string prefix = "plugin '" + loaded.library + "': factory of '" + loaded.info.name + "' ";
  std::unique_ptr<Optimizer> created;
  try {
    created = loaded.info.create(params);
  } catch (const Error& error) {
    rethrow_own_copy(error, prefix);
  } catch (const std::bad_alloc&) {
    throw std::bad_alloc();
  } catch (const std::exception& error) {
    throw PluginError(prefix + "threw: " + error.what());
  } catch (...) {
    throw PluginError(prefix + "threw a non-standard exception");
  }
  if (!created) throw PluginError(prefix + "returned nothing");
  return created;
}

}  // namespace

PluginRegistry::PluginRegistry() = default;
PluginRegistry::~PluginRegistry() = default;

std::vector<std::string> PluginRegistry::search_path(const std::vector<std::string>& extra_dirs) {
  std::vector<std::string> dirs = extra_dirs;
  if (const char* env = std::getenv("KAPPA_PLUGIN_PATH")) {
    std::string path = env;
    std::string::size_type begin = 0;
    while (begin <= path.size()) {
      const auto colon = path.find(':', begin);
      const std::string dir = path.substr(begin, colon == std::string::npos ? std::string::npos : colon - begin);
      if (!dir.empty()) dirs.push_back(dir);
      if (colon == std::string::npos) break;
      begin = colon + 1;
    }
  }
  // The build tree's plugins serve programs run from the build tree; an installed program uses
  // the installed layout, relative to itself (relocatable) and at the configured prefix.
  boost::system::error_code error;
  const fs::path program = boost::dll::program_location(error);
  const std::string build_root = KAPPA_BUILD_ROOT;
  if (error || program.string().compare(0, build_root.size() + 1, build_root + "/") == 0) dirs.push_back(KAPPA_BUILD_PLUGIN_DIR);
  // <prefix>/bin/kappa -> <prefix>/<libdir>/kappa/plugins, so a moved installation finds its plugins.
  if (!error) dirs.push_back((program.parent_path().parent_path() / KAPPA_RELATIVE_PLUGIN_DIR).string());
  dirs.push_back(KAPPA_INSTALL_PLUGIN_DIR);
  return dirs;
}

void PluginRegistry::load_file(const std::string& file) {
  auto fail = [&file](const std::string& reason) { return PluginError("plugin '" + file + "': " + reason); };
  if (!fs::exists(file)) throw fail("file does not exist");
  auto library = std::make_shared<Library>();
  try {
    library->handle.load(fs::path(file), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    // Boost.DLL wraps dlerror()'s text ("<file>: <reason>") in its own words and a stale errno;
    // the dynamic loader's reason alone is what the user needs.
    std::string reason = error.what();
    const std::string marker = "dlerror system message: ";
    if (const auto at = reason.find(marker); at != std::string::npos) {
      reason = reason.substr(at + marker.size());
      if (const auto end = reason.rfind(')'); end != std::string::npos) reason.erase(end);
      if (reason.rfind(file + ": ", 0) == 0) reason.erase(0, file.size() + 2);
    }
    throw fail("not a loadable shared library (" + reason + ")");
  }
  if (!library->handle.has(abi_symbol)) throw fail(std::string("missing symbol '") + abi_symbol + "' (not a kappa plugin?)");
  const int abi = library->handle.get<int()>(abi_symbol)();
  if (abi != KAPPA_PLUGIN_ABI_VERSION)
    throw fail("ABI version " + std::to_string(abi) + ", this kappa needs " + std::to_string(KAPPA_PLUGIN_ABI_VERSION) +
               " (rebuild the plugin against this kappa)");
  if (!library->handle.has(register_symbol)) throw fail(std::string("missing symbol '") + register_symbol + "'");
  CollectingRegistrar registrar;
  try {
    library->handle.get<void(PluginRegistrar&)>(register_symbol)(registrar);
  } catch (const std::exception& error) {
    throw fail(std::string("registration threw: ") + error.what());
  } catch (...) {  // e.g. `throw 42`: must not reach std::terminate
    throw fail("registration threw a non-standard exception");
  }
  if (registrar.added.empty()) throw fail("registers no optimizer");
  for (const OptimizerInfo& info : registrar.added) {
    if (info.name.empty() || !info.create) throw fail("registers an optimizer without a name or factory");
    // Defaults must themselves be valid, so that a plugin error shows up at load time.
    try {
      Params::validate(info.params, {}, "optimizer '" + info.name + "'");
    } catch (const Error& error) {
      throw fail(std::string("invalid default: ") + error.what());
    }
  }
  libraries_.push_back(library);
  for (OptimizerInfo& info : registrar.added) {
    const bool shadowed = std::any_of(optimizers_.begin(), optimizers_.end(),
                                      [&](const LoadedOptimizer& loaded) { return loaded.info.name == info.name; });
    if (shadowed) continue;  // an earlier directory on the path wins
    optimizers_.push_back({std::move(info), file});
    optimizer_library_.push_back(library);
  }
}

void PluginRegistry::load_directories(const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    boost::system::error_code error;
    if (!fs::is_directory(dir, error)) continue;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir, error))
      if (is_plugin_file(entry.path())) files.push_back(entry.path());
    std::sort(files.begin(), files.end());  // deterministic order
    for (const fs::path& file : files) {
      try {
        load_file(file.string());
      } catch (const PluginError& refused) {
        load_errors_.push_back(refused.what());
      }
    }
  }
}

const LoadedOptimizer& PluginRegistry::find(const std::string& name) const {
  for (const LoadedOptimizer& loaded : optimizers_)
    if (loaded.info.name == name) return loaded;
  std::vector<std::string> names;
  for (const LoadedOptimizer& loaded : optimizers_) names.push_back(loaded.info.name);
  const std::string known = join(names, ", ");
  throw InputError("unknown optimizer '" + name + "' (loaded: " + (known.empty() ? "none; check --plugin-dir" : known) + ")");
}

Params PluginRegistry::validate(const std::string& name, const RawParams& params) const {
  return Params::validate(find(name).info.params, params, "optimizer '" + name + "'");
}

std::shared_ptr<const Optimizer> PluginRegistry::create(const std::string& name, const RawParams& params) const {
  return create_validated(name, validate(name, params));
}

std::shared_ptr<const Optimizer> PluginRegistry::create_validated(const std::string& name, const Params& params) const {
  const LoadedOptimizer& loaded = find(name);
  const auto index = static_cast<std::size_t>(&loaded - optimizers_.data());
  // Values validated against another optimizer's schema would fail inside the plugin: check
  // them against this one (from their text, which reproduces them exactly).
  std::unique_ptr<Optimizer> created = call_factory(loaded, validate(name, params.as_text()));
  // The optimizer's code lives in the plugin: keep the library loaded while the object lives.
  struct Holder {
    std::shared_ptr<Library> library;
    std::unique_ptr<Optimizer> optimizer;
  };
  auto holder = std::make_shared<Holder>(Holder{optimizer_library_[index], std::move(created)});
  return std::shared_ptr<const Optimizer>(holder, holder->optimizer.get());
}

}  // namespace kappa
