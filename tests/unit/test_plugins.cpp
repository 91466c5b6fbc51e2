#define BOOST_TEST_MODULE plugins
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <set>

#include <kappa/error.hpp>
#include "core/experiment/experiment.hpp"
#include <kappa/plugin.hpp>
#include "core/loader/plugin_registry.hpp"
#include "core/data/synthetic.hpp"

#include "test_support.hpp"

using namespace kappa;

namespace {

const std::string plugin_dir = KAPPA_TEST_PLUGIN_DIR;
const std::string bad_dir = KAPPA_TEST_BAD_PLUGIN_DIR;
// tests/plugins builds the plugin with throwing factories next to bad_plugins.
const std::string factory_dir = bad_dir + "/../factory_plugins";

// The PluginError message of loading `file`, or "" when it loaded.
std::string refusal_of(const std::string& file) {
  PluginRegistry registry;
  try {
    registry.load_file(file);
  } catch (const PluginError& error) {
    return error.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The names in KAPPA_TEST_PLUGIN_NAMES, the build's comma-separated list.
std::set<std::string> built_plugins() {
  std::set<std::string> names;
  std::string list = KAPPA_TEST_PLUGIN_NAMES;
  for (std::size_t start = 0; start <= list.size();) {
    const std::size_t end = std::min(list.find(',', start), list.size());
    if (end > start) names.insert(list.substr(start, end - start));
    start = end + 1;
  }
  return names;
}

}  // namespace

// Every optimizer the plugin sources register (KAPPA_TEST_PLUGIN_NAMES, read from the sources by
// plugins/CMakeLists.txt), from one library per plugin folder.
BOOST_AUTO_TEST_CASE(every_built_optimizer_from_its_own_library) {
  PluginRegistry registry;
  registry.load_directories({plugin_dir});
  BOOST_TEST(registry.load_errors().empty());
  std::set<std::string> names;
  std::set<std::string> libraries;
  for (const LoadedOptimizer& loaded : registry.optimizers()) {
    names.insert(loaded.info.name);
    libraries.insert(loaded.library);
    BOOST_TEST(!loaded.info.summary.empty());
    for (const ParamSpec& param : loaded.info.params) BOOST_TEST(!param.help.empty());
  }
  BOOST_TEST(names == built_plugins());
  BOOST_TEST(libraries.size() == static_cast<std::size_t>(KAPPA_TEST_PLUGIN_LIBRARY_COUNT));
  BOOST_TEST(names.size() >= 17u);
}

BOOST_AUTO_TEST_CASE(wrong_abi_is_refused_naming_file_and_versions) {
  const std::string file = bad_dir + "/libkappa_plugin_bad_wrong_abi.so";
  const std::string message = refusal_of(file);
  BOOST_TEST(contains(message, file));
  BOOST_TEST(contains(message, "ABI version " + std::to_string(KAPPA_PLUGIN_ABI_VERSION + 100)));
}

BOOST_AUTO_TEST_CASE(missing_factory_is_refused) {
  const std::string file = bad_dir + "/libkappa_plugin_bad_missing_factory.so";
  const std::string message = refusal_of(file);
  BOOST_TEST(contains(message, file));
  BOOST_TEST(contains(message, "missing symbol 'kappa_plugin_register'"));
}

BOOST_AUTO_TEST_CASE(not_a_shared_library_is_refused) {
  const std::string file = bad_dir + "/libkappa_plugin_bad_not_a_library.so";
  BOOST_TEST(contains(refusal_of(file), "not a loadable shared library"));
  BOOST_TEST(contains(refusal_of(bad_dir + "/no_such_plugin.so"), "does not exist"));
}

BOOST_AUTO_TEST_CASE(throwing_registration_is_refused) {
  const std::string message = refusal_of(bad_dir + "/libkappa_plugin_bad_throwing_register.so");
  BOOST_TEST(contains(message, "registration threw: broken on purpose"));
}

BOOST_AUTO_TEST_CASE(registration_throwing_a_non_standard_exception_is_refused) {
  const std::string file = bad_dir + "/libkappa_plugin_bad_throwing_int.so";
  const std::string message = refusal_of(file);
  BOOST_TEST(contains(message, file));
  BOOST_TEST(contains(message, "registration threw a non-standard exception"));
}

BOOST_AUTO_TEST_CASE(a_directory_scan_skips_broken_plugins_and_keeps_their_reasons) {
  PluginRegistry registry;
  registry.load_directories({bad_dir, plugin_dir});
  BOOST_TEST(registry.load_errors().size() == 5u);
  BOOST_TEST(registry.optimizers().size() == built_plugins().size());
}

BOOST_AUTO_TEST_CASE(a_throwing_factory_is_a_plugin_error_naming_the_file) {
  const std::string file = factory_dir + "/libkappa_plugin_bad_throwing_factory.so";
  PluginRegistry registry;
  registry.load_file(file);
  BOOST_TEST(registry.optimizers().size() == 3u);
  kappa::test::require_throws_naming<PluginError>([&] { registry.create("bad_factory_int", {}); },
                                                  {file, "factory of 'bad_factory_int' threw a non-standard exception"});
  kappa::test::require_throws_naming<PluginError>([&] { registry.create("bad_factory_std", {}); },
                                                  {file, "factory of 'bad_factory_std' threw: factory broken on purpose"});
}

BOOST_AUTO_TEST_CASE(a_kappa_error_from_a_factory_outlives_the_plugin) {
  // The registry, and with it the plugin, is gone when the exception is caught: what reaches
  // the handler must be libkappa's copy, not the plugin's object (whose vtable was unloaded).
  std::string message;
  try {
    PluginRegistry registry;
    registry.load_file(factory_dir + "/libkappa_plugin_bad_throwing_factory.so");
    registry.create("bad_factory_input", {});
  } catch (const InputError& error) {
    message = error.what();
  }
  BOOST_TEST(message == "optimizer 'bad_factory_input': parameters inconsistent on purpose");
}

BOOST_AUTO_TEST_CASE(validated_parameters_create_the_same_optimizer) {
  PluginRegistry registry;
  registry.load_directories({plugin_dir});
  const Params params = registry.validate("gd", {{"lr", "1e-3"}});
  BOOST_TEST(params.as_text().at("lr") == "1e-3");
  BOOST_TEST(params.get_real("lr") == 1e-3);
  BOOST_TEST(registry.create_validated("gd", params) != nullptr);
  // Values validated for another optimizer are refused by name.
  kappa::test::require_throws_naming<InputError>(
      [&] { registry.create_validated("gd", registry.validate("adam", {})); }, {"optimizer 'gd'", "unknown parameter"});
}

BOOST_AUTO_TEST_CASE(unknown_optimizer_and_bad_parameters_are_input_errors) {
  PluginRegistry registry;
  registry.load_directories({plugin_dir});
  BOOST_CHECK_EXCEPTION(registry.create("sgd2", {}), InputError,
                        [](const InputError& e) { return contains(e.what(), "unknown optimizer 'sgd2'"); });
  BOOST_CHECK_EXCEPTION(registry.create("gd", {{"momentum", "0.9"}}), InputError,
                        [](const InputError& e) { return contains(e.what(), "unknown parameter 'momentum'"); });
  BOOST_CHECK_EXCEPTION(registry.create("gd", {{"lr", "-1e-3"}}), InputError,
                        [](const InputError& e) { return contains(e.what(), "'lr' = '-1e-3'"); });
}

BOOST_AUTO_TEST_CASE(search_path_order) {
  ::setenv("KAPPA_PLUGIN_PATH", "/env/one:/env/two", 1);
  const std::vector<std::string> path = PluginRegistry::search_path({"/explicit"});
  ::unsetenv("KAPPA_PLUGIN_PATH");
  BOOST_REQUIRE(path.size() >= 4u);
  BOOST_TEST(path[0] == "/explicit");
  BOOST_TEST(path[1] == "/env/one");
  BOOST_TEST(path[2] == "/env/two");
  BOOST_TEST(path[3] == plugin_dir);
}

BOOST_AUTO_TEST_CASE(first_directory_on_the_path_wins) {
  PluginRegistry registry;
  registry.load_directories({plugin_dir, plugin_dir});
  BOOST_TEST(registry.optimizers().size() == built_plugins().size());
}

BOOST_AUTO_TEST_CASE(an_optimizer_outlives_its_registry) {
  std::shared_ptr<const Optimizer> optimizer;
  {
    PluginRegistry registry;
    registry.load_directories({plugin_dir});
    optimizer = registry.create("gd", {});
  }
  SpectrumSpec spec;
  spec.n = 40;
  spec.d = 5;
  spec.condition = 3;
  const Experiment experiment(generate(spec), ExperimentSetup{});
  const RunResult result = experiment.run("gd", *optimizer, RunControls{});
  BOOST_TEST(to_string(result.status) == "converged-gradient");
}
