// kappa plugins: every optimizer on the plugin path with its parameters and defaults.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <vector>

#include "cli.hpp"

namespace kappa::cli {

int run_plugins(int argc, char** argv) {
  PluginOptions plugin_options;
  po::options_description options("plugins options");
  add_plugin_options(options, plugin_options);
  if (!parse_command_line(argc, argv, "usage: kappa plugins [--plugin-dir DIR]...", options)) return 0;

  PluginRegistry registry;
  load_plugins(plugin_options, registry, false);
  std::cout << "plugin path:\n";
  for (const std::string& dir : PluginRegistry::search_path(plugin_options.dirs)) std::cout << "  " << dir << '\n';
  std::cout << '\n' << registry.optimizers().size() << " optimizers\n";
  // By name, whatever order the files were found in.
  std::vector<const LoadedOptimizer*> by_name;
  for (const LoadedOptimizer& loaded : registry.optimizers()) by_name.push_back(&loaded);
  std::sort(by_name.begin(), by_name.end(), [](const auto* a, const auto* b) { return a->info.name < b->info.name; });
  for (const LoadedOptimizer* entry : by_name) {
    const LoadedOptimizer& loaded = *entry;
    std::cout << '\n' << loaded.info.name << " - " << loaded.info.summary << "\n  from " << loaded.library << '\n';
    if (loaded.info.params.empty()) std::cout << "  (no parameters)\n";
    for (const ParamSpec& param : loaded.info.params)
      std::cout << "  " << std::left << std::setw(28) << (param.name + " = " + param.default_value) << " " << param.help
                << "  [" << param.domain() << "]\n";
  }
  if (!registry.load_errors().empty()) {
    std::cout << "\nrefused:\n";
    for (const std::string& refused : registry.load_errors()) std::cout << "  " << refused << '\n';
  }
  return 0;
}

}  // namespace kappa::cli
