// kappa plugins: every optimizer on the plugin path with its parameters and defaults.
#include <iomanip>
#include <iostream>

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
  for (const LoadedOptimizer& loaded : registry.optimizers()) {
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
