#pragma once
// The plugin ABI. A plugin is a shared library that exports two C symbols:
//
//   int  kappa_plugin_abi_version(void);           must return KAPPA_PLUGIN_ABI_VERSION
//   void kappa_plugin_register(kappa::PluginRegistrar&);   adds one or more optimizers
//
// Write them with the macro:
//
//   KAPPA_PLUGIN(registrar) {
//     registrar.add({"myopt", "one-line summary", {params...}, factory});
//   }
//
// The ABI version changes whenever a public header changes in a way that breaks plugins
// already built (class layouts, virtual functions); the loader refuses a mismatch.

#include "kappa/optimizer.hpp"

// 2: RunControls (seed, max_epochs), ParamSpec::keyword, Problem least-squares form
// 3: libkappa_sdk; Monitor an interface (report_objective, last_reported_loss); the first-order
//    loop compiled into the SDK (FirstOrderUpdate); OptimizerInfo::theory; counters framework-only
// 4: OptimizerInfo::lockstep
#define KAPPA_PLUGIN_ABI_VERSION 4

namespace kappa {

class PluginRegistrar {
 public:
  virtual ~PluginRegistrar() = default;
  virtual void add(OptimizerInfo info) = 0;
};

}  // namespace kappa

#define KAPPA_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

#define KAPPA_PLUGIN(registrar)                                                        \
  KAPPA_PLUGIN_EXPORT int kappa_plugin_abi_version() { return KAPPA_PLUGIN_ABI_VERSION; } \
  KAPPA_PLUGIN_EXPORT void kappa_plugin_register(::kappa::PluginRegistrar& registrar)
