// A plugin that registers fine but whose factories throw: `bad_factory_int` throws a value that
// is not a std::exception and `bad_factory_std` a std::runtime_error (creating either must give
// a PluginError naming this file); `bad_factory_input` throws kappa::InputError, whose object
// must not outlive this library. Built into its own directory (factory_plugins), since it loads.
#include <stdexcept>

#include <kappa/error.hpp>
#include <kappa/plugin.hpp>

namespace {

std::unique_ptr<kappa::Optimizer> throw_int(const kappa::Params&) { throw 42; }
std::unique_ptr<kappa::Optimizer> throw_std(const kappa::Params&) { throw std::runtime_error("factory broken on purpose"); }
std::unique_ptr<kappa::Optimizer> throw_input(const kappa::Params&) {
  throw kappa::InputError("optimizer 'bad_factory_input': parameters inconsistent on purpose");
}

}  // namespace

KAPPA_PLUGIN(registrar) {
  registrar.add({"bad_factory_int", "a factory that throws 42", {}, throw_int});
  registrar.add({"bad_factory_std", "a factory that throws std::runtime_error", {}, throw_std});
  registrar.add({"bad_factory_input", "a factory that throws kappa::InputError", {}, throw_input});
}
