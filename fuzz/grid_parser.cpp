// libFuzzer target: study grid text through parse_grid and plan_study (fuzz_entry_points.hpp).
// A kappa::Error is the expected answer to bad input; any other exception escapes and
// libFuzzer reports it as a crash (std::terminate -> abort).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fuzz_entry_points.hpp"
#include "kappa/error.hpp"

namespace {

// Loaded once: plan_study needs the optimizers' parameter schemas. The fuzz build's plugins
// (KAPPA_FUZZ_PLUGIN_DIR) are used when present; without them only parse_grid is fuzzed.
const kappa::PluginRegistry* registry() {
  static const std::unique_ptr<kappa::PluginRegistry> loaded = [] {
    auto result = std::make_unique<kappa::PluginRegistry>();
    result->load_directories({KAPPA_FUZZ_PLUGIN_DIR});
    return result;
  }();
  return loaded->optimizers().empty() ? nullptr : loaded.get();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)registry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    kappa::fuzz::grid_text(text, registry());
  } catch (const kappa::Error&) {
    // Rejected input: the answer kappa gives users.
  }
  return 0;
}
